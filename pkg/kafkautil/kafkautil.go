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

// NewReader returns a consumer-group reader of topic. Offsets are committed explicitly
// (see ConsumeBatches); a new group starts from the oldest message.
func NewReader(brokers []string, group, topic string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:        brokers,
		GroupID:        group,
		Topic:          topic,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        100 * time.Millisecond,
		StartOffset:    kafka.FirstOffset,
		CommitInterval: 0,
	})
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
		if err := r.CommitMessages(ctx, batch...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("commit %s offsets: %w", r.Config().Topic, err)
		}
	}
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
