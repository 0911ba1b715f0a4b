// Package config holds trailstream's settings. Every setting is a command-line flag with an
// environment equivalent: --kafka-brokers is also TRAILSTREAM_KAFKA_BROKERS. A flag given on
// the command line wins over the environment, which wins over the default. Defaults point
// at the local stack (deploy/local/stack.sh).
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/retention"
)

// Config is the union of every target's settings; each target registers the groups it uses.
type Config struct {
	Environment string
	LogLevel    string

	AWSRegion   string
	AWSEndpoint string
	Queue       string
	Bucket      string
	// VisibilityTimeout is how long a received notification stays hidden from other
	// fetchers; the fetcher renews it while it reads the files.
	VisibilityTimeout time.Duration
	// PollWait is how long one receive waits for notifications (SQS long polling).
	PollWait time.Duration
	// MaxReceiveCount is how many times a notification that cannot be parsed is received
	// before it goes to the dead-letter topic and is deleted.
	MaxReceiveCount int

	KafkaBrokers string
	// KafkaCompression is the codec of the batches trailstream produces: none, gzip,
	// snappy, lz4 or zstd.
	KafkaCompression string
	TopicRaw         string
	TopicEvents      string
	TopicDetections  string
	TopicDeadLetter  string
	// TopicCollect is the topic whose partitions the fetchers share out the collection work
	// by (consumer group <prefix>-collect); it carries no messages.
	TopicCollect string
	GroupPrefix  string
	Partitions   int
	// KafkaTLS and KafkaSASL secure the connections to the brokers (see security.go).
	KafkaTLS  TLS
	KafkaSASL SASL

	ClickHouseAddr     string
	ClickHouseDatabase string
	ClickHouseUser     string
	ClickHousePassword string
	ClickHouseTLS      TLS
	// ClickHouseCluster is the cluster (remote_servers) the migrations create the tables on,
	// as replicated local tables behind Distributed ones; empty: a single server.
	ClickHouseCluster string

	ConsoleAddr string
	// ConsoleAuth is who may use the console and how it is served (see security.go).
	ConsoleAuth ConsoleAuth
	// HomeCountries are the comma-separated ISO country codes whose console sign-ins the
	// console does not count as from abroad.
	HomeCountries string

	GeoIPCityDB       string
	AdminUsers        string
	AdminUsersRefresh time.Duration

	BatchSize int
	BatchWait time.Duration
	// InsertRows is the most rows the sink sends in one ClickHouse insert, across batches.
	InsertRows int

	// AlertWebhooks are the URLs the notifier POSTs detections to, in AlertFormat (json or
	// slack), when their severity is at least AlertMinSeverity; TopicNotifications is its
	// compacted ledger of deliveries (see services/notifier).
	AlertWebhooks      []string
	AlertFormat        string
	AlertMinSeverity   string
	TopicNotifications string

	// ReplayLimit bounds how long the detector holds back its commits for the events its
	// rules still hold state from (see services/detector).
	ReplayLimit time.Duration
	// Collection (the fetcher): where files come from and how they are found.
	SourcesFile    string
	DiscoverTrails Auto // on by default against real AWS (no --aws-endpoint)
	// BackfillSince is how far back a new source's stored files are read; 0: all of them,
	// negative: none.
	BackfillSince time.Duration
	// ScanInterval is how often a source is listed for new files; it doubles up to a day
	// while scans find nothing.
	ScanInterval time.Duration
	// Fetchers is how many files one fetcher reads at once for backfill and scans.
	Fetchers int
	// Reread: files already in the ledger are read again.
	Reread bool
	// CompletenessGrace is how long after its digest arrived a listed file may be missing
	// before it is reported (collection-gap).
	CompletenessGrace time.Duration
	// Heal: missing files a digest lists are fetched when they appear.
	Heal bool
	// Exclude are event-source:event-name globs of records dropped before Kafka.
	Exclude []string

	// SigmaRules are folders (or files) of Sigma rules the detector runs beside the built-in
	// rules; SigmaStatuses the statuses loaded besides the default ones (every status but
	// deprecated and unsupported).
	SigmaRules    []string
	SigmaStatuses []string

	// RulesConfig is the rules config file (YAML, pkg/rules.Config): which rules run and
	// with what settings. Empty: every built-in rule with its defaults.
	RulesConfig string

	// MetricsAddr is where a service serves /metrics, /healthz and /readyz (pkg/metrics);
	// empty: nowhere.
	MetricsAddr string

	// Retention is how long the sink keeps events and detections in ClickHouse (see
	// pkg/retention); 0: for ever.
	Retention retention.Period

	// SchemaRegistryURL is the Confluent-compatible schema registry events and detections
	// are registered with and written for (pkg/registry); empty: none, messages carry the
	// single-object header. SchemaRegistryUser and SchemaRegistryPassword are its basic
	// authentication, when it asks for one.
	SchemaRegistryURL      string
	SchemaRegistryUser     string
	SchemaRegistryPassword string
}

// Group names a set of related settings.
type Group int

// The groups of settings a target can register.
const (
	Common Group = iota
	AWS
	Kafka
	ClickHouse
	Console
	Batch
	Enrich
	Detect
	Alerts
	Collect
	Metrics
	Retention
	SchemaRegistry
)

// Default returns the settings that point at the local stack.
func Default() Config {
	return Config{
		Environment:        "default",
		LogLevel:           "info",
		AWSRegion:          "us-east-1",
		AWSEndpoint:        "http://127.0.0.1:4566",
		Queue:              "trailstream-cloudtrail",
		Bucket:             "trailstream-cloudtrail",
		VisibilityTimeout:  time.Minute,
		PollWait:           10 * time.Second,
		MaxReceiveCount:    5,
		KafkaBrokers:       "127.0.0.1:9092",
		KafkaCompression:   "snappy",
		TopicRaw:           "cloudtrail.raw",
		TopicEvents:        "cloudtrail.events",
		TopicDetections:    "cloudtrail.detections",
		TopicDeadLetter:    "cloudtrail.deadletter",
		TopicCollect:       "cloudtrail.collect",
		TopicNotifications: "cloudtrail.notifications",
		AlertFormat:        "json",
		AlertMinSeverity:   "low",
		GroupPrefix:        "trailstream",
		Partitions:         6,
		ClickHouseAddr:     "127.0.0.1:9000",
		ClickHouseDatabase: "trailstream",
		ClickHouseUser:     "default",
		ConsoleAddr:        "127.0.0.1:8080",
		ConsoleAuth:        defaultConsoleAuth(),
		HomeCountries:      "US",
		AdminUsersRefresh:  time.Minute,
		BatchSize:          5000,
		InsertRows:         50000,
		BatchWait:          500 * time.Millisecond,
		ReplayLimit:        2 * time.Hour,
		BackfillSince:      30 * 24 * time.Hour,
		ScanInterval:       5 * time.Minute,
		Fetchers:           8,
		CompletenessGrace:  30 * time.Minute,
		MetricsAddr:        "127.0.0.1:9100",
	}
}

// Register defines the flags of the given groups on fs, with c's current values as defaults.
func (c *Config) Register(fs *flag.FlagSet, groups ...Group) {
	for _, g := range groups {
		switch g {
		case Common:
			fs.StringVar(&c.Environment, "environment", c.Environment, "environment label stamped on every record read (prod, dev, ...)")
			fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
		case AWS:
			fs.StringVar(&c.AWSRegion, "aws-region", c.AWSRegion, "AWS region of the queue and bucket")
			fs.StringVar(&c.AWSEndpoint, "aws-endpoint", c.AWSEndpoint, "base URL of an S3/SQS emulator (path-style S3); empty for real AWS")
			fs.StringVar(&c.Queue, "sqs-queue", c.Queue, "SQS queue name or URL that receives the CloudTrail notifications")
			fs.DurationVar(&c.VisibilityTimeout, "sqs-visibility-timeout", c.VisibilityTimeout, "how long a notification being read stays invisible to other fetchers, renewed every third of it until its files are read; whole seconds from 1s to 12h")
			fs.DurationVar(&c.PollWait, "sqs-wait-time", c.PollWait, "how long one receive waits for notifications (long polling); a stopping fetcher lets its receive end, so this bounds its shutdown; whole seconds from 0s to 20s")
			fs.IntVar(&c.MaxReceiveCount, "max-receive-count", c.MaxReceiveCount, "a notification that cannot be parsed goes to the dead-letter topic, and is deleted, once SQS has handed it out this often (its ApproximateReceiveCount)")
			fs.StringVar(&c.Bucket, "s3-bucket", c.Bucket, "S3 bucket the CloudTrail logs are written to (used by generate)")
		case Kafka:
			fs.StringVar(&c.KafkaBrokers, "kafka-brokers", c.KafkaBrokers, "comma-separated Kafka bootstrap brokers")
			fs.StringVar(&c.KafkaCompression, "kafka-compression", c.KafkaCompression, "codec of the message batches produced: none, gzip, snappy, lz4 or zstd (trailstream all's embedded broker always gets lz4, the fastest there)")
			fs.StringVar(&c.TopicRaw, "topic-raw", c.TopicRaw, "topic of raw CloudTrail records")
			fs.StringVar(&c.TopicEvents, "topic-events", c.TopicEvents, "topic of normalized events (Avro)")
			fs.StringVar(&c.TopicDetections, "topic-detections", c.TopicDetections, "topic of detections (Avro)")
			fs.StringVar(&c.TopicDeadLetter, "topic-deadletter", c.TopicDeadLetter, "topic of input that could not be processed, with the reason")
			fs.StringVar(&c.TopicCollect, "topic-collect", c.TopicCollect, "topic whose partitions the fetchers share backfill and scanning by (consumer group <prefix>-collect); it carries no messages")
			fs.StringVar(&c.TopicNotifications, "topic-notifications", c.TopicNotifications, "compacted topic of the notifier's ledger: which detection went to which webhook")
			fs.StringVar(&c.GroupPrefix, "kafka-group-prefix", c.GroupPrefix, "prefix of the consumer group IDs (<prefix>-normalizer, ...)")
			fs.IntVar(&c.Partitions, "kafka-partitions", c.Partitions, "partitions of the topics trailstream creates when they do not exist")
			c.KafkaTLS.register(fs, "kafka", "the Kafka brokers")
			c.KafkaSASL.register(fs)
		case ClickHouse:
			fs.StringVar(&c.ClickHouseAddr, "clickhouse-addr", c.ClickHouseAddr, "ClickHouse native-protocol address host:port")
			fs.StringVar(&c.ClickHouseDatabase, "clickhouse-database", c.ClickHouseDatabase, "ClickHouse database")
			fs.StringVar(&c.ClickHouseUser, "clickhouse-user", c.ClickHouseUser, "ClickHouse user")
			secretVar(fs, &c.ClickHousePassword, "clickhouse-password", "ClickHouse password")
			c.ClickHouseTLS.register(fs, "clickhouse", "ClickHouse (its secure native port, 9440 by default)")
			fs.StringVar(&c.ClickHouseCluster, "clickhouse-cluster", c.ClickHouseCluster, "ClickHouse cluster (remote_servers) to create the tables ON CLUSTER: Replicated* tables <table>_local behind Distributed tables of the public names; empty: one server")
		case Console:
			fs.StringVar(&c.ConsoleAddr, "console-addr", c.ConsoleAddr, "address the console's HTTP server listens on")
			c.ConsoleAuth.register(fs)
			c.registerHomeCountries(fs)
			c.registerCompletenessGrace(fs)
		case Collect:
			fs.StringVar(&c.SourcesFile, "sources", c.SourcesFile, "YAML file of the sources to collect (pkg/sources): bucket, prefix, region, role, environment, queue; empty: one source, of the bucket and queue flags")
			fs.Var(&c.DiscoverTrails, "discover-trails", "every 5 minutes, find the account's trails in every enabled region and keep a source per trail: true, false, or auto (on against real AWS, off with --aws-endpoint)")
			fs.DurationVar(&c.BackfillSince, "backfill-since", c.BackfillSince, "a new source first reads the files stored in this span before now; 0: all of them; negative: none")
			fs.DurationVar(&c.ScanInterval, "scan-interval", c.ScanInterval, "how often each source is listed for files not yet read; doubles up to 24h while nothing new is found")
			fs.IntVar(&c.Fetchers, "fetch-concurrency", c.Fetchers, "files one fetcher reads at once for backfill and scanning")
			fs.BoolVar(&c.Reread, "reread", c.Reread, "read files again even when the ledger (table files) has them")
			c.registerCompletenessGrace(fs)
			fs.BoolVar(&c.Heal, "heal", c.Heal, "fetch the files a digest lists but that were never read, once they can be read")
			fs.Var(&listFlag{&c.Exclude, false}, "exclude", "drop records whose event source and name match this glob before Kafka, e.g. kms:Decrypt, s3:Get*, *:Describe* (the source without .amazonaws.com); repeat it or give a comma-separated list")
		case Enrich:
			fs.StringVar(&c.GeoIPCityDB, "geoip-city-db", c.GeoIPCityDB, "MaxMind-format city database (GeoLite2-City.mmdb); empty: the embedded country data only")
			fs.StringVar(&c.AdminUsers, "admin-users", c.AdminUsers, "CSV file of administrative user names, one a line; empty: the list uploaded to the console (ClickHouse), when there is one")
			fs.DurationVar(&c.AdminUsersRefresh, "admin-users-refresh", c.AdminUsersRefresh, "how often the uploaded admin-users list is reloaded from ClickHouse")
		case Batch:
			fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "most messages handled in one batch")
			fs.IntVar(&c.InsertRows, "insert-rows", c.InsertRows, "most rows the sink sends in one ClickHouse insert: while batches arrive full it keeps one insert open across them, for up to ten times the batch wait, so the server writes one part instead of one a batch; a batch that is not full ends the insert at once; at most the batch size: an insert a batch")
			fs.DurationVar(&c.BatchWait, "batch-wait", c.BatchWait, "longest wait to fill a batch before it is handled anyway")
		case Alerts:
			fs.Var(&listFlag{&c.AlertWebhooks, false}, "alert-webhook", "URL the notifier POSTs each detection to; repeat it for several (the environment variable takes a comma-separated list)")
			fs.StringVar(&c.AlertFormat, "alert-format", c.AlertFormat, "body of the webhook requests: json (the detection, keys = Avro field names) or slack ({\"text\": summary})")
			fs.StringVar(&c.AlertMinSeverity, "alert-min-severity", c.AlertMinSeverity, "lowest severity notified: info, low, medium, high or critical")
		case Detect:
			fs.DurationVar(&c.ReplayLimit, "detector-replay-limit", c.ReplayLimit, "a restarted detector reads again the events its rules held state from, if it read them within this long; 0: commit past them")
			c.registerHomeCountries(fs)
			fs.StringVar(&c.RulesConfig, "rules-config", c.RulesConfig, "YAML file enabling and disabling rules, setting their severity, parameters and allow-lists (trailstream rules list shows the rules); empty: every rule with its defaults")
			c.RegisterSigma(fs)
		case Metrics:
			fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "address the service serves /metrics (Prometheus), /healthz and /readyz on; trailstream all serves every part's there; empty: no endpoint")
		case SchemaRegistry:
			fs.StringVar(&c.SchemaRegistryURL, "schema-registry-url", c.SchemaRegistryURL, "base URL of a Confluent-compatible schema registry: the schemas of events and detections are registered as <topic>-value (BACKWARD) and their messages written in its wire format (0x00, schema ID, Avro datum); trailstream reads both framings either way; empty: no registry, single-object encoding")
			fs.StringVar(&c.SchemaRegistryUser, "schema-registry-user", c.SchemaRegistryUser, "user of the schema registry's basic authentication; empty: none")
			secretVar(fs, &c.SchemaRegistryPassword, "schema-registry-password", "password of the schema registry's basic authentication")
		case Retention:
			fs.Var(&c.Retention, "retention", "how long events and detections are kept in ClickHouse, such as 400d, 13w or 8760h (whole days); older months are dropped at start and hourly (a TTL where the server has one); 0 or empty: for ever")
		}
	}
}

// listFlag is a repeatable flag of a list: each value, itself split at commas, adds to the
// list; the first value given replaces the default.
type listFlag struct {
	list *[]string
	set  bool
}

func (f *listFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f *listFlag) Set(v string) error {
	if !f.set {
		*f.list, f.set = nil, true
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*f.list = append(*f.list, s)
		}
	}
	return nil
}

// registerHomeCountries defines --home-countries, which the console and the detector share,
// once.
func (c *Config) registerHomeCountries(fs *flag.FlagSet) {
	if fs.Lookup("home-countries") == nil {
		fs.StringVar(&c.HomeCountries, "home-countries", c.HomeCountries, "comma-separated ISO 3166-1 alpha-2 codes of the home countries: console sign-ins from elsewhere are from abroad (listed by the console, detected by console-login-outside-home-countries)")
	}
}

// RegisterSigma defines --sigma-rules and --sigma-status, once.
func (c *Config) RegisterSigma(fs *flag.FlagSet) {
	if fs.Lookup("sigma-rules") != nil {
		return
	}
	fs.Var(&listFlag{&c.SigmaRules, false}, "sigma-rules", "folder (walked for .yml and .yaml) or file of Sigma rules to run beside the built-in rules; repeat it for several (the environment variable takes a comma-separated list); the detector reads them again on SIGHUP")
	fs.Var(&listFlag{&c.SigmaStatuses, false}, "sigma-status", "Sigma rule statuses to load besides stable, test, experimental and those without one: deprecated, unsupported (comma-separated)")
}

// registerCompletenessGrace defines --completeness-grace, which the console and the fetcher
// share, once.
func (c *Config) registerCompletenessGrace(fs *flag.FlagSet) {
	if fs.Lookup("completeness-grace") == nil {
		fs.DurationVar(&c.CompletenessGrace, "completeness-grace", c.CompletenessGrace, "a file a digest lists that was not read this long after the digest arrived is missing: reported on the console and as a collection-gap detection")
	}
}

// Auto is a boolean flag whose default depends on other settings until it is set.
type Auto struct {
	Value, Given bool
}

// String implements flag.Value.
func (a *Auto) String() string {
	if a == nil || !a.Given {
		return "auto"
	}
	return fmt.Sprint(a.Value)
}

// Set implements flag.Value.
func (a *Auto) Set(s string) error {
	switch strings.ToLower(s) {
	case "auto":
		*a = Auto{}
	case "true", "1", "yes", "on":
		*a = Auto{Value: true, Given: true}
	case "false", "0", "no", "off":
		*a = Auto{Given: true}
	default:
		return fmt.Errorf("%q: want true, false or auto", s)
	}
	return nil
}

// IsBoolFlag lets --discover-trails alone mean true.
func (a *Auto) IsBoolFlag() bool { return true }

// Or returns the value when set, else def.
func (a Auto) Or(def bool) bool {
	if a.Given {
		return a.Value
	}
	return def
}

// EnvName is the environment variable that sets the flag name.
func EnvName(name string) string {
	return "TRAILSTREAM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args into fs, then fills every flag not given on the command line from its
// environment variable.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	errs := []error{checkSecretPairs(fs, set)}
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || set[secretTwin(f)] {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// Usage returns a flag.FlagSet usage function that lists each flag with its variable.
func Usage(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "%s\n\nOptions (each also settable by its environment variable):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(w, "  --%s  [%s]\n        %s%s\n", f.Name, EnvName(f.Name), f.Usage, def)
		})
	}
}

// Brokers returns the Kafka bootstrap brokers as a list; empty when none are configured.
func (c *Config) Brokers() []string {
	var out []string
	for _, b := range strings.Split(c.KafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Logger returns a JSON structured logger at the configured level.
func (c *Config) Logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", c.LogLevel, err)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), nil
}

// countryCode is an ISO 3166-1 alpha-2 code.
var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

// HomeCountryList returns --home-countries as upper-case ISO codes, each once.
func (c *Config) HomeCountryList() ([]string, error) {
	var out []string
	for _, code := range strings.Split(c.HomeCountries, ",") {
		code = strings.ToUpper(strings.TrimSpace(code))
		if code == "" {
			continue
		}
		if !countryCode.MatchString(code) {
			return nil, fmt.Errorf("--home-countries: country %q: want a two-letter ISO 3166-1 code like US", code)
		}
		if !slices.Contains(out, code) {
			out = append(out, code)
		}
	}
	return out, nil
}
