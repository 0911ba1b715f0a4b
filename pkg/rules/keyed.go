package rules

import (
	"container/heap"
	"time"
)

// keyed is the state of a windowed rule: a value per account and key, each with the event
// time it was last touched at, so that an account's stale values can be dropped when its
// clock moves on, and the oldest of all when a cap is reached.
type keyed[V any] struct {
	items    map[acctKey]*item[V]
	accounts map[string]*itemHeap[V]
	max      int
	drop     func(*V) // called for every value removed
}

type acctKey struct{ account, key string }

type item[V any] struct {
	key   acctKey
	time  time.Time
	index int
	val   V
}

// newKeyed returns state holding at most max values; drop, when set, is told of each value
// that goes.
func newKeyed[V any](max int, drop func(*V)) *keyed[V] {
	return &keyed[V]{items: make(map[acctKey]*item[V]), accounts: make(map[string]*itemHeap[V]), max: max, drop: drop}
}

func (s *keyed[V]) Len() int { return len(s.items) }

// get returns the value of k, nil when there is none.
func (s *keyed[V]) get(k acctKey) *V {
	if it := s.items[k]; it != nil {
		return &it.val
	}
	return nil
}

// put returns the value of k, made when there was none, and marks it touched at t (when t
// is later than its last touch).
func (s *keyed[V]) put(k acctKey, t time.Time) *V {
	it := s.items[k]
	if it == nil {
		it = &item[V]{key: k, time: t}
		h := s.accounts[k.account]
		if h == nil {
			h = &itemHeap[V]{}
			s.accounts[k.account] = h
		}
		heap.Push(h, it)
		s.items[k] = it
		for len(s.items) > s.max {
			s.remove(s.oldest())
		}
		if s.items[k] == nil { // the new one was the oldest: a value kept nowhere
			return new(V)
		}
		return &it.val
	}
	if t.After(it.time) {
		it.time = t
		heap.Fix(s.accounts[k.account], it.index)
	}
	return &it.val
}

// delete removes k.
func (s *keyed[V]) delete(k acctKey) {
	if it := s.items[k]; it != nil {
		s.remove(it)
	}
}

// expire removes the values of account last touched before limit.
func (s *keyed[V]) expire(account string, limit time.Time) {
	for {
		h := s.accounts[account]
		if h == nil || !h.items[0].time.Before(limit) {
			return
		}
		s.remove(h.items[0])
	}
}

func (s *keyed[V]) oldest() *item[V] {
	var o *item[V]
	for _, h := range s.accounts {
		if it := h.items[0]; o == nil || it.time.Before(o.time) {
			o = it
		}
	}
	return o
}

func (s *keyed[V]) remove(it *item[V]) {
	h := s.accounts[it.key.account]
	heap.Remove(h, it.index)
	if h.Len() == 0 {
		delete(s.accounts, it.key.account)
	}
	delete(s.items, it.key)
	if s.drop != nil {
		s.drop(&it.val)
	}
}

// itemHeap is a min-heap of items by time (container/heap).
type itemHeap[V any] struct{ items []*item[V] }

func (h *itemHeap[V]) Len() int           { return len(h.items) }
func (h *itemHeap[V]) Less(i, j int) bool { return h.items[i].time.Before(h.items[j].time) }
func (h *itemHeap[V]) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *itemHeap[V]) Push(x any) {
	it := x.(*item[V])
	it.index = len(h.items)
	h.items = append(h.items, it)
}
func (h *itemHeap[V]) Pop() any {
	last := len(h.items) - 1
	it := h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	return it
}
