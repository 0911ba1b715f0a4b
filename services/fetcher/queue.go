package fetcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/coalesce"
	"github.com/trailstream/trailstream/pkg/collect"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/s3event"
	"github.com/trailstream/trailstream/pkg/sources"
)

// A notification is received invisible for --sqs-visibility-timeout, and while its files are
// read the fetcher pushes that out again by the full timeout every third of it, so a large
// file or a slow Kafka does not hand the same notification to another fetcher meanwhile.
// Once handling ends the renewal stops: a notification not deleted (a transient error) is
// left as it is and comes back after what remains of its timeout, between two thirds of it
// and all of it, which spaces the retries out instead of spinning on a broken dependency.
//
// A notification for a file the ledger has is deleted without reading the file again
// (unless --reread). A notification that cannot be parsed comes back until it was received
// --max-receive-count times; then it goes to the dead-letter topic with its body and is
// deleted.
//
// A stopping fetcher lets its receive run to its end (--sqs-wait-time at most) rather than
// abandon it, since SQS may answer an abandoned receive with messages nobody reads, and
// hands back at once the notifications that receive brought and those whose files it had
// not finished.

// queues keeps one poller running for each queue of the enabled sources.
func (f *fetcher) queues(ctx context.Context) error {
	type poller struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	running := map[string]poller{}
	stop := func(id string) {
		p := running[id]
		p.cancel()
		<-p.done
		delete(running, id)
	}
	defer func() {
		for id := range running {
			stop(id)
		}
	}()
	for {
		list, changed := f.enabledWatch()
		want := map[string]sources.Source{}
		for _, s := range list {
			if s.Queue != "" {
				id := s.Region + "\x00" + s.RoleARN + "\x00" + s.Queue
				if _, dup := want[id]; !dup {
					want[id] = s
				}
			}
		}
		for id := range running {
			if _, ok := want[id]; !ok {
				stop(id)
			}
		}
		for id, s := range want {
			if _, ok := running[id]; ok {
				continue
			}
			pctx, cancel := context.WithCancel(ctx)
			p := poller{cancel: cancel, done: make(chan struct{})}
			running[id] = p
			go func() {
				defer close(p.done)
				f.poll(pctx, s)
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// queue is one SQS queue being read, for the source whose queue it is.
type queue struct {
	f   *fetcher
	src sources.Source
	sqs *sqs.Client
	cl  *awsutil.Clients
	url string
	log *slog.Logger
	m   queueMetrics

	// deletes sends the deletes of notifications handled at about the same time as one
	// DeleteMessageBatch of up to ten (newQueue), a tenth of the requests that SQS bills.
	deletes coalesce.Group[struct{}, sqstypes.Message, error]
}

// newQueue returns the queue at url, which cl's SQS client reads.
func newQueue(f *fetcher, src sources.Source, cl *awsutil.Clients, client *sqs.Client, url string, log *slog.Logger, m queueMetrics) *queue {
	q := &queue{f: f, src: src, sqs: client, cl: cl, url: url, log: log, m: m}
	q.deletes = coalesce.Group[struct{}, sqstypes.Message, error]{Max: deleteBatchMax, Do: q.deleteBatch}
	return q
}

// deleteBatchMax is the most entries SQS takes in one DeleteMessageBatch.
const deleteBatchMax = 10

// deleteBatch deletes msgs with one DeleteMessageBatch and returns each one's outcome. It
// serves notifications already handled, so it runs even when a shutdown began, to its own
// timeout.
func (q *queue) deleteBatch(_ struct{}, msgs []sqstypes.Message) ([]error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
	}
	out, err := q.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(msgs))
	for i := range errs {
		errs[i] = errors.New("SQS's answer to DeleteMessageBatch does not name it")
	}
	index := func(id *string) (int, bool) {
		i, err := strconv.Atoi(aws.ToString(id))
		return i, err == nil && i >= 0 && i < len(msgs)
	}
	for _, ok := range out.Successful {
		if i, found := index(ok.Id); found {
			errs[i] = nil
		}
	}
	for _, f := range out.Failed {
		if i, found := index(f.Id); found {
			errs[i] = fmt.Errorf("%s: %s (sender's fault: %v)", aws.ToString(f.Code), aws.ToString(f.Message), f.SenderFault)
		}
	}
	return errs, nil
}

// queueMetrics are the SQS metrics of a source's queue.
type queueMetrics struct {
	received, deleted, released          prometheus.Counter
	inFlight                             prometheus.Gauge
	receiveErrs, deleteErrs, releaseErrs prometheus.Counter
	extendErrs, lookupErrs               prometheus.Counter
}

func newQueueMetrics(source string) queueMetrics {
	errs := func(op string) prometheus.Counter { return metrics.SQSErrors.WithLabelValues(source, op) }
	return queueMetrics{
		received: metrics.SQSReceived.WithLabelValues(source), deleted: metrics.SQSDeleted.WithLabelValues(source),
		released: metrics.SQSReleased.WithLabelValues(source), inFlight: metrics.SQSInFlight.WithLabelValues(source),
		receiveErrs: errs("receive"), deleteErrs: errs("delete"), releaseErrs: errs("release"),
		extendErrs: errs("extend"), lookupErrs: errs("lookup"),
	}
}

// polls is the outcome of the last receive of every queue being polled: the fetcher's
// readiness check of SQS, which asks SQS nothing itself.
type polls struct {
	mu   sync.Mutex
	last map[*sources.Source]error
}

func (p *polls) set(id *sources.Source, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[*sources.Source]error{}
	}
	p.last[id] = err
}

func (p *polls) forget(id *sources.Source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.last, id)
}

// check fails when the last receive (or queue lookup) of a queue failed.
func (p *polls) check(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for src, err := range p.last {
		if err != nil {
			errs = append(errs, fmt.Errorf("SQS queue %s of source %s: %w", src.Queue, src.ID, err))
		}
	}
	return errors.Join(errs...)
}

// poll reads the queue of src until ctx ends.
func (f *fetcher) poll(ctx context.Context, src sources.Source) {
	log := f.log.With("source", src.ID)
	visibility, _ := visibilitySeconds(f.cfg.VisibilityTimeout)
	pollWait, _ := waitSeconds(f.cfg.PollWait)
	m := newQueueMetrics(src.ID)
	defer f.polls.forget(&src)
	var q *queue
	if err := backoff.Retry(ctx, log, "look up SQS queue "+src.Queue, backoff.Start, func(ctx context.Context) error {
		cl, err := f.clients.of(ctx, src)
		if err != nil {
			return err
		}
		qcl := cl.InRegion(awsutil.QueueRegion(src.Queue)) // the queue may be in another region than the bucket
		url, err := qcl.QueueURL(ctx, src.Queue)
		if err != nil {
			if ctx.Err() == nil {
				m.lookupErrs.Inc()
				f.polls.set(&src, err)
			}
			return err
		}
		q = newQueue(f, src, cl, qcl.SQS, url, log, m)
		return nil
	}); err != nil {
		return
	}
	log.Info("reading notifications", "queue", q.url)
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, inFlight)
	)
	wait := time.Second // after a failed receive
	for ctx.Err() == nil {
		if f.wait != nil && f.wait(ctx) != nil {
			break
		}
		// A shutdown does not cut a receive short: SQS may still answer a receive whose
		// client went away, and the messages it hands out then stay invisible for the
		// visibility timeout. The receive ends within the wait time; what it brings once a
		// shutdown began is released at once.
		pollCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.PollWait+30*time.Second)
		out, err := q.sqs.ReceiveMessage(pollCtx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(q.url), MaxNumberOfMessages: receiveMax, WaitTimeSeconds: pollWait, VisibilityTimeout: visibility,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
		})
		cancel()
		if ctx.Err() != nil {
			if err == nil {
				m.received.Add(float64(len(out.Messages)))
				q.release(out.Messages...)
			}
			break
		}
		f.polls.set(&src, err)
		if err != nil {
			m.receiveErrs.Inc()
			log.Warn("receive from SQS failed, retrying", "queue", q.url, "err", err, "backoff", wait)
			backoff.Sleep(ctx, wait)
			wait = min(wait*2, time.Minute)
			continue
		}
		wait = time.Second
		m.received.Add(float64(len(out.Messages)))
		for _, msg := range out.Messages {
			slots <- struct{}{}
			wg.Add(1)
			m.inFlight.Inc()
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				defer m.inFlight.Dec()
				q.handle(ctx, msg)
			}()
		}
		// The next receive waits for room for a whole one, not for this one's files.
		for range receiveMax {
			slots <- struct{}{}
		}
		for range receiveMax {
			<-slots
		}
	}
	wg.Wait()
}

// receiveMax is the most messages one SQS receive returns; inFlight how many notifications
// one queue's poller handles at once.
const (
	receiveMax = 10
	inFlight   = 4 * receiveMax
)

// release makes messages visible to other fetchers again at once. It is used on shutdown,
// so it does not depend on the service's context.
func (q *queue) release(msgs ...sqstypes.Message) {
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := q.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(q.url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
		})
		cancel()
		if err != nil {
			q.m.releaseErrs.Inc()
			q.log.Warn("notification not released on shutdown; it comes back after its visibility timeout",
				"message_id", aws.ToString(m.MessageId), "err", err)
			continue
		}
		q.m.released.Inc()
		q.log.Info("notification released on shutdown", "message_id", aws.ToString(m.MessageId))
	}
}

// waitSeconds checks d against what SQS accepts as a long-poll wait and returns it in
// seconds.
func waitSeconds(d time.Duration) (int32, error) {
	if d < 0 || d > 20*time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("--sqs-wait-time %s: SQS takes whole seconds from 0s to 20s", d)
	}
	return int32(d / time.Second), nil
}

// maxVisibility is the longest visibility timeout SQS accepts.
const maxVisibility = 12 * time.Hour

// visibilitySeconds checks d against what SQS accepts as a visibility timeout and returns it
// in seconds. Zero, which SQS allows, is refused: the notification would be handed out again
// at once, and the renewal would have no period.
func visibilitySeconds(d time.Duration) (int32, error) {
	if d < time.Second || d > maxVisibility || d%time.Second != 0 {
		return 0, fmt.Errorf("--sqs-visibility-timeout %s: SQS takes whole seconds from 1s to %s", d, maxVisibility)
	}
	return int32(d / time.Second), nil
}

// keepInvisible keeps the received message m invisible to other consumers of the queue: every
// third of timeout it pushes m's visibility out to the full timeout again, until ctx ends or
// stop is called. A failed renewal is logged, counted in failed (when not nil) and tried
// again at the next tick. stop returns once no renewal is under way any more (so none races
// a delete) and may be called again. timeout must be whole seconds of at least one, as
// visibilitySeconds checks.
func keepInvisible(ctx context.Context, log *slog.Logger, client *sqs.Client, queueURL string, m sqstypes.Message, timeout time.Duration, failed prometheus.Counter) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(timeout / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: int32(timeout / time.Second),
			})
			if err != nil && ctx.Err() == nil {
				if failed != nil {
					failed.Inc()
				}
				log.Warn("visibility of a notification being handled not extended; another fetcher may receive it",
					"message_id", aws.ToString(m.MessageId), "err", err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// handle processes one notification, keeping it invisible meanwhile, and deletes it when
// every file it announces was either produced in full or reported on the dead-letter topic.
func (q *queue) handle(ctx context.Context, m sqstypes.Message) {
	stop := keepInvisible(ctx, q.log, q.sqs, q.url, m, q.f.cfg.VisibilityTimeout, q.m.extendErrs)
	handled := q.process(ctx, m)
	stop()
	if !handled {
		if ctx.Err() != nil { // cut short by a shutdown: another fetcher may take it now
			q.release(m)
		}
		return
	}
	// A notification handled is deleted even when a shutdown began meanwhile, so that its
	// files are not read again.
	failed, err := q.deletes.Call(context.WithoutCancel(ctx), struct{}{}, m)
	if err == nil {
		err = failed
	}
	if err != nil {
		q.m.deleteErrs.Inc()
		q.log.Warn("delete of a handled notification failed; it comes back, and the ledger keeps its files from being read again",
			"message_id", aws.ToString(m.MessageId), "err", err)
		return
	}
	q.m.deleted.Inc()
}

// process reads the files m announces and reports whether m is done with: every file was
// read (or the ledger had it) or reported on the dead-letter topic. A notification that
// cannot be parsed is done with once it was received MaxReceiveCount times and was reported.
func (q *queue) process(ctx context.Context, m sqstypes.Message) bool {
	objs, err := s3event.Parse([]byte(aws.ToString(m.Body)))
	if err != nil {
		return q.unreadable(ctx, m, err)
	}
	for _, o := range objs {
		start := time.Now()
		src := q.f.sourceFor(o.Bucket, o.Key, q.src)
		cl := q.cl
		if src.ID != q.src.ID {
			if cl, err = q.f.clients.of(ctx, src); err != nil {
				q.log.Warn("file not read for now; the notification comes back", "bucket", o.Bucket, "key", o.Key, "err", err)
				return false
			}
		}
		res, err := q.f.reader.Get(ctx, cl.S3, collect.Object{Source: src, Bucket: o.Bucket, Key: o.Key, Path: ledger.PathNotification})
		switch {
		case err != nil:
			q.log.Warn("file not read for now; the notification comes back after its visibility timeout",
				"bucket", o.Bucket, "key", o.Key, "records_produced", res.Records, "err", err)
			return false
		default:
			logFile(q.log, o.Bucket, o.Key, res, time.Since(start))
		}
	}
	return true
}

// logFile logs what became of a file.
func logFile(log *slog.Logger, bucket, key string, res collect.Result, took time.Duration) {
	switch {
	case res.Seen:
		log.Debug("file in the ledger already; not read again", "bucket", bucket, "key", key)
	case res.Outcome == ledger.OutcomeSkipped:
		log.Info("object skipped: not a CloudTrail log, digest or Insights file", "bucket", bucket, "key", key)
	case res.Outcome == ledger.OutcomeFailed:
		// logged, with its reason, where it was dead-lettered
	case res.Dead > 0:
		log.Warn("file read, with records sent to the dead-letter topic", "bucket", bucket, "key", key,
			"kind", res.Kind, "records", res.Records, "dead_letters", res.Dead, "took", took)
	default:
		log.Info("file read", "bucket", bucket, "key", key, "kind", res.Kind, "records", res.Records, "excluded", res.Excluded, "took", took)
	}
}

// unreadable handles a notification that cannot be parsed: it is left in the queue to come
// back, in case a passing fault garbled it, until it was received MaxReceiveCount times;
// then it is reported on the dead-letter topic with its body and reason, and done with.
func (q *queue) unreadable(ctx context.Context, m sqstypes.Message, err error) bool {
	id := aws.ToString(m.MessageId)
	received, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	if received < q.f.cfg.MaxReceiveCount {
		q.log.Warn("notification cannot be parsed; it comes back after its visibility timeout",
			"message_id", id, "received", received, "dead_letter_after", q.f.cfg.MaxReceiveCount, "err", err)
		return false
	}
	e := deadletter.New("fetcher", deadletter.Because(deadletter.KindNotification, fmt.Errorf("notification cannot be parsed (received %d times): %w", received, err)), []byte(aws.ToString(m.Body)))
	e.Environment, e.MessageID = q.src.Environment, id
	if err := deadletter.Write(ctx, q.f.dead, []deadletter.Entry{e}, q.log); err != nil {
		q.log.Warn("dead-letter write failed; the notification comes back", "message_id", id, "err", err)
		return false
	}
	q.log.Error("notification cannot be parsed; reported on the dead-letter topic and deleted",
		"message_id", id, "received", received, "err", err)
	return true
}
