// Package coalesce serves many small requests with few calls: a request that arrives while
// a call for its key is running joins the next one, which takes every request queued
// meanwhile (up to a limit). Nothing waits for a window to fill: a lone request is sent at
// once, and under load the calls grow with the load. Every request is served by a call that
// started after the request was made.
package coalesce

import (
	"context"
	"fmt"
	"sync"
)

// Group coalesces the requests of type In for each key K into calls of Do. The zero value is
// not usable: set Do.
type Group[K comparable, In, Out any] struct {
	// Do serves items, all of key, in one call, and returns one result per item, in the
	// order of items, or an error that fails them all. It runs on a goroutine of its own:
	// it must bound its own time.
	Do func(key K, items []In) ([]Out, error)
	// Max is the most items one call takes; 0: no limit.
	Max int

	mu     sync.Mutex
	queued map[K][]*request[In, Out] // a key is present while a goroutine serves it
}

type request[In, Out any] struct {
	item In
	out  Out
	err  error
	done chan struct{}
}

// Call queues item under key and returns its result once a call served it, or ctx's error
// when ctx ends first (the item may be served still).
func (g *Group[K, In, Out]) Call(ctx context.Context, key K, item In) (Out, error) {
	r := &request[In, Out]{item: item, done: make(chan struct{})}
	g.mu.Lock()
	if g.queued == nil {
		g.queued = map[K][]*request[In, Out]{}
	}
	queued, serving := g.queued[key]
	g.queued[key] = append(queued, r)
	if !serving {
		go g.serve(key)
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		return r.out, r.err
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// serve makes calls for key, one after the other, until no request of it is queued.
func (g *Group[K, In, Out]) serve(key K) {
	for {
		g.mu.Lock()
		batch := g.queued[key]
		if len(batch) == 0 {
			delete(g.queued, key)
			g.mu.Unlock()
			return
		}
		if g.Max > 0 && len(batch) > g.Max {
			batch = batch[:g.Max]
		}
		g.queued[key] = g.queued[key][len(batch):] // present, though empty: still served
		g.mu.Unlock()

		items := make([]In, len(batch))
		for i, r := range batch {
			items[i] = r.item
		}
		outs, err := g.Do(key, items)
		if err == nil && len(outs) != len(items) {
			err = fmt.Errorf("coalesce: %d results for %d items", len(outs), len(items))
		}
		for i, r := range batch {
			if err != nil {
				r.err = err
			} else {
				r.out = outs[i]
			}
			close(r.done)
		}
	}
}
