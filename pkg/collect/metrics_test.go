package collect

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/sources"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestReadMetrics reads a log file with a record that cannot be read and one excluded, the
// same file again, and a key that does not exist, under a stage, source and path of the
// test's own: what became of each is counted.
func TestReadMetrics(t *testing.T) {
	c := testenv.Config(t)
	cl, _ := testenv.AWS(t, c)
	r := newReader(t, c)
	r.Stage = testenv.Name("collect-")
	r.Exclude, _ = NewFilter([]string{"kms:Decrypt"})
	ctx := context.Background()
	newest := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/111122223333_CloudTrail_us-east-1_20261130T1005Z_m.json.gz"
	file := testenv.Gzip([]byte(`{"Records":[
		{"eventTime": "` + newest.Add(-time.Minute).Format(time.RFC3339) + `", "eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "eventID": "1"},
		"not an object",
		{"eventTime": "` + newest.Format(time.RFC3339) + `", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventID": "2"},
		{"eventTime": "` + newest.Add(-5*time.Minute).Format(time.RFC3339) + `", "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventID": "3"}]}`))
	testenv.PutObject(t, cl, c, key, file)
	src := sources.Source{ID: testenv.Name("src-"), Environment: "test"}
	path := testenv.Name("path-")
	before := metricstest.Local(t, metrics.Stage, metrics.Fetcher)

	if res, err := r.Get(ctx, cl.S3, Object{Source: src, Bucket: c.Bucket, Key: key, Path: path}); err != nil || res.Records != 2 || res.Dead != 1 {
		t.Fatalf("Get: %+v, %v; want 2 records and a dead letter", res, err)
	}
	if res, err := r.Get(ctx, cl.S3, Object{Source: src, Bucket: c.Bucket, Key: key, Path: path}); err != nil || !res.Seen {
		t.Fatalf("Get again: %+v, %v; want it seen", res, err)
	}
	if _, err := r.Get(ctx, cl.S3, Object{Source: src, Bucket: c.Bucket, Key: strings.Replace(key, "_m.json.gz", "_missing.json.gz", 1), Path: path}); err != nil {
		t.Fatalf("Get of a missing key: %v, want it recorded as failed", err)
	}

	s := metricstest.Local(t)
	delta := func(name string, pairs ...string) float64 { return s.Sum(name, pairs...) - before.Sum(name, pairs...) }
	for _, tc := range []struct {
		name  string
		pairs []string
		want  float64
	}{
		{"trailstream_stage_records_in_total", []string{"stage", r.Stage}, 4},
		{"trailstream_stage_records_out_total", []string{"stage", r.Stage}, 2},
		{"trailstream_stage_dead_letters_total", []string{"stage", r.Stage, "reason", "record"}, 1},
		{"trailstream_stage_dead_letters_total", []string{"stage", r.Stage, "reason", "file"}, 1},
		{"trailstream_stage_batch_records_sum", []string{"stage", r.Stage}, 4},
		{"trailstream_fetcher_records_excluded_total", nil, 1},
		{"trailstream_fetcher_files_total", []string{"path", path, "outcome", "partial"}, 1},
		{"trailstream_fetcher_files_total", []string{"path", path, "outcome", "seen"}, 1},
		{"trailstream_fetcher_files_total", []string{"path", path, "outcome", "failed"}, 1},
		{"trailstream_s3_objects_read_total", []string{"kind", "log"}, 1},
		{"trailstream_s3_bytes_read_total", []string{"kind", "log"}, float64(len(file))},
		{"trailstream_s3_errors_total", []string{"kind", "not_found"}, 1},
		{"trailstream_fetcher_delivery_lag_seconds_count", []string{"source", src.ID, "path", path}, 1},
		// read about two hours after its newest event: not within the hour, within six
		{"trailstream_fetcher_delivery_lag_seconds_bucket", []string{"source", src.ID, "path", path, "le", "3600"}, 0},
		{"trailstream_fetcher_delivery_lag_seconds_bucket", []string{"source", src.ID, "path", path, "le", "21600"}, 1},
	} {
		if got := delta(tc.name, tc.pairs...); got != tc.want {
			t.Errorf("%s%q: %v, want %v", tc.name, tc.pairs, got, tc.want)
		}
	}
}
