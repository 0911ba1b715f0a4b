// Package detector is the service that runs the detection rules (pkg/rules) over the
// normalized events (cloudtrail.events) and publishes their findings as Avro detections
// (cloudtrail.detections, keyed by account ID). An event that cannot be decoded goes to
// the dead-letter topic with the reason.
//
// Rule state lives in memory. Events are keyed by account ID, so each account's events
// reach one instance; run as many instances as there are partitions at most. The state
// survives a restart or a rebalance: in each partition the detector commits no further than
// the oldest event its rules still hold state from, so whoever reads the partition next
// reads those events again and rebuilds the state. Detections completed by events read
// again are published again with the same detection_id (the sink's tables keep one). So
// that a restart never reads back without bound, an event read longer ago than
// --detector-replay-limit is not held for: a restart forgets its state.
package detector

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/registry"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/pkg/stage"
)

// Run detects until ctx is cancelled, then returns nil. Offsets of cloudtrail.events are
// committed only after the detections (and dead letters) of a batch were acknowledged by
// Kafka. Its metrics and health are served on --metrics-addr; it is ready once its rules are
// seeded and while Kafka answers (ClickHouse is read only to seed them).
func Run(ctx context.Context, cfg config.Config) error {
	log := slog.Default().With("service", "detector")
	rc, builtin, sig, err := ruleSets(cfg, log)
	if err != nil {
		return err
	}
	return metrics.Serve(ctx, cfg.MetricsAddr, "detector", []*metrics.Group{metrics.Stage, metrics.Kafka, metrics.Detections, metrics.Detector},
		func(ctx context.Context, p *metrics.Part) error { return run(ctx, cfg, p, log, rc, builtin, sig) })
}

func run(ctx context.Context, cfg config.Config, p *metrics.Part, log *slog.Logger, rc *rules.Config, builtin, sig []rules.Rule) error {
	kc, err := kafkautil.NewCluster(cfg)
	if err != nil {
		return err
	}
	p.Check("kafka", kafkautil.ReadyCheck(kc))
	engine := func(sig []rules.Rule) *rules.Engine { return rules.NewEngine(append(slices.Clone(builtin), sig...)) }
	serde, err := registry.Open(cfg, log)
	if err != nil {
		return err
	}
	if serde != nil {
		p.Check("schema-registry", serde.Check)
	}
	d := &detector{engine: engine(sig), log: log, reads: reads{limit: cfg.ReplayLimit, now: time.Now}, serde: serde}
	// SIGHUP reads the Sigma rules again; the next batch runs with them, and with the
	// built-in rules as they are, state and all.
	d.reload = func() {
		sig, _, err := SigmaRules(cfg, rc, log)
		if err != nil {
			log.Warn("Sigma rules not read again; running those loaded before", "err", err)
			return
		}
		d.engine = engine(sig)
	}
	d.hup = make(chan os.Signal, 1)
	signal.Notify(d.hup, syscall.SIGHUP)
	defer signal.Stop(d.hup)
	seed(ctx, cfg, d.engine, log)
	ids := make([]string, len(d.engine.Rules()))
	for i, rule := range d.engine.Rules() {
		ids[i] = rule.Info().ID
	}
	log.Info("detecting", "from", cfg.TopicEvents, "to", cfg.TopicDetections, "rules", len(ids), "rule_ids", ids,
		"rules_config", cfg.RulesConfig, "replay_limit", cfg.ReplayLimit)
	d.state.set(d.engine)
	if err := serde.RegisterDetections(ctx, cfg.TopicDetections); err != nil {
		return backoff.Stopped(ctx, err)
	}
	p.Ready()
	return stage.Run(ctx, stage.Config{
		Name: "detector", Kafka: kc, Partitions: cfg.Partitions, Group: cfg.GroupPrefix + "-detector",
		From: cfg.TopicEvents, To: cfg.TopicDetections, DeadLetter: cfg.TopicDeadLetter,
		BatchSize: cfg.BatchSize, BatchWait: cfg.BatchWait, Hold: d.hold, Written: d.written, Prepare: serde.Resolve,
	}, log, func(msgs []kafka.Message) ([]stage.Output, []deadletter.Entry) {
		o := d.outcome(msgs)
		return o.detections, o.dead
	})
}

// detector feeds batches of events to its rules.
type detector struct {
	engine *rules.Engine
	log    *slog.Logger
	hup    chan os.Signal // SIGHUP: reload
	reload func()
	serde  *registry.Serde // frames the detections, reads the events in either framing
	last   *outcome        // of the last batch, handed in again when writing it failed
	reads  reads
	state  stateGauges
}

// stateGauges keep the metric of the state entries each rule holds.
type stateGauges struct {
	engine *rules.Engine // whose rules the gauges are of
	gauges []prometheus.Gauge
}

// set sets every rule's gauge to the entries it holds; a new engine (SIGHUP) replaces the
// gauges of the rules that went.
func (s *stateGauges) set(e *rules.Engine) {
	if s.engine != e {
		metrics.StateEntries.Reset()
		s.engine, s.gauges = e, make([]prometheus.Gauge, len(e.Rules()))
		for i, r := range e.Rules() {
			s.gauges[i] = metrics.StateEntries.WithLabelValues(r.Info().ID)
		}
	}
	for i, r := range e.Rules() {
		s.gauges[i].Set(float64(r.Held()))
	}
}

// outcome is what one batch produced and has yet to be written.
type outcome struct {
	first, end position // of the batch
	detections []stage.Output
	dead       []deadletter.Entry
	found      []found // of each detection
}

// found is what the metrics say of a detection.
type found struct{ rule, severity string }

// written counts the detections of the batch just written, once.
func (d *detector) written() {
	if d.last == nil {
		return
	}
	for _, f := range d.last.found {
		metrics.DetectionsPublished.WithLabelValues(f.rule, f.severity).Inc()
	}
	d.last.found = nil
}

type position struct {
	partition int
	offset    int64
}

func at(m kafka.Message) position { return position{m.Partition, m.Offset} }

// outcome returns what msgs produce. A batch whose writes failed is handed in again; its
// events must not reach the rules twice (a create consumed by the first attempt would be
// missing in the second), so the outcome of the last batch is kept.
func (d *detector) outcome(msgs []kafka.Message) *outcome {
	first, end := at(msgs[0]), at(msgs[len(msgs)-1])
	if d.last != nil && d.last.first == first && d.last.end == end {
		return d.last
	}
	select {
	case <-d.hup:
		d.reload()
	default:
	}
	out := &outcome{first: first, end: end}
	d.reads.add(msgs)
	for i, m := range msgs {
		e, earlier, err := d.serde.DecodeEvent(m.Value)
		if err != nil {
			out.dead = append(out.dead, deadletter.FromMessage("detector", m, deadletter.Because(deadletter.KindDecode, err)))
			continue
		}
		if earlier {
			e = current(e)
		}
		for _, det := range d.engine.Observe(e, rules.Position{Partition: m.Partition, Offset: m.Offset}) {
			v, err := d.serde.EncodeDetection(nil, &det)
			if err != nil { // a programming error: the detection does not fit its schema
				d.log.Error("detection dropped", "rule", det.RuleID, "detection_id", det.DetectionID, "err", err)
				continue
			}
			d.log.Info("detection", "rule", det.RuleID, "account", det.AccountID, "title", det.Title, "detection_id", det.DetectionID)
			out.found = append(out.found, found{det.RuleID, det.Severity})
			// The detection carries the headers of the event that completed it: the file
			// it came from, for whoever cannot process the detection later.
			out.detections = append(out.detections, stage.Output{Message: kafka.Message{Key: []byte(det.AccountID), Value: v, Headers: m.Headers}, Input: i})
		}
	}
	d.last = out
	d.state.set(d.engine)
	return out
}

// hold is the detector's kafkautil.Hold: the oldest offset of partition that a rule holds
// state from, unless it was read longer than the replay limit ago.
func (d *detector) hold(partition int) (int64, bool) {
	if d.reads.limit <= 0 {
		return 0, false
	}
	oldest, held := d.engine.Oldest(partition)
	if !held {
		return 0, false
	}
	floor, ok := d.reads.floor(partition)
	if !ok { // nothing of the partition was read within the limit
		return 0, false
	}
	return max(oldest, floor), true
}

// reads remembers, for each partition, when the detector read which offsets, as far back
// as the replay limit: one mark per batch, its first offset in the partition.
type reads struct {
	limit time.Duration
	now   func() time.Time
	marks map[int][]mark // oldest first
}

type mark struct {
	offset int64
	at     time.Time
}

// add marks the batch msgs as read now.
func (r *reads) add(msgs []kafka.Message) {
	if r.limit <= 0 {
		return
	}
	if r.marks == nil {
		r.marks = make(map[int][]mark)
	}
	now := r.now()
	seen := make(map[int]bool)
	for _, m := range msgs {
		if !seen[m.Partition] {
			seen[m.Partition] = true
			r.marks[m.Partition] = append(r.trim(m.Partition, now), mark{m.Offset, now})
		}
	}
}

// floor returns the lowest offset of partition read within the limit; ok is false when
// nothing was.
func (r *reads) floor(partition int) (offset int64, ok bool) {
	ms := r.trim(partition, r.now())
	if len(ms) == 0 {
		return 0, false
	}
	return ms[0].offset, true
}

// trim forgets the marks of partition read longer than the limit before now and returns
// the others.
func (r *reads) trim(partition int, now time.Time) []mark {
	ms := r.marks[partition]
	i := 0
	for i < len(ms) && ms[i].at.Before(now.Add(-r.limit)) {
		i++
	}
	if i == len(ms) {
		delete(r.marks, partition)
		return nil
	}
	r.marks[partition] = ms[i:]
	return ms[i:]
}

// current returns e, an event of an earlier schema version, as the current normalizer makes
// it from the raw record, so that the rules see the fields added since (during a rolling
// upgrade older normalizers still write earlier versions). It returns e itself when the raw
// record does not normalize.
func current(e *model.Event) *model.Event {
	if fresh, err := normalize.Normalize([]byte(e.Raw), e.Environment); err == nil {
		return fresh
	}
	return e
}
