package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"

	"github.com/trailstream/trailstream/schemas"
)

var (
	goavroEventCodec     = mustGoavro(schemas.Event)
	goavroDetectionCodec = mustGoavro(schemas.Detection)
)

// sameNative reports whether goavro's native forms a and b are equal, a NaN equal to a NaN.
func sameNative(a any, b map[string]any) bool {
	m, ok := a.(map[string]any)
	if !ok || len(m) != len(b) {
		return false
	}
	for k, v := range m {
		x, isFloat := v.(float64)
		y, _ := b[k].(float64)
		if isFloat && math.IsNaN(x) && math.IsNaN(y) {
			continue
		}
		if !reflect.DeepEqual(v, b[k]) {
			return false
		}
	}
	return true
}

// earlierCodec reads messages of an earlier version of the event schema.
type earlierCodec struct {
	codec         *goavro.Codec
	laterDefaults map[string]any // of the fields added since, in goavro's native form
}

// goavroEventHistory holds a goavro codec of each earlier version of the event schema, by
// fingerprint.
var goavroEventHistory = func() map[uint64]earlierCodec {
	type fields struct {
		Fields []struct {
			Name    string
			Default any
		}
	}
	var current fields
	if err := json.Unmarshal([]byte(schemas.Event), &current); err != nil {
		panic(err)
	}
	out := map[uint64]earlierCodec{}
	files, err := fs.Glob(schemas.History, "history/cloudtrail_event.*.avsc")
	if err != nil || len(files) == 0 {
		panic(fmt.Sprintf("no earlier event schemas: %v", err))
	}
	for _, f := range files {
		b, err := fs.ReadFile(schemas.History, f)
		if err != nil {
			panic(err)
		}
		var old fields
		if err := json.Unmarshal(b, &old); err != nil {
			panic(err)
		}
		later := map[string]any{}
		for _, f := range current.Fields[len(old.Fields):] {
			later[f.Name] = f.Default
		}
		c := mustGoavro(string(b))
		out[c.Rabin] = earlierCodec{c, later}
	}
	return out
}()

func mustGoavro(schema string) *goavro.Codec {
	c, err := goavro.NewCodec(schema)
	if err != nil {
		panic(err)
	}
	return c
}

// goavroEvent is e as goavro's native form, written out field by field apart from the codec table.
func goavroEvent(e *Event) map[string]any {
	return map[string]any{
		"event_id":      e.EventID,
		"event_time":    e.EventTime,
		"event_version": e.EventVersion,
		"event_source":  e.EventSource,
		"event_name":    e.EventName,
		"event_type":    e.EventType,
		"aws_region":    e.AWSRegion,
		"account_id":    e.AccountID,
		"source_ip":     e.SourceIP,
		"user_agent":    e.UserAgent,
		"user_type":     e.UserType,
		"user_name":     e.UserName,
		"user_arn":      e.UserARN,
		"error_code":    e.ErrorCode,
		"error_message": e.ErrorMessage,
		"outcome":       e.Outcome,
		"mfa_used":      e.MFAUsed,
		"action":        e.Action,
		"environment":   e.Environment,
		"raw":           e.Raw,

		"role_name":           e.RoleName,
		"session_name":        e.SessionName,
		"principal_id":        e.PrincipalID,
		"access_key_id":       e.AccessKeyID,
		"actor_account_id":    e.ActorAccountID,
		"invoked_by":          e.InvokedBy,
		"session_mfa":         e.SessionMFA,
		"user_name_hidden":    e.UserNameHidden,
		"login_result":        e.LoginResult,
		"event_category":      e.EventCategory,
		"is_read_only":        e.IsReadOnly,
		"is_network_security": e.IsNetworkSecurity,
		"is_public_exposure":  e.IsPublicExposure,
		"resource_type":       e.ResourceType,
		"resource_names":      anySlice(e.ResourceNames),
		"resource_arns":       anySlice(e.ResourceARNs),
		"country_code":        e.CountryCode,
		"country_name":        e.CountryName,
		"city":                e.City,
		"latitude":            e.Latitude,
		"longitude":           e.Longitude,
		"is_admin":            e.IsAdmin,
		"event_id_derived":    e.EventIDDerived,
		"network_rule":        e.NetworkRule,
		"target_user":         e.TargetUser,
		"target_group":        e.TargetGroup,
		"new_name":            e.NewName,
	}
}

// goavroDetection is d as goavro's native form, written out field by field.
func goavroDetection(d *Detection) map[string]any {
	return map[string]any{
		"detection_id":  d.DetectionID,
		"rule_id":       d.RuleID,
		"severity":      d.Severity,
		"title":         d.Title,
		"account_id":    d.AccountID,
		"environment":   d.Environment,
		"resource_type": d.ResourceType,
		"resource_name": d.ResourceName,
		"event_ids":     anySlice(d.EventIDs),
		"actors":        anySlice(d.Actors),
		"first_time":    d.FirstTime,
		"last_time":     d.LastTime,
		"detected_at":   d.DetectedAt,
		"description":   d.Description,
		"tags":          anySlice(d.Tags),
		"source":        d.Source,
		"context":       d.Context,
	}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// millis is t as Avro keeps it: whole milliseconds, in UTC.
func millis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// stored is e as it comes back from the wire: time in milliseconds, arrays never nil.
func (e Event) stored() *Event {
	e.EventTime = millis(e.EventTime)
	if e.ResourceNames == nil {
		e.ResourceNames = []string{}
	}
	if e.ResourceARNs == nil {
		e.ResourceARNs = []string{}
	}
	return &e
}

// stored is d as it comes back from the wire: times in milliseconds, arrays never nil.
func (d Detection) stored() *Detection {
	d.FirstTime, d.LastTime, d.DetectedAt = millis(d.FirstTime), millis(d.LastTime), millis(d.DetectedAt)
	if d.EventIDs == nil {
		d.EventIDs = []string{}
	}
	if d.Actors == nil {
		d.Actors = []string{}
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	return &d
}

var t0 = time.Date(2017, 9, 27, 20, 0, 10, 0, time.UTC)

func loginEvent() *Event {
	return &Event{
		EventID: "f36c1d07-73cf-4ab8-84b1-04c93ac2aaeb", EventTime: t0,
		EventSource: "signin.amazonaws.com", EventName: "ConsoleLogin", AWSRegion: "us-east-1",
		AccountID: "956882708938", SourceIP: "65.98.119.36", UserType: "IAMUser", UserName: "system",
		Outcome: "failure", Action: "login", MFAUsed: true, Environment: "prod", Raw: `{"eventVersion":"1.01"}`,
	}
}

func eventCases() map[string]*Event {
	long := strings.Repeat("x", 70000) // a three-byte length
	return map[string]*Event{
		"login":             loginEvent(),
		"empty":             {},
		"zero time":         {EventID: "a"},
		"before 1970":       {EventID: "b", EventTime: time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
		"year 1":            {EventTime: time.Date(1, 1, 1, 0, 0, 0, 1_000_000, time.UTC)},
		"year 9999":         {EventTime: time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
		"far future":        {EventTime: time.UnixMilli(1 << 60)},
		"sub-millisecond":   {EventTime: t0.Add(1_234_567 * time.Nanosecond)},
		"negative sub-ms":   {EventTime: time.Unix(-1, 999_999_999)},
		"other time zone":   {EventTime: time.Date(2026, 3, 1, 8, 0, 0, 0, time.FixedZone("CET", 3600))},
		"unicode":           {UserName: "Zoë 🛡 用户", ErrorMessage: "line\nbreak\t\"quoted\" \u2028", Raw: "\x00\x1f"},
		"long strings":      {Raw: long, UserAgent: long[:128], ErrorMessage: long[:16383], UserARN: long[:16384]},
		"invalid utf-8":     {Raw: "\xff\xfe bad \xc3"},
		"mfa false":         {MFAUsed: false, Outcome: "success"},
		"realistic failure": benchEventFor(nil),
		"derived event ID":  {EventID: "3f0a8c2e-5b7d-8e1f-9a4c-6d2b0e8f1a3c", EventIDDerived: true},
		"network rule":      {EventName: "AuthorizeSecurityGroupIngress", NetworkRule: "tcp 22 from 0.0.0.0/0, ::/0 allow; udp 53 from sg-1 allow"},
		"targets":           {EventName: "AddUserToGroup", TargetUser: "bob", TargetGroup: "admins", NewName: "bobby"},
	}
}

func detectionCases() map[string]*Detection {
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	many := make([]string, 300)
	for i := range many {
		many[i] = strings.Repeat("é", i)
	}
	return map[string]*Detection{
		"short-lived": {
			DetectionID: "d1", RuleID: "short-lived-iam-object", Severity: "high", Title: "t",
			AccountID: "123456789012", ResourceType: "iam-user", ResourceName: "tmp",
			EventIDs: []string{"a", "b"}, Actors: []string{"alice", "bob"},
			FirstTime: t1, LastTime: t1.Add(time.Minute), DetectedAt: t1.Add(time.Hour),
			Description: "An IAM user created and deleted again within minutes.", Tags: []string{"attack.persistence", "T1136.003"},
			Source: "builtin", Context: `{"seconds_alive":60}`,
		},
		"empty":         {},
		"nil and empty": {EventIDs: nil, Actors: []string{}},
		"empty items":   {EventIDs: []string{""}, Actors: []string{"", "", ""}},
		"long arrays":   {EventIDs: many, Actors: many[:64], LastTime: time.UnixMilli(-1)},
	}
}

func TestEventRoundTrip(t *testing.T) {
	in := loginEvent()
	b, err := EncodeEvent(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xC3 || b[1] != 0x01 {
		t.Fatalf("not Avro single-object encoding: % x", b[:2])
	}
	out, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in.stored(), out) {
		t.Fatalf("round trip changed the event:\n in: %+v\nout: %+v", in, out)
	}
	if _, err := DecodeEvent(b[:len(b)-3]); err == nil {
		t.Fatal("truncated message decoded without error")
	}
}

func TestDetectionRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := &Detection{
		DetectionID: "d1", RuleID: "short-lived-iam-object", Severity: "high", Title: "t",
		AccountID: "123456789012", ResourceType: "iam-user", ResourceName: "tmp",
		EventIDs: []string{"a", "b"}, Actors: []string{"alice", "bob"},
		FirstTime: t0, LastTime: t0.Add(time.Minute), DetectedAt: t0.Add(time.Hour),
		Description: "d", Tags: []string{"T1136.003"}, Source: "rules/x.yml", Context: `{"n":2}`,
	}
	b, err := EncodeDetection(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeDetection(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed the detection:\n in: %+v\nout: %+v", in, out)
	}
}

// checkEvent encodes e, compares the bytes with goavro's, and decodes them with both codecs.
func checkEvent(t *testing.T, e *Event) {
	t.Helper()
	want, err := goavroEventCodec.SingleFromNative(nil, goavroEvent(e))
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got, err := EncodeEvent(prefix, e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("EncodeEvent did not append to buf: % x", got[:min(len(got), 16)])
	}
	if got = got[len(prefix):]; !bytes.Equal(got, want) {
		t.Fatalf("bytes differ from goavro's\n got: % x\nwant: % x", head(got), head(want))
	}
	back, err := DecodeEvent(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, e.stored()) {
		t.Fatalf("round trip changed the event:\n in: %+v\nout: %+v", e.stored(), back)
	}
	native, rest, err := goavroEventCodec.NativeFromSingle(got)
	if err != nil || len(rest) > 0 {
		t.Fatalf("goavro does not decode the bytes: %v (%d bytes left)", err, len(rest))
	}
	if !reflect.DeepEqual(native, goavroEvent(e.stored())) {
		t.Fatalf("goavro decodes other values:\n got: %v\nwant: %v", native, goavroEvent(e.stored()))
	}
}

func checkDetection(t *testing.T, d *Detection) {
	t.Helper()
	want, err := goavroDetectionCodec.SingleFromNative(nil, goavroDetection(d))
	if err != nil {
		t.Fatal(err)
	}
	got, err := EncodeDetection(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes differ from goavro's\n got: % x\nwant: % x", head(got), head(want))
	}
	back, err := DecodeDetection(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d.stored()) {
		t.Fatalf("round trip changed the detection:\n in: %+v\nout: %+v", d.stored(), back)
	}
	native, rest, err := goavroDetectionCodec.NativeFromSingle(got)
	if err != nil || len(rest) > 0 {
		t.Fatalf("goavro does not decode the bytes: %v (%d bytes left)", err, len(rest))
	}
	if !reflect.DeepEqual(native, goavroDetection(d.stored())) {
		t.Fatalf("goavro decodes other values:\n got: %v\nwant: %v", native, goavroDetection(d.stored()))
	}
}

func head(b []byte) []byte { return b[:min(len(b), 96)] }

func TestEventMatchesGoavro(t *testing.T) {
	for name, e := range eventCases() {
		t.Run(name, func(t *testing.T) { checkEvent(t, e) })
	}
}

func TestDetectionMatchesGoavro(t *testing.T) {
	for name, d := range detectionCases() {
		t.Run(name, func(t *testing.T) { checkDetection(t, d) })
	}
}

func TestRandomMatchesGoavro(t *testing.T) {
	r := rand.New(rand.NewSource(20261121))
	for i := 0; i < 2000; i++ {
		checkEvent(t, randomEvent(r))
		checkDetection(t, randomDetection(r))
	}
}

func randomEvent(r *rand.Rand) *Event {
	s := func() string { return randomString(r) }
	return &Event{
		EventID: s(), EventTime: randomTime(r), EventVersion: s(), EventSource: s(), EventName: s(),
		EventType: s(), AWSRegion: s(), AccountID: s(), SourceIP: s(), UserAgent: s(), UserType: s(),
		UserName: s(), UserARN: s(), ErrorCode: s(), ErrorMessage: s(), Outcome: s(), MFAUsed: r.Intn(2) == 1,
		Action: s(), Environment: s(), Raw: s(),
		RoleName: s(), SessionName: s(), PrincipalID: s(), AccessKeyID: s(), ActorAccountID: s(), InvokedBy: s(),
		SessionMFA: r.Intn(2) == 1, UserNameHidden: r.Intn(2) == 1, LoginResult: s(), EventCategory: s(),
		IsReadOnly: r.Intn(2) == 1, IsNetworkSecurity: r.Intn(2) == 1, IsPublicExposure: r.Intn(2) == 1,
		ResourceType: s(), ResourceNames: randomStrings(r), ResourceARNs: randomStrings(r), CountryCode: s(),
		CountryName: s(), City: s(), Latitude: r.NormFloat64() * 90, Longitude: r.NormFloat64() * 180, IsAdmin: r.Intn(2) == 1,
		EventIDDerived: r.Intn(2) == 1, NetworkRule: s(), TargetUser: s(), TargetGroup: s(), NewName: s(),
	}
}

func randomDetection(r *rand.Rand) *Detection {
	s := func() string { return randomString(r) }
	return &Detection{
		DetectionID: s(), RuleID: s(), Severity: s(), Title: s(), AccountID: s(), Environment: s(),
		ResourceType: s(), ResourceName: s(), EventIDs: randomStrings(r), Actors: randomStrings(r),
		FirstTime: randomTime(r), LastTime: randomTime(r), DetectedAt: randomTime(r),
		Description: s(), Tags: randomStrings(r), Source: s(), Context: s(),
	}
}

// randomString is empty, ASCII, any Unicode or, now and then, long or not UTF-8 at all.
func randomString(r *rand.Rand) string {
	var n int
	switch r.Intn(10) {
	case 0:
		return ""
	case 1:
		n = 64 + r.Intn(20000)
	default:
		n = r.Intn(40)
	}
	var sb strings.Builder
	for sb.Len() < n {
		switch r.Intn(8) {
		case 0:
			sb.WriteRune(rune(r.Intn(utf8.MaxRune + 1))) // surrogates become U+FFFD
		case 1:
			sb.WriteByte(byte(r.Intn(256)))
		case 2:
			sb.WriteRune(rune(0x80 + r.Intn(0x800)))
		default:
			sb.WriteByte(byte(' ' + r.Intn(95)))
		}
	}
	return sb.String()
}

func randomStrings(r *rand.Rand) []string {
	var n int
	switch r.Intn(4) {
	case 0:
		return nil
	case 1:
		n = 100 + r.Intn(200) // a two-byte count
	default:
		n = r.Intn(5)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = randomString(r)
	}
	return out
}

// randomTime is zero, around 1970, or anywhere from year 1 to 9999, with nanoseconds.
func randomTime(r *rand.Rand) time.Time {
	switch r.Intn(4) {
	case 0:
		return time.Time{}
	case 1:
		return time.UnixMilli(r.Int63n(2000) - 1000)
	}
	min, max := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix()
	return time.Unix(min+r.Int63n(max-min), r.Int63n(1e9))
}

func TestEncodeBufferUse(t *testing.T) {
	e := benchEventFor(t)
	first, err := EncodeEvent(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	if cap(first) > len(first)+len(first)/8+64 { // the allocator's size class, no more
		t.Errorf("EncodeEvent(nil) allocated %d bytes for a %d-byte message", cap(first), len(first))
	}
	buf := make([]byte, 0, 4096)
	if allocs := testing.AllocsPerRun(100, func() { buf, _ = EncodeEvent(buf[:0], e) }); allocs != 0 {
		t.Errorf("EncodeEvent into a buffer with room: %v allocations, want 0", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = EncodeEvent(nil, e) }); allocs != 1 {
		t.Errorf("EncodeEvent(nil): %v allocations, want 1", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = DecodeEvent(first) }); allocs > 2 {
		t.Errorf("DecodeEvent: %v allocations, want at most 2", allocs)
	}
}

func TestEncodeTimeOutOfRange(t *testing.T) {
	for _, tm := range []time.Time{
		time.UnixMilli(1<<63 - 1).Add(time.Millisecond),
		time.UnixMilli(-1 << 63).Add(-time.Nanosecond),
		time.Date(300_000_000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if b, err := EncodeEvent(nil, &Event{EventID: "x", EventTime: tm}); err == nil || !strings.Contains(err.Error(), "event_time") {
			t.Errorf("EncodeEvent with event_time %v = % x, %v; want an error naming event_time", tm, head(b), err)
		}
	}
	for _, tm := range []time.Time{time.UnixMilli(1<<63 - 1).Add(time.Millisecond - 1), time.UnixMilli(-1 << 63)} {
		checkEvent(t, &Event{EventTime: tm})
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := EncodeEvent(nil, loginEvent())
	if err != nil {
		t.Fatal(err)
	}
	header := good[:10]
	datum := func(parts ...string) []byte { return append(append([]byte{}, header...), strings.Join(parts, "")...) }
	strs14 := strings.Repeat("\x00", 14) // 14 empty strings: event_version .. outcome
	detection, err := EncodeDetection(nil, &Detection{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want string
		in         []byte
	}{
		{"nil", "not Avro single-object encoding", nil},
		{"JSON", "not Avro single-object encoding", []byte(`{"event_id":"x","event_time":0,"raw":"..."}`)},
		{"header only", "event_id", header},
		{"short header", "not Avro single-object encoding", good[:9]},
		{"another schema", "unknown schema fingerprint", detection},
		{"bad fingerprint", "unknown schema fingerprint", append([]byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, good[10:]...)},
		{"trailing bytes", "1 bytes after the end", append(append([]byte{}, good...), 0)},
		{"negative length", "length -1", datum("\x01")},
		{"length past the end", "length 50", datum("\x64abc")},
		{"varint overflow", "overflows", datum("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")},
		{"varint cut", "ends inside", datum("\x00", "\xff")},
		{"boolean 2", "boolean byte 0x2", datum("\x00", "\x00", strs14, "\x02")},
		{"no boolean", "ends inside", datum("\x00", "\x00", strs14)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := DecodeEvent(c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("DecodeEvent = %+v, %v; want an error containing %q", e, err, c.want)
			}
		})
	}
	for i := range good {
		if _, err := DecodeEvent(good[:i]); err == nil {
			t.Errorf("the first %d of %d bytes decoded without error", i, len(good))
		}
	}
}

func TestDecodeDetectionBlocks(t *testing.T) {
	header, err := EncodeDetection(nil, &Detection{})
	if err != nil {
		t.Fatal(err)
	}
	strs := "\x00\x00\x00\x00\x00\x00\x00\x00" // detection_id .. resource_name
	times := "\x02\x04\x06\x00\x00\x00\x00"    // 1, 2 and 3 ms after the epoch; no description, tags, source, context
	for _, c := range []struct {
		name, datum string
		want        []string // event_ids; nil: the message must not decode
	}{
		{"one block", strs + "\x04\x02a\x02b\x00" + "\x00" + times, []string{"a", "b"}},
		{"two blocks", strs + "\x02\x02a\x02\x02b\x00" + "\x00" + times, []string{"a", "b"}},
		{"sized block", strs + "\x03\x08\x02a\x02b\x00" + "\x00" + times, []string{"a", "b"}},
		{"count past the end", strs + "\x7e\x02a\x00" + "\x00" + times, nil},
		{"smallest long", strs + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x02a\x00" + "\x00" + times, nil},
		{"no end block", strs + "\x02\x02a", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := DecodeDetection(append(header[:10:10], c.datum...))
			switch {
			case c.want == nil && err == nil:
				t.Fatalf("decoded %+v, want an error", d)
			case c.want != nil && err != nil:
				t.Fatal(err)
			case c.want != nil && (!reflect.DeepEqual(d.EventIDs, c.want) || d.DetectedAt != time.UnixMilli(3).UTC()):
				t.Fatalf("decoded %+v, want event_ids %q", d, c.want)
			}
		})
	}
}

func TestAppendJSON(t *testing.T) {
	e := loginEvent()
	e.EventTime = t0.Add(1_999_999 * time.Nanosecond)
	e.ErrorMessage = "a \"b\"\n\u2028 <c> & \xff"
	e.EventIDDerived = true
	e.NetworkRule = "#100 ingress all from 0.0.0.0/0 allow"
	var got map[string]any
	line := e.AppendJSON([]byte("> "))
	if err := json.Unmarshal(line[2:], &got); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	want := map[string]any{
		"event_id": e.EventID, "event_time": "2017-09-27T20:00:10.001Z", "event_version": "", "event_source": e.EventSource,
		"event_name": e.EventName, "event_type": "", "aws_region": e.AWSRegion, "account_id": e.AccountID,
		"source_ip": e.SourceIP, "user_agent": "", "user_type": e.UserType, "user_name": e.UserName, "user_arn": "",
		"error_code": "", "error_message": "a \"b\"\n\u2028 <c> & \ufffd", "outcome": e.Outcome, "mfa_used": true,
		"action": e.Action, "environment": e.Environment, "raw": e.Raw,
		"role_name": "", "session_name": "", "principal_id": "", "access_key_id": "", "actor_account_id": "",
		"invoked_by": "", "session_mfa": false, "user_name_hidden": false, "login_result": "", "event_category": "",
		"is_read_only": false, "is_network_security": false, "is_public_exposure": false, "resource_type": "",
		"resource_names": []any{}, "resource_arns": []any{}, "country_code": "", "country_name": "", "city": "",
		"latitude": 0.0, "longitude": 0.0, "is_admin": false, "event_id_derived": true,
		"network_rule": "#100 ingress all from 0.0.0.0/0 allow", "target_user": "", "target_group": "", "new_name": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AppendJSON gave\n%s\nwant %v", line, want)
	}
	if !bytes.HasPrefix(line, []byte(`> {"event_id":"f36c1d07`)) || !bytes.HasSuffix(line, []byte(`"network_rule":"#100 ingress all from 0.0.0.0/0 allow","target_user":"","target_group":"","new_name":""}`)) {
		t.Fatalf("AppendJSON does not follow schema order: %s", line)
	}

	d := &Detection{DetectionID: "d", FirstTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 7200)), Actors: []string{"a", "b"}}
	want = map[string]any{
		"detection_id": "d", "rule_id": "", "severity": "", "title": "", "account_id": "", "environment": "",
		"resource_type": "", "resource_name": "", "event_ids": []any{}, "actors": []any{"a", "b"},
		"first_time": "2026-01-02T01:04:05.000Z", "last_time": "0001-01-01T00:00:00.000Z", "detected_at": "0001-01-01T00:00:00.000Z",
		"description": "", "tags": []any{}, "source": "", "context": "",
	}
	got = nil
	if err := json.Unmarshal(d.AppendJSON(nil), &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Detection.AppendJSON = %s (%v), want %v", d.AppendJSON(nil), err, want)
	}
}

func TestAppendJSONTimeMatchesAppendFormat(t *testing.T) {
	times := []time.Time{
		{}, time.Unix(0, 0), time.UnixMilli(-1), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 2, 28, 23, 30, 0, 5e8, time.FixedZone("X", -3600)),
	}
	r := rand.New(rand.NewSource(3))
	for range 5000 {
		times = append(times, time.Unix(r.Int63n(1<<36)-1<<35, r.Int63n(1e9)))
	}
	for _, tm := range times {
		want := tm.UTC().AppendFormat(nil, jsonTime)
		if got := appendJSONTime(nil, tm); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for i := 0; i < 5000; i++ {
		s := randomString(r)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		w := bytes.TrimSuffix(want.Bytes(), []byte("\n"))
		got := appendJSONString(nil, s)
		if !utf8.ValidString(s) {
			// Invalid UTF-8 becomes U+FFFD, which encoding/json writes escaped up to Go 1.26
			// and as the character itself from 1.27: the same string either way.
			var a, b string
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatalf("appendJSONString of %q is not JSON: %v", s, err)
			}
			if err := json.Unmarshal(w, &b); err != nil || a != b {
				t.Fatalf("appendJSONString of %q reads as %q, encoding/json's as %q (%v)", s, a, b, err)
			}
			continue
		}
		if !bytes.Equal(got, w) {
			at := 0
			for at < min(len(got), len(w)) && got[at] == w[at] {
				at++
			}
			t.Fatalf("appendJSONString of a %d-byte string differs from encoding/json at byte %d: %q, want %q",
				len(s), at, got[at:min(len(got), at+16)], w[at:min(len(w), at+16)])
		}
	}
}

// FuzzDecodeEvent checks that DecodeEvent never panics, and that whatever it accepts goavro
// decodes to the same values and survives another round trip.
func FuzzDecodeEvent(f *testing.F) {
	for _, e := range []*Event{loginEvent(), {}, {EventTime: time.UnixMilli(-1), Raw: "é"}} {
		b, err := EncodeEvent(nil, e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0xC3, 0x01})
	f.Add([]byte(`{"eventID":"x"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := DecodeEvent(in)
		if err != nil {
			if e != nil {
				t.Fatalf("DecodeEvent returned an event with error %v", err)
			}
			return
		}
		// A message of an earlier schema version is read by goavro with that version; the
		// fields added since must hold their defaults.
		codec, want := goavroEventCodec, goavroEvent(e)
		if len(in) >= 10 {
			if old, ok := goavroEventHistory[binary.LittleEndian.Uint64(in[2:10])]; ok {
				codec = old.codec
				for name, def := range old.laterDefaults {
					if !reflect.DeepEqual(want[name], def) {
						t.Fatalf("%s of a message of an earlier version is %#v, want its default %#v", name, want[name], def)
					}
					delete(want, name)
				}
			}
		}
		native, rest, err := codec.NativeFromSingle(in)
		if err != nil || len(rest) > 0 {
			t.Fatalf("DecodeEvent accepted what goavro rejects: %v (%d bytes left)", err, len(rest))
		}
		if !sameNative(native, want) {
			t.Fatalf("goavro decodes other values:\n got: %v\nwant: %v", native, want)
		}
		b, err := EncodeEvent(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeEvent(b)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if !math.IsNaN(e.Latitude) && !math.IsNaN(e.Longitude) && !reflect.DeepEqual(again, e) {
			t.Fatalf("re-encoded event decodes as %+v, want %+v", again, e)
		}
		if b2, err := EncodeEvent(nil, again); err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("re-encoded event changes on another round trip: %v\n%+v\n%+v", err, again, e)
		}
	})
}
