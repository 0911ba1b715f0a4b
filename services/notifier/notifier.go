// Package notifier is the service that sends every detection (cloudtrail.detections) to
// webhooks: an HTTP POST of the detection as JSON (keys = the Avro field names) or as a
// Slack message, to each configured URL, for the detections of at least a severity. It reads
// in its own consumer group, <group prefix>-notifier.
//
// An alert is never dropped because a webhook is away: an answer 408, 429 or 5xx, or none at
// all, is tried again with back-off (and no sooner than a Retry-After says) for as long as it
// takes. Any other answer but 2xx refuses the detection for good at that webhook: it is
// logged as an error with the status and the start of the body, counted, and the notifier
// goes on, so that a misconfigured receiver does not hold back the alerts of the others. The
// webhooks of one detection are sent to at once; each webhook gets the detections in the
// order of their partition. Offsets are committed once every webhook has every detection of
// the batch (or refused it), so a webhook that stays away holds back the next batches of
// all.
//
// A webhook gets a detection_id once, even across restarts and although the detector
// publishes a detection again after its own restarts (with the same detection_id). The
// ledger of what was sent is a compacted topic, cloudtrail.notifications, keyed by
// <webhook>/<detection_id>, the webhook named by its WebhookID (its URL, which may hold a
// token, is never written), with the time and the status of the answer: a refusal is
// recorded too, and not sent again. The record is written, and acknowledged, right after the
// webhook answered and before the offset is committed. At start the notifier reads the
// ledger to its end into a set of at most a million entries of the last 7 days, then
// follows it, so that it also learns what the other notifiers of its group send. Each
// request also carries the header Idempotency-Key: <detection_id>.
//
// One window is left: a notifier killed between a webhook's 2xx and the ledger record sends
// that detection to that webhook again after the restart, and the Idempotency-Key lets the
// receiver drop it. So does one stopped while Kafka does not take the record for 30 s, and,
// rarely, the notifier that takes over a partition while another is sending from it. A
// graceful stop (ctx cancelled) waits for the requests under way and writes their ledger
// records before Run returns; it starts no new request.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/parallel"
	"github.com/trailstream/trailstream/pkg/registry"
)

// stopGrace is how long a stopping notifier keeps trying to write the ledger record of a
// delivery it made.
const stopGrace = 30 * time.Second

// Run sends detections to cfg.AlertWebhooks until ctx is cancelled, then returns nil. It
// fails at once when no webhook is configured or a setting is invalid. Its metrics and
// health are served on --metrics-addr; it is ready when Kafka answers (a webhook that does
// not is waited for, and counted, not a reason to be unready).
func Run(ctx context.Context, cfg config.Config) error {
	log := slog.Default().With("service", "notifier")
	n, err := newNotifier(cfg, log)
	if err != nil {
		return err
	}
	kc, err := kafkautil.NewCluster(cfg)
	if err != nil {
		return err
	}
	return metrics.Serve(ctx, cfg.MetricsAddr, "notifier", []*metrics.Group{metrics.Stage, metrics.Kafka, metrics.Notifier},
		func(ctx context.Context, p *metrics.Part) error { return n.run(ctx, cfg, kc, p) })
}

func (n *notifier) run(ctx context.Context, cfg config.Config, kc kafkautil.Cluster, p *metrics.Part) error {
	log := n.log
	p.Check("kafka", kafkautil.ReadyCheck(kc))
	if n.serde != nil {
		p.Check("schema-registry", n.serde.Check)
	}
	var err error
	if err := kafkautil.EnsureTopics(ctx, kc, cfg.Partitions, cfg.TopicDetections, cfg.TopicDeadLetter); err != nil {
		return backoff.Stopped(ctx, err)
	}
	if err := kafkautil.EnsureCompactedTopics(ctx, kc, cfg.Partitions, ledgerRetention, cfg.TopicNotifications); err != nil {
		return backoff.Stopped(ctx, err)
	}
	if n.sent, err = kafkautil.OpenWriter(ctx, kc, cfg.TopicNotifications, log); err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer n.sent.Close()
	if n.dead, err = kafkautil.OpenWriter(ctx, kc, cfg.TopicDeadLetter, log); err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer n.dead.Close()
	follow, err := n.ledger.load(ctx, kc, cfg.TopicNotifications, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	hooks := make([]string, len(n.hooks))
	for i, w := range n.hooks {
		hooks[i] = w.id + " " + w.host
	}
	log.Info("notifying", "from", cfg.TopicDetections, "webhooks", hooks, "format", n.format.String(),
		"min_severity", n.least.String(), "ledger", cfg.TopicNotifications, "ledger_entries", n.ledger.size())
	r := kafkautil.NewReader(kc, cfg.GroupPrefix+"-notifier", cfg.TopicDetections)
	defer r.Close()
	p.Ready()
	err = parallel.Run(ctx, follow, func(ctx context.Context) error {
		return kafkautil.ConsumeBatches(ctx, r, cfg.BatchSize, cfg.BatchWait, log, n.handle)
	})
	for _, w := range n.hooks {
		log.Info("webhook totals", "webhook", w.id, "delivered", w.delivered.Load(), "refused", w.refused.Load(), "already_sent", w.skipped.Load())
	}
	return err
}

// notifier sends the detections of each batch to its webhooks.
type notifier struct {
	log    *slog.Logger
	hooks  []*webhook
	format Format
	least  Severity // the lowest severity sent
	client *http.Client
	retry  backoff.Policy // between tries of a delivery
	ledger *ledger
	sent   *kafkautil.Writer // to the ledger topic
	dead   *kafkautil.Writer
	batch  metrics.StageBatch
	serde  *registry.Serde // reads the detections in either framing
}

// newNotifier checks the alert settings of cfg and returns a notifier without its Kafka
// writers.
func newNotifier(cfg config.Config, log *slog.Logger) (*notifier, error) {
	hooks, err := parseWebhooks(cfg.AlertWebhooks)
	if err != nil {
		return nil, err
	}
	if len(hooks) == 0 {
		return nil, errors.New("no --alert-webhook given: the notifier has nowhere to send the detections")
	}
	format, err := ParseFormat(cfg.AlertFormat)
	if err != nil {
		return nil, fmt.Errorf("--alert-format: %w", err)
	}
	least, err := ParseSeverity(cfg.AlertMinSeverity)
	if err != nil {
		return nil, fmt.Errorf("--alert-min-severity: %w", err)
	}
	serde, err := registry.Open(cfg, log)
	if err != nil {
		return nil, err
	}
	return &notifier{log: log, hooks: hooks, format: format, least: least, client: newClient(), retry: backoff.Default,
		ledger: newLedger(ledgerMaxAge, ledgerCapacity, time.Now), batch: metrics.ForStage("notifier"), serde: serde}, nil
}

// handle sends a batch of detections to every webhook and returns once each webhook has
// each of them, refused it for good or was already sent it, and the ledger says so. A message
// that is not a detection goes to the dead-letter topic. It returns ctx's error when ctx
// ends first: the batch is then read again, and what the ledger holds is not sent again.
func (n *notifier) handle(ctx context.Context, msgs []kafka.Message) error {
	var (
		dets   []*model.Detection
		bodies [][]byte
		bad    []deadletter.Entry
		start  = time.Now()
		before = n.delivered()
	)
	if err := n.serde.Resolve(ctx, msgs); err != nil {
		return err
	}
	for _, m := range msgs {
		d, err := n.serde.DecodeDetection(m.Value)
		if err != nil {
			bad = append(bad, deadletter.FromMessage("notifier", m, deadletter.Because(deadletter.KindDecode, err)))
			continue
		}
		if !n.wanted(d) {
			n.log.Debug("below the minimum severity, not sent", "detection_id", d.DetectionID, "rule", d.RuleID, "severity", d.Severity)
			continue
		}
		dets = append(dets, d)
		bodies = append(bodies, n.format.Body(d))
	}
	if err := deadletter.Write(ctx, n.dead, bad, n.log); err != nil {
		return err
	}
	errs := make([]error, len(n.hooks))
	var wg sync.WaitGroup
	for i, w := range n.hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j, d := range dets {
				if err := n.send(ctx, w, d, bodies[j]); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n.batch.Batch(len(msgs), int(n.delivered()-before), time.Since(start))
	return nil
}

// delivered returns the deliveries made to every webhook so far.
func (n *notifier) delivered() int64 {
	var sum int64
	for _, w := range n.hooks {
		sum += w.delivered.Load()
	}
	return sum
}

// wanted reports whether d is severe enough to be sent. A severity the notifier does not
// know is sent: an alert is not dropped for a label.
func (n *notifier) wanted(d *model.Detection) bool {
	s, err := ParseSeverity(d.Severity)
	if err != nil {
		n.log.Warn("detection of an unknown severity: sent", "detection_id", d.DetectionID, "rule", d.RuleID, "severity", d.Severity)
		return true
	}
	return s >= n.least
}

// send delivers d to w unless the ledger says it was sent, then writes the ledger record of
// the answer. It returns ctx's error when ctx ended before d was sent, or the error of the
// ledger write.
func (n *notifier) send(ctx context.Context, w *webhook, d *model.Detection, body []byte) error {
	key := ledgerKey(w.id, d.DetectionID)
	if n.ledger.has(key) {
		w.skipped.Add(1)
		w.metrics.skipped.Inc()
		n.log.Debug("already sent to the webhook, not sent again", "webhook", w.id, "detection_id", d.DetectionID)
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	status, err := n.deliver(ctx, w, d, body)
	var refused *refusal
	switch {
	case err == nil:
		w.delivered.Add(1)
		w.metrics.delivered.Inc()
		n.log.Info("delivered", "webhook", w.id, "detection_id", d.DetectionID, "rule", d.RuleID, "severity", d.Severity, "status", status)
	case errors.As(err, &refused):
		w.refused.Add(1)
		w.metrics.refused.Inc()
		n.log.Error("the webhook refused the detection; not sent to it again", "webhook", w.id, "host", w.host,
			"detection_id", d.DetectionID, "rule", d.RuleID, "status", refused.status, "body", refused.excerpt, "refused", w.refused.Load())
	default:
		return err
	}
	at := time.Now()
	wctx, cancel := graceAfter(ctx, stopGrace)
	defer cancel()
	rejected, err := n.sent.Write(wctx, ledgerMessage(w.id, d.DetectionID, status, at))
	if err == nil && len(rejected) > 0 {
		err = rejected[0].Err
	}
	if err != nil {
		return fmt.Errorf("record the delivery of detection %s to webhook %s in %s: %w", d.DetectionID, w.id, n.sent.Topic(), err)
	}
	n.ledger.add(key, at)
	return nil
}

// graceAfter returns a context that ends grace after ctx ends, or when cancel is called.
func graceAfter(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-out.Done():
		}
	})
	return out, func() {
		stop()
		cancel()
	}
}
