package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/parallel"
)

const (
	// ledgerMaxAge is how long the ledger remembers a delivery.
	ledgerMaxAge = 7 * 24 * time.Hour
	// ledgerRetention is how long the ledger topic keeps a record: a day past ledgerMaxAge,
	// after which the notifier forgets it anyway.
	ledgerRetention = ledgerMaxAge + 24*time.Hour
	// ledgerCapacity is the most deliveries the ledger remembers; beyond it the oldest are
	// forgotten.
	ledgerCapacity = 1_000_000
)

// ledgerKey is the key of the ledger message of detection sent to webhook.
func ledgerKey(webhook, detection string) string { return webhook + "/" + detection }

// ledgerValue is the value of a ledger message: when the webhook answered and its status (2xx
// delivered, any other refused the detection for good).
type ledgerValue struct {
	DeliveredAt time.Time `json:"delivered_at"`
	Status      int       `json:"status"`
}

// ledgerMessage returns the ledger message saying that webhook answered status for detection
// at at.
func ledgerMessage(webhook, detection string, status int, at time.Time) kafka.Message {
	v, _ := json.Marshal(ledgerValue{DeliveredAt: at.UTC(), Status: status}) // a time and an int always marshal
	return kafka.Message{Key: []byte(ledgerKey(webhook, detection)), Value: v, Time: at}
}

// ledger is the set of the ledger keys of what was sent: those read from the ledger topic
// and those added since. It forgets keys older than maxAge and, beyond capacity keys, the
// oldest. It is safe for concurrent use.
type ledger struct {
	maxAge   time.Duration
	capacity int
	now      func() time.Time

	mu    sync.Mutex
	at    map[string]time.Time // key → when sent
	order []entry              // the keys of at, in the order added, from head on
	head  int
}

type entry struct {
	key string
	at  time.Time
}

func newLedger(maxAge time.Duration, capacity int, now func() time.Time) *ledger {
	return &ledger{maxAge: maxAge, capacity: capacity, now: now, at: make(map[string]time.Time)}
}

// has reports whether key is in the ledger.
func (l *ledger) has(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.at[key]
	return ok
}

// add puts key, sent at at, in the ledger, unless it is there already or older than maxAge.
func (l *ledger) add(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.at[key]; ok {
		return
	}
	now := l.now()
	if at.Before(now.Add(-l.maxAge)) {
		return
	}
	l.at[key] = at
	l.order = append(l.order, entry{key, at})
	l.trim(now)
}

// trim forgets, oldest added first, the keys beyond capacity and those older than maxAge.
// Keys are added about in the order they were sent, so the first added are the oldest.
func (l *ledger) trim(now time.Time) {
	for l.head < len(l.order) {
		e := l.order[l.head]
		if len(l.at) <= l.capacity && !e.at.Before(now.Add(-l.maxAge)) {
			break
		}
		delete(l.at, e.key)
		l.order[l.head] = entry{}
		l.head++
	}
	if l.head > 1024 && l.head > len(l.order)/2 {
		l.order = append(l.order[:0:0], l.order[l.head:]...)
		l.head = 0
	}
}

// size returns how many keys the ledger holds.
func (l *ledger) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.at)
}

// messageTime returns when the ledger message m says its detection was sent, or when m was
// written if its value does not say.
func messageTime(m kafka.Message) time.Time {
	var v ledgerValue
	if json.Unmarshal(m.Value, &v) == nil && !v.DeliveredAt.IsZero() {
		return v.DeliveredAt
	}
	return m.Time
}

// load reads every partition of topic up to its end as it is at the call into l, the oldest
// entries first. It returns a function that then follows the topic until its ctx ends, adding
// what is written to it (by this notifier and by the others of its group, to which
// partitions of the detections may move).
func (l *ledger) load(ctx context.Context, kc kafkautil.Cluster, topic string, log *slog.Logger) (follow func(context.Context) error, err error) {
	var ranges map[int]offsetRange
	err = backoff.Retry(ctx, log, "read the offsets of "+topic, backoff.Start, func(ctx context.Context) error {
		var err error
		ranges, err = offsets(ctx, kc, topic)
		return kc.Diagnose(ctx, err)
	})
	if err != nil {
		return nil, err
	}
	readers := make([]*kafka.Reader, 0, len(ranges))
	closeAll := func() {
		for _, r := range readers {
			r.Close()
		}
	}
	var read []entry
	for _, p := range slices.Sorted(maps.Keys(ranges)) {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Dialer: kc.Dialer(0), Topic: topic, Partition: p,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond})
		readers = append(readers, r)
		rg := ranges[p]
		if err := r.SetOffset(rg.first); err != nil {
			closeAll()
			return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
		}
		for rg.first < rg.end {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("read %s/%d up to offset %d: %w", topic, p, rg.end, err)
			}
			read = append(read, entry{string(m.Key), messageTime(m)})
			if m.Offset+1 >= rg.end {
				break
			}
		}
	}
	slices.SortStableFunc(read, func(a, b entry) int { return a.at.Compare(b.at) })
	for _, e := range read {
		l.add(e.key, e.at)
	}
	return func(ctx context.Context) error {
		defer closeAll()
		fns := make([]func(context.Context) error, len(readers))
		for i, r := range readers {
			fns[i] = func(ctx context.Context) error {
				for {
					m, err := r.FetchMessage(ctx)
					if err != nil {
						if ctx.Err() != nil {
							return nil
						}
						return fmt.Errorf("follow %s/%d: %w", topic, r.Config().Partition, err)
					}
					l.add(string(m.Key), messageTime(m))
				}
			}
		}
		return parallel.Run(ctx, fns...)
	}, nil
}

// offsetRange is the offsets a partition holds: from first to before end.
type offsetRange struct{ first, end int64 }

// offsets returns the partitions of topic and the offsets they hold.
func offsets(ctx context.Context, kc kafkautil.Cluster, topic string) (map[int]offsetRange, error) {
	cl := kc.Client(10 * time.Second)
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 {
		return nil, fmt.Errorf("metadata of %s: %d topics in the answer", topic, len(md.Topics))
	}
	if err := md.Topics[0].Error; err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("metadata of %s: no partitions", topic)
	}
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	out := make(map[int]offsetRange, len(reqs)/2)
	var errs []error
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error))
			continue
		}
		out[p.Partition] = offsetRange{p.FirstOffset, p.LastOffset}
	}
	if len(errs) == 0 && len(out) != len(reqs)/2 {
		errs = append(errs, fmt.Errorf("offsets of %s: %d of %d partitions in the answer", topic, len(out), len(reqs)/2))
	}
	return out, errors.Join(errs...)
}
