package generate

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/config"
)

var t0 = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

// ct is the part of a CloudTrail record the tests look at.
type ct struct {
	EventVersion string `json:"eventVersion"`
	UserIdentity struct {
		Type           string  `json:"type"`
		PrincipalID    string  `json:"principalId"`
		ARN            string  `json:"arn"`
		AccountID      string  `json:"accountId"`
		AccessKeyID    *string `json:"accessKeyId"`
		UserName       string  `json:"userName"`
		InvokedBy      string  `json:"invokedBy"`
		SessionContext *struct {
			SessionIssuer struct {
				Type string `json:"type"`
				ARN  string `json:"arn"`
			} `json:"sessionIssuer"`
			Attributes struct {
				CreationDate     string `json:"creationDate"`
				MFAAuthenticated string `json:"mfaAuthenticated"`
			} `json:"attributes"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	EventTime           time.Time       `json:"eventTime"`
	EventSource         string          `json:"eventSource"`
	EventName           string          `json:"eventName"`
	AWSRegion           string          `json:"awsRegion"`
	SourceIPAddress     string          `json:"sourceIPAddress"`
	UserAgent           string          `json:"userAgent"`
	ErrorCode           string          `json:"errorCode"`
	ErrorMessage        string          `json:"errorMessage"`
	RequestParameters   map[string]any  `json:"requestParameters"`
	ResponseElements    map[string]any  `json:"responseElements"`
	AdditionalEventData map[string]any  `json:"additionalEventData"`
	RequestID           string          `json:"requestID"`
	EventID             string          `json:"eventID"`
	ReadOnly            *bool           `json:"readOnly"`
	EventType           string          `json:"eventType"`
	ManagementEvent     *bool           `json:"managementEvent"`
	RecipientAccountID  string          `json:"recipientAccountId"`
	EventCategory       string          `json:"eventCategory"`
	TLSDetails          json.RawMessage `json:"tlsDetails"`
}

func decode(t testing.TB, raw []byte) ct {
	t.Helper()
	var r ct
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("record is not CloudTrail JSON (%v): %s", err, raw)
	}
	return r
}

// collect runs Records and decodes every record, checking Record's fields against the JSON.
func collect(t testing.TB, o Options) []ct {
	t.Helper()
	var out []ct
	for rec := range Records(o) {
		r := decode(t, rec.JSON)
		if rec.Account != r.RecipientAccountID || rec.Region != r.AWSRegion || !rec.Time.Equal(r.EventTime) {
			t.Fatalf("Record says %s/%s/%s, its JSON %s/%s/%s", rec.Account, rec.Region, rec.Time, r.RecipientAccountID, r.AWSRegion, r.EventTime)
		}
		out = append(out, r)
	}
	return out
}

var (
	uuidRE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
)

func TestRecordsAreCloudTrail(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			o := Options{Events: 1500, Seed: seed, Start: t0}
			recs := collect(t, o)
			if len(recs) != o.Events {
				t.Fatalf("got %d records, want %d", len(recs), o.Events)
			}
			ids := map[string]bool{}
			var last time.Time
			for i, r := range recs {
				fail := func(format string, args ...any) {
					t.Helper()
					t.Fatalf("record %d (%s %s): %s", i, r.EventSource, r.EventName, fmt.Sprintf(format, args...))
				}
				checks := []struct {
					ok   bool
					what string
				}{
					{r.EventVersion == "1.08" || r.EventVersion == "1.09", "eventVersion " + r.EventVersion},
					{!r.EventTime.Before(t0) && r.EventTime.Before(t0.Add(time.Hour)), "eventTime outside the hour: " + r.EventTime.String()},
					{!r.EventTime.Before(last), "eventTime goes backwards"},
					{strings.HasSuffix(r.EventSource, ".amazonaws.com"), "eventSource " + r.EventSource},
					{r.EventName != "", "no eventName"},
					{regions[r.AWSRegion] != nil, "awsRegion " + r.AWSRegion},
					{r.UserAgent != "", "no userAgent"},
					{uuidRE.MatchString(r.EventID) && !ids[r.EventID], "eventID not a fresh UUID: " + r.EventID},
					{r.ReadOnly != nil && r.ManagementEvent != nil, "no readOnly or managementEvent"},
					{accountRE.MatchString(r.RecipientAccountID), "recipientAccountId " + r.RecipientAccountID},
					{r.EventCategory == "Management" || r.EventCategory == "Data" && !*r.ManagementEvent, "eventCategory " + r.EventCategory},
					{r.UserIdentity.AccountID == "" || r.UserIdentity.AccountID == r.RecipientAccountID, "userIdentity.accountId differs"},
					{publicSource(r.SourceIPAddress), "sourceIPAddress " + r.SourceIPAddress},
				}
				for _, c := range checks {
					if !c.ok {
						fail("%s", c.what)
					}
				}
				switch r.EventType {
				case "AwsApiCall":
					if r.RequestID == "" {
						fail("an API call without requestID")
					}
				case "AwsConsoleSignIn":
					if r.ResponseElements["ConsoleLogin"] == nil || r.AdditionalEventData["MFAUsed"] == nil {
						fail("a sign-in without ConsoleLogin result or MFAUsed")
					}
				case "AwsServiceEvent":
					if r.UserIdentity.InvokedBy == "" {
						fail("a service event not invoked by a service")
					}
				default:
					fail("eventType %q", r.EventType)
				}
				switch r.UserIdentity.Type {
				case "IAMUser":
					if r.UserIdentity.UserName == "" {
						fail("an IAM user without userName")
					}
				case "AssumedRole":
					sc := r.UserIdentity.SessionContext
					key := r.UserIdentity.AccessKeyID
					if sc == nil || sc.SessionIssuer.Type != "Role" || sc.Attributes.MFAAuthenticated == "" || key == nil || !strings.HasPrefix(*key, "ASIA") {
						fail("an assumed role without session issuer, MFA attribute or session key")
					}
				case "Root", "AWSService":
				case "":
					if r.EventType != "AwsServiceEvent" {
						fail("no userIdentity.type")
					}
				default:
					fail("userIdentity.type %q", r.UserIdentity.Type)
				}
				ids[r.EventID] = true
				last = r.EventTime
			}
		})
	}
}

// publicSource reports whether addr is a public address or an AWS service's name.
func publicSource(addr string) bool {
	if strings.HasSuffix(addr, ".amazonaws.com") {
		return true
	}
	ip := net.ParseIP(addr)
	return ip != nil && ip.To4() != nil && ip.IsGlobalUnicast() && !ip.IsPrivate()
}

func TestRecordsDeterministic(t *testing.T) {
	digest := func(o Options) []byte {
		var b bytes.Buffer
		for r := range Records(o) {
			b.Write(r.JSON)
			b.WriteByte('\n')
		}
		return b.Bytes()
	}
	base := Options{Events: 4000, Seed: 42, Start: t0}
	want := digest(base)
	tests := []struct {
		name string
		o    Options
		same bool
	}{
		{"same seed and start", base, true},
		{"other seed", Options{Events: 4000, Seed: 43, Start: t0}, false},
		{"other start", Options{Events: 4000, Seed: 42, Start: t0.Add(time.Minute)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := digest(tt.o); bytes.Equal(got, want) != tt.same {
				t.Errorf("output equal to the base run: %v, want %v", !tt.same, tt.same)
			}
		})
	}
}

// kinds are what every run of a few hundred records must contain, so every dashboard panel
// and detection has data.
var kinds = []struct {
	name string
	has  func(recs []ct) bool
}{
	{"failed ConsoleLogin", has(func(r ct) bool {
		return r.EventName == "ConsoleLogin" && r.ResponseElements["ConsoleLogin"] == "Failure" &&
			r.ErrorMessage == "Failed authentication" && r.AdditionalEventData["MFAUsed"] == "No" &&
			r.AdditionalEventData["LoginTo"] != nil && r.AdditionalEventData["MobileVersion"] == "No"
	})},
	{"failed ConsoleLogin with hidden user name", has(func(r ct) bool {
		return r.EventName == "ConsoleLogin" && r.UserIdentity.UserName == "HIDDEN_DUE_TO_SECURITY_REASONS" &&
			r.ResponseElements["ConsoleLogin"] == "Failure"
	})},
	{"ConsoleLogin with MFA", has(func(r ct) bool {
		return r.EventName == "ConsoleLogin" && r.ResponseElements["ConsoleLogin"] == "Success" && r.AdditionalEventData["MFAUsed"] == "Yes"
	})},
	{"ConsoleLogin without MFA", has(func(r ct) bool {
		return r.EventName == "ConsoleLogin" && r.ResponseElements["ConsoleLogin"] == "Success" && r.AdditionalEventData["MFAUsed"] == "No"
	})},
	{"root sign-in", has(func(r ct) bool { return r.EventName == "ConsoleLogin" && r.UserIdentity.Type == "Root" })},
	{"AssumedRole session", has(func(r ct) bool { return r.UserIdentity.Type == "AssumedRole" })},
	{"AWSService identity", has(func(r ct) bool {
		return r.UserIdentity.Type == "AWSService" && r.SourceIPAddress == r.UserIdentity.InvokedBy
	})},
	{"AwsServiceEvent", has(func(r ct) bool { return r.EventType == "AwsServiceEvent" })},
	{"short-lived IAM user", shortLived("CreateUser", "DeleteUser", func(r ct) string { return str(r.RequestParameters["userName"]) })},
	{"short-lived access key", shortLived("CreateAccessKey", "DeleteAccessKey", func(r ct) string {
		if k, ok := r.ResponseElements["accessKey"].(map[string]any); ok {
			return str(k["accessKeyId"])
		}
		return str(r.RequestParameters["accessKeyId"])
	})},
	{"CreateUser response", has(func(r ct) bool {
		u, _ := r.ResponseElements["user"].(map[string]any)
		return r.EventName == "CreateUser" && u["userName"] != nil && u["userId"] != nil && u["arn"] != nil && u["createDate"] != nil && u["path"] == "/"
	})},
	{"CreatePolicy then DeletePolicy", pair("CreatePolicy", "DeletePolicy", func(r ct) string {
		if p, ok := r.ResponseElements["policy"].(map[string]any); ok {
			return str(p["arn"])
		}
		return str(r.RequestParameters["policyArn"])
	})},
	{"CreateRole then DeleteRole", pair("CreateRole", "DeleteRole", func(r ct) string { return str(r.RequestParameters["roleName"]) })},
	{"CreateGroup then DeleteGroup", pair("CreateGroup", "DeleteGroup", func(r ct) string { return str(r.RequestParameters["groupName"]) })},
	{"RunInstances then TerminateInstances", pair("RunInstances", "TerminateInstances", instanceID)},
	{"CreateSecurityGroup then DeleteSecurityGroup", pair("CreateSecurityGroup", "DeleteSecurityGroup", func(r ct) string {
		if id := str(r.ResponseElements["groupId"]); id != "" {
			return id
		}
		return str(r.RequestParameters["groupId"])
	})},
	{"AllocateAddress then ReleaseAddress", pair("AllocateAddress", "ReleaseAddress", func(r ct) string {
		if id := str(r.ResponseElements["allocationId"]); id != "" {
			return id
		}
		return str(r.RequestParameters["allocationId"])
	})},
	{"AssociateAddress", has(func(r ct) bool { return r.EventName == "AssociateAddress" })},
	{"CreateBucket then DeleteBucket", pair("CreateBucket", "DeleteBucket", func(r ct) string { return str(r.RequestParameters["bucketName"]) })},
	{"ingress from 0.0.0.0/0", has(func(r ct) bool {
		return r.EventName == "AuthorizeSecurityGroupIngress" && r.ErrorCode == "" && strings.Contains(fmt.Sprint(r.RequestParameters), "cidrIp:0.0.0.0/0")
	})},
	{"CreateNetworkAcl", has(func(r ct) bool { return r.EventName == "CreateNetworkAcl" })},
	{"network ACL entry allowing all traffic", has(func(r ct) bool {
		p := r.RequestParameters
		return r.EventName == "CreateNetworkAclEntry" && p["aclProtocol"] == "-1" && p["cidrBlock"] == "0.0.0.0/0" && p["ruleAction"] == "allow"
	})},
	{"bucket ACL granting AllUsers", has(func(r ct) bool {
		return r.EventName == "PutBucketAcl" && strings.Contains(fmt.Sprint(r.RequestParameters), "groups/global/AllUsers")
	})},
	{"public bucket policy", has(func(r ct) bool {
		return r.EventName == "PutBucketPolicy" && strings.Contains(fmt.Sprint(r.RequestParameters), "Principal:*")
	})},
	{"public-read PutObject data event", has(func(r ct) bool {
		return r.EventName == "PutObject" && r.RequestParameters["x-amz-acl"] == "public-read" && r.EventCategory == "Data" && !*r.ManagementEvent
	})},
	{"public-read PutObjectAcl", has(func(r ct) bool {
		return r.EventName == "PutObjectAcl" && r.RequestParameters["x-amz-acl"] == "public-read"
	})},
	{"AccessDenied", has(func(r ct) bool {
		return r.ErrorCode == "AccessDenied" && strings.Contains(r.ErrorMessage, "not authorized")
	})},
	{"UnauthorizedOperation", has(func(r ct) bool { return r.ErrorCode == "Client.UnauthorizedOperation" && r.ErrorMessage != "" })},
	{"KMS key created", has(func(r ct) bool { return r.EventSource == "kms.amazonaws.com" && r.EventName == "CreateKey" })},
	{"trail stopped", has(func(r ct) bool { return r.EventName == "StopLogging" })},
	{"AssumeRole", has(func(r ct) bool { return r.EventName == "AssumeRole" && r.ResponseElements["credentials"] != nil })},
	{"TLS details on API calls", has(func(r ct) bool { return r.EventType == "AwsApiCall" && len(r.TLSDetails) > 0 })},
	{"reads dominate", func(recs []ct) bool {
		n := 0
		for _, r := range recs {
			if *r.ReadOnly {
				n++
			}
		}
		return n > len(recs)*6/10
	}},
	{"at least 10 users", func(recs []ct) bool {
		users := map[string]bool{}
		for _, r := range recs {
			users[r.UserIdentity.UserName+r.UserIdentity.ARN] = true
		}
		return len(users) >= 10
	}},
	{"addresses from at least 4 countries", func(recs []ct) bool {
		countries := map[string]bool{}
		for _, r := range recs {
			for _, c := range append(slices.Clone(homes), hostile...) {
				for _, n := range c.nets {
					if strings.HasPrefix(r.SourceIPAddress, n+".") {
						countries[c.code] = true
					}
				}
			}
		}
		return len(countries) >= 4
	}},
}

func has(match func(ct) bool) func([]ct) bool {
	return func(recs []ct) bool { return slices.ContainsFunc(recs, match) }
}

func str(v any) string { s, _ := v.(string); return s }

func instanceID(r ct) string {
	set, _ := r.RequestParameters["instancesSet"].(map[string]any)
	if r.EventName == "RunInstances" {
		set, _ = r.ResponseElements["instancesSet"].(map[string]any)
	}
	items, _ := set["items"].([]any)
	if len(items) == 0 {
		return ""
	}
	first, _ := items[0].(map[string]any)
	return str(first["instanceId"])
}

// within returns a check that create and then remove happened to the same object (named by
// name) of one account, at most max apart.
func within(create, remove string, name func(ct) string, max time.Duration) func([]ct) bool {
	return func(recs []ct) bool {
		created := map[string]time.Time{}
		for _, r := range recs {
			if r.ErrorCode != "" {
				continue
			}
			k := r.RecipientAccountID + "/" + name(r)
			switch r.EventName {
			case create:
				created[k] = r.EventTime
			case remove:
				if at, ok := created[k]; ok && r.EventTime.Sub(at) <= max {
					return true
				}
			}
		}
		return false
	}
}

func shortLived(create, remove string, name func(ct) string) func([]ct) bool {
	return within(create, remove, name, 10*time.Minute)
}

func pair(create, remove string, name func(ct) string) func([]ct) bool {
	return within(create, remove, name, time.Hour)
}

func TestRecordsMix(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6} {
		recs := collect(t, Options{Events: 600, Seed: seed, Start: t0})
		for _, k := range kinds {
			t.Run(fmt.Sprintf("seed%d/%s", seed, k.name), func(t *testing.T) {
				if !k.has(recs) {
					t.Errorf("600 records of seed %d have no %s", seed, k.name)
				}
			})
		}
	}
}

var keyRE = regexp.MustCompile(`^AWSLogs/([0-9]{12})/CloudTrail/([a-z0-9-]+)/([0-9]{4}/[0-9]{2}/[0-9]{2})/([0-9]{12})_CloudTrail_([a-z0-9-]+)_([0-9]{8}T[0-9]{4}Z)_[A-Za-z0-9]{16}\.json\.gz$`)

// checkKey checks a CloudTrail object key and returns its account and region.
func checkKey(t testing.TB, key string) (account, region string) {
	t.Helper()
	m := keyRE.FindStringSubmatch(key)
	if m == nil {
		t.Fatalf("key %q is not a CloudTrail log file key", key)
	}
	at, err := time.Parse("20060102T1504Z", m[6])
	if m[1] != m[4] || m[2] != m[5] || err != nil || at.Format("2006/01/02") != m[3] {
		t.Fatalf("key %q: account, region or date disagree", key)
	}
	return m[1], m[2]
}

func TestFiles(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"defaults", Options{Events: 3000, Seed: 7, Start: t0}},
		{"small files, many accounts", Options{Events: 3000, Seed: 8, Start: t0, Accounts: 5, RecordsPerFile: 20}},
		{"one account, a day", Options{Events: 2000, Seed: 9, Start: t0, Accounts: 1, Span: 24 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o.withDefaults(t0)
			keys := map[string]bool{}
			accounts := map[string]bool{}
			total := 0
			for f := range Files(o) {
				account, region := checkKey(t, f.Key)
				if account != f.Account || region != f.Region || keys[f.Key] {
					t.Fatalf("file %s: account %s, region %s, seen before %v", f.Key, f.Account, f.Region, keys[f.Key])
				}
				keys[f.Key] = true
				accounts[account] = true
				if len(f.Records) == 0 || len(f.Records) > o.RecordsPerFile {
					t.Fatalf("file %s has %d records, want 1 to %d", f.Key, len(f.Records), o.RecordsPerFile)
				}
				first := decode(t, f.Records[0]).EventTime
				last := decode(t, f.Records[len(f.Records)-1]).EventTime
				if !f.Oldest.Equal(first) || !f.Newest.Equal(last) {
					t.Fatalf("file %s: Oldest %s and Newest %s, its records %s to %s", f.Key, f.Oldest, f.Newest, first, last)
				}
				if d := f.Delivered.Sub(last); d < time.Minute || d > 5*time.Minute || !strings.Contains(f.Key, f.Delivered.Format("_20060102T1504Z_")) {
					t.Fatalf("file %s delivered at %s, %s after its last record", f.Key, f.Delivered, d)
				}
				for _, raw := range f.Records {
					r := decode(t, raw)
					if r.RecipientAccountID != account || r.AWSRegion != region {
						t.Fatalf("file %s holds a record of %s/%s", f.Key, r.RecipientAccountID, r.AWSRegion)
					}
					if r.EventTime.Sub(first) >= deliveryPeriod {
						t.Fatalf("file %s spans more than %s", f.Key, deliveryPeriod)
					}
				}
				total += len(f.Records)
			}
			if total != o.Events || len(accounts) != o.Accounts {
				t.Errorf("files hold %d records of %d accounts, want %d of %d", total, len(accounts), o.Events, o.Accounts)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name    string
		records [][]byte
	}{
		{"none", nil},
		{"one", [][]byte{[]byte(`{"eventID":"a"}`)}},
		{"three", [][]byte{[]byte(`{"eventID":"a"}`), []byte(`{"eventID":"b"}`), []byte(`{"eventID":"c"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFile(&buf, slices.Values(tt.records)); err != nil {
				t.Fatal(err)
			}
			got := readLogFile(t, buf.Bytes())
			if len(got) != len(tt.records) {
				t.Fatalf("read back %d records, want %d", len(got), len(tt.records))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.records[i]) {
					t.Errorf("record %d: %s, want %s", i, got[i], tt.records[i])
				}
			}
		})
	}
}

// readLogFile decodes a gzip CloudTrail log file.
func readLogFile(t testing.TB, gz []byte) []json.RawMessage {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	var file struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.NewDecoder(zr).Decode(&file); err != nil {
		t.Fatalf("not a CloudTrail log file: %v", err)
	}
	if file.Records == nil {
		t.Fatal("no Records array")
	}
	return file.Records
}

func TestRunWritesLocalFiles(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		out  string
		read func(t *testing.T, data []byte) []json.RawMessage
	}{
		{"records.jsonl", func(t *testing.T, data []byte) []json.RawMessage {
			var out []json.RawMessage
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				out = append(out, json.RawMessage(slices.Clone(sc.Bytes())))
			}
			return out
		}},
		{"trail.json.gz", func(t *testing.T, data []byte) []json.RawMessage { return readLogFile(t, data) }},
	}
	for _, tt := range tests {
		t.Run(tt.out, func(t *testing.T) {
			path := filepath.Join(dir, tt.out)
			fs := flag.NewFlagSet("generate", flag.ContinueOnError)
			var o Options
			o.Register(fs)
			if err := fs.Parse([]string{"--events", "700", "--seed", "5", "--start", "2025-03-04T10:00:00Z", "--out", path}); err != nil {
				t.Fatal(err)
			}
			if err := Run(context.Background(), config.Default(), o); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := tt.read(t, data)
			if len(got) != 700 {
				t.Fatalf("%s holds %d records, want 700", tt.out, len(got))
			}
			i := 0
			for want := range Records(Options{Events: 700, Seed: 5, Start: t0}) {
				if !bytes.Equal(got[i], want.JSON) {
					t.Fatalf("record %d differs from Records:\n%s\n%s", i, got[i], want.JSON)
				}
				i++
			}
		})
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"no events", Options{}},
		{"negative accounts", Options{Events: 10, Accounts: -1}},
		{"negative records per file", Options{Events: 10, RecordsPerFile: -1}},
		{"unknown output format", Options{Events: 10, Out: filepath.Join(t.TempDir(), "x.csv")}},
		{"organization not an ID", Options{Events: 10, Organization: "acme"}},
		{"organization in capitals", Options{Events: 10, Organization: "o-ABCDEFGHIJ"}},
		{"key prefix with AWSLogs", Options{Events: 10, KeyPrefix: "logs/AWSLogs"}},
		{"key prefix with an empty part", Options{Events: 10, KeyPrefix: "logs//trail"}},
		{"negative undelivered", Options{Events: 10, Undelivered: -1}},
		{"undelivered without digests", Options{Events: 10, Undelivered: 1, NoDigests: true}},
		{"insights in a local file", Options{Events: 10, Insights: true, Out: filepath.Join(t.TempDir(), "x.jsonl")}},
		{"undelivered in a local file", Options{Events: 10, Undelivered: 1, Out: filepath.Join(t.TempDir(), "x.jsonl")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Run(context.Background(), config.Default(), tt.o); err == nil {
				t.Error("Run accepted the options")
			}
		})
	}
}

func TestParseStart(t *testing.T) {
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2025-03-01T08:30:00Z", time.Date(2025, 3, 1, 8, 30, 0, 0, time.UTC), false},
		{"2025-03-01T10:30:00+02:00", time.Date(2025, 3, 1, 8, 30, 0, 0, time.UTC), false},
		{"-3h", now.Add(-3 * time.Hour), false},
		{"-90m", now.Add(-90 * time.Minute), false},
		{"yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStart(tt.in, now)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Errorf("ParseStart(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func BenchmarkRecords(b *testing.B) {
	o := Options{Events: 20000, Seed: 1, Start: t0}
	n := 0
	for b.Loop() {
		for range Records(o) {
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFiles measures what Run does apart from the network: records grouped into
// files, each gzip-encoded.
func BenchmarkFiles(b *testing.B) {
	o := Options{Events: 20000, Seed: 1, Start: t0}
	var buf bytes.Buffer
	n := 0
	for b.Loop() {
		for f := range Files(o) {
			buf.Reset()
			if err := WriteFile(&buf, slices.Values(f.Records)); err != nil {
				b.Fatal(err)
			}
			n += len(f.Records)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// TestRunWritesAdminUsers checks --admin-users-out: the admin list in the console's upload
// format, naming the administrators every generated account has.
func TestRunWritesAdminUsers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin_users.csv")
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	var o Options
	o.Register(fs)
	if err := fs.Parse([]string{"--events", "700", "--seed", "5", "--out", filepath.Join(dir, "r.jsonl"), "--admin-users-out", path}); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), config.Default(), o); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "user_name\nalice\ncarol\nerin\n"; string(data) != want {
		t.Errorf("admin users file:\n%s\nwant:\n%s", data, want)
	}
	names, err := admins.Parse(bytes.NewReader(data))
	if err != nil || !slices.Equal(names, []string{"alice", "carol", "erin"}) {
		t.Errorf("the console reads %q, %v", names, err)
	}
	// Every account has them as IAM users.
	users := map[string]map[string]bool{}
	for _, r := range collect(t, Options{Events: 3000, Seed: 5, Start: t0, Accounts: 3}) {
		if r.UserIdentity.Type == "IAMUser" {
			if users[r.RecipientAccountID] == nil {
				users[r.RecipientAccountID] = map[string]bool{}
			}
			users[r.RecipientAccountID][r.UserIdentity.UserName] = true
		}
	}
	if len(users) != 3 {
		t.Fatalf("IAM users in %d accounts, want 3", len(users))
	}
	for account, names := range users {
		for _, n := range []string{"alice", "carol", "erin"} {
			if !names[n] {
				t.Errorf("account %s has no calls of administrator %s", account, n)
			}
		}
	}
}

func TestWindowEnd(t *testing.T) {
	tests := []struct {
		at   string
		off  time.Duration
		want string
	}{
		{"2026-11-21T10:00:00Z", 0, "2026-11-21T11:00:00Z"},
		{"2026-11-21T10:59:59Z", 0, "2026-11-21T11:00:00Z"},
		{"2026-11-21T10:05:12Z", 5*time.Minute + 12*time.Second, "2026-11-21T11:05:12Z"},
		{"2026-11-21T10:05:11Z", 5*time.Minute + 12*time.Second, "2026-11-21T10:05:12Z"},
		{"2026-11-21T23:59:00Z", 30 * time.Minute, "2026-11-22T00:30:00Z"},
	}
	for _, tt := range tests {
		if got := windowEnd(mustTime(tt.at), tt.off).Format(time.RFC3339); got != tt.want {
			t.Errorf("windowEnd(%s, %s) = %s, want %s", tt.at, tt.off, got, tt.want)
		}
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestFilesLayout checks the keys of --key-prefix and --organization, and that they leave
// the files' records as they are.
func TestFilesLayout(t *testing.T) {
	base := Options{Events: 800, Seed: 3, Start: t0}
	var want []File
	for f := range Files(base) {
		want = append(want, f)
	}
	tests := []struct {
		name, prefix, org, root string
	}{
		{"prefix", "/audit/", "", "audit/AWSLogs/"},
		{"organization", "", "o-abcdefghij", "AWSLogs/o-abcdefghij/"},
		{"both", "a/b", "o-0123456789", "a/b/AWSLogs/o-0123456789/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			o.KeyPrefix, o.Organization = tt.prefix, tt.org
			i := 0
			for f := range Files(o) {
				w := want[i]
				if f.Key != tt.root+strings.TrimPrefix(w.Key, "AWSLogs/") {
					t.Fatalf("key %s, want %s under %s", f.Key, w.Key, tt.root)
				}
				if len(f.Records) != len(w.Records) || !f.Delivered.Equal(w.Delivered) {
					t.Fatalf("file %d differs beyond its key", i)
				}
				for j := range f.Records {
					if tt.org == "" && !bytes.Equal(f.Records[j], w.Records[j]) {
						t.Fatalf("file %s record %d differs with a key prefix", f.Key, j)
					}
				}
				i++
			}
			if i != len(want) {
				t.Errorf("%d files, want %d", i, len(want))
			}
		})
	}
}

// TestOrganizationInRecords checks that --organization is the organization the records'
// trust policies name, and that it changes nothing else.
func TestOrganizationInRecords(t *testing.T) {
	const org = "o-abcdefghij"
	base := Options{Events: 20000, Seed: 5, Start: t0, Span: 24 * time.Hour} // a day of the demo's size: its near misses include a trust confined to the organization
	withOrg := base
	withOrg.Organization = org
	var plain [][]byte
	for r := range Records(base) {
		plain = append(plain, r.JSON)
	}
	i, named := 0, 0
	for r := range Records(withOrg) {
		if strings.Contains(string(r.JSON), "aws:PrincipalOrgID") {
			if !strings.Contains(string(r.JSON), org) {
				t.Fatalf("a trust policy names another organization: %s", r.JSON)
			}
			named++
		} else if !bytes.Equal(r.JSON, plain[i]) {
			t.Fatalf("record %d differs with --organization:\n%s\n%s", i, r.JSON, plain[i])
		}
		i++
	}
	if named == 0 || i != len(plain) {
		t.Errorf("%d trust policies name the organization in %d records, want some of %d", named, i, len(plain))
	}
}
