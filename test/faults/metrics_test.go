//go:build faults

package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
)

const metricsUnderLoad = "metrics endpoint under load"

// Bounds of the scenario.
const (
	scrapeBound        = time.Second // the longest a scrape may take
	scrapersPerService = 4           // concurrent scrapers of each service's endpoint
	scrapePause        = 50 * time.Millisecond
	minScrapesInLoad   = 20 // of /metrics per service while rows arrive, or the load did not meet the scrapes
)

// loadInput is the scenario's input: 100,000 generated records of 8 accounts in files of at
// most 5,000, enough to keep the pipeline busy for a while at full speed.
func loadInput() *input {
	t := &panicT{}
	in := &input{}
	for f := range generate.Files(generate.Options{Events: 100000, Accounts: 8, RecordsPerFile: 5000, Span: 10 * time.Minute, Start: start, Seed: 12}) {
		in.add(f.Key, f.Records, ids(t, f.Records))
	}
	return in
}

// TestMetricsUnderLoad runs every service, the console too, each as its own process, on a
// large input sent at once, while scrapers hit every service's /metrics, /healthz and
// /readyz without pause. Every answer must come within scrapeBound with 200 (/readyz once the
// service was first ready), the counters each scraper sees never go down, and once the
// pipeline settled the services' counters agree with what Kafka and ClickHouse hold, and
// ClickHouse holds every record once.
func TestMetricsUnderLoad(t *testing.T) {
	in := loadInput()
	w := newWorld(t, "TRAILSTREAM_CONSOLE_ADDR=127.0.0.1:0")
	w.startAll()
	w.start("console")
	addrs := map[string]string{} // service → its metrics address
	for _, svc := range append(slices.Clone(services), "console") {
		addrs[svc] = w.metricsAddr(w.running(svc))
	}
	w.put(in)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	tallies := map[string][]*scrapeTally{}
	for svc, addr := range addrs {
		for range scrapersPerService {
			st := &scrapeTally{svc: svc, addr: addr, last: map[string]float64{}}
			tallies[svc] = append(tallies[svc], st)
			wg.Add(1)
			go func() { defer wg.Done(); st.run(ctx) }()
		}
	}
	fedAt := time.Now()
	<-w.feed(in, in.objects, 0, 1)
	end := time.Now()
	// No detections are expected of the input: only its records are compared.
	o := w.settle(settling{want: len(in.ids), detections: map[string]bool{}, faultEnd: end, limit: settleLimit})
	stop()
	wg.Wait()

	var problems []string
	// The scrapes: all answered in time, counters only up, and while the rows arrived.
	for _, svc := range append(slices.Clone(services), "console") {
		var all scrapeTally
		for _, st := range tallies[svc] {
			all.merge(st)
		}
		problems = append(problems, all.problems...)
		inLoad := 0
		for _, at := range all.metricsAt {
			if at.After(fedAt) && at.Before(o.lastArrival) {
				inLoad++
			}
		}
		sort.Slice(all.durations, func(i, j int) bool { return all.durations[i] < all.durations[j] })
		p := func(q float64) time.Duration {
			if len(all.durations) == 0 {
				return 0
			}
			return all.durations[int(q*float64(len(all.durations)-1))]
		}
		t.Logf("%s: %d requests (%d of /metrics, %d of them while rows arrived, %.0f KB the largest), p50 %s, p99 %s, max %s",
			svc, len(all.durations), len(all.metricsAt), inLoad, float64(all.largest)/1024,
			p(0.5).Round(time.Microsecond), p(0.99).Round(time.Microsecond), p(1).Round(time.Microsecond))
		if svc != "console" && inLoad < minScrapesInLoad {
			problems = append(problems, fmt.Sprintf("%s: %d scrapes of /metrics while the rows arrived (%s to %s), fewer than %d: the scrapes did not meet the load",
				svc, inLoad, fedAt.Format(time.TimeOnly), o.lastArrival.Format(time.TimeOnly), minScrapesInLoad))
		}
	}

	// The final counters against what Kafka and ClickHouse hold.
	final := map[string]metricstest.Scrape{}
	for svc, addr := range addrs {
		final[svc] = metricstest.Read(t, addr)
	}
	var cpu []string
	for _, svc := range append(slices.Clone(services), "console") {
		cpu = append(cpu, fmt.Sprintf("%s %.1f s", svc, final[svc].Sum("process_cpu_seconds_total")))
	}
	t.Logf("CPU used: %s", strings.Join(cpu, ", "))
	c := w.cfg
	raw, events, detections := w.size(c.TopicRaw), w.size(c.TopicEvents), w.size(c.TopicDetections)
	var detectionRows uint64
	if err := w.db.QueryRow(context.Background(), "SELECT count() FROM "+c.ClickHouseDatabase+".detections").Scan(&detectionRows); err != nil {
		t.Fatal(err)
	}
	stage := func(svc, family, name string) float64 {
		return final[svc].Sum("trailstream_stage_"+family+"_total", "stage", name)
	}
	for _, ck := range []struct {
		what      string
		got, want float64
	}{
		{"fetcher: records in ≥ the input's records", min(stage("fetcher", "records_in", "fetcher"), float64(in.records)), float64(in.records)},
		{"fetcher: records out = messages of " + c.TopicRaw, stage("fetcher", "records_out", "fetcher"), float64(raw)},
		{"fetcher: messages produced to " + c.TopicRaw, final["fetcher"].Sum("trailstream_kafka_produced_messages_total", "topic", c.TopicRaw), float64(raw)},
		{"normalizer: records in = messages of " + c.TopicRaw, stage("normalizer", "records_in", "normalizer"), float64(raw)},
		{"normalizer: records out = messages of " + c.TopicEvents, stage("normalizer", "records_out", "normalizer"), float64(events)},
		{"detector: records in = messages of " + c.TopicEvents, stage("detector", "records_in", "detector"), float64(events)},
		{"detector and fetcher: detections published = messages of " + c.TopicDetections,
			final["detector"].Sum("trailstream_detections_total") + final["fetcher"].Sum("trailstream_detections_total"), float64(detections)},
		{"sink: records in = messages of both topics", stage("sink", "records_in", "sink"), float64(events + detections)},
		{"sink: rows inserted into events = count() of events", final["sink"].Sum("trailstream_clickhouse_rows_inserted_total", "table", "events"), float64(o.rows)},
		{"sink: rows inserted into detections = count() of detections", final["sink"].Sum("trailstream_clickhouse_rows_inserted_total", "table", "detections"), float64(detectionRows)},
		{"sink: records out = rows of both tables", stage("sink", "records_out", "sink"), float64(o.rows + detectionRows)},
		{"sink: events whose lag was measured = count() of events", final["sink"].Sum("trailstream_sink_event_lag_seconds_count"), float64(o.rows)},
		{"sink: insert errors", final["sink"].Sum("trailstream_clickhouse_insert_errors_total"), 0},
	} {
		if ck.got != ck.want {
			problems = append(problems, fmt.Sprintf("%s: the metrics say %v, want %v", ck.what, ck.got, ck.want))
		}
	}
	for _, g := range []string{c.GroupPrefix + "-normalizer", c.GroupPrefix + "-sink-events"} {
		if lag := final["sink"].Sum("trailstream_kafka_consumer_lag_messages", "group", g) + final["normalizer"].Sum("trailstream_kafka_consumer_lag_messages", "group", g); lag != 0 {
			problems = append(problems, fmt.Sprintf("%s: consumer lag %v once every message was handled", g, lag))
		}
	}
	t.Logf("metrics: %v records in at the fetcher, %d raw, %d events, %d detections; ClickHouse %d rows of events, %d of detections",
		stage("fetcher", "records_in", "fetcher"), raw, events, detections, o.rows, detectionRows)

	// Nothing lost or doubled.
	problems = append(problems, delivery(in, o)...)
	problems = append(problems, w.crashed()...)
	recordRow(metricsUnderLoad, in, o, end, len(o.detections), problems)
	if len(problems) > 0 {
		t.Errorf("%s:\n  - %s\n  consumers behind: %v\n  groups:%s%s", metricsUnderLoad, strings.Join(problems, "\n  - "), o.behind, o.members, w.logs(10))
	}
}

// delivery says what of in's good records is missing from o, twice in it, or not of in.
func delivery(in *input, o outcome) []string {
	var problems []string
	if !o.settled {
		problems = append(problems, fmt.Sprintf("the pipeline did not settle within %s after the input was sent", o.waited.Round(time.Second)))
	}
	want := map[string]bool{}
	var lost []string
	for _, id := range in.ids {
		want[id] = true
		if o.events[id] == 0 {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		problems = append(problems, fmt.Sprintf("lost %d of %d records, e.g. %v", len(lost), len(want), first(lost, 3)))
	}
	var unexpected []string
	for id := range o.events {
		if !want[id] {
			unexpected = append(unexpected, id)
		}
	}
	if len(unexpected) > 0 {
		problems = append(problems, fmt.Sprintf("%d event IDs in ClickHouse that the input does not have, e.g. %v", len(unexpected), first(unexpected, 3)))
	}
	if int(o.final) != len(o.events) {
		problems = append(problems, fmt.Sprintf("counted twice: SELECT count() FROM events FINAL is %d, but %d distinct event IDs arrived", o.final, len(o.events)))
	}
	return problems
}

// recordRow adds the scenario's row to the result table.
func recordRow(fault string, in *input, o outcome, end time.Time, detections int, problems []string) {
	lost := 0
	for _, id := range in.ids {
		if o.events[id] == 0 {
			lost++
		}
	}
	r := row{fault: fault, recordsIn: in.records, good: len(in.ids), final: o.final, distinct: len(o.events),
		redelivered: int(o.rows) - len(o.events), twice: max(0, int(o.final)-len(o.events)), lost: lost,
		detections: fmt.Sprintf("%d (not compared)", detections), recovery: fmt.Sprintf("%.1f", o.recovery(end).Seconds()), ok: len(problems) == 0}
	if !o.settled {
		r.recovery = "> " + fmt.Sprintf("%.0f", o.waited.Seconds())
	}
	results.Lock()
	results.rows = append(results.rows, r)
	results.Unlock()
}

// metricsAddr returns the address p's metrics endpoint listens on, from the line its log
// says it with (every process listens on a port of its own, TRAILSTREAM_METRICS_ADDR
// 127.0.0.1:0).
func (w *world) metricsAddr(p *proc) string {
	w.t.Helper()
	var addr string
	found := waitUntil(30*time.Second, func() bool {
		f, err := os.Open(p.log)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var l struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "metrics endpoint listening" {
				addr = strings.TrimSuffix(strings.TrimPrefix(l.URL, "http://"), "/metrics")
				return true
			}
		}
		return false
	})
	if !found {
		w.t.Fatalf("%s did not say where its metrics endpoint listens within 30 s:%s", p.name(), w.logs(10))
	}
	return addr
}

// scrapeTally is what one scraper of an endpoint saw.
type scrapeTally struct {
	svc, addr string
	last      map[string]float64 // counter series → the last value seen
	ready     bool               // /readyz answered 200 once
	durations []time.Duration
	metricsAt []time.Time // when each /metrics answer came
	largest   int
	problems  []string
}

// run GETs /metrics, /healthz and /readyz in turn until ctx ends.
func (st *scrapeTally) run(ctx context.Context) {
	client := &http.Client{Timeout: 2 * scrapeBound, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for ctx.Err() == nil {
		for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
			st.get(ctx, client, path)
		}
		time.Sleep(scrapePause)
	}
}

func (st *scrapeTally) problem(format string, args ...any) {
	if len(st.problems) < 10 { // the first ones say enough
		st.problems = append(st.problems, st.svc+": "+fmt.Sprintf(format, args...))
	}
}

func (st *scrapeTally) get(ctx context.Context, client *http.Client, path string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+st.addr+path, nil)
	began := time.Now()
	res, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	took := time.Since(began)
	if ctx.Err() != nil {
		return // stopped mid-request: no answer to judge
	}
	st.durations = append(st.durations, took)
	switch {
	case err != nil:
		st.problem("GET %s: %v after %s", path, err, took.Round(time.Millisecond))
		return
	case took > scrapeBound:
		st.problem("GET %s took %s, more than %s", path, took.Round(time.Millisecond), scrapeBound)
	}
	switch path {
	case "/healthz":
		if res.StatusCode != http.StatusOK {
			st.problem("GET /healthz: %d %q", res.StatusCode, body)
		}
	case "/readyz":
		if res.StatusCode == http.StatusOK {
			st.ready = true
		} else if st.ready {
			st.problem("GET /readyz: %d %q after it was ready", res.StatusCode, body)
		}
	case "/metrics":
		st.metricsAt = append(st.metricsAt, time.Now())
		st.largest = max(st.largest, len(body))
		if res.StatusCode != http.StatusOK {
			st.problem("GET /metrics: %d", res.StatusCode)
			return
		}
		s, err := metricstest.Parse(string(body))
		if err != nil {
			st.problem("GET /metrics: %v", err)
			return
		}
		st.monotone(s)
	}
}

// monotone checks that no counter of s is below what this scraper saw of it before: the
// counters, and the counts, sums and buckets of histograms (of values never negative).
func (st *scrapeTally) monotone(s metricstest.Scrape) {
	for _, sm := range s.Samples {
		if !cumulative(s, sm.Name) {
			continue
		}
		keys := make([]string, 0, len(sm.Labels))
		for k, v := range sm.Labels {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		series := sm.Name + "{" + strings.Join(keys, ",") + "}"
		if prev, ok := st.last[series]; ok && sm.Value < prev {
			st.problem("%s went down from %v to %v", series, prev, sm.Value)
		}
		st.last[series] = sm.Value
	}
}

// cumulative reports whether the series name of s only goes up.
func cumulative(s metricstest.Scrape, name string) bool {
	if s.Types[name] == "counter" {
		return true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && (s.Types[base] == "histogram" || s.Types[base] == "summary" && suffix != "_bucket") {
			return true
		}
	}
	return false
}

// merge adds what o saw to st.
func (st *scrapeTally) merge(o *scrapeTally) {
	st.durations = append(st.durations, o.durations...)
	st.metricsAt = append(st.metricsAt, o.metricsAt...)
	st.largest = max(st.largest, o.largest)
	st.problems = append(st.problems, o.problems...)
	if !o.ready {
		st.problems = append(st.problems, o.svc+": /readyz never answered 200 to a scraper")
	}
}
