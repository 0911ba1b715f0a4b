package fetcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestFetcher runs the fetcher against the real emulator and an embedded broker with good
// files, bad files and a bad notification, and checks that each lands where it belongs.
func TestFetcher(t *testing.T) {
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	brokers := testenv.Cluster(t, c)

	sample, err := os.ReadFile("testdata/console_login_failure.json")
	if err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	big.WriteString(`{"Records":[`)
	const bigN = 1200 // more than one produce chunk
	for i := 0; i < bigN; i++ {
		if i > 0 {
			big.WriteByte(',')
		}
		fmt.Fprintf(&big, `{"eventID":"big-%d","eventTime":"2026-11-21T10:00:00Z"}`, i)
	}
	big.WriteString(`]}`)
	prefix := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/"
	good := prefix + "111122223333_CloudTrail_us-east-1_20261121T1000Z_good file+1.json.gz"
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, good, testenv.Gzip([]byte(`{"Records":[`+string(sample)+`,{"eventID":"b","eventTime":"2026-11-21T10:00:00Z"}]}`))))
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, prefix+"big.json.gz", testenv.Gzip([]byte(big.String()))))
	badFiles := map[string][]byte{
		// A digest without its digestStartTime and the rest is not one.
		"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/21/digest.json.gz": testenv.Gzip([]byte(`{"awsAccountId":"111122223333"}`)),
		prefix + "corrupt.json.gz": testenv.Gzip([]byte(`{"Records":[{"eventID":"x"}]}`))[:30],
		prefix + "notjson.json.gz": testenv.Gzip([]byte(`this is not json`)),
		prefix + "notrail.json.gz": testenv.Gzip([]byte(`{"foo":"bar"}`)),
		prefix + "missing.json.gz": nil,
	}
	for k, b := range badFiles {
		testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, k, b))
	}
	garbage := []string{"garbage, not a notification", `{"Records":null}`}
	for _, g := range garbage {
		testenv.SendMessage(t, cl, queueURL, g)
	}
	c.MaxReceiveCount = 2
	c.VisibilityTimeout = time.Second // so that the unparseable ones come back soon

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()

	raw := testenv.ReadTopic(t, brokers, c.TopicRaw, 2+bigN, 60*time.Second)
	byID := map[string]kafka.Message{}
	for _, m := range raw {
		var r struct{ EventID string }
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatalf("raw message is not a record: %q", m.Value)
		}
		byID[r.EventID] = m
	}
	m := byID["f36c1d07-73cf-4ab8-84b1-04c93ac2aaeb"]
	if !bytes.Equal(m.Value, bytes.TrimSpace(sample)) && !bytes.Equal(m.Value, sample) {
		t.Fatalf("record changed on the way:\n%s", m.Value)
	}
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers["s3_bucket"] != c.Bucket || headers["s3_key"] != good || headers["environment"] != "test" {
		t.Fatalf("headers %v", headers)
	}
	if len(byID) != 2+bigN {
		t.Fatalf("%d distinct records, want %d", len(byID), 2+bigN)
	}

	bodies := map[string]bool{}
	for _, g := range garbage {
		bodies[g] = true
	}
	for _, e := range testenv.DeadLetters(t, c, len(badFiles)+len(garbage), 60*time.Second) {
		if e.Stage != "fetcher" || e.Reason == "" {
			t.Fatalf("dead letter %+v", e)
		}
		if e.Bucket == "" { // an unparseable notification, after its second receive
			if !bodies[e.Payload] || e.MessageID == "" || !strings.Contains(e.Reason, "received 2 times") {
				t.Fatalf("dead letter of a notification %+v, want its body, message ID and receive count", e)
			}
			delete(bodies, e.Payload)
			continue
		}
		if _, ok := badFiles[e.Key]; !ok || e.Bucket != c.Bucket {
			t.Fatalf("dead letter %+v", e)
		}
		delete(badFiles, e.Key)
	}
	if len(badFiles) != 0 || len(bodies) != 0 {
		t.Fatalf("no dead letter for %v %v", badFiles, bodies)
	}

	// Every notification is deleted, the unparseable ones once dead-lettered.
	deadline := time.Now().Add(30 * time.Second)
	for testenv.QueueDepth(t, cl, queueURL) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d messages, want none", testenv.QueueDepth(t, cl, queueURL))
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := testenv.TopicSize(t, brokers, c.TopicRaw); n != 2+bigN {
		t.Fatalf("raw topic holds %d messages, want %d (digest and bad files produce nothing)", n, 2+bigN)
	}
}

// TestFetcherFileDefects reads files that stopped the fetcher before: records larger than a
// 1 MB raw topic takes in one batch, a record too large for it even alone, a file with a
// record that is not an object, and a truncated file. Every readable record must arrive;
// each unreadable part is dead-lettered alone, with bucket, key and its place in the file.
func TestFetcherFileDefects(t *testing.T) {
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	brokers := testenv.Cluster(t, c)
	for _, topic := range []string{c.TopicRaw, c.TopicDeadLetter} {
		testenv.CreateTopic(t, brokers, topic, 3, testenv.KafkaDefaultMaxMessageBytes)
	}
	prefix := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/"
	file := func(n int, body func(i int) string) []byte {
		var b strings.Builder
		b.WriteString(`{"Records":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(body(i))
		}
		b.WriteString(`]}`)
		return []byte(b.String())
	}
	rec := func(name string, i, size int) string {
		r := fmt.Sprintf(`{"eventID":"%s-%d","eventTime":"2026-11-21T10:00:00Z","requestParameters":{"blob":"`, name, i)
		return r + testenv.Noise(i, size-len(r)-3) + `"}}`
	}
	type wantDead struct {
		index  int
		reason string
	}
	truncated := testenv.Gzip(file(100, func(i int) string { return rec("truncated", i, 1000) }))
	tests := []struct {
		name string
		body []byte
		good int // records that must arrive
		dead []wantDead
	}{
		// 15 MB of 17 KB records, gzipped to 10 MB: under the emulator's 11 MiB request limit.
		{"large", testenv.Gzip(file(900, func(i int) string { return rec("large", i, 17<<10) })), 900, nil},
		{"huge", testenv.Gzip(file(6, func(i int) string {
			if i == 3 {
				return rec("huge", i, 2<<20)
			}
			return rec("huge", i, 300)
		})), 5, []wantDead{{3, "exceeds"}}},
		{"nonobject", testenv.Gzip(file(1000, func(i int) string {
			if i == 700 {
				return `"not an object"`
			}
			return rec("nonobject", i, 300)
		})), 999, []wantDead{{700, "not"}}},
		// A gzip file cut after the compressed data of about half its records.
		{"truncated", truncated[:len(truncated)/2], -1, []wantDead{{-1, "stopped"}}},
	}
	for _, tt := range tests {
		testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, prefix+tt.name+".json.gz", tt.body))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	var ndead int
	for _, tt := range tests {
		ndead += len(tt.dead)
	}
	dead := map[string][]deadletter.Entry{}
	for _, e := range testenv.DeadLetters(t, c, ndead, 60*time.Second) {
		dead[strings.TrimSuffix(strings.TrimPrefix(e.Key, prefix), ".json.gz")] = append(dead[strings.TrimSuffix(strings.TrimPrefix(e.Key, prefix), ".json.gz")], e)
	}
	deadline := time.Now().Add(30 * time.Second)
	for testenv.QueueDepth(t, cl, queueURL) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d notifications not deleted", testenv.QueueDepth(t, cl, queueURL))
		}
		time.Sleep(100 * time.Millisecond)
	}
	counts := map[string]int{}
	for _, m := range testenv.ReadTopic(t, brokers, c.TopicRaw, int(testenv.TopicSize(t, brokers, c.TopicRaw)), 30*time.Second) {
		var r struct{ EventID string }
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatalf("raw message is not a record: %.100q", m.Value)
		}
		counts[r.EventID[:strings.IndexByte(r.EventID, '-')]]++
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dead[tt.name]
			if len(got) != len(tt.dead) {
				t.Fatalf("%d dead letters, want %d: %+v", len(got), len(tt.dead), got)
			}
			for i, w := range tt.dead {
				e := got[i]
				if e.Bucket != c.Bucket || e.Environment != "test" || !strings.Contains(e.Reason, w.reason) || e.RecordIndex == nil || e.ByteOffset == nil {
					t.Fatalf("dead letter %+v, want bucket, environment, index and offset, and a reason with %q", e, w.reason)
				}
				if w.index >= 0 && *e.RecordIndex != w.index {
					t.Fatalf("dead letter of record %d, want %d", *e.RecordIndex, w.index)
				}
			}
			switch {
			case tt.good >= 0 && counts[tt.name] != tt.good:
				t.Fatalf("%d records produced, want %d", counts[tt.name], tt.good)
			case tt.good < 0: // truncated: every record before the cut, and only those
				if idx := *got[0].RecordIndex; counts[tt.name] != idx || idx < 30 || idx > 70 {
					t.Fatalf("%d records produced and reading stopped in record %d; want all of the first half", counts[tt.name], idx)
				}
			}
		})
	}
}

// TestFetcherWaitsForQueue starts a fetcher before its queue exists: it waits, saying so,
// and reads the queue once it is there.
func TestFetcherWaitsForQueue(t *testing.T) {
	c := testenv.Config(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	time.Sleep(2 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("Run returned while its queue did not exist yet: %v", err)
	default:
	}
	cl, queueURL := testenv.AWS(t, c)
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/late.json.gz"
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, key, testenv.Gzip([]byte(`{"Records":[{"eventID":"late","eventTime":"2026-11-21T10:00:00Z"}]}`))))
	testenv.ReadTopic(t, testenv.Cluster(t, c), c.TopicRaw, 1, 60*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestKeepInvisible receives a notification for 2 s on the emulator and checks that the
// renewal keeps it from being delivered again well past that, that it comes back soon
// after the renewal stops, and that a failing renewal is logged and tried again.
func TestKeepInvisible(t *testing.T) {
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	testenv.SendMessage(t, cl, queueURL, "slow notification")
	receive := func(wait int32) []sqstypes.Message {
		t.Helper()
		out, err := cl.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: wait, VisibilityTimeout: 2,
		})
		if err != nil {
			t.Fatalf("receive from %s: %v", queueURL, err)
		}
		return out.Messages
	}
	got := receive(1)
	if len(got) != 1 {
		t.Fatalf("received %d messages, want the one sent", len(got))
	}
	m := got[0]

	stop := keepInvisible(context.Background(), slog.Default(), cl.SQS, queueURL, m, 2*time.Second, nil)
	if again := receive(4); len(again) != 0 {
		stop()
		t.Fatalf("the notification was delivered again while it was kept invisible: %v", aws.ToString(again[0].MessageId))
	}
	stop()
	start := time.Now()
	again := receive(4)
	if len(again) != 1 || aws.ToString(again[0].MessageId) != aws.ToString(m.MessageId) {
		t.Fatalf("after the renewal stopped, received %d messages within %s, want the notification back", len(again), time.Since(start))
	}

	// A renewal that fails (a receipt that is no longer valid) is logged with the message ID
	// and tried again at the next tick.
	var logs bytes.Buffer
	bad := sqstypes.Message{MessageId: aws.String("gone-1"), ReceiptHandle: aws.String("no-such-receipt")}
	stop = keepInvisible(context.Background(), slog.New(slog.NewJSONHandler(&logs, nil)), cl.SQS, queueURL, bad, time.Second, nil)
	time.Sleep(1200 * time.Millisecond)
	stop()
	if n := strings.Count(logs.String(), `"message_id":"gone-1"`); n < 2 {
		t.Fatalf("%d failed renewals logged with the message ID, want at least 2; logs:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"err":`) {
		t.Fatalf("failed renewal logged without its error:\n%s", logs.String())
	}
}

func TestVisibilitySeconds(t *testing.T) {
	tests := []struct {
		in      time.Duration
		want    int32
		wantErr bool
	}{
		{time.Minute, 60, false},
		{time.Second, 1, false},
		{12 * time.Hour, 43200, false},
		{0, 0, true},
		{-time.Second, 0, true},
		{1500 * time.Millisecond, 0, true},
		{12*time.Hour + time.Second, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			got, err := visibilitySeconds(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("visibilitySeconds(%s) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "--sqs-visibility-timeout") {
				t.Fatalf("error does not name the flag: %v", err)
			}
		})
	}
	c := config.Default()
	c.VisibilityTimeout = 0
	if err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "--sqs-visibility-timeout") {
		t.Fatalf("Run with a zero visibility timeout: %v, want an error naming the flag", err)
	}
}

func TestWaitSeconds(t *testing.T) {
	tests := []struct {
		in      time.Duration
		want    int32
		wantErr bool
	}{
		{10 * time.Second, 10, false},
		{0, 0, false},
		{20 * time.Second, 20, false},
		{21 * time.Second, 0, true},
		{-time.Second, 0, true},
		{500 * time.Millisecond, 0, true},
	}
	for _, tt := range tests {
		got, err := waitSeconds(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Fatalf("waitSeconds(%s) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "--sqs-wait-time") {
			t.Fatalf("error does not name the flag: %v", err)
		}
	}
}

// TestShutdownReleases stops a fetcher in the middle of a receive and sends a notification
// at that moment: the stopping fetcher lets its receive end and hands the notification back
// at once, instead of leaving it invisible for the visibility timeout.
func TestShutdownReleases(t *testing.T) {
	c := testenv.Config(t)
	c.PollWait = 5 * time.Second
	cl, queueURL := testenv.AWS(t, c)

	// A first file shows the fetcher is running; afterwards it waits in a receive.
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/first.json.gz"
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, key, testenv.Gzip([]byte(`{"Records":[{"eventID":"first","eventTime":"2026-11-21T10:00:00Z"}]}`))))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	testenv.ReadTopic(t, testenv.Cluster(t, c), c.TopicRaw, 1, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for testenv.QueueDepth(t, cl, queueURL) != 0 { // the first notification is deleted
		if time.Now().After(deadline) {
			t.Fatal("the first notification was not deleted within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // in the next receive

	stopped := time.Now()
	cancel()
	testenv.SendMessage(t, cl, queueURL, "arrives while the fetcher stops")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(c.PollWait + 10*time.Second):
		t.Fatal("Run did not return within the wait time after cancellation")
	}
	out, err := cl.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "arrives while the fetcher stops" {
		t.Fatalf("received %d messages %s after the stop, want the notification back at once", len(out.Messages), time.Since(stopped))
	}
}

// TestFetcherWaits: with Options.Wait holding it back, the fetcher reads no notification;
// once the wait lets it go, the file's records arrive.
func TestFetcherWaits(t *testing.T) {
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	brokers := testenv.Cluster(t, c)
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/111122223333_CloudTrail_us-east-1_20261121T1000Z_w.json.gz"
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, key, testenv.Gzip([]byte(
		`{"Records":[{"eventID":"w1","eventTime":"2026-11-21T10:00:00Z"},{"eventID":"w2","eventTime":"2026-11-21T10:00:01Z"}]}`))))
	release := make(chan struct{})
	var waits atomic.Int32
	wait := func(ctx context.Context) error {
		waits.Add(1)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunWith(ctx, c, Options{Wait: wait}) }()
	deadline := time.Now().Add(30 * time.Second)
	for waits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the fetcher never called its wait")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if n := testenv.TopicSize(t, brokers, c.TopicRaw); n != 0 {
		t.Fatalf("%d records produced while the wait held the fetcher back", n)
	}
	if n := testenv.QueueDepth(t, cl, queueURL); n != 1 {
		t.Fatalf("the queue holds %d notifications while the fetcher waits, want its one", n)
	}
	close(release)
	if got := testenv.ReadTopic(t, brokers, c.TopicRaw, 2, 30*time.Second); len(got) != 2 {
		t.Fatalf("%d records once the wait let the fetcher go, want 2", len(got))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWith: %v", err)
	}
}
