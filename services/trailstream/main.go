// Command trailstream is the one binary of the trailstream pipeline. Its first argument picks
// the target: a service (fetcher, normalizer, detector, sink, notifier, console), all of them
// in one process (all), or a tool (generate, import, migrate).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/services/all"
	"github.com/trailstream/trailstream/services/console"
	"github.com/trailstream/trailstream/services/detector"
	"github.com/trailstream/trailstream/services/fetcher"
	"github.com/trailstream/trailstream/services/importer"
	"github.com/trailstream/trailstream/services/migrate"
	"github.com/trailstream/trailstream/services/normalizer"
	"github.com/trailstream/trailstream/services/notifier"
	"github.com/trailstream/trailstream/services/sink"
)

// target is one thing the binary can be: setup registers its flags and returns what to run.
type target struct {
	name    string
	summary string
	setup   func(fs *flag.FlagSet, c *config.Config) func(context.Context) error
}

func service(groups []config.Group, run func(context.Context, config.Config) error) func(*flag.FlagSet, *config.Config) func(context.Context) error {
	return func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
		c.Register(fs, append([]config.Group{config.Common}, groups...)...)
		return func(ctx context.Context) error { return run(ctx, *c) }
	}
}

var targets = []target{
	{"fetcher", "collect CloudTrail files from S3 (notifications, backfill, scans), one Kafka message per record",
		service([]config.Group{config.AWS, config.Kafka, config.ClickHouse, config.Collect, config.Metrics, config.SchemaRegistry}, fetcher.Run)},
	{"normalizer", "turn raw records into normalized Avro events",
		service([]config.Group{config.Kafka, config.Batch, config.Enrich, config.ClickHouse, config.Metrics, config.SchemaRegistry}, normalizer.Run)},
	{"detector", "run windowed detection rules over the events",
		service([]config.Group{config.Kafka, config.Batch, config.Detect, config.ClickHouse, config.Metrics, config.SchemaRegistry}, detector.Run)},
	{"sink", "load events and detections into ClickHouse",
		service([]config.Group{config.Kafka, config.ClickHouse, config.Batch, config.Metrics, config.Retention, config.SchemaRegistry}, sink.Run)},
	{"notifier", "send the detections to webhooks (JSON or Slack), each detection once to each",
		service([]config.Group{config.Kafka, config.Batch, config.Alerts, config.Metrics, config.SchemaRegistry}, notifier.Run)},
	{"console", "serve the dashboards and the JSON API",
		service([]config.Group{config.ClickHouse, config.Console, config.Metrics}, console.Run)},
	{"all", "run every service in one process (embedded in-memory Kafka when no brokers are given)",
		func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
			c.KafkaBrokers = "" // empty means: start the embedded broker
			return service([]config.Group{config.AWS, config.Kafka, config.ClickHouse, config.Console, config.Batch, config.Enrich, config.Detect, config.Alerts, config.Collect, config.Metrics, config.Retention, config.SchemaRegistry}, all.Run)(fs, c)
		}},
	{"generate", "write realistic synthetic CloudTrail files to the bucket (and notify) or to a file",
		func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
			c.Register(fs, config.Common, config.AWS)
			var o generate.Options
			o.Register(fs)
			return func(ctx context.Context) error { return generate.Run(ctx, *c, o) }
		}},
	{"import", "read local CloudTrail files and folders (a downloaded AWSLogs/ tree) into the pipeline; --direct: straight into ClickHouse, without Kafka",
		func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
			c.Register(fs, config.Common, config.Kafka, config.ClickHouse, config.Batch, config.Enrich, config.Detect)
			var o importer.Options
			o.Register(fs, c)
			return func(ctx context.Context) error {
				_, err := importer.Run(ctx, *c, o, fs.Args(), os.Stdout, os.Stderr)
				return err
			}
		}},
	{"normalize", "normalize CloudTrail files or JSON lines (files or stdin) to JSON lines or Avro on stdout",
		func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
			c.Register(fs, config.Common, config.Enrich)
			format := fs.String("format", "json", "output: json (one event a line, keys = Avro field names) or avro (single-object encoded messages)")
			return func(ctx context.Context) error {
				return normalizer.Tool(ctx, *c, *format, fs.Args(), os.Stdin, os.Stdout, os.Stderr)
			}
		}},
	{"detect", "run every detection rule over CloudTrail files or JSON lines (files or stdin): one detection a line, JSON, on stdout",
		func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
			c.Register(fs, config.Common, config.Enrich, config.Detect)
			return func(ctx context.Context) error {
				return detector.Tool(ctx, *c, fs.Args(), os.Stdin, os.Stdout, os.Stderr)
			}
		}},
	{"rules list", "list the detection rules the rules config enables: id, severity, source, tags, description",
		func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
			c.Register(fs, config.Common, config.Detect)
			return func(context.Context) error { return rulesList(*c, os.Stdout) }
		}},
	{"rules test", "run rule test files (YAML; no path: the built-in rules' own cases): a PASS or FAIL line per case",
		func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
			c.Register(fs, config.Common)
			c.RegisterSigma(fs)
			rule := fs.String("rule", "", "only the cases of this rule")
			failuresOnly := fs.Bool("failures-only", false, "print only the failing cases (and the last line)")
			return func(ctx context.Context) error { return rulesTest(ctx, *c, fs.Args(), *rule, *failuresOnly, os.Stdout) }
		}},
	{"rules check", "load the Sigma rules of folders and files and report each that does not load, with file, line and reason; exit status 1 when a CloudTrail rule failed",
		func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
			c.Register(fs, config.Common, config.Detect) // --rules-config gives the placeholders
			return func(context.Context) error { return rulesCheck(*c, fs.Args(), os.Stdout) }
		}},
	{"users add", "add a console user, or set a user's password and role, in the users file: the password is asked for without echo (or read from stdin or --password-file)",
		func(fs *flag.FlagSet, c *config.Config) func(context.Context) error {
			c.Register(fs, config.Common)
			file := fs.String("console-users", "", "the console's users file to write (created, mode 0600, when missing)")
			role := fs.String("role", "viewer", "the user's role: viewer (dashboards, events, detections) or admin (also uploads, sources, tokens, the audit log)")
			passwordFile := fs.String("password-file", "", "read the password from this file's first line instead")
			return func(context.Context) error { return usersAdd(fs, file, role, passwordFile, os.Stdin, os.Stderr) }
		}},
	{"migrate", "create or upgrade the ClickHouse schema",
		service([]config.Group{config.ClickHouse}, migrate.Run)},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return run([]string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	if (args[0] == "rules" || args[0] == "users") && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		args = append([]string{args[0] + " " + args[1]}, args[2:]...) // rules list, rules test, users add
	}
	var t *target
	for i := range targets {
		if targets[i].name == args[0] {
			t = &targets[i]
		}
	}
	if t == nil {
		fmt.Fprintf(stderr, "trailstream: unknown target %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet(t.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config.Default()
	runTarget := t.setup(fs, &c)
	usage := config.Usage(fs, fmt.Sprintf("Usage: trailstream %s [options]\n\n%s%s.", t.name, strings.ToUpper(t.summary[:1]), t.summary[1:]))
	fs.Usage = func() {} // printed below, once, where it belongs
	if err := config.Parse(fs, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			usage()
			return 0
		}
		fmt.Fprintf(stderr, "trailstream %s: %v ('trailstream %s -h' lists the options)\n", t.name, err, t.name)
		return 2
	}
	log, err := c.Logger()
	if err != nil {
		fmt.Fprintf(stderr, "trailstream %s: %v\n", t.name, err)
		return 2
	}
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runTarget(ctx); err != nil {
		log.Error("stopped on error", "target", t.name, "err", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: trailstream <target> [options]\n\nTargets:")
	for _, t := range targets {
		fmt.Fprintf(w, "  %-12s %s\n", t.name, t.summary)
	}
	fmt.Fprintln(w, "\nEvery option is also read from TRAILSTREAM_<OPTION> (--kafka-brokers: TRAILSTREAM_KAFKA_BROKERS).")
	fmt.Fprintln(w, "'trailstream <target> -h' lists a target's options.")
}
