package fetcher

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/testenv"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestFetcher runs the fetcher against the real emulator and an embedded broker with good
// files, bad files and a bad notification, and checks that each lands where it belongs.
func TestFetcher(t *testing.T) {
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	brokers := c.Brokers()

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
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, good, gz([]byte(`{"Records":[`+string(sample)+`,{"eventID":"b","eventTime":"2026-11-21T10:00:00Z"}]}`))))
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, prefix+"big.json.gz", gz([]byte(big.String()))))
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/21/digest.json.gz", gz([]byte(`{"awsAccountId":"111122223333"}`))))
	badFiles := map[string][]byte{
		prefix + "corrupt.json.gz": gz([]byte(`{"Records":[{"eventID":"x"}]}`))[:30],
		prefix + "notjson.json.gz": gz([]byte(`this is not json`)),
		prefix + "notrail.json.gz": gz([]byte(`{"foo":"bar"}`)),
		prefix + "missing.json.gz": nil,
	}
	for k, b := range badFiles {
		testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, k, b))
	}
	testenv.SendMessage(t, cl, queueURL, "garbage, not a notification")

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

	dl := testenv.ReadTopic(t, brokers, c.TopicDeadLetter, len(badFiles), 60*time.Second)
	for _, m := range dl {
		var e deadletter.Entry
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatal(err)
		}
		if _, ok := badFiles[e.Key]; !ok || e.Bucket != c.Bucket || e.Reason == "" || e.Stage != "fetcher" {
			t.Fatalf("dead letter %+v", e)
		}
		delete(badFiles, e.Key)
	}
	if len(badFiles) != 0 {
		t.Fatalf("no dead letter for %v", badFiles)
	}

	// Every notification is deleted but the garbage one, left for the redrive policy.
	deadline := time.Now().Add(30 * time.Second)
	for testenv.QueueDepth(t, cl, queueURL) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d messages, want only the unparseable one", testenv.QueueDepth(t, cl, queueURL))
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
