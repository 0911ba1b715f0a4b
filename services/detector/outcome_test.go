package detector

import (
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
)

// TestOutcomeOfRetriedBatch hands a batch in again, as ConsumeBatches does when its writes
// failed: the detection must come out again, although the rule consumed the pair.
func TestOutcomeOfRetriedBatch(t *testing.T) {
	ce, de := userEvents(t, "test")
	create, del := event(t, ce), event(t, de)
	create.Partition, create.Offset = 1, 7
	del.Partition, del.Offset = 1, 8
	d := &detector{rules: rules.Default(), log: slog.Default()}

	tests := []struct {
		name  string
		batch []kafka.Message
		want  int
	}{
		{"create", []kafka.Message{create}, 0},
		{"delete", []kafka.Message{del}, 1},
		{"delete again, the writes having failed", []kafka.Message{del}, 1},
	}
	for _, tc := range tests {
		if got := len(d.outcome(tc.batch).detections); got != tc.want {
			t.Fatalf("%s: %d detections, want %d", tc.name, got, tc.want)
		}
	}
}

// TestHold follows how far the detector lets a partition be committed while a creation is
// held, as time passes.
func TestHold(t *testing.T) {
	ce, _ := userEvents(t, "test")
	other := *ce
	other.EventID, other.EventSource, other.EventName = "other", "s3.amazonaws.com", "ListBuckets"
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	now := t0
	d := &detector{rules: rules.Default(), log: slog.Default(), reads: reads{limit: 2 * time.Hour, now: func() time.Time { return now }}}
	msg := func(e *model.Event, partition int, offset int64) kafka.Message {
		m := event(t, e)
		m.Partition, m.Offset = partition, offset
		return m
	}
	const none = -1
	steps := []struct {
		name  string
		after time.Duration // since t0
		batch []kafka.Message
		hold  [2]int64 // of partitions 0 and 1
	}{
		{"unrelated events", 0, []kafka.Message{msg(&other, 0, 3), msg(&other, 1, 0)}, [2]int64{none, none}},
		{"a creation is held", time.Minute, []kafka.Message{msg(&other, 0, 4), msg(ce, 0, 5), msg(&other, 0, 6)}, [2]int64{5, none}},
		{"still held an hour later", time.Hour, []kafka.Message{msg(&other, 0, 7)}, [2]int64{5, none}},
		{"read longer ago than the limit", 2*time.Hour + 2*time.Minute, []kafka.Message{msg(&other, 0, 8)}, [2]int64{7, none}},
		{"only the latest batch is within the limit", 4*time.Hour + 5*time.Minute, []kafka.Message{msg(&other, 0, 9)}, [2]int64{9, none}},
	}
	for _, s := range steps {
		now = t0.Add(s.after)
		d.outcome(s.batch)
		d.last = nil // written
		for part, want := range s.hold {
			got, ok := d.hold(part)
			if !ok {
				got = none
			}
			if got != want {
				t.Fatalf("%s: partition %d held from %d, want %d", s.name, part, got, want)
			}
		}
	}
}
