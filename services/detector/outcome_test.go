package detector

import (
	"log/slog"
	"testing"

	"github.com/segmentio/kafka-go"

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
