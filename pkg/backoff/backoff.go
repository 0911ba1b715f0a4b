// Package backoff retries operations that fail for passing reasons (a server restarting, a
// network cut), waiting longer after each failure, and stops at once on failures that no
// retry can cure (a configuration error), which callers mark Permanent.
package backoff

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Policy is how long to wait after the first failure and at most between two tries.
type Policy struct {
	Initial, Max time.Duration
}

// Default waits 100 ms after the first failure, doubling up to 10 s.
var Default = Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}

// Start waits 1 s after the first failure, doubling up to 30 s: for waiting on a
// dependency at start-up, which may take minutes to come.
var Start = Policy{Initial: time.Second, Max: 30 * time.Second}

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Permanent marks err as one that retrying cannot cure: Retry returns it at once. A nil err
// stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	return errors.As(err, new(permanent))
}

// Retry calls f until it returns nil or a Permanent error, or ctx ends, and returns that
// error (ctx's error when ctx ended first). Every failure is logged as a warning saying
// what is being waited for, the error and how long until the next try.
func Retry(ctx context.Context, log *slog.Logger, what string, p Policy, f func(context.Context) error) error {
	wait := p.Initial
	for tries := 1; ; tries++ {
		err := f(ctx)
		if err == nil || IsPermanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn(what+": failed, trying again", "err", err, "tries", tries, "backoff", wait)
		if !Sleep(ctx, jitter(wait)) {
			return ctx.Err()
		}
		wait = min(wait*2, p.Max)
	}
}

// Stopped returns nil when ctx has ended, whatever err is (a service asked to stop while it
// waited for a server is not failing), else err.
func Stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Sleep waits for d or until ctx ends; it reports whether the whole wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads d over [0.75 d, 1.25 d), so that instances that failed together do not
// all try again at the same moment.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}
