// Package sources describes where CloudTrail files come from — a bucket and prefix, how to
// reach it, how new files are noticed — and keeps the sources and their collection state in
// ClickHouse (tables sources, source_state and checkpoints of schemas/clickhouse).
package sources

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Origins: where a source was defined.
const (
	OriginFlags     = "flags"     // --s3-bucket and --sqs-queue: the implicit source
	OriginFile      = "file"      // --sources FILE
	OriginDiscovery = "discovery" // a trail found by --discover-trails
	OriginConsole   = "console"   // added on the console's /sources page
)

// Kinds: how a source's new files are noticed, as the console shows it.
const (
	KindNotifications = "notifications" // an SQS queue, with scanning as a safety net
	KindScan          = "scan"          // scanning only
	KindTrail         = "discovered trail"
)

// Source is where CloudTrail files come from.
type Source struct {
	ID          string `yaml:"-"`
	Name        string `yaml:"name"`
	Origin      string `yaml:"-"`
	Bucket      string `yaml:"bucket"`
	Prefix      string `yaml:"prefix"`
	Region      string `yaml:"region"` // the bucket's; "" for the fetcher's --aws-region
	RoleARN     string `yaml:"role_arn"`
	ExternalID  string `yaml:"external_id"`
	Environment string `yaml:"environment"`
	Queue       string `yaml:"queue"` // SQS queue name or URL; "" for a source that is only scanned
	// Enabled is false for a source that is kept but not collected.
	Enabled      bool   `yaml:"-"`
	TrailARN     string `yaml:"-"`
	Organization bool   `yaml:"-"` // an organization trail: one source, many member accounts
}

// Kind says how the source's new files are noticed.
func (s Source) Kind() string {
	switch {
	case s.TrailARN != "":
		return KindTrail
	case s.Queue != "":
		return KindNotifications
	}
	return KindScan
}

// KeyPrefix returns the source's key prefix, normalized: no leading slash, a trailing one when
// not empty.
func (s Source) KeyPrefix() string {
	p := strings.Trim(s.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// Covers reports whether the object bucket/key belongs to s.
func (s Source) Covers(bucket, key string) bool {
	return bucket == s.Bucket && strings.HasPrefix(key, s.KeyPrefix())
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	roleRE   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`)
	regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
)

// Check returns what is wrong with s, if anything.
func (s Source) Check() error {
	var errs []error
	if s.ID == "" {
		errs = append(errs, errors.New("no id"))
	}
	if s.Origin != OriginDiscovery && !nameRE.MatchString(s.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1 to 63 letters, digits, '.', '_' or '-'", s.Name))
	}
	if !bucketRE.MatchString(s.Bucket) {
		errs = append(errs, fmt.Errorf("bucket %q is not an S3 bucket name", s.Bucket))
	}
	if s.Region != "" && !regionRE.MatchString(s.Region) {
		errs = append(errs, fmt.Errorf("region %q is not an AWS region", s.Region))
	}
	if s.RoleARN != "" && !roleRE.MatchString(s.RoleARN) {
		errs = append(errs, fmt.Errorf("role_arn %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", s.RoleARN))
	}
	if s.ExternalID != "" && s.RoleARN == "" {
		errs = append(errs, errors.New("external_id without role_arn"))
	}
	if strings.Contains(s.Prefix, "AWSLogs") {
		errs = append(errs, fmt.Errorf("prefix %q: give the trail's prefix, the part before AWSLogs/", s.Prefix))
	}
	if len(s.Prefix) > maxPrefix {
		errs = append(errs, fmt.Errorf("prefix is longer than the %d bytes of an S3 key", maxPrefix))
	}
	for _, f := range []struct{ name, value string }{{"prefix", s.Prefix}, {"external_id", s.ExternalID}, {"environment", s.Environment}, {"queue", s.Queue}} {
		if err := printable(f.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	return errors.Join(errs...)
}

// maxPrefix is the longest S3 key.
const maxPrefix = 1024

// printable refuses invalid UTF-8 and control or other invisible characters.
func printable(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range v {
		if !unicode.IsGraphic(r) {
			return fmt.Errorf("the character %U is not printable", r)
		}
	}
	return nil
}
