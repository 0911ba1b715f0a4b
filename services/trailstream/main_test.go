package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRulesTest runs rules test as the command line does: the built-in cases of one rule
// pass (exit 0), a file with failing cases fails (exit 1), a bad rules config fails the start.
func TestRulesTest(t *testing.T) {
	if code := run([]string{"rules", "test", "--rule", "short-lived-iam-object", "--failures-only"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("rules test of the built-in cases: exit %d, want 0", code)
	}
	if code := run([]string{"rules", "test", "../../pkg/rules/ruletest/testdata/mixed.yml"}, io.Discard, io.Discard); code != 1 {
		t.Errorf("rules test of a file with failing cases: exit %d, want 1", code)
	}
	bad := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(bad, []byte("rules:\n  no-such-rule: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"rules", "list", "--rules-config", bad}, io.Discard, io.Discard); code != 1 {
		t.Errorf("rules list with a bad config: exit %d, want 1", code)
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"help"}, 0, []string{"fetcher", "normalizer", "detector", "sink", "notifier", "console", "all", "generate", "migrate",
			"import", "detect", "rules list", "rules test"}},
		{[]string{"detect", "-h"}, 0, []string{"--rules-config", "--home-countries", "--environment"}},
		{[]string{"detector", "-h"}, 0, []string{"--rules-config", "--home-countries", "--clickhouse-addr", "--detector-replay-limit"}},
		{[]string{"rules", "test", "-h"}, 0, []string{"--rule", "--failures-only"}},
		{[]string{"rules", "list", "-h"}, 0, []string{"--rules-config"}},
		{[]string{"rules", "nope"}, 2, []string{"unknown target"}},
		{nil, 0, []string{"Usage: trailstream <target>"}},
		{[]string{"fetcher", "-h"}, 0, []string{"--sqs-queue", "TRAILSTREAM_SQS_QUEUE", "--kafka-brokers", "--environment"}},
		{[]string{"help", "sink"}, 0, []string{"--clickhouse-addr", "TRAILSTREAM_CLICKHOUSE_ADDR", "--batch-size"}},
		{[]string{"generate", "-h"}, 0, []string{"--events", "--out", "--start", "--s3-bucket"}},
		{[]string{"all", "-h"}, 0, []string{"--console-addr", "--kafka-brokers"}},
		{[]string{"import", "-h"}, 0, []string{"TRAILSTREAM_DIRECT]", "--dead-letters", "TRAILSTREAM_DETECT]", "--concurrency", "--reread", "--exclude",
			"--kafka-brokers", "--clickhouse-addr", "--batch-size", "--geoip-city-db", "TRAILSTREAM_ADMIN_USERS]", "--rules-config"}},
		{[]string{"import"}, 1, nil},
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
	var tables []string
	if err := conn.QueryRow(context.Background(), "SELECT groupArray(name) FROM (SELECT name FROM system.tables WHERE database = ? ORDER BY name)", db).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	want := "admin_users checkpoints detections digest_files events files schema_migrations source_state sources"
	if got := strings.Join(tables, " "); got != want {
		t.Fatalf("tables in %s: %s, want %s", db, got, want)
	}
}
