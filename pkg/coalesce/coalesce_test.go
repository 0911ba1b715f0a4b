package coalesce

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// gated is a Group whose calls wait for release, recording the items of each call.
type gated struct {
	g       Group[string, int, string]
	started chan string // the key of each call, as it starts
	release chan struct{}
	mu      sync.Mutex
	calls   [][]int
}

func newGated(max int, fail func(items []int) error) *gated {
	t := &gated{started: make(chan string, 100), release: make(chan struct{})}
	t.g = Group[string, int, string]{Max: max, Do: func(key string, items []int) ([]string, error) {
		t.started <- key
		<-t.release
		t.mu.Lock()
		t.calls = append(t.calls, slices.Clone(items))
		t.mu.Unlock()
		if fail != nil {
			if err := fail(items); err != nil {
				return nil, err
			}
		}
		out := make([]string, len(items))
		for i, n := range items {
			out[i] = fmt.Sprintf("%s:%d", key, n*10)
		}
		return out, nil
	}}
	return t
}

// queued waits until n requests of key are queued behind the running call.
func (t *gated) queued(tb testing.TB, key string, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		t.g.mu.Lock()
		got := len(t.g.queued[key])
		t.g.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d requests of %s queued, want %d", got, key, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCoalesce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		max   int
		later int
		calls [][]int // items of each call, in order
	}{
		{"no limit", 0, 20, [][]int{{0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}},
		{"at most 8", 8, 20, [][]int{{0}, {1, 2, 3, 4, 5, 6, 7, 8}, {9, 10, 11, 12, 13, 14, 15, 16}, {17, 18, 19, 20}}},
		{"alone", 0, 0, [][]int{{0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGated(tc.max, nil)
			results := make([]string, tc.later+1)
			var wg sync.WaitGroup
			call := func(i int) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out, err := g.g.Call(context.Background(), "k", i)
					if err != nil {
						t.Errorf("item %d: %v", i, err)
					}
					results[i] = out
				}()
			}
			call(0)
			<-g.started // the first call runs, alone
			for i := 1; i <= tc.later; i++ {
				call(i)
				g.queued(t, "k", i) // in order, so that the calls' items are known
			}
			close(g.release)
			wg.Wait()
			if !slices.EqualFunc(g.calls, tc.calls, slices.Equal) {
				t.Errorf("calls %v, want %v", g.calls, tc.calls)
			}
			for i, out := range results {
				if want := fmt.Sprintf("k:%d", i*10); out != want {
					t.Errorf("item %d got %q, want %q", i, out, want)
				}
			}
		})
	}
}

// TestCoalesceKeys: a request of another key does not wait for a running call, and a
// failed call fails its own items only.
func TestCoalesceKeys(t *testing.T) {
	boom := errors.New("boom")
	g := newGated(0, func(items []int) error {
		if items[0] == 1 {
			return boom
		}
		return nil
	})
	errs := make(chan error, 2)
	for _, key := range []string{"a", "b"} {
		go func() {
			_, err := g.g.Call(context.Background(), key, map[string]int{"a": 1, "b": 2}[key])
			errs <- err
		}()
	}
	started := map[string]bool{<-g.started: true, <-g.started: true}
	if !started["a"] || !started["b"] {
		t.Fatalf("calls started for %v, want a and b at once", started)
	}
	close(g.release)
	got := []error{<-errs, <-errs}
	if !slices.ContainsFunc(got, func(err error) bool { return errors.Is(err, boom) }) || !slices.Contains(got, nil) {
		t.Errorf("errors %v, want boom for a's item and none for b's", got)
	}
}

// TestCoalesceCancel: a caller whose context ends stops waiting; the call still serves the
// others.
func TestCoalesceCancel(t *testing.T) {
	g := newGated(0, nil)
	done := make(chan error, 1)
	go func() {
		_, err := g.g.Call(context.Background(), "k", 1)
		done <- err
	}()
	<-g.started
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := g.g.Call(ctx, "k", 2)
		cancelled <- err
	}()
	g.queued(t, "k", 1)
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v, want context.Canceled", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Errorf("the other caller: %v", err)
	}
}

// TestCoalesceShortResults: a Do that returns fewer results than items fails the call
// instead of handing out wrong ones.
func TestCoalesceShortResults(t *testing.T) {
	g := Group[string, int, int]{Do: func(string, []int) ([]int, error) { return nil, nil }}
	if _, err := g.Call(context.Background(), "k", 1); err == nil {
		t.Fatal("a call with no result for its item succeeded")
	}
}

// BenchmarkCoalesce measures the overhead of a request through a Group whose calls cost
// nothing, with requests from many goroutines.
func BenchmarkCoalesce(b *testing.B) {
	g := Group[int, int, int]{Do: func(_ int, items []int) ([]int, error) { return items, nil }}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := g.Call(context.Background(), 1, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}
