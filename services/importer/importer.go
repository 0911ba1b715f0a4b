// Package importer is `trailstream import PATH ...`: it reads CloudTrail files from local
// disk — files and folders, walked recursively, such as an AWSLogs/ tree downloaded with
// `aws s3 sync` — with the reader the fetcher uses for S3 (pkg/collect), so that log and
// Insights files become records, digests become their listings, and every file becomes a
// row of the ledger of files (table files) with path "import".
//
// Without --direct the records go to the raw topic on Kafka and the rest of the pipeline
// (normalizer, detector, sink) does what it does with the fetcher's; dead letters go to the
// dead-letter topic. With --direct there is no Kafka at all: the records are normalized in
// process by the normalizer service's code, the detection rules run over them in process,
// and events and detections are inserted into ClickHouse by the sink's code; dead letters
// are written as JSON lines to --dead-letters (stderr by default).
//
// Keys. The ledger knows a file by bucket and key. Every imported file is recorded under
// the bucket Bucket ("local"), and its key is its path from its last AWSLogs/ folder on
// (AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>): what comes before AWSLogs/ —
// the folder the tree was downloaded to, and a trail's key prefix or a Control Tower
// organization folder — is dropped. So the key of a file is the same wherever the tree was
// downloaded to, and importing it again, from there or from a copy, reads nothing twice.
// A file outside any AWSLogs/ folder is keyed by its absolute path; the key decides what a
// file is (pkg/layout), so such a file, like any other that is not a CloudTrail log, Insights
// or digest file, is recorded as skipped with the reason.
//
// Digests list the files of the hour by their S3 bucket and key; the importer records
// their listings under the same bucket and keys as the files (Bucket, and the key from
// AWSLogs/ on), so that the completeness check (ledger.Missing) finds the imported files a
// digest lists, and names those that were never imported.
package importer

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/collect"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/layout"
	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/sources"
)

const (
	// Bucket is the bucket every imported file is recorded under in the ledger, and named
	// by in the records' s3_bucket header and in dead letters.
	Bucket = "local"
	// SourceID is the source of imported files: in the ledger and the records' headers.
	SourceID = "import"
)

// Options are the import's own settings.
type Options struct {
	// Direct: no Kafka; normalize, detect and insert into ClickHouse in process.
	Direct bool
	// DeadLetters is the file dead letters are appended to with Direct, one JSON object a
	// line; "" or "-": stderr.
	DeadLetters string
	// Detect runs the detection rules in process with Direct.
	Detect bool
	// Concurrency is how many files are read at once.
	Concurrency int
}

// ledgerWait is how long a ledger row waits for others to be stored with. Every file waits
// for its row, and files come in at a high rate in an import: a short wait still makes
// batches of many rows.
const ledgerWait = 50 * time.Millisecond

// DefaultConcurrency is how many files are read at once unless --concurrency says. A file
// waits for its records' batch to be stored and then for its ledger row (up to a batch
// wait each), so many small files are read at once to keep the batches full.
const DefaultConcurrency = 64

// Register defines the import's flags on fs: its own into o, and --reread and --exclude
// into c (the collection settings the import shares with the fetcher).
func (o *Options) Register(fs *flag.FlagSet, c *config.Config) {
	o.Detect, o.Concurrency = true, DefaultConcurrency
	fs.BoolVar(&o.Direct, "direct", o.Direct, "no Kafka: normalize the records, run the detection rules and insert events and detections into ClickHouse in this process")
	fs.StringVar(&o.DeadLetters, "dead-letters", o.DeadLetters, "with --direct: append dead letters (records that cannot be read or normalized) to this file, one JSON object a line; empty or -: stderr")
	fs.BoolVar(&o.Detect, "detect", o.Detect, "with --direct: run the detection rules over the imported events and insert their detections")
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "files read at once")
	fs.BoolVar(&c.Reread, "reread", c.Reread, "read files again even when the ledger (table files) has them")
	fs.Func("exclude", "drop records whose event source and name match this glob, e.g. kms:Decrypt, s3:Get*, *:Describe* (the source without .amazonaws.com); repeat it or give a comma-separated list", func(v string) error {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.Exclude = append(c.Exclude, s)
			}
		}
		return nil
	})
}

// Summary is what an import did.
type Summary struct {
	Files       int   // found under the paths
	Read        int   // read (outcome read or partial), digests included
	Digests     int   // of Read
	Partial     int   // of Read: some records went to the dead letters
	Skipped     int   // not CloudTrail log, Insights or digest files (ledger outcome skipped)
	Seen        int   // in the ledger already, not read again
	Failed      int   // could not be read (ledger outcome failed, or not recorded at all)
	Records     int   // produced: to the raw topic, or normalized and inserted with Direct
	DeadLetters int   // records that went to the dead letters
	Excluded    int   // records dropped by --exclude
	Detections  int   // with Direct and Detect: inserted
	Bytes       int64 // of the files read, as stored
	// Missing are the files the imported digests list that were never imported (up to 1000).
	Missing int
	Took    time.Duration
}

// line is the summary for a person.
func (s Summary) line() string {
	secs := max(s.Took.Seconds(), 1e-9)
	mb := float64(s.Bytes) / 1e6
	out := fmt.Sprintf("import: %d files: %d read (%d digests, %d partial), %d skipped, %d seen before, %d failed; %d records, %d dead letters",
		s.Files, s.Read, s.Digests, s.Partial, s.Skipped, s.Seen, s.Failed, s.Records, s.DeadLetters)
	if s.Excluded > 0 {
		out += fmt.Sprintf(", %d excluded", s.Excluded)
	}
	if s.Detections > 0 {
		out += fmt.Sprintf(", %d detections", s.Detections)
	}
	if s.Missing > 0 {
		out += fmt.Sprintf("; %d files the digests list not imported", s.Missing)
	}
	return out + fmt.Sprintf("; %.1f MB in %s: %.0f records/s, %.1f MB/s",
		mb, s.Took.Round(time.Millisecond), float64(s.Records)/secs, mb/secs)
}

func (s Summary) attrs() []any {
	return []any{"files", s.Files, "read", s.Read, "digests", s.Digests, "partial", s.Partial, "skipped", s.Skipped,
		"seen_before", s.Seen, "failed", s.Failed, "records", s.Records, "dead_letters", s.DeadLetters,
		"excluded", s.Excluded, "detections", s.Detections, "missing", s.Missing, "mb", float64(s.Bytes) / 1e6,
		"took", s.Took.Round(time.Millisecond).String(),
		"records_per_s", float64(s.Records) / max(s.Took.Seconds(), 1e-9),
		"mb_per_s", float64(s.Bytes) / 1e6 / max(s.Took.Seconds(), 1e-9)}
}

// Run imports the files and folders of paths into the pipeline (or, with o.Direct, into
// ClickHouse), showing its progress on stderr, and writes the summary line to stdout. It
// returns an error when a file could not be read; files already in the ledger are not
// read again unless cfg.Reread.
func Run(ctx context.Context, cfg config.Config, o Options, paths []string, stdout, stderr io.Writer) (Summary, error) {
	start := time.Now()
	var sum Summary
	if err := o.check(paths); err != nil {
		return sum, err
	}
	exclude, err := collect.NewFilter(cfg.Exclude)
	if err != nil {
		return sum, err
	}
	files, total, dups, err := walk(paths)
	if err != nil {
		return sum, err
	}
	sum.Files = len(files)

	out := newConsole(stderr)
	log, err := logger(cfg, out)
	if err != nil {
		return sum, err
	}
	log.Info("importing", "paths", paths, "files", len(files), "mb", float64(total)/1e6, "direct", o.Direct,
		"clickhouse", cfg.ClickHouseAddr, "database", cfg.ClickHouseDatabase)
	if dups > 0 {
		log.Warn("files found more than once by key (the same file given twice, or copies of a tree): each key is read once", "files", dups)
	}
	conn, err := chstore.ConnectMigrated(ctx, chstore.OptionsOf(cfg), cfg.ClickHouseDatabase, log)
	if err != nil {
		return sum, backoff.Stopped(ctx, err)
	}
	defer conn.Close()

	im := &importer{
		src: sources.Source{ID: SourceID, Name: SourceID, Origin: SourceID, Bucket: Bucket, Environment: cfg.Environment, Enabled: true},
		log: log,
	}
	lg := ledger.New(conn, cfg.ClickHouseDatabase)
	lg.Wait = ledgerWait
	im.reader = &collect.Reader{Ledger: lg, Exclude: exclude, Reread: cfg.Reread, Log: log, Stage: "import"}
	var dl *direct
	if o.Direct {
		if dl, err = newDirect(ctx, cfg, o, conn, out, log); err != nil {
			return sum, err
		}
		defer dl.close()
		im.direct = dl
		im.reader.Raw, im.reader.Dead = dl, dl.writeDead
	} else {
		closeK, err := im.kafka(ctx, cfg, log)
		if err != nil {
			return sum, err
		}
		defer closeK()
	}

	todo, err := im.unseen(ctx, files, cfg.Reread)
	if err != nil {
		return sum, err
	}
	im.sum.Seen = len(files) - len(todo)
	var seenBytes int64
	for _, f := range files {
		seenBytes += f.size
	}
	for _, f := range todo {
		seenBytes -= f.size
	}
	im.meter = newMeter(out, log, len(files), total)
	im.meter.skip(im.sum.Seen, seenBytes)
	n := o.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	im.run(ctx, todo, n)
	im.meter.finish()

	sum = im.summary(sum)
	if dl != nil {
		sum.Detections = int(dl.detections.Load())
	}
	sum.Took = time.Since(start)
	// The files the imported digests list that no import brought (this one or an earlier).
	if missing, err := lg.Missing(ctx, SourceID, time.Time{}, -time.Hour, 1000); err != nil {
		log.Warn("missing files not looked up", "err", err)
	} else {
		sum.Missing = len(missing)
		for _, m := range missing[:min(len(missing), 10)] {
			log.Warn("a file an imported digest lists was not imported", "key", m.Key, "digest", m.DigestKey)
		}
	}
	fmt.Fprintln(stdout, sum.line())
	log.Info("import done", sum.attrs()...)
	switch {
	case ctx.Err() != nil:
		return sum, fmt.Errorf("import stopped before its end (%d of %d files handled): %w", sum.Read+sum.Skipped+sum.Seen+sum.Failed, sum.Files, ctx.Err())
	case sum.Failed > 0:
		return sum, fmt.Errorf("%d of %d files could not be read (the log says why)", sum.Failed, sum.Files)
	}
	return sum, nil
}

// check validates the options and paths.
func (o Options) check(paths []string) error {
	if len(paths) == 0 {
		return errors.New("no PATH: give the CloudTrail files or folders (an AWSLogs/ tree) to import")
	}
	for _, p := range paths {
		if strings.HasPrefix(p, "-") {
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("%q is not a file or folder; the options go before the paths", p)
			}
		}
	}
	if !o.Direct && o.DeadLetters != "" {
		return errors.New("--dead-letters is for --direct; without it dead letters go to the dead-letter topic")
	}
	return nil
}

// logger returns a JSON logger at cfg's level writing to w.
func logger(cfg config.Config, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", cfg.LogLevel, err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})).With("service", "import"), nil
}

// importer is one import.
type importer struct {
	src    sources.Source
	reader *collect.Reader
	log    *slog.Logger
	meter  *meter
	direct *direct // with --direct

	mu  sync.Mutex
	sum Summary // of the files handled so far
}

// kafka points the reader at the raw and dead-letter topics; close closes the writers.
func (im *importer) kafka(ctx context.Context, cfg config.Config, log *slog.Logger) (close func(), err error) {
	kc, err := kafkautil.NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	if len(kc.Brokers) == 0 {
		return nil, errors.New("no --kafka-kc: give them, or import with --direct (no Kafka)")
	}
	if err := kafkautil.EnsureTopics(ctx, kc, cfg.Partitions, cfg.TopicRaw, cfg.TopicDeadLetter); err != nil {
		return nil, backoff.Stopped(ctx, err)
	}
	raw, err := kafkautil.OpenWriter(ctx, kc, cfg.TopicRaw, log)
	if err != nil {
		return nil, backoff.Stopped(ctx, err)
	}
	dead, err := kafkautil.OpenWriter(ctx, kc, cfg.TopicDeadLetter, log)
	if err != nil {
		raw.Close()
		return nil, backoff.Stopped(ctx, err)
	}
	im.reader.Raw = raw
	im.reader.Dead = func(ctx context.Context, entries []deadletter.Entry) error {
		return deadletter.Write(ctx, dead, entries, log)
	}
	return func() { raw.Close(); dead.Close() }, nil
}

// seenChunk is how many keys one ledger lookup asks for.
const seenChunk = 1000

// unseen returns the files the ledger does not have (all of them with reread), in the order
// they are to be read: by the time in their names (CloudTrail names a file by the end of
// the span its records cover), so that each account's events reach the rules about in time
// order, then by key. The ledger is asked in key order, a range of keys at a time.
func (im *importer) unseen(ctx context.Context, files []file, reread bool) ([]file, error) {
	todo := slices.Clone(files)
	if !reread {
		slices.SortFunc(todo, func(a, b file) int { return strings.Compare(a.key, b.key) })
		keep := todo[:0]
		for chunk := range slices.Chunk(slices.Clone(todo), seenChunk) {
			keys := make([]string, len(chunk))
			for i, f := range chunk {
				keys[i] = f.key
			}
			var seen map[string]bool
			err := backoff.Retry(ctx, im.log, "look the files up in the ledger", backoff.Default, func(ctx context.Context) error {
				var err error
				seen, err = im.reader.Ledger.Seen(ctx, Bucket, keys)
				return err
			})
			if err != nil {
				return nil, err
			}
			for _, f := range chunk {
				if !seen[f.key] {
					keep = append(keep, f)
				}
			}
		}
		todo = keep
	}
	for i := range todo {
		todo[i].at, _ = layout.FileTime(todo[i].key)
	}
	slices.SortStableFunc(todo, func(a, b file) int {
		if a.at.IsZero() != b.at.IsZero() { // files without a time last
			return cmp.Compare(btoi(a.at.IsZero()), btoi(b.at.IsZero()))
		}
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return todo, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// run reads files, n at a time, until they are all read or ctx ends.
func (im *importer) run(ctx context.Context, files []file, n int) {
	work := make(chan file)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for f := range work {
				im.one(ctx, f)
			}
		})
	}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		work <- f
	}
	close(work)
	wg.Wait()
}

// tries is how often a file that failed for a passing reason (ClickHouse or Kafka away) is
// tried before it is counted as failed.
const tries = 5

// one reads one file, trying again after passing failures, and counts the outcome.
func (im *importer) one(ctx context.Context, f file) {
	o := collect.Object{Source: im.src, Bucket: Bucket, Key: f.key, Path: ledger.PathImport, Checked: true,
		Listed: func(_, key string) (string, string) { return Bucket, ListedKey(key) }}
	kind := layout.Parse(f.key).Kind
	credit := &credit{meter: im.meter, size: f.size}
	var (
		res collect.Result
		err error
	)
	wait := time.Second
	for try := 1; ; try++ {
		res, err = im.read(ctx, f, kind, o, credit)
		if err == nil || !errors.As(err, new(collect.Transient)) || try == tries || ctx.Err() != nil {
			break
		}
		im.log.Warn("file not read, trying again", "path", f.path, "key", f.key, "err", err, "tries", try, "backoff", wait)
		if !backoff.Sleep(ctx, wait) {
			break
		}
		wait *= 2
	}
	credit.rest()

	im.mu.Lock()
	defer im.mu.Unlock()
	s := &im.sum
	switch {
	case err != nil && ctx.Err() != nil:
		return // not handled: the import stopped
	case err != nil:
		s.Failed++
		im.log.Error("file not read", "path", f.path, "key", f.key, "err", err)
	case res.Outcome == ledger.OutcomeSkipped:
		s.Skipped++
		im.log.Debug("file skipped: not CloudTrail's", "path", f.path, "key", f.key)
	case res.Outcome == ledger.OutcomeFailed:
		s.Failed++ // the reader logged why
	default:
		s.Read++
		s.Bytes += res.Bytes
		if kind == layout.KindDigest {
			s.Digests++
			break
		}
		if res.Outcome == ledger.OutcomePartial {
			s.Partial++
		}
		s.Records += res.Records
		s.DeadLetters += res.Dead
		s.Excluded += res.Excluded
	}
	records := 0
	if kind != layout.KindDigest {
		records = res.Records
	}
	im.meter.file(records)
}

// read reads f once. A digest lists files under the names the imported files have (Listed).
func (im *importer) read(ctx context.Context, f file, kind layout.Kind, o collect.Object, c *credit) (collect.Result, error) {
	if im.direct != nil {
		im.direct.begin()
		defer im.direct.end()
	}
	if kind == layout.KindOther { // recorded as skipped, never opened
		return im.reader.From(ctx, strings.NewReader(""), o)
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return collect.Result{}, err
	}
	defer fh.Close()
	c.start()
	body := io.Reader(&counting{r: fh, c: c})
	return im.reader.From(ctx, body, o)
}

func (im *importer) summary(base Summary) Summary {
	im.mu.Lock()
	defer im.mu.Unlock()
	s := im.sum
	s.Files = base.Files
	return s
}

// file is one file to import.
type file struct {
	path string // as walked
	key  string
	size int64
	at   time.Time // in its name, when it has one
}

// walk returns the regular files of paths (folders walked recursively, in lexical order;
// symbolic links to files followed, to folders not), each once by key, their total size,
// and how many more were found under a key already found.
func walk(paths []string) (files []file, total int64, dups int, err error) {
	var (
		out  []file
		keys = map[string]bool{}
	)
	add := func(path string, size int64) {
		k := Key(path)
		if keys[k] { // the same file given twice, or two copies of a tree
			dups++
			return
		}
		keys[k] = true
		out = append(out, file{path: path, key: k, size: size})
		total += size
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, 0, 0, err
		}
		info, err := os.Stat(abs)
		if err != nil {
			return nil, 0, 0, err
		}
		root := abs
		if !info.IsDir() {
			if info.Mode().IsRegular() {
				add(abs, info.Size())
			}
			continue
		}
		if l, err := os.Lstat(abs); err == nil && l.Mode()&fs.ModeSymlink != 0 {
			if root, err = filepath.EvalSymlinks(abs); err != nil { // WalkDir would not enter a link
				return nil, 0, 0, err
			}
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			named := path // under the path given, when that is a link
			if root != abs {
				rel, err := filepath.Rel(root, path)
				if err != nil {
					return err
				}
				named = filepath.Join(abs, rel)
			}
			switch {
			case d.Type().IsRegular():
				info, err := d.Info()
				if err != nil {
					return err
				}
				add(named, info.Size())
			case d.Type()&fs.ModeSymlink != 0:
				if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() {
					add(named, info.Size())
				}
			}
			return nil
		})
		if err != nil {
			return nil, 0, 0, fmt.Errorf("walk %s: %w", p, err)
		}
	}
	return out, total, dups, nil
}

// Key returns the ledger key of the file at path: the path from its last AWSLogs folder on,
// with forward slashes (AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/<file>),
// whatever folder the tree was downloaded to and whatever trail prefix was above AWSLogs/;
// the cleaned absolute path for a file outside any AWSLogs folder.
func Key(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return fromAWSLogs(filepath.ToSlash(filepath.Clean(path)))
}

// ListedKey returns the key an imported file has for the S3 key a digest lists it by: the
// key from its last AWSLogs/ on, as Key does for a path.
func ListedKey(s3Key string) string { return fromAWSLogs(s3Key) }

func fromAWSLogs(p string) string {
	parts := strings.Split(p, "/")
	for i := len(parts) - 2; i >= 0; i-- { // a folder: not the file's own name
		if parts[i] == "AWSLogs" {
			return strings.Join(parts[i:], "/")
		}
	}
	return p
}
