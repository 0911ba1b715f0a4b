package fetcher

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/sources"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// BenchmarkCollect reads one bucket of generated CloudTrail files (BENCH_BACKFILL_RECORDS,
// default 400,000 records in about 2,000 files) twice in the same run: through the
// notification path (one S3 notification per file on the queue) and through backfill
// (nothing notified, the stored files listed and read), each into a topic and database of
// its own. It reports both rates in records/s, backfill's as a ratio of the notification
// path's (the goal is 0.9 or more), and the time to list 1,000 objects (make bench-backfill).
func BenchmarkCollect(b *testing.B) {
	records := 400_000
	if v := os.Getenv("BENCH_BACKFILL_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("BENCH_BACKFILL_RECORDS=%q: %v", v, err)
		}
		records = n
	}
	defer func(l *slog.Logger) { slog.SetDefault(l) }(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	c := testenv.Config(b)
	cl, queueURL := testenv.AWS(b, c)
	ctx := context.Background()

	// The bucket: files of up to 200 records over two hours of five accounts and regions.
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Hour)
	var (
		keys []string
		mu   sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 8)
	)
	for f := range generate.Files(generate.Options{Events: records, Accounts: 5, RecordsPerFile: 200, Seed: 7, Start: start, Span: 2 * time.Hour}) {
		var buf bytes.Buffer
		if err := generate.WriteFile(&buf, slices.Values(f.Records)); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			testenv.PutObject(b, cl, c, f.Key, buf.Bytes())
			mu.Lock()
			keys = append(keys, f.Key)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.Logf("bucket: %d files, %d records", len(keys), records)

	// run starts a fetcher of its own topic and database and returns how long it took
	// until the raw topic held every record.
	run := func(name string, edit func(*config.Config)) time.Duration {
		rc := c
		rc.TopicRaw = testenv.Name("bench-raw-")
		rc.ClickHouseDatabase = testenv.Name("ts_bench_")
		rc.GroupPrefix = testenv.Name("ts-bench-")
		rc.ScanInterval = 24 * time.Hour
		edit(&rc)
		conn := testenv.ClickHouse(b, rc) // a database of its own, dropped afterwards
		_ = conn
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		began := time.Now()
		go func() { done <- Run(rctx, rc) }()
		deadline := began.Add(15 * time.Minute)
		for testenv.TopicSize(b, testenv.Cluster(b, rc), rc.TopicRaw) < int64(records) {
			if time.Now().After(deadline) {
				b.Fatalf("%s: %d of %d records after 15 minutes", name, testenv.TopicSize(b, testenv.Cluster(b, rc), rc.TopicRaw), records)
			}
			time.Sleep(50 * time.Millisecond)
		}
		took := time.Since(began)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		return took
	}

	b.ResetTimer()
	var notified, backfilled time.Duration
	for range b.N {
		notified = run("notifications", func(rc *config.Config) {
			rc.BackfillSince = -1
			sendNotifications(b, cl.SQS, queueURL, c, keys)
		})
		backfilled = run("backfill", func(rc *config.Config) {
			rc.Queue = testenv.Name("ts-bench-none-") // no queue: the files must be found
			rc.BackfillSince = 24 * time.Hour
		})
	}
	b.StopTimer()

	// Listing: every day folder of the bucket, counted.
	listStart := time.Now()
	src := sources.Source{ID: "bench", Bucket: c.Bucket}
	folders, err := dayFolders(ctx, cl.S3, src, start, time.Now(), 8)
	if err != nil {
		b.Fatal(err)
	}
	listed := 0
	for _, d := range folders {
		n, _, err := count(ctx, cl.S3, c.Bucket, d.prefix)
		if err != nil {
			b.Fatal(err)
		}
		listed += n
	}
	listing := time.Since(listStart)
	if listed != len(keys) {
		b.Fatalf("listed %d objects, want %d", listed, len(keys))
	}

	nRate := float64(records) / notified.Seconds()
	bRate := float64(records) / backfilled.Seconds()
	b.ReportMetric(nRate, "notification-records/s")
	b.ReportMetric(bRate, "backfill-records/s")
	b.ReportMetric(bRate/nRate, "backfill/notification")
	b.ReportMetric(float64(listing.Milliseconds())*1000/float64(listed), "list-ms/1000-objects")
	b.Logf("notification path %.1f s (%.0f records/s), backfill %.1f s (%.0f records/s): %.2fx; listing %d objects in %s",
		notified.Seconds(), nRate, backfilled.Seconds(), bRate, bRate/nRate, listed, listing)
}

// sendNotifications sends the S3 notification of every key, ten a request.
func sendNotifications(b *testing.B, client *sqs.Client, queueURL string, c config.Config, keys []string) {
	for i := 0; i < len(keys); i += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for j, k := range keys[i:min(i+10, len(keys))] {
			body := testenv.PutObject(b, nil, c, k, nil) // the notification only
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(body)})
		}
		out, err := client.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			b.Fatalf("send notifications: %v %v", err, out)
		}
	}
}
