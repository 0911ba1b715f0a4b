package fetcher

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
)

// share is the part of the collection work a fetcher owns in one generation of the
// consumer group <prefix>-collect: the partitions of --topic-collect it was assigned. A
// unit of work (a source, a day folder of a source) belongs to the partition its name hashes
// to, so at any moment exactly one fetcher owns it; a rebalance ends the generation, and the
// next one begins only once every fetcher stopped working on the last one's shares.
type share struct {
	partitions int
	owned      map[int]bool
}

// owns reports whether the unit named name is this fetcher's.
func (s share) owns(name string) bool {
	h := fnv.New32a()
	h.Write([]byte(name))
	return s.owned[int(h.Sum32()%uint32(s.partitions))]
}

// collect takes part in the consumer group and, in each generation, runs the coordinator
// of the sources it owns (backfill planning, scanning, completeness) and the backfill of
// the day folders it owns, until ctx ends.
func (f *fetcher) collect(ctx context.Context) error {
	partitions, err := f.partitions(ctx)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: f.cfg.GroupPrefix + "-collect", Brokers: f.kafka.Brokers, Dialer: f.kafka.Dialer(0), Topics: []string{f.cfg.TopicCollect},
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second, RebalanceTimeout: 30 * time.Second,
		JoinGroupBackoff: time.Second, WatchPartitionChanges: true,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			f.log.Debug("collect group: " + fmt.Sprintf(msg, args...))
		}),
	})
	if err != nil {
		return err
	}
	defer group.Close()
	for {
		gen, err := group.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if err := f.kafka.Explain(err); backoff.IsPermanent(err) { // a refused sign-in or certificate
				return err
			}
			f.log.Warn("collect group: joining again", "err", err)
			backoff.Sleep(ctx, time.Second)
			continue
		}
		sh := share{partitions: partitions, owned: map[int]bool{}}
		for _, a := range gen.Assignments[f.cfg.TopicCollect] {
			sh.owned[a.ID] = true
		}
		f.log.Info("collect group: share of the work", "generation", gen.ID, "partitions", len(sh.owned), "of", partitions)
		if len(sh.owned) == 0 {
			gen.Start(func(ctx context.Context) { <-ctx.Done() })
			continue
		}
		gen.Start(func(ctx context.Context) { f.coordinate(ctx, sh) })
		gen.Start(func(ctx context.Context) { f.backfill(ctx, sh) })
	}
}

// partitions returns how many partitions --topic-collect has.
func (f *fetcher) partitions(ctx context.Context) (int, error) {
	var n int
	err := backoff.Retry(ctx, f.log, "read the partitions of "+f.cfg.TopicCollect, backoff.Start, func(ctx context.Context) error {
		conn, err := f.kafka.Dialer(0).DialContext(ctx, "tcp", f.kafka.Brokers[0])
		if err != nil {
			return f.kafka.Explain(err)
		}
		defer conn.Close()
		ps, err := conn.ReadPartitions(f.cfg.TopicCollect)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return errors.New("no partitions")
		}
		n = len(ps)
		return nil
	})
	return n, err
}

// sleep waits d, or until ctx ends or the sources change; it reports whether ctx is still on.
func (f *fetcher) sleep(ctx context.Context, d time.Duration, changed <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-changed:
	case <-t.C:
	}
	return true
}
