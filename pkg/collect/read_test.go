package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/digest"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/sources"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// newReader returns a Reader on the test's own topics and database.
func newReader(t *testing.T, c config.Config) *Reader {
	t.Helper()
	ctx := context.Background()
	brokers := testenv.Cluster(t, c)
	if err := kafkautil.EnsureTopics(ctx, brokers, 1, c.TopicRaw, c.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	raw, err := kafkautil.OpenWriter(ctx, brokers, c.TopicRaw, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	dead, err := kafkautil.OpenWriter(ctx, brokers, c.TopicDeadLetter, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	return &Reader{
		Raw: raw, Ledger: ledger.New(testenv.ClickHouse(t, c), c.ClickHouseDatabase), Log: slog.Default(),
		Dead: func(ctx context.Context, e []deadletter.Entry) error {
			return deadletter.Write(ctx, dead, e, slog.Default())
		},
	}
}

// TestStall reads a file from an S3 endpoint that sends half of it and then nothing: the
// read is given up after the stall timeout as a passing failure (the notification comes back),
// instead of holding the notification for as long as the connection stays open. A file
// that is slow between records but never silent for that long is read whole.
func TestStall(t *testing.T) {
	c := testenv.Config(t)
	cl, _ := testenv.AWS(t, c)
	defer func(d time.Duration) { StallTimeout = d }(StallTimeout)
	StallTimeout = 500 * time.Millisecond

	var recs strings.Builder
	recs.WriteString(`{"Records":[`)
	for i := 0; i < 2000; i++ {
		if i > 0 {
			recs.WriteByte(',')
		}
		fmt.Fprintf(&recs, `{"eventID":"stall-%d","eventTime":"2026-11-21T10:00:00Z","requestParameters":{"blob":"%s"}}`, i, testenv.Noise(i, 200))
	}
	recs.WriteString(`]}`)
	file := testenv.Gzip([]byte(recs.String()))
	prefix := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/"
	testenv.PutObject(t, cl, c, prefix+"stalls.json.gz", file)
	testenv.PutObject(t, cl, c, prefix+"slow.json.gz", file)

	target, _ := url.Parse(c.AWSEndpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "stalls.json.gz"):
			w.Header().Set("Content-Length", fmt.Sprint(len(file)))
			w.WriteHeader(http.StatusOK)
			w.Write(file[:len(file)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // and then nothing
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "slow.json.gz"):
			w.Header().Set("Content-Length", fmt.Sprint(len(file)))
			w.WriteHeader(http.StatusOK)
			for i := 0; i < len(file); i += len(file) / 4 {
				time.Sleep(StallTimeout / 3)
				w.Write(file[i:min(i+len(file)/4, len(file))])
				w.(http.Flusher).Flush()
			}
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	stalling, err := awsutil.New(ctx, c.AWSRegion, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r := newReader(t, c)
	src := sources.Source{ID: "s", Environment: "test"}
	start := time.Now()
	res, err := r.Get(ctx, stalling.S3, Object{Source: src, Bucket: c.Bucket, Key: prefix + "stalls.json.gz", Path: ledger.PathScan})
	var te Transient
	if !errors.As(err, &te) || !errors.Is(err, ErrStalled) {
		t.Fatalf("stalled file: %v (%+v), want a passing failure naming the stall", err, res)
	}
	if took := time.Since(start); took > 10*StallTimeout {
		t.Fatalf("the stall was noticed after %s, with a stall timeout of %s", took, StallTimeout)
	}
	res, err = r.Get(ctx, stalling.S3, Object{Source: src, Bucket: c.Bucket, Key: prefix + "slow.json.gz", Path: ledger.PathScan})
	if err != nil || res.Records != 2000 || res.Outcome != ledger.OutcomeRead {
		t.Fatalf("slow file: %+v, %v; want all 2000 records read", res, err)
	}
}

// TestKinds reads one object of each kind and checks what the ledger says of each.
func TestKinds(t *testing.T) {
	c := testenv.Config(t)
	cl, _ := testenv.AWS(t, c)
	r := newReader(t, c)
	r.Exclude, _ = NewFilter([]string{"kms:Decrypt"})
	ctx := context.Background()
	conn := testenv.ClickHouse(t, c)
	const acct = "111122223333"
	logKey := "AWSLogs/" + acct + "/CloudTrail/us-east-1/2026/11/30/" + acct + "_CloudTrail_us-east-1_20261130T1005Z_a.json.gz"
	logBody := []byte(`{"Records":[
		{"eventTime": "2026-11-30T09:58:00Z", "eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "eventID": "1"},
		{"eventTime": "2026-11-30T10:01:00Z", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventID": "2"},
		{"eventTime": "2026-11-30T09:55:30Z", "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventID": "3"}]}`)
	insightKey := "AWSLogs/" + acct + "/CloudTrail-Insight/us-east-1/2026/11/30/" + acct + "_CloudTrail-Insight_us-east-1_20261130T1000Z_b.json.gz"
	insightBody := []byte(`{"Records":[{"eventVersion":"1.07","eventTime":"2026-11-30T09:40:00Z","awsRegion":"us-east-1","eventID":"i1",
		"eventType":"AwsCloudTrailInsight","recipientAccountId":"111122223333","sharedEventID":"s1","eventCategory":"Insight",
		"insightDetails":{"state":"Start","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","insightType":"ApiCallRateInsight"}}]}`)
	digestKey := "AWSLogs/" + acct + "/CloudTrail-Digest/us-east-1/2026/11/30/" + acct + "_CloudTrail-Digest_us-east-1_main_us-east-1_20261130T110000Z.json.gz"
	hour := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var dg bytes.Buffer
	err := digest.Write(&dg, digest.Digest{AccountID: acct, Start: hour, End: hour.Add(time.Hour), Bucket: c.Bucket, Key: digestKey,
		Oldest: hour, Newest: hour.Add(30 * time.Minute), Files: []digest.LogFile{
			{Bucket: c.Bucket, Key: logKey, Hash: "00", HashAlgorithm: "SHA-256", Oldest: hour, Newest: hour},
			{Bucket: c.Bucket, Key: "AWSLogs/" + acct + "/CloudTrail/us-east-1/2026/11/30/never.json.gz", Hash: "11", HashAlgorithm: "SHA-256", Oldest: hour, Newest: hour},
		}})
	if err != nil {
		t.Fatal(err)
	}
	otherKey := "exports/lake/query-1.csv"
	for k, b := range map[string][]byte{logKey: testenv.Gzip(logBody), insightKey: testenv.Gzip(insightBody), digestKey: dg.Bytes(), otherKey: []byte("a,b\n")} {
		testenv.PutObject(t, cl, c, k, b)
	}
	src := sources.Source{ID: "s", Environment: "test"}
	get := func(key string) Result {
		t.Helper()
		res, err := r.Get(ctx, cl.S3, Object{Source: src, Bucket: c.Bucket, Key: key, Path: ledger.PathBackfill})
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return res
	}
	if res := get(logKey); res.Records != 2 || res.Excluded != 1 || res.Outcome != ledger.OutcomeRead {
		t.Errorf("log file: %+v, want 2 records and 1 excluded", res)
	}
	if got := r.Exclude.Counts()["kms:Decrypt"]; got != 1 {
		t.Errorf("kms:Decrypt excluded %d, want 1", got)
	}
	if res := get(insightKey); res.Records != 1 || res.Kind != "insight" {
		t.Errorf("insight file: %+v", res)
	}
	if res := get(digestKey); res.Records != 2 || res.Kind != "digest" {
		t.Errorf("digest: %+v, want its 2 files listed", res)
	}
	if res := get(otherKey); res.Outcome != ledger.OutcomeSkipped {
		t.Errorf("other object: %+v, want skipped", res)
	}
	if res := get(logKey); !res.Seen || res.Records != 0 {
		t.Errorf("log file again: %+v, want seen in the ledger, not read", res)
	}

	type row struct {
		kind, outcome, reason, sha string
		records                    uint32
		first, last                time.Time
	}
	got := map[string]row{}
	rows, err := conn.Query(ctx, "SELECT key, kind, outcome, reason, sha256, records, first_event, last_event FROM "+c.ClickHouseDatabase+".files")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var x row
		if err := rows.Scan(&k, &x.kind, &x.outcome, &x.reason, &x.sha, &x.records, &x.first, &x.last); err != nil {
			t.Fatal(err)
		}
		got[k] = x
	}
	if len(got) != 4 {
		t.Fatalf("%d ledger rows, want 4 (the log file once): %v", len(got), got)
	}
	l := got[logKey]
	// The hash is that of the content, as digests give it: sha256sum of the JSON.
	wantSHA, _ := digest.HashLogFile(bytes.NewReader(logBody))
	if l.kind != "log" || l.records != 2 || l.sha != wantSHA ||
		!l.first.Equal(time.Date(2026, 11, 30, 9, 55, 30, 0, time.UTC)) || !l.last.Equal(time.Date(2026, 11, 30, 10, 1, 0, 0, time.UTC)) {
		t.Errorf("ledger row of the log file: %+v (want sha %s)", l, wantSHA)
	}
	if o := got[otherKey]; o.kind != "other" || o.outcome != "skipped" || o.reason != "not under AWSLogs/" {
		t.Errorf("ledger row of the other object: %+v", o)
	}
	if d := got[digestKey]; d.kind != "digest" || d.records != 2 || !d.first.Equal(hour) {
		t.Errorf("ledger row of the digest: %+v", d)
	}
	missing, err := r.Ledger.Missing(ctx, "s", hour.Add(-time.Hour), -time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || !strings.HasSuffix(missing[0].Key, "never.json.gz") {
		t.Errorf("missing: %+v, want never.json.gz", missing)
	}
}

func TestEventTime(t *testing.T) {
	for _, tt := range []struct {
		rec  string
		want string
	}{
		{`{"eventVersion":"1.08","eventTime":"2026-11-30T10:00:00Z"}`, "2026-11-30T10:00:00Z"},
		{`{"eventTime" : "2026-11-30T10:00:01Z"}`, "2026-11-30T10:00:01Z"},
		{`{"eventTime":1}`, ""},
		{`{"eventTime":"yesterday"}`, ""},
		{`{"eventID":"x"}`, ""},
	} {
		got, ok := EventTime([]byte(tt.rec))
		if s := got.Format(time.RFC3339); ok != (tt.want != "") || (ok && s != tt.want) {
			t.Errorf("EventTime(%s) = %v, %v; want %q", tt.rec, got, ok, tt.want)
		}
	}
}

func TestFilter(t *testing.T) {
	f, err := NewFilter([]string{"kms:Decrypt", "s3:Get*", "*.amazonaws.com:Describe*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rec  string
		drop bool
	}{
		{`{"eventSource":"kms.amazonaws.com","eventName":"Decrypt"}`, true},
		{`{"eventSource":"kms.amazonaws.com","eventName":"Encrypt"}`, false},
		{`{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}`, true},
		{`{"eventSource":"s3.amazonaws.com","eventName":"PutObject"}`, false},
		{`{"eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances"}`, true},
		{`{"eventName":"Decrypt"}`, false},
	} {
		if got := f.Drop([]byte(tt.rec)); got != tt.drop {
			t.Errorf("Drop(%s) = %v, want %v", tt.rec, got, tt.drop)
		}
	}
	want := map[string]int64{"kms:Decrypt": 1, "s3:Get*": 1, "*.amazonaws.com:Describe*": 1}
	for p, n := range want {
		if got := f.Counts()[p]; got != n {
			t.Errorf("%s dropped %d, want %d", p, got, n)
		}
	}
	for _, bad := range []string{"Decrypt", "kms:", "[:x"} {
		if _, err := NewFilter([]string{bad}); err == nil {
			t.Errorf("NewFilter(%q) accepted", bad)
		}
	}
	if f, _ := NewFilter(nil); f != nil || f.Drop([]byte(`{}`)) {
		t.Error("no patterns: a filter that drops")
	}
}

// TestCheckedThenRecorded reads an object that a caller checked against the ledger before
// another path of the process read it: it is not read twice.
func TestCheckedThenRecorded(t *testing.T) {
	c := testenv.Config(t)
	cl, _ := testenv.AWS(t, c)
	r := newReader(t, c)
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/111122223333_CloudTrail_us-east-1_20261130T1005Z_twice.json.gz"
	testenv.PutObject(t, cl, c, key, testenv.Gzip([]byte(`{"Records":[{"eventID":"1","eventTime":"2026-11-30T10:00:00Z"}]}`)))
	ctx := context.Background()
	src := sources.Source{ID: "s"}
	// A backfill page checked the ledger: the key is not there. Meanwhile a notification
	// reads it.
	if res, err := r.Get(ctx, cl.S3, Object{Source: src, Bucket: c.Bucket, Key: key, Path: ledger.PathNotification}); err != nil || res.Records != 1 {
		t.Fatalf("notification: %+v, %v", res, err)
	}
	res, err := r.Get(ctx, cl.S3, Object{Source: src, Bucket: c.Bucket, Key: key, Path: ledger.PathBackfill, Checked: true})
	if err != nil || !res.Seen || res.Records != 0 {
		t.Fatalf("backfill after the notification: %+v, %v; want it seen, not read again", res, err)
	}
	if n := testenv.TopicSize(t, testenv.Cluster(t, c), c.TopicRaw); n != 1 {
		t.Fatalf("raw topic holds %d records, want 1", n)
	}
}
