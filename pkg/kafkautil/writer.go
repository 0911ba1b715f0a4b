package kafkautil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/metrics"
)

// NewWriter returns a bare kafka-go writer to topic with trailstream's delivery settings:
// every in-sync replica acknowledges, messages spread over partitions by key hash, batches
// wait at most 10 ms and are compressed with the cluster's codec. It knows nothing of the topic's size limit; services produce through
// a Writer (OpenWriter), which does. Each writer has connections and cluster metadata of its
// own: kafka-go's shared default transport keeps metadata for seconds, and would answer a
// writer to a topic created meanwhile that the topic does not exist.
func NewWriter(c Cluster, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Transport:    c.Transport(),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		BatchSize:    1000,
		BatchBytes:   16 << 20,
		Compression:  c.Compression,
	}
}

// Writer produces to one topic in batches that fit the topic's max.message.bytes by
// construction, retries what fails for passing reasons, and hands back the messages that no
// retry can deliver. It is safe for concurrent use.
//
// A broker measures max.message.bytes against each record batch it receives: the
// records of one partition in one produce request, after compression. The writer caps
// the uncompressed size of a batch, as kafka-go counts it (which is never less than the
// encoded records), a little below the limit, which leaves room for the batch header and
// for compression that does not pay. A single message over that cap can never be
// written: it is rejected at once instead of failing the batch it is in.
type Writer struct {
	w       *kafka.Writer
	cluster Cluster
	limit   int // the topic's max.message.bytes
	log     *slog.Logger

	produced, failed, refused prometheus.Counter // the topic's metrics
}

// Rejected is a message that no retry can deliver.
type Rejected struct {
	Index int // of the message among those given to Write
	Err   error
}

// OpenWriter returns a Writer to topic, which must exist; it reads the topic's
// max.message.bytes from the cluster, waiting while Kafka does not answer.
func OpenWriter(ctx context.Context, c Cluster, topic string, log *slog.Logger) (*Writer, error) {
	var limit int
	err := backoff.Retry(ctx, log, "read the message size limit of "+topic, backoff.Start, func(ctx context.Context) error {
		var err error
		limit, err = topicLimit(ctx, c, topic)
		return c.Diagnose(ctx, err)
	})
	if err != nil {
		return nil, err
	}
	return newSizedWriter(c, topic, limit, log), nil
}

func newSizedWriter(c Cluster, topic string, limit int, log *slog.Logger) *Writer {
	w := NewWriter(c, topic)
	w.BatchBytes = int64(batchBytes(limit))
	return &Writer{w: w, cluster: c, limit: limit, log: log.With("topic", topic),
		produced: metrics.ProducedMessages.WithLabelValues(topic), failed: metrics.ProduceErrors.WithLabelValues(topic),
		refused: metrics.RejectedMessages.WithLabelValues(topic)}
}

// batchBytes is the most message bytes, as kafka-go counts them, that one batch of a topic
// with the given max.message.bytes takes: 1/64 and 1 KiB below the limit.
func batchBytes(limit int) int {
	return limit - limit/64 - 1024
}

// topicLimit returns the max.message.bytes in force for topic: its own setting or the
// broker's default.
func topicLimit(ctx context.Context, c Cluster, topic string) (int, error) {
	cl := c.Client(10 * time.Second)
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	resp, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"max.message.bytes"},
	}}})
	if err != nil {
		return 0, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return 0, classify(fmt.Errorf("describe topic %s: %w", topic, r.Error))
		}
		for _, c := range r.ConfigEntries {
			if c.ConfigName == "max.message.bytes" {
				n, err := strconv.Atoi(c.ConfigValue)
				if err != nil || n < minTopicLimit {
					return 0, backoff.Permanent(fmt.Errorf("topic %s: max.message.bytes %q is not a size trailstream can write to (at least %d)", topic, c.ConfigValue, minTopicLimit))
				}
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("describe topic %s: the answer has no max.message.bytes", topic)
}

// minTopicLimit is the smallest max.message.bytes trailstream writes to.
const minTopicLimit = 64 << 10

// Topic returns the topic written to.
func (w *Writer) Topic() string { return w.w.Topic }

// MaxMessage returns the largest message, as Size counts it, that the topic takes.
func (w *Writer) MaxMessage() int { return int(w.w.BatchBytes) }

// Size returns the bytes m counts for against the topic's limit, as kafka-go counts them.
func Size(m kafka.Message) int {
	n := 4 + 1 + 1 + 4 + len(m.Key) + 4 + len(m.Value) + 8 + varintLen(len(m.Headers))
	for _, h := range m.Headers {
		n += varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value)
	}
	return n
}

func varintLen(n int) int {
	u := uint64(n) << 1 // zig-zag of a non-negative number
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

// Write produces msgs and returns once Kafka acknowledged every one of them or one was
// found undeliverable: too large for the topic, or refused by the broker as invalid.
// Those come back as rejected; the others are retried, alone, as long as they fail for a
// passing reason, so a message is not written again because another failed. err is ctx's
// error when ctx ended first (what was acknowledged by then is unknown), or a permanent
// error (the topic is not authorized, does not exist) that retrying cannot cure.
func (w *Writer) Write(ctx context.Context, msgs ...kafka.Message) (rejected []Rejected, err error) {
	max := w.MaxMessage()
	todo := make([]int, 0, len(msgs)) // indexes of msgs still to write
	for i, m := range msgs {
		if n := Size(m); n > max {
			rejected = append(rejected, Rejected{i, fmt.Errorf("message of %d bytes exceeds the %d bytes topic %s takes (max.message.bytes %d)", n, max, w.Topic(), w.limit)})
			continue
		}
		todo = append(todo, i)
	}
	alone := false // after a batch was refused as too large, write one message at a time
	acked := 0
	defer func() {
		w.produced.Add(float64(acked))
		w.refused.Add(float64(len(rejected)))
	}()
	err = backoff.Retry(ctx, w.log, "write to "+w.Topic(), backoff.Default, func(ctx context.Context) (err error) {
		defer func() {
			if err != nil {
				w.failed.Inc()
			}
		}()
		var failed []int
		var last error
		single := alone // this attempt writes one message at a time
		for _, part := range split(todo, single) {
			batch := make([]kafka.Message, len(part))
			for j, i := range part {
				batch[j] = msgs[i]
			}
			err := w.w.WriteMessages(ctx, batch...)
			if err == nil {
				acked += len(part)
				continue
			}
			if errors.As(err, new(kafka.MessageTooLargeError)) { // kafka-go's own check, before sending
				if len(part) == 1 {
					rejected = append(rejected, Rejected{part[0], fmt.Errorf("topic %s takes no message this large: %w", w.Topic(), err)})
					continue
				}
				alone, failed, last = true, append(failed, part...), err
				continue
			}
			var werrs kafka.WriteErrors
			if !errors.As(err, &werrs) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err := classify(w.cluster.Diagnose(ctx, err)); backoff.IsPermanent(err) {
					return err
				}
				failed, last = append(failed, part...), err
				continue
			}
			for j, e := range werrs {
				if e == nil {
					acked++
					continue
				}
				i := part[j]
				switch {
				case errors.Is(e, kafka.MessageSizeTooLarge) || errors.Is(e, kafka.RecordListTooLarge):
					if single {
						rejected = append(rejected, Rejected{i, fmt.Errorf("topic %s refused the message as too large: %w", w.Topic(), e)})
						continue
					}
					alone = true
				case errors.Is(e, kafka.InvalidRecord):
					rejected = append(rejected, Rejected{i, fmt.Errorf("topic %s refused the message: %w", w.Topic(), e)})
					continue
				}
				if err := classify(e); backoff.IsPermanent(err) {
					return err
				}
				failed, last = append(failed, i), e
			}
		}
		todo = failed
		if len(todo) > 0 {
			return fmt.Errorf("%d of %d messages not acknowledged: %w", len(todo), len(msgs), last)
		}
		return nil
	})
	return rejected, err
}

// split returns todo as one batch, or one batch per message when alone.
func split(todo []int, alone bool) [][]int {
	if !alone {
		return [][]int{todo}
	}
	out := make([][]int, len(todo))
	for i, t := range todo {
		out[i] = []int{t}
	}
	return out
}

// Close flushes and closes the writer and its connections.
func (w *Writer) Close() error {
	err := w.w.Close()
	w.w.Transport.(*kafka.Transport).CloseIdleConnections()
	return err
}

// classify marks the Kafka errors that retrying cannot cure as permanent: missing
// authorization, a topic that does not exist or cannot, a configuration the broker refuses.
func classify(err error) error {
	for _, code := range []kafka.Error{
		kafka.TopicAuthorizationFailed, kafka.GroupAuthorizationFailed, kafka.ClusterAuthorizationFailed,
		kafka.SASLAuthenticationFailed, kafka.InvalidTopic, kafka.InvalidRequiredAcks,
		kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState, kafka.UnsupportedVersion,
	} {
		if errors.Is(err, code) {
			return backoff.Permanent(err)
		}
	}
	return err
}
