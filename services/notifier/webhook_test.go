package notifier

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/config"
)

func TestWebhookID(t *testing.T) {
	const u = "https://hooks.slack.com/services/T000/B000/secret-token"
	sum := sha256.Sum256([]byte(u))
	if got, want := WebhookID(u), hex.EncodeToString(sum[:])[:16]; got != want {
		t.Fatalf("WebhookID = %q, want the first 16 hex digits of the SHA-256, %q", got, want)
	}
	if WebhookID(u) == WebhookID(u+"x") {
		t.Fatal("two URLs have one ID")
	}
}

func TestParseWebhooks(t *testing.T) {
	const secret = "https://hooks.example.com/T/B/s3cr3t"
	tests := []struct {
		name    string
		urls    []string
		want    int // webhooks
		wantErr bool
	}{
		{"one", []string{secret}, 1, false},
		{"two", []string{secret, "http://127.0.0.1:9/hook"}, 2, false},
		{"the same twice", []string{secret, secret}, 1, false},
		{"none", nil, 0, false},
		{"no scheme", []string{"hooks.example.com/s3cr3t"}, 0, true},
		{"other scheme", []string{"ftp://hooks.example.com/s3cr3t"}, 0, true},
		{"no host", []string{"https:///s3cr3t"}, 0, true},
		{"not a URL", []string{"https://hooks.example.com/%zz/s3cr3t"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWebhooks(tt.urls)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("the error shows the URL: %v", err)
				}
				if !strings.Contains(err.Error(), WebhookID(tt.urls[0])) {
					t.Errorf("the error does not name the webhook by its ID: %v", err)
				}
				return
			}
			if len(got) != tt.want {
				t.Fatalf("%d webhooks, want %d", len(got), tt.want)
			}
			for i, w := range got {
				if w.id != WebhookID(tt.urls[i]) || w.url != tt.urls[i] {
					t.Errorf("webhook %d = %s %s, want %s", i, w.id, w.url, tt.urls[i])
				}
			}
		})
	}
}

func TestWithoutURL(t *testing.T) {
	err := withoutURL(&url.Error{Op: "Post", URL: "https://hooks.example.com/s3cr3t", Err: io.ErrUnexpectedEOF})
	if strings.Contains(err.Error(), "s3cr3t") || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("withoutURL = %v, want the cause without the URL", err)
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		status int
		want   bool
	}{
		{400, false}, {401, false}, {403, false}, {404, false}, {410, false}, {413, false}, {422, false},
		{408, true}, {429, true}, {500, true}, {502, true}, {503, true}, {504, true}, {599, true},
		{301, false}, {302, false}, {304, false},
	}
	for _, tt := range tests {
		if got := retryable(tt.status); got != tt.want {
			t.Errorf("retryable(%d) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"3600", maxRetryAfter},
		{"99999999999999999", maxRetryAfter},
		{"Sat, 21 Nov 2026 10:00:20 GMT", 20 * time.Second},
		{"Sat, 21 Nov 2026 09:59:00 GMT", 0},
		{"Sun, 22 Nov 2026 10:00:00 GMT", maxRetryAfter},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

// TestAlertFlags parses the alert options as the notifier target registers them: the webhook
// flag repeats, its variable is a comma-separated list, and a flag wins over the variable.
func TestAlertFlags(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want []string
	}{
		{"default", "", nil, nil},
		{"one flag", "", []string{"--alert-webhook", "http://a/1"}, []string{"http://a/1"}},
		{"repeated", "", []string{"--alert-webhook", "http://a/1", "--alert-webhook=http://b/2"}, []string{"http://a/1", "http://b/2"}},
		{"environment list", "http://a/1, http://b/2,", nil, []string{"http://a/1", "http://b/2"}},
		{"flag wins", "http://a/1,http://b/2", []string{"--alert-webhook", "http://c/3"}, []string{"http://c/3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("TRAILSTREAM_ALERT_WEBHOOK", tt.env)
			}
			c := config.Default()
			fs := flag.NewFlagSet("notifier", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.Register(fs, config.Kafka, config.Alerts)
			if err := config.Parse(fs, tt.args); err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.AlertWebhooks, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("AlertWebhooks = %q, want %q", c.AlertWebhooks, tt.want)
			}
			if c.AlertFormat != "json" || c.AlertMinSeverity != "low" || c.TopicNotifications != "cloudtrail.notifications" {
				t.Fatalf("defaults %q %q %q, want json, low, cloudtrail.notifications", c.AlertFormat, c.AlertMinSeverity, c.TopicNotifications)
			}
		})
	}
}

// TestSettings checks that the notifier refuses settings it cannot work with, before it
// connects to anything.
func TestSettings(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *config.Config)
		errHas string
	}{
		{"fine", func(c *config.Config) {}, ""},
		{"no webhook", func(c *config.Config) { c.AlertWebhooks = nil }, "no --alert-webhook"},
		{"bad webhook", func(c *config.Config) { c.AlertWebhooks = []string{"mailto:x@example.com"} }, "--alert-webhook #1"},
		{"bad format", func(c *config.Config) { c.AlertFormat = "xml" }, "--alert-format"},
		{"bad severity", func(c *config.Config) { c.AlertMinSeverity = "severe" }, "--alert-min-severity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			c.AlertWebhooks = []string{"http://127.0.0.1:9/hook"}
			tt.change(&c)
			_, err := newNotifier(c, nil)
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("error %v, want one saying %q", err, tt.errHas)
			}
		})
	}
}
