package fetcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/digest"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/sources"
	"github.com/trailstream/trailstream/pkg/testenv"
)

func init() { refreshEvery = time.Second }

// trailFile returns a CloudTrail file of n records, IDs <id>-<i>, at t.
func trailFile(id string, n int, t time.Time) []byte {
	var b strings.Builder
	b.WriteString(`{"Records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"eventVersion":"1.08","eventTime":"%s","eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"%s-%d"}`,
			t.Add(time.Duration(i)*time.Second).UTC().Format(time.RFC3339), id, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// logKey returns the key CloudTrail gives a log file of account and region at t, under root
// ([prefix/]AWSLogs/[org/]).
func logKey(root, account, region string, t time.Time, unique string) string {
	t = t.UTC()
	return fmt.Sprintf("%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", root, account, region, t.Format("2006/01/02"),
		account, region, t.Format("20060102T1504Z"), unique)
}

// putAll writes objects, eight at a time.
func putAll(t *testing.T, cl *awsutil.Clients, c config.Config, objects map[string][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for k, b := range objects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			testenv.PutObject(t, cl, c, k, b)
		}()
	}
	wg.Wait()
}

// ledgerFiles returns the ledger's rows and distinct keys.
func ledgerFiles(t *testing.T, conn driver.Conn, db string) (rows, keys uint64) {
	t.Helper()
	if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(key) FROM "+db+".files").Scan(&rows, &keys); err != nil {
		t.Fatal(err)
	}
	return rows, keys
}

// eventually waits up to d for cond, failing the test with what() when it does not hold.
func eventually(t *testing.T, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// start runs a fetcher; stop cancels it and waits for it to return.
func start(t *testing.T, c config.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Error("Run did not return within 60 s of its cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestBackfillResumed backfills a bucket of 2,400 files across accounts (one of them in an
// organization trail's layout), regions and days: a first fetcher is stopped part-way, then
// two fetchers share the rest. Every record must be produced exactly once, and every file
// read once.
func TestBackfillResumed(t *testing.T) {
	c := testenv.Config(t)
	cl, _ := testenv.AWS(t, c)
	c.Fetchers = 4
	c.ScanInterval = time.Hour // backfill alone
	conn := testenv.ClickHouse(t, c)

	now := time.Now().UTC()
	objects := map[string][]byte{}
	records := 0
	roots := map[string]string{"111111111111": "AWSLogs/", "222222222222": "AWSLogs/", "333333333333": "AWSLogs/o-a1b2c3d4e5/"}
	for account, root := range roots {
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			for day := range 4 {
				base := now.Add(-time.Duration(day+1) * 24 * time.Hour).Truncate(24 * time.Hour)
				for i := range 100 {
					at := base.Add(time.Duration(i) * 13 * time.Minute)
					k := logKey(root, account, region, at, fmt.Sprintf("%016d", i))
					objects[k] = testenv.Gzip(trailFile(k, 5, at))
					records += 5
				}
			}
		}
	}
	putAll(t, cl, c, objects)

	stop := start(t, c)
	eventually(t, 120*time.Second, func() bool { _, keys := ledgerFiles(t, conn, c.ClickHouseDatabase); return keys >= 600 },
		func() string {
			_, keys := ledgerFiles(t, conn, c.ClickHouseDatabase)
			return fmt.Sprintf("%d files read, want 600 before the stop", keys)
		})
	stop()
	_, before := ledgerFiles(t, conn, c.ClickHouseDatabase)
	if before >= uint64(len(objects)) {
		t.Fatalf("the first fetcher read all %d files before its stop; the test needs it stopped part-way", before)
	}
	start(t, c)
	start(t, c)
	store := sources.NewStore(conn, c.ClickHouseDatabase)
	eventually(t, 180*time.Second, func() bool {
		states, err := store.States(context.Background())
		return err == nil && states[DefaultSource].Backfill == sources.BackfillDone
	}, func() string {
		_, keys := ledgerFiles(t, conn, c.ClickHouseDatabase)
		return fmt.Sprintf("backfill not done: %d of %d files read", keys, len(objects))
	})
	rows, keys := ledgerFiles(t, conn, c.ClickHouseDatabase)
	if rows != uint64(len(objects)) || keys != uint64(len(objects)) {
		t.Fatalf("ledger: %d rows of %d files, want %d files each read once", rows, keys, len(objects))
	}
	if n := testenv.TopicSize(t, testenv.Cluster(t, c), c.TopicRaw); n != int64(records) {
		t.Fatalf("raw topic holds %d records, want exactly %d", n, records)
	}
	ids := map[string]bool{}
	for _, m := range testenv.ReadTopic(t, testenv.Cluster(t, c), c.TopicRaw, records, 60*time.Second) {
		var r struct{ EventID string }
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatal(err)
		}
		ids[r.EventID] = true
	}
	if len(ids) != records {
		t.Fatalf("%d distinct records, want %d", len(ids), records)
	}
	cps, err := store.Checkpoints(context.Background(), DefaultSource, sources.CheckpointBackfill)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != len(roots)*2*4 {
		t.Fatalf("%d day folders, want %d", len(cps), len(roots)*2*4)
	}
	for _, cp := range cps {
		if !cp.Done || cp.Files != 100 || cp.FilesTotal != 100 || cp.Records != 500 && cp.Records != 0 {
			t.Errorf("checkpoint %+v, want done with 100 of 100 files", cp)
		}
	}
}

// TestScan scans sources without a queue in a custom-prefix layout and a Control Tower one:
// new files are read, the interval doubles while nothing new comes and returns to
// --scan-interval when something does; disabling a source stops its scans.
func TestScan(t *testing.T) {
	c := testenv.Config(t)
	cl, _ := testenv.AWS(t, c)
	conn := testenv.ClickHouse(t, c)
	c.ScanInterval = time.Second
	c.BackfillSince = -1 // scanning alone
	file := filepath.Join(t.TempDir(), "sources.yml")
	yml := fmt.Sprintf("sources:\n  - name: custom\n    bucket: %s\n    prefix: trails/prod\n  - name: tower\n    bucket: %[1]s\n    prefix: o-a1b2c3d4e5\n", c.Bucket)
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c.SourcesFile = file
	old := time.Now().Add(-time.Hour)
	custom := logKey("trails/prod/AWSLogs/", "111122223333", "us-east-1", old, "a")
	tower := logKey("o-a1b2c3d4e5/AWSLogs/o-a1b2c3d4e5/", "444455556666", "eu-west-1", old, "b")
	putAll(t, cl, c, map[string][]byte{custom: testenv.Gzip(trailFile("custom", 3, old)), tower: testenv.Gzip(trailFile("tower", 4, old))})

	start(t, c)
	store := sources.NewStore(conn, c.ClickHouseDatabase)
	state := func(id string) sources.State {
		states, err := store.States(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return states[id]
	}
	sourceOf := func(key string) string {
		var s string
		_ = conn.QueryRow(context.Background(), "SELECT source FROM "+c.ClickHouseDatabase+".files WHERE key = ?", key).Scan(&s)
		return s
	}
	eventually(t, 30*time.Second, func() bool { return sourceOf(custom) == "custom" && sourceOf(tower) == "tower" },
		func() string {
			return fmt.Sprintf("files read by sources %q and %q", sourceOf(custom), sourceOf(tower))
		})
	// Nothing new: 1 s, 2 s, 4 s, ...
	eventually(t, 30*time.Second, func() bool { return state("custom").ScanInterval >= 4*time.Second },
		func() string {
			return fmt.Sprintf("scan interval %s, want doubled to 4s", state("custom").ScanInterval)
		})
	fresh := logKey("trails/prod/AWSLogs/", "111122223333", "us-east-1", time.Now(), "c")
	putAll(t, cl, c, map[string][]byte{fresh: testenv.Gzip(trailFile("fresh", 2, time.Now()))})
	eventually(t, 30*time.Second, func() bool { return sourceOf(fresh) == "custom" },
		func() string { return "the new file was not read" })
	eventually(t, 10*time.Second, func() bool { s := state("custom"); return s.ScanInterval <= 2*time.Second && !s.LastNew.IsZero() },
		func() string {
			return fmt.Sprintf("scan interval %s after new data, want back to 1s", state("custom").ScanInterval)
		})
	if n := testenv.TopicSize(t, testenv.Cluster(t, c), c.TopicRaw); n != 3+4+2 {
		t.Fatalf("raw topic holds %d records, want 9", n)
	}

	// Disabled, a source is not scanned: a new file stays unread.
	if err := store.SetEnabled(context.Background(), "tower", false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * refreshEvery)
	late := logKey("o-a1b2c3d4e5/AWSLogs/o-a1b2c3d4e5/", "444455556666", "eu-west-1", time.Now(), "d")
	putAll(t, cl, c, map[string][]byte{late: testenv.Gzip(trailFile("late", 1, time.Now()))})
	time.Sleep(5 * time.Second)
	if s := sourceOf(late); s != "" {
		t.Fatalf("a file of the disabled source was read (by %q)", s)
	}
	if err := store.SetEnabled(context.Background(), "tower", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func() bool { return sourceOf(late) == "tower" },
		func() string { return "enabled again, the source's new file was not read" })
}

// TestGapHealed gives the fetcher a digest that lists two files, one of them never
// delivered: once the grace is over it reports a collection-gap detection with that key;
// when the file appears, --heal reads it.
func TestGapHealed(t *testing.T) {
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	conn := testenv.ClickHouse(t, c)
	c.CompletenessGrace = 2 * time.Second
	c.Heal = true
	c.ScanInterval = time.Hour // the heal, not a scan, must find the file
	const account = "111122223333"
	hour := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	delivered := logKey("AWSLogs/", account, "us-east-1", hour.Add(5*time.Minute), "delivered")
	lost := logKey("AWSLogs/", account, "us-east-1", hour.Add(10*time.Minute), "lost")
	body := map[string][]byte{delivered: trailFile("delivered", 2, hour), lost: trailFile("lost", 3, hour)}
	var files []digest.LogFile
	for _, k := range []string{delivered, lost} {
		h, err := digest.HashLogFile(bytes.NewReader(body[k]))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, digest.LogFile{Bucket: c.Bucket, Key: k, Hash: h, HashAlgorithm: "SHA-256", Oldest: hour, Newest: hour.Add(time.Minute)})
	}
	// A third file is listed with the hash of what CloudTrail wrote, and stored altered.
	altered := logKey("AWSLogs/", account, "us-east-1", hour.Add(15*time.Minute), "altered")
	h, err := digest.HashLogFile(bytes.NewReader(trailFile("altered", 4, hour)))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, digest.LogFile{Bucket: c.Bucket, Key: altered, Hash: h, HashAlgorithm: "SHA-256", Oldest: hour, Newest: hour})
	digestKey := fmt.Sprintf("AWSLogs/%s/CloudTrail-Digest/us-east-1/%s/%s_CloudTrail-Digest_us-east-1_main_us-east-1_%s.json.gz",
		account, hour.Format("2006/01/02"), account, hour.Add(time.Hour).Format("20060102T150405Z"))
	var dg bytes.Buffer
	if err := digest.Write(&dg, digest.Digest{AccountID: account, Start: hour, End: hour.Add(time.Hour), Bucket: c.Bucket, Key: digestKey,
		Oldest: hour, Newest: hour.Add(time.Minute), Files: files}); err != nil {
		t.Fatal(err)
	}
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, altered, testenv.Gzip(trailFile("altered", 3, hour))))
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, delivered, testenv.Gzip(body[delivered])))
	testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, digestKey, dg.Bytes()))
	c.BackfillSince = -1
	start(t, c)

	byRule := map[string]*model.Detection{}
	for _, m := range testenv.ReadTopic(t, testenv.Cluster(t, c), c.TopicDetections, 2, 60*time.Second) {
		d, err := model.DecodeDetection(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		byRule[d.RuleID] = d
	}
	if ch := byRule[RuleCollectionChanged]; ch == nil || !strings.Contains(ch.Context, altered) || strings.Contains(ch.Context, delivered) {
		t.Fatalf("file-changed detection %+v, want one of %s alone", ch, altered)
	}
	d := byRule[RuleCollectionGap]
	if d == nil {
		t.Fatalf("no collection-gap detection: %v", byRule)
	}
	var ctx struct {
		Keys    []string `json:"keys"`
		Missing int      `json:"missing"`
		Hour    string   `json:"hour"`
	}
	if err := json.Unmarshal([]byte(d.Context), &ctx); err != nil {
		t.Fatal(err)
	}
	if d.RuleID != RuleCollectionGap || d.AccountID != account || ctx.Missing != 1 || len(ctx.Keys) != 1 || ctx.Keys[0] != lost ||
		ctx.Hour != hour.Format(time.RFC3339) || !d.FirstTime.Equal(hour) {
		t.Fatalf("detection %+v with context %s, want a collection-gap of %s in the hour %s", d, d.Context, lost, hour)
	}

	testenv.PutObject(t, cl, c, lost, testenv.Gzip(body[lost])) // delivered late, without a notification
	path := func() string {
		var p string
		_ = conn.QueryRow(context.Background(), "SELECT path FROM "+c.ClickHouseDatabase+".files WHERE key = ?", lost).Scan(&p)
		return p
	}
	eventually(t, 30*time.Second, func() bool { return path() == "heal" }, func() string { return fmt.Sprintf("lost file's ledger path %q, want heal", path()) })
	if n := testenv.TopicSize(t, testenv.Cluster(t, c), c.TopicRaw); n != 8 {
		t.Fatalf("raw topic holds %d records, want the 2+3 delivered and the 3 healed", n)
	}
}
