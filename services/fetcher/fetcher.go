// Package fetcher is the service that reads CloudTrail log files as they land in S3. It
// long-polls the SQS queue that S3 notifies, streams each announced object and produces
// every record, unchanged, as one message on cloudtrail.raw. A notification is deleted only
// after Kafka acknowledged every record of every file it announced.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	raw      *kafka.Writer
	dead     *kafka.Writer
}

// Run fetches until ctx is cancelled.
func Run(ctx context.Context, cfg config.Config) error {
	log := slog.Default().With("service", "fetcher")
	clients, err := awsutil.New(ctx, cfg.AWSRegion, cfg.AWSEndpoint)
	if err != nil {
		return err
	}
	queueURL, err := clients.QueueURL(ctx, cfg.Queue)
	if err != nil {
		return err
	}
	brokers := cfg.Brokers()
	if err := kafkautil.EnsureTopics(ctx, brokers, cfg.Partitions, cfg.TopicRaw, cfg.TopicDeadLetter); err != nil {
		return err
	}
	f := &fetcher{cfg: cfg, log: log, aws: clients, queueURL: queueURL,
		raw: kafkautil.NewWriter(brokers, cfg.TopicRaw), dead: kafkautil.NewWriter(brokers, cfg.TopicDeadLetter)}
	defer f.raw.Close()
	defer f.dead.Close()
	log.Info("fetching", "queue", queueURL, "to", cfg.TopicRaw, "environment", cfg.Environment)
	backoff := time.Second
	for ctx.Err() == nil {
		out, err := clients.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 20,
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			log.Warn("receive from SQS failed, retrying", "queue", queueURL, "err", err, "backoff", backoff)
			sleep(ctx, backoff)
			backoff = min(backoff*2, time.Minute)
			continue
		}
		backoff = time.Second
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

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// handle processes one notification and deletes it when every file it announces was either
// produced in full or reported on the dead-letter topic.
func (f *fetcher) handle(ctx context.Context, m sqstypes.Message) {
	objs, err := s3event.Parse([]byte(aws.ToString(m.Body)))
	if err != nil {
		f.log.Error("notification cannot be parsed; left for the queue's redrive policy",
			"message_id", aws.ToString(m.MessageId), "err", err)
		return
	}
	for _, o := range objs {
		if strings.Contains(o.Key, "/CloudTrail-Digest/") {
			f.log.Debug("digest file skipped", "bucket", o.Bucket, "key", o.Key)
			continue
		}
		start := time.Now()
		n, err := f.file(ctx, o)
		var te transientError
		switch {
		case errors.As(err, &te):
			f.log.Warn("file not read for now; the notification comes back after its visibility timeout",
				"bucket", o.Bucket, "key", o.Key, "err", err)
			return
		case err != nil:
			f.log.Error("file cannot be read; reported on the dead-letter topic",
				"bucket", o.Bucket, "key", o.Key, "records_before_error", n, "err", err)
			e := deadletter.Entry{Stage: "fetcher", Reason: err.Error(), Time: time.Now().UTC(),
				Environment: f.cfg.Environment, Bucket: o.Bucket, Key: o.Key, SourcePartition: -1, SourceOffset: -1}
			if err := f.dead.WriteMessages(ctx, e.Message()); err != nil {
				f.log.Warn("dead-letter write failed; the notification comes back", "bucket", o.Bucket, "key", o.Key, "err", err)
				return
			}
		default:
			f.log.Info("file read", "bucket", o.Bucket, "key", o.Key, "records", n, "took", time.Since(start))
		}
	}
	if _, err := f.aws.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl: aws.String(f.queueURL), ReceiptHandle: m.ReceiptHandle,
	}); err != nil {
		f.log.Warn("delete of a handled notification failed; its files will be read again",
			"message_id", aws.ToString(m.MessageId), "err", err)
	}
}

// transientError marks a failure that may pass (network, server, Kafka): the notification
// is kept, to be tried again.
type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// file produces every record of one object and returns how many it produced.
func (f *fetcher) file(ctx context.Context, o s3event.Object) (int, error) {
	obj, err := f.aws.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)})
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 {
			return 0, fmt.Errorf("get s3://%s/%s: %w", o.Bucket, o.Key, err)
		}
		return 0, transientError{fmt.Errorf("get s3://%s/%s: %w", o.Bucket, o.Key, err)}
	}
	body := &readErrors{r: obj.Body}
	defer obj.Body.Close()
	headers := []kafka.Header{
		{Key: "s3_bucket", Value: []byte(o.Bucket)},
		{Key: "s3_key", Value: []byte(o.Key)},
		{Key: "environment", Value: []byte(f.cfg.Environment)},
	}
	key := []byte(o.Bucket + "/" + o.Key)
	batch := make([]kafka.Message, 0, chunk)
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := f.raw.WriteMessages(ctx, batch...); err != nil {
			return transientError{fmt.Errorf("write %s: %w", f.cfg.TopicRaw, err)}
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err = cloudtrail.Records(body, func(rec []byte) error {
		batch = append(batch, kafka.Message{Key: key, Value: rec, Headers: headers})
		if len(batch) == chunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if body.err != nil {
		return n, transientError{fmt.Errorf("read s3://%s/%s: %w", o.Bucket, o.Key, body.err)}
	}
	if err != nil && !errors.As(err, new(transientError)) {
		err = fmt.Errorf("decode s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	return n, err
}

// readErrors remembers a failure of the underlying read, which tells a broken connection
// (try again) from a broken file (dead letter).
type readErrors struct {
	r   io.Reader
	err error
}

func (r *readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
