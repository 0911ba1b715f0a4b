package rules

import (
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// Match is a single-event rule: every event When accepts is a detection, unless Dedup
// folds it into one already reported.
type Match struct {
	Meta
	// When reports whether the event is a finding, and describes it.
	When func(in *Input) (Finding, bool)
	// Dedup, when set, reports one detection per key per period of event time.
	Dedup *Dedup
	Now   func() time.Time // detected_at; default time.Now

	seen dedupState
}

// Dedup folds the detections of one key into one per Period of event time: the first event
// of a key is reported, the key's next events within Period of it are not.
type Dedup struct {
	Key    func(in *Input) string // within the account; "" is a key too
	Period time.Duration
	// MaxHeld caps the keys remembered; beyond it the oldest is forgotten. Default 100,000.
	MaxHeld int
}

// Info implements Rule.
func (r *Match) Info() *Meta { return &r.Meta }

// Held implements Rule.
func (r *Match) Held() int { return r.seen.Len() }

// Oldest implements Rule.
func (r *Match) Oldest(partition int) (int64, bool) { return r.seen.holds.oldest(partition) }

// Observe implements Rule.
func (r *Match) Observe(in *Input) []model.Detection {
	if r.Dedup != nil {
		r.seen.expire(in.Event.AccountID, in.Now, r.Dedup.Period)
	}
	f, ok := r.When(in)
	if !ok {
		return nil
	}
	if r.Dedup != nil && !r.seen.first(in, r.Dedup) {
		return nil
	}
	return []model.Detection{r.detect(f, []Hit{hitOf(in, "")}, now(r.Now))}
}

func now(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}

// dedupState remembers, per account and key, the event time of the last report.
type dedupState struct {
	s     *keyed[reported]
	holds holds
}

type reported struct {
	time time.Time
	at   Position
}

func (d *dedupState) Len() int {
	if d.s == nil {
		return 0
	}
	return d.s.Len()
}

// first reports whether in is the first event of its key within d.Period, and remembers it
// if so. An event earlier than the one reported, but within the period, is not first.
func (d *dedupState) first(in *Input, dd *Dedup) bool {
	if d.s == nil {
		limit := dd.MaxHeld
		if limit <= 0 {
			limit = 100_000
		}
		d.s = newKeyed(limit, func(r *reported) { d.holds.release(r.at) })
	}
	k := acctKey{in.Event.AccountID, dd.Key(in)}
	t := in.Event.EventTime
	if old := d.s.get(k); old != nil {
		if diff := t.Sub(old.time); diff < dd.Period && diff > -dd.Period {
			return false
		}
		d.s.delete(k)
	}
	*d.s.put(k, t) = reported{time: t, at: in.At}
	if d.s.get(k) != nil { // not dropped at once for the cap
		d.holds.add(in.At)
	}
	return true
}

// expire forgets the keys of account reported more than period before its clock.
func (d *dedupState) expire(account string, clock time.Time, period time.Duration) {
	if d.s != nil {
		d.s.expire(account, clock.Add(-period))
	}
}
