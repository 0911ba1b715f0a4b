// Package testenv gives integration tests their real servers: a private database on the
// local ClickHouse, a private bucket and queue on the local S3/SQS emulator, and an
// in-process Kafka-protocol broker. A missing server fails the test with how to start it.
package testenv

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/s3event"
)

const howToStart = "start the local stack with `deploy/local/stack.sh up` (or run `make test`, which does)"

// Name returns a fresh name with the given prefix, safe for databases, buckets and queues.
func Name(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Config returns the local-stack defaults with private resources for this test: database,
// bucket, queue and consumer groups of its own, and an embedded Kafka broker; no metrics
// endpoint.
func Config(t testing.TB) config.Config {
	t.Helper()
	c := config.Default()
	if v := os.Getenv("TRAILSTREAM_TEST_CLICKHOUSE_ADDR"); v != "" {
		c.ClickHouseAddr = v
	}
	if v := os.Getenv("TRAILSTREAM_TEST_AWS_ENDPOINT"); v != "" {
		c.AWSEndpoint = v
	}
	c.ClickHouseDatabase = Name("ts_test_")
	c.Bucket = Name("ts-test-")
	c.Queue = Name("ts-test-")
	c.GroupPrefix = Name("ts-test-")
	c.Environment = "test"
	c.BatchWait = 100 * time.Millisecond
	c.PollWait = time.Second // a stopping fetcher lets its receive end
	c.KafkaBrokers = Kafka(t)[0]
	c.MetricsAddr = "" // tests that look at the metrics endpoint give it a free address
	return c
}

// ClickHouse connects to the configured ClickHouse, migrates c.ClickHouseDatabase and drops
// it when the test ends.
func ClickHouse(t testing.TB, c config.Config) driver.Conn {
	t.Helper()
	// Not a context that is cancelled on return: clickhouse-go may still be watching it for a
	// connection it put back in its pool, and close that connection under the next query.
	// Dialing gives up by itself (chstore.Open's dial timeout).
	ctx := context.Background()
	conn, err := chstore.Open(ctx, chstore.OptionsOf(c))
	if err != nil {
		t.Fatalf("ClickHouse is needed at %s and did not answer (%v): %s", c.ClickHouseAddr, err, howToStart)
	}
	if err := chstore.Migrate(ctx, conn, c.ClickHouseDatabase, slog.Default()); err != nil {
		t.Fatalf("migrate %s: %v", c.ClickHouseDatabase, err)
	}
	t.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+c.ClickHouseDatabase)
		conn.Close()
	})
	return conn
}

// AWS connects to the configured S3/SQS emulator and creates c.Bucket and c.Queue. It
// returns the clients and the queue URL.
func AWS(t testing.TB, c config.Config) (*awsutil.Clients, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := awsutil.New(ctx, c.AWSRegion, c.AWSEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(c.Bucket)}); err != nil {
		t.Fatalf("the S3/SQS emulator is needed at %s and did not create a bucket (%v): %s", c.AWSEndpoint, err, howToStart)
	}
	q, err := cl.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(c.Queue),
		Attributes: map[string]string{"VisibilityTimeout": "30"}})
	if err != nil {
		t.Fatalf("the S3/SQS emulator is needed at %s and did not create a queue (%v): %s", c.AWSEndpoint, err, howToStart)
	}
	t.Cleanup(func() { DeleteBucketAndQueue(cl, c.Bucket, aws.ToString(q.QueueUrl)) })
	return cl, aws.ToString(q.QueueUrl)
}

// DeleteBucketAndQueue removes a test's bucket, its objects first, and its queue, so that the
// emulator does not keep every test's data. Failures are ignored: it is cleaning up.
func DeleteBucketAndQueue(cl *awsutil.Clients, bucket, queueURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = cl.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(queueURL)})
	p := s3.NewListObjectsV2Paginator(cl.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		for _, o := range page.Contents {
			_, _ = cl.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		}
	}
	_, _ = cl.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
}

// Kafka starts an in-process Kafka-protocol broker for this test and returns its addresses.
func Kafka(t testing.TB) []string {
	t.Helper()
	e, err := kafkautil.StartEmbedded(0, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e.Brokers()
}

// Cluster returns the Kafka cluster of c (brokers, TLS, SASL), failing the test on settings
// that cannot work.
func Cluster(t testing.TB, c config.Config) kafkautil.Cluster {
	t.Helper()
	kc, err := kafkautil.NewCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// KafkaDefaultMaxMessageBytes is Kafka's default max.message.bytes (the broker's
// message.max.bytes), which topics created without a setting of their own have.
const KafkaDefaultMaxMessageBytes = 1048588

// CreateTopic creates topic with the given partitions and max.message.bytes, as an
// operator creating trailstream's topics beforehand would.
func CreateTopic(t testing.TB, kc kafkautil.Cluster, topic string, partitions, maxMessageBytes int) {
	t.Helper()
	conn, err := kc.Dialer(0).Dial("tcp", kc.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(maxMessageBytes)}}}); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// DeadLetters reads n entries of the dead-letter topic of c, failing the test when they do
// not come within timeout.
func DeadLetters(t testing.TB, c config.Config, n int, timeout time.Duration) []deadletter.Entry {
	t.Helper()
	var out []deadletter.Entry
	for _, m := range ReadTopic(t, Cluster(t, c), c.TopicDeadLetter, n, timeout) {
		var e deadletter.Entry
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatalf("dead letter %q: %v", m.Value, err)
		}
		out = append(out, e)
	}
	return out
}

// ReadTopic reads messages of topic from the beginning, with a consumer group of its own,
// until it has n of them or timeout passes; it fails the test on a timeout.
func ReadTopic(t testing.TB, kc kafkautil.Cluster, topic string, n int, timeout time.Duration) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Dialer: kc.Dialer(0), GroupID: Name("ts-test-read-"), Topic: topic,
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: got %d of %d messages within %s: %v", topic, len(out), n, timeout, err)
		}
		out = append(out, m)
	}
	return out
}

// TopicSize returns how many messages topic holds, summed over its partitions.
func TopicSize(t testing.TB, kc kafkautil.Cluster, topic string) int64 {
	t.Helper()
	dialer := kc.Dialer(0)
	conn, err := dialer.Dial("tcp", kc.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var n int64
	for _, p := range parts {
		pc, err := dialer.DialLeader(context.Background(), "tcp", kc.Brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := pc.ReadOffsets()
		pc.Close()
		if err != nil {
			t.Fatalf("offsets of %s/%d: %v", topic, p.ID, err)
		}
		n += last - first
	}
	return n
}

// Committed returns the offsets consumer group has committed on topic, summed over its
// partitions: once it equals TopicSize, the group has handled everything.
func Committed(t testing.TB, kc kafkautil.Cluster, group, topic string) int64 {
	t.Helper()
	conn, err := kc.Dialer(0).Dial("tcp", kc.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	ids := make([]int, len(parts))
	for i, p := range parts {
		ids[i] = p.ID
	}
	cl := kc.Client(0)
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	resp, err := cl.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		t.Fatalf("committed offsets of %s on %s: %v", group, topic, err)
	}
	var n int64
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset > 0 {
			n += p.CommittedOffset
		}
	}
	return n
}

// PutObject stores body at key in c.Bucket (no object when body is nil) and returns the
// notification S3 would send for it.
func PutObject(t testing.TB, cl *awsutil.Clients, c config.Config, key string, body []byte) string {
	t.Helper()
	if body != nil {
		if _, err := cl.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("put s3://%s/%s: %v", c.Bucket, key, err)
		}
	}
	return string(s3event.ObjectCreated(c.AWSRegion, c.Bucket, key, int64(len(body)), "etag", time.Now()))
}

// SendMessage sends body to the queue.
func SendMessage(t testing.TB, cl *awsutil.Clients, queueURL, body string) {
	t.Helper()
	if _, err := cl.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("send to %s: %v", queueURL, err)
	}
}

// QueueDepth returns how many messages the queue holds, visible or in flight.
func QueueDepth(t testing.TB, cl *awsutil.Clients, queueURL string) int {
	t.Helper()
	out, err := cl.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatalf("attributes of %s: %v", queueURL, err)
	}
	n := 0
	for _, v := range out.Attributes {
		i, _ := strconv.Atoi(v)
		n += i
	}
	return n
}

// Gzip returns b gzip-compressed, as CloudTrail stores its files.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	// The best compression, as AWS's, rather than the default, whose ratio differs between
	// Go releases (1.27's hardly shrinks random text) and so would move test files across
	// size limits.
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b) // a bytes.Buffer takes every write
	w.Close()
	return buf.Bytes()
}

// Noise returns n characters that do not compress, as hashes and IDs in real records; the
// same seed gives the same characters.
func Noise(seed, n int) string {
	b := make([]byte, n)
	x := uint64(seed)*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[x%36]
	}
	return string(b)
}
