// Package fetcher is the service that collects CloudTrail log files from S3. Every record of
// every file becomes, unchanged, one message on cloudtrail.raw, and every file a row of the
// ledger (table files), so that no file is read twice and every file can be shown read.
//
// Files come from sources (pkg/sources): the --sources file, or the one source of
// --s3-bucket and --sqs-queue; trails found by --discover-trails; sources added on the
// console. A fetcher finds a source's files three ways:
//
//   - notifications: it long-polls each source's SQS queue (queue.go), and deletes a
//     notification only after Kafka acknowledged every record of every file it announced
//     and the ledger has the files;
//   - backfill: a new source's stored files of the last --backfill-since are read, day
//     folder by day folder, with checkpoints to resume from (backfill.go);
//   - scanning: every --scan-interval each source is listed for files not read yet, the
//     interval doubling up to a day while nothing new is found (scan.go).
//
// Several fetchers share backfill and scanning without reading a file twice: they join the
// consumer group <prefix>-collect of the topic --topic-collect, and each day folder and
// each source belongs to one partition of it, hence to one fetcher at a time (collect.go).
// Digests prove the collection complete: every file they list must be in the ledger
// (complete.go).
package fetcher

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/collect"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/parallel"
	"github.com/trailstream/trailstream/pkg/registry"
	"github.com/trailstream/trailstream/pkg/sources"
)

// DefaultSource is the ID of the source of --s3-bucket and --sqs-queue.
const DefaultSource = "default"

// refreshEvery is how often a fetcher reads the sources again: enabling or disabling one
// on the console takes effect within it.
var refreshEvery = 15 * time.Second

type fetcher struct {
	cfg        config.Config
	log        *slog.Logger
	clients    *clients
	reader     *collect.Reader
	store      *sources.Store
	ledger     *ledger.Ledger
	kafka      kafkautil.Cluster
	raw        *kafkautil.Writer
	dead       *kafkautil.Writer
	detections *kafkautil.Writer           // collection-gap and collection-silent
	serde      *registry.Serde             // frames the detections, their schema registered at the first
	wait       func(context.Context) error // Options.Wait; nil: none

	mu       sync.Mutex
	reported map[string]string // detection ID: title, of the collection's detections produced
	sources  []sources.Source  // the latest list, enabled or not
	changed  chan struct{}     // closed and replaced when the list changes

	polls polls // the queues' last receives, for the readiness check
}

// metricGroups are the metrics the fetcher records.
var metricGroups = []*metrics.Group{metrics.Stage, metrics.Kafka, metrics.Fetcher, metrics.Detections}

// Run fetches until ctx is cancelled. Its metrics and health are served on
// --metrics-addr; it is ready when Kafka, ClickHouse and the sources' queues answer.
func Run(ctx context.Context, cfg config.Config) error { return RunWith(ctx, cfg, Options{}) }

// Options are what a fetcher run inside another process takes beyond its configuration.
type Options struct {
	// Wait, when set, is called before each receive from a queue and before each file of a
	// backfill, and holds the fetcher back until it returns (trailstream all: while its
	// embedded broker holds too much); an error (ctx's) stops the reading.
	Wait func(ctx context.Context) error
}

// RunWith is Run with options.
func RunWith(ctx context.Context, cfg config.Config, o Options) error {
	if err := checkFlags(cfg); err != nil {
		return err
	}
	exclude, err := collect.NewFilter(cfg.Exclude)
	if err != nil {
		return err
	}
	var fileSources []sources.Source
	if cfg.SourcesFile != "" {
		if fileSources, err = sources.Load(cfg.SourcesFile); err != nil {
			return err
		}
	}
	return metrics.Serve(ctx, cfg.MetricsAddr, "fetcher", metricGroups, func(ctx context.Context, p *metrics.Part) error {
		return run(ctx, cfg, o, p, exclude, fileSources)
	})
}

func run(ctx context.Context, cfg config.Config, o Options, p *metrics.Part, exclude *collect.Filter, fileSources []sources.Source) error {
	log := slog.Default().With("service", "fetcher")
	kc, err := kafkautil.NewCluster(cfg)
	if err != nil {
		return err
	}
	p.Check("kafka", kafkautil.ReadyCheck(kc))
	chCheck := chstore.NewReadyCheck(chstore.OptionsOf(cfg))
	defer chCheck.Close()
	p.Check("clickhouse", chCheck.Check)
	conn, err := chstore.ConnectMigrated(ctx, chstore.OptionsOf(cfg), cfg.ClickHouseDatabase, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer conn.Close()
	if err := kafkautil.EnsureTopics(ctx, kc, cfg.Partitions, cfg.TopicRaw, cfg.TopicDeadLetter, cfg.TopicDetections, cfg.TopicCollect); err != nil {
		return backoff.Stopped(ctx, err)
	}
	raw, err := kafkautil.OpenWriter(ctx, kc, cfg.TopicRaw, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer raw.Close()
	dead, err := kafkautil.OpenWriter(ctx, kc, cfg.TopicDeadLetter, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer dead.Close()
	detections, err := kafkautil.OpenWriter(ctx, kc, cfg.TopicDetections, log)
	if err != nil {
		return backoff.Stopped(ctx, err)
	}
	defer detections.Close()
	serde, err := registry.Open(cfg, log)
	if err != nil {
		return err
	}
	if serde != nil {
		p.Check("schema-registry", serde.Check)
	}
	f := &fetcher{
		cfg: cfg, kafka: kc, log: log, clients: newClients(cfg), store: sources.NewStore(conn, cfg.ClickHouseDatabase),
		ledger: ledger.New(conn, cfg.ClickHouseDatabase), raw: raw, dead: dead, detections: detections, changed: make(chan struct{}),
		serde: serde, wait: o.Wait,
	}
	f.reader = &collect.Reader{
		Raw: raw, Ledger: f.ledger, Exclude: exclude, Reread: cfg.Reread, Log: log,
		Dead: func(ctx context.Context, entries []deadletter.Entry) error {
			return deadletter.Write(ctx, dead, entries, log)
		},
	}
	if err := backoff.Retry(ctx, log, "store the configured sources", backoff.Start, func(ctx context.Context) error {
		return f.syncConfigured(ctx, fileSources)
	}); err != nil {
		return backoff.Stopped(ctx, err)
	}
	if err := f.refresh(ctx); err != nil {
		return backoff.Stopped(ctx, err)
	}
	log.Info("fetching", "sources", len(f.enabled()), "to", cfg.TopicRaw, "backfill_since", cfg.BackfillSince, "scan_interval", cfg.ScanInterval)
	p.Check("sqs", f.polls.check)
	p.Ready()
	err = parallel.Run(ctx, f.follow, f.queues, f.collect)
	if exclude != nil {
		log.Info("records excluded", "by_pattern", exclude.Counts())
	}
	return err
}

// checkFlags checks the settings Run depends on before it connects to anything.
func checkFlags(cfg config.Config) error {
	if _, err := visibilitySeconds(cfg.VisibilityTimeout); err != nil {
		return err
	}
	if _, err := waitSeconds(cfg.PollWait); err != nil {
		return err
	}
	if cfg.MaxReceiveCount < 1 {
		return fmt.Errorf("--max-receive-count %d: at least 1", cfg.MaxReceiveCount)
	}
	if cfg.ScanInterval < time.Second {
		return fmt.Errorf("--scan-interval %s: at least 1s", cfg.ScanInterval)
	}
	if cfg.Fetchers < 1 {
		return fmt.Errorf("--fetch-concurrency %d: at least 1", cfg.Fetchers)
	}
	return nil
}

// syncConfigured stores the sources of the --sources file, or without one the source of
// --s3-bucket and --sqs-queue. The file's enabled flags win over the console's at each start.
func (f *fetcher) syncConfigured(ctx context.Context, file []sources.Source) error {
	var flags []sources.Source
	if f.cfg.SourcesFile == "" {
		flags = []sources.Source{{ID: DefaultSource, Name: DefaultSource, Bucket: f.cfg.Bucket, Region: f.cfg.AWSRegion,
			Environment: f.cfg.Environment, Queue: f.cfg.Queue, Enabled: true}}
	}
	for i := range file {
		if file[i].Environment == "" {
			file[i].Environment = f.cfg.Environment
		}
		if file[i].Region == "" {
			file[i].Region = f.cfg.AWSRegion
		}
	}
	for _, s := range []struct {
		origin string
		list   []sources.Source
	}{{sources.OriginFlags, flags}, {sources.OriginFile, file}} {
		added, removed, err := f.store.Sync(ctx, s.origin, s.list, false)
		if err != nil {
			return err
		}
		if len(added)+len(removed) > 0 {
			f.log.Info("sources changed", "origin", s.origin, "added", added, "removed", removed)
		}
	}
	return nil
}

// follow reads the sources again every refreshEvery.
func (f *fetcher) follow(ctx context.Context) error {
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := f.refresh(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("sources not read again; keeping the last list", "err", err)
		}
	}
}

// refresh reads the sources and signals a change of the list.
func (f *fetcher) refresh(ctx context.Context) error {
	list, err := f.store.List(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(list, f.sources) {
		f.sources = list
		close(f.changed)
		f.changed = make(chan struct{})
	}
	return nil
}

// enabled returns the enabled sources, by ID, and a channel closed when they change.
func (f *fetcher) enabledWatch() ([]sources.Source, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sources.Source
	for _, s := range f.sources {
		if s.Enabled {
			out = append(out, s)
		}
	}
	return out, f.changed
}

func (f *fetcher) enabled() []sources.Source {
	list, _ := f.enabledWatch()
	return list
}

// sourceFor returns the enabled source that covers bucket/key (the longest prefix wins),
// else fallback.
func (f *fetcher) sourceFor(bucket, key string, fallback sources.Source) sources.Source {
	list := f.enabled()
	sort.Slice(list, func(i, j int) bool { return len(list[i].KeyPrefix()) > len(list[j].KeyPrefix()) })
	for _, s := range list {
		if s.Covers(bucket, key) {
			return s
		}
	}
	return fallback
}

// clients keeps the AWS clients of each region (and, with a role, each role) a source needs.
type clients struct {
	cfg config.Config
	mu  sync.Mutex
	by  map[string]*awsutil.Clients
}

func newClients(cfg config.Config) *clients {
	return &clients{cfg: cfg, by: map[string]*awsutil.Clients{}}
}

// of returns the clients for s.
func (c *clients) of(ctx context.Context, s sources.Source) (*awsutil.Clients, error) {
	region := s.Region
	if region == "" {
		region = c.cfg.AWSRegion
	}
	id := region + "\x00" + s.RoleARN + "\x00" + s.ExternalID
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.by[id]; ok {
		return cl, nil
	}
	cfg, err := awsutil.Load(ctx, awsutil.Access{Region: region, Endpoint: c.cfg.AWSEndpoint, RoleARN: s.RoleARN, ExternalID: s.ExternalID})
	if err != nil {
		return nil, err
	}
	cl := awsutil.NewClients(cfg, c.cfg.AWSEndpoint)
	c.by[id] = cl
	return cl, nil
}
