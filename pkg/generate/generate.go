// Package generate makes realistic synthetic CloudTrail logs: IAM users, role sessions, the
// root user and AWS services at work across accounts and regions, from addresses in several
// countries; console sign-ins that succeed (with and without MFA) and fail (also with
// HIDDEN_DUE_TO_SECURITY_REASONS); resources created and deleted, some within minutes, instances
// launched and terminated, several at a time; security groups and network ACLs opened to the
// world (ingress and egress, IPv4 and IPv6); objects written public (canned ACL or grant, by
// PutObject, CopyObject or multipart upload) and existing objects' ACLs made public; buckets made
// public by ACL, canned ACL, policy or a removed or weakened public access block, next to
// private ACLs and policies; access-denied bursts and a leaked key tried from abroad; elastic
// IPs, KMS keys, a stopped trail; and above all the reads that dominate real trails. Every run
// of 600 records or more has each of these at least once. Every 24 hours of the span also has
// a burst of sign-ins and a password spray in one account, each large enough for its hour to
// stand out of the console's outlier band (and, from the eleventh hour of a span of a day or
// more, of the detector's outlier rules), and network ACL entries allowing all traffic.
//
// Every 24 hours of the span also has, once each and spread over the day, the incidents the
// detector's rules are for, so that a day of records makes every built-in rule fire: a
// password guessed, MFA codes and root's password guessed, one password used from several
// countries, a stolen key probing with Pacu and checked by TruffleHog, secrets read in bulk,
// GuardDuty, AWS Config, flow logs and the trail taken down, event selectors weakened,
// AdministratorAccess and a "*" on "*" policy handed out, keys, passwords and MFA devices of
// others changed, a role's trust opened to anyone, an identity provider added, a snapshot,
// an AMI and a database made public, a KMS key disabled, a bucket's versioning and
// encryption removed and its objects deleted, user data and a function's code replaced, a
// region enabled, and the root user at work. Beside them are near misses that come close to
// a rule without meeting it: nine failed sign-ins, four users failing from one office, a
// second device, an MFA code mistyped once, ReadOnlyAccess, a trust confined to the
// organization, a security group opened to 10.0.0.0/8, forty objects deleted. A span of
// less than a day has those whose time falls in it; a run of few records an hour leaves out
// those too large for it.
//
// The accounts' administrators are the same in every run (AdminUsers); --admin-users-out
// writes them for the console's admin list.
//
// Records yields the records one by one in time order, Files groups them into CloudTrail log
// files, WriteFile writes a log file, and Run (the `trailstream generate` tool) writes the
// files to S3 and sends the notification S3 would send for each, or writes a local file.
// Output is deterministic for a given seed and time range, and memory stays bounded for any
// number of records.
//
// Beside the log files, Run writes what a trail with log file validation delivers: for
// every account and each of the five regions, whether it had activity or not, an hourly
// digest file (package digest) listing the log files delivered in the hour with the SHA-256
// of their content, each naming the one before, written after the files of its hour
// (--no-digests leaves them out). The digests' signatures are random, not RSA: trailstream
// does not check them. Asked (--insights), it writes Insights files too: for every account
// and day, the start and end of a burst of calls to an API or of errors on it, in files of
// their own that the digests do not list. --undelivered N lists N log files in the digests
// and never writes them, the gaps a completeness check is for; --key-prefix and
// --organization write under a trail's key prefix and in an organization trail's layout
// (AWSLogs/o-…/<account>/…, the organization of the records' trust policies too);
// --no-notify writes the objects without notifying the queue, for backfills and scans. The
// --events records are those of the log files, written or not: the Insights events come on
// top.
package generate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/s3event"
)

// Options say what to generate. A zero field takes its default.
type Options struct {
	Events         int           // records in all (default 1000)
	Accounts       int           // AWS accounts the records belong to (default 2)
	RecordsPerFile int           // most records in one CloudTrail file (default 250)
	Seed           uint64        // selects the output; Run picks a random one when it is 0
	Start          time.Time     // time of the earliest record (default: one span before now)
	Span           time.Duration // the records fall in [Start, Start+Span) (default one hour)
	Out            string        // Run writes here instead of to the bucket: x.jsonl or x.json.gz
	AdminUsersOut  string        // Run also writes AdminUsers here, one a line, for the console's upload

	// What Run writes to the bucket besides the log files, and where.
	KeyPrefix    string // the trail's S3 key prefix: keys are <KeyPrefix>/AWSLogs/...
	Organization string // o-…: an organization trail's layout, AWSLogs/<Organization>/<account>/...
	NoDigests    bool   // no hourly digest files
	Insights     bool   // also Insights files: a start and an end of unusual activity per account and day
	Undelivered  int    // log files listed in the digests but never written: gaps to find
	NoNotify     bool   // write the objects without sending their notifications
}

// Defaults of Options.
const (
	DefaultEvents         = 1000
	DefaultAccounts       = 2
	DefaultRecordsPerFile = 250
	DefaultSpan           = time.Hour
)

// Register defines the generate flags on fs: --events, --accounts, --records-per-file,
// --seed, --start, --span, --out, --admin-users-out, --key-prefix, --organization,
// --no-digests, --insights, --undelivered and --no-notify.
func (o *Options) Register(fs *flag.FlagSet) {
	fs.IntVar(&o.Events, "events", DefaultEvents, "CloudTrail records to generate")
	fs.IntVar(&o.Accounts, "accounts", DefaultAccounts, "AWS accounts the records belong to")
	fs.IntVar(&o.RecordsPerFile, "records-per-file", DefaultRecordsPerFile, "most records in one CloudTrail file")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed: the same seed, start and span give the same records (0: a random seed, logged)")
	fs.Func("start", "time of the earliest record: RFC3339 (2025-01-02T15:04:05Z) or relative to now (-3h) (default: one span before now)",
		func(v string) error {
			t, err := ParseStart(v, time.Now())
			o.Start = t
			return err
		})
	fs.DurationVar(&o.Span, "span", DefaultSpan, "the records' times spread over this long from the start")
	fs.StringVar(&o.Out, "out", "", "write a local file instead of to the bucket: x.jsonl (one record a line) or x.json.gz (one CloudTrail file)")
	fs.StringVar(&o.AdminUsersOut, "admin-users-out", "", "also write the generated accounts' administrative users to this CSV file, for the console (curl -T FILE <console>/api/admin-users)")
	fs.StringVar(&o.KeyPrefix, "key-prefix", "", "the trail's S3 key prefix: objects are written under PREFIX/AWSLogs/")
	fs.StringVar(&o.Organization, "organization", "", "an organization ID (o-xxxxxxxxxx): write an organization trail's layout, AWSLogs/o-xxxxxxxxxx/<account>/...")
	fs.BoolVar(&o.NoDigests, "no-digests", false, "write no hourly CloudTrail-Digest files (written by default: one per hour, account and region, listing the hour's log files)")
	fs.BoolVar(&o.Insights, "insights", false, "also write CloudTrail-Insight files: the start and end of a burst of unusual API activity, per account and day")
	fs.IntVar(&o.Undelivered, "undelivered", 0, "list N log files in the digests but never write them: the gaps a completeness check must find")
	fs.BoolVar(&o.NoNotify, "no-notify", false, "write the objects without sending the S3 notifications to the queue (for backfill and scans)")
}

// ParseStart reads a start time: an RFC3339 time, or a duration added to now ("-3h" is
// three hours ago).
func ParseStart(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("start %q is neither an RFC3339 time nor a duration such as -3h", v)
	}
	return now.Add(d), nil
}

func (o Options) withDefaults(now time.Time) Options {
	if o.Accounts <= 0 {
		o.Accounts = DefaultAccounts
	}
	if o.RecordsPerFile <= 0 {
		o.RecordsPerFile = DefaultRecordsPerFile
	}
	if o.Span <= 0 {
		o.Span = DefaultSpan
	}
	if o.Start.IsZero() {
		o.Start = now.Add(-o.Span)
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.Events < 1 {
		errs = append(errs, fmt.Errorf("--events %d: want at least 1", o.Events))
	}
	if o.Accounts < 0 {
		errs = append(errs, fmt.Errorf("--accounts %d: want at least 1", o.Accounts))
	}
	if o.RecordsPerFile < 0 {
		errs = append(errs, fmt.Errorf("--records-per-file %d: want at least 1", o.RecordsPerFile))
	}
	if o.Span < 0 {
		errs = append(errs, fmt.Errorf("--span %s: want a positive duration", o.Span))
	}
	if o.Out != "" && !strings.HasSuffix(o.Out, ".jsonl") && !strings.HasSuffix(o.Out, ".json.gz") {
		errs = append(errs, fmt.Errorf("--out %q: want a name ending in .jsonl or .json.gz", o.Out))
	}
	if o.Organization != "" && !orgRE.MatchString(o.Organization) {
		errs = append(errs, fmt.Errorf("--organization %q: want an organization ID, o- and 10 to 32 lower-case letters or digits", o.Organization))
	}
	if p := strings.Trim(o.KeyPrefix, "/"); strings.Contains(o.KeyPrefix, "//") || p != "" && strings.Contains("/"+p+"/", "/AWSLogs/") {
		errs = append(errs, fmt.Errorf("--key-prefix %q: want a prefix without empty parts or AWSLogs", o.KeyPrefix))
	}
	if o.Undelivered < 0 {
		errs = append(errs, fmt.Errorf("--undelivered %d: want 0 or more", o.Undelivered))
	}
	if o.Undelivered > 0 && o.NoDigests {
		errs = append(errs, errors.New("--undelivered lists files in digests: it needs the digests --no-digests leaves out"))
	}
	if o.Out != "" && (o.KeyPrefix != "" || o.Organization != "" || o.Insights || o.Undelivered > 0) {
		errs = append(errs, errors.New("--out writes one local file of records: --key-prefix, --organization, --insights and --undelivered are for the bucket"))
	}
	return errors.Join(errs...)
}

// orgRE is what an AWS Organizations organization ID looks like.
var orgRE = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)

// root is the key prefix the accounts' folders are under: [prefix/]AWSLogs/[o-org/].
func (o Options) root() string {
	s := "AWSLogs/"
	if p := strings.Trim(o.KeyPrefix, "/"); p != "" {
		s = p + "/" + s
	}
	if o.Organization != "" {
		s += o.Organization + "/"
	}
	return s
}

// Run generates the records o asks for. Without o.Out it writes CloudTrail log files to
// cfg.Bucket and, for each, sends the S3 event notification to cfg.Queue as S3 would.
func Run(ctx context.Context, cfg config.Config, o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	o = o.withDefaults(time.Now())
	log := slog.With("events", o.Events, "accounts", o.Accounts, "seed", o.Seed,
		"start", o.Start.UTC().Format(time.RFC3339), "span", o.Span.String())
	if o.AdminUsersOut != "" {
		if err := writeAdminUsers(o.AdminUsersOut); err != nil {
			return err
		}
		log.Info("wrote the administrative users", "file", o.AdminUsersOut)
	}
	log.Info("generating CloudTrail records")
	if o.Out != "" {
		if err := writeLocal(ctx, o); err != nil {
			return err
		}
		log.Info("wrote CloudTrail records", "file", o.Out)
		return nil
	}
	return upload(ctx, cfg, o, log)
}

// writeAdminUsers writes AdminUsers as admin_users.csv: a header, then one name a line.
func writeAdminUsers(path string) error {
	data := "user_name\n" + strings.Join(AdminUsers(), "\n") + "\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		return fmt.Errorf("write the admin users: %w", err)
	}
	return nil
}

// writeLocal writes all records to o.Out: one a line (.jsonl) or one CloudTrail file
// (.json.gz).
func writeLocal(ctx context.Context, o Options) (err error) {
	f, err := os.Create(o.Out)
	if err != nil {
		return fmt.Errorf("create %s: %w", o.Out, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", o.Out, cerr)
		}
	}()
	records := func(yield func([]byte) bool) {
		for r := range Records(o) {
			if ctx.Err() != nil || !yield(r.JSON) {
				return
			}
		}
	}
	if strings.HasSuffix(o.Out, ".json.gz") {
		err = WriteFile(f, records)
	} else {
		err = writeLines(f, records)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	return ctx.Err()
}

func writeLines(out io.Writer, records iter.Seq[[]byte]) error {
	w := bufio.NewWriterSize(out, 1<<16)
	for r := range records {
		if _, err := w.Write(r); err != nil {
			return err
		}
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return w.Flush()
}

// progressEvery is how often a long upload logs its progress.
const progressEvery = 10 * time.Second

// upload writes each CloudTrail log file to the bucket, then notifies the queue of it,
// and so the digests and Insights files o asks for, each once the log files delivered
// before it are written (a digest after the files of its hour).
func upload(ctx context.Context, cfg config.Config, o Options, log *slog.Logger) error {
	cl, err := awsutil.New(ctx, cfg.AWSRegion, cfg.AWSEndpoint)
	if err != nil {
		return err
	}
	w := &writer{cl: cl, bucket: cfg.Bucket, region: cfg.AWSRegion, count: map[string]int{}}
	if !o.NoNotify {
		if w.queueURL, err = cl.QueueURL(ctx, cfg.Queue); err != nil {
			return err
		}
	}
	accounts := newAccounts(worldRNG(o.Seed), o.Accounts)
	var dg *digester
	if !o.NoDigests {
		dg = newDigester(o, cfg.Bucket, accounts)
	}
	var insights []delivery
	if o.Insights {
		if insights, err = insightFiles(o, accounts); err != nil {
			return err
		}
	}
	lost, err := undelivered(o)
	if err != nil {
		return err
	}
	// flush writes the digests and Insights files delivered by t.
	flush := func(ready []delivery, t time.Time, last bool) error {
		n := 0
		for n < len(insights) && (last || !insights[n].at.After(t)) {
			n++
		}
		ready = append(ready, insights[:n]...)
		insights = insights[n:]
		slices.SortFunc(ready, byTime)
		for _, d := range ready {
			if err := w.put(ctx, d.key, d.body, d.meta); err != nil {
				return err
			}
			w.count[d.kind]++
		}
		return nil
	}
	var (
		buf                  bytes.Buffer
		index, records, gone int
		lastLog              = time.Now()
	)
	for f := range Files(o) {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Every file still to come is delivered after the start of this one's five minutes.
		if dg != nil {
			due, err := dg.due(f.Oldest.Truncate(deliveryPeriod))
			if err != nil {
				return err
			}
			if err := flush(due, f.Oldest.Truncate(deliveryPeriod), false); err != nil {
				return err
			}
		} else if err := flush(nil, f.Oldest.Truncate(deliveryPeriod), false); err != nil {
			return err
		}
		buf.Reset()
		hash, err := writeFile(&buf, slices.Values(f.Records))
		if err != nil {
			return fmt.Errorf("encode %s: %w", f.Key, err)
		}
		if dg != nil {
			if err := dg.add(f, f.Key, hash); err != nil {
				return err
			}
		}
		if lost[index] {
			log.Debug("log file listed in its digest and not written", "key", f.Key, "records", len(f.Records))
			gone++
		} else {
			if err := w.put(ctx, f.Key, buf.Bytes(), nil); err != nil {
				return err
			}
			w.count["log"]++
			records += len(f.Records)
		}
		index++
		if time.Since(lastLog) >= progressEvery {
			log.Info("uploading CloudTrail files", "files", w.count["log"], "records", records)
			lastLog = time.Now()
		}
	}
	var rest []delivery
	if dg != nil {
		if rest, err = dg.rest(); err != nil {
			return err
		}
	}
	if err := flush(rest, time.Time{}, true); err != nil {
		return err
	}
	done := "uploaded CloudTrail files and notified the queue"
	if o.NoNotify {
		done = "uploaded CloudTrail files without notifications"
	}
	log.Info(done, "files", w.count["log"], "records", records, "digests", w.count["digest"], "insights", w.count["insight"],
		"undelivered", gone, "bucket", cfg.Bucket, "prefix", o.root(), "queue", w.queueURL)
	return nil
}

// undelivered picks the o.Undelivered log files, by their place in Files(o), that are
// listed in digests and never written: spread over the run, the same for a seed.
func undelivered(o Options) (map[int]bool, error) {
	if o.Undelivered == 0 {
		return nil, nil
	}
	total := 0
	for range Files(o) {
		total++
	}
	if o.Undelivered > total {
		return nil, fmt.Errorf("--undelivered %d: the run has %d log files", o.Undelivered, total)
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x6c6f7374))
	lost := map[int]bool{}
	for _, i := range r.Perm(total)[:o.Undelivered] {
		lost[i] = true
	}
	return lost, nil
}

// writer puts objects in the bucket and sends the notification S3 would send for each,
// unless it has no queue.
type writer struct {
	cl       *awsutil.Clients
	bucket   string
	region   string
	queueURL string         // "": no notifications
	count    map[string]int // objects written, by kind
}

func (w *writer) put(ctx context.Context, key string, body []byte, meta map[string]string) error {
	_, err := w.cl.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(w.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/json"),
		Metadata:      meta,
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", w.bucket, key, err)
	}
	if w.queueURL == "" {
		return nil
	}
	sum := md5.Sum(body)
	note := s3event.ObjectCreated(w.region, w.bucket, key, int64(len(body)), hex.EncodeToString(sum[:]), time.Now())
	if _, err := w.cl.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL), MessageBody: aws.String(string(note))}); err != nil {
		return fmt.Errorf("notify %s of s3://%s/%s: %w", w.queueURL, w.bucket, key, err)
	}
	return nil
}
