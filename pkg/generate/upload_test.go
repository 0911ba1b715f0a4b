package generate

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/digest"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/s3event"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// object is one object of the bucket, read back.
type object struct {
	key  string
	body []byte
	meta map[string]string
	etag string // hex MD5 of the body
}

// runGenerate runs `generate args...` against the emulator's bucket and queue of c.
func runGenerate(t *testing.T, ctx context.Context, c config.Config, args ...string) {
	t.Helper()
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	var o Options
	o.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := Run(ctx, c, o); err != nil {
		t.Fatal(err)
	}
}

// readBucket returns every object of the bucket by key.
func readBucket(t *testing.T, ctx context.Context, cl *awsutil.Clients, bucket string) map[string]object {
	t.Helper()
	objects := map[string]object{}
	pages := s3.NewListObjectsV2Paginator(cl.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("list bucket: %v", err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			out, err := cl.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
				func(o *s3.Options) { o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired })
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			body, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatalf("read %s: %v", key, err)
			}
			sum := md5.Sum(body)
			etag := hex.EncodeToString(sum[:])
			if s3tag := strings.Trim(aws.ToString(out.ETag), `"`); s3tag != etag {
				t.Errorf("%s: S3 ETag %s, MD5 of the body %s", key, s3tag, etag)
			}
			objects[key] = object{key: key, body: body, meta: out.Metadata, etag: etag}
		}
	}
	return objects
}

// receiveAll receives and deletes every notification of the queue, checking that each
// announces one object of objects, once.
func receiveAll(t *testing.T, ctx context.Context, cl *awsutil.Clients, queueURL, bucket string, objects map[string]object) {
	t.Helper()
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
			if got.Bucket != bucket || !ok || got.Size != int64(len(want.body)) || notified[got.Key] {
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
	expectNoMessage(t, ctx, cl, queueURL)
}

func expectNoMessage(t *testing.T, ctx context.Context, cl *awsutil.Clients, queueURL string) {
	t.Helper()
	out, err := cl.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 1})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(out.Messages) != 0 {
		t.Errorf("a notification more than wanted: %s", aws.ToString(out.Messages[0].Body))
	}
}

// logFile is what the test reads from a log file of the bucket.
type logFile struct {
	account, region string
	delivered       time.Time // the minute in its key
	oldest, newest  time.Time
	hash            string
	records         int
}

// layoutRE matches the keys of every kind under a root: its account, kind, region, day,
// and the file name after <account>_<kind>_<region>_.
var layoutRE = regexp.MustCompile(`^(?:(.+)/)?AWSLogs/(?:(o-[a-z0-9]+)/)?([0-9]{12})/(CloudTrail|CloudTrail-Digest|CloudTrail-Insight)/([a-z0-9-]+)/([0-9]{4}/[0-9]{2}/[0-9]{2})/([0-9]{12})_(CloudTrail|CloudTrail-Digest|CloudTrail-Insight)_([a-z0-9-]+)_(.+)\.json\.gz$`)

var (
	logNameRE     = regexp.MustCompile(`^([0-9]{8}T[0-9]{4}Z)_[A-Za-z0-9]{16}$`)
	digestNameRE  = regexp.MustCompile(`^([a-z-]+)_([a-z0-9-]+)_([0-9]{8}T[0-9]{6}Z)$`)
	insightNameRE = logNameRE
)

// parsedKey is what layoutRE reads from a key.
type parsedKey struct {
	prefix, org, account, kind, region string
	day                                string // YYYY/MM/DD
	name                               []string
}

func parseKey(t *testing.T, key string) parsedKey {
	t.Helper()
	m := layoutRE.FindStringSubmatch(key)
	if m == nil {
		t.Fatalf("key %q is not a CloudTrail key", key)
	}
	if m[3] != m[7] || m[4] != m[8] || m[5] != m[9] {
		t.Fatalf("key %q: the folders and the file name disagree", key)
	}
	k := parsedKey{prefix: m[1], org: m[2], account: m[3], kind: m[4], region: m[5], day: m[6]}
	re := map[string]*regexp.Regexp{"CloudTrail": logNameRE, "CloudTrail-Digest": digestNameRE, "CloudTrail-Insight": insightNameRE}[k.kind]
	if k.name = re.FindStringSubmatch(m[10]); k.name == nil {
		t.Fatalf("key %q: file name %q is not a %s name", key, m[10], k.kind)
	}
	return k
}

// keyTime reads a key's time and checks that it falls on the key's day.
func (k parsedKey) keyTime(t *testing.T, layout string) time.Time {
	t.Helper()
	at, err := time.Parse(layout, k.name[len(k.name)-1])
	if err != nil || at.Format("2006/01/02") != k.day {
		t.Fatalf("%s key time %q on day %s: %v", k.kind, k.name[len(k.name)-1], k.day, err)
	}
	return at
}

// readLogFiles reads the log files of objects, checking that each holds records of its
// key's account and region.
func readLogFiles(t *testing.T, objects map[string]object) map[string]logFile {
	t.Helper()
	out := map[string]logFile{}
	for key, obj := range objects {
		k := parseKey(t, key)
		if k.kind != "CloudTrail" {
			continue
		}
		lf := logFile{account: k.account, region: k.region, delivered: k.keyTime(t, "20060102T1504Z")}
		for _, raw := range readLogFile(t, obj.body) {
			r := decode(t, raw)
			if r.RecipientAccountID != k.account || r.AWSRegion != k.region {
				t.Fatalf("%s holds a record of %s/%s", key, r.RecipientAccountID, r.AWSRegion)
			}
			if lf.oldest.IsZero() || r.EventTime.Before(lf.oldest) {
				lf.oldest = r.EventTime
			}
			if r.EventTime.After(lf.newest) {
				lf.newest = r.EventTime
			}
			lf.records++
		}
		hash, err := digest.HashLogFile(bytes.NewReader(obj.body))
		if err != nil {
			t.Fatal(err)
		}
		lf.hash = hash
		out[key] = lf
	}
	return out
}

// checkDigests checks the digests of objects against the log files they list, and returns
// the keys listed whose file the bucket lacks. Every account of accounts has a chain of
// digests in each generated region, one an hour without a gap, from the hour holding
// start to the hour of its last delivery; each lists the files of its account and region
// delivered in its hour, with their SHA-256 and event times, and names the one before it
// with the SHA-256 of its content. Every log file is listed once.
func checkDigests(t *testing.T, objects map[string]object, logs map[string]logFile, bucket, trail string, start time.Time) []string {
	t.Helper()
	type stream struct{ account, region string }
	chains := map[stream][]*digest.Digest{}
	homes := map[string]string{}
	listed := map[string]int{}
	var missing []string
	empty := 0
	for key, obj := range objects {
		k := parseKey(t, key)
		if k.kind != "CloudTrail-Digest" {
			continue
		}
		d, err := digest.Parse(bytes.NewReader(obj.body))
		if err != nil {
			t.Fatalf("digest %s: %v", key, err)
		}
		end := k.keyTime(t, "20060102T150405Z")
		if d.Key != key || d.Bucket != bucket || d.AccountID != k.account || !d.End.Equal(end) || d.End.Sub(d.Start) != time.Hour {
			t.Fatalf("digest %s says s3://%s/%s of %s for %s to %s", key, d.Bucket, d.Key, d.AccountID, d.Start, d.End)
		}
		if k.name[1] != trail {
			t.Errorf("digest %s: trail %s, want %s", key, k.name[1], trail)
		}
		if h, ok := homes[k.account]; ok && h != k.name[2] {
			t.Errorf("digest %s: home region %s, and %s in another", key, k.name[2], h)
		}
		homes[k.account] = k.name[2]
		if len(obj.meta["signature"]) != 512 || obj.meta["signature-algorithm"] != "SHA256withRSA" || d.SignatureAlgorithm != "SHA256withRSA" ||
			len(d.PublicKeyFingerprint) != 32 {
			t.Errorf("digest %s: signature metadata %v, algorithm %s, fingerprint %q", key, obj.meta, d.SignatureAlgorithm, d.PublicKeyFingerprint)
		}
		var oldest, newest time.Time
		for _, f := range d.Files {
			listed[f.Key]++
			fk := parseKey(t, f.Key)
			delivered := fk.keyTime(t, "20060102T1504Z")
			if fk.kind != "CloudTrail" || fk.account != k.account || fk.region != k.region || f.Bucket != bucket || f.HashAlgorithm != "SHA-256" ||
				delivered.Before(d.Start.Truncate(time.Minute)) || !delivered.Before(d.End) {
				t.Errorf("digest %s of %s/%s, %s to %s, lists %s", key, k.account, k.region, d.Start, d.End, f.Key)
			}
			if oldest.IsZero() || f.Oldest.Before(oldest) {
				oldest = f.Oldest
			}
			if f.Newest.After(newest) {
				newest = f.Newest
			}
			lf, ok := logs[f.Key]
			if !ok {
				missing = append(missing, f.Key)
				continue
			}
			if f.Hash != lf.hash || !f.Oldest.Equal(lf.oldest) || !f.Newest.Equal(lf.newest) {
				t.Errorf("digest %s lists %s with hash %s, %s to %s; the file hashes to %s and holds %s to %s",
					key, f.Key, f.Hash, f.Oldest, f.Newest, lf.hash, lf.oldest, lf.newest)
			}
		}
		if !d.Oldest.Equal(oldest) || !d.Newest.Equal(newest) {
			t.Errorf("digest %s: events %s to %s, its files %s to %s", key, d.Oldest, d.Newest, oldest, newest)
		}
		if len(d.Files) == 0 {
			empty++
		}
		chains[stream{k.account, k.region}] = append(chains[stream{k.account, k.region}], d)
	}
	for key, n := range listed {
		if n != 1 {
			t.Errorf("%s is listed in %d digests", key, n)
		}
	}
	for key := range logs {
		if listed[key] == 0 {
			t.Errorf("log file %s is in no digest", key)
		}
	}
	accounts := map[string]bool{}
	for _, lf := range logs {
		accounts[lf.account] = true
	}
	for _, key := range missing {
		accounts[parseKey(t, key).account] = true
	}
	if len(chains) != len(accounts)*len(regionNames) {
		t.Errorf("digests for %d accounts and regions, want %d accounts in %d regions", len(chains), len(accounts), len(regionNames))
	}
	for s, chain := range chains {
		sort.Slice(chain, func(i, j int) bool { return chain[i].Start.Before(chain[j].Start) })
		if first := chain[0]; first.Start.After(start) || !first.End.After(start) || first.Previous != (digest.Previous{}) {
			t.Errorf("%s/%s: first digest %s to %s, previous %+v; want the hour holding %s, a starting digest", s.account, s.region, first.Start, first.End, first.Previous, start)
		}
		for i := 1; i < len(chain); i++ {
			prev, d := chain[i-1], chain[i]
			hash, err := digest.HashLogFile(bytes.NewReader(objects[prev.Key].body))
			if err != nil {
				t.Fatal(err)
			}
			if !d.Start.Equal(prev.End) || d.Previous.Key != prev.Key || d.Previous.Bucket != bucket || d.Previous.Hash != hash ||
				d.Previous.HashAlgorithm != "SHA-256" || d.Previous.Signature != objects[prev.Key].meta["signature"] {
				t.Errorf("%s/%s: digest %s does not follow %s: %+v", s.account, s.region, d.Key, prev.Key, d.Previous)
			}
		}
	}
	if empty == 0 {
		t.Error("no digest of an hour without files: regions without activity have them too")
	}
	return missing
}

// TestRunUploadsAndNotifies runs `generate --events 600` against the S3/SQS emulator and
// reads back what a fetcher would see: CloudTrail log files under CloudTrail's key layout,
// an hourly digest per account and region listing them, and one S3 event notification per
// object.
func TestRunUploadsAndNotifies(t *testing.T) {
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	runGenerate(t, ctx, c, "--events", "600", "--seed", "11", "--start", start.Format(time.RFC3339))

	objects := readBucket(t, ctx, cl, c.Bucket)
	logs := readLogFiles(t, objects)
	records := 0
	for key, lf := range logs {
		if since := time.Since(lf.oldest); since < time.Hour || since > 2*time.Hour+time.Minute {
			t.Fatalf("%s holds a record of %s, not within --start -2h and an hour", key, lf.oldest)
		}
		if d := lf.delivered.Sub(lf.newest.Truncate(time.Minute)); d < time.Minute || d > 5*time.Minute {
			t.Errorf("%s delivered at %s, its last record at %s", key, lf.delivered, lf.newest)
		}
		records += lf.records
	}
	t.Logf("%d records in %d files, %d objects in all", records, len(logs), len(objects))
	if records != 600 || len(logs) < 2 {
		t.Fatalf("bucket holds %d records in %d files, want 600 in several", records, len(logs))
	}
	for key := range objects {
		if k := parseKey(t, key); k.prefix != "" || k.org != "" || k.kind == "CloudTrail-Insight" {
			t.Errorf("%s: a prefix, an organization or an Insights file not asked for", key)
		}
	}
	if missing := checkDigests(t, objects, logs, c.Bucket, "management-events", start); len(missing) != 0 {
		t.Errorf("digests list files never written: %v", missing)
	}
	receiveAll(t, ctx, cl, queueURL, c.Bucket, objects)
}

// TestRunLayoutsGapsAndInsights runs generate with a key prefix, an organization trail's
// layout, three log files listed and never delivered, Insights files and no notifications.
func TestRunLayoutsGapsAndInsights(t *testing.T) {
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const org = "o-a1b2c3d4e5"
	start := time.Date(2026, 11, 20, 7, 30, 0, 0, time.UTC)
	runGenerate(t, ctx, c, "--events", "1500", "--seed", "12", "--start", start.Format(time.RFC3339), "--span", "26h",
		"--accounts", "3", "--key-prefix", "/audit/trail/", "--organization", org, "--undelivered", "3", "--insights", "--no-notify")

	objects := readBucket(t, ctx, cl, c.Bucket)
	for key := range objects {
		if k := parseKey(t, key); k.prefix != "audit/trail" || k.org != org {
			t.Errorf("%s: not under audit/trail/AWSLogs/%s/", key, org)
		}
	}
	logs := readLogFiles(t, objects)
	missing := checkDigests(t, objects, logs, c.Bucket, "organization-trail", start)
	if len(missing) != 3 {
		t.Errorf("%d files listed in digests and not in the bucket, want 3: %v", len(missing), missing)
	}
	records := 0
	for _, lf := range logs {
		records += lf.records
	}
	lost := 0
	for f := range Files(Options{Events: 1500, Seed: 12, Start: start, Span: 26 * time.Hour, Accounts: 3, KeyPrefix: "/audit/trail/", Organization: org}) {
		if slices.Contains(missing, f.Key) {
			lost += len(f.Records)
		}
	}
	if records+lost != 1500 || lost == 0 {
		t.Errorf("%d records written and %d in the undelivered files, want 1500 in all", records, lost)
	}

	// Insights: for each of the 3 accounts and the 2 days the span touches, a start and an
	// end in the account's home region, in files of their own that no digest lists.
	type insight struct{ state, account, region, source, name string }
	pairs := map[string][]insight{}
	for key, obj := range objects {
		k := parseKey(t, key)
		if k.kind != "CloudTrail-Insight" {
			continue
		}
		delivered := k.keyTime(t, "20060102T1504Z")
		recs := readLogFile(t, obj.body)
		if len(recs) != 1 {
			t.Fatalf("Insights file %s holds %d records, want 1", key, len(recs))
		}
		var r struct {
			EventTime          time.Time `json:"eventTime"`
			EventType          string    `json:"eventType"`
			EventCategory      string    `json:"eventCategory"`
			SharedEventID      string    `json:"sharedEventID"`
			RecipientAccountID string    `json:"recipientAccountId"`
			AWSRegion          string    `json:"awsRegion"`
			InsightDetails     struct {
				State, EventSource, EventName, InsightType, ErrorCode string
				InsightContext                                        struct {
					Statistics struct {
						Baseline, Insight struct{ Average float64 }
						InsightDuration   int
						BaselineDuration  int
					}
					Attributions []struct{ Attribute string }
				}
			} `json:"insightDetails"`
		}
		if err := json.Unmarshal(recs[0], &r); err != nil {
			t.Fatal(err)
		}
		d := r.InsightDetails
		st := d.InsightContext.Statistics
		if r.EventType != "AwsCloudTrailInsight" || r.EventCategory != "Insight" || r.RecipientAccountID != k.account || r.AWSRegion != k.region ||
			(d.InsightType == "ApiErrorRateInsight") != (d.ErrorCode != "") || st.Baseline.Average <= 0 || st.Insight.Average <= st.Baseline.Average ||
			st.BaselineDuration < 10080 || len(d.InsightContext.Attributions) != 3 || r.EventTime.Before(start) || !r.EventTime.Before(start.Add(26*time.Hour)) {
			t.Errorf("Insights file %s: %s", key, recs[0])
		}
		if at := delivered.Sub(r.EventTime); at < time.Minute || at > 5*time.Minute {
			t.Errorf("Insights file %s delivered %s after its event", key, at)
		}
		e, err := normalize.Normalize(recs[0], "test")
		if err != nil || e.EventCategory != "insight" || e.EventSource != d.EventSource || e.EventName != d.EventName ||
			!slices.Equal(e.ResourceNames, []string{r.SharedEventID}) {
			t.Errorf("Insights event %s normalizes to %+v, %v", key, e, err)
		}
		pairs[r.SharedEventID] = append(pairs[r.SharedEventID], insight{d.State, k.account, k.region, d.EventSource, d.EventName})
	}
	if len(pairs) != 3*2 {
		t.Errorf("%d Insights events, want one for each of 3 accounts and 2 days", len(pairs))
	}
	for id, p := range pairs {
		if len(p) != 2 || p[0].state == p[1].state || p[0].account != p[1].account || p[0].region != p[1].region || p[0].name != p[1].name {
			t.Errorf("Insights event %s: %+v, want a start and an end of one account, region and API", id, p)
		}
	}
	expectNoMessage(t, ctx, cl, queueURL)
}
