package backoff

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	errPassing, errConfig := errors.New("connection refused"), errors.New("bad password")
	tests := []struct {
		name      string
		results   []error // what f returns, call after call
		timeout   time.Duration
		wantCalls int
		wantErr   error
		wantLogs  int // warnings
	}{
		{"success at once", []error{nil}, time.Second, 1, nil, 0},
		{"success after two failures", []error{errPassing, errPassing, nil}, time.Second, 3, nil, 2},
		{"a permanent error stops at once", []error{errPassing, Permanent(errConfig)}, time.Second, 2, errConfig, 1},
		{"the context ends the waiting", []error{errPassing, errPassing, errPassing, errPassing, errPassing, errPassing, errPassing, errPassing}, 250 * time.Millisecond, 0, context.DeadlineExceeded, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			calls := 0
			err := Retry(ctx, slog.New(slog.NewTextHandler(&logs, nil)), "wait for the server", Policy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond},
				func(context.Context) error {
					calls++
					if calls > len(tt.results) {
						return errPassing
					}
					return tt.results[calls-1]
				})
			if !errors.Is(err, tt.wantErr) && !(err == nil && tt.wantErr == nil) {
				t.Fatalf("Retry = %v, want %v", err, tt.wantErr)
			}
			if tt.wantCalls > 0 && calls != tt.wantCalls {
				t.Fatalf("%d calls, want %d", calls, tt.wantCalls)
			}
			if tt.wantErr == context.DeadlineExceeded {
				return
			}
			if n := strings.Count(logs.String(), "wait for the server: failed"); n != tt.wantLogs {
				t.Fatalf("%d warnings, want %d:\n%s", n, tt.wantLogs, logs.String())
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) is not nil")
	}
	base := errors.New("denied")
	wrapped := errors.Join(errors.New("context"), Permanent(base))
	if !IsPermanent(wrapped) || !errors.Is(wrapped, base) || IsPermanent(base) {
		t.Fatal("a wrapped permanent error is not recognised, or hides its cause")
	}
}

func TestJitter(t *testing.T) {
	for _, d := range []time.Duration{0, time.Millisecond, time.Second} {
		for i := 0; i < 100; i++ {
			if j := jitter(d); j < d*3/4 || j > d*5/4 {
				t.Fatalf("jitter(%s) = %s, out of [0.75, 1.25] of it", d, j)
			}
		}
	}
}
