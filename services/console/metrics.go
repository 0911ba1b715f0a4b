package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The collection's figures, per source, read from ClickHouse at each scrape: the same as
// /api/sources says of the last 7 days.
var (
	missingDesc = prometheus.NewDesc("trailstream_collection_missing_files",
		"Files the digests of the last 7 days list that the ledger does not have, --completeness-grace after their digest arrived.", []string{"source"}, nil)
	expectedDesc = prometheus.NewDesc("trailstream_collection_expected_files",
		"Files the digests of the last 7 days list.", []string{"source"}, nil)
	lagDesc = prometheus.NewDesc("trailstream_collection_lag_seconds",
		"Now minus the time of the newest event read from the source.", []string{"source"}, nil)
	todayDesc = prometheus.NewDesc("trailstream_collection_files_today",
		"Files read from the source today (UTC).", []string{"source"}, nil)
	backfillDoneDesc = prometheus.NewDesc("trailstream_collection_backfill_files_done",
		"Files of the source's backfill handled.", []string{"source"}, nil)
	backfillTotalDesc = prometheus.NewDesc("trailstream_collection_backfill_files_total",
		"Files the source's backfill listed.", []string{"source"}, nil)
	enabledDesc = prometheus.NewDesc("trailstream_collection_source_enabled",
		"1 for an enabled source, 0 for a disabled one.", []string{"source"}, nil)
	upDesc = prometheus.NewDesc("trailstream_collection_scrape_ok",
		"1 when the collection's figures could be read from ClickHouse.", nil, nil)
)

// collection is a prometheus.Collector of the collection's figures.
type collection struct{ s *server }

// Describe implements prometheus.Collector.
func (c collection) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{missingDesc, expectedDesc, lagDesc, todayDesc, backfillDoneDesc, backfillTotalDesc, enabledDesc, upDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collection) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := c.s.now()
	q, err := parseSourcesRequest(url.Values{}, now, c.s.grace)
	var views []sourceView
	if err == nil {
		views, err = c.s.sourceViews(ctx, q)
	}
	if err != nil {
		slog.Warn("collection metrics not read", "err", err)
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, source string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, source)
	}
	for _, v := range views {
		gauge(missingDesc, float64(v.Completeness.Missing), v.ID)
		gauge(expectedDesc, float64(v.Completeness.Expected), v.ID)
		if v.LagSeconds != nil {
			gauge(lagDesc, float64(*v.LagSeconds), v.ID)
		}
		gauge(todayDesc, float64(v.Today.Files), v.ID)
		gauge(backfillDoneDesc, float64(v.Backfill.FilesDone), v.ID)
		gauge(backfillTotalDesc, float64(v.Backfill.FilesTotal), v.ID)
		enabled := 0.0
		if v.Enabled {
			enabled = 1
		}
		gauge(enabledDesc, enabled, v.ID)
	}
}

// metricsHandler serves /metrics: the collection's figures and the process's own.
func (s *server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collection{s}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
