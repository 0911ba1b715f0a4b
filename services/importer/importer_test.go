package importer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/digest"
	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/testenv"
)

func TestKey(t *testing.T) {
	const file = "AWSLogs/111111111111/CloudTrail/us-east-1/2024/05/01/111111111111_CloudTrail_us-east-1_20240501T0005Z_a1.json.gz"
	tests := []struct {
		name, path, want string
	}{
		{"downloaded bucket", "/home/ana/Downloads/corp-trail-bucket/" + file, file},
		{"elsewhere", "/mnt/evidence/case-17/" + file, file},
		{"trail prefix dropped", "/data/corp-trail-bucket/trail-prefix/" + file, file},
		{"Control Tower organization folder dropped", "/data/o-abcdefghij/" + file, file},
		{"organization trail kept", "/data/AWSLogs/o-abcdefghij/111111111111/CloudTrail/us-east-1/2024/05/01/x.json",
			"AWSLogs/o-abcdefghij/111111111111/CloudTrail/us-east-1/2024/05/01/x.json"},
		{"download folder named AWSLogs", "/home/ana/AWSLogs/corp-trail-bucket/" + file, file},
		{"cleaned first", "/data/./x/../corp//" + file, file},
		{"outside any AWSLogs folder", "/tmp/case/111111111111_CloudTrail_us-east-1_20240501T0005Z_a1.json.gz",
			"/tmp/case/111111111111_CloudTrail_us-east-1_20240501T0005Z_a1.json.gz"},
		{"a file named AWSLogs is no folder", "/tmp/case/AWSLogs", "/tmp/case/AWSLogs"},
		{"the tree's own folder", "/tmp/AWSLogs/README.md", "AWSLogs/README.md"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Key(tt.path); got != tt.want {
				t.Errorf("Key(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
	if got, want := Key("relative/"+file), file; got != want {
		t.Errorf("Key of a relative path = %q, want %q", got, want)
	}
	wd, _ := os.Getwd()
	if got, want := Key("loose.json"), filepath.ToSlash(filepath.Join(wd, "loose.json")); got != want {
		t.Errorf("Key of a relative path outside AWSLogs = %q, want the absolute path %q", got, want)
	}
}

func TestListedKey(t *testing.T) {
	tests := []struct{ s3Key, want string }{
		{"AWSLogs/111111111111/CloudTrail/us-east-1/2024/05/01/a.json.gz", "AWSLogs/111111111111/CloudTrail/us-east-1/2024/05/01/a.json.gz"},
		{"trail-prefix/AWSLogs/111111111111/CloudTrail/us-east-1/2024/05/01/a.json.gz", "AWSLogs/111111111111/CloudTrail/us-east-1/2024/05/01/a.json.gz"},
		{"o-abcdefghij/AWSLogs/111111111111/CloudTrail/us-east-1/2024/05/01/a.json.gz", "AWSLogs/111111111111/CloudTrail/us-east-1/2024/05/01/a.json.gz"},
		{"exports/a.csv", "exports/a.csv"},
	}
	for _, tt := range tests {
		if got := ListedKey(tt.s3Key); got != tt.want {
			t.Errorf("ListedKey(%q) = %q, want %q", tt.s3Key, got, tt.want)
		}
	}
}

// FuzzKey: the key of a file under an AWSLogs folder does not depend on where the tree is,
// is a suffix of its path from an AWSLogs folder on, and is what a digest listing the file
// by its S3 key (the same path under any prefix) is mapped to.
func FuzzKey(f *testing.F) {
	f.Add("AWSLogs/111111111111/CloudTrail/us-east-1/2024/05/01/a.json.gz")
	f.Add("p/AWSLogs/o-abcdefghij/1/CloudTrail/r/2024/05/01/a.json")
	f.Add("x/AWSLogs/y/AWSLogs/z")
	f.Add("a.json")
	f.Fuzz(func(t *testing.T, rel string) {
		if rel == "" || strings.ContainsAny(rel, "\x00\\") || filepath.IsAbs(rel) || filepath.Clean(rel) != rel || strings.HasPrefix(rel, "..") {
			return
		}
		a, b := Key("/srv/a/"+rel), Key("/mnt/b/c/"+rel)
		folder := slices.Contains(strings.Split(rel, "/")[:strings.Count(rel, "/")], "AWSLogs")
		if !folder {
			if want := filepath.Clean("/srv/a/" + rel); a != want {
				t.Fatalf("Key outside AWSLogs = %q, want the absolute path %q", a, want)
			}
			return
		}
		if a != b {
			t.Fatalf("Key depends on the folder the tree is in: %q and %q", a, b)
		}
		if !strings.HasPrefix(a, "AWSLogs/") || !strings.HasSuffix(rel, a) {
			t.Fatalf("Key(%q) = %q: not a suffix of the path from AWSLogs/ on", rel, a)
		}
		if l := ListedKey("prefix/" + rel); l != a {
			t.Fatalf("ListedKey = %q, Key = %q", l, a)
		}
	})
}

// TestWalk: folders are walked, links to files followed, links to folders not (but a link
// given as a path is), and a file found twice under one key is imported once.
func TestWalk(t *testing.T) {
	dir := t.TempDir()
	day := filepath.Join(dir, "bucket", "AWSLogs", acctA, "CloudTrail", "us-east-1", "2024", "05", "01")
	write := func(p, body string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(day, "a.json"), "12345")
	write(filepath.Join(day, "b.json.gz"), "123")
	write(filepath.Join(dir, "elsewhere", "c.json"), "1")
	if err := os.Symlink(filepath.Join(dir, "elsewhere", "c.json"), filepath.Join(day, "c.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(day, "linked-folder")); err != nil {
		t.Fatal(err)
	}
	files, total, dups, err := walk([]string{filepath.Join(dir, "bucket"), filepath.Join(day, "a.json"), filepath.Join(day, "linked-folder")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range files {
		keys = append(keys, f.key)
	}
	prefix := "AWSLogs/" + acctA + "/CloudTrail/us-east-1/2024/05/01/"
	want := []string{prefix + "a.json", prefix + "b.json.gz", prefix + "c.json", prefix + "linked-folder/c.json"}
	if !slices.Equal(keys, want) || total != 5+3+1+1 || dups != 1 {
		t.Errorf("walk: keys %q, %d bytes, %d found twice; want %q, 10 bytes, 1", keys, total, dups, want)
	}
	if _, _, _, err := walk([]string{filepath.Join(dir, "nothing-here")}); err == nil {
		t.Error("walk of a path that is not there: no error")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		o     Options
		paths []string
		want  string // in the error; "" for none
	}{
		{"paths", Options{}, []string{dir}, ""},
		{"no paths", Options{}, nil, "no PATH"},
		{"an option after the paths", Options{}, []string{dir, "--direct"}, "the options go before the paths"},
		{"dead letters file without direct", Options{DeadLetters: "x.jsonl"}, []string{dir}, "--dead-letters is for --direct"},
		{"dead letters file with direct", Options{Direct: true, DeadLetters: "x.jsonl"}, []string{dir}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.check(tt.paths)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("check: %v, want %q", err, tt.want)
			}
		})
	}
}

// The test tree: what `aws s3 sync s3://corp-trail-bucket corp-trail-bucket` downloads of a
// trail with the key prefix trail-prefix, two accounts, two regions, two days.
const (
	acctA       = "111111111111"
	acctB       = "222222222222"
	trailBucket = "corp-trail-bucket"
	trailPrefix = "trail-prefix"
)

var (
	keyA1     = "AWSLogs/" + acctA + "/CloudTrail/us-east-1/2024/05/01/" + acctA + "_CloudTrail_us-east-1_20240501T0005Z_a1.json.gz"
	keyA2     = "AWSLogs/" + acctA + "/CloudTrail/us-east-1/2024/05/01/" + acctA + "_CloudTrail_us-east-1_20240501T0010Z_a2.json" // not compressed
	keyA3     = "AWSLogs/" + acctA + "/CloudTrail/eu-west-1/2024/05/02/" + acctA + "_CloudTrail_eu-west-1_20240502T1200Z_a3.json.gz"
	keyB1     = "AWSLogs/" + acctB + "/CloudTrail/us-east-1/2024/05/02/" + acctB + "_CloudTrail_us-east-1_20240502T0805Z_b1.json.gz"
	keyB9     = "AWSLogs/" + acctB + "/CloudTrail/us-east-1/2024/05/02/" + acctB + "_CloudTrail_us-east-1_20240502T0810Z_b9.json.gz" // listed, never delivered
	keyInsB   = "AWSLogs/" + acctB + "/CloudTrail-Insight/us-east-1/2024/05/02/" + acctB + "_CloudTrail-Insight_us-east-1_20240502T0900Z_b2.json.gz"
	keyDigA   = "AWSLogs/" + acctA + "/CloudTrail-Digest/us-east-1/2024/05/01/" + acctA + "_CloudTrail-Digest_us-east-1_main-trail_us-east-1_20240501T010000Z.json.gz"
	keyDigB   = "AWSLogs/" + acctB + "/CloudTrail-Digest/us-east-1/2024/05/02/" + acctB + "_CloudTrail-Digest_us-east-1_main-trail_us-east-1_20240502T090000Z.json.gz"
	keyNotes  = "AWSLogs/" + acctA + "/CloudTrail/us-east-1/2024/05/01/notes.txt"
	treeFiles = 8
)

// tree is what buildTree wrote.
type tree struct {
	root    string   // the download folder
	ids     []string // event IDs of every readable record, sorted
	events  int      // the records that normalize
	badKey  string   // the file holding the record that does not, and its index
	badAt   int
	records map[string]int // produced, by key
}

// fill renders the testdata template name (record.json, insight.json).
func fill(t testing.TB, name string, kv ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		kv[i] = "{{" + kv[i] + "}}"
	}
	return strings.TrimSpace(strings.NewReplacer(kv...).Replace(string(b)))
}

func logFile(records ...string) []byte {
	return []byte(`{"Records":[` + strings.Join(records, ",") + `]}`)
}

func hash(t testing.TB, stored []byte) string {
	t.Helper()
	h, err := digest.HashLogFile(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// buildTree writes the test tree under dir: five log and Insights files (one plain JSON,
// one with a record that does not normalize, one with a StopLogging call), two digests (one
// listing a file that was never delivered), and a file that is not CloudTrail's.
func buildTree(t testing.TB, dir string) tree {
	t.Helper()
	tr := tree{root: filepath.Join(dir, trailBucket), records: map[string]int{}}
	day1 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	n := 0
	call := func(account, region, source, name string, at time.Time) string {
		n++
		id := fmt.Sprintf("evt-%03d", n)
		tr.ids = append(tr.ids, id)
		return fill(t, "record.json", "account", account, "region", region, "id", id, "source", source, "name", name,
			"time", at.Format(time.RFC3339))
	}
	insight := func(account, region, state string, at time.Time) string {
		n++
		id := fmt.Sprintf("evt-%03d", n)
		tr.ids = append(tr.ids, id)
		return fill(t, "insight.json", "account", account, "region", region, "id", id, "source", "ec2.amazonaws.com", "name", state,
			"time", at.Format(time.RFC3339))
	}
	a1 := logFile(
		call(acctA, "us-east-1", "iam.amazonaws.com", "ListUsers", day1.Add(1*time.Minute)),
		call(acctA, "us-east-1", "s3.amazonaws.com", "ListBuckets", day1.Add(2*time.Minute)),
		call(acctA, "us-east-1", "ec2.amazonaws.com", "DescribeInstances", day1.Add(3*time.Minute)))
	a2 := logFile(
		call(acctA, "us-east-1", "cloudtrail.amazonaws.com", "StopLogging", day1.Add(6*time.Minute)),
		call(acctA, "us-east-1", "iam.amazonaws.com", "GetUser", day1.Add(7*time.Minute)))
	a3 := logFile(
		call(acctA, "eu-west-1", "ec2.amazonaws.com", "DescribeVpcs", day2.Add(11*time.Hour+56*time.Minute)),
		call(acctA, "eu-west-1", "ec2.amazonaws.com", "DescribeSubnets", day2.Add(11*time.Hour+57*time.Minute)),
		call(acctA, "eu-west-1", "ec2.amazonaws.com", "DescribeRegions", day2.Add(11*time.Hour+58*time.Minute)),
		call(acctA, "eu-west-1", "sts.amazonaws.com", "GetCallerIdentity", day2.Add(11*time.Hour+59*time.Minute)))
	b1 := logFile(
		call(acctB, "us-east-1", "s3.amazonaws.com", "ListBuckets", day2.Add(8*time.Hour)),
		call(acctB, "us-east-1", "s3.amazonaws.com", "GetBucketAcl", day2.Add(8*time.Hour+time.Minute)),
		call(acctB, "us-east-1", "kms.amazonaws.com", "ListKeys", day2.Add(8*time.Hour+2*time.Minute)),
		// Years before CloudTrail existed: read, but not normalized.
		call(acctB, "us-east-1", "kms.amazonaws.com", "ListAliases", time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)))
	tr.badKey, tr.badAt = keyB1, 3
	insB := logFile(
		insight(acctB, "us-east-1", "Start", day2.Add(8*time.Hour+30*time.Minute)),
		insight(acctB, "us-east-1", "End", day2.Add(8*time.Hour+50*time.Minute)))
	tr.events = len(tr.ids) - 1
	stored := map[string][]byte{keyA1: testenv.Gzip(a1), keyA2: a2, keyA3: testenv.Gzip(a3), keyB1: testenv.Gzip(b1), keyInsB: testenv.Gzip(insB)}
	tr.records = map[string]int{keyA1: 3, keyA2: 2, keyA3: 4, keyB1: 3, keyInsB: 2}

	// The digests list the files by their S3 bucket and key, under the trail's prefix.
	listed := func(key string, body []byte) digest.LogFile {
		return digest.LogFile{Bucket: trailBucket, Key: trailPrefix + "/" + key, Hash: hash(t, body), HashAlgorithm: digest.HashSHA256,
			Oldest: day1, Newest: day1}
	}
	writeDigest := func(account, key string, hour time.Time, files ...digest.LogFile) {
		var buf bytes.Buffer
		if err := digest.Write(&buf, digest.Digest{AccountID: account, Start: hour, End: hour.Add(time.Hour), Bucket: trailBucket,
			Key: trailPrefix + "/" + key, Oldest: hour, Newest: hour.Add(time.Hour), Files: files}); err != nil {
			t.Fatal(err)
		}
		stored[key] = buf.Bytes()
	}
	writeDigest(acctA, keyDigA, day1, listed(keyA1, stored[keyA1]), listed(keyA2, stored[keyA2]))
	writeDigest(acctB, keyDigB, day2.Add(8*time.Hour), listed(keyB1, stored[keyB1]),
		digest.LogFile{Bucket: trailBucket, Key: trailPrefix + "/" + keyB9, Hash: "00", HashAlgorithm: digest.HashSHA256})
	stored[keyNotes] = []byte("what we found\n")
	if len(stored) != treeFiles {
		t.Fatalf("the tree has %d files, want %d", len(stored), treeFiles)
	}
	for key, body := range stored {
		p := filepath.Join(tr.root, trailPrefix, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(tr.ids)
	return tr
}

// copyTree copies the folder src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func count(t testing.TB, conn driver.Conn, query string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// row is a ledger row, as the test checks it.
type row struct {
	Key, Bucket, Source, Kind, Path, Outcome string
	Records, Dead                            uint32
}

func ledgerRows(t testing.TB, conn driver.Conn, db string) []row {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT key, bucket, source, kind, path, outcome, records, dead_letters FROM "+db+".files FINAL ORDER BY key")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Key, &r.Bucket, &r.Source, &r.Kind, &r.Path, &r.Outcome, &r.Records, &r.Dead); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// importTree runs an import of paths and fails the test on an error.
func importTree(t testing.TB, c config.Config, o Options, paths ...string) (Summary, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := Run(ctx, c, o, paths, &stdout, &stderr)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	return sum, stdout.String() + stderr.String()
}

// TestImportDirect imports the tree with --direct: every record that normalizes is an event
// in ClickHouse, the StopLogging call a detection, the one that does not normalize a dead
// letter in the file, every file a ledger row, every file a digest lists and that was
// delivered read. Importing it again, or a copy of it elsewhere, reads nothing and stores
// nothing; --reread reads it all again, and the events stay one each.
func TestImportDirect(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	db := c.ClickHouseDatabase
	tr := buildTree(t, t.TempDir())
	deadFile := filepath.Join(t.TempDir(), "dead.jsonl")
	o := Options{Direct: true, Detect: true, Concurrency: 4, DeadLetters: deadFile}

	sum, out := importTree(t, c, o, tr.root)
	// Missing: the one file a digest lists that the tree lacks.
	want := Summary{Files: treeFiles, Read: 7, Digests: 2, Partial: 1, Skipped: 1, Records: tr.events, DeadLetters: 1, Detections: 1, Missing: 1}
	if got := clearTimes(sum); got != want {
		t.Errorf("first import: %+v\nwant %+v", got, want)
	}
	if !strings.Contains(out, "import: 8 files: 7 read (2 digests, 1 partial), 1 skipped, 0 seen before, 0 failed; 14 records, 1 dead letters, 1 detections;") {
		t.Errorf("summary line missing or wrong:\n%s", out)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".events FINAL"); n != uint64(tr.events) {
		t.Errorf("events: %d, want %d", n, tr.events)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".events FINAL WHERE event_category = 'insight'"); n != 2 {
		t.Errorf("insight events: %d, want 2", n)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".events FINAL WHERE environment = '"+c.Environment+"'"); n != uint64(tr.events) {
		t.Errorf("events of environment %q: %d, want %d", c.Environment, n, tr.events)
	}
	if n := count(t, conn, "SELECT uniqExact(account_id, aws_region) FROM "+db+".events FINAL"); n != 3 {
		t.Errorf("accounts and regions: %d, want 3", n)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".detections FINAL WHERE rule_id = 'cloudtrail-logging-stopped' AND account_id = '"+acctA+"'"); n != 1 {
		t.Errorf("cloudtrail-logging-stopped detections: %d, want 1", n)
	}
	wantRows := []row{
		{keyDigA, Bucket, SourceID, "digest", ledger.PathImport, ledger.OutcomeRead, 2, 0},
		{keyA3, Bucket, SourceID, "log", ledger.PathImport, ledger.OutcomeRead, 4, 0},
		{keyNotes, Bucket, SourceID, "other", ledger.PathImport, ledger.OutcomeSkipped, 0, 0},
		{keyA1, Bucket, SourceID, "log", ledger.PathImport, ledger.OutcomeRead, 3, 0},
		{keyA2, Bucket, SourceID, "log", ledger.PathImport, ledger.OutcomeRead, 2, 0},
		{keyDigB, Bucket, SourceID, "digest", ledger.PathImport, ledger.OutcomeRead, 2, 0},
		{keyB1, Bucket, SourceID, "log", ledger.PathImport, ledger.OutcomePartial, 3, 1},
		{keyInsB, Bucket, SourceID, "insight", ledger.PathImport, ledger.OutcomeRead, 2, 0},
	}
	slices.SortFunc(wantRows, func(a, b row) int { return strings.Compare(a.Key, b.Key) })
	if got := ledgerRows(t, conn, db); !slices.Equal(got, wantRows) {
		t.Errorf("ledger:\n%v\nwant\n%v", got, wantRows)
	}
	// The digests' files are all read but the one never delivered.
	missing, err := ledger.New(conn, db).Missing(context.Background(), SourceID, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), -time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0].Key != keyB9 || missing[0].Bucket != Bucket || missing[0].Account != acctB {
		t.Errorf("missing files: %+v, want only %s of %s", missing, keyB9, Bucket)
	}
	dead := readDead(t, deadFile)
	if len(dead) != 1 || dead[0].Key != tr.badKey || dead[0].Bucket != Bucket || dead[0].RecordIndex == nil || *dead[0].RecordIndex != tr.badAt ||
		!strings.Contains(dead[0].Reason, "normalize") || !strings.Contains(dead[0].Payload, `"ListAliases"`) {
		t.Errorf("dead letters: %+v, want the record %d of %s", dead, tr.badAt, tr.badKey)
	}

	ledgerRaw := count(t, conn, "SELECT count() FROM "+db+".files")
	eventsRaw := count(t, conn, "SELECT count() FROM "+db+".events")
	again := func(name string, paths ...string) {
		t.Helper()
		sum, _ := importTree(t, c, o, paths...)
		if got := clearTimes(sum); got != (Summary{Files: treeFiles, Seen: treeFiles, Missing: 1}) {
			t.Errorf("%s: %+v, want every file seen before", name, got)
		}
		if n := count(t, conn, "SELECT count() FROM "+db+".files"); n != ledgerRaw {
			t.Errorf("%s: %d ledger rows, want %d as before", name, n, ledgerRaw)
		}
		if n := count(t, conn, "SELECT count() FROM "+db+".events"); n != eventsRaw {
			t.Errorf("%s: %d event rows, want %d as before", name, n, eventsRaw)
		}
	}
	again("second import", tr.root)
	elsewhere := filepath.Join(t.TempDir(), "evidence", "case-17")
	copyTree(t, tr.root, elsewhere)
	again("import of a copy elsewhere", elsewhere)
	if len(readDead(t, deadFile)) != 1 {
		t.Error("imports that read nothing wrote dead letters")
	}

	c.Reread = true
	sum, _ = importTree(t, c, Options{Direct: true, Detect: true, Concurrency: 4, DeadLetters: deadFile}, elsewhere)
	if sum.Read != 7 || sum.Seen != 0 || sum.Records != tr.events {
		t.Errorf("--reread: %+v, want every file read again", sum)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".events FINAL"); n != uint64(tr.events) {
		t.Errorf("events after --reread: %d, want %d", n, tr.events)
	}
	if got := ledgerRows(t, conn, db); !slices.Equal(got, wantRows) {
		t.Errorf("ledger after --reread:\n%v\nwant\n%v", got, wantRows)
	}
}

// clearTimes returns s without what depends on the clock and the machine.
func clearTimes(s Summary) Summary {
	s.Took, s.Bytes = 0, 0
	return s
}

func readDead(t testing.TB, path string) []deadletter.Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []deadletter.Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e deadletter.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("dead letter %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// TestImportKafka imports the tree without --direct: the raw topic holds exactly its
// readable records, each once, with the headers the fetcher's have; nothing went to the
// dead-letter topic (the record that does not normalize is the normalizer's to report).
// Importing it again produces nothing.
func TestImportKafka(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	tr := buildTree(t, t.TempDir())
	brokers := testenv.Cluster(t, c)

	sum, _ := importTree(t, c, Options{Concurrency: 4}, tr.root)
	if sum.Records != len(tr.ids) || sum.Read != 7 || sum.DeadLetters != 0 {
		t.Errorf("import: %+v, want %d records of 7 files", sum, len(tr.ids))
	}
	if n := testenv.TopicSize(t, brokers, c.TopicRaw); n != int64(len(tr.ids)) {
		t.Fatalf("raw topic: %d messages, want %d", n, len(tr.ids))
	}
	var ids []string
	perKey := map[string]int{}
	for _, m := range testenv.ReadTopic(t, brokers, c.TopicRaw, len(tr.ids), 30*time.Second) {
		var r struct{ EventID string }
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.EventID)
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["s3_bucket"] != Bucket || h["source"] != SourceID || h["environment"] != c.Environment {
			t.Errorf("record %s: headers %v", r.EventID, h)
		}
		perKey[h["s3_key"]]++
	}
	slices.Sort(ids)
	if !slices.Equal(ids, tr.ids) {
		t.Errorf("raw records:\n%v\nwant\n%v", ids, tr.ids)
	}
	wantPerKey := map[string]int{keyA1: 3, keyA2: 2, keyA3: 4, keyB1: 4, keyInsB: 2}
	if fmt.Sprint(perKey) != fmt.Sprint(wantPerKey) {
		t.Errorf("records by file: %v, want %v", perKey, wantPerKey)
	}
	if n := testenv.TopicSize(t, brokers, c.TopicDeadLetter); n != 0 {
		t.Errorf("dead-letter topic: %d messages, want none", n)
	}
	if n := count(t, conn, "SELECT count() FROM "+c.ClickHouseDatabase+".files FINAL WHERE path = 'import'"); n != uint64(treeFiles) {
		t.Errorf("ledger: %d files, want %d", n, treeFiles)
	}

	sum, _ = importTree(t, c, Options{Concurrency: 4}, tr.root)
	if sum.Seen != treeFiles || sum.Records != 0 {
		t.Errorf("second import: %+v, want every file seen before", sum)
	}
	if n := testenv.TopicSize(t, brokers, c.TopicRaw); n != int64(len(tr.ids)) {
		t.Errorf("raw topic after the second import: %d messages, want %d", n, len(tr.ids))
	}
}

// TestProgressLog: without a terminal the progress is logged, the last line with every file
// done; a file that is not CloudTrail's although its key says it is fails the import, and is
// named in the log and in the ledger.
func TestProgressLog(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	tr := buildTree(t, t.TempDir())
	if err := os.WriteFile(filepath.Join(tr.root, trailPrefix, filepath.FromSlash(keyA3)), []byte("<html>not found</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	sum, err := Run(context.Background(), c, Options{Direct: true, Concurrency: 2, DeadLetters: filepath.Join(t.TempDir(), "d.jsonl")},
		[]string{tr.root}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "1 of 8 files could not be read") {
		t.Errorf("import with a broken file: %v, want it to fail", err)
	}
	if sum.Failed != 1 || sum.Read != 6 {
		t.Errorf("summary: %+v, want 6 files read and 1 failed", sum)
	}
	var last map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "import progress" {
			last = m
		}
	}
	if last == nil || last["files_done"] != float64(treeFiles) || last["files_total"] != float64(treeFiles) || last["records"] != float64(tr.events-4) {
		t.Errorf("last progress line: %v, want %d of %d files done and %d records", last, treeFiles, treeFiles, tr.events-4)
	}
	if !strings.Contains(stderr.String(), keyA3) {
		t.Errorf("the broken file is not named in the log:\n%s", stderr.String())
	}
	if n := count(t, conn, "SELECT count() FROM "+c.ClickHouseDatabase+".files FINAL WHERE outcome = 'failed' AND key = '"+keyA3+"'"); n != 1 {
		t.Errorf("ledger: the broken file is not recorded as failed")
	}
}

// TestBar draws the bar as on a terminal: files done of all, records, MB/s and the time
// left, with the log lines above it.
func TestBar(t *testing.T) {
	var buf bytes.Buffer
	c := &console{w: &buf, tty: true}
	m := newMeter(c, nil, 3, 3e6)
	fmt.Fprintln(c, `{"msg":"a log line"}`)
	cr := &credit{meter: m, size: 2e6}
	cr.start()
	cr.add(1e6)
	m.show()
	cr.rest()
	m.file(1234)
	m.skip(2, 1e6)
	m.finish()
	out := buf.String()
	for _, want := range []string{`{"msg":"a log line"}`, "files 3/3, 1234 records", "B/s", "3.0/3.0 MB", "100%", "[0s:0s]"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q:\n%q", want, out)
		}
	}
}
