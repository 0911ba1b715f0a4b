// Package rules holds trailstream's detection rules: stateful functions from the stream of
// normalized events to detections, judged by event time, not arrival time.
//
// State lives in memory. Events are keyed by account ID, so every event of an account
// reaches the same detector instance and its rules see the account's whole stream. Each
// rule bounds its state, by event time — an EventClock per account, which one wrong time
// cannot run ahead — and by a hard cap on entries, and tells where in its
// input the oldest event it holds state for was read (Oldest): a detector that commits no
// further than that rebuilds the state after a restart by reading those events again.
package rules

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/trailstream/trailstream/pkg/model"
)

// Rule is one detection rule. A rule is not safe for concurrent use.
type Rule interface {
	// Info describes the rule: its rule_id, severity, description, tags, source and the
	// event names it looks at.
	Info() *Meta
	// Observe feeds one event to the rule and returns the detections it completes. It also
	// drops the state of the event's account that can no longer contribute to a detection.
	Observe(in *Input) []model.Detection
	// Held returns the number of state entries the rule holds.
	Held() int
	// Oldest returns the lowest offset in partition of the events the rule holds state
	// for; ok is false when it holds none from partition. Reading the partition again from
	// that offset rebuilds the rule's state for it.
	Oldest(partition int) (offset int64, ok bool)
}

// Position is where an event was read: its partition of the input topic and its offset.
type Position struct {
	Partition int
	Offset    int64
}

// DetectionID returns the deterministic ID of the detection of rule made of the given
// events: the hex SHA-256 of the rule ID and the event IDs, each terminated by a zero byte.
// The same events always give the same ID, so a redelivered finding deduplicates.
func DetectionID(ruleID string, eventIDs ...string) string {
	h := sha256.New()
	h.Write([]byte(ruleID))
	h.Write([]byte{0})
	for _, id := range eventIDs {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
