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

// TestMetricsAddrOption: every service, and all, takes --metrics-addr; the tools do not.
func TestMetricsAddrOption(t *testing.T) {
	services := map[string]bool{"fetcher": true, "normalizer": true, "detector": true, "sink": true, "notifier": true, "console": true, "all": true}
	for _, tg := range targets {
		service := services[tg.name]
		if has := flagsOf(t, tg.name).Lookup("metrics-addr") != nil; has != service {
			t.Errorf("%s: --metrics-addr %v, want %v", tg.name, has, service)
		}
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
	want := "admin_users audit_log checkpoints credentials detections digest_files events files schema_migrations source_state sources"
	if got := strings.Join(tables, " "); got != want {
		t.Fatalf("tables in %s: %s, want %s", db, got, want)
	}
}

// TestSigmaCommands runs the Sigma side of the rules commands on rules written for the test:
// rules check reports every rule that does not load with its file and line, and fails for
// them; rules list, rules test and detect run the rule that loads.
func TestSigmaCommands(t *testing.T) {
	const id = "sigma:7d3c1a52-4e0b-4c89-9a61-2f0c6b1e9d01"
	tests := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"rules", "check", "testdata/sigma/ok"}, 0,
			[]string{"2 files: 1 rules loaded (0 more as parts of correlations), 0 failed (0 problems), 1 ignored (not AWS CloudTrail), 0 skipped (status)"}},
		{[]string{"rules", "check", "testdata/sigma/ok", "testdata/sigma/bad"}, 1, []string{
			`testdata/sigma/bad/broken.yml:9: 2c1e3d4f-0000-4000-8000-000000000003 (A modifier that does not exist): unknown modifier "sounds_like"`,
			`testdata/sigma/bad/broken.yml:22: 3d2f4e5a-0000-4000-8000-000000000004`, "2 failed (2 problems)"}},
		{[]string{"rules", "check"}, 1, []string{"no folder or file of Sigma rules"}},
		{[]string{"rules", "list", "--sigma-rules", "testdata/sigma/ok"}, 0, []string{id, "testdata/sigma/ok/trail-stopped.yml", "attack.t1562.008"}},
		{[]string{"rules", "test", "--sigma-rules", "testdata/sigma/ok", "testdata/sigma/cases.yml"}, 0, []string{"2 passed, 0 failed"}},
		{[]string{"rules", "test", "testdata/sigma/cases.yml"}, 1, []string{"0 passed, 2 failed"}}, // without the rule
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out := captured(t, tt.args)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.code, out)
			}
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}

	// detect: the rule fires on a trail stopped, beside the built-in rules.
	in := filepath.Join(t.TempDir(), "records.jsonl")
	rec := `{"eventVersion":"1.08","eventTime":"2026-11-20T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",` +
		`"awsRegion":"us-east-1","eventID":"s1","recipientAccountId":"123456789012","userIdentity":{"type":"IAMUser","accountId":"123456789012","userName":"mallory"},` +
		`"requestParameters":{"name":"main"}}` + "\n"
	if err := os.WriteFile(in, []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := captured(t, []string{"detect", "--log-level", "warn", "--sigma-rules", "testdata/sigma/ok", in})
	if code != 0 || !strings.Contains(out, `"rule_id":"`+id+`"`) || !strings.Contains(out, `"rule_id":"cloudtrail-logging-stopped"`) {
		t.Fatalf("detect: exit %d, output:\n%s\nwant the Sigma rule's detection beside the built-in one's", code, out)
	}
}

// captured runs the command line args with the process's stdout and stderr (where targets
// print and log) in a file, and returns the exit status and what was written.
func captured(t *testing.T, args []string) (int, string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = f, f
	code := run(args, f, f)
	os.Stdout, os.Stderr = stdout, stderr
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, string(b)
}
