package chstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestSend inserts 3 rows into a table of the test's own, then sends an insert whose server
// went away: the rows, the insert's duration and the failure are counted under the table's
// name without its database.
func TestSend(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	ctx := context.Background()
	table := testenv.Name("send_")
	if err := conn.Exec(ctx, "CREATE TABLE "+c.ClickHouseDatabase+"."+table+" (n UInt32) ENGINE = MergeTree() ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+c.ClickHouseDatabase+"."+table+" (n)")
	if err != nil {
		t.Fatal(err)
	}
	for n := range 3 {
		if err := b.Append(uint32(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := chstore.Send(b, c.ClickHouseDatabase+"."+table); err != nil {
		t.Fatal(err)
	}
	// An insert whose server goes away before it is sent.
	proxy := testenv.NewProxy(t, c.ClickHouseAddr)
	pc := c
	pc.ClickHouseAddr = proxy.Addr()
	away, err := chstore.Open(ctx, chstore.OptionsOf(pc))
	if err != nil {
		t.Fatal(err)
	}
	defer away.Close()
	b, err = away.PrepareBatch(ctx, "INSERT INTO "+c.ClickHouseDatabase+"."+table+" (n)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(7)); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	if err := chstore.Send(b, c.ClickHouseDatabase+"."+table); err == nil {
		t.Fatal("an insert whose server went away was sent")
	}
	s := metricstest.Local(t, metrics.ClickHouse)
	if got := s.Sum("trailstream_clickhouse_rows_inserted_total", "table", table); got != 3 {
		t.Errorf("rows inserted %v, want 3", got)
	}
	if got := s.Sum("trailstream_clickhouse_insert_duration_seconds_count", "table", table); got != 1 {
		t.Errorf("inserts timed %v, want 1", got)
	}
	if got := s.Sum("trailstream_clickhouse_insert_errors_total", "table", table); got != 1 {
		t.Errorf("insert errors %v, want 1", got)
	}
}

// TestReadyCheck: the check answers against the local ClickHouse, fails against an address
// nothing listens on, and recovers there once a server does.
func TestReadyCheck(t *testing.T) {
	c := testenv.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok := chstore.NewReadyCheck(chstore.OptionsOf(c))
	defer ok.Close()
	if err := ok.Check(ctx); err != nil {
		t.Fatalf("check against %s: %v", c.ClickHouseAddr, err)
	}
	proxy := testenv.NewProxy(t, c.ClickHouseAddr)
	proxy.Cut()
	o := chstore.OptionsOf(c)
	o.Addr = proxy.Addr()
	down := chstore.NewReadyCheck(o)
	defer down.Close()
	if err := down.Check(ctx); err == nil || !strings.Contains(err.Error(), proxy.Addr()) {
		t.Fatalf("check against a closed port: %v, want an error naming %s", err, proxy.Addr())
	}
	proxy.Restore()
	if err := down.Check(ctx); err != nil {
		t.Fatalf("check once the server is back: %v", err)
	}
}
