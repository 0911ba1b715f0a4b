// Package kafkautil holds the Kafka plumbing every service shares: writers and readers with
// trailstream's delivery settings (writers that fit the topic's size limit), topic creation, the batch-consume loop that commits only
// after a batch was handled, and the embedded broker of the single-process mode. Writers and
// the consume loop record their metrics (pkg/metrics: messages produced, consumer lag).
package kafkautil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/metrics"
)

// TopicMaxMessageBytes is the max.message.bytes of the topics trailstream creates: 8 MiB,
// eight times Kafka's default. A CloudTrail record is rarely above 100 KB, but requests
// with large policies or many resources reach megabytes, and every record must fit in one
// message; an event is its raw record plus under 2 KB of fields. A message larger still
// is dead-lettered with its origin. Topics created beforehand keep their own limit, which
// writers read and respect.
const TopicMaxMessageBytes = 8 << 20

// EnsureTopics creates the topics that do not exist yet, with partitions partitions and
// TopicMaxMessageBytes. It waits, saying so, while Kafka does not answer; a refused
// sign-in or TLS handshake ends it (see Cluster.Explain).
func EnsureTopics(ctx context.Context, c Cluster, partitions int, topics ...string) error {
	log := slog.Default().With("brokers", c.String())
	return backoff.Retry(ctx, log, fmt.Sprintf("create topics %v", topics), backoff.Start, func(ctx context.Context) error {
		return c.Explain(createTopics(ctx, c, partitions, topics))
	})
}

// EnsureCompactedTopics is EnsureTopics for topics that keep the last message of each key
// (cleanup.policy compact) for at least retention, such as a ledger read back in full at
// start: messages older than retention are deleted too (compact,delete), so a topic of
// unique keys stays bounded. A topic that exists already keeps its own policy.
func EnsureCompactedTopics(ctx context.Context, c Cluster, partitions int, retention time.Duration, topics ...string) error {
	log := slog.Default().With("brokers", c.String())
	return backoff.Retry(ctx, log, fmt.Sprintf("create compacted topics %v", topics), backoff.Start, func(ctx context.Context) error {
		return c.Explain(createTopics(ctx, c, partitions, topics,
			kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact,delete"},
			kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(retention.Milliseconds(), 10)}))
	})
}

func createTopics(ctx context.Context, c Cluster, partitions int, topics []string, extra ...kafka.ConfigEntry) error {
	var (
		conn *kafka.Conn
		err  error
	)
	if len(c.Brokers) == 0 {
		return backoff.Permanent(errors.New("no Kafka brokers configured (--kafka-brokers)"))
	}
	dialer := c.Dialer(10 * time.Second)
	for _, b := range c.Brokers {
		if conn, err = dialer.DialContext(ctx, "tcp", b); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("connect to Kafka %v: %w", c.Brokers, err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("find Kafka controller: %w", err)
	}
	cc, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("connect to Kafka controller: %w", err)
	}
	defer cc.Close()
	cfgs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		cfgs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: -1,
			ConfigEntries: append([]kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(TopicMaxMessageBytes)}}, extra...)}
	}
	if err := cc.CreateTopics(cfgs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return classify(fmt.Errorf("create topics %v: %w", topics, err))
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
	return consume(ctx, r, size, wait, log, handle, hold, false)
}

// ConsumeOpen is ConsumeHolding for a handler that keeps work open across batches (the
// sink's inserts, which hold back commits with hold until they end): when no message comes
// within wait of a batch, it calls handle once with no messages, so that the handler ends
// what it holds open instead of waiting for the next message. Once hold lets a partition go,
// it is committed up to its last message handled, whichever batch that was in.
func ConsumeOpen(ctx context.Context, r *kafka.Reader, size int, wait time.Duration, log *slog.Logger, handle Handler, hold Hold) error {
	return consume(ctx, r, size, wait, log, handle, hold, true)
}

func consume(ctx context.Context, r *kafka.Reader, size int, wait time.Duration, log *slog.Logger, handle Handler, hold Hold, idle bool) error {
	topic := r.Config().Topic
	batch := make([]kafka.Message, 0, size)
	cm := newConsumerMetrics(r.Config().GroupID, topic)
	defer cm.forget()
	handled := false                // a batch was handled and no message has come since
	held := map[int]kafka.Message{} // ConsumeOpen: partitions whose commit hold kept back
	commitsOf := func(batch []kafka.Message) []kafka.Message {
		if idle {
			return heldCommits(batch, hold, held)
		}
		return commits(batch, hold)
	}
	for {
		batch = batch[:0]
		if idle && handled {
			fill, cancel := context.WithTimeout(ctx, wait)
			m, err := r.FetchMessage(fill)
			cancel()
			switch {
			case err == nil:
				batch = append(batch, m)
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, context.DeadlineExceeded):
				handled = false
				if err := backoff.Retry(ctx, log, "end the open work of "+topic, backoff.Default, func(ctx context.Context) error {
					return handle(ctx, nil)
				}); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				if err := commit(ctx, r, commitsOf(nil), log, cm.givenUp); err != nil {
					return err
				}
				continue
			}
		}
		if len(batch) == 0 {
			var m kafka.Message
			err := backoff.Retry(ctx, log, "read "+topic, backoff.Default, func(ctx context.Context) error {
				var err error
				m, err = r.FetchMessage(ctx)
				return classifyRead(explainReader(r, err))
			})
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("read %s: %w", topic, err)
			}
			batch = append(batch, m)
		}
		fill, cancel := context.WithTimeout(ctx, wait)
		for len(batch) < size {
			m, err := r.FetchMessage(fill)
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		cancel()
		if err := backoff.Retry(ctx, log, "handle a batch of "+topic, backoff.Default, func(ctx context.Context) error {
			err := handle(ctx, batch)
			if err != nil && ctx.Err() == nil {
				cm.failed.Inc()
			}
			return err
		}); err != nil {
			if ctx.Err() != nil {
				return nil // the uncommitted batch is read again by whoever takes over
			}
			return err
		}
		cm.handled(batch) // the position processed, whatever the commit holds back
		if err := commit(ctx, r, commitsOf(batch), log, cm.givenUp); err != nil {
			return err
		}
		handled = true
	}
}

// heldCommits is commits for ConsumeOpen: the partitions of batch, and those of earlier
// batches whose commit hold kept back (held: the last message handled of each), each up to
// where hold says, or to its last message once hold lets it go.
func heldCommits(batch []kafka.Message, hold Hold, held map[int]kafka.Message) []kafka.Message {
	for _, m := range batch {
		if h, ok := held[m.Partition]; !ok || m.Offset > h.Offset {
			held[m.Partition] = kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
		}
	}
	out := make([]kafka.Message, 0, len(held))
	for part, m := range held {
		if hold != nil {
			if off, ok := hold(part); ok && off <= m.Offset {
				m.Offset = off - 1
				out = append(out, m)
				continue
			}
		}
		out = append(out, m)
		delete(held, part)
	}
	return out
}

// consumerMetrics are a consumer's metrics: the lag of every partition it handled a batch
// of, its failed batches and its commits given up.
type consumerMetrics struct {
	group, topic    string
	failed, givenUp prometheus.Counter
	parts           map[int]prometheus.Gauge
	last            []position // of the batch being handled, reused
}

func newConsumerMetrics(group, topic string) *consumerMetrics {
	return &consumerMetrics{group: group, topic: topic, parts: map[int]prometheus.Gauge{},
		failed:  metrics.ConsumerBatchErrors.WithLabelValues(group, topic),
		givenUp: metrics.CommitsGivenUp.WithLabelValues(group, topic)}
}

// handled sets, for each partition of batch, the messages after the batch's last one: the
// partition's high watermark, as its fetch answered, less the offset after that message.
func (l *consumerMetrics) handled(batch []kafka.Message) {
	l.last = l.last[:0]
	at := -1 // the entry of the partition of the message before: a fetch brings runs of one partition
	for i := range batch {
		m := &batch[i]
		if at < 0 || l.last[at].partition != m.Partition {
			at = slices.IndexFunc(l.last, func(p position) bool { return p.partition == m.Partition })
			if at < 0 {
				l.last = append(l.last, position{partition: m.Partition, offset: -1})
				at = len(l.last) - 1
			}
		}
		if p := &l.last[at]; m.Offset > p.offset {
			p.offset, p.watermark = m.Offset, m.HighWaterMark
		}
	}
	for _, p := range l.last {
		g, ok := l.parts[p.partition]
		if !ok {
			g = metrics.ConsumerLag.WithLabelValues(l.group, l.topic, strconv.Itoa(p.partition))
			l.parts[p.partition] = g
		}
		g.Set(float64(max(0, p.watermark-p.offset-1)))
	}
}

// position is the last message of a partition in a batch.
type position struct {
	partition         int
	offset, watermark int64
}

// forget removes the consumer's lag gauges: once it stopped, another consumer reports them.
func (l *consumerMetrics) forget() {
	for p := range l.parts {
		metrics.ConsumerLag.DeleteLabelValues(l.group, l.topic, strconv.Itoa(p))
	}
}

// classifyRead marks the read errors that retrying cannot cure as permanent: the reader
// was closed, or the group or topic is not authorized. Every other error (a broker
// restarting, a connection timing out, a rebalance) passes: the reader reconnects by itself.
func classifyRead(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
		return backoff.Permanent(err)
	}
	return classify(err)
}

// explainReader is Cluster.Explain for a reader's error.
func explainReader(r *kafka.Reader, err error) error {
	if err == nil {
		return nil
	}
	rc := r.Config()
	var m sasl.Mechanism
	if rc.Dialer != nil {
		m = rc.Dialer.SASLMechanism
	}
	return explain(err, rc.Brokers, m)
}

// commit commits the offsets of a handled batch. It is done even when ctx was cancelled
// meanwhile, so that a shutdown does not hand the batch to the next reader again, and it
// is retried for a while; offsets that cannot be committed then (the partitions went to
// another reader in a rebalance, the broker stayed away) are given up with a warning:
// their messages are read again, which the stages downstream make harmless. Only a
// permanent error ends the consumer.
func commit(ctx context.Context, r *kafka.Reader, msgs []kafka.Message, log *slog.Logger, givenUp prometheus.Counter) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	err := backoff.Retry(cctx, log, "commit offsets of "+r.Config().Topic, backoff.Default, func(cctx context.Context) error {
		return classifyRead(explainReader(r, r.CommitMessages(cctx, msgs...)))
	})
	switch {
	case err == nil:
		return nil
	case backoff.IsPermanent(err) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe):
		return fmt.Errorf("commit %s offsets: %w", r.Config().Topic, err)
	default:
		givenUp.Inc()
		log.Warn("offsets of a handled batch not committed; its messages will be read again", "topic", r.Config().Topic, "messages", len(msgs), "err", err)
		return nil
	}
}

// commitTimeout bounds how long the commit of a handled batch is tried.
const commitTimeout = 30 * time.Second

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
