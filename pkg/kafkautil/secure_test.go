package kafkautil_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestSecureRoundTrip creates topics, writes and reads back through a broker that serves
// TLS only and requires a SASL sign-in, with each mechanism, and with a client certificate
// the broker requires.
func TestSecureRoundTrip(t *testing.T) {
	tests := []struct {
		mechanism  string
		clientCert bool
	}{
		{"plain", false},
		{"scram-sha-256", false},
		{"scram-sha-512", false},
		{"scram-sha-256", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s client-cert=%v", tt.mechanism, tt.clientCert), func(t *testing.T) {
			b := testenv.SecureKafka(t, tt.mechanism, tt.clientCert)
			kc := b.Cluster(t)
			if kc.TLS == nil || kc.SASL == nil {
				t.Fatalf("cluster %s: want TLS and SASL", kc)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := kafkautil.EnsureTopics(ctx, kc, 2, "in"); err != nil {
				t.Fatal(err)
			}
			if err := kafkautil.EnsureCompactedTopics(ctx, kc, 1, time.Hour, "ledger"); err != nil {
				t.Fatal(err)
			}
			w, err := kafkautil.OpenWriter(ctx, kc, "in", slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if w.MaxMessage() <= 0 || w.MaxMessage() >= kafkautil.TopicMaxMessageBytes {
				t.Fatalf("writer limit %d: the topic's max.message.bytes was not read", w.MaxMessage())
			}
			const n = 20
			msgs := make([]kafka.Message, n)
			for i := range msgs {
				msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(i % 3)), Value: []byte(fmt.Sprintf("m%02d", i))}
			}
			if rejected, err := w.Write(ctx, msgs...); err != nil || len(rejected) > 0 {
				t.Fatalf("write: %v, rejected %v", err, rejected)
			}
			if got := testenv.TopicSize(t, kc, "in"); got != n {
				t.Fatalf("topic holds %d messages, want %d", got, n)
			}
			group := testenv.Name("g-")
			r := kafkautil.NewReader(kc, group, "in")
			defer r.Close()
			seen := map[string]bool{}
			rctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- kafkautil.ConsumeBatches(rctx, r, 5, 50*time.Millisecond, slog.Default(), func(_ context.Context, batch []kafka.Message) error {
					for _, m := range batch {
						seen[string(m.Value)] = true
					}
					if len(seen) == n {
						stop()
					}
					return nil
				})
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-ctx.Done():
				t.Fatalf("read %d of %d messages in a minute", len(seen), n)
			}
			if len(seen) != n {
				t.Fatalf("read %d distinct messages, want %d", len(seen), n)
			}
			if got := testenv.ReadTopic(t, kc, "in", n, 30*time.Second); len(got) != n {
				t.Fatalf("ReadTopic: %d messages", len(got))
			}
			if got := testenv.Committed(t, kc, group, "in"); got != n {
				t.Fatalf("committed %d, want %d", got, n)
			}
		})
	}
}

// TestSecureRefused: a wrong password, a CA that did not sign the broker's certificate, a
// missing client certificate and plaintext SASL settings that cannot work each fail at once
// with an error that says what and where, and that retrying does not try again.
func TestSecureRefused(t *testing.T) {
	scram := testenv.SecureKafka(t, "scram-sha-512", false)
	plainB := testenv.SecureKafka(t, "plain", false)
	certB := testenv.SecureKafka(t, "scram-sha-256", true)
	other := testenv.NewCA(t, "another CA")
	tests := []struct {
		name   string
		broker testenv.SecureBroker
		change func(c *config.Config)
		want   []string // in the error
	}{
		{"wrong SCRAM password", scram, func(c *config.Config) { c.KafkaSASL.Password += "x" },
			[]string{scram.ListenAddr(), "SCRAM-SHA-512", `user "trailstream-test"`, "refused"}},
		{"unknown SCRAM user", scram, func(c *config.Config) { c.KafkaSASL.User = "mallory" },
			[]string{scram.ListenAddr(), "SCRAM-SHA-512", `user "mallory"`}},
		{"wrong PLAIN password", plainB, func(c *config.Config) { c.KafkaSASL.Password = "guess" },
			[]string{plainB.ListenAddr(), "PLAIN", `user "trailstream-test"`}},
		{"mechanism the user does not have", scram, func(c *config.Config) { c.KafkaSASL.Mechanism = "scram-sha-256" },
			[]string{scram.ListenAddr(), "SCRAM-SHA-256"}},
		{"wrong CA", scram, func(c *config.Config) { c.KafkaTLS.CA = other.File },
			[]string{"TLS handshake with Kafka broker " + scram.ListenAddr(), "certificate signed by unknown authority", "--kafka-tls-ca"}},
		{"no client certificate", certB, func(c *config.Config) { c.KafkaTLS.Cert, c.KafkaTLS.Key = "", "" },
			[]string{"certificate required", "--kafka-tls-cert"}},
		{"server name not on the certificate", scram, func(c *config.Config) { c.KafkaTLS.ServerName = "kafka.example" },
			[]string{"kafka.example", "--kafka-tls-ca"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c config.Config
			tt.broker.Apply(&c)
			tt.change(&c)
			kc := testenv.Cluster(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err := kafkautil.EnsureTopics(ctx, kc, 1, "t")
			if err == nil {
				t.Fatal("topics created")
			}
			if !backoff.IsPermanent(err) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v: not permanent, so retried", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("failed after %s, want at once", d)
			}
			t.Log(err)
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q: %v", s, err)
				}
			}
			if strings.Contains(err.Error(), c.KafkaSASL.Password) {
				t.Errorf("the error shows the password: %v", err)
			}
			if _, err := kafkautil.OpenWriter(ctx, kc, "t", slog.Default()); !backoff.IsPermanent(err) {
				t.Errorf("OpenWriter: %v, want a permanent error", err)
			}
		})
	}

	// A consumer-group reader with a wrong password: the consume loop ends with the sign-in
	// error instead of waiting for ever.
	t.Run("reader with a wrong password", func(t *testing.T) {
		if err := kafkautil.EnsureTopics(context.Background(), scram.Cluster(t), 1, "r"); err != nil {
			t.Fatal(err)
		}
		var c config.Config
		scram.Apply(&c)
		c.KafkaSASL.Password = "wrong"
		r := kafkautil.NewReader(testenv.Cluster(t, c), testenv.Name("g-"), "r")
		defer r.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := kafkautil.ConsumeBatches(ctx, r, 1, 10*time.Millisecond, slog.Default(), func(context.Context, []kafka.Message) error { return nil })
		var ae *kafkautil.AuthError
		if !errors.As(err, &ae) || ae.Mechanism != "SCRAM-SHA-512" || ctx.Err() != nil {
			t.Fatalf("consume: %v, want the refused sign-in before the minute is over", err)
		}
	})
}

// TestClusterSettings: settings that cannot work are refused before anything connects, and
// the cluster's description never holds the password.
func TestClusterSettings(t *testing.T) {
	ca := testenv.NewCA(t, "settings CA")
	tests := []struct {
		name string
		cfg  config.Config
		want string // in the error; empty: no error
	}{
		{"plaintext", config.Config{KafkaBrokers: "k:9092"}, ""},
		{"TLS and SCRAM", config.Config{KafkaBrokers: "k:9093", KafkaTLS: config.TLS{CA: ca.File},
			KafkaSASL: config.SASL{Mechanism: "scram-sha-256", User: "u", Password: "pw-secret"}}, ""},
		{"unknown mechanism", config.Config{KafkaSASL: config.SASL{Mechanism: "gssapi", User: "u", Password: "p"}}, `"gssapi"`},
		{"no password", config.Config{KafkaSASL: config.SASL{Mechanism: "plain", User: "u"}}, "--kafka-sasl-password-file"},
		{"no user", config.Config{KafkaSASL: config.SASL{Mechanism: "plain", Password: "p"}}, "--kafka-sasl-user"},
		{"password without mechanism", config.Config{KafkaSASL: config.SASL{Password: "p"}}, "--kafka-sasl-mechanism"},
		{"missing CA file", config.Config{KafkaTLS: config.TLS{CA: "/nonexistent/ca.pem"}}, "/nonexistent/ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc, err := kafkautil.NewCluster(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s := kc.String(); strings.Contains(s, "pw-secret") || !strings.Contains(s, tt.cfg.KafkaBrokers) {
					t.Fatalf("String() = %q", s)
				}
				var logged bytes.Buffer
				slog.New(slog.NewJSONHandler(&logged, nil)).Info("cluster", "kafka", kc, "sasl", tt.cfg.KafkaSASL, "printed", fmt.Sprintf("%v %+v", kc, kc))
				if strings.Contains(logged.String(), "pw-secret") || !strings.Contains(logged.String(), tt.cfg.KafkaBrokers) {
					t.Fatalf("logged %s", logged.String())
				}
				if (kc.TLS != nil) != tt.cfg.KafkaTLS.On() || (kc.SASL != nil) != (tt.cfg.KafkaSASL.Mechanism != "") {
					t.Fatalf("cluster %s from %+v", kc, tt.cfg.KafkaTLS)
				}
				if kc.TLS != nil && kc.TLS.MinVersion < tls.VersionTLS12 {
					t.Fatalf("TLS minimum version %x", kc.TLS.MinVersion)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewCluster: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestHalfSecured: SASL over plaintext and TLS without SASL each carry a round trip, and a
// SASL sign-in against the plaintext listener of a broker that requires it is refused.
func TestHalfSecured(t *testing.T) {
	user := config.SASL{Mechanism: "scram-sha-256", User: "u", Password: testenv.Name("pw-")}
	saslOnly, err := kafkautil.StartEmbedded(0, 1, kafkautil.RequireSASL(user))
	if err != nil {
		t.Fatal(err)
	}
	defer saslOnly.Close()
	ca := testenv.NewCA(t, "half CA")
	tlsOnly, err := kafkautil.StartEmbedded(0, 1, kafkautil.ServeTLS(&tls.Config{Certificates: []tls.Certificate{ca.Server("127.0.0.1")}}))
	if err != nil {
		t.Fatal(err)
	}
	defer tlsOnly.Close()
	tests := []struct {
		name string
		cfg  config.Config
	}{
		{"SASL without TLS", config.Config{KafkaBrokers: saslOnly.Brokers()[0], KafkaSASL: user}},
		{"TLS without SASL", config.Config{KafkaBrokers: tlsOnly.Brokers()[0], KafkaTLS: config.TLS{CA: ca.File}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := testenv.Cluster(t, tt.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := kafkautil.EnsureTopics(ctx, kc, 1, "half"); err != nil {
				t.Fatal(err)
			}
			w, err := kafkautil.OpenWriter(ctx, kc, "half", slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.Write(ctx, kafka.Message{Value: []byte("x")}, kafka.Message{Value: []byte("y")}); err != nil {
				t.Fatal(err)
			}
			if got := testenv.ReadTopic(t, kc, "half", 2, 20*time.Second); string(got[0].Value)+string(got[1].Value) != "xy" {
				t.Fatalf("read %q %q", got[0].Value, got[1].Value)
			}
		})
	}
	wrong := config.Config{KafkaBrokers: saslOnly.Brokers()[0], KafkaSASL: user}
	wrong.KafkaSASL.Password = "nope"
	err = kafkautil.EnsureTopics(context.Background(), testenv.Cluster(t, wrong), 1, "half")
	var ae *kafkautil.AuthError
	if !errors.As(err, &ae) || !backoff.IsPermanent(err) || ae.Brokers[0] != saslOnly.ListenAddr() {
		t.Fatalf("wrong password over plaintext: %v", err)
	}
}
