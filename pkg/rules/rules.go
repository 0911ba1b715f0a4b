// Package rules holds trailstream's detection rules: stateful functions from the stream of
// normalized events to detections, judged by event time, not arrival time.
//
// State lives in memory. Events are keyed by account ID, so every event of an account
// reaches the same detector instance and its rules see the account's whole stream. A rule's
// state is rebuilt only from the events that arrive after a start or a partition
// reassignment: a finding whose events straddle a restart (one event before, one after)
// can be missed. Each rule bounds its state, by event time and by a hard cap on entries.
package rules

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/trailstream/trailstream/pkg/model"
)

// Rule is one detection rule. A rule is not safe for concurrent use.
type Rule interface {
	// ID is the rule_id of the rule's detections.
	ID() string
	// Observe feeds one event to the rule and returns the detections it completes. It also
	// advances the rule's event-time clock for the event's account and drops the state of
	// that account that can no longer contribute to a detection.
	Observe(e *model.Event) []model.Detection
	// Held returns the number of state entries the rule holds.
	Held() int
}

// Default returns a fresh instance of every rule with its default settings.
func Default() []Rule {
	return []Rule{NewShortLivedIAM(ShortLivedIAMConfig{})}
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
