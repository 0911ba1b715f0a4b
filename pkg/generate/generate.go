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
}

// Defaults of Options.
const (
	DefaultEvents         = 1000
	DefaultAccounts       = 2
	DefaultRecordsPerFile = 250
	DefaultSpan           = time.Hour
)

// Register defines the generate flags on fs: --events, --accounts, --records-per-file,
// --seed, --start, --span, --out and --admin-users-out.
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
	return errors.Join(errs...)
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

// upload writes each CloudTrail file to the bucket, then notifies the queue of it.
func upload(ctx context.Context, cfg config.Config, o Options, log *slog.Logger) error {
	cl, err := awsutil.New(ctx, cfg.AWSRegion, cfg.AWSEndpoint)
	if err != nil {
		return err
	}
	queueURL, err := cl.QueueURL(ctx, cfg.Queue)
	if err != nil {
		return err
	}
	var (
		buf            bytes.Buffer
		files, records int
		lastLog        = time.Now()
	)
	for f := range Files(o) {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf.Reset()
		if err := WriteFile(&buf, slices.Values(f.Records)); err != nil {
			return fmt.Errorf("encode %s: %w", f.Key, err)
		}
		sum := md5.Sum(buf.Bytes())
		_, err := cl.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(cfg.Bucket),
			Key:           aws.String(f.Key),
			Body:          bytes.NewReader(buf.Bytes()),
			ContentLength: aws.Int64(int64(buf.Len())),
			ContentType:   aws.String("application/json"),
		})
		if err != nil {
			return fmt.Errorf("put s3://%s/%s: %w", cfg.Bucket, f.Key, err)
		}
		note := s3event.ObjectCreated(cfg.AWSRegion, cfg.Bucket, f.Key, int64(buf.Len()), hex.EncodeToString(sum[:]), time.Now())
		if _, err := cl.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(note))}); err != nil {
			return fmt.Errorf("notify %s of s3://%s/%s: %w", queueURL, cfg.Bucket, f.Key, err)
		}
		files++
		records += len(f.Records)
		if time.Since(lastLog) >= progressEvery {
			log.Info("uploading CloudTrail files", "files", files, "records", records)
			lastLog = time.Now()
		}
	}
	log.Info("uploaded CloudTrail files and notified the queue", "files", files, "records", records,
		"bucket", cfg.Bucket, "queue", queueURL)
	return nil
}
