package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/testenv"
)

func TestHelp(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"help"}, 0, []string{"fetcher", "normalizer", "detector", "sink", "console", "all", "generate", "migrate"}},
		{nil, 0, []string{"Usage: trailstream <target>"}},
		{[]string{"fetcher", "-h"}, 0, []string{"--sqs-queue", "TRAILSTREAM_SQS_QUEUE", "--kafka-brokers", "--environment"}},
		{[]string{"help", "sink"}, 0, []string{"--clickhouse-addr", "TRAILSTREAM_CLICKHOUSE_ADDR", "--batch-size"}},
		{[]string{"generate", "-h"}, 0, []string{"--events", "--out", "--start", "--s3-bucket"}},
		{[]string{"all", "-h"}, 0, []string{"--console-addr", "--kafka-brokers"}},
		{[]string{"nope"}, 2, []string{"unknown target"}},
		{[]string{"fetcher", "--no-such-flag"}, 2, []string{"no-such-flag"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, &out, &errOut)
			all := out.String() + errOut.String()
			if code != tt.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.code, all)
			}
			for _, s := range tt.contains {
				if n := strings.Count(all, s); n == 0 {
					t.Errorf("output lacks %q:\n%s", s, all)
				} else if strings.HasPrefix(s, "--") && n > 1 {
					t.Errorf("output lists %q %d times:\n%s", s, n, all)
				}
			}
		})
	}
}

// TestMigrateTarget runs `trailstream migrate` against the real ClickHouse, configured through
// the environment.
func TestMigrateTarget(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	db := testenv.Name("ts_test_")
	t.Setenv(config.EnvName("clickhouse-database"), db)
	t.Setenv(config.EnvName("clickhouse-addr"), c.ClickHouseAddr)
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	var out, errOut bytes.Buffer
	if code := run([]string{"migrate"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ?", db).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d tables in %s (want events, detections, admin_users, schema_migrations): %v", n, db, err)
	}
}
