package sigma

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
)

func TestIndexEvents(t *testing.T) {
	rs := mustLoad(t, Options{}, "testdata/index/rules.yml")
	for id, want := range map[string][]string{
		"i-list":        {"CreateUser", "DeleteUser"},
		"i-or":          {"CreateAccessKey", "DeleteBucket"},
		"i-not":         {"DeleteTrail", "StartLogging", "StopLogging"},
		"i-one-unnamed": nil,
		"i-maps":        {"PutBucketAcl", "PutBucketPolicy"},
		"i-prefix":      nil,
		"i-lower":       nil, // matched case-insensitively, so not by the exact index
		"i-cased":       {"RunInstances"},
		"i-all-of":      {"AttachRolePolicy", "AttachUserPolicy"},
		"i-conditions":  {"CreateGroup", "DeleteGroup"},
		"i-null":        nil,
		"i-raw":         {"AuthorizeSecurityGroupIngress"},
		"i-correlation": {"ConsoleLogin"},
	} {
		if got := byID(t, rs, id).Info().Events; !slices.Equal(got, want) {
			t.Errorf("%s: events %v, want %v", id, got, want)
		}
	}
}

// everyEvent hands a rule every event: its Meta without Events.
type everyEvent struct {
	rules.Rule
	meta rules.Meta
}

func (w *everyEvent) Info() *rules.Meta { return &w.meta }

func unindexed(rs []rules.Rule) []rules.Rule {
	out := make([]rules.Rule, len(rs))
	for i, r := range rs {
		m := *r.Info()
		m.Events = nil
		out[i] = &everyEvent{Rule: r, meta: m}
	}
	return out
}

// indexMisses runs the rules mk makes through an engine twice, indexed by their
// Meta.Events and handed every event, and returns the detections only one run made.
func indexMisses(t testing.TB, mk func() []rules.Rule, stream []*model.Event) (misses, detections []string) {
	indexed := run(t, mk(), stream, 0)
	every := run(t, unindexed(mk()), stream, 0)
	count := map[string]int{}
	for _, d := range every {
		count[d]++
	}
	for _, d := range indexed {
		count[d]--
	}
	for d, n := range count {
		switch {
		case n > 0:
			misses = append(misses, "missed: "+d)
		case n < 0:
			misses = append(misses, "extra: "+d)
		}
	}
	slices.Sort(misses)
	return misses, indexed
}

var (
	streamOnce sync.Once
	stream     []*model.Event
)

// generated returns a day of generated records, normalized, and the records of the match
// tests' rules.
func generated(t testing.TB) []*model.Event {
	streamOnce.Do(func() {
		for r := range generate.Records(generate.Options{Events: 20000, Seed: 11, Start: t0, Span: 24 * time.Hour}) {
			e, err := normalize.Normalize(r.JSON, "test")
			if err != nil {
				panic(fmt.Sprintf("a generated record does not normalize: %v", err))
			}
			stream = append(stream, e)
		}
	})
	return stream
}

// TestIndexSound checks that the engine's index hands each rule every event it can fire
// on: the detections of the rules indexed by their Meta.Events are those of the rules
// handed every event, on a day of generated records.
func TestIndexSound(t *testing.T) {
	paths := []string{"testdata/index", "testdata/match", "testdata/correlation", "testdata/load/good.yml"}
	o := Options{Placeholders: map[string][]string{"Administrators": {"admin"}, "Accounts": {"123456789012"}}}
	mk := func() []rules.Rule { return mustLoad(t, o, paths...) }
	misses, detections := indexMisses(t, mk, generated(t))
	for _, m := range misses {
		t.Error(m)
	}
	// The comparison means something only if the index rules fire.
	fired := map[string]bool{}
	for _, d := range detections {
		fired[strings.Fields(d)[1]] = true
	}
	for _, r := range mustLoad(t, o, "testdata/index") {
		if id := r.Info().ID; !fired[id] {
			t.Errorf("%s does not fire on the generated records", id)
		}
	}
	t.Logf("%d detections, the same indexed and not", len(detections))
}

// TestIndexWrong checks that the soundness check catches a wrong index: a rule told it
// fires on fewer event names than it does.
func TestIndexWrong(t *testing.T) {
	mk := func() []rules.Rule {
		rs := mustLoad(t, Options{}, "testdata/index/rules.yml")
		byID(t, rs, "i-list").Info().Events = []string{"CreateUser"} // DeleteUser left out
		return rs
	}
	misses, _ := indexMisses(t, mk, generated(t))
	if len(misses) == 0 {
		t.Fatal("a rule not handed the DeleteUser events it fires on: the check finds nothing")
	}
	for _, m := range misses {
		if !strings.Contains(m, "missed: ") || !strings.Contains(m, "sigma:i-list") {
			t.Errorf("unexpected difference %s", m)
		}
	}
}
