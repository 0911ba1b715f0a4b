package parallel

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := Run(context.Background(),
		func(ctx context.Context) error { return boom },
		func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				close(stopped)
				return nil
			case <-time.After(10 * time.Second):
				return errors.New("not stopped when its sibling failed")
			}
		},
	)
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the failure", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the other part did not see the cancellation")
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil }); err != nil {
		t.Fatalf("Run = %v", err)
	}
}
