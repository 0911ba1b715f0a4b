package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// childArgs is the environment variable under which the test binary runs as trailstream
// itself: its value is the command line, JSON-encoded (see TestMain).
const childArgs = "TRAILSTREAM_TEST_CHILD_ARGS"

// TestMain lets the tests run targets as separate processes of this binary, so that a run
// can be stopped by a signal as an operator stops it, and everything it prints captured.
func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(childArgs); ok {
		var args []string
		if err := json.Unmarshal([]byte(v), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(run(args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// child is one run of a target in a process of its own.
type child struct {
	args []string
	env  map[string]string
	// stopAfter: a run still going then gets SIGTERM, as a service is stopped.
	stopAfter time.Duration
}

// running is a child started.
type running struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	term chan struct{} // closed to stop it now
	done chan struct{}
}

// start runs c until it ends, c.stopAfter passes or stop is called.
func (c child) start(t *testing.T) *running {
	t.Helper()
	b, err := json.Marshal(c.args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	for _, kv := range os.Environ() { // the runs' settings are the test's alone
		if !strings.HasPrefix(kv, "TRAILSTREAM_") && !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childArgs+"="+string(b))
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	r := &running{t: t, args: c.args, cmd: cmd, out: new(bytes.Buffer), term: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.out, r.out // one writer for both: exec then copies with one goroutine
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		select {
		case <-r.done:
			return
		case <-time.After(c.stopAfter):
		case <-r.term:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	return r
}

// stop sends SIGTERM now.
func (r *running) stop() { close(r.term) }

// wait returns the exit status and everything the run printed.
func (r *running) wait() (int, string) {
	err := r.cmd.Wait()
	close(r.done)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			r.t.Fatalf("%v: %v", r.args, err)
		}
		code = ee.ExitCode()
	}
	return code, r.out.String()
}

// secrets are the values no run may print, in any form.
type secrets struct {
	mu     sync.Mutex
	values []string
}

func (s *secrets) new(prefix string) string {
	v := testenv.Name(prefix + "-S3cr3t-")
	s.add(v)
	return v
}

func (s *secrets) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v)
}

// leaks returns the secrets out holds, as they are or base64-encoded.
func (s *secrets) leaks(out string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []string
	for _, v := range s.values {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v))} {
			if strings.Contains(out, form) {
				found = append(found, v)
				break
			}
		}
	}
	return found
}

// flagsOf returns the options target takes.
func flagsOf(t *testing.T, target string) *flag.FlagSet {
	t.Helper()
	for _, tg := range targets {
		if tg.name == target {
			fs := flag.NewFlagSet(tg.name, flag.ContinueOnError)
			c := config.Default()
			tg.setup(fs, &c)
			return fs
		}
	}
	t.Fatalf("no target %q", target)
	return nil
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestNoSecretInOutput runs every target with known secrets — the ClickHouse password,
// the Kafka SASL password, the OIDC client secret, a webhook's token and the AWS keys in
// the environment — given by flag, by environment variable and by file, for help, against
// servers that are not there, with wrong passwords and with the right ones over TLS, and
// fails if anything a run printed (stdout, stderr, logs) holds one of them.
func TestNoSecretInOutput(t *testing.T) {
	var s secrets
	c := testenv.Config(t)
	testenv.ClickHouse(t, c) // the runs' database, dropped at the end
	_, queueURL := testenv.AWS(t, c)
	secureCH, chPasswordFile := testenv.SecureClickHouse(t, c)
	s.add(secureCH.ClickHousePassword)
	broker := testenv.SecureKafka(t, "scram-sha-256", false)
	s.add(broker.SASL.Password)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer hook.Close()
	hookToken := s.new("hook")
	aws := map[string]string{
		"AWS_ACCESS_KEY_ID":     "AKIA" + strings.ToUpper(strings.ReplaceAll(s.new("akid"), "-", "")),
		"AWS_SECRET_ACCESS_KEY": s.new("aws-secret"),
		"AWS_SESSION_TOKEN":     s.new("aws-session"),
		"AWS_REGION":            "us-east-1",
	}
	s.add(aws["AWS_ACCESS_KEY_ID"])
	dir := t.TempDir()
	// A file of its own each call: the targets run side by side, and rewriting one another's
	// file would let a process read it empty.
	secretFile := func(name, value string) string {
		f, err := os.CreateTemp(dir, name+"-*")
		if err == nil {
			_, err = f.WriteString(value + "\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	records := filepath.Join(dir, "records.jsonl")
	rec := `{"eventVersion":"1.08","eventTime":"2026-11-20T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser",` +
		`"awsRegion":"us-east-1","eventID":"sec-1","recipientAccountId":"123456789012","userIdentity":{"type":"IAMUser","accountId":"123456789012","userName":"alice"}}` + "\n"
	if err := os.WriteFile(records, []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	importDir := filepath.Join(dir, "import", "AWSLogs", "123456789012", "CloudTrail", "us-east-1", "2026", "11", "20")
	if err := os.MkdirAll(importDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(importDir, "123456789012_CloudTrail_us-east-1_20261120T1000Z_sec.json.gz"),
		testenv.Gzip([]byte(`{"Records":[`+strings.TrimSpace(rec)+`]}`)), 0o644); err != nil {
		t.Fatal(err)
	}

	type target struct {
		name    string
		args    []string // after the target's name
		service bool     // runs until stopped
		servers bool     // talks to ClickHouse or Kafka, so wrong passwords stop it
	}
	tgts := []target{
		{"fetcher", nil, true, true},
		{"normalizer", nil, true, true},
		{"detector", nil, true, true},
		{"sink", nil, true, true},
		{"notifier", nil, true, true},
		{"console", nil, true, true},
		{"all", nil, true, true},
		{"migrate", nil, false, true},
		{"import", []string{filepath.Join(dir, "import")}, false, true},
		{"detect", []string{records}, false, false},
		{"normalize", []string{records}, false, false},
		{"generate", []string{"--events", "20"}, false, false},
		{"rules list", nil, false, false},
	}
	unreachable := closedAddr(t)
	type scenario struct {
		name string
		// settings: flag name → value, given as flags when the target has the flag; env:
		// variables set for every run
		settings func(fs *flag.FlagSet) (flags map[string]string, env map[string]string)
		check    func(t *testing.T, tg target, code int, out string)
	}
	servers := func(m map[string]string) map[string]string {
		for k, v := range map[string]string{
			"clickhouse-addr": secureCH.ClickHouseAddr, "clickhouse-user": testenv.ClickHouseTestUser, "clickhouse-tls-ca": secureCH.ClickHouseTLS.CA,
			"clickhouse-database": c.ClickHouseDatabase, "kafka-brokers": broker.Brokers()[0], "kafka-tls-ca": broker.TLS.CA,
			"kafka-sasl-mechanism": broker.SASL.Mechanism, "kafka-sasl-user": broker.SASL.User, "kafka-group-prefix": c.GroupPrefix,
			"aws-endpoint": c.AWSEndpoint, "s3-bucket": c.Bucket, "sqs-queue": queueURL, "console-addr": "127.0.0.1:0",
			"alert-webhook": hook.URL + "/hooks/" + hookToken, "oidc-client-id": "trailstream", "log-level": "debug",
			"sqs-wait-time": "1s", "batch-wait": "100ms", "metrics-addr": "127.0.0.1:0",
		} {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
		return m
	}
	scenarios := []scenario{
		{"help, secrets in the environment", func(*flag.FlagSet) (map[string]string, map[string]string) {
			return map[string]string{"h": ""}, map[string]string{
				"TRAILSTREAM_CLICKHOUSE_PASSWORD": s.new("ch"), "TRAILSTREAM_KAFKA_SASL_PASSWORD": s.new("sasl"),
				"TRAILSTREAM_OIDC_CLIENT_SECRET": s.new("oidc"), "TRAILSTREAM_ALERT_WEBHOOK": hook.URL + "/hooks/" + hookToken}
		}, func(t *testing.T, _ target, code int, out string) {
			if code != 0 || !strings.Contains(out, "Usage: trailstream") {
				t.Errorf("exit %d, want 0 and the usage:\n%s", code, out)
			}
		}},
		{"servers not there, secrets by flag", func(*flag.FlagSet) (map[string]string, map[string]string) {
			return map[string]string{
				"clickhouse-addr": unreachable, "kafka-brokers": unreachable, "aws-endpoint": "http://" + unreachable,
				"oidc-issuer": "http://" + unreachable + "/", "oidc-client-id": "trailstream", "kafka-sasl-mechanism": "plain",
				"kafka-sasl-user": "trailstream", "clickhouse-password": s.new("ch"), "kafka-sasl-password": s.new("sasl"),
				"oidc-client-secret": s.new("oidc"), "alert-webhook": "http://" + unreachable + "/hooks/" + hookToken,
				"console-addr": "127.0.0.1:0", "metrics-addr": "127.0.0.1:0", "log-level": "debug",
			}, nil
		}, func(t *testing.T, tg target, code int, out string) {
			if tg.servers && !strings.Contains(out, unreachable) {
				t.Errorf("exit %d; the output does not name the server that is not there (%s):\n%s", code, unreachable, out)
			}
		}},
		{"wrong passwords, secrets in the environment", func(*flag.FlagSet) (map[string]string, map[string]string) {
			return servers(map[string]string{}), map[string]string{
				"TRAILSTREAM_CLICKHOUSE_PASSWORD": s.new("ch-wrong"), "TRAILSTREAM_KAFKA_SASL_PASSWORD": s.new("sasl-wrong"),
				"TRAILSTREAM_OIDC_CLIENT_SECRET": s.new("oidc")}
		}, func(t *testing.T, tg target, code int, out string) {
			if tg.servers && (code != 1 || !strings.Contains(out, "refused")) {
				t.Errorf("exit %d, want 1 with the refused sign-in:\n%s", code, out)
			}
		}},
		{"wrong Kafka password from a file, right ClickHouse password in the environment", func(*flag.FlagSet) (map[string]string, map[string]string) {
			return servers(map[string]string{"kafka-sasl-password-file": secretFile("sasl-wrong", s.new("sasl-wrong"))}),
				map[string]string{"TRAILSTREAM_CLICKHOUSE_PASSWORD": secureCH.ClickHousePassword, "TRAILSTREAM_OIDC_CLIENT_SECRET_FILE": secretFile("oidc2", s.new("oidc"))}
		}, func(t *testing.T, tg target, code int, out string) {
			if tg.servers && flagsOf(t, tg.name).Lookup("kafka-brokers") != nil && (code != 1 || !strings.Contains(out, "refused the SASL SCRAM-SHA-256 sign-in")) {
				t.Errorf("exit %d, want 1 with the refused sign-in:\n%s", code, out)
			}
		}},
		{"right passwords from files", func(fs *flag.FlagSet) (map[string]string, map[string]string) {
			return servers(map[string]string{"clickhouse-password-file": chPasswordFile, "oidc-client-secret-file": secretFile("oidc", s.new("oidc"))}),
				map[string]string{"TRAILSTREAM_KAFKA_SASL_PASSWORD_FILE": secretFile("sasl", broker.SASL.Password)}
		}, func(t *testing.T, tg target, code int, out string) {
			if code != 0 {
				t.Errorf("exit %d, want 0:\n%s", code, out)
			}
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			for _, tg := range tgts {
				t.Run(tg.name, func(t *testing.T) {
					t.Parallel()
					fs := flagsOf(t, tg.name)
					flags, env := sc.settings(fs)
					args := strings.Fields(tg.name)
					for name, v := range flags {
						if name == "h" {
							continue
						}
						if fs.Lookup(name) != nil {
							args = append(args, "--"+name+"="+v)
						}
					}
					args = append(args, tg.args...)
					if _, ok := flags["h"]; ok {
						args = append(args[:len(strings.Fields(tg.name))], "-h")
					}
					allEnv := map[string]string{}
					for k, v := range aws {
						allEnv[k] = v
					}
					for k, v := range env {
						allEnv[k] = v
					}
					stop := 20 * time.Second // the one-shot tools finish by themselves
					if tg.service {
						stop = 6 * time.Second
					}
					code, out := child{args: args, env: allEnv, stopAfter: stop}.start(t).wait()
					if leaked := s.leaks(out); len(leaked) > 0 {
						t.Errorf("%v printed the secrets %q:\n%s", args, leaked, out)
					}
					sc.check(t, tg, code, out)
				})
			}
		})
	}
}

// TestSecureSink is the sink end to end over secured connections: a broker that serves TLS
// only, requires a client certificate and a SCRAM-SHA-512 sign-in, and ClickHouse on its
// secure port as the user with a password, both passwords from files. The events written
// to the topic are loaded, and nothing the sink printed holds a secret.
func TestSecureSink(t *testing.T) {
	c := testenv.Config(t)
	plainConn := testenv.ClickHouse(t, c) // to look at the rows; migrates and drops the database
	secureCH, chPasswordFile := testenv.SecureClickHouse(t, c)
	broker := testenv.SecureKafka(t, "scram-sha-512", true)
	saslFile := filepath.Join(t.TempDir(), "sasl")
	if err := os.WriteFile(saslFile, []byte(broker.SASL.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := broker.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := kafkautil.EnsureTopics(ctx, kc, 3, c.TopicEvents, c.TopicDetections, c.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	w := kafkautil.NewWriter(kc, c.TopicEvents)
	defer w.Close()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	const n = 25
	for i := range n {
		v, err := model.EncodeEvent(nil, &model.Event{EventID: fmt.Sprintf("sec-%02d", i), EventTime: t0.Add(time.Duration(i) * time.Second),
			EventName: "CreateUser", AccountID: "111122223333", UserName: "alice", Outcome: "success", Action: "create", Raw: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("111122223333"), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"sink", "--log-level=debug",
		"--kafka-brokers=" + broker.Brokers()[0], "--kafka-tls-ca=" + broker.TLS.CA, "--kafka-tls-cert=" + broker.TLS.Cert, "--kafka-tls-key=" + broker.TLS.Key,
		"--kafka-sasl-mechanism=scram-sha-512", "--kafka-sasl-user=" + broker.SASL.User, "--kafka-sasl-password-file=" + saslFile,
		"--kafka-group-prefix=" + c.GroupPrefix, "--batch-wait=100ms", "--metrics-addr=127.0.0.1:0",
		"--clickhouse-addr=" + secureCH.ClickHouseAddr, "--clickhouse-tls-ca=" + secureCH.ClickHouseTLS.CA,
		"--clickhouse-user=" + testenv.ClickHouseTestUser, "--clickhouse-password-file=" + chPasswordFile,
		"--clickhouse-database=" + c.ClickHouseDatabase}
	sink := child{args: args, stopAfter: 90 * time.Second}.start(t)
	var got uint64
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := plainConn.QueryRow(ctx, "SELECT uniqExact(event_id) FROM "+c.ClickHouseDatabase+".events").Scan(&got); err == nil && got == n {
			break
		}
	}
	sink.stop() // as an operator stops it
	code, out := sink.wait()
	if got != n {
		t.Fatalf("%d of %d events loaded; the sink printed:\n%s", got, n, out)
	}
	if code != 0 {
		t.Fatalf("sink exit %d after SIGTERM:\n%s", code, out)
	}
	if committed := testenv.Committed(t, kc, c.GroupPrefix+"-sink-events", c.TopicEvents); committed != n {
		t.Fatalf("the sink committed %d offsets of %d", committed, n)
	}
	for _, secret := range []string{broker.SASL.Password, secureCH.ClickHousePassword} {
		if strings.Contains(out, secret) {
			t.Fatalf("the sink printed a password:\n%s", out)
		}
	}
}
