// Package fetcher is the service that reads CloudTrail log files as they land in S3. It
// long-polls the SQS queue that S3 notifies, streams each announced object and produces
// every record, unchanged, as one message on cloudtrail.raw. A notification is deleted only
// after Kafka acknowledged every record of every file it announced.
//
// A notification is received invisible for --sqs-visibility-timeout, and while its files are
// read the fetcher pushes that out again by the full timeout every third of it, so a large
// file or a slow Kafka does not hand the same notification to another fetcher meanwhile.
// Once handling ends the renewal stops: a notification not deleted (a transient error) is
// left as it is and comes back after what remains of its timeout, between two thirds of it
// and all of it, which spaces the retries out instead of spinning on a broken dependency.
//
// Every readable record of a file is produced, whatever else the file holds: a record that
// cannot be read, or that is too large for the raw topic, goes to the dead-letter topic alone
// with the file's bucket and key and its index in the file, and a file whose end is corrupt
// or truncated has its records up to there produced and the rest reported with the byte
// offset where reading stopped. A notification that cannot be parsed comes back until it
// was received --max-receive-count times; then it goes to the dead-letter topic with its
// body and is deleted.
//
// A stopping fetcher lets its receive run to its end (--sqs-wait-time at most) rather than
// abandon it, since SQS may answer an abandoned receive with messages nobody reads, and
// hands back at once the notifications that receive brought and those whose files it had
// not finished.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/cloudtrail"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/s3event"
)

// chunk is how many records are produced at once; it bounds the memory a file takes.
const chunk = 500

type fetcher struct {
	cfg      config.Config
	log      *slog.Logger
	aws      *awsutil.Clients
	queueURL string
	raw      *kafkautil.Writer
	dead     *kafkautil.Writer
}

// Run fetches until ctx is cancelled.
func Run(ctx context.Context, cfg config.Config) error {
	log := slog.Default().With("service", "fetcher")
	visibility, err := visibilitySeconds(cfg.VisibilityTimeout)
	if err != nil {
		return err
	}
	pollWait, err := waitSeconds(cfg.PollWait)
	if err != nil {
		return err
	}
	if cfg.MaxReceiveCount < 1 {
		return fmt.Errorf("--max-receive-count %d: at least 1", cfg.MaxReceiveCount)
	}
	clients, err := awsutil.New(ctx, cfg.AWSRegion, cfg.AWSEndpoint)
	if err != nil {
		return err
	}
	var queueURL string
	if err := backoff.Retry(ctx, log, "look up SQS queue "+cfg.Queue, backoff.Start, func(ctx context.Context) error {
		queueURL, err = clients.QueueURL(ctx, cfg.Queue)
		return err
	}); err != nil {
		return backoff.Stopped(ctx, err)
	}
	brokers := cfg.Brokers()
	if err := kafkautil.EnsureTopics(ctx, brokers, cfg.Partitions, cfg.TopicRaw, cfg.TopicDeadLetter); err != nil {
		return backoff.Stopped(ctx, err)
	}
	raw, err := kafkautil.OpenWriter(ctx, brokers, cfg.TopicRaw, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer raw.Close()
	dead, err := kafkautil.OpenWriter(ctx, brokers, cfg.TopicDeadLetter, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer dead.Close()
	f := &fetcher{cfg: cfg, log: log, aws: clients, queueURL: queueURL, raw: raw, dead: dead}
	log.Info("fetching", "queue", queueURL, "to", cfg.TopicRaw, "environment", cfg.Environment)
	wait := time.Second // after a failed receive
	for ctx.Err() == nil {
		// A shutdown does not cut a receive short: SQS may still answer a receive whose
		// client went away, and the messages it hands out then stay invisible for the
		// visibility timeout. The receive ends within the wait time; what it brings once a
		// shutdown began is released at once.
		pollCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.PollWait+30*time.Second)
		out, err := clients.SQS.ReceiveMessage(pollCtx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: pollWait, VisibilityTimeout: visibility,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
		})
		cancel()
		if ctx.Err() != nil {
			if err == nil {
				f.release(out.Messages...)
			}
			break
		}
		if err != nil {
			log.Warn("receive from SQS failed, retrying", "queue", queueURL, "err", err, "backoff", wait)
			backoff.Sleep(ctx, wait)
			wait = min(wait*2, time.Minute)
			continue
		}
		wait = time.Second
		var wg sync.WaitGroup
		for _, m := range out.Messages {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.handle(ctx, m)
			}()
		}
		wg.Wait()
	}
	return nil
}

// release makes messages visible to other fetchers again at once. It is used on shutdown,
// so it does not depend on the service's context.
func (f *fetcher) release(msgs ...sqstypes.Message) {
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := f.aws.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(f.queueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
		})
		cancel()
		if err != nil {
			f.log.Warn("notification not released on shutdown; it comes back after its visibility timeout",
				"message_id", aws.ToString(m.MessageId), "err", err)
			continue
		}
		f.log.Info("notification released on shutdown", "message_id", aws.ToString(m.MessageId))
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
// stop is called. A failed renewal is logged and tried again at the next tick. stop returns
// once no renewal is under way any more (so none races a delete) and may be called again.
// timeout must be whole seconds of at least one, as visibilitySeconds checks.
func keepInvisible(ctx context.Context, log *slog.Logger, client *sqs.Client, queueURL string, m sqstypes.Message, timeout time.Duration) (stop func()) {
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
func (f *fetcher) handle(ctx context.Context, m sqstypes.Message) {
	stop := keepInvisible(ctx, f.log, f.aws.SQS, f.queueURL, m, f.cfg.VisibilityTimeout)
	handled := f.process(ctx, m)
	stop()
	if !handled {
		if ctx.Err() != nil { // cut short by a shutdown: another fetcher may take it now
			f.release(m)
		}
		return
	}
	// A notification handled is deleted even when a shutdown began meanwhile, so that its
	// files are not read again.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := f.aws.SQS.DeleteMessage(dctx, &sqs.DeleteMessageInput{
		QueueUrl: aws.String(f.queueURL), ReceiptHandle: m.ReceiptHandle,
	}); err != nil {
		f.log.Warn("delete of a handled notification failed; its files will be read again",
			"message_id", aws.ToString(m.MessageId), "err", err)
	}
}

// process reads the files m announces and reports whether m is done with: every file was
// produced or reported on the dead-letter topic. A notification that cannot be parsed is
// done with once it was received MaxReceiveCount times and was reported.
func (f *fetcher) process(ctx context.Context, m sqstypes.Message) bool {
	body := aws.ToString(m.Body)
	objs, err := s3event.Parse([]byte(body))
	if err != nil {
		return f.unreadable(ctx, m, err)
	}
	for _, o := range objs {
		if strings.Contains(o.Key, "/CloudTrail-Digest/") {
			f.log.Debug("digest file skipped", "bucket", o.Bucket, "key", o.Key)
			continue
		}
		start := time.Now()
		res, err := f.file(ctx, o)
		var te transientError
		switch {
		case errors.As(err, &te):
			f.log.Warn("file not read for now; the notification comes back after its visibility timeout",
				"bucket", o.Bucket, "key", o.Key, "records_produced", res.produced, "err", err)
			return false
		case err != nil:
			f.log.Error("file cannot be read; reported on the dead-letter topic",
				"bucket", o.Bucket, "key", o.Key, "err", err)
			e := f.deadLetter(o, err, nil)
			if err := deadletter.Write(ctx, f.dead, []deadletter.Entry{e}, f.log); err != nil {
				f.log.Warn("dead-letter write failed; the notification comes back", "bucket", o.Bucket, "key", o.Key, "err", err)
				return false
			}
		case res.dead > 0:
			f.log.Warn("file read, with records sent to the dead-letter topic", "bucket", o.Bucket, "key", o.Key,
				"records", res.produced, "dead_letters", res.dead, "took", time.Since(start))
		default:
			f.log.Info("file read", "bucket", o.Bucket, "key", o.Key, "records", res.produced, "took", time.Since(start))
		}
	}
	return true
}

// unreadable handles a notification that cannot be parsed: it is left in the queue to come
// back, in case a passing fault garbled it, until it was received MaxReceiveCount times;
// then it is reported on the dead-letter topic with its body and reason, and done with.
func (f *fetcher) unreadable(ctx context.Context, m sqstypes.Message, err error) bool {
	id := aws.ToString(m.MessageId)
	received, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	if received < f.cfg.MaxReceiveCount {
		f.log.Warn("notification cannot be parsed; it comes back after its visibility timeout",
			"message_id", id, "received", received, "dead_letter_after", f.cfg.MaxReceiveCount, "err", err)
		return false
	}
	e := deadletter.New("fetcher", fmt.Errorf("notification cannot be parsed (received %d times): %w", received, err), []byte(aws.ToString(m.Body)))
	e.Environment, e.MessageID = f.cfg.Environment, id
	if err := deadletter.Write(ctx, f.dead, []deadletter.Entry{e}, f.log); err != nil {
		f.log.Warn("dead-letter write failed; the notification comes back", "message_id", id, "err", err)
		return false
	}
	f.log.Error("notification cannot be parsed; reported on the dead-letter topic and deleted",
		"message_id", id, "received", received, "err", err)
	return true
}

// deadLetter returns the dead-letter entry of a file, or of a part of it, with payload.
func (f *fetcher) deadLetter(o s3event.Object, reason error, payload []byte) deadletter.Entry {
	e := deadletter.New("fetcher", reason, payload)
	e.Environment, e.Bucket, e.Key = f.cfg.Environment, o.Bucket, o.Key
	return e
}

// transientError marks a failure that may pass (network, server, Kafka): the notification
// is kept, to be tried again.
type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// fileResult counts what became of a file's records.
type fileResult struct {
	produced, dead int
}

// file produces every readable record of one object and dead-letters the rest. The error
// is a transientError when the file should be read again later (S3 or Kafka failed), or
// says why the file as a whole cannot be read (not found, not a CloudTrail file).
func (f *fetcher) file(ctx context.Context, o s3event.Object) (fileResult, error) {
	var res fileResult
	// The request is given up when S3 sends nothing for stallTimeout, while the fetcher
	// waits for it (not while it writes to Kafka).
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	guard := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	obj, err := f.aws.S3.GetObject(sctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)})
	guard.Stop()
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 {
			return res, fmt.Errorf("get s3://%s/%s: %w", o.Bucket, o.Key, err)
		}
		return res, transientError{fmt.Errorf("get s3://%s/%s: %w", o.Bucket, o.Key, stallCause(sctx, err))}
	}
	body := &readErrors{r: obj.Body, guard: guard}
	defer obj.Body.Close()
	headers := []kafka.Header{
		{Key: "s3_bucket", Value: []byte(o.Bucket)},
		{Key: "s3_key", Value: []byte(o.Key)},
		{Key: "environment", Value: []byte(f.cfg.Environment)},
	}
	key := []byte(o.Bucket + "/" + o.Key)
	var (
		batch   = make([]kafka.Message, 0, chunk)
		indexes = make([]int, 0, chunk) // of batch's records in the file
		offsets = make([]int64, 0, chunk)
		dead    []deadletter.Entry
	)
	bad := func(reason error, index int, offset int64, payload []byte) {
		e := f.deadLetter(o, reason, payload)
		e.RecordIndex, e.ByteOffset = &index, &offset
		dead = append(dead, e)
	}
	flush := func() error {
		rejected, err := f.raw.Write(ctx, batch...)
		if err != nil {
			return transientError{fmt.Errorf("write %s: %w", f.cfg.TopicRaw, err)}
		}
		for _, r := range rejected {
			bad(fmt.Errorf("record %d of s3://%s/%s: %w", indexes[r.Index], o.Bucket, o.Key, r.Err), indexes[r.Index], offsets[r.Index], batch[r.Index].Value)
		}
		if err := deadletter.Write(ctx, f.dead, dead, f.log); err != nil {
			return transientError{err}
		}
		res.produced += len(batch) - len(rejected)
		res.dead += len(dead)
		batch, indexes, offsets, dead = batch[:0], indexes[:0], offsets[:0], dead[:0]
		return nil
	}
	err = cloudtrail.Records(body, func(rec cloudtrail.Record) error {
		if rec.Err != nil {
			bad(fmt.Errorf("record %d of s3://%s/%s: %w", rec.Index, o.Bucket, o.Key, rec.Err), rec.Index, rec.Offset, rec.Data)
		} else {
			batch = append(batch, kafka.Message{Key: key, Value: rec.Data, Headers: headers})
			indexes, offsets = append(indexes, rec.Index), append(offsets, rec.Offset)
		}
		if len(batch)+len(dead) >= chunk {
			return flush()
		}
		return nil
	})
	if body.err != nil { // the connection failed, not the file: read it again later
		return res, transientError{fmt.Errorf("read s3://%s/%s: %w", o.Bucket, o.Key, stallCause(sctx, body.err))}
	}
	var stop *cloudtrail.StopError
	switch {
	case errors.As(err, &stop):
		bad(fmt.Errorf("reading s3://%s/%s stopped at byte %d, in record %d: %w", o.Bucket, o.Key, stop.Offset, stop.Index, stop.Err), stop.Index, stop.Offset, stop.Tail)
		err = nil
	case err != nil && !errors.As(err, new(transientError)):
		return res, fmt.Errorf("decode s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	if err == nil {
		err = flush()
	}
	return res, err
}

// stallTimeout is how long a request for an S3 object may go without an answer or without
// more of the object before it is given up and the file read again later: a connection that
// stopped answering would otherwise hold its notification for good.
var stallTimeout = time.Minute

var errStalled = errors.New("S3 sent nothing for the stall timeout")

// stallCause returns err, naming the stall when that is why the request of ctx ended.
func stallCause(ctx context.Context, err error) error {
	if context.Cause(ctx) == errStalled {
		return fmt.Errorf("%w (%s): %w", errStalled, stallTimeout, err)
	}
	return err
}

// readErrors remembers a failure of the underlying read, which tells a broken connection
// (try again) from a broken file (dead letter). Each read runs under the stall guard.
type readErrors struct {
	r     io.Reader
	guard *time.Timer
	err   error
}

func (r *readErrors) Read(p []byte) (int, error) {
	r.guard.Reset(stallTimeout)
	n, err := r.r.Read(p)
	r.guard.Stop()
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
