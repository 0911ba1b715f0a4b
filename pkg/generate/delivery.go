package generate

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/trailstream/trailstream/pkg/digest"
)

// The trails that deliver the generated files: each account's own multi-region trail,
// created in its home region, or with --organization the organization's trail, created in
// the home region of the first account (the management account).
const (
	accountTrail = "management-events"
	orgTrail     = "organization-trail"
)

// delivery is an object Run writes besides the log files: a digest or an Insights file,
// delivered by CloudTrail at a time. Run writes it once the log files delivered before that
// time are written.
type delivery struct {
	at   time.Time
	key  string
	body []byte            // as stored: gzip
	meta map[string]string // the object's user metadata (x-amz-meta-…)
	kind string            // "digest" or "insight", for the logs
}

// byTime orders deliveries by time, then key.
func byTime(a, b delivery) int {
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	return cmp.Compare(a.key, b.key)
}

// stream is the digests of one account and region: one an hour, each naming the one
// before.
type stream struct {
	account, region string
	off             time.Duration                  // its digests end at off past the hour
	end             time.Time                      // the end of its next digest
	files           map[time.Time][]digest.LogFile // delivered files, by the end of their digest's hour
	prev            digest.Previous                // its last digest
}

// windowEnd is the end of the hour, ending at off past an hour, that t falls in.
func windowEnd(t time.Time, off time.Duration) time.Time {
	return t.Add(-off).Truncate(time.Hour).Add(off + time.Hour)
}

// digester makes the digest files of a run: for every account and region, one for every
// hour from the one the run starts in to the one its last file is delivered in, listing
// the log files delivered in the hour with their hash and event times.
type digester struct {
	bucket, root, trail string
	home                map[string]string // account: home region of its trail
	streams             []*stream
	byKey               map[[2]string]*stream
	fingerprints        map[string]string // region: the fingerprint of its signing key
	rng                 *rand.Rand
	last                time.Time // the last delivery of a log file
}

func newDigester(o Options, bucket string, accounts []*account) *digester {
	d := &digester{
		bucket:       bucket,
		root:         o.root(),
		trail:        accountTrail,
		home:         map[string]string{},
		byKey:        map[[2]string]*stream{},
		fingerprints: map[string]string{},
		rng:          rand.New(rand.NewPCG(o.Seed, 0x646967657374)),
	}
	for _, r := range regionNames {
		d.fingerprints[r] = hexString(d.rng, 32)
	}
	for _, a := range accounts {
		d.home[a.id] = a.regions[0]
		if o.Organization != "" {
			d.trail, d.home[a.id] = orgTrail, accounts[0].regions[0]
		}
		for _, r := range regionNames {
			s := &stream{account: a.id, region: r, files: map[time.Time][]digest.LogFile{},
				off: time.Duration(d.rng.Int64N(3600)) * time.Second}
			s.end = windowEnd(o.Start.UTC(), s.off)
			d.streams = append(d.streams, s)
			d.byKey[[2]string{a.id, r}] = s
		}
	}
	return d
}

// add lists f, whose uncompressed content hashes to hash, in the digest of the hour it was
// delivered in. That digest must not have been made yet.
func (d *digester) add(f File, key, hash string) error {
	s := d.byKey[[2]string{f.Account, f.Region}]
	if s == nil {
		return fmt.Errorf("log file %s of %s/%s: no digests for that account and region", key, f.Account, f.Region)
	}
	end := windowEnd(f.Delivered, s.off)
	if end.Before(s.end) {
		return fmt.Errorf("log file %s delivered at %s, after the digest of its hour was made", key, f.Delivered.Format(time.RFC3339))
	}
	s.files[end] = append(s.files[end], digest.LogFile{Bucket: d.bucket, Key: key, Hash: hash, HashAlgorithm: digest.HashSHA256,
		Oldest: f.Oldest, Newest: f.Newest})
	d.last = maxTime(d.last, f.Delivered)
	return nil
}

// due returns the digests of the hours that ended by t, in time order.
func (d *digester) due(t time.Time) ([]delivery, error) {
	return d.until(func(s *stream) bool { return !s.end.After(t) })
}

// rest returns the digests of the hours left, up to the one the last log file was delivered
// in, in time order.
func (d *digester) rest() ([]delivery, error) {
	return d.until(func(s *stream) bool { return !s.end.Add(-time.Hour).After(d.last) })
}

func (d *digester) until(more func(*stream) bool) ([]delivery, error) {
	var out []delivery
	for _, s := range d.streams {
		for more(s) {
			dl, err := d.make(s)
			if err != nil {
				return nil, err
			}
			out = append(out, dl)
		}
	}
	slices.SortFunc(out, byTime)
	return out, nil
}

// make writes the next digest of s.
func (d *digester) make(s *stream) (delivery, error) {
	end := s.end
	files := s.files[end]
	delete(s.files, end)
	s.end = end.Add(time.Hour)
	dg := digest.Digest{
		AccountID: s.account,
		Start:     end.Add(-time.Hour),
		End:       end,
		Bucket:    d.bucket,
		Key: fmt.Sprintf("%s%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz", d.root, s.account, s.region,
			end.Format("2006/01/02"), s.account, s.region, d.trail, d.home[s.account], end.Format("20060102T150405Z")),
		PublicKeyFingerprint: d.fingerprints[s.region],
		SignatureAlgorithm:   digest.SignatureAlgorithm,
		Previous:             s.prev,
		Files:                files,
	}
	for _, f := range files {
		if dg.Oldest.IsZero() || f.Oldest.Before(dg.Oldest) {
			dg.Oldest = f.Oldest
		}
		dg.Newest = maxTime(dg.Newest, f.Newest)
	}
	data, err := digest.Marshal(dg)
	if err != nil {
		return delivery{}, err
	}
	var body bytes.Buffer
	if err := gzipBytes(&body, data); err != nil {
		return delivery{}, fmt.Errorf("compress %s: %w", dg.Key, err)
	}
	// The signature is not CloudTrail's: trailstream does not check it (package digest).
	sig := hexString(d.rng, 512)
	sum := sha256.Sum256(data)
	s.prev = digest.Previous{Bucket: d.bucket, Key: dg.Key, Hash: hex.EncodeToString(sum[:]), HashAlgorithm: digest.HashSHA256, Signature: sig}
	return delivery{at: end, key: dg.Key, body: body.Bytes(), kind: "digest",
		meta: map[string]string{"signature": sig, "signature-algorithm": digest.SignatureAlgorithm}}, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// insightAPIs are the APIs the generated Insights are about: call-rate Insights on write
// calls, error-rate Insights on calls refused with an error code.
var insightAPIs = []struct{ source, name, errorCode string }{
	{"ec2.amazonaws.com", "RunInstances", ""},
	{"sts.amazonaws.com", "AssumeRole", "AccessDenied"},
	{"ssm.amazonaws.com", "SendCommand", ""},
	{"ec2.amazonaws.com", "DescribeInstances", "Client.UnauthorizedOperation"},
	{"iam.amazonaws.com", "CreateAccessKey", ""},
	{"secretsmanager.amazonaws.com", "GetSecretValue", "AccessDeniedException"},
}

// insightFiles returns the Insights files of a run: for every account and every 24 hours
// of the span (or the shorter span), one Insights event, a start and an end a few minutes
// to three quarters of an hour apart, in the account's home region, each in its own file
// delivered a few minutes after it.
func insightFiles(o Options, accounts []*account) ([]delivery, error) {
	r := rand.New(rand.NewPCG(o.Seed, 0x696e7369676874))
	root := o.root()
	start, end := o.Start.UTC(), o.Start.UTC().Add(o.Span)
	var out []delivery
	for ai, a := range accounts {
		for day := 0; start.Add(time.Duration(day) * 24 * time.Hour).Before(end); day++ {
			from := start.Add(time.Duration(day) * 24 * time.Hour)
			length := min(24*time.Hour, end.Sub(from))
			begin := from.Add(time.Duration((0.2 + 0.3*r.Float64()) * float64(length))).Truncate(time.Minute).Add(time.Minute)
			dur := min(time.Duration(5+r.IntN(40))*time.Minute, length/4).Truncate(time.Minute)
			if dur < time.Minute || !begin.Add(dur).Before(end) {
				continue
			}
			api := insightAPIs[(ai+day)%len(insightAPIs)]
			shared := uuid(r)
			baseline := 0.002 + 0.2*r.Float64()
			peak := 6 + 20*r.Float64()
			for _, state := range []string{"Start", "End"} {
				at, avg, minutes := begin, peak, 1
				if state == "End" {
					at, avg, minutes = begin.Add(dur), peak*(0.5+0.4*r.Float64()), int(dur/time.Minute)
				}
				rec, err := insightRecord(r, a, api.source, api.name, api.errorCode, state, shared, at, baseline, avg, minutes)
				if err != nil {
					return nil, err
				}
				var body bytes.Buffer
				if err := WriteFile(&body, slices.Values([][]byte{rec})); err != nil {
					return nil, err
				}
				region := a.regions[0]
				delivered := at.Add(time.Minute + time.Duration(r.Int64N(int64(4*time.Minute))))
				key := fmt.Sprintf("%s%s/CloudTrail-Insight/%s/%s/%s_CloudTrail-Insight_%s_%s_%s.json.gz", root, a.id, region,
					delivered.Format("2006/01/02"), a.id, region, delivered.Format("20060102T1504Z"), randomString(r, alphaNum, 16))
				out = append(out, delivery{at: delivered, key: key, body: body.Bytes(), kind: "insight"})
			}
		}
	}
	slices.SortFunc(out, byTime)
	return out, nil
}

// insightRecord is one Insights event, as CloudTrail writes it for a trail.
func insightRecord(r *rand.Rand, a *account, source, name, errorCode, state, shared string, at time.Time,
	baseline, avg float64, minutes int) ([]byte, error) {
	type value struct {
		Value   string  `json:"value"`
		Average float64 `json:"average"`
	}
	type attribution struct {
		Attribute string  `json:"attribute"`
		Insight   []value `json:"insight"`
		Baseline  []value `json:"baseline"`
	}
	type average struct {
		Average float64 `json:"average"`
	}
	round := func(x float64) float64 { return math.Round(x*1e10) / 1e10 }
	insightType, errValue := "ApiCallRateInsight", "null"
	if errorCode != "" {
		insightType, errValue = "ApiErrorRateInsight", errorCode
	}
	role := "ci-deploy"
	session := func() string { return fmt.Sprintf("gh-actions-%d", 1000+r.IntN(9000)) }
	details := struct {
		State          string `json:"state"`
		EventSource    string `json:"eventSource"`
		EventName      string `json:"eventName"`
		InsightType    string `json:"insightType"`
		ErrorCode      string `json:"errorCode,omitempty"`
		InsightContext struct {
			Statistics struct {
				Baseline         average `json:"baseline"`
				Insight          average `json:"insight"`
				InsightDuration  int     `json:"insightDuration"`
				BaselineDuration int     `json:"baselineDuration"`
			} `json:"statistics"`
			Attributions []attribution `json:"attributions"`
		} `json:"insightContext"`
	}{State: state, EventSource: source, EventName: name, InsightType: insightType, ErrorCode: errorCode}
	st := &details.InsightContext.Statistics
	st.Baseline.Average, st.Insight.Average = round(baseline), round(avg)
	st.InsightDuration, st.BaselineDuration = minutes, 10080+r.IntN(1440)
	who := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", a.id, role, session())
	usual := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", a.id, role, session())
	details.InsightContext.Attributions = []attribution{
		{"userIdentityArn", []value{{who, round(avg)}}, []value{{usual, round(baseline)}}},
		{"userAgent", []value{{ciAgent, round(avg)}}, []value{{ciAgent, round(baseline)}}},
		{"errorCode", []value{{errValue, round(avg)}}, []value{{errValue, round(baseline)}}},
	}
	rec := struct {
		EventVersion       string `json:"eventVersion"`
		EventTime          string `json:"eventTime"`
		AWSRegion          string `json:"awsRegion"`
		EventID            string `json:"eventID"`
		EventType          string `json:"eventType"`
		RecipientAccountID string `json:"recipientAccountId"`
		SharedEventID      string `json:"sharedEventID"`
		InsightDetails     any    `json:"insightDetails"`
		EventCategory      string `json:"eventCategory"`
	}{"1.08", at.UTC().Format(time.RFC3339), a.regions[0], uuid(r), "AwsCloudTrailInsight", a.id, shared, details, "Insight"}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, fmt.Errorf("encode an Insights event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
