package auth

import (
	"sync"
	"time"
)

// Throttle locks out sign-ins after repeated failures: once a user name, or a client
// address, has failed Limit times within Window, its sign-ins are refused for Lockout, even
// with the right password. It forgets what is older than Window and keeps at most MaxKeys
// keys (the oldest go first), so its memory is bounded whatever an attacker sends.
type Throttle struct {
	Limit   int
	Window  time.Duration
	Lockout time.Duration
	MaxKeys int
	Now     func() time.Time

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	times  []time.Time // within Window, oldest first
	locked time.Time   // refused until then
}

// NewThrottle returns a throttle of 5 failures in 15 minutes, locked for 15 minutes.
func NewThrottle() *Throttle {
	return &Throttle{Limit: 5, Window: 15 * time.Minute, Lockout: 15 * time.Minute, MaxKeys: 100_000, Now: time.Now}
}

// Locked returns how long sign-ins of any of keys stay refused; 0 when they are not.
func (t *Throttle) Locked(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	var longest time.Duration
	for _, k := range keys {
		if f := t.keys[k]; f != nil && f.locked.After(now) {
			longest = max(longest, f.locked.Sub(now))
		}
	}
	return longest
}

// Fail counts a failed sign-in against each of keys, and reports whether one of them is
// now locked.
func (t *Throttle) Fail(keys ...string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	if t.keys == nil {
		t.keys = map[string]*failures{}
	}
	locked := false
	for _, k := range keys {
		f := t.keys[k]
		if f == nil {
			t.evict(now)
			f = &failures{}
			t.keys[k] = f
		}
		i := 0
		for i < len(f.times) && now.Sub(f.times[i]) >= t.Window {
			i++
		}
		f.times = append(f.times[i:], now)
		if len(f.times) >= t.Limit {
			f.locked, f.times = now.Add(t.Lockout), nil
		}
		locked = locked || f.locked.After(now)
	}
	return locked
}

// Succeed forgets the failures of key (a user name that signed in).
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.keys[key]; f != nil && !f.locked.After(t.Now()) {
		delete(t.keys, key)
	}
}

// evict makes room for one key: it drops the keys with nothing left to remember, then, if
// still full, the one whose last failure is oldest.
func (t *Throttle) evict(now time.Time) {
	if len(t.keys) < t.MaxKeys {
		return
	}
	var oldestKey string
	var oldest time.Time
	for k, f := range t.keys {
		last := f.locked
		if n := len(f.times); n > 0 && f.times[n-1].After(last) {
			last = f.times[n-1]
		}
		if !f.locked.After(now) && (len(f.times) == 0 || now.Sub(last) >= t.Window) {
			delete(t.keys, k)
			continue
		}
		if oldestKey == "" || last.Before(oldest) {
			oldestKey, oldest = k, last
		}
	}
	if len(t.keys) >= t.MaxKeys {
		delete(t.keys, oldestKey)
	}
}

// Len returns the number of keys remembered.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}
