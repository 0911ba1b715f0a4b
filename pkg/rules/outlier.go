package rules

import (
	"math"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// Outlier counts the matching events of each key in slices of event time (Slice long) and
// reports a slice whose count reaches Min and exceeds the band mean + K·σ of the History
// slices before it (σ the population standard deviation; slices without events count 0),
// once per key and slice, as soon as the count crosses the band.
//
// A key is judged only once the rule has watched its account for History slices, so a
// fresh start, which knows no past, does not report every busy key at once; Restore hands
// it a past.
type Outlier struct {
	Meta
	Select   func(in *Input) bool
	Key      func(in *Input) string // within the account; "" is the account itself
	Slice    time.Duration          // default 1 h
	History  int                    // default 10
	K        float64                // default 3
	Min      int                    // default 5
	Describe func(o *OutlierTally) Finding
	Seed     *Seed // how to rebuild the band from the stored events at start (Seeder)
	MaxHeld  int   // keys; default 100,000
	Now      func() time.Time

	state   *keyed[counts]
	watched map[string]int64 // per account, the first slice the rule saw
}

// OutlierTally is a slice that crossed its band.
type OutlierTally struct {
	Key         string
	Start       time.Time // of the slice
	Slice       time.Duration
	Count       int
	Mean, Sigma float64
	Band        float64 // mean + K·σ
	Hits        []Hit   // the slice's first events, up to the crossing (at most maxSample)
}

// maxSample is how many events of a slice a detection names; maxSeen how many event IDs of
// a slice are remembered to count a redelivered event once (beyond it, a slice with that many
// events is an outlier whatever a redelivery adds).
const maxSample, maxSeen = 50, 100_000

// counts is one key's events per slice, for the slices the band looks at: those it saw, and
// those the stored events held at start (Restore). The stored events include those a
// restarted detector reads again, so a slice counts the larger of the two, not their sum.
type counts struct {
	slices map[int64]int
	seeded map[int64]int
	seen   map[int64]map[string]bool // the event IDs of the slices still counted, so a redelivery counts once
	sample map[int64][]Hit           // the first events of each recent slice
	fired  map[int64]bool
}

func (r *Outlier) init() {
	if r.state != nil {
		return
	}
	if r.Slice <= 0 {
		r.Slice = time.Hour
	}
	if r.History <= 0 {
		r.History = 10
	}
	if r.K <= 0 {
		r.K = 3
	}
	if r.Min <= 0 {
		r.Min = 5
	}
	if r.MaxHeld <= 0 {
		r.MaxHeld = 100_000
	}
	r.state = newKeyed[counts](r.MaxHeld, nil)
	r.watched = make(map[string]int64)
}

// Info implements Rule.
func (r *Outlier) Info() *Meta { return &r.Meta }

// Held implements Rule.
func (r *Outlier) Held() int {
	if r.state == nil {
		return 0
	}
	return r.state.Len()
}

// Oldest implements Rule: an outlier's history is longer than a replay; it holds no
// offsets back (see Restore).
func (r *Outlier) Oldest(int) (int64, bool) { return 0, false }

func (r *Outlier) slice(t time.Time) int64 { return t.UnixNano() / int64(r.Slice) }

// Observe implements Rule.
func (r *Outlier) Observe(in *Input) []model.Detection {
	r.init()
	acct := in.Event.AccountID
	clock := r.slice(in.Now)
	if _, ok := r.watched[acct]; !ok {
		r.watched[acct] = clock
	}
	keep := int64(r.History + 2) // the band, the slice and one late slice
	r.state.expire(acct, time.Unix(0, (clock-keep)*int64(r.Slice)))
	if !r.Select(in) {
		return nil
	}
	idx := r.slice(in.Event.EventTime)
	if idx < clock-1 || idx > clock+1 {
		return nil // too late, or too far ahead of its account to judge
	}
	k := acctKey{acct, r.Key(in)}
	c := r.state.put(k, in.Event.EventTime)
	if c.slices == nil {
		c.slices, c.sample, c.fired = make(map[int64]int), make(map[int64][]Hit), make(map[int64]bool)
	}
	for s := range c.slices {
		if s < clock-keep {
			delete(c.slices, s)
			delete(c.sample, s)
			delete(c.fired, s)
		}
	}
	for s := range c.seeded {
		if s < clock-keep {
			delete(c.seeded, s)
		}
	}
	for s := range c.seen {
		if s < clock-1 {
			delete(c.seen, s) // no event of it counts any more
		}
	}
	if c.seen == nil {
		c.seen = make(map[int64]map[string]bool)
	}
	ids := c.seen[idx]
	if ids == nil {
		ids = make(map[string]bool)
		c.seen[idx] = ids
	}
	if ids[in.Event.EventID] {
		return nil // delivered again: it counts once
	}
	if len(ids) < maxSeen {
		ids[in.Event.EventID] = true
	}
	c.slices[idx]++
	if len(c.sample[idx]) < maxSample {
		c.sample[idx] = append(c.sample[idx], hitOf(in, ""))
	}
	n := c.count(idx)
	if c.fired[idx] || n < r.Min || idx-r.watched[acct] < int64(r.History) {
		return nil
	}
	mean, sigma := r.band(c, idx)
	band := mean + r.K*sigma
	if float64(n) <= band {
		return nil
	}
	c.fired[idx] = true
	o := &OutlierTally{Key: k.key, Start: time.Unix(0, idx*int64(r.Slice)).UTC(), Slice: r.Slice, Count: n,
		Mean: mean, Sigma: sigma, Band: band, Hits: c.sample[idx]}
	return []model.Detection{r.detect(r.Describe(o), o.Hits, now(r.Now))}
}

// band returns the mean and population standard deviation of the History slices before idx.
func (r *Outlier) band(c *counts, idx int64) (mean, sigma float64) {
	n := float64(r.History)
	for s := idx - int64(r.History); s < idx; s++ {
		mean += float64(c.count(s))
	}
	mean /= n
	for s := idx - int64(r.History); s < idx; s++ {
		d := float64(c.count(s)) - mean
		sigma += d * d
	}
	return mean, math.Sqrt(sigma / n)
}

// count returns the events of slice s.
func (c *counts) count(s int64) int { return max(c.slices[s], c.seeded[s]) }
