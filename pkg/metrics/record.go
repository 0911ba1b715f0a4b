package metrics

import (
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BatchHistogram is a histogram without labels whose observations are tallied per batch,
// with no synchronization, and added to it at once when the batch is done: a batch of
// thousands of records costs one lock. It is a prometheus.Collector.
type BatchHistogram struct {
	desc  *prometheus.Desc
	upper []float64

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last one is +Inf
	sum    float64
	count  uint64
}

func newBatchHistogram(g *Group, name, help string, buckets []float64) *BatchHistogram {
	h := &BatchHistogram{
		desc:   prometheus.NewDesc(Namespace+"_"+name, help, nil, nil),
		upper:  buckets,
		counts: make([]uint64, len(buckets)+1),
	}
	g.add(h, Info{Name: name, Type: "histogram", Help: help})
	return h
}

// Describe implements prometheus.Collector.
func (h *BatchHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector.
func (h *BatchHistogram) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	buckets := make(map[float64]uint64, len(h.upper))
	var cum uint64
	for i, u := range h.upper {
		cum += h.counts[i]
		buckets[u] = cum
	}
	count, sum := h.count, h.sum
	h.mu.Unlock()
	ch <- prometheus.MustNewConstHistogram(h.desc, count, sum, buckets)
}

// Tally returns an empty tally of h's buckets, for one batch.
func (h *BatchHistogram) Tally() *Tally {
	return &Tally{h: h, counts: make([]uint64, len(h.upper)+1)}
}

// Tally counts the observations of one batch; it is not safe for concurrent use.
type Tally struct {
	h      *BatchHistogram
	counts []uint64
	sum    float64
	count  uint64
}

// Observe counts v.
func (t *Tally) Observe(v float64) {
	t.counts[sort.SearchFloat64s(t.h.upper, v)]++ // the first bucket whose upper bound is >= v
	t.sum += v
	t.count++
}

// Since counts the seconds from at to now; 0 when at is after now (a clock ahead).
func (t *Tally) Since(now, at time.Time) { t.Observe(max(0, now.Sub(at).Seconds())) }

// Count returns how many observations the tally holds.
func (t *Tally) Count() uint64 { return t.count }

// Add adds the tally to its histogram and empties it.
func (t *Tally) Add() {
	if t.count == 0 {
		return
	}
	h := t.h
	h.mu.Lock()
	for i, n := range t.counts {
		h.counts[i] += n
		t.counts[i] = 0
	}
	h.sum += t.sum
	h.count += t.count
	h.mu.Unlock()
	t.sum, t.count = 0, 0
}

// StageBatch records a stage's batches.
type StageBatch struct {
	in, out       prometheus.Counter
	records, took prometheus.Observer
}

// ForStage returns the recorder of the stage name's batches.
func ForStage(name string) StageBatch {
	return StageBatch{
		in: StageRecordsIn.WithLabelValues(name), out: StageRecordsOut.WithLabelValues(name),
		records: StageBatchRecords.WithLabelValues(name), took: StageBatchSeconds.WithLabelValues(name),
	}
}

// Batch records one batch handled: in records taken in, out passed on, in took.
func (s StageBatch) Batch(in, out int, took time.Duration) {
	s.in.Add(float64(in))
	s.out.Add(float64(out))
	s.records.Observe(float64(in))
	s.took.Observe(took.Seconds())
}

// Route returns h timed under the console route pattern (metrics.ConsoleRequestSeconds,
// with the status code of the answer).
func Route(pattern string, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(ConsoleRequestSeconds.MustCurryWith(prometheus.Labels{"route": pattern}), h)
}
