package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// TestRedeliveredEventsCountOnce loads every fixture, with the events delivered twice still
// stored twice, and checks that no panel's answer changes once ClickHouse has merged the
// duplicates away: every panel counts a redelivered event once.
func TestRedeliveredEventsCountOnce(t *testing.T) {
	f := loadFixture(t, "overview.jsonl", "users.jsonl", "netsec.jsonl", "ops.jsonl", "logins.jsonl", "s3.jsonl")
	ctx := context.Background()
	count := func(q string) uint64 {
		var n uint64
		if err := f.conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	rows, events := count("SELECT count() FROM "+f.db+".events"), count("SELECT uniqExact(event_id) FROM "+f.db+".events")
	if rows <= events {
		t.Fatalf("%d rows for %d events: the fixtures hold no duplicates", rows, events)
	}
	_, b := body(t, f.srv.URL, "/api/dashboards")
	var list struct {
		Dashboards []struct{ Panels []struct{ ID string } }
	}
	if err := json.Unmarshal([]byte(b), &list); err != nil {
		t.Fatal(err)
	}
	f.upload(t, "alice", "bob", "carol")
	answers := func() map[string][][]any {
		out := map[string][][]any{}
		for _, d := range list.Dashboards {
			for _, p := range d.Panels {
				out[p.ID] = get(t, f.srv.URL, "/api/panels/"+p.ID+"?"+f.day().Encode(), http.StatusOK).Rows
			}
		}
		return out
	}
	before := answers()
	if len(before) != 44 {
		t.Fatalf("%d panels, want 44", len(before))
	}
	for _, q := range []string{"SYSTEM START MERGES " + f.db + ".events", "OPTIMIZE TABLE " + f.db + ".events FINAL"} {
		if err := f.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if n := count("SELECT count() FROM " + f.db + ".events"); n != events {
		t.Fatalf("%d rows after the merge, want %d", n, events)
	}
	after := answers()
	for id, rows := range before {
		if !reflect.DeepEqual(rows, after[id]) {
			t.Errorf("%s with the duplicates stored: %v\n after they were merged: %v", id, rows, after[id])
		}
	}
}
