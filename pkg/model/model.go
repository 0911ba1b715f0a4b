// Package model holds the messages trailstream publishes — normalized events and
// detections — and their Avro encoding.
//
// Messages are Avro single-object encoded: the bytes C3 01, the 8-byte little-endian
// CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form, then the Avro binary
// datum (schemas/*.avsc, schemas/README.md). The codec is written out by hand, for speed,
// and driven by one table per record type — eventCodec and detectionCodec below — that
// binds each schema field to its Go struct field. Encoding, decoding and the JSON
// rendering (AppendJSON) all follow the table, and the table is checked against the
// embedded schema when the package initializes: a schema field missing from it, or one in
// another order or of another type, stops the program at start (and fails the tests). To
// add a field: add it to the .avsc, to the struct, and one line to the table.
//
// Other teams decode the topics with the .avsc files and Avro schema resolution, so they
// read messages written with older and newer versions of the schema. trailstream's own
// services share the schema compiled into the binary: DecodeEvent and DecodeDetection
// accept only messages that carry its fingerprint and reject the others with an
// "unknown schema fingerprint" error.
package model

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/trailstream/trailstream/schemas"
)

// Event is one normalized CloudTrail record, the payload of cloudtrail.events.
// Field names follow schemas/cloudtrail_event.avsc.
type Event struct {
	EventID      string
	EventTime    time.Time
	EventVersion string
	EventSource  string
	EventName    string
	EventType    string
	AWSRegion    string
	AccountID    string
	SourceIP     string
	UserAgent    string
	UserType     string
	UserName     string
	UserARN      string
	ErrorCode    string
	ErrorMessage string
	Outcome      string
	MFAUsed      bool
	Action       string
	Environment  string
	Raw          string

	RoleName          string
	SessionName       string
	PrincipalID       string
	AccessKeyID       string
	ActorAccountID    string
	InvokedBy         string
	SessionMFA        bool
	UserNameHidden    bool
	LoginResult       string
	EventCategory     string
	IsReadOnly        bool
	IsNetworkSecurity bool
	IsPublicExposure  bool
	ResourceType      string
	ResourceNames     []string
	ResourceARNs      []string
	CountryCode       string
	CountryName       string
	City              string
	Latitude          float64
	Longitude         float64
	IsAdmin           bool
	EventIDDerived    bool
	NetworkRule       string
	TargetUser        string
	TargetGroup       string
	NewName           string
}

// Detection is one finding of a detection rule, the payload of cloudtrail.detections.
// Field names follow schemas/detection.avsc.
type Detection struct {
	DetectionID  string
	RuleID       string
	Severity     string
	Title        string
	AccountID    string
	Environment  string
	ResourceType string
	ResourceName string
	EventIDs     []string
	Actors       []string
	FirstTime    time.Time
	LastTime     time.Time
	DetectedAt   time.Time
	Description  string
	Tags         []string
	Source       string
	Context      string // a JSON object
}

// eventCodec binds the fields of schemas/cloudtrail_event.avsc, in schema order, to Event.
var eventCodec = mustTable(schemas.Event, "cloudtrail_event",
	stringField("event_id", func(e *Event) *string { return &e.EventID }),
	timeField("event_time", func(e *Event) *time.Time { return &e.EventTime }),
	stringField("event_version", func(e *Event) *string { return &e.EventVersion }),
	stringField("event_source", func(e *Event) *string { return &e.EventSource }),
	stringField("event_name", func(e *Event) *string { return &e.EventName }),
	stringField("event_type", func(e *Event) *string { return &e.EventType }),
	stringField("aws_region", func(e *Event) *string { return &e.AWSRegion }),
	stringField("account_id", func(e *Event) *string { return &e.AccountID }),
	stringField("source_ip", func(e *Event) *string { return &e.SourceIP }),
	stringField("user_agent", func(e *Event) *string { return &e.UserAgent }),
	stringField("user_type", func(e *Event) *string { return &e.UserType }),
	stringField("user_name", func(e *Event) *string { return &e.UserName }),
	stringField("user_arn", func(e *Event) *string { return &e.UserARN }),
	stringField("error_code", func(e *Event) *string { return &e.ErrorCode }),
	stringField("error_message", func(e *Event) *string { return &e.ErrorMessage }),
	stringField("outcome", func(e *Event) *string { return &e.Outcome }),
	boolField("mfa_used", func(e *Event) *bool { return &e.MFAUsed }),
	stringField("action", func(e *Event) *string { return &e.Action }),
	stringField("environment", func(e *Event) *string { return &e.Environment }),
	stringField("raw", func(e *Event) *string { return &e.Raw }),
	stringField("role_name", func(e *Event) *string { return &e.RoleName }),
	stringField("session_name", func(e *Event) *string { return &e.SessionName }),
	stringField("principal_id", func(e *Event) *string { return &e.PrincipalID }),
	stringField("access_key_id", func(e *Event) *string { return &e.AccessKeyID }),
	stringField("actor_account_id", func(e *Event) *string { return &e.ActorAccountID }),
	stringField("invoked_by", func(e *Event) *string { return &e.InvokedBy }),
	boolField("session_mfa", func(e *Event) *bool { return &e.SessionMFA }),
	boolField("user_name_hidden", func(e *Event) *bool { return &e.UserNameHidden }),
	stringField("login_result", func(e *Event) *string { return &e.LoginResult }),
	stringField("event_category", func(e *Event) *string { return &e.EventCategory }),
	boolField("is_read_only", func(e *Event) *bool { return &e.IsReadOnly }),
	boolField("is_network_security", func(e *Event) *bool { return &e.IsNetworkSecurity }),
	boolField("is_public_exposure", func(e *Event) *bool { return &e.IsPublicExposure }),
	stringField("resource_type", func(e *Event) *string { return &e.ResourceType }),
	stringsField("resource_names", func(e *Event) *[]string { return &e.ResourceNames }),
	stringsField("resource_arns", func(e *Event) *[]string { return &e.ResourceARNs }),
	stringField("country_code", func(e *Event) *string { return &e.CountryCode }),
	stringField("country_name", func(e *Event) *string { return &e.CountryName }),
	stringField("city", func(e *Event) *string { return &e.City }),
	doubleField("latitude", func(e *Event) *float64 { return &e.Latitude }),
	doubleField("longitude", func(e *Event) *float64 { return &e.Longitude }),
	boolField("is_admin", func(e *Event) *bool { return &e.IsAdmin }),
	boolField("event_id_derived", func(e *Event) *bool { return &e.EventIDDerived }),
	stringField("network_rule", func(e *Event) *string { return &e.NetworkRule }),
	stringField("target_user", func(e *Event) *string { return &e.TargetUser }),
	stringField("target_group", func(e *Event) *string { return &e.TargetGroup }),
	stringField("new_name", func(e *Event) *string { return &e.NewName }),
)

// detectionCodec binds the fields of schemas/detection.avsc, in schema order, to Detection.
var detectionCodec = mustTable(schemas.Detection, "detection",
	stringField("detection_id", func(d *Detection) *string { return &d.DetectionID }),
	stringField("rule_id", func(d *Detection) *string { return &d.RuleID }),
	stringField("severity", func(d *Detection) *string { return &d.Severity }),
	stringField("title", func(d *Detection) *string { return &d.Title }),
	stringField("account_id", func(d *Detection) *string { return &d.AccountID }),
	stringField("environment", func(d *Detection) *string { return &d.Environment }),
	stringField("resource_type", func(d *Detection) *string { return &d.ResourceType }),
	stringField("resource_name", func(d *Detection) *string { return &d.ResourceName }),
	stringsField("event_ids", func(d *Detection) *[]string { return &d.EventIDs }),
	stringsField("actors", func(d *Detection) *[]string { return &d.Actors }),
	timeField("first_time", func(d *Detection) *time.Time { return &d.FirstTime }),
	timeField("last_time", func(d *Detection) *time.Time { return &d.LastTime }),
	timeField("detected_at", func(d *Detection) *time.Time { return &d.DetectedAt }),
	stringField("description", func(d *Detection) *string { return &d.Description }),
	stringsField("tags", func(d *Detection) *[]string { return &d.Tags }),
	stringField("source", func(d *Detection) *string { return &d.Source }),
	stringField("context", func(d *Detection) *string { return &d.Context }),
)

// EncodeEvent appends the Avro single-object encoding of e to buf. It allocates nothing
// when buf has room for the message, else it grows buf once. Times are stored in
// milliseconds; it fails only for a time outside the range of timestamp-millis (about
// ±292 million years).
func EncodeEvent(buf []byte, e *Event) ([]byte, error) {
	out, err := eventCodec.encode(buf, e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.EventID, err)
	}
	return out, nil
}

// DecodeEvent decodes an Avro single-object encoded event. It fails on a message that is
// not single-object encoded, carries another schema's fingerprint, is truncated, or has
// bytes after the record. The strings of the event share one copy of the message, so
// keeping any of them keeps all of it.
func DecodeEvent(b []byte) (*Event, error) {
	e := new(Event)
	if err := eventCodec.decode(b, e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}

// EarlierEvent reports whether b is an event written with an earlier version of the event
// schema: its fields added since hold their defaults, not what the record says.
func EarlierEvent(b []byte) bool {
	return len(b) >= len(eventCodec.header) && b[0] == eventCodec.header[0] && b[1] == eventCodec.header[1] &&
		string(b[2:10]) != string(eventCodec.header[2:]) && eventCodec.older[binary.LittleEndian.Uint64(b[2:10])] > 0
}

// EncodeDetection appends the Avro single-object encoding of d to buf, as EncodeEvent does.
func EncodeDetection(buf []byte, d *Detection) ([]byte, error) {
	out, err := detectionCodec.encode(buf, d)
	if err != nil {
		return nil, fmt.Errorf("encode detection %s: %w", d.DetectionID, err)
	}
	return out, nil
}

// DecodeDetection decodes an Avro single-object encoded detection, as DecodeEvent does.
// Empty arrays decode as empty, non-nil slices.
func DecodeDetection(b []byte) (*Detection, error) {
	d := new(Detection)
	if err := detectionCodec.decode(b, d); err != nil {
		return nil, fmt.Errorf("decode detection: %w", err)
	}
	return d, nil
}

// AppendJSON appends e to buf as one JSON object and returns the extended buffer. The keys
// are the field names of schemas/cloudtrail_event.avsc in schema order, all of them present;
// times are RFC 3339 UTC strings in milliseconds, the precision Avro keeps
// ("2026-11-21T22:49:29.000Z"). No newline is appended.
func (e *Event) AppendJSON(buf []byte) []byte { return eventCodec.appendJSON(buf, e) }

// AppendJSON appends d to buf as one JSON object, keyed by the field names of
// schemas/detection.avsc, as Event.AppendJSON does; arrays are never null.
func (d *Detection) AppendJSON(buf []byte) []byte { return detectionCodec.appendJSON(buf, d) }
