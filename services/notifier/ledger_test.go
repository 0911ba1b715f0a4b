package notifier

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestLedger checks what the in-memory ledger remembers: each key once, nothing older than
// its age, and no more than its capacity, forgetting the oldest first.
func TestLedger(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		capacity int
		add      []time.Duration // ages of keys k0, k1, ... added in this order
		advance  time.Duration   // then the clock moves on, and one more key is added
		want     []int           // the indexes of the keys kept
	}{
		{"all kept", 10, []time.Duration{3 * time.Hour, 2 * time.Hour, time.Hour}, 0, []int{0, 1, 2}},
		{"too old at once", 10, []time.Duration{8 * 24 * time.Hour, time.Hour}, 0, []int{1}},
		{"aged out", 10, []time.Duration{6 * 24 * time.Hour, time.Hour}, 25 * time.Hour, []int{1}},
		{"capacity drops the oldest", 3, []time.Duration{4 * time.Hour, 3 * time.Hour, 2 * time.Hour, time.Hour}, 0, []int{2, 3}},
		{"capacity and the newest", 2, []time.Duration{2 * time.Hour, time.Hour}, 0, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := now
			l := newLedger(7*24*time.Hour, tt.capacity, func() time.Time { return clock })
			for i, age := range tt.add {
				l.add(fmt.Sprintf("k%d", i), now.Add(-age))
			}
			clock = clock.Add(tt.advance)
			l.add("last", clock)
			keep := map[int]bool{}
			for _, i := range tt.want {
				keep[i] = true
			}
			for i := range tt.add {
				if got := l.has(fmt.Sprintf("k%d", i)); got != keep[i] {
					t.Errorf("has(k%d) = %v, want %v", i, got, keep[i])
				}
			}
			if !l.has("last") {
				t.Error("the key added last is not kept")
			}
			if got, want := l.size(), len(tt.want)+1; got != want {
				t.Errorf("size %d, want %d", got, want)
			}
		})
	}
}

// TestLedgerAddsOnce checks that a key added again keeps its first time and is counted once.
func TestLedgerAddsOnce(t *testing.T) {
	now := time.Now()
	l := newLedger(time.Hour, 2, func() time.Time { return now })
	l.add("a", now.Add(-time.Minute))
	l.add("a", now)
	l.add("b", now)
	if l.size() != 2 || !l.has("a") || !l.has("b") {
		t.Fatalf("size %d, has a %v, has b %v: want both, once", l.size(), l.has("a"), l.has("b"))
	}
	for i := range 5000 { // past the point where the order is compacted
		l.add(fmt.Sprint(i), now)
	}
	if l.size() != 2 || !l.has("4999") || !l.has("4998") || l.has("a") {
		t.Fatalf("size %d after many adds, want the 2 newest", l.size())
	}
}

func TestLedgerMessage(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	m := ledgerMessage("0123456789abcdef", "d1", 204, at)
	if string(m.Key) != "0123456789abcdef/d1" {
		t.Errorf("key %q, want webhook/detection", m.Key)
	}
	var v map[string]any
	if err := json.Unmarshal(m.Value, &v); err != nil {
		t.Fatal(err)
	}
	if v["delivered_at"] != "2026-11-21T09:00:00Z" || v["status"] != float64(204) || len(v) != 2 {
		t.Errorf("value %s, want delivered_at in UTC and status", m.Value)
	}
	tests := []struct {
		name  string
		value []byte
		want  time.Time
	}{
		{"value", m.Value, at},
		{"no value", nil, at.Add(time.Minute)},
		{"garbage", []byte("{"), at.Add(time.Minute)},
	}
	for _, tt := range tests {
		got := messageTime(kafka.Message{Value: tt.value, Time: at.Add(time.Minute)})
		if !got.Equal(tt.want) {
			t.Errorf("%s: messageTime = %s, want %s", tt.name, got, tt.want)
		}
	}
}
