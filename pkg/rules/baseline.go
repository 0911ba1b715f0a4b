package rules

import (
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// Baseline reports the first event of a value not seen for the key within Period of event
// time ("a region this account has not used in 30 days"). It judges an account only after
// watching it for Learn, so a fresh start, which knows no past, does not report every value
// at once; Restore hands it a past.
type Baseline struct {
	Meta
	Select func(in *Input) bool
	Key    func(in *Input) string // within the account; "" is the account itself
	Value  func(in *Input) string // "" is never new
	Period time.Duration          // default 30 days
	Learn  time.Duration          // default 7 days
	// Describe makes the finding of a new value; last is when it was seen before, zero when
	// never.
	Describe func(in *Input, value string, last time.Time) Finding
	Seed     *Seed // how to rebuild the values seen from the stored events at start (Seeder)
	MaxHeld  int   // values; default 1,000,000
	Now      func() time.Time

	seen    *keyed[time.Time]
	watched map[string]time.Time // per account, the clock when the rule first saw it
}

func (r *Baseline) init() {
	if r.seen != nil {
		return
	}
	if r.Period <= 0 {
		r.Period = 30 * 24 * time.Hour
	}
	if r.Learn <= 0 {
		r.Learn = 7 * 24 * time.Hour
	}
	if r.MaxHeld <= 0 {
		r.MaxHeld = 1_000_000
	}
	r.seen = newKeyed[time.Time](r.MaxHeld, nil)
	r.watched = make(map[string]time.Time)
}

// Info implements Rule.
func (r *Baseline) Info() *Meta { return &r.Meta }

// Held implements Rule.
func (r *Baseline) Held() int {
	if r.seen == nil {
		return 0
	}
	return r.seen.Len()
}

// Oldest implements Rule: a baseline is longer than a replay; it holds no offsets back.
func (r *Baseline) Oldest(int) (int64, bool) { return 0, false }

// Observe implements Rule.
func (r *Baseline) Observe(in *Input) []model.Detection {
	r.init()
	acct := in.Event.AccountID
	first, ok := r.watched[acct]
	if !ok {
		first = in.Now
		r.watched[acct] = first
	}
	r.seen.expire(acct, in.Now.Add(-r.Period))
	if !r.Select(in) {
		return nil
	}
	v := r.Value(in)
	if v == "" {
		return nil
	}
	k := acctKey{acct, r.Key(in) + "\x00" + v}
	t := in.Event.EventTime
	var last time.Time
	if p := r.seen.get(k); p != nil {
		last = *p
	}
	if !last.IsZero() && !t.After(last) {
		return nil
	}
	*r.seen.put(k, t) = t
	if (!last.IsZero() && t.Sub(last) < r.Period) || in.Now.Sub(first) < r.Learn {
		return nil
	}
	return []model.Detection{r.detect(r.Describe(in, v, last), []Hit{hitOf(in, v)}, now(r.Now))}
}
