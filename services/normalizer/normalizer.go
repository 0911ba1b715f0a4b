// Package normalizer is the service that turns raw CloudTrail records (cloudtrail.raw) into
// normalized Avro events (cloudtrail.events, keyed by account ID). A record that cannot be
// normalized goes to the dead-letter topic with the reason.
package normalizer

import (
	"context"
	"log/slog"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/registry"
	"github.com/trailstream/trailstream/pkg/stage"
)

// Run normalizes until ctx is cancelled. Offsets of cloudtrail.raw are committed only after
// the events (and dead letters) of a batch were acknowledged by Kafka. Its metrics and health
// are served on --metrics-addr; it is ready when Kafka answers (ClickHouse, where the
// uploaded admin users are read from, is not needed to normalize).
func Run(ctx context.Context, cfg config.Config) error {
	return metrics.Serve(ctx, cfg.MetricsAddr, "normalizer", []*metrics.Group{metrics.Stage, metrics.Kafka}, func(ctx context.Context, p *metrics.Part) error {
		return run(ctx, cfg, p)
	})
}

func run(ctx context.Context, cfg config.Config, p *metrics.Part) error {
	log := slog.Default().With("service", "normalizer")
	kc, err := kafkautil.NewCluster(cfg)
	if err != nil {
		return err
	}
	p.Check("kafka", kafkautil.ReadyCheck(kc))
	n, closeN, err := newNormalizer(ctx, cfg, true, log)
	if err != nil {
		return err
	}
	defer closeN()
	serde, err := registry.Open(cfg, log)
	if err != nil {
		return err
	}
	if serde != nil {
		p.Check("schema-registry", serde.Check)
	}
	if err := serde.RegisterEvents(ctx, cfg.TopicEvents); err != nil {
		return backoff.Stopped(ctx, err)
	}
	log.Info("normalizing", "from", cfg.TopicRaw, "to", cfg.TopicEvents, "schema_registry", cfg.SchemaRegistryURL)
	p.Ready()
	return stage.Run(ctx, stage.Config{
		Name: "normalizer", Kafka: kc, Partitions: cfg.Partitions, Group: cfg.GroupPrefix + "-normalizer",
		From: cfg.TopicRaw, To: cfg.TopicEvents, DeadLetter: cfg.TopicDeadLetter,
		BatchSize: cfg.BatchSize, BatchWait: cfg.BatchWait,
	}, log, func(msgs []kafka.Message) ([]stage.Output, []deadletter.Entry) { return batch(n, serde, msgs) })
}

// batch normalizes raw messages into event messages, framed by serde; those it cannot
// normalize come back as dead letters. The environment header of a message, set by the fetcher that read it,
// wins over the normalizer's own. An event carries the headers of its raw message, so that
// whoever cannot process it later can say which file it came from.
func batch(n *normalize.Normalizer, serde *registry.Serde, msgs []kafka.Message) (events []stage.Output, dead []deadletter.Entry) {
	events = make([]stage.Output, 0, len(msgs))
	for i, m := range msgs {
		nm := *n
		for _, h := range m.Headers {
			if h.Key == "environment" {
				nm.Environment = string(h.Value)
			}
		}
		e, err := nm.Normalize(m.Value)
		var v []byte
		if err == nil {
			v, err = serde.EncodeEvent(nil, e)
		}
		if err != nil {
			dead = append(dead, deadletter.FromMessage("normalizer", m, deadletter.Because(deadletter.KindNormalize, err)))
			continue
		}
		events = append(events, stage.Output{Message: kafka.Message{Key: []byte(e.AccountID), Value: v, Headers: m.Headers}, Input: i})
	}
	return events, dead
}
