// Package metrics is what an operator sees of a running trailstream service: the Prometheus
// metrics the pipeline records (every name under trailstream_), and the HTTP endpoint of
// --metrics-addr that serves them beside /healthz and /readyz (endpoint.go).
//
// The metrics are defined here, in groups, and recorded where the work happens (pkg/stage,
// pkg/kafkautil, pkg/chstore, pkg/collect, pkg/deadletter and the services). A service
// registers the groups it records when it starts (Serve), so its endpoint shows its own
// families; trailstream all registers them all on one. Recording a metric of a group no
// service of the process registered costs the same and shows nowhere.
//
// Labels are bounded: stage, topic, group, partition, table, rule, severity, source, path,
// outcome, webhook, route and kinds of reasons and errors; never event IDs, keys or user
// names. Where the code works in batches, a batch is counted once, not each record.
package metrics

import (
	"errors"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace is the prefix of every trailstream metric.
const Namespace = "trailstream"

// Registry holds the registered groups and the Go runtime and process collectors (go_*,
// process_*). It is the one every endpoint of the process serves.
var Registry = prometheus.NewRegistry()

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Info describes one metric family, as the README's table lists it.
type Info struct {
	Name   string // with the namespace
	Type   string // counter, gauge or histogram
	Labels []string
	Help   string
}

// Group is a set of metric families a service registers together.
type Group struct {
	name       string
	collectors []prometheus.Collector
	infos      []Info
}

// Name returns the group's name.
func (g *Group) Name() string { return g.name }

// Infos returns the families of the group.
func (g *Group) Infos() []Info { return slices.Clone(g.infos) }

// The groups of metrics.
var (
	// Stage: records in, out and dead-lettered, batch sizes and durations, of every stage.
	Stage = &Group{name: "stage"}
	// Kafka: consumer lag, batches that failed, commits given up, messages produced.
	Kafka = &Group{name: "kafka"}
	// ClickHouse: rows inserted, insert durations and errors.
	ClickHouse = &Group{name: "clickhouse"}
	// Fetcher: SQS notifications, S3 objects, files and delivery lag.
	Fetcher = &Group{name: "fetcher"}
	// Detections: detections published, by rule and severity (detector, fetcher).
	Detections = &Group{name: "detections"}
	// Detector: the state the rules hold.
	Detector = &Group{name: "detector"}
	// Sink: end-to-end lag.
	Sink = &Group{name: "sink"}
	// Notifier: webhook deliveries.
	Notifier = &Group{name: "notifier"}
	// Console: request durations by route.
	Console = &Group{name: "console"}
)

// Groups returns every group.
func Groups() []*Group {
	return []*Group{Stage, Kafka, ClickHouse, Fetcher, Detections, Detector, Sink, Notifier, Console}
}

var (
	regMu      sync.Mutex
	registered = map[*Group]bool{}
)

// Register registers the groups with Registry; a group registered already is left as it is.
func Register(groups ...*Group) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, g := range groups {
		if registered[g] {
			continue
		}
		for _, c := range g.collectors {
			if err := Registry.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
				panic(err) // a programming error: two families of one name
			}
		}
		registered[g] = true
	}
}

// Registered returns the families of the groups registered in this process so far.
func Registered() []Info {
	regMu.Lock()
	defer regMu.Unlock()
	var out []Info
	for _, g := range Groups() {
		if registered[g] {
			out = append(out, g.infos...)
		}
	}
	return out
}

// All returns every family of every group.
func All() []Info {
	var out []Info
	for _, g := range Groups() {
		out = append(out, g.infos...)
	}
	return out
}

func (g *Group) add(c prometheus.Collector, info Info) {
	info.Name = Namespace + "_" + info.Name
	g.collectors = append(g.collectors, c)
	g.infos = append(g.infos, info)
}

func counter(g *Group, name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	g.add(v, Info{Name: name, Type: "counter", Labels: labels, Help: help})
	if len(labels) == 0 {
		v.WithLabelValues() // shown from the start, at 0
	}
	return v
}

func gauge(g *Group, name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	g.add(v, Info{Name: name, Type: "gauge", Labels: labels, Help: help})
	return v
}

func histogram(g *Group, name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	g.add(v, Info{Name: name, Type: "histogram", Labels: labels, Help: help})
	if len(labels) == 0 {
		v.WithLabelValues()
	}
	return v
}

// Buckets of the histograms.
var (
	// RecordBuckets count the records of a batch or file.
	RecordBuckets = []float64{1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000}
	// DurationBuckets time a batch, an insert, a file, a request: 1 ms to 1 minute.
	DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	// LagBuckets measure how old an event is when it arrives somewhere: 1 s to a week.
	LagBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400, 604800}
)

// Stage.
var (
	StageRecordsIn = counter(Stage, "stage_records_in_total",
		"Records a stage took in: messages of its input topic handled, or, at the fetcher, records read from files (produced, dead-lettered or excluded).", "stage")
	StageRecordsOut = counter(Stage, "stage_records_out_total",
		"Records a stage passed on: messages acknowledged by its output topic, rows inserted by the sink, deliveries made by the notifier.", "stage")
	DeadLetters = counter(Stage, "stage_dead_letters_total",
		"Input sent to the dead-letter topic, by stage and kind of reason (record, truncated, file, notification, rejected, normalize, decode, time_range, other).", "stage", "reason")
	StageBatchRecords = histogram(Stage, "stage_batch_records",
		"Records of each batch a stage handled (at the fetcher: of each file read).", RecordBuckets, "stage")
	StageBatchSeconds = histogram(Stage, "stage_batch_duration_seconds",
		"Time a stage took to handle a batch, its writes included, when it succeeded (at the fetcher: to read and produce a file).", DurationBuckets, "stage")
)

// Kafka.
var (
	ConsumerLag = gauge(Kafka, "kafka_consumer_lag_messages",
		"Messages of a partition after the last one the consumer handled, at the partition's high watermark when that batch was fetched; for the detector from the position processed, not from the commit it holds back for replay. Set after every batch.", "group", "topic", "partition")
	ConsumerBatchErrors = counter(Kafka, "kafka_consumer_batch_errors_total",
		"Failed attempts to handle a batch (a server away, a write refused for a passing reason); the batch is tried again.", "group", "topic")
	CommitsGivenUp = counter(Kafka, "kafka_consumer_commits_given_up_total",
		"Commits of a handled batch given up (a rebalance took the partition, the broker stayed away); its messages are read again.", "group", "topic")
	ProducedMessages = counter(Kafka, "kafka_produced_messages_total",
		"Messages Kafka acknowledged, by topic.", "topic")
	ProduceErrors = counter(Kafka, "kafka_produce_errors_total",
		"Failed attempts to produce, by topic; what failed for a passing reason is tried again.", "topic")
	RejectedMessages = counter(Kafka, "kafka_rejected_messages_total",
		"Messages no retry can deliver (too large for the topic, refused as invalid), by topic; their input goes to the dead-letter topic.", "topic")
)

// ClickHouse.
var (
	RowsInserted = counter(ClickHouse, "clickhouse_rows_inserted_total",
		"Rows inserted into ClickHouse, by table.", "table")
	InsertSeconds = histogram(ClickHouse, "clickhouse_insert_duration_seconds",
		"Time to send one batch insert to ClickHouse and have it acknowledged, by table.", DurationBuckets, "table")
	InsertErrors = counter(ClickHouse, "clickhouse_insert_errors_total",
		"Batch inserts that failed (prepared, filled or sent), by table; they are tried again.", "table")
)

// Fetcher.
var (
	SQSReceived = counter(Fetcher, "sqs_messages_received_total",
		"Notifications received from a source's SQS queue.", "source")
	SQSDeleted = counter(Fetcher, "sqs_messages_deleted_total",
		"Notifications deleted, once their files were produced and recorded (or reported).", "source")
	SQSReleased = counter(Fetcher, "sqs_messages_released_total",
		"Notifications made visible again at once, by a stopping fetcher.", "source")
	SQSInFlight = gauge(Fetcher, "sqs_messages_in_flight",
		"Notifications being handled now.", "source")
	SQSErrors = counter(Fetcher, "sqs_errors_total",
		"Failed SQS calls, by operation: receive, delete, release, extend (the visibility of a notification being handled), lookup (of the queue).", "source", "operation")
	S3Objects = counter(Fetcher, "s3_objects_read_total",
		"S3 objects read, by kind of file: log, insight, digest.", "kind")
	S3Bytes = counter(Fetcher, "s3_bytes_read_total",
		"Bytes of the S3 objects read, as stored (compressed), by kind of file.", "kind")
	S3Errors = counter(Fetcher, "s3_errors_total",
		"S3 reads that failed, by kind of error: not_found, access_denied, client (another 4xx), server (5xx or no answer), stalled (nothing sent for the stall timeout), connection (broken while reading).", "kind")
	Files = counter(Fetcher, "fetcher_files_total",
		"Files handled, by path (notification, scan, backfill, heal) and outcome (read, partial, skipped, failed, seen: in the ledger already).", "path", "outcome")
	RecordsExcluded = counter(Fetcher, "fetcher_records_excluded_total",
		"Records dropped by --exclude before Kafka.")
	DeliveryLag = histogram(Fetcher, "fetcher_delivery_lag_seconds",
		"Per file read, the time it was read minus the time of its newest event: how long CloudTrail and the fetcher took to bring it, by source and path.", LagBuckets, "source", "path")
)

// Detections and the detector.
var (
	DetectionsPublished = counter(Detections, "detections_total",
		"Detections published on the detections topic, by rule and severity; a detection completed again after a restart counts again.", "rule", "severity")
	StateEntries = gauge(Detector, "detector_state_entries",
		"State entries a rule holds (windows, counters, pending events), after the last batch.", "rule")
)

// Sink.
var (
	// EventLag is the histogram of now minus event time of the events the sink inserted.
	EventLag = newBatchHistogram(Sink, "sink_event_lag_seconds",
		"End-to-end lag: per event inserted, the time of the insert minus the event's time.", LagBuckets)
)

// Notifier.
var (
	Deliveries = counter(Notifier, "notifier_deliveries_total",
		"Detections handled per webhook, by outcome: delivered (2xx), refused (another answer, not tried again), already_sent (the ledger has it).", "webhook", "outcome")
	DeliveryRetries = counter(Notifier, "notifier_delivery_retries_total",
		"Webhook requests that failed for a passing reason (408, 429, 5xx, no answer) and are tried again.", "webhook")
	DeliverySeconds = histogram(Notifier, "notifier_delivery_duration_seconds",
		"Time from the first request of a detection to a webhook to its answer, retries included.", DurationBuckets, "webhook")
)

// Console.
var (
	ConsoleRequestSeconds = histogram(Console, "console_request_duration_seconds",
		"Time to answer a console request, by route (its pattern, as GET /api/events) and status code.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 120}, "route", "code")
)
