// Package kafkautil holds the Kafka plumbing every service shares: writers and readers with
// trailstream's delivery settings, topic creation, the batch-consume loop that commits only
// after a batch was handled, and the embedded broker of the single-process mode.
package kafkautil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// NewWriter returns a writer to topic that waits for every in-sync replica, spreads messages
// over partitions by key hash, and batches for at most 10 ms. WriteMessages returns only
// once Kafka acknowledged every message given.
func NewWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		BatchSize:    1000,
		BatchBytes:   16 << 20,
		Compression:  kafka.Snappy,
	}
}

// EnsureTopics creates the topics that do not exist yet.
func EnsureTopics(ctx context.Context, brokers []string, partitions int, topics ...string) error {
	var (
		conn *kafka.Conn
		err  error
	)
	for _, b := range brokers {
		if conn, err = (&kafka.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", b); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("connect to Kafka %v: %w", brokers, err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("find Kafka controller: %w", err)
	}
	cc, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("connect to Kafka controller: %w", err)
	}
	defer cc.Close()
	cfgs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		cfgs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: -1}
	}
	if err := cc.CreateTopics(cfgs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	return nil
}

// Handler handles one batch of messages. An error means the batch as a whole could not be
// handled for a passing reason (a server is down): it is retried, never skipped. Input
// that can never be handled belongs on the dead-letter topic, not in the error.
type Handler func(ctx context.Context, msgs []kafka.Message) error

// ConsumeBatches reads batches of up to size messages, waiting at most wait to fill one,
// hands each to handle and commits its offsets once handle succeeded. It returns when ctx
// is cancelled (nil) or the reader fails.
func ConsumeBatches(ctx context.Context, r *kafka.Reader, size int, wait time.Duration, log *slog.Logger, handle Handler) error {
	return ConsumeHolding(ctx, r, size, wait, log, handle, nil)
}

// Hold tells, after a batch was handled, from which offset a partition must be read again
// after a restart (ok true), because the handler still holds state built from the messages
// from there on.
type Hold func(partition int) (offset int64, ok bool)

// ConsumeHolding is ConsumeBatches for a stateful handler: after each batch it commits no
// further in a partition than hold says, so that whoever reads the partition next reads the
// messages the state was built from again. A nil hold holds nothing.
func ConsumeHolding(ctx context.Context, r *kafka.Reader, size int, wait time.Duration, log *slog.Logger, handle Handler, hold Hold) error {
	batch := make([]kafka.Message, 0, size)
	for {
		batch = batch[:0]
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read %s: %w", r.Config().Topic, err)
		}
		batch = append(batch, m)
		fill, cancel := context.WithTimeout(ctx, wait)
		for len(batch) < size {
			m, err := r.FetchMessage(fill)
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		cancel()
		if err := retry(ctx, log, func() error { return handle(ctx, batch) }); err != nil {
			return nil // ctx cancelled: the uncommitted batch is read again by whoever takes over
		}
		// A batch handled is committed even when ctx was cancelled meanwhile, so that a
		// shutdown does not hand it to the next reader again.
		cctx, cancelCommit := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		err = r.CommitMessages(cctx, commits(batch, hold)...)
		cancelCommit()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("commit %s offsets: %w", r.Config().Topic, err)
		}
	}
}

// commitTimeout bounds the commit of a handled batch during a shutdown.
const commitTimeout = 10 * time.Second

// commits returns, for each partition of batch, the message whose commit (its offset + 1)
// is the offset the partition is read from next: after the batch's last message, or where
// hold says.
func commits(batch []kafka.Message, hold Hold) []kafka.Message {
	if hold == nil {
		return batch
	}
	next := make(map[int]kafka.Message)
	for _, m := range batch {
		if n, ok := next[m.Partition]; !ok || m.Offset > n.Offset {
			next[m.Partition] = m
		}
	}
	out := make([]kafka.Message, 0, len(next))
	for part, m := range next {
		if off, ok := hold(part); ok && off <= m.Offset {
			m.Offset = off - 1
		}
		out = append(out, kafka.Message{Topic: m.Topic, Partition: part, Offset: m.Offset})
	}
	return out
}

// retry calls f until it succeeds or ctx is done, backing off from 100 ms to 10 s.
func retry(ctx context.Context, log *slog.Logger, f func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		log.Warn("batch failed, retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
