package sink

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/retention"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRunRetention: a sink started with --retention 400d drops, at its start, the months of
// events and detections older than that and keeps the rows of now.
func TestRunRetention(t *testing.T) {
	c := testenv.Config(t)
	if err := c.Retention.Set("400d"); err != nil {
		t.Fatal(err)
	}
	conn := testenv.ClickHouse(t, c)
	db := c.ClickHouseDatabase
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().UTC()
	old := now.AddDate(0, -15, 0) // 15 months back: wholly older than 400 days
	eb, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".events (event_id, event_time)")
	if err != nil {
		t.Fatal(err)
	}
	db2, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".detections (detection_id, first_time, last_time, detected_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id string
		t  time.Time
	}{{"old", old}, {"new", now}} {
		if err := eb.Append(r.id, r.t); err != nil {
			t.Fatal(err)
		}
		if err := db2.Append(r.id, r.t, r.t, r.t); err != nil {
			t.Fatal(err)
		}
	}
	if err := eb.Send(); err != nil {
		t.Fatal(err)
	}
	if err := db2.Send(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()

	ids := func(table, column string) []string {
		rows, err := conn.Query(ctx, "SELECT "+column+" FROM "+db+"."+table+" ORDER BY "+column)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev, det := ids("events", "event_id"), ids("detections", "detection_id")
		if slices.Equal(ev, []string{"new"}) && slices.Equal(det, []string{"new"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s of a sink with --retention %s: events %q, detections %q; want only new in each", retention.Format(c.Retention.Duration()), ev, det)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sink: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the sink did not stop 30s after cancel")
	}
}
