package chstore

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// TestCheckProductMode: migrating on a cluster warns when the user's profile would refuse
// the console's subqueries of Distributed tables (the main local ClickHouse has the default,
// 'deny'), and says nothing where the profile has 'global' (the test cluster's first node).
func TestCheckProductMode(t *testing.T) {
	main := "127.0.0.1:9000"
	if v := os.Getenv("TRAILSTREAM_TEST_CLICKHOUSE_ADDR"); v != "" {
		main = v
	}
	node := "127.0.0.1:19000"
	if p := strings.Fields(os.Getenv("CLUSTER_TCP_PORTS")); len(p) == 2 {
		node = "127.0.0.1:" + p[0]
	}
	for _, tc := range []struct {
		addr, start string
		warn        bool
	}{
		{main, "deploy/local/stack.sh up", true},
		{node, "deploy/local/stack.sh cluster", false},
	} {
		ctx := context.Background()
		conn, err := Open(ctx, Options{Addr: tc.addr, User: "default"})
		if err != nil {
			t.Fatalf("ClickHouse at %s did not answer (%v): start it with `%s` (make test does)", tc.addr, err, tc.start)
		}
		var buf bytes.Buffer
		checkProductMode(ctx, conn, slog.New(slog.NewTextHandler(&buf, nil)))
		conn.Close()
		if got := strings.Contains(buf.String(), "distributed_product_mode"); got != tc.warn {
			t.Errorf("%s: warned %v, want %v: %q", tc.addr, got, tc.warn, buf.String())
		}
	}
}
