package rules

import (
	"slices"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// Threshold reports Count matching events of one key (or Count distinct values of them)
// within Window of event time, once per key per window: the events of a reported window
// do not count again. Events may arrive out of order: a window is found among the key's
// events however they arrived, as long as they lie within Lateness of the account's clock.
type Threshold struct {
	Meta
	// Select picks the events counted.
	Select func(in *Input) bool
	// Key groups them within the account ("" skips the event).
	Key func(in *Input) string
	// Distinct, when set, counts distinct values of it instead of events.
	Distinct func(in *Input) string
	// Weight, when set, is how many the event counts for (a call that acts on many objects
	// at once, such as DeleteObjects); below 1 it counts 1. Not used with Distinct.
	Weight func(in *Input) int
	Count  int
	Window time.Duration
	// Describe makes the finding of a window.
	Describe func(t *Tally) Finding
	// Escalate, when set, reports the detection again, at a higher severity, when a later
	// event of the key follows the reported window.
	Escalate *Escalation
	// Lateness is how far behind its account's clock an event still counts. Default 1 h.
	Lateness time.Duration
	// MaxHeld caps the keys held; beyond it the least recently active is dropped. Default
	// 100,000.
	MaxHeld int
	Now     func() time.Time

	state *keyed[series]
	holds holds
}

// Escalation raises a threshold's detection when an event Select picks follows the window
// within Within (the event may arrive before the window is complete).
type Escalation struct {
	Select func(in *Input) bool
	Within time.Duration
	// Distinct, with the threshold's Distinct, lets only an event whose value is none of
	// the window's escalate it: another kind of change, not the same one again.
	Distinct bool
	Severity string
	Describe func(t *Tally, followed Hit) Finding
}

// Tally is a window that reached its threshold.
type Tally struct {
	Key      string
	Hits     []Hit // in event-time order; with Distinct, the last event of each value
	Window   time.Duration
	Count    int      // the threshold
	Distinct []string // the distinct values, in the order of Hits
}

// The most events held per key: counted, and waiting to escalate a window.
const maxHits, maxFollow = 1000, 100

// series is the state of one key: its recent events, the window reported last and the
// events that may escalate it.
type series struct {
	hits       []Hit
	firedFrom  time.Time // the reported window; events in it count no more
	firedUntil time.Time
	fired      []Hit // its events, for an escalation
	escalated  bool
	follow     []Hit // events that may escalate a window (Escalate.Select)
}

func (r *Threshold) init() {
	if r.state != nil {
		return
	}
	if r.Lateness <= 0 {
		r.Lateness = time.Hour
	}
	if r.MaxHeld <= 0 {
		r.MaxHeld = 100_000
	}
	r.state = newKeyed(r.MaxHeld, func(s *series) {
		for _, hs := range [][]Hit{s.hits, s.fired, s.follow} {
			for _, h := range hs {
				r.holds.release(h.At)
			}
		}
	})
}

// Info implements Rule.
func (r *Threshold) Info() *Meta { return &r.Meta }

// Held implements Rule.
func (r *Threshold) Held() int {
	if r.state == nil {
		return 0
	}
	return r.state.Len()
}

// Oldest implements Rule.
func (r *Threshold) Oldest(partition int) (int64, bool) { return r.holds.oldest(partition) }

func (r *Threshold) horizon() time.Duration {
	h := r.Window + r.Lateness
	if r.Escalate != nil {
		h += r.Escalate.Within
	}
	return h
}

// Observe implements Rule.
func (r *Threshold) Observe(in *Input) []model.Detection {
	r.init()
	acct := in.Event.AccountID
	r.state.expire(acct, in.Now.Add(-r.horizon()))
	counted := r.Select(in)
	follows := r.Escalate != nil && r.Escalate.Select(in)
	if !counted && !follows {
		return nil
	}
	key := r.Key(in)
	if key == "" {
		return nil
	}
	k := acctKey{acct, key}
	t := in.Event.EventTime
	if t.Before(in.Now.Add(-r.horizon())) {
		return nil // too late to count
	}
	s := r.state.put(k, t)
	if r.state.get(k) == nil {
		return nil // dropped at once for the cap
	}
	r.trim(s, in.Now)
	id := in.Event.EventID
	if hasHit(s.hits, t, id) || hasHit(s.follow, t, id) || hasHit(s.fired, t, id) {
		return nil // delivered again: it counts once
	}
	var out []model.Detection
	if follows {
		h := hitOf(in, "")
		if r.Distinct != nil {
			h.Value = r.Distinct(in)
		}
		if d, ok := r.escalate(s, key, h); ok {
			out = append(out, d)
		} else {
			s.follow = insertHit(s.follow, h)
			r.holds.add(h.At)
			if len(s.follow) > maxFollow {
				r.holds.release(s.follow[0].At)
				s.follow = s.follow[1:]
			}
		}
	}
	if !counted || (!s.firedUntil.IsZero() && !t.Before(s.firedFrom) && t.Before(s.firedUntil)) {
		return out
	}
	h := hitOf(in, "")
	if r.Weight != nil && r.Distinct == nil {
		h.Weight = r.Weight(in)
	}
	if r.Distinct != nil {
		h.Value = r.Distinct(in)
		if i := slices.IndexFunc(s.hits, func(o Hit) bool { return o.Value == h.Value }); i >= 0 {
			if !s.hits[i].Time.Before(h.Time) {
				return out // an earlier event of a value held: the later one stands for it
			}
			r.holds.release(s.hits[i].At)
			s.hits = slices.Delete(s.hits, i, i+1)
		}
	}
	s.hits = insertHit(s.hits, h)
	r.holds.add(h.At)
	if len(s.hits) > maxHits { // a noisy key: its oldest events go first
		r.holds.release(s.hits[0].At)
		s.hits = s.hits[1:]
	}
	if window := r.window(s.hits, h.Time); window != nil {
		out = append(out, r.fire(s, key, window)...)
	}
	return out
}

// window returns the first window of length Window holding t that reaches the threshold
// (events counted by their Weight), nil when there is none.
func (r *Threshold) window(hits []Hit, t time.Time) []Hit {
	for i := range hits {
		start := hits[i].Time
		if start.Before(t.Add(-r.Window)) {
			continue
		}
		if start.After(t) {
			break
		}
		j, n := i, 0
		for j < len(hits) && hits[j].Time.Sub(start) <= r.Window {
			n += max(hits[j].Weight, 1)
			j++
		}
		if n >= r.Count {
			return hits[i:j]
		}
	}
	return nil
}

// fire reports window and forgets its events, keeping them for an escalation.
func (r *Threshold) fire(s *series, key string, window []Hit) []model.Detection {
	window = slices.Clone(window)
	tally := &Tally{Key: key, Hits: window, Window: r.Window, Count: r.Count}
	if r.Distinct != nil {
		for _, h := range window {
			tally.Distinct = append(tally.Distinct, h.Value)
		}
	}
	out := []model.Detection{r.detect(r.Describe(tally), window, now(r.Now))}
	for _, h := range s.fired {
		r.holds.release(h.At)
	}
	s.hits = slices.DeleteFunc(s.hits, func(h Hit) bool { return slices.ContainsFunc(window, func(w Hit) bool { return w.ID == h.ID }) })
	s.firedFrom, s.firedUntil = window[0].Time, window[0].Time.Add(r.Window)
	s.fired, s.escalated = window, false // their holds move from hits to fired
	for i, f := range s.follow {
		if d, ok := r.escalate(s, key, f); ok {
			r.holds.release(f.At)
			s.follow = slices.Delete(s.follow, i, i+1)
			out = append(out, d)
			break
		}
	}
	return out
}

// escalate reports the last window again with f, when f follows it within Within.
func (r *Threshold) escalate(s *series, key string, f Hit) (model.Detection, bool) {
	if r.Escalate == nil || s.escalated || len(s.fired) == 0 {
		return model.Detection{}, false
	}
	last := s.fired[len(s.fired)-1].Time
	if f.Time.Before(last) || f.Time.Sub(last) > r.Escalate.Within {
		return model.Detection{}, false
	}
	// An event of the window does not escalate it; with Distinct, nor does another of one
	// of its values.
	if slices.ContainsFunc(s.fired, func(h Hit) bool { return h.ID == f.ID || (r.Escalate.Distinct && h.Value == f.Value) }) {
		return model.Detection{}, false
	}
	s.escalated = true
	tally := &Tally{Key: key, Hits: s.fired, Window: r.Window, Count: r.Count}
	for _, h := range s.fired {
		if r.Distinct != nil {
			tally.Distinct = append(tally.Distinct, h.Value)
		}
	}
	fd := r.Escalate.Describe(tally, f)
	if fd.Severity == "" {
		fd.Severity = r.Escalate.Severity
	}
	return r.detect(fd, append(slices.Clone(s.fired), f), now(r.Now)), true
}

// trim drops the events of s further behind the clock than the rule looks.
func (r *Threshold) trim(s *series, clock time.Time) {
	limit := clock.Add(-r.Window - r.Lateness)
	drop := func(hs []Hit, limit time.Time) []Hit {
		i := 0
		for i < len(hs) && hs[i].Time.Before(limit) {
			r.holds.release(hs[i].At)
			i++
		}
		return hs[i:]
	}
	s.hits = drop(s.hits, limit)
	s.follow = drop(s.follow, limit)
	if len(s.fired) > 0 && s.fired[len(s.fired)-1].Time.Before(limit.Add(-r.escalateWithin())) {
		s.fired = drop(s.fired, s.fired[len(s.fired)-1].Time.Add(time.Nanosecond))
	}
}

func (r *Threshold) escalateWithin() time.Duration {
	if r.Escalate == nil {
		return 0
	}
	return r.Escalate.Within
}

// hasHit reports whether hs, in event-time order, holds the event id of time t.
func hasHit(hs []Hit, t time.Time, id string) bool {
	i, _ := slices.BinarySearchFunc(hs, t, func(a Hit, t time.Time) int { return a.Time.Compare(t) })
	for ; i < len(hs) && hs[i].Time.Equal(t); i++ {
		if hs[i].ID == id {
			return true
		}
	}
	return false
}

// insertHit inserts h into hs, which is in event-time order.
func insertHit(hs []Hit, h Hit) []Hit {
	i, _ := slices.BinarySearchFunc(hs, h.Time, func(a Hit, t time.Time) int { return a.Time.Compare(t) })
	return slices.Insert(hs, i, h)
}
