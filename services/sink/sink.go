// Package sink is the service that loads events and detections into ClickHouse. It inserts
// in batches (by size and by time) and commits Kafka offsets only after the insert
// succeeded; a redelivered message becomes a duplicate row that the ReplacingMergeTree
// tables fold away and the dashboard queries (FINAL) never count twice. Every insert is
// counted (chstore.Send), and each event's end-to-end lag (metrics.EventLag).
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
		name, topic, table string
		columns            []string
		rows               rowsFunc
	}{
		{"events", cfg.TopicEvents, cfg.ClickHouseDatabase + ".events", model.EventFields(), eventRows(serde)},
		{"detections", cfg.TopicDetections, cfg.ClickHouseDatabase + ".detections", model.DetectionFields(), detectionRows(serde)},
	}
	batches := metrics.ForStage("sink")
	fns := make([]func(context.Context) error, len(loaders))
	for i, l := range loaders {
		fns[i] = func(ctx context.Context) error {
			log := log.With("topic", l.topic)
			log.Info("loading", "database", cfg.ClickHouseDatabase)
			for {
				ld := &loader{cfg: cfg, in: newInserter(conn, l.table, l.columns), rows: l.rows, serde: serde, dead: dead, batches: batches, log: log}
				err := ld.run(ctx, kafkautil.NewReader(kc, cfg.GroupPrefix+"-sink-"+l.name, l.topic))
				if !errors.Is(err, errReplay) {
					return err
				}
				log.Warn("an insert holding the rows of earlier batches failed; reading them again from the offsets committed", "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		}
	}
	fns = append(fns, func(ctx context.Context) error {
		return retention.Run(ctx, conn, cfg.ClickHouseDatabase, cfg.ClickHouseCluster, cfg.Retention.Duration(), retention.Interval, log)
	})
	p.Ready()
	return parallel.Run(ctx, fns...)
}

// A loader loads one topic into its table: while batches arrive full it keeps one insert
// open across them (inserter), up to --insert-rows rows or ten times --batch-wait, and
// commits their offsets once the insert ended; a batch that is not full ends it at once.
type loader struct {
	cfg     config.Config
	in      *inserter
	rows    rowsFunc
	serde   *registry.Serde
	dead    *kafkautil.Writer
	batches metrics.StageBatch
	log     *slog.Logger
}

// run consumes with r (and closes it) until ctx ends or an insert holding the rows of
// earlier batches fails (errReplay).
func (l *loader) run(ctx context.Context, r *kafka.Reader) error {
	defer r.Close()
	defer l.in.abort()
	maxAge := 10 * l.cfg.BatchWait
	return kafkautil.ConsumeOpen(ctx, r, l.cfg.BatchSize, l.cfg.BatchWait, l.log, func(hctx context.Context, msgs []kafka.Message) error {
		start := time.Now()
		var bad []deadletter.Entry
		if len(msgs) > 0 { // none: no message came for --batch-wait, the insert ends
			if err := l.serde.Resolve(hctx, msgs); err != nil {
				return err
			}
			var err error
			if bad, err = l.rows(ctx, l.in, msgs); err != nil { // ctx, not hctx: the insert may outlive this batch
				return err
			}
			if err := deadletter.Write(hctx, l.dead, bad, l.log); err != nil {
				return err
			}
		}
		if l.in.due(len(msgs), l.cfg.BatchSize, l.cfg.InsertRows, maxAge) {
			// A batch with messages sent one block of the insert. Ended after no message
			// came, a failed insert holds only batches already handled: retrying the empty
			// call would find none open and let their offsets be committed, so it must
			// read them again (errReplay).
			if err := l.in.close(min(len(msgs), 1)); err != nil {
				return err
			}
		}
		if len(msgs) > 0 {
			l.batches.Batch(len(msgs), len(msgs)-len(bad), time.Since(start))
		}
		return nil
	}, l.in.held)
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
	return insertOnce(ctx, newInserter(conn, db+".events", model.EventFields()), eventRows(serde), serde, msgs)
}

// insertOnce inserts msgs in one insert of in, which has none open.
func insertOnce(ctx context.Context, in *inserter, rows rowsFunc, serde *registry.Serde, msgs []kafka.Message) (dead []deadletter.Entry, err error) {
	if err := serde.Resolve(ctx, msgs); err != nil {
		return nil, err
	}
	if dead, err = rows(ctx, in, msgs); err != nil {
		return nil, err
	}
	return dead, in.close(1)
}

// A rowsFunc decodes msgs into rows of the open insert of in and sends them as a block of it.
type rowsFunc func(ctx context.Context, in *inserter, msgs []kafka.Message) ([]deadletter.Entry, error)

// eventRows decodes events, in either framing once serde resolved their schema IDs. Those
// that do not decode, or whose time a DateTime column cannot hold, are dead letters. The lag
// of the events sent is added to metrics.EventLag.
func eventRows(serde *registry.Serde) rowsFunc {
	return func(ctx context.Context, in *inserter, msgs []kafka.Message) ([]deadletter.Entry, error) {
		lag, now := metrics.EventLag.Tally(), time.Now()
		dead, err := in.add(ctx, msgs, func(b []byte, row []any) ([]any, error) {
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
	return insertOnce(ctx, newInserter(conn, db+".detections", model.DetectionFields()), detectionRows(serde), serde, msgs)
}

// detectionRows decodes detections as eventRows does events.
func detectionRows(serde *registry.Serde) rowsFunc {
	return func(ctx context.Context, in *inserter, msgs []kafka.Message) ([]deadletter.Entry, error) {
		return in.add(ctx, msgs, func(b []byte, row []any) ([]any, error) {
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
