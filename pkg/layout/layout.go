// Package layout reads the object keys CloudTrail writes: which account, region and day a file
// belongs to and what kind of object it is, in every layout trails use.
//
//	standard            [prefix/]AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>
//	organization trail  [prefix/]AWSLogs/o-<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>
//	Control Tower       o-<org>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>
//	                    (the organization ID is the trail's prefix: a custom prefix like any other)
//
// with CloudTrail-Digest and CloudTrail-Insight in place of CloudTrail for digest and Insights
// objects. Anything else under a bucket (CloudTrail Lake exports, S3 access logs, a README) is
// KindOther.
package layout

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Kind is what an object is.
type Kind string

// The kinds of objects.
const (
	KindLog     Kind = "log"     // a CloudTrail log file: its Records are events
	KindDigest  Kind = "digest"  // an hourly digest: the log files delivered in the hour
	KindInsight Kind = "insight" // an Insights file: its Records are Insights events
	KindOther   Kind = "other"   // not CloudTrail's: skipped
)

// Key is what a key says about its object.
type Key struct {
	Kind   Kind
	Prefix string // before AWSLogs/, without the trailing slash; "" for none
	Org    string // o-<org> of an organization trail's key, else ""
	// Account, Region and Day are those of the day folder; zero for KindOther.
	Account string
	Region  string
	Day     time.Time // midnight UTC
	// Reason says why a key is KindOther.
	Reason string
}

// folders maps the folder after the account to its kind.
var folders = map[string]Kind{
	"CloudTrail":         KindLog,
	"CloudTrail-Digest":  KindDigest,
	"CloudTrail-Insight": KindInsight,
}

// folderNames are the folders of the kinds.
var folderNames = func() map[Kind]string {
	m := map[Kind]string{}
	for name, kind := range folders {
		m[kind] = name
	}
	return m
}()

var (
	accountRE = regexp.MustCompile(`^\d{12}$`)
	orgRE     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
)

// Parse reads key. It never fails: a key that is not CloudTrail's is KindOther with a reason.
func Parse(key string) Key {
	other := func(format string, args ...any) Key {
		return Key{Kind: KindOther, Reason: fmt.Sprintf(format, args...)}
	}
	i := strings.Index("/"+key, "/AWSLogs/")
	if i < 0 {
		return other("not under AWSLogs/")
	}
	prefix := strings.TrimSuffix(key[:i], "/")
	parts := strings.Split(key[i+len("AWSLogs/"):], "/")
	k := Key{Prefix: prefix}
	if len(parts) > 0 && orgRE.MatchString(parts[0]) {
		k.Org, parts = parts[0], parts[1:]
	}
	// <account>/<folder>/<region>/YYYY/MM/DD/<file>
	if len(parts) != 7 {
		return other("not <account>/CloudTrail/<region>/YYYY/MM/DD/<file> after AWSLogs/")
	}
	if !accountRE.MatchString(parts[0]) {
		return other("account %q is not 12 digits", parts[0])
	}
	kind, ok := folders[parts[1]]
	if !ok {
		return other("folder %q is not CloudTrail, CloudTrail-Digest or CloudTrail-Insight", parts[1])
	}
	if !regionRE.MatchString(parts[2]) {
		return other("region %q is not an AWS region", parts[2])
	}
	day, err := time.Parse("2006/01/02", strings.Join(parts[3:6], "/"))
	if err != nil {
		return other("day folder %q is not YYYY/MM/DD", strings.Join(parts[3:6], "/"))
	}
	file := parts[6]
	if !strings.HasSuffix(file, ".json.gz") && !strings.HasSuffix(file, ".json") {
		return other("file %q is not .json.gz or .json", file)
	}
	k.Kind, k.Account, k.Region, k.Day = kind, parts[0], parts[2], day
	return k
}

// FolderKind returns the kind of the objects of the folder name after an account's folder:
// CloudTrail, CloudTrail-Digest or CloudTrail-Insight; ok is false for any other name.
func FolderKind(name string) (kind Kind, ok bool) {
	kind, ok = folders[name]
	return kind, ok
}

// Root returns the key prefix the accounts' folders are under: [prefix/]AWSLogs/[org/].
func Root(prefix, org string) string {
	s := "AWSLogs/"
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		s = prefix + "/" + s
	}
	if org != "" {
		s += org + "/"
	}
	return s
}

// Folder returns the key prefix of k's day folder: what a listing of the day asks S3 for.
func (k Key) Folder() string {
	return Root(k.Prefix, k.Org) + k.Account + "/" + folderNames[k.Kind] + "/" + k.Region + "/" + k.Day.UTC().Format("2006/01/02") + "/"
}

// IsOrg reports whether s names an AWS Organizations organization (o-…), as the folder after
// AWSLogs/ of an organization trail does.
func IsOrg(s string) bool { return orgRE.MatchString(s) }

// IsAccount reports whether s is a 12-digit AWS account ID.
func IsAccount(s string) bool { return accountRE.MatchString(s) }

// FileTime returns the time CloudTrail names a file by: the end of the span its records
// cover (log and Insights files: _YYYYMMDDTHHmmZ_) or of the hour a digest covers
// (_YYYYMMDDTHHmmssZ). ok is false for a name without one.
func FileTime(key string) (t time.Time, ok bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".json")
	for _, part := range strings.Split(name, "_") {
		switch len(part) {
		case len("20060102T1504Z"):
			if t, err := time.Parse("20060102T1504Z", part); err == nil {
				return t, true
			}
		case len("20060102T150405Z"):
			if t, err := time.Parse("20060102T150405Z", part); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}
