package rules

import (
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// Engine runs a set of rules over a stream of events: it keeps the event-time clock of
// every account, hands each event only to the rules whose Meta.Events name it (and to the
// rules that look at every event), and shares one Input, so a raw record is parsed at most
// once whatever the number of rules that read it. An Engine is not safe for concurrent use.
type Engine struct {
	rules  []Rule
	byName map[string][]Rule
	all    []Rule
	clocks map[string]*EventClock
	lead   time.Duration
}

// ClockLead is how far ahead of an account's clock one event may move it (EventClock).
const ClockLead = 2 * time.Hour

// NewEngine returns an engine running rules.
func NewEngine(rules []Rule) *Engine {
	e := &Engine{rules: rules, byName: make(map[string][]Rule), clocks: make(map[string]*EventClock), lead: ClockLead}
	for _, r := range rules {
		names := r.Info().Events
		if len(names) == 0 {
			e.all = append(e.all, r)
		}
		for _, n := range names {
			e.byName[n] = append(e.byName[n], r)
		}
	}
	return e
}

// Rules returns the engine's rules.
func (e *Engine) Rules() []Rule { return e.rules }

// Observe feeds one event, read at at, to the rules and returns the detections it completes.
func (e *Engine) Observe(ev *model.Event, at Position) []model.Detection {
	c := e.clocks[ev.AccountID]
	if c == nil {
		nc := NewEventClock(e.lead)
		c = &nc
		e.clocks[ev.AccountID] = c
	}
	c.Observe(ev.EventTime)
	in := NewInput(ev, at, c.Now())
	var out []model.Detection
	for _, r := range e.byName[ev.EventName] {
		out = append(out, r.Observe(in)...)
	}
	for _, r := range e.all {
		out = append(out, r.Observe(in)...)
	}
	return out
}

// Held returns the state entries the rules hold.
func (e *Engine) Held() int {
	n := 0
	for _, r := range e.rules {
		n += r.Held()
	}
	return n
}

// Oldest returns the lowest offset of partition that a rule holds state from.
func (e *Engine) Oldest(partition int) (int64, bool) {
	oldest, held := int64(0), false
	for _, r := range e.rules {
		if off, ok := r.Oldest(partition); ok && (!held || off < oldest) {
			oldest, held = off, true
		}
	}
	return oldest, held
}

// Seeders returns the engine's rules that rebuild a long memory from the stored events
// (those with a Seed), looking through the wrappers of the catalogue and into the parts of
// composite rules (Any).
func (e *Engine) Seeders() []Seeder {
	var out []Seeder
	var walk func(r Rule)
	walk = func(r Rule) {
		for r != nil {
			if s, ok := r.(Seeder); ok && s.SeedSQL("t", time.Now()) != "" {
				out = append(out, s)
				return
			}
			if c, ok := r.(interface{ Parts() []Rule }); ok {
				for _, p := range c.Parts() {
					walk(p)
				}
				return
			}
			u, ok := r.(interface{ Unwrap() Rule })
			if !ok {
				return
			}
			r = u.Unwrap()
		}
	}
	for _, r := range e.rules {
		walk(r)
	}
	return out
}
