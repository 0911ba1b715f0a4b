package registry

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/registry/registrytest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func serdeOf(t *testing.T, url string) *Serde {
	t.Helper()
	c := config.Default()
	c.SchemaRegistryURL = url
	s, err := Open(c, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixtureEvent is an event with every kind of field set; the expectations below are
// literals, not read back through our codec.
func fixtureEvent() *model.Event {
	return &model.Event{
		EventID: "7074529f-19e5-401e-a5b2-4c3766b3143c", EventTime: time.Date(2026, 11, 21, 22, 49, 29, 123e6, time.UTC),
		EventSource: "kms.amazonaws.com", EventName: "Decrypt", AWSRegion: "us-west-2", AccountID: "365704883948",
		UserName: "erin", ErrorCode: "AccessDeniedException", Outcome: "failure", MFAUsed: true,
		Raw: `{"eventName":"Decrypt"}`, ResourceNames: []string{"alias/a", "alias/b"}, Latitude: 45.5,
	}
}

func TestEventWireFormat(t *testing.T) {
	ctx := ctxT(t)
	srv := registrytest.NewServer(t)
	s := serdeOf(t, srv.URL())
	if err := s.RegisterEvents(ctx, "cloudtrail.events"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Registry.Subjects(); len(got) != 1 || got[0] != "cloudtrail.events-value" {
		t.Fatalf("subjects %v, want [cloudtrail.events-value]", got)
	}
	if level, err := s.Client().Compatibility(ctx, "cloudtrail.events-value"); err != nil || level != "BACKWARD" {
		t.Fatalf("compatibility %q, %v; want BACKWARD", level, err)
	}
	msg, err := s.EncodeEvent(nil, fixtureEvent())
	if err != nil {
		t.Fatal(err)
	}
	if msg[0] != 0 {
		t.Fatalf("magic byte %#x, want 0", msg[0])
	}
	id := int(binary.BigEndian.Uint32(msg[1:5]))
	if id != 1 {
		t.Fatalf("schema ID %d, want 1, the first the registry handed out", id)
	}
	schema, ok := srv.Registry.Schema(id)
	if !ok {
		t.Fatalf("the registry has no schema %d", id)
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := codec.NativeFromBinary(msg[5:])
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro: %v, %d bytes left", err, len(rest))
	}
	rec := native.(map[string]any)
	want := map[string]any{
		"event_id": "7074529f-19e5-401e-a5b2-4c3766b3143c", "event_name": "Decrypt", "account_id": "365704883948",
		"user_name": "erin", "error_code": "AccessDeniedException", "mfa_used": true, "outcome": "failure",
		"raw": `{"eventName":"Decrypt"}`, "latitude": 45.5, "event_version": "", "is_admin": false,
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %#v, want %#v", k, rec[k], v)
		}
	}
	if tm, _ := rec["event_time"].(time.Time); !tm.Equal(time.Date(2026, 11, 21, 22, 49, 29, 123e6, time.UTC)) {
		t.Errorf("event_time = %v", rec["event_time"])
	}
	if names, _ := rec["resource_names"].([]any); len(names) != 2 || names[0] != "alias/a" || names[1] != "alias/b" {
		t.Errorf("resource_names = %#v", rec["resource_names"])
	}

	// A consumer of its own resolves the ID and reads the event back.
	r := serdeOf(t, srv.URL())
	if err := r.Resolve(ctx, []kafka.Message{{Value: msg}}); err != nil {
		t.Fatal(err)
	}
	e, earlier, err := r.DecodeEvent(msg)
	if err != nil || earlier {
		t.Fatalf("decode: %v (earlier %v)", err, earlier)
	}
	if e.EventID != "7074529f-19e5-401e-a5b2-4c3766b3143c" || e.UserName != "erin" || len(e.ResourceNames) != 2 || e.Latitude != 45.5 {
		t.Errorf("decoded %+v", e)
	}
	// Registering again, as a restarted producer does, keeps the ID.
	s2 := serdeOf(t, srv.URL())
	if err := s2.RegisterEvents(ctx, "cloudtrail.events"); err != nil {
		t.Fatal(err)
	}
	msg2, _ := s2.EncodeEvent(nil, fixtureEvent())
	if string(msg2) != string(msg) {
		t.Error("a second producer writes other bytes")
	}
}

func TestDetectionWireFormat(t *testing.T) {
	ctx := ctxT(t)
	srv := registrytest.NewServer(t)
	s := serdeOf(t, srv.URL())
	// Events first: detections get ID 2, so that a mix-up of the two shows.
	if err := s.RegisterEvents(ctx, "ev"); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterDetections(ctx, "det"); err != nil {
		t.Fatal(err)
	}
	d := &model.Detection{DetectionID: "d-1", RuleID: "root-login", Severity: "high", EventIDs: []string{"e1"},
		FirstTime: time.UnixMilli(1e12).UTC(), LastTime: time.UnixMilli(1e12).UTC(), DetectedAt: time.UnixMilli(1e12).UTC()}
	msg, err := s.EncodeDetection(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	if msg[0] != 0 || binary.BigEndian.Uint32(msg[1:5]) != 2 {
		t.Fatalf("header % x, want 00 00000002", msg[:5])
	}
	schema, _ := srv.Registry.Schema(2)
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	native, _, err := codec.NativeFromBinary(msg[5:])
	if err != nil {
		t.Fatal(err)
	}
	if rec := native.(map[string]any); rec["rule_id"] != "root-login" || rec["severity"] != "high" {
		t.Errorf("goavro read %v", rec)
	}
	r := serdeOf(t, srv.URL())
	if err := r.Resolve(ctx, []kafka.Message{{Value: msg}}); err != nil {
		t.Fatal(err)
	}
	got, err := r.DecodeDetection(msg)
	if err != nil || got.RuleID != "root-login" || got.EventIDs[0] != "e1" {
		t.Fatalf("decode: %+v, %v", got, err)
	}
	// An event's ID does not decode as a detection.
	ev, _ := s.EncodeEvent(nil, fixtureEvent())
	_ = r.Resolve(ctx, []kafka.Message{{Value: ev}})
	if _, err := r.DecodeDetection(ev); err == nil || !strings.Contains(err.Error(), "no version of the detection schema") {
		t.Errorf("an event read as a detection: %v", err)
	}
}

// TestBothFramings: every Serde reads the single-object encoding; the one without a
// registry writes it and refuses the wire format it cannot resolve.
func TestBothFramings(t *testing.T) {
	ctx := ctxT(t)
	srv := registrytest.NewServer(t)
	s := serdeOf(t, srv.URL())
	if err := s.RegisterEvents(ctx, "ev"); err != nil {
		t.Fatal(err)
	}
	var none *Serde
	single, err := none.EncodeEvent(nil, fixtureEvent())
	if err != nil {
		t.Fatal(err)
	}
	if single[0] != 0xC3 || single[1] != 0x01 {
		t.Fatalf("without a registry the header is % x, want c3 01", single[:2])
	}
	framed, _ := s.EncodeEvent(nil, fixtureEvent())
	for _, msg := range [][]byte{single, framed} {
		e, _, err := s.DecodeEvent(msg)
		if err != nil || e.EventID != "7074529f-19e5-401e-a5b2-4c3766b3143c" {
			t.Errorf("decode % x...: %v", msg[:2], err)
		}
	}
	if _, _, err := none.DecodeEvent(framed); err == nil || !strings.Contains(err.Error(), "no --schema-registry-url") {
		t.Errorf("no registry, a framed message: %v", err)
	}
	if e, _, err := none.DecodeEvent(single); err != nil || e.UserName != "erin" {
		t.Errorf("no registry, single-object: %v", err)
	}
}

// TestEarlierVersion: a message written by another producer with an earlier version of the
// event schema (schemas/history), framed with its own ID, reads with defaults.
func TestEarlierVersion(t *testing.T) {
	ctx := ctxT(t)
	srv := registrytest.NewServer(t)
	v1, err := os.ReadFile("../../schemas/history/cloudtrail_event.1.avsc")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewClient(srv.URL(), "", "")
	id, err := c.Register(ctx, "cloudtrail.events-value", string(v1))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(string(v1))
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{}
	var fields struct {
		Fields []struct {
			Name string
			Type any
		}
	}
	_ = jsonUnmarshal(v1, &fields)
	for _, f := range fields.Fields {
		switch typ := f.Type.(type) {
		case string:
			rec[f.Name] = map[string]any{"string": "", "boolean": false, "double": 0.0}[typ]
		default:
			rec[f.Name] = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		}
	}
	rec["event_id"], rec["user_name"] = "old-1", "olive"
	h := Header(uint32(id))
	msg, err := codec.BinaryFromNative(h[:], rec)
	if err != nil {
		t.Fatal(err)
	}
	// Our producer registers the current schema over it: BACKWARD holds.
	s := serdeOf(t, srv.URL())
	if err := s.RegisterEvents(ctx, "cloudtrail.events"); err != nil {
		t.Fatalf("the current event schema is not BACKWARD compatible with version 1: %v", err)
	}
	if err := s.Resolve(ctx, []kafka.Message{{Value: msg}}); err != nil {
		t.Fatal(err)
	}
	e, earlier, err := s.DecodeEvent(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !earlier || e.EventID != "old-1" || e.UserName != "olive" || e.ResourceNames == nil {
		t.Errorf("earlier %v, event %+v", earlier, e)
	}
}

// TestForeignSchema: an ID of a schema that is none of ours, or one the registry does not
// have, fails its message alone, with the reason, and does not stop Resolve.
func TestForeignSchema(t *testing.T) {
	ctx := ctxT(t)
	srv := registrytest.NewServer(t)
	c, _ := NewClient(srv.URL(), "", "")
	id, err := c.Register(ctx, "other-value", `{"type":"record","name":"Other","fields":[{"name":"x","type":"string"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	h := Header(uint32(id))
	foreign := append(h[:], 2, 'h')
	missing := []byte{0, 0, 0, 0, 99, 0}
	s := serdeOf(t, srv.URL())
	if err := s.Resolve(ctx, []kafka.Message{{Value: foreign}, {Value: missing}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.DecodeEvent(foreign); err == nil || !strings.Contains(err.Error(), "is no version of the event schema") {
		t.Errorf("foreign: %v", err)
	}
	_, _, err = s.DecodeEvent(missing)
	var re *Error
	if !errors.As(err, &re) || re.Code != CodeSchemaNotFound {
		t.Errorf("missing: %v, want error_code 40403", err)
	}
}

// TestRefused: a schema the subject's compatibility refuses, and credentials the registry
// refuses, fail at once, not retried.
func TestRefused(t *testing.T) {
	ctx := ctxT(t)
	srv := registrytest.NewServer(t)
	c, _ := NewClient(srv.URL(), "", "")
	// event_id as an int: our string event_id cannot read it.
	if _, err := c.Register(ctx, "cloudtrail.events-value", `{"type":"record","name":"CloudTrailEvent","namespace":"io.trailstream","fields":[{"name":"event_id","type":"int"}]}`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := serdeOf(t, srv.URL()).RegisterEvents(ctx, "cloudtrail.events")
	var re *Error
	if !errors.As(err, &re) || re.Code != CodeIncompatible || re.Status != 409 {
		t.Fatalf("incompatible: %v, want error_code 409", err)
	}
	srv.Registry.RequireAuth("trail", "pw")
	err = serdeOf(t, srv.URL()).RegisterDetections(ctx, "det")
	if !errors.As(err, &re) || re.Status != 401 {
		t.Fatalf("no credentials: %v, want HTTP 401", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusals took %s: retried", d)
	}
	cfg := config.Default()
	cfg.SchemaRegistryURL, cfg.SchemaRegistryUser, cfg.SchemaRegistryPassword = srv.URL(), "trail", "pw"
	s, err := Open(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterDetections(ctx, "det"); err != nil {
		t.Fatalf("with credentials: %v", err)
	}
}

// TestUnreachable: while the registry does not answer, a producer's registration and a
// consumer's Resolve wait, and Check fails; once it is back both go on.
func TestUnreachable(t *testing.T) {
	ctx := ctxT(t)
	reg := registrytest.New()
	srv, err := registrytest.Start(reg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	p := serdeOf(t, srv.URL())
	if err := p.RegisterEvents(ctx, "ev"); err != nil {
		t.Fatal(err)
	}
	msg, _ := p.EncodeEvent(nil, fixtureEvent())
	_ = srv.Close()

	c := serdeOf(t, "http://"+addr)
	if err := c.Check(ctx); err == nil {
		t.Fatal("Check passed with the registry down")
	}
	resolved, registered := make(chan error, 1), make(chan error, 1)
	go func() { resolved <- c.Resolve(ctx, []kafka.Message{{Value: msg}}) }()
	go func() { registered <- serdeOf(t, "http://"+addr).RegisterDetections(ctx, "det") }()
	select {
	case err := <-resolved:
		t.Fatalf("Resolve returned with the registry down: %v", err)
	case err := <-registered:
		t.Fatalf("registration returned with the registry down: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	// The producer keeps writing with the ID it has.
	if again, err := p.EncodeEvent(nil, fixtureEvent()); err != nil || string(again) != string(msg) {
		t.Fatalf("encode with the registry down: %v", err)
	}
	srv2, err := registrytest.Restart(reg, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	for _, ch := range []chan error{resolved, registered} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(40 * time.Second):
			t.Fatal("still waiting after the registry came back")
		}
	}
	if e, _, err := c.DecodeEvent(msg); err != nil || e.UserName != "erin" {
		t.Fatalf("decode after the outage: %v", err)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check after the outage: %v", err)
	}
	// Ended while waiting: Resolve returns ctx's error, not a per-message failure.
	_ = srv2.Close()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	h77 := Header(77)
	other := append(h77[:], 0)
	if err := c.Resolve(short, []kafka.Message{{Value: other[:]}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Resolve at the end of ctx: %v", err)
	}
	if _, _, err := c.DecodeEvent(other[:]); err == nil || !strings.Contains(err.Error(), "not resolved") {
		t.Fatalf("decode of an ID not resolved: %v", err)
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		msg    []byte
		id     uint32
		datum  string
		framed bool
	}{
		{[]byte{0, 0, 0, 0, 1}, 1, "", true},
		{[]byte{0, 0, 0, 1, 0, 'x'}, 256, "x", true},
		{[]byte{0, 0x7f, 0xff, 0xff, 0xff}, 1<<31 - 1, "", true},
		{[]byte{0, 0x80, 0, 0, 0}, 0, "", false}, // beyond a Java int
		{[]byte{0, 0, 0, 0, 0, 1}, 0, "", false}, // ID 0
		{[]byte{0, 0, 0, 1}, 0, "", false},       // short
		{[]byte{0xC3, 1, 0, 0, 0}, 0, "", false},
		{nil, 0, "", false},
	}
	for _, c := range cases {
		id, datum, err := Split(c.msg)
		if (err == nil) != c.framed || id != c.id || string(datum) != c.datum {
			t.Errorf("Split(% x) = %d, %q, %v", c.msg, id, datum, err)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3})
	f.Add([]byte{0xC3, 1})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, msg []byte) {
		id, datum, err := Split(msg)
		if err != nil {
			if id != 0 || datum != nil {
				t.Fatal("a failed Split returned a value")
			}
			return
		}
		h := Header(id)
		if string(append(h[:], datum...)) != string(msg) {
			t.Fatalf("header of %d and the datum are not the message", id)
		}
		if id == 0 || id > 1<<31-1 {
			t.Fatalf("ID %d out of range accepted", id)
		}
		// The decoders take whatever the framing lets through without panicking.
		s := &Serde{ids: map[uint32]resolved{id: {fp: model.EventFingerprint()}}}
		_, _, _ = s.DecodeEvent(msg)
		s.ids[id] = resolved{fp: model.DetectionFingerprint()}
		_, _ = s.DecodeDetection(msg)
	})
}

func BenchmarkEncodeEventFramed(b *testing.B) {
	srv := registrytest.NewServer(b)
	c, _ := NewClient(srv.URL(), "", "")
	s := New(c, quiet)
	if err := s.RegisterEvents(context.Background(), "ev"); err != nil {
		b.Fatal(err)
	}
	e := fixtureEvent()
	e.Raw = strings.Repeat("x", 1200)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = s.EncodeEvent(buf[:0], e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodeEventFramed(b *testing.B) {
	srv := registrytest.NewServer(b)
	c, _ := NewClient(srv.URL(), "", "")
	s := New(c, quiet)
	if err := s.RegisterEvents(context.Background(), "ev"); err != nil {
		b.Fatal(err)
	}
	e := fixtureEvent()
	e.Raw = strings.Repeat("x", 1200)
	msg, _ := s.EncodeEvent(nil, e)
	msgs := []kafka.Message{{Value: msg}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Resolve(context.Background(), msgs); err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.DecodeEvent(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func TestTransient(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&Error{Status: 503, Code: 50003}, true},
		{&Error{Status: 500, Code: CodeBackendDatastore}, true},
		{&Error{Status: 429, Code: 429}, true},
		{&Error{Status: 404, Code: CodeSchemaNotFound}, false},
		{&Error{Status: 409, Code: CodeIncompatible}, false},
		{&Error{Status: 401, Code: 40101}, false},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{fmt.Errorf("%w: schema 3 is PROTOBUF, not Avro", errUnreadable), false},
	}
	for _, c := range cases {
		if got := Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
