package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

var p0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// ev is an event of account "a" at p0 + at, by user, with a value in UserAgent.
type ev struct {
	id    string
	at    time.Duration
	user  string
	value string
	name  string // event name; default "E"
}

func (e ev) event() *model.Event {
	name := e.name
	if name == "" {
		name = "E"
	}
	return &model.Event{EventID: e.id, EventTime: p0.Add(e.at), AccountID: "a", UserName: e.user, UserAgent: e.value,
		EventName: name, Outcome: "success"}
}

// feed runs events through an engine of r in the order given, returning for each
// detection "<event that completed it>: <severity> <event ids>".
func feed(r Rule, events []ev) []string {
	e := NewEngine([]Rule{r})
	var out []string
	for i, x := range events {
		for _, d := range e.Observe(x.event(), Position{Offset: int64(i)}) {
			out = append(out, fmt.Sprintf("%s: %s %s", x.id, d.Severity, strings.Join(d.EventIDs, ",")))
		}
	}
	return out
}

func byUser(in *Input) string { return in.Event.UserName }

func TestMatchDedup(t *testing.T) {
	tests := []struct {
		name   string
		events []ev
		want   []string
	}{
		{"every match without a key seen", []ev{{id: "1", user: "u"}, {id: "2", at: time.Minute, user: "v"}},
			[]string{"1: high 1", "2: high 2"}},
		{"one per key per hour", []ev{{id: "1", user: "u"}, {id: "2", at: 59 * time.Minute, user: "u"}, {id: "3", at: time.Hour, user: "u"}},
			[]string{"1: high 1", "3: high 3"}},
		{"an earlier event within the period is folded too", []ev{{id: "1", at: 30 * time.Minute, user: "u"}, {id: "2", user: "u"}},
			[]string{"1: high 1"}},
		{"events that do not match", []ev{{id: "1", user: "skip"}, {id: "2", at: time.Minute, user: "u"}}, []string{"2: high 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Match{Meta: Meta{ID: "m", Severity: "high"},
				When:  func(in *Input) (Finding, bool) { return Finding{}, in.Event.UserName != "skip" },
				Dedup: &Dedup{Key: byUser, Period: time.Hour}}
			if got := feed(r, tt.events); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestThreshold(t *testing.T) {
	three := func(ids ...string) []ev { // three events of u, a minute apart, from 0
		var out []ev
		for i, id := range ids {
			out = append(out, ev{id: id, at: time.Duration(i) * time.Minute, user: "u"})
		}
		return out
	}
	tests := []struct {
		name   string
		r      func(r *Threshold)
		events []ev
		want   []string
	}{
		{"three in ten minutes", nil, three("1", "2", "3"), []string{"3: medium 1,2,3"}},
		{"two are not enough", nil, three("1", "2"), nil},
		{"the window is inclusive at its end", nil,
			[]ev{{id: "1", user: "u"}, {id: "2", at: 5 * time.Minute, user: "u"}, {id: "3", at: 10 * time.Minute, user: "u"}},
			[]string{"3: medium 1,2,3"}},
		{"a second past the window is too late", nil,
			[]ev{{id: "1", user: "u"}, {id: "2", at: 5 * time.Minute, user: "u"}, {id: "3", at: 10*time.Minute + time.Second, user: "u"}}, nil},
		{"out of order: the earliest arrives last", nil,
			[]ev{{id: "2", at: time.Minute, user: "u"}, {id: "3", at: 2 * time.Minute, user: "u"}, {id: "1", user: "u"}},
			[]string{"1: medium 1,2,3"}},
		{"keys count apart", nil,
			[]ev{{id: "1", user: "u"}, {id: "2", at: time.Minute, user: "v"}, {id: "3", at: 2 * time.Minute, user: "u"}}, nil},
		{"once per window: the fourth does not report again", nil, three("1", "2", "3", "4"), []string{"3: medium 1,2,3"}},
		{"after the window, counting starts over", nil,
			append(three("1", "2", "3"), ev{id: "4", at: 11 * time.Minute, user: "u"}, ev{id: "5", at: 12 * time.Minute, user: "u"},
				ev{id: "6", at: 13 * time.Minute, user: "u"}),
			[]string{"3: medium 1,2,3", "6: medium 4,5,6"}},
		{"distinct values", func(r *Threshold) { r.Distinct = func(in *Input) string { return in.Event.UserAgent } },
			[]ev{{id: "1", user: "u", value: "x"}, {id: "2", at: time.Minute, user: "u", value: "x"},
				{id: "3", at: 2 * time.Minute, user: "u", value: "y"}, {id: "4", at: 3 * time.Minute, user: "u", value: "z"}},
			[]string{"4: medium 2,3,4"}},
		{"escalated by a later event", func(r *Threshold) {
			r.Escalate = &Escalation{Select: func(in *Input) bool { return in.Event.EventName == "OK" }, Within: 30 * time.Minute, Severity: "high",
				Describe: func(*Tally, Hit) Finding { return Finding{} }}
		}, append(three("1", "2", "3"), ev{id: "ok", at: 20 * time.Minute, user: "u", name: "OK"}),
			[]string{"3: medium 1,2,3", "ok: high 1,2,3,ok"}},
		{"escalation arriving before the window completes", func(r *Threshold) {
			r.Escalate = &Escalation{Select: func(in *Input) bool { return in.Event.EventName == "OK" }, Within: 30 * time.Minute, Severity: "high",
				Describe: func(*Tally, Hit) Finding { return Finding{} }}
		}, append([]ev{{id: "ok", at: 20 * time.Minute, user: "u", name: "OK"}}, three("1", "2", "3")...),
			[]string{"3: medium 1,2,3", "3: high 1,2,3,ok"}},
		{"a follow-up too late does not escalate", func(r *Threshold) {
			r.Escalate = &Escalation{Select: func(in *Input) bool { return in.Event.EventName == "OK" }, Within: 30 * time.Minute, Severity: "high",
				Describe: func(*Tally, Hit) Finding { return Finding{} }}
		}, append(three("1", "2", "3"), ev{id: "ok", at: 33 * time.Minute, user: "u", name: "OK"}),
			[]string{"3: medium 1,2,3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Threshold{Meta: Meta{ID: "t", Severity: "medium"},
				Select: func(in *Input) bool { return in.Event.EventName == "E" }, Key: byUser, Count: 3, Window: 10 * time.Minute,
				Describe: func(*Tally) Finding { return Finding{} }}
			if tt.r != nil {
				tt.r(r)
			}
			if got := feed(r, tt.events); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestThresholdRestart cuts a stream in the middle of a window, as a restart does: a new
// rule fed again from the offset the old one held (Oldest) reports what the old one would
// have.
func TestThresholdRestart(t *testing.T) {
	newRule := func() *Threshold {
		return &Threshold{Meta: Meta{ID: "t", Severity: "medium"}, Select: func(in *Input) bool { return in.Event.UserName == "u" }, Key: byUser,
			Count: 3, Window: 10 * time.Minute, Describe: func(*Tally) Finding { return Finding{} }}
	}
	stream := []ev{{id: "x", user: "v"}, {id: "1", at: time.Minute, user: "u"}, {id: "2", at: 2 * time.Minute, user: "u"},
		{id: "3", at: 3 * time.Minute, user: "u"}}
	old := newRule()
	e := NewEngine([]Rule{old})
	for i, x := range stream[:3] { // the restart comes before event 3
		e.Observe(x.event(), Position{Offset: int64(i)})
	}
	from, ok := old.Oldest(0)
	if !ok || from != 1 { // x was never held; 1 is the oldest
		t.Fatalf("Oldest = %d, %v; want 1, true", from, ok)
	}
	fresh := newRule()
	e = NewEngine([]Rule{fresh})
	var got []string
	for i := int(from); i < len(stream); i++ {
		for _, d := range e.Observe(stream[i].event(), Position{Offset: int64(i)}) {
			got = append(got, strings.Join(d.EventIDs, ","))
		}
	}
	if !slices.Equal(got, []string{"1,2,3"}) {
		t.Errorf("after the restart: %q, want [1,2,3]", got)
	}
}

func TestOutlier(t *testing.T) {
	hourly := func(counts ...int) []ev { // counts[i] events in hour i, a minute apart
		var out []ev
		for h, n := range counts {
			for i := range n {
				out = append(out, ev{id: fmt.Sprintf("h%d-%d", h, i), at: time.Duration(h)*time.Hour + time.Duration(i)*time.Minute, user: "u"})
			}
		}
		return out
	}
	tests := []struct {
		name   string
		counts []int
		want   []string // the events that complete a detection
	}{
		// Ten hours of 2 (mean 2, σ 0): the eleventh hour crosses at its 5th (the minimum).
		{"flat history, a burst", []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 9}, []string{"h10-4"}},
		// Mean 3, σ 1 (2 and 4 alternating): the band is 6; the 7th crosses it.
		{"a noisy history widens the band", []int{2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 7}, []string{"h10-6"}},
		{"inside the band", []int{2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 6}, nil},
		{"under the minimum", []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4}, nil},
		{"not judged before ten hours watched", []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 9}, nil},
		// Then hour 11's band is mean 1.5 + 3 · σ 1.5 = 6 (nine hours of 1 and hour 10's 6).
		{"once per slice, again in the next", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6, 30}, []string{"h10-4", "h11-6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Outlier{Meta: Meta{ID: "o", Severity: "medium"}, Select: func(*Input) bool { return true },
				Key: func(*Input) string { return "" }, Describe: func(*OutlierTally) Finding { return Finding{} }}
			var got []string
			for _, d := range feed(r, hourly(tt.counts...)) {
				got = append(got, strings.SplitN(d, ":", 2)[0])
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("detections completed by %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBaseline(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		events []ev
		want   []string
	}{
		{"a value never seen, after learning", []ev{{id: "1", value: "x"}, {id: "2", at: 8 * day, value: "y"}}, []string{"2"}},
		{"seen within the period", []ev{{id: "1", value: "x"}, {id: "2", at: 8 * day, value: "x"}}, nil},
		{"seen longer ago than the period", []ev{{id: "1", value: "x"}, {id: "k", at: 20 * day, value: "z"}, {id: "2", at: 31 * day, value: "x"}},
			[]string{"k", "2"}},
		{"new, but still learning the account", []ev{{id: "1", value: "x"}, {id: "2", at: 6 * day, value: "y"}}, nil},
		{"reported once", []ev{{id: "1", value: "x"}, {id: "2", at: 8 * day, value: "y"}, {id: "3", at: 8*day + time.Hour, value: "y"}}, []string{"2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Baseline{Meta: Meta{ID: "b", Severity: "medium"}, Select: func(in *Input) bool { return in.Event.EventName == "E" },
				Key: func(*Input) string { return "" }, Value: func(in *Input) string { return in.Event.UserAgent },
				Describe: func(*Input, string, time.Time) Finding { return Finding{} }}
			var got []string
			for _, d := range feed(r, ticking(tt.events)) {
				got = append(got, strings.SplitN(d, ":", 2)[0])
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("detections at %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHolds(t *testing.T) {
	var h holds
	for _, off := range []int64{5, 7, 9, 6} { // 6 arrives out of order
		h.add(Position{Offset: off})
	}
	h.add(Position{Offset: 7}) // held twice
	steps := []struct {
		release int64
		oldest  int64
		held    bool
	}{
		{5, 6, true}, {7, 6, true}, {6, 7, true}, {7, 9, true}, {9, 0, false},
	}
	for _, s := range steps {
		h.release(Position{Offset: s.release})
		if got, ok := h.oldest(0); ok != s.held || (ok && got != s.oldest) {
			t.Fatalf("after releasing %d: oldest %d, %v; want %d, %v", s.release, got, ok, s.oldest, s.held)
		}
	}
	h.add(Position{Partition: 1, Offset: 3})
	if _, ok := h.oldest(0); ok {
		t.Error("partition 0 holds something after every release")
	}
	if got, ok := h.oldest(1); !ok || got != 3 {
		t.Errorf("partition 1: %d, %v", got, ok)
	}
}

func TestKeyedCap(t *testing.T) {
	var dropped []string
	s := newKeyed(2, func(v *string) { dropped = append(dropped, *v) })
	for i, k := range []string{"a", "b", "c"} {
		*s.put(acctKey{"acct", k}, p0.Add(time.Duration(i)*time.Minute)) = k
	}
	if s.Len() != 2 || s.get(acctKey{"acct", "a"}) != nil || !slices.Equal(dropped, []string{"a"}) {
		t.Errorf("after a third key: %d held, dropped %q; want 2 held and the oldest, a, dropped", s.Len(), dropped)
	}
	s.expire("acct", p0.Add(90*time.Second))
	if s.Len() != 1 || s.get(acctKey{"acct", "c"}) == nil {
		t.Errorf("expire: %d held, want only c", s.Len())
	}
}

// ticking puts an event of another name every hour between events, as an account's other
// activity does, so that its clock follows the days.
func ticking(events []ev) []ev {
	var out []ev
	var last time.Duration
	for _, e := range events {
		for t := last + time.Hour; t < e.at; t += time.Hour {
			out = append(out, ev{id: fmt.Sprintf("tick-%d", t/time.Hour), at: t, name: "T"})
		}
		out = append(out, e)
		last = e.at
	}
	return out
}

// TestRedeliveredEventsCountOnce feeds every event twice, as an at-least-once pipeline may:
// a threshold and an outlier report exactly what they report for each event once.
func TestRedeliveredEventsCountOnce(t *testing.T) {
	twice := func(events []ev) []ev {
		var out []ev
		for _, e := range events {
			out = append(out, e, e)
		}
		return out
	}
	threshold := func() Rule {
		return &Threshold{Meta: Meta{ID: "t", Severity: "medium"}, Select: func(*Input) bool { return true }, Key: byUser,
			Count: 3, Window: 10 * time.Minute, Describe: func(*Tally) Finding { return Finding{} }}
	}
	two := []ev{{id: "1", user: "u"}, {id: "2", at: time.Minute, user: "u"}}
	if got := feed(threshold(), twice(two)); len(got) != 0 {
		t.Errorf("threshold of 3 over two events delivered twice: %q, want nothing", got)
	}
	three := append(two, ev{id: "3", at: 2 * time.Minute, user: "u"})
	if got := feed(threshold(), twice(three)); !slices.Equal(got, []string{"3: medium 1,2,3"}) {
		t.Errorf("threshold over three events delivered twice: %q", got)
	}
	var hours []ev
	for h := range 11 {
		n := 2
		if h == 10 {
			n = 3 // under the minimum of 5, however often delivered
		}
		for i := range n {
			hours = append(hours, ev{id: fmt.Sprintf("h%d-%d", h, i), at: time.Duration(h)*time.Hour + time.Duration(i)*time.Minute, user: "u"})
		}
	}
	outlier := &Outlier{Meta: Meta{ID: "o", Severity: "medium"}, Select: func(*Input) bool { return true },
		Key: func(*Input) string { return "" }, Describe: func(*OutlierTally) Finding { return Finding{} }}
	if got := feed(outlier, twice(hours)); len(got) != 0 {
		t.Errorf("outlier over a flat history and 3 events delivered twice: %q, want nothing", got)
	}
}
