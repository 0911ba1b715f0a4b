package metrics

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestFamilies: every family is named under the namespace in Prometheus' style, once, with
// bounded labels only, and a group registered twice is no error.
func TestFamilies(t *testing.T) {
	name := regexp.MustCompile(`^trailstream_[a-z0-9_]+$`)
	unbounded := []string{"event_id", "key", "bucket", "user", "user_name", "account", "account_id", "detection_id", "message_id", "ip", "source_ip"}
	seen := map[string]bool{}
	for _, f := range All() {
		if !name.MatchString(f.Name) || seen[f.Name] {
			t.Errorf("family %q: not a trailstream_ name, or twice", f.Name)
		}
		seen[f.Name] = true
		switch f.Type {
		case "counter":
			if !strings.HasSuffix(f.Name, "_total") {
				t.Errorf("counter %s does not end in _total", f.Name)
			}
		case "gauge", "histogram":
			if strings.HasSuffix(f.Name, "_total") {
				t.Errorf("%s %s ends in _total", f.Type, f.Name)
			}
		default:
			t.Errorf("%s: type %q", f.Name, f.Type)
		}
		for _, l := range f.Labels {
			if slices.Contains(unbounded, l) {
				t.Errorf("%s has the unbounded label %s", f.Name, l)
			}
		}
		if f.Help == "" {
			t.Errorf("%s has no help", f.Name)
		}
	}
	Register(Groups()...)
	Register(Groups()...)
	if got, want := len(Registered()), len(All()); got != want {
		t.Fatalf("%d families registered of %d", got, want)
	}
}

// TestBatchHistogram adds two batches' tallies and reads the histogram as Prometheus does.
func TestBatchHistogram(t *testing.T) {
	h := newBatchHistogram(&Group{}, "test_lag_seconds", "test", []float64{1, 5, 15})
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	a := h.Tally()
	for _, v := range []float64{0.5, 1, 3, 20} {
		a.Observe(v)
	}
	if a.Count() != 4 {
		t.Fatalf("tally holds %d, want 4", a.Count())
	}
	a.Add()
	if a.Count() != 0 {
		t.Fatalf("tally holds %d after Add, want 0", a.Count())
	}
	b := h.Tally()
	b.Observe(10)
	b.Add()
	a.Add() // empty: nothing more
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "trailstream_test_lag_seconds" {
		t.Fatalf("gathered %v", mfs)
	}
	hist := mfs[0].GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 5 || hist.GetSampleSum() != 34.5 {
		t.Fatalf("count %d sum %v, want 5 and 34.5", hist.GetSampleCount(), hist.GetSampleSum())
	}
	want := map[float64]uint64{1: 2, 5: 3, 15: 4} // cumulative: 0.5 and 1 ≤ 1; 3 ≤ 5; 10 ≤ 15; 20 only in +Inf
	for _, bk := range hist.GetBucket() {
		if bk.GetCumulativeCount() != want[bk.GetUpperBound()] {
			t.Errorf("bucket le=%v: %d, want %d", bk.GetUpperBound(), bk.GetCumulativeCount(), want[bk.GetUpperBound()])
		}
	}
}

// BenchmarkTally measures what the sink's lag histogram costs a batch of 5,000 events:
// an observation each, added at once.
func BenchmarkTally(b *testing.B) {
	h := newBatchHistogram(&Group{}, "bench_lag_seconds", "bench", LagBuckets)
	for b.Loop() {
		t := h.Tally()
		for i := range 5000 {
			t.Observe(float64(i % 4000))
		}
		t.Add()
	}
}

// BenchmarkStageBatch measures what a stage's metrics cost a batch.
func BenchmarkStageBatch(b *testing.B) {
	s := ForStage("bench")
	for b.Loop() {
		s.Batch(5000, 4990, 20*time.Millisecond)
	}
}
