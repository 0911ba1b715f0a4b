package rules

import (
	"testing"
	"time"
)

func TestEventClock(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 14, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	year3000 := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		event    time.Time
		now      time.Time // the clock after the event
		advanced bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"the first event sets it", []step{{at(0), at(0), true}}},
		{"within the lead it follows", []step{{at(0), at(0), true}, {at(time.Hour), at(time.Hour), true}, {at(3 * time.Hour), at(3 * time.Hour), true}}},
		{"exactly the lead ahead", []step{{at(0), at(0), true}, {at(2 * time.Hour), at(2 * time.Hour), true}}},
		{"late events leave it", []step{{at(0), at(0), true}, {at(time.Minute), at(time.Minute), true}, {at(-5 * time.Hour), at(time.Minute), false}, {at(time.Minute), at(time.Minute), false}}},
		{"one event far ahead does not move it", []step{{at(0), at(0), true}, {year3000, at(0), false}, {at(time.Minute), at(time.Minute), true}}},
		{"two in a row do not", []step{{at(0), at(0), true}, {year3000, at(0), false}, {year3000, at(0), false}, {at(time.Minute), at(time.Minute), true}}},
		{"an event not far ahead breaks the run", []step{{at(0), at(0), true}, {year3000, at(0), false}, {year3000, at(0), false},
			{at(0), at(0), false}, {year3000, at(0), false}, {year3000, at(0), false}}},
		{"the third in a row moves it to the earliest of them", []step{{at(0), at(0), true}, {at(73 * time.Hour), at(0), false},
			{year3000, at(0), false}, {at(72 * time.Hour), at(72 * time.Hour), true}, {at(72*time.Hour + time.Minute), at(72*time.Hour + time.Minute), true}}},
		{"a first event far ahead gives way to the next", []step{{year3000, year3000, true}, {at(0), at(0), false}, {at(time.Minute), at(time.Minute), true},
			{at(-5 * time.Hour), at(time.Minute), false}}},
		{"once a second event agreed, the first stays", []step{{at(0), at(0), true}, {at(time.Minute), at(time.Minute), true}, {at(-5 * time.Hour), at(time.Minute), false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewEventClock(2 * time.Hour)
			if !c.Now().IsZero() {
				t.Fatalf("a new clock reads %s, want the zero time", c.Now())
			}
			for i, s := range tc.steps {
				if got := c.Observe(s.event); got != s.advanced || !c.Now().Equal(s.now) {
					t.Fatalf("event %d at %s: clock %s (advanced %v), want %s (advanced %v)", i, s.event, c.Now(), got, s.now, s.advanced)
				}
			}
		})
	}
}
