package rules

import "time"

// clockConfirm is how many events in a row must be further than the lead ahead of an
// EventClock before it moves to them.
const clockConfirm = 3

// EventClock is the event-time clock of one key of a windowed rule, such as an account: the
// time its state is judged by. A rule drops the state its clock has left behind, so the
// clock must not follow one wrong time: an event dated years ahead would otherwise expire
// every window still open, and the detections they were waiting for would be missed.
//
// An event at most the clock's lead ahead moves the clock to its time. An event further
// ahead moves it not at all, until clockConfirm events in a row are that far ahead, as
// after a real pause in the key's activity: then the clock moves to the earliest of them.
// Any event that is not that far ahead breaks the run. The first event sets the clock;
// until a second one agrees with it, an event more than the lead behind it takes its
// place, so that not even the first event of a key can put its clock in the future.
//
// The lead is a trade-off. The larger it is, the further one wrong time can move the clock
// and the more state it can expire; the smaller, the more often a real pause leaves the
// clock behind until the third event after it, and the longer the rule holds state it
// could have dropped (memory, and the offset it lets the detector commit). A clock that
// lags never makes a rule report wrongly: rules compare the events' own times; it only
// keeps state longer.
//
// The zero EventClock has no lead: use NewEventClock. An EventClock is not safe for
// concurrent use.
type EventClock struct {
	lead    time.Duration
	now     time.Time
	limit   time.Time // now + lead
	ahead   time.Time // the earliest of the events in doubt
	doubted int       // events in a row further than the lead ahead of now
	settled bool      // an event other than the first agreed with now
}

// NewEventClock returns a clock that has seen no event, which an event may move at most
// lead ahead.
func NewEventClock(lead time.Duration) EventClock { return EventClock{lead: lead} }

// Now returns the clock's time: the zero time before its first event.
func (c *EventClock) Now() time.Time { return c.now }

// Observe feeds the clock the time of one event and reports whether the clock advanced.
func (c *EventClock) Observe(t time.Time) bool {
	if c.settled && !t.After(c.now) { // the common case: an event at or behind a settled clock
		c.doubted = 0
		return false
	}
	return c.observe(t)
}

func (c *EventClock) observe(t time.Time) bool {
	switch {
	case c.now.IsZero():
		c.set(t)
		return true
	case t.After(c.limit):
		if c.doubted == 0 || t.Before(c.ahead) {
			c.ahead = t
		}
		if c.doubted++; c.doubted < clockConfirm {
			return false
		}
		c.set(c.ahead)
		c.doubted, c.settled = 0, true
		return true
	case !c.settled && t.Before(c.now.Add(-c.lead)):
		// Nothing agreed with the first event yet, and this one is far from it: the first
		// was the odd one.
		c.set(t)
		c.doubted = 0
		return false
	}
	c.doubted, c.settled = 0, true
	if t.After(c.now) {
		c.set(t)
		return true
	}
	return false
}

func (c *EventClock) set(t time.Time) { c.now, c.limit = t, t.Add(c.lead) }
