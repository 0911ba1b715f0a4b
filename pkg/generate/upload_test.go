package generate

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trailstream/trailstream/pkg/s3event"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRunUploadsAndNotifies runs `generate --events 600` against the S3/SQS emulator and
// reads back what a fetcher would see: CloudTrail log files under CloudTrail's key layout,
// and one S3 event notification per file.
func TestRunUploadsAndNotifies(t *testing.T) {
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	var o Options
	o.Register(fs)
	if err := fs.Parse([]string{"--events", "600", "--seed", "11", "--start", "-2h"}); err != nil {
		t.Fatal(err)
	}
	if err := Run(ctx, c, o); err != nil {
		t.Fatal(err)
	}

	// The objects: CloudTrail log files whose records belong to the key's account and region.
	type object struct {
		size int64
		etag string // hex MD5 of the body
	}
	objects := map[string]object{}
	records := 0
	pages := s3.NewListObjectsV2Paginator(cl.S3, &s3.ListObjectsV2Input{Bucket: aws.String(c.Bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("list bucket: %v", err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			account, region := checkKey(t, key)
			out, err := cl.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(key)},
				func(o *s3.Options) { o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired })
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			body, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatalf("read %s: %v", key, err)
			}
			for _, raw := range readLogFile(t, body) {
				r := decode(t, raw)
				if r.RecipientAccountID != account || r.AWSRegion != region {
					t.Fatalf("%s holds a record of %s/%s", key, r.RecipientAccountID, r.AWSRegion)
				}
				if since := time.Since(r.EventTime); since < time.Hour || since > 2*time.Hour+time.Minute {
					t.Fatalf("%s holds a record of %s, not within --start -2h and an hour", key, r.EventTime)
				}
				records++
			}
			sum := md5.Sum(body)
			etag := hex.EncodeToString(sum[:])
			if s3tag := strings.Trim(aws.ToString(out.ETag), `"`); s3tag != etag {
				t.Errorf("%s: S3 ETag %s, MD5 of the body %s", key, s3tag, etag)
			}
			objects[key] = object{size: int64(len(body)), etag: etag}
		}
	}
	t.Logf("%d records in %d files", records, len(objects))
	if records != 600 || len(objects) < 2 {
		t.Fatalf("bucket holds %d records in %d files, want 600 in several", records, len(objects))
	}

	// The notifications: one per object, as S3 sends them.
	notified := map[string]bool{}
	for len(notified) < len(objects) && ctx.Err() == nil {
		out, err := cl.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			objs, err := s3event.Parse([]byte(body))
			if err != nil || len(objs) != 1 {
				t.Fatalf("notification %s: %d objects, %v", body, len(objs), err)
			}
			got := objs[0]
			want, ok := objects[got.Key]
			if got.Bucket != c.Bucket || !ok || got.Size != want.size || notified[got.Key] {
				t.Fatalf("notification of s3://%s/%s (%d bytes) does not match one new object", got.Bucket, got.Key, got.Size)
			}
			if !strings.Contains(body, `"eTag":"`+want.etag+`"`) {
				t.Errorf("notification of %s lacks eTag %s: %s", got.Key, want.etag, body)
			}
			notified[got.Key] = true
			if _, err := cl.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete message: %v", err)
			}
		}
	}
	if len(notified) != len(objects) {
		t.Fatalf("%d notifications for %d objects", len(notified), len(objects))
	}
	out, err := cl.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 1})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(out.Messages) != 0 {
		t.Errorf("more notifications than objects: %s", aws.ToString(out.Messages[0].Body))
	}
}
