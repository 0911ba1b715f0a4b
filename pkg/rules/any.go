package rules

import (
	"slices"

	"github.com/trailstream/trailstream/pkg/model"
)

// Any is one rule made of several primitives: "three IPs or two countries within an hour",
// "a new region or EnableRegion". Every event the composite is handed goes to each of
// Rules, which must therefore pick their events themselves (the engine's event-name index
// applies to the composite's Meta only), and their detections are the composite's: before
// its first event (or when Parts is asked for them), Any copies its Meta into each of them,
// so the rule_id, the description and a severity override of the rules config reach their
// detections.
//
// With Dedup, the detections of all of them fold into one per key per period: when two
// parts see the same facts, only the first reports them. Leave Dedup unset when a part
// escalates (Threshold.Escalate): the raised detection would be folded too.
type Any struct {
	Meta
	Rules []Rule
	Dedup *Dedup

	synced bool
	seen   dedupState
}

// Info implements Rule.
func (r *Any) Info() *Meta { return &r.Meta }

// Parts returns the rules Any is made of, with its Meta (Engine.Seeders looks into them).
func (r *Any) Parts() []Rule {
	r.sync()
	return r.Rules
}

// sync copies the composite's Meta into its parts, once.
func (r *Any) sync() {
	if r.synced {
		return
	}
	r.synced = true
	for _, p := range r.Rules {
		m := p.Info()
		*m = r.Meta
		m.Tags, m.Events = slices.Clone(r.Tags), slices.Clone(r.Events)
	}
}

// Held implements Rule.
func (r *Any) Held() int {
	n := r.seen.Len()
	for _, p := range r.Rules {
		n += p.Held()
	}
	return n
}

// Oldest implements Rule: the lowest offset any part, or the dedup, holds.
func (r *Any) Oldest(partition int) (int64, bool) {
	oldest, held := r.seen.holds.oldest(partition)
	for _, p := range r.Rules {
		if off, ok := p.Oldest(partition); ok && (!held || off < oldest) {
			oldest, held = off, true
		}
	}
	return oldest, held
}

// Observe implements Rule.
func (r *Any) Observe(in *Input) []model.Detection {
	r.sync()
	if r.Dedup != nil {
		r.seen.expire(in.Event.AccountID, in.Now, r.Dedup.Period)
	}
	var out []model.Detection
	for _, p := range r.Rules {
		for _, d := range p.Observe(in) {
			if r.Dedup == nil || r.seen.first(in, r.Dedup) {
				out = append(out, d)
			}
		}
	}
	return out
}
