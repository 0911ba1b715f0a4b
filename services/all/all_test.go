package all

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console/consoletest"
)

// trail returns testdata/trail.json as a gzip CloudTrail file whose records are moved to
// end an hour ago (so the dashboards' last 24 hours hold them), and the records as written.
func trail(t *testing.T) (file []byte, records [][]byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/trail.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Records []map[string]any }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	shift := time.Now().Add(-time.Hour).Truncate(time.Second).Sub(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	var buf bytes.Buffer
	buf.WriteString(`{"Records":[`)
	for i, r := range f.Records {
		at, err := time.Parse(time.RFC3339, r["eventTime"].(string))
		if err != nil {
			t.Fatal(err)
		}
		r["eventTime"] = at.Add(shift).UTC().Format(time.RFC3339)
		rec, _ := json.Marshal(r)
		records = append(records, rec)
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(rec)
	}
	buf.WriteString(`]}`)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(buf.Bytes())
	w.Close()
	return gz.Bytes(), records
}

// stored is row as ClickHouse keeps it: booleans as UInt8, times in whole seconds.
func stored(row []any) []any {
	for i, v := range row {
		switch v := v.(type) {
		case bool:
			row[i] = uint8(0)
			if v {
				row[i] = uint8(1)
			}
		case time.Time:
			row[i] = v.Truncate(time.Second).UTC()
		}
	}
	return row
}

// scanTargets returns a pointer to a value of each column's ClickHouse type.
func scanTargets(row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		if _, ok := v.(bool); ok {
			v = uint8(0)
		}
		out[i] = reflect.New(reflect.TypeOf(v)).Interface()
	}
	return out
}

// eventually polls cond every 100 ms for up to a minute.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within a minute; last state: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPipeline runs every service in one process on the real stack: a CloudTrail file and
// bad input go in through S3 and SQS; the events, the short-lived IAM detection and the
// dashboards come out, and a redelivered notification changes no count.
func TestPipeline(t *testing.T) {
	c := testenv.Config(t)
	c.ConsoleAddr = testenv.FreeAddr(t)
	conn := testenv.ClickHouse(t, c)
	cl, queueURL := testenv.AWS(t, c)
	db := c.ClickHouseDatabase
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	file, records := trail(t)
	notice := testenv.PutObject(t, cl, c, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/111122223333_CloudTrail_us-east-1_20261121T1000Z_e2e.json.gz", file)
	bad := []string{
		testenv.PutObject(t, cl, c, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/corrupt.json.gz", file[:len(file)/2]),
		testenv.PutObject(t, cl, c, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/notjson.json.gz", []byte("<html>not json</html>")),
		testenv.PutObject(t, cl, c, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/missing.json.gz", nil),
		"garbage notification",
	}
	// The records of the corrupt file, which is the first half of the good one, that end
	// before the cut: they are delivered too (and are duplicates of the good file's).
	var readable int
	if zr, err := gzip.NewReader(bytes.NewReader(file[:len(file)/2])); err == nil {
		prefix, _ := io.ReadAll(zr)
		for _, r := range records {
			if bytes.Contains(prefix, r) {
				readable++
			}
		}
	}
	if readable == 0 || readable == len(records) {
		t.Fatalf("%d of %d records before the cut: the corrupt file should hold some, not all", readable, len(records))
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	start := time.Now()
	testenv.SendMessage(t, cl, queueURL, notice)
	for _, b := range bad {
		testenv.SendMessage(t, cl, queueURL, b)
	}

	count := func(q string) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	eventually(t, "every record in events", func() (bool, string) {
		n := count("SELECT count() FROM " + db + ".events FINAL")
		return n == uint64(len(records)), fmt.Sprintf("%d of %d", n, len(records))
	})
	t.Logf("notification to all %d rows in ClickHouse: %s", len(records), time.Since(start))

	// Every record arrived with every field the normalizer gives it.
	loc, err := geo.New("")
	if err != nil {
		t.Fatal(err)
	}
	n := normalize.Normalizer{Environment: c.Environment, Geo: loc}
	columns := strings.Join(model.EventFields(), ", ")
	for _, rec := range records {
		want, err := n.Normalize(rec)
		if err != nil {
			t.Fatal(err)
		}
		wantRow, gotRow := stored(want.Values(nil)), scanTargets(want.Values(nil))
		if err := conn.QueryRow(ctx, "SELECT "+columns+" FROM "+db+".events FINAL WHERE event_id = ?", want.EventID).Scan(gotRow...); err != nil {
			t.Fatalf("event %s: %v", want.EventID, err)
		}
		for i, name := range model.EventFields() {
			got := reflect.ValueOf(gotRow[i]).Elem().Interface()
			if tm, ok := got.(time.Time); ok {
				got = tm.UTC()
			}
			if !reflect.DeepEqual(got, wantRow[i]) {
				t.Errorf("event %s: %s = %#v in ClickHouse, want %#v", want.EventID, name, got, wantRow[i])
			}
		}
	}
	for q, want := range map[string]uint64{
		"SELECT count() FROM " + db + ".events FINAL WHERE event_name = 'ConsoleLogin' AND outcome = 'failure'":                2,
		"SELECT count() FROM " + db + ".events FINAL WHERE user_name = 'root' OR user_name = 'HIDDEN_DUE_TO_SECURITY_REASONS'": 0,
	} {
		if n := count(q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}

	// The file's detections: the short-lived IAM user, and the two failed sign-ins from abroad.
	eventually(t, "the file's three detections", func() (bool, string) {
		n := count("SELECT count() FROM " + db + ".detections FINAL")
		return n == 3, fmt.Sprintf("%d detections", n)
	})
	if n := count("SELECT count() FROM " + db + ".detections FINAL WHERE rule_id = 'console-login-outside-home-countries' AND event_ids IN (['e2e-0010'], ['e2e-0011'])"); n != 2 {
		t.Errorf("%d sign-ins from abroad detected, want e2e-0010 and e2e-0011", n)
	}
	var rule, typ, name string
	var ids, actors []string
	if err := conn.QueryRow(ctx, "SELECT rule_id, resource_type, resource_name, event_ids, actors FROM "+db+".detections FINAL WHERE rule_id = 'short-lived-iam-object'").
		Scan(&rule, &typ, &name, &ids, &actors); err != nil {
		t.Fatal(err)
	}
	if rule != "short-lived-iam-object" || typ != "iam-user" || name != "tmp-deploy" ||
		fmt.Sprint(ids) != "[e2e-0001 e2e-0002]" || fmt.Sprint(actors) != "[alice bob]" {
		t.Errorf("detection %s %s %s %v %v", rule, typ, name, ids, actors)
	}

	// Bad input: three files dead-lettered, the garbage notification left in the queue.
	testenv.ReadTopic(t, testenv.Cluster(t, c), c.TopicDeadLetter, 3, 30*time.Second)
	eventually(t, "only the unparseable notification left in the queue", func() (bool, string) {
		n := testenv.QueueDepth(t, cl, queueURL)
		return n == 1, fmt.Sprintf("%d messages", n)
	})

	// The dashboards, before and after the same notification is delivered again.
	base := "http://" + c.ConsoleAddr
	window := url.Values{"from": {time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)}, "to": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}.Encode()
	panels := func() map[string]string {
		out := map[string]string{}
		for _, id := range consoletest.OverviewPanels {
			resp, err := http.Get(base + "/api/panels/" + id + "?" + window)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("panel %s: %s %s", id, resp.Status, b)
			}
			out[id] = string(b)
		}
		return out
	}
	// The same notification delivered again: the ledger has its file, so the notification is
	// deleted without the file being read again, and nothing changes.
	before := panels()
	testenv.SendMessage(t, cl, queueURL, notice)
	eventually(t, "the redelivered notification deleted", func() (bool, string) {
		n := testenv.QueueDepth(t, cl, queueURL)
		return n == 1, fmt.Sprintf("%d messages", n)
	})
	if raw, n := testenv.TopicSize(t, testenv.Cluster(t, c), c.TopicRaw), int64(len(records)+readable); raw != n {
		t.Errorf("raw topic holds %d records after the redelivery, want still %d: the file was read again", raw, n)
	}
	var ledgered uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".files WHERE path = 'notification' AND outcome IN ('read', 'partial')").Scan(&ledgered); err != nil || ledgered != 2 {
		t.Errorf("ledger: %d files read from notifications (%v), want the good file and the corrupt one, once each", ledgered, err)
	}
	after := panels()
	for id := range before {
		if before[id] != after[id] {
			t.Errorf("panel %s changed after a redelivery:\nbefore %s\nafter  %s", id, before[id], after[id])
		}
	}
	if n := count("SELECT count() FROM " + db + ".events FINAL"); n != uint64(len(records)) {
		t.Errorf("%d events after the redelivery, want %d", n, len(records))
	}

	consoletest.AssertOverviewRendered(t, base)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
