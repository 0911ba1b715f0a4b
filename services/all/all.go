// Package all runs every trailstream service in one process, for a single machine (the
// notifier when at least one --alert-webhook is configured). With no
// Kafka brokers configured it starts an embedded, in-memory Kafka-protocol broker on
// 127.0.0.1:9092: fine for demos and trials, not durable. It keeps what the services have
// not yet committed, and drops the rest every second; the fetcher waits while it holds
// embeddedHeld bytes, so that a backlog stays in S3 and SQS.
package all

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/parallel"
	"github.com/trailstream/trailstream/services/console"
	"github.com/trailstream/trailstream/services/detector"
	"github.com/trailstream/trailstream/services/fetcher"
	"github.com/trailstream/trailstream/services/normalizer"
	"github.com/trailstream/trailstream/services/notifier"
	"github.com/trailstream/trailstream/services/sink"
)

// EmbeddedPort is where the embedded broker listens when no brokers are configured.
const EmbeddedPort = 9092

// embeddedPort is EmbeddedPort, moved by tests.
var embeddedPort = EmbeddedPort

// trimInterval is how often the embedded broker drops what every consumer has committed.
const trimInterval = time.Second

// embeddedHeld is how many bytes of message batches (lz4-compressed) the embedded broker
// may hold in the topics its consumers read before the fetcher waits to read a file.
const embeddedHeld = 64 << 20

// deadLettersHeld is how many bytes of the dead-letter topic the embedded broker keeps, the
// newest: no service reads that topic, so without a limit it would grow for as long as the
// process runs.
const deadLettersHeld = 64 << 20

// consumers are the consumer groups of the services all runs, by the topic they read: the
// embedded broker drops what all of a topic's groups have committed, so that its memory
// holds what they still need, not everything the run has seen.
func consumers(cfg config.Config) map[string][]string {
	detections := []string{cfg.GroupPrefix + "-sink-detections"}
	if len(cfg.AlertWebhooks) > 0 {
		detections = append(detections, cfg.GroupPrefix+"-notifier")
	}
	return map[string][]string{
		cfg.TopicRaw:        {cfg.GroupPrefix + "-normalizer"},
		cfg.TopicEvents:     {cfg.GroupPrefix + "-detector", cfg.GroupPrefix + "-sink-events"},
		cfg.TopicDetections: detections,
	}
}

// Run runs every service until ctx is cancelled or one of them fails, which stops the rest.
// One endpoint on --metrics-addr serves the metrics and health of every part.
func Run(ctx context.Context, cfg config.Config) error {
	return metrics.Serve(ctx, cfg.MetricsAddr, "all", nil, func(ctx context.Context, p *metrics.Part) error {
		p.Ready() // the parts say when they are
		return run(ctx, cfg, metrics.FromContext(ctx))
	})
}

func run(ctx context.Context, cfg config.Config, ep *metrics.Endpoint) error {
	log := slog.Default().With("service", "all")
	type service struct {
		name string
		run  func(context.Context, config.Config) error
	}
	var fetched fetcher.Options // with the embedded broker, its wait for the broker's memory
	services := []service{
		{"sink", sink.Run}, {"detector", detector.Run}, {"normalizer", normalizer.Run},
		{"fetcher", func(ctx context.Context, cfg config.Config) error { return fetcher.RunWith(ctx, cfg, fetched) }},
		{"console", console.Run},
	}
	if len(cfg.AlertWebhooks) > 0 {
		services = append(services, service{"notifier", notifier.Run})
	}
	for _, s := range services {
		ep.Expect(s.name) // not ready before every part is
	}
	if len(cfg.Brokers()) == 0 {
		if cfg.KafkaTLS.On() {
			return errors.New("the embedded Kafka broker serves no TLS: give --kafka-brokers, or drop the --kafka-tls options")
		}
		var opts []kafkautil.EmbeddedOption
		if cfg.KafkaSASL.Mechanism != "" { // the embedded broker requires the configured sign-in
			if err := cfg.KafkaSASL.Check(); err != nil {
				return err
			}
			opts = append(opts, kafkautil.RequireSASL(cfg.KafkaSASL))
		}
		k, err := kafkautil.StartEmbedded(embeddedPort, cfg.Partitions, opts...)
		if err != nil {
			return err
		}
		defer k.Close()
		listed := consumers(cfg)
		go k.Trim(ctx, trimInterval, listed, map[string]int64{cfg.TopicDeadLetter: deadLettersHeld}, log)
		// The fetcher reads files faster than the normalizer follows: without a bound, a
		// backlog (a backfill of months) would all wait in the broker's memory.
		fetched.Wait = k.WaitBelow(embeddedHeld, slices.Collect(maps.Keys(listed))...)
		cfg.KafkaBrokers = k.Brokers()[0]
		// The broker copies every batch it stores and serves, in this process: lz4 made
		// trailstream all faster than no compression (15 s against 20 s for 200,000 records,
		// make bench-pipeline) and than snappy (15.2 s), and smaller (680 MiB against 1,980 and
		// 875 at its peak).
		cfg.KafkaCompression = "lz4"
		// The detector holds its commits back so that a restarted detector reads again the
		// events its rules hold state from; the embedded broker's messages end with this
		// process, so there is nothing to read again, and the broker would keep every event
		// of the replay horizon in memory (100,000 events held 500 MiB after they were all
		// loaded). It commits what it has read.
		cfg.ReplayLimit = 0
		log.Warn("no --kafka-brokers given: started the embedded Kafka broker; it keeps messages in memory only, and the detector's state does not outlive the process",
			"brokers", cfg.KafkaBrokers, "sasl", cfg.KafkaSASL.Mechanism)
	}
	kc, err := kafkautil.NewCluster(cfg)
	if err != nil {
		return err
	}
	if err := kafkautil.EnsureTopics(ctx, kc, cfg.Partitions,
		cfg.TopicRaw, cfg.TopicEvents, cfg.TopicDetections, cfg.TopicDeadLetter); err != nil {
		return err
	}
	fns := make([]func(context.Context) error, len(services))
	for i, s := range services {
		fns[i] = func(ctx context.Context) error {
			if err := s.run(ctx, cfg); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		}
	}
	return parallel.Run(ctx, fns...)
}
