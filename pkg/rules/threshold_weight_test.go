package rules

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestThresholdWeight checks events counted by their weight (Threshold.Weight): the
// weight is the event's UserAgent, a number.
func TestThresholdWeight(t *testing.T) {
	weight := func(in *Input) int { n, _ := strconv.Atoi(in.Event.UserAgent); return n }
	tests := []struct {
		name   string
		events []ev
		want   []string
	}{
		{"weights add up to the count", []ev{{id: "1", user: "u", value: "2"}, {id: "2", at: time.Minute, user: "u", value: "1"}},
			[]string{"2: high 1,2"}},
		{"one heavy event is enough", []ev{{id: "1", user: "u", value: "500"}}, []string{"1: high 1"}},
		{"a weight below one counts one", []ev{{id: "1", user: "u", value: "0"}, {id: "2", at: time.Minute, user: "u", value: "-3"},
			{id: "3", at: 2 * time.Minute, user: "u"}}, []string{"3: high 1,2,3"}},
		{"one short of the count", []ev{{id: "1", user: "u", value: "1"}, {id: "2", at: time.Minute, user: "u", value: "1"}}, nil},
		{"weights of other keys do not add up", []ev{{id: "1", user: "u", value: "2"}, {id: "2", at: time.Minute, user: "v", value: "2"}}, nil},
		{"at the window's end they add up", []ev{{id: "1", user: "u", value: "2"}, {id: "2", at: 10 * time.Minute, user: "u", value: "1"}},
			[]string{"2: high 1,2"}},
		{"beyond it they do not", []ev{{id: "1", user: "u", value: "2"}, {id: "2", at: 10*time.Minute + time.Second, user: "u", value: "1"}}, nil},
		{"out of order", []ev{{id: "2", at: 5 * time.Minute, user: "u", value: "1"}, {id: "1", user: "u", value: "2"}},
			[]string{"1: high 1,2"}},
		{"the events of a reported window count no more", []ev{{id: "1", user: "u", value: "3"}, {id: "2", at: time.Minute, user: "u", value: "3"},
			{id: "3", at: 11 * time.Minute, user: "u", value: "3"}}, []string{"1: high 1", "3: high 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Threshold{Meta: Meta{ID: "w", Severity: "high"}, Select: func(*Input) bool { return true }, Key: byUser,
				Weight: weight, Count: 3, Window: 10 * time.Minute, Describe: func(*Tally) Finding { return Finding{} }}
			if got := feed(r, tt.events); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEscalationDistinct checks an escalation that only another value (the event's
// UserAgent) may make, over a threshold of one event per key and window.
func TestEscalationDistinct(t *testing.T) {
	tests := []struct {
		name     string
		distinct bool
		events   []ev
		want     []string
	}{
		{"another value escalates", true, []ev{{id: "1", user: "u", value: "a"}, {id: "2", at: time.Minute, user: "u", value: "b"}},
			[]string{"1: high 1", "2: critical 1,2"}},
		{"the same value does not", true, []ev{{id: "1", user: "u", value: "a"}, {id: "2", at: time.Minute, user: "u", value: "a"}},
			[]string{"1: high 1"}},
		{"without Distinct the same value does", false, []ev{{id: "1", user: "u", value: "a"}, {id: "2", at: time.Minute, user: "u", value: "a"}},
			[]string{"1: high 1", "2: critical 1,2"}},
		{"once: a third value does not escalate again", true, []ev{{id: "1", user: "u", value: "a"},
			{id: "2", at: time.Minute, user: "u", value: "b"}, {id: "3", at: 2 * time.Minute, user: "u", value: "c"}},
			[]string{"1: high 1", "2: critical 1,2"}},
		{"another key's value does not", true, []ev{{id: "1", user: "u", value: "a"}, {id: "2", at: time.Minute, user: "v", value: "b"}},
			[]string{"1: high 1", "2: high 2"}},
		{"beyond Within it is a window of its own", true, []ev{{id: "1", user: "u", value: "a"},
			{id: "2", at: 30*time.Minute + time.Second, user: "u", value: "b"}}, []string{"1: high 1", "2: high 2"}},
		{"out of order: both windows reported, then the escalation", true, []ev{{id: "2", at: 5 * time.Minute, user: "u", value: "b"},
			{id: "1", user: "u", value: "a"}}, []string{"2: high 2", "1: high 1", "1: critical 1,2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := func(*Input) bool { return true }
			r := &Threshold{Meta: Meta{ID: "d", Severity: "high"}, Select: all, Key: byUser,
				Distinct: func(in *Input) string { return in.Event.UserAgent }, Count: 1, Window: 30 * time.Minute,
				Describe: func(*Tally) Finding { return Finding{} },
				Escalate: &Escalation{Select: all, Within: 30 * time.Minute, Distinct: tt.distinct, Severity: "critical",
					Describe: func(*Tally, Hit) Finding { return Finding{} }}}
			if got := feed(r, tt.events); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
