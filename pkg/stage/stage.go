// Package stage runs one step of the pipeline between Kafka topics: it consumes a topic in a
// consumer group, turns each batch into output messages and dead letters, and commits the
// batch only once Kafka acknowledged both.
package stage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
)

// Config names a stage's topics and consumer group and sizes its batches.
type Config struct {
	Brokers    []string
	Partitions int // of the topics the stage creates when they do not exist
	Group      string
	From, To   string
	DeadLetter string
	BatchSize  int
	BatchWait  time.Duration
	// Hold, when set, keeps commits back where the stage still holds state (see
	// kafkautil.ConsumeHolding).
	Hold kafkautil.Hold
}

// Transform turns a batch into the messages for the output topic and dead letters. When
// writing them fails, the same batch is handed in again.
type Transform func(msgs []kafka.Message) (out, dead []kafka.Message)

// Run runs the stage until ctx is cancelled, then returns nil.
func Run(ctx context.Context, c Config, log *slog.Logger, transform Transform) error {
	if err := kafkautil.EnsureTopics(ctx, c.Brokers, c.Partitions, c.From, c.To, c.DeadLetter); err != nil {
		return err
	}
	r := kafkautil.NewReader(c.Brokers, c.Group, c.From)
	defer r.Close()
	w := kafkautil.NewWriter(c.Brokers, c.To)
	defer w.Close()
	dead := kafkautil.NewWriter(c.Brokers, c.DeadLetter)
	defer dead.Close()
	return kafkautil.ConsumeHolding(ctx, r, c.BatchSize, c.BatchWait, log, func(ctx context.Context, msgs []kafka.Message) error {
		out, bad := transform(msgs)
		if err := w.WriteMessages(ctx, out...); err != nil {
			return fmt.Errorf("write %s: %w", c.To, err)
		}
		return deadletter.Write(ctx, dead, bad, log)
	}, c.Hold)
}
