package retention_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/retention"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// months are the months of the rows each test writes, for a now in December 2026: 14 and 13
// months back, 1 month back and now's month. Each gets a row at its first and its last
// second, in events (event_time) and in detections (first_time).
var months = []string{"202510", "202511", "202611", "202612"}

// fill writes the rows of months into db and checks the local ClickHouse counts months in
// UTC, as the expected partitions below do.
func fill(t *testing.T, ctx context.Context, conn driver.Conn, db string) {
	t.Helper()
	var tz string
	if err := conn.QueryRow(ctx, "SELECT timezone()").Scan(&tz); err != nil {
		t.Fatal(err)
	}
	if tz != "UTC" && tz != "Etc/UTC" {
		t.Fatalf("the local ClickHouse runs in %s; these tests count months in UTC", tz)
	}
	var times []time.Time
	for _, m := range months {
		first, err := time.Parse("200601", m)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, first, first.AddDate(0, 1, 0).Add(-time.Second))
	}
	eb, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".events (event_id, event_time)")
	if err != nil {
		t.Fatal(err)
	}
	db2, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".detections (detection_id, first_time, last_time, detected_at)")
	if err != nil {
		t.Fatal(err)
	}
	for i, tm := range times {
		if err := eb.Append(fmt.Sprintf("e%d", i), tm); err != nil {
			t.Fatal(err)
		}
		if err := db2.Append(fmt.Sprintf("d%d", i), tm, tm.Add(time.Hour), tm.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := eb.Send(); err != nil {
		t.Fatal(err)
	}
	if err := db2.Send(); err != nil {
		t.Fatal(err)
	}
}

// rowMonths returns the months of table's rows with their counts, as "YYYYMM:n".
func rowMonths(t *testing.T, ctx context.Context, conn driver.Conn, db, table, column string) []string {
	t.Helper()
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT toString(toYYYYMM(%s)) AS m, count() FROM %s.%s GROUP BY m ORDER BY m", column, db, table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m string
		var n uint64
		if err := rows.Scan(&m, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s:%d", m, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// partitions returns the active partitions of table.
func partitions(t *testing.T, ctx context.Context, conn driver.Conn, db, table string) []string {
	t.Helper()
	rows, err := conn.Query(ctx, "SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = ? AND active ORDER BY partition_id", db, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// dropped lists the partitions changes dropped, as "table:YYYYMM".
func dropped(changes []retention.Change) []string {
	var out []string
	for _, c := range changes {
		if c.Partition == "" || c.TTL != "" || c.Removed {
			out = append(out, fmt.Sprintf("unexpected change %+v", c))
			continue
		}
		out = append(out, c.Table+":"+c.Partition)
	}
	return out
}

// TestEnforcePartitions drops, on the local ClickHouse 18.16, exactly the months wholly older
// than now minus the retention, in events and detections; a second run drops nothing.
func TestEnforcePartitions(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep string
		now  time.Time
		// drop are the months dropped; the others are kept with their two rows.
		drop []string
	}{
		{"400d, the cutoff inside 13 months back", "400d", time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC), []string{"202510"}},
		{"400d, the cutoff at 13 months back's first second", "400d", time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), []string{"202510"}},
		{"400d, the cutoff at 14 months back's last second", "400d", time.Date(2026, 12, 5, 23, 59, 59, 0, time.UTC), nil},
		{"13w", "13w", time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC), []string{"202510", "202511"}},
		{"8760h", "8760h", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), []string{"202510", "202511"}},
		{"1d at the start of a month", "1d", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), []string{"202510", "202511"}},
		{"1d", "1d", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), []string{"202510", "202511", "202611"}},
		{"0 keeps everything", "0", time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, err := retention.Parse(tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			c := testenv.Config(t)
			conn := testenv.ClickHouse(t, c)
			db := c.ClickHouseDatabase
			ctx := context.Background()
			fill(t, ctx, conn, db)
			srv, err := retention.Probe(ctx, conn)
			if err != nil {
				t.Fatal(err)
			}
			if srv.TTL {
				t.Fatalf("ClickHouse %s has TTL; this test is of the partition drops of 18.16 (the local stack)", srv.Version)
			}
			var wantDropped, wantRows []string
			for _, tb := range []string{"events", "detections"} {
				for _, m := range tc.drop {
					wantDropped = append(wantDropped, tb+":"+m)
				}
			}
			for _, m := range months {
				if !slices.Contains(tc.drop, m) {
					wantRows = append(wantRows, m+":2")
				}
			}
			got, err := retention.Enforce(ctx, conn, srv, db, keep, tc.now, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dropped(got), wantDropped) {
				t.Errorf("dropped %q, want %q", dropped(got), wantDropped)
			}
			for _, tb := range retention.Tables {
				if rows := rowMonths(t, ctx, conn, db, tb.Name, tb.Column); !slices.Equal(rows, wantRows) {
					t.Errorf("%s after the retention: months %q, want %q", tb.Name, rows, wantRows)
				}
			}
			again, err := retention.Enforce(ctx, conn, srv, db, keep, tc.now, slog.Default())
			if err != nil || len(again) != 0 {
				t.Errorf("second run: %+v, %v; want no change", again, err)
			}
			for _, tb := range retention.Tables {
				if rows := rowMonths(t, ctx, conn, db, tb.Name, tb.Column); !slices.Equal(rows, wantRows) {
					t.Errorf("%s after a second run: months %q, want %q", tb.Name, rows, wantRows)
				}
			}
		})
	}
}

// TestEnforceTwice: several sinks enforcing at once, and a partition dropped again after
// another sink dropped it, do no harm.
func TestEnforceTwice(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	db := c.ClickHouseDatabase
	ctx := context.Background()
	fill(t, ctx, conn, db)
	srv, err := retention.Probe(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = retention.Enforce(ctx, conn, srv, db, 13*7*retention.Day, now, slog.Default())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("sink %d: %v", i, err)
		}
	}
	want := []string{"202611:2", "202612:2"}
	for _, tb := range retention.Tables {
		if rows := rowMonths(t, ctx, conn, db, tb.Name, tb.Column); !slices.Equal(rows, want) {
			t.Errorf("%s: months %q, want %q", tb.Name, rows, want)
		}
		if p := partitions(t, ctx, conn, db, tb.Name); !slices.Equal(p, []string{"202611", "202612"}) {
			t.Errorf("%s: partitions %q, want 202611 and 202612", tb.Name, p)
		}
	}
	// A sink that listed the partitions before another dropped them drops a missing one.
	for _, tb := range retention.Tables {
		if _, err := dropPartitionsListed(ctx, conn, db, tb, "202510"); err != nil {
			t.Errorf("dropping %s's 202510 again: %v", tb.Name, err)
		}
	}
}

// dropPartitionsListed sends the drop Enforce sends for a partition it listed.
func dropPartitionsListed(ctx context.Context, conn driver.Conn, db string, t retention.Table, id string) (string, error) {
	q := fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %s", db, t.Name, id)
	return q, conn.Exec(ctx, q)
}

// TestRun applies the retention at its start and keeps going until cancelled.
func TestRun(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	db := c.ClickHouseDatabase
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old := time.Now().UTC().AddDate(-2, 0, 0)
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".events (event_id, event_time)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("old", old); err != nil {
		t.Fatal(err)
	}
	if err := b.Append("new", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- retention.Run(ctx, conn, db, "", 400*retention.Day, time.Hour, slog.Default()) }()
	oldMonth := old.Format("200601")
	deadline := time.Now().Add(20 * time.Second)
	for slices.Contains(partitions(t, ctx, conn, db, "events"), oldMonth) {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s the events of %s, two years back, are still there", oldMonth)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".events WHERE event_id = 'new'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the event of now: %d rows, %v; want 1", n, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return 10s after cancel")
	}
}

func TestHasTTL(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"18.16.1", false},
		{"19.5.4.22", false},
		{"19.6.2.11", true},
		{"19.17.4.11", true},
		{"20.3.1", true},
		{"26.7.2.1", true},
		{"1.1.54343", false},
		{"", false},
		{"x.y", false},
	} {
		if got := retention.HasTTL(tc.v); got != tc.want {
			t.Errorf("retention.HasTTL(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestCurrentTTL reads the TTL of create_table_query as ClickHouse 26.7 (chdb) printed it
// for events and detections without a TTL, after MODIFY TTL ... 400 DAY and 91 DAY, and
// after REMOVE TTL (testdata, one query a line in that order).
func TestCurrentTTL(t *testing.T) {
	f, err := os.Open("testdata/create_table_query_26.7.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []string{"", "event_time + toIntervalDay(400)", "event_time + toIntervalDay(91)",
		"", "first_time + toIntervalDay(400)", "first_time + toIntervalDay(91)", ""}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var got []string
	for sc.Scan() {
		got = append(got, retention.CurrentTTL(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("TTLs %q, want %q", got, want)
	}
	if retention.TTLExpr(retention.Tables[0], 400*retention.Day) != want[1] || retention.TTLExpr(retention.Tables[1], 91*retention.Day) != want[5] {
		t.Fatalf("TTLExpr: %q, %q; not as the server prints them", retention.TTLExpr(retention.Tables[0], 400*retention.Day), retention.TTLExpr(retention.Tables[1], 91*retention.Day))
	}
}
