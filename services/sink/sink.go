// Package sink is the service that loads events and detections into ClickHouse. It inserts
// in batches (by size and by time) and commits Kafka offsets only after the insert
// succeeded; a redelivered message becomes a duplicate row that the ReplacingMergeTree
// tables fold away and the dashboard queries (FINAL) never count twice.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
)

// Run migrates the schema, then loads until ctx is cancelled.
func Run(ctx context.Context, cfg config.Config) error {
	log := slog.Default().With("service", "sink")
	conn, err := chstore.Open(ctx, cfg.ClickHouseAddr, cfg.ClickHouseUser, cfg.ClickHousePassword)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := chstore.Migrate(ctx, conn, cfg.ClickHouseDatabase, log); err != nil {
		return err
	}
	brokers := cfg.Brokers()
	if err := kafkautil.EnsureTopics(ctx, brokers, cfg.Partitions, cfg.TopicEvents, cfg.TopicDetections, cfg.TopicDeadLetter); err != nil {
		return err
	}
	dead := kafkautil.NewWriter(brokers, cfg.TopicDeadLetter)
	defer dead.Close()
	loaders := []struct {
		name   string
		topic  string
		insert func(context.Context, []kafka.Message) ([]kafka.Message, error)
	}{
		{"events", cfg.TopicEvents, func(ctx context.Context, msgs []kafka.Message) ([]kafka.Message, error) {
			return InsertEvents(ctx, conn, cfg.ClickHouseDatabase, msgs)
		}},
		{"detections", cfg.TopicDetections, func(ctx context.Context, msgs []kafka.Message) ([]kafka.Message, error) {
			return InsertDetections(ctx, conn, cfg.ClickHouseDatabase, msgs)
		}},
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(loaders))
	var wg sync.WaitGroup
	for i, l := range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			r := kafkautil.NewReader(brokers, cfg.GroupPrefix+"-sink-"+l.name, l.topic)
			defer r.Close()
			log := log.With("topic", l.topic)
			log.Info("loading", "database", cfg.ClickHouseDatabase)
			errs[i] = kafkautil.ConsumeBatches(ctx, r, cfg.BatchSize, cfg.BatchWait, log, func(ctx context.Context, msgs []kafka.Message) error {
				bad, err := l.insert(ctx, msgs)
				if err != nil {
					return err
				}
				if len(bad) > 0 {
					log.Warn("messages sent to the dead-letter topic", "count", len(bad))
					if err := dead.WriteMessages(ctx, bad...); err != nil {
						return fmt.Errorf("write %s: %w", cfg.TopicDeadLetter, err)
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// eventColumns are the columns of the events table, in the order InsertEvents appends.
const eventColumns = "event_id, event_time, event_version, event_source, event_name, event_type, aws_region, account_id, " +
	"source_ip, user_agent, user_type, user_name, user_arn, error_code, error_message, outcome, mfa_used, action, environment, raw"

// InsertEvents decodes Avro events and inserts them into db.events in one batch. Messages
// that do not decode come back as dead-letter messages.
func InsertEvents(ctx context.Context, conn driver.Conn, db string, msgs []kafka.Message) (dead []kafka.Message, err error) {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".events ("+eventColumns+")")
	if err != nil {
		return nil, fmt.Errorf("prepare insert into %s.events: %w", db, err)
	}
	defer b.Abort()
	for _, m := range msgs {
		e, err := model.DecodeEvent(m.Value)
		if err != nil {
			dead = append(dead, deadletter.FromMessage("sink", m, err).Message())
			continue
		}
		var mfa uint8
		if e.MFAUsed {
			mfa = 1
		}
		if err := b.Append(e.EventID, e.EventTime, e.EventVersion, e.EventSource, e.EventName, e.EventType, e.AWSRegion,
			e.AccountID, e.SourceIP, e.UserAgent, e.UserType, e.UserName, e.UserARN, e.ErrorCode, e.ErrorMessage,
			e.Outcome, mfa, e.Action, e.Environment, e.Raw); err != nil {
			return nil, fmt.Errorf("append event %s: %w", e.EventID, err)
		}
	}
	if err := b.Send(); err != nil {
		return nil, fmt.Errorf("insert into %s.events: %w", db, err)
	}
	return dead, nil
}

const detectionColumns = "detection_id, rule_id, severity, title, account_id, environment, resource_type, resource_name, " +
	"event_ids, actors, first_time, last_time, detected_at"

// InsertDetections decodes Avro detections and inserts them into db.detections in one batch.
// Messages that do not decode come back as dead-letter messages.
func InsertDetections(ctx context.Context, conn driver.Conn, db string, msgs []kafka.Message) (dead []kafka.Message, err error) {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".detections ("+detectionColumns+")")
	if err != nil {
		return nil, fmt.Errorf("prepare insert into %s.detections: %w", db, err)
	}
	defer b.Abort()
	for _, m := range msgs {
		d, err := model.DecodeDetection(m.Value)
		if err != nil {
			dead = append(dead, deadletter.FromMessage("sink", m, err).Message())
			continue
		}
		if err := b.Append(d.DetectionID, d.RuleID, d.Severity, d.Title, d.AccountID, d.Environment, d.ResourceType,
			d.ResourceName, d.EventIDs, d.Actors, d.FirstTime, d.LastTime, d.DetectedAt); err != nil {
			return nil, fmt.Errorf("append detection %s: %w", d.DetectionID, err)
		}
	}
	if err := b.Send(); err != nil {
		return nil, fmt.Errorf("insert into %s.detections: %w", db, err)
	}
	return dead, nil
}
