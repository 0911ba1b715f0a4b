package chstore_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestSecureConnect connects to the local stack's ClickHouse over TLS on its secure native
// port, verifying the server's certificate against the stack's CA, as the user with a
// password read from its file, and migrates a database there.
func TestSecureConnect(t *testing.T) {
	c, pwFile := testenv.SecureClickHouse(t, testenv.Config(t))
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClickHousePassword == "" || c.ClickHousePassword != strings.TrimSuffix(string(pw), "\n") {
		t.Fatalf("--clickhouse-password-file %s was not read into the password", pwFile)
	}
	o := chstore.OptionsOf(c)
	if !o.TLS.On() || o.User != testenv.ClickHouseTestUser {
		t.Fatalf("options %s", o)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("options", "clickhouse", o, "printed", fmt.Sprintf("%v %+v", o, o))
	if strings.Contains(logged.String(), c.ClickHousePassword) || !strings.Contains(logged.String(), o.Addr) {
		t.Fatalf("the options logged show the password, or not the address: %s", logged.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := chstore.ConnectMigrated(ctx, o, c.ClickHouseDatabase, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+c.ClickHouseDatabase)
	var user string
	var tables uint64
	// 18.16 has no currentUser(): the query finds itself among the running ones.
	if err := conn.QueryRow(ctx, "SELECT user FROM system.processes WHERE query LIKE '%whoami-marker%' LIMIT 1").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ?", c.ClickHouseDatabase).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if user != testenv.ClickHouseTestUser || tables == 0 {
		t.Fatalf("signed in as %q with %d tables in %s, want %s and the migrated tables", user, tables, c.ClickHouseDatabase, testenv.ClickHouseTestUser)
	}
}

// TestSecureRefused: a wrong password, a CA that did not sign the server's certificate,
// TLS to the plaintext port and a missing CA file fail at once, saying why, and are not
// retried.
func TestSecureRefused(t *testing.T) {
	good, _ := testenv.SecureClickHouse(t, testenv.Config(t))
	other := testenv.NewCA(t, "another CA")
	tests := []struct {
		name   string
		change func(o *chstore.Options)
		want   []string
	}{
		{"wrong password", func(o *chstore.Options) { o.Password += "x" }, []string{"refused the user or its password", testenv.ClickHouseTestUser, "Wrong password"}},
		{"unknown user", func(o *chstore.Options) { o.User = "mallory" }, []string{"refused the user or its password", "mallory"}},
		{"wrong CA", func(o *chstore.Options) { o.TLS.CA = other.File }, []string{"TLS failed", "certificate signed by unknown authority", good.ClickHouseAddr}},
		{"TLS to the plaintext port", func(o *chstore.Options) { o.Addr = testenv.Config(t).ClickHouseAddr }, []string{"TLS failed", "secure native port"}},
		{"server name not on the certificate", func(o *chstore.Options) { o.TLS.ServerName = "clickhouse.example" }, []string{"TLS failed", "clickhouse.example"}},
		{"missing CA file", func(o *chstore.Options) { o.TLS.CA = "/nonexistent/ca.crt" }, []string{"/nonexistent/ca.crt"}},
		{"client certificate without its key", func(o *chstore.Options) { o.TLS.Cert = other.File }, []string{"give both the certificate and its key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := chstore.OptionsOf(good)
			tt.change(&o)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			conn, err := chstore.Connect(ctx, o, slog.Default())
			if err == nil {
				conn.Close()
				t.Fatal("connected")
			}
			t.Log(err)
			if !backoff.IsPermanent(err) {
				t.Fatalf("error %v is not permanent: a service would retry it", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("failed after %s, want at once", d)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q: %v", s, err)
				}
			}
			if good.ClickHousePassword != "" && strings.Contains(err.Error(), good.ClickHousePassword) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestPlaintextStillWorks: without TLS options the plaintext port serves as before.
func TestPlaintextStillWorks(t *testing.T) {
	c := testenv.Config(t)
	o := chstore.OptionsOf(c)
	if o.TLS.On() || o.TLS != (config.TLS{}) {
		t.Fatalf("default options use TLS: %s", o)
	}
	conn, err := chstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
