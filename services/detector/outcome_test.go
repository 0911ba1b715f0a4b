package detector

import (
	"io/fs"
	"log/slog"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/schemas"
)

// TestOutcomeOfRetriedBatch hands a batch in again, as ConsumeBatches does when its writes
// failed: the detection must come out again, although the rule consumed the pair.
func TestOutcomeOfRetriedBatch(t *testing.T) {
	ce, de := userEvents(t, "test")
	create, del := event(t, ce), event(t, de)
	create.Partition, create.Offset = 1, 7
	del.Partition, del.Offset = 1, 8
	d := &detector{engine: rules.NewEngine(rules.Default()), log: slog.Default()}

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
	d := &detector{engine: rules.NewEngine(rules.Default()), log: slog.Default(), reads: reads{limit: 2 * time.Hour, now: func() time.Time { return now }}}
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
	// With nothing held, what the detector remembers of its reads stays within the limit.
	for i := range 600 { // ten hours of a batch a minute
		now = now.Add(time.Minute)
		d.outcome([]kafka.Message{msg(&other, 1, int64(100+i))})
		d.last = nil
	}
	if n := len(d.reads.marks[1]); n > 121 {
		t.Fatalf("%d read marks kept for partition 1, want at most the 121 of the last two hours", n)
	}
}

// TestEarlierSchemaVersion hands the detector a creation written by a normalizer of the
// first schema version, which lacks the resource fields the rule reads, and the deletion in
// the current version: the pair is detected all the same.
func TestEarlierSchemaVersion(t *testing.T) {
	ce, de := userEvents(t, "test")
	old, err := fs.ReadFile(schemas.History, "history/cloudtrail_event.1.avsc")
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(string(old))
	if err != nil {
		t.Fatal(err)
	}
	v1, err := codec.SingleFromNative(nil, map[string]any{
		"event_id": ce.EventID, "event_time": ce.EventTime, "event_version": ce.EventVersion, "event_source": ce.EventSource,
		"event_name": ce.EventName, "event_type": ce.EventType, "aws_region": ce.AWSRegion, "account_id": ce.AccountID,
		"source_ip": ce.SourceIP, "user_agent": ce.UserAgent, "user_type": ce.UserType, "user_name": ce.UserName,
		"user_arn": ce.UserARN, "error_code": ce.ErrorCode, "error_message": ce.ErrorMessage, "outcome": ce.Outcome,
		"mfa_used": ce.MFAUsed, "action": ce.Action, "environment": ce.Environment, "raw": ce.Raw,
	})
	if err != nil {
		t.Fatal(err)
	}
	create, del := kafka.Message{Key: []byte(ce.AccountID), Value: v1, Offset: 1}, event(t, de)
	del.Offset = 2
	d := &detector{engine: rules.NewEngine(rules.Default()), log: slog.Default()}
	d.outcome([]kafka.Message{create})
	out := d.outcome([]kafka.Message{del})
	if len(out.detections) != 1 || len(out.dead) != 0 {
		t.Fatalf("%d detections and %d dead letters, want one detection", len(out.detections), len(out.dead))
	}
	got, err := model.DecodeDetection(out.detections[0].Message.Value)
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceName != "svc-backup-tmp" || got.EventIDs[0] != ce.EventID {
		t.Fatalf("detection %+v, want the user svc-backup-tmp created by %s", got, ce.EventID)
	}
}
