// Package sink is the service that loads events and detections into ClickHouse. It inserts
// in batches (by size and by time) and commits Kafka offsets only after the insert
// succeeded; a redelivered message becomes a duplicate row that the ReplacingMergeTree
// tables fold away and the dashboard queries (FINAL) never count twice. Every insert is
// counted (chstore.Send), and each event's end-to-end lag (metrics.EventLag).
package sink

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/parallel"
	"github.com/trailstream/trailstream/pkg/registry"
	"github.com/trailstream/trailstream/pkg/retention"
)

// Run migrates the schema, then loads until ctx is cancelled, and keeps the tables to
// --retention at start and hourly (retention.Run). Its metrics and health are
// served on --metrics-addr; it is ready when Kafka and ClickHouse answer.
func Run(ctx context.Context, cfg config.Config) error {
	return metrics.Serve(ctx, cfg.MetricsAddr, "sink", []*metrics.Group{metrics.Stage, metrics.Kafka, metrics.ClickHouse, metrics.Sink},
		func(ctx context.Context, p *metrics.Part) error { return run(ctx, cfg, p) })
}

func run(ctx context.Context, cfg config.Config, p *metrics.Part) error {
	log := slog.Default().With("service", "sink")
	kc, err := kafkautil.NewCluster(cfg)
	if err != nil {
		return err
	}
	p.Check("kafka", kafkautil.ReadyCheck(kc))
	chCheck := chstore.NewReadyCheck(chstore.OptionsOf(cfg))
	defer chCheck.Close()
	p.Check("clickhouse", chCheck.Check)
	conn, err := chstore.ConnectMigrated(ctx, chstore.OptionsOf(cfg), cfg.ClickHouseDatabase, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer conn.Close()
	if err := kafkautil.EnsureTopics(ctx, kc, cfg.Partitions, cfg.TopicEvents, cfg.TopicDetections, cfg.TopicDeadLetter); err != nil {
		return backoff.Stopped(ctx, err)
	}
	dead, err := kafkautil.OpenWriter(ctx, kc, cfg.TopicDeadLetter, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer dead.Close()
	serde, err := registry.Open(cfg, log)
	if err != nil {
		return err
	}
	if serde != nil {
		p.Check("schema-registry", serde.Check)
	}
	loaders := []struct {
		name   string
		topic  string
		insert func(context.Context, []kafka.Message) ([]deadletter.Entry, error)
	}{
		{"events", cfg.TopicEvents, func(ctx context.Context, msgs []kafka.Message) ([]deadletter.Entry, error) {
			return InsertEventsWith(ctx, conn, cfg.ClickHouseDatabase, serde, msgs)
		}},
		{"detections", cfg.TopicDetections, func(ctx context.Context, msgs []kafka.Message) ([]deadletter.Entry, error) {
			return InsertDetectionsWith(ctx, conn, cfg.ClickHouseDatabase, serde, msgs)
		}},
	}
	batches := metrics.ForStage("sink")
	fns := make([]func(context.Context) error, len(loaders))
	for i, l := range loaders {
		fns[i] = func(ctx context.Context) error {
			r := kafkautil.NewReader(kc, cfg.GroupPrefix+"-sink-"+l.name, l.topic)
			defer r.Close()
			log := log.With("topic", l.topic)
			log.Info("loading", "database", cfg.ClickHouseDatabase)
			return kafkautil.ConsumeBatches(ctx, r, cfg.BatchSize, cfg.BatchWait, log, func(ctx context.Context, msgs []kafka.Message) error {
				start := time.Now()
				bad, err := l.insert(ctx, msgs)
				if err != nil {
					return err
				}
				if err := deadletter.Write(ctx, dead, bad, log); err != nil {
					return err
				}
				batches.Batch(len(msgs), len(msgs)-len(bad), time.Since(start))
				return nil
			})
		}
	}
	fns = append(fns, func(ctx context.Context) error {
		return retention.Run(ctx, conn, cfg.ClickHouseDatabase, cfg.ClickHouseCluster, cfg.Retention.Duration(), retention.Interval, log)
	})
	p.Ready()
	return parallel.Run(ctx, fns...)
}

// InsertEvents decodes Avro events and inserts them into db.events in one batch. Messages
// that do not decode, or whose time a DateTime column cannot hold, come back as dead-letter
// messages. The lag of the events inserted is added to metrics.EventLag. It reads the
// single-object encoding only; InsertEventsWith reads the Confluent wire format too.
func InsertEvents(ctx context.Context, conn driver.Conn, db string, msgs []kafka.Message) (dead []deadletter.Entry, err error) {
	return InsertEventsWith(ctx, conn, db, nil, msgs)
}

// InsertEventsWith is InsertEvents for messages in either framing: serde first resolves
// the schema IDs of those in the Confluent wire format, waiting while the registry does not
// answer (an error then is ctx's, and nothing was inserted); an ID whose schema is not the
// event schema's sends its message to the dead letters.
func InsertEventsWith(ctx context.Context, conn driver.Conn, db string, serde *registry.Serde, msgs []kafka.Message) (dead []deadletter.Entry, err error) {
	if err := serde.Resolve(ctx, msgs); err != nil {
		return nil, err
	}
	lag, now := metrics.EventLag.Tally(), time.Now()
	dead, err = insert(ctx, conn, db+".events", model.EventFields(), msgs, func(b []byte, row []any) ([]any, error) {
		e, _, err := serde.DecodeEvent(b)
		if err != nil {
			return nil, deadletter.Because(deadletter.KindDecode, err)
		}
		if err := inDateTimeRange("event_time", e.EventTime); err != nil {
			return nil, err
		}
		lag.Since(now, e.EventTime)
		return e.Values(row), nil
	})
	if err == nil {
		lag.Add()
	}
	return dead, err
}

// InsertDetections decodes Avro detections and inserts them into db.detections in one batch.
// Messages that do not decode, or whose times a DateTime column cannot hold, come back as
// dead-letter messages. It reads the single-object encoding only; InsertDetectionsWith reads
// the Confluent wire format too.
func InsertDetections(ctx context.Context, conn driver.Conn, db string, msgs []kafka.Message) (dead []deadletter.Entry, err error) {
	return InsertDetectionsWith(ctx, conn, db, nil, msgs)
}

// InsertDetectionsWith is InsertDetections for messages in either framing, as
// InsertEventsWith is for events.
func InsertDetectionsWith(ctx context.Context, conn driver.Conn, db string, serde *registry.Serde, msgs []kafka.Message) (dead []deadletter.Entry, err error) {
	if err := serde.Resolve(ctx, msgs); err != nil {
		return nil, err
	}
	return insert(ctx, conn, db+".detections", model.DetectionFields(), msgs, func(b []byte, row []any) ([]any, error) {
		d, err := serde.DecodeDetection(b)
		if err != nil {
			return nil, deadletter.Because(deadletter.KindDecode, err)
		}
		for _, c := range []struct {
			name string
			t    time.Time
		}{{"first_time", d.FirstTime}, {"last_time", d.LastTime}, {"detected_at", d.DetectedAt}} {
			if err := inDateTimeRange(c.name, c.t); err != nil {
				return nil, err
			}
		}
		return d.Values(row), nil
	})
}

// What a ClickHouse DateTime column holds: seconds since the epoch as a UInt32. The client
// would wrap a time outside silently.
var (
	dateTimeMin = time.Unix(0, 0).UTC()
	dateTimeMax = time.Unix(math.MaxUint32, 0).UTC()
)

// inDateTimeRange returns an error naming column when t is out of the range of a DateTime.
func inDateTimeRange(column string, t time.Time) error {
	if t.Before(dateTimeMin) || t.After(dateTimeMax) {
		return deadletter.Because(deadletter.KindTimeRange, fmt.Errorf("%s %s is out of the range a ClickHouse DateTime holds (%s to %s)", column,
			t.UTC().Format(time.RFC3339Nano), dateTimeMin.Format(time.RFC3339), dateTimeMax.Format(time.RFC3339)))
	}
	return nil
}

// insert decodes each message into a row of columns and inserts the rows into table in one
// batch. The columns are named explicitly, as ClickHouse 18.16 needs.
func insert(ctx context.Context, conn driver.Conn, table string, columns []string, msgs []kafka.Message,
	decode func(msg []byte, row []any) ([]any, error)) (dead []deadletter.Entry, err error) {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+strings.Join(columns, ", ")+")")
	if err != nil {
		chstore.InsertFailed(table)
		return nil, fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	defer b.Abort()
	row := make([]any, 0, len(columns))
	for _, m := range msgs {
		row, err = decode(m.Value, row[:0])
		if err != nil {
			dead = append(dead, deadletter.FromMessage("sink", m, err))
			continue
		}
		if err := b.Append(row...); err != nil {
			chstore.InsertFailed(table)
			return nil, fmt.Errorf("append a row to %s: %w", table, err)
		}
	}
	if err := chstore.Send(b, table); err != nil {
		return nil, fmt.Errorf("insert into %s: %w", table, err)
	}
	return dead, nil
}
