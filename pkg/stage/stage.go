// Package stage runs one step of the pipeline between Kafka topics: it consumes a topic in a
// consumer group, turns each batch into output messages and dead letters, and commits the
// batch only once Kafka acknowledged both. Each batch handled is counted under the stage's
// name (metrics.ForStage): records in and out, its size and how long it took.
package stage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
)

// Config names a stage's topics and consumer group and sizes its batches.
type Config struct {
	Name       string // the stage's name in its dead letters
	Kafka      kafkautil.Cluster
	Partitions int // of the topics the stage creates when they do not exist
	Group      string
	From, To   string
	DeadLetter string
	BatchSize  int
	BatchWait  time.Duration
	// Hold, when set, keeps commits back where the stage still holds state (see
	// kafkautil.ConsumeHolding).
	Hold kafkautil.Hold
	// Written, when set, is called after the output and dead letters of a batch were
	// acknowledged, before its offsets are committed.
	Written func()
	// Prepare, when set, is called with each batch before Transform, to fetch what
	// decoding it needs (registry.Serde.Resolve); an error fails the batch, which is handed
	// in again.
	Prepare func(context.Context, []kafka.Message) error
}

// Output is a message for the output topic and the input it was made from.
type Output struct {
	Message kafka.Message
	Input   int // index of the input message in the batch
}

// Transform turns a batch into the messages for the output topic and dead letters. When
// writing them fails, the same batch is handed in again.
type Transform func(msgs []kafka.Message) (out []Output, dead []deadletter.Entry)

// Run runs the stage until ctx is cancelled, then returns nil. An output message the
// output topic can never take (too large for it) sends its input to the dead-letter topic
// with the reason; the rest of the batch goes on.
func Run(ctx context.Context, c Config, log *slog.Logger, transform Transform) error {
	if err := kafkautil.EnsureTopics(ctx, c.Kafka, c.Partitions, c.From, c.To, c.DeadLetter); err != nil {
		return backoff.Stopped(ctx, err)
	}
	w, err := kafkautil.OpenWriter(ctx, c.Kafka, c.To, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer w.Close()
	dead, err := kafkautil.OpenWriter(ctx, c.Kafka, c.DeadLetter, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer dead.Close()
	r := kafkautil.NewReader(c.Kafka, c.Group, c.From)
	defer r.Close()
	batches := metrics.ForStage(c.Name)
	return kafkautil.ConsumeHolding(ctx, r, c.BatchSize, c.BatchWait, log, func(ctx context.Context, msgs []kafka.Message) error {
		start := time.Now()
		if c.Prepare != nil {
			if err := c.Prepare(ctx, msgs); err != nil {
				return err
			}
		}
		out, bad := transform(msgs)
		outMsgs := make([]kafka.Message, len(out))
		for i, o := range out {
			outMsgs[i] = o.Message
		}
		rejected, err := w.Write(ctx, outMsgs...)
		if err != nil {
			return fmt.Errorf("write %s: %w", c.To, err)
		}
		for _, r := range rejected {
			bad = append(bad, deadletter.FromMessage(c.Name, msgs[out[r.Index].Input], deadletter.Because(deadletter.KindRejected, r.Err)))
		}
		if err := deadletter.Write(ctx, dead, bad, log); err != nil {
			return err
		}
		batches.Batch(len(msgs), len(out)-len(rejected), time.Since(start))
		if c.Written != nil {
			c.Written()
		}
		return nil
	}, c.Hold)
}
