// Package model holds the messages trailstream publishes — normalized events and
// detections — and their Avro encoding (schemas/*.avsc, single-object encoding).
package model

import (
	"fmt"
	"time"

	"github.com/linkedin/goavro/v2"

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
}

var (
	eventCodec     = mustCodec(schemas.Event)
	detectionCodec = mustCodec(schemas.Detection)
)

func mustCodec(schema string) *goavro.Codec {
	c, err := goavro.NewCodec(schema)
	if err != nil {
		panic(fmt.Sprintf("model: embedded Avro schema does not compile: %v", err))
	}
	return c
}

// EncodeEvent appends the Avro single-object encoding of e to buf.
func EncodeEvent(buf []byte, e *Event) ([]byte, error) {
	out, err := eventCodec.SingleFromNative(buf, map[string]any{
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
	})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.EventID, err)
	}
	return out, nil
}

// DecodeEvent decodes an Avro single-object encoded event.
func DecodeEvent(b []byte) (*Event, error) {
	n, _, err := eventCodec.NativeFromSingle(b)
	if err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	m := n.(map[string]any)
	return &Event{
		EventID:      str(m, "event_id"),
		EventTime:    ts(m, "event_time"),
		EventVersion: str(m, "event_version"),
		EventSource:  str(m, "event_source"),
		EventName:    str(m, "event_name"),
		EventType:    str(m, "event_type"),
		AWSRegion:    str(m, "aws_region"),
		AccountID:    str(m, "account_id"),
		SourceIP:     str(m, "source_ip"),
		UserAgent:    str(m, "user_agent"),
		UserType:     str(m, "user_type"),
		UserName:     str(m, "user_name"),
		UserARN:      str(m, "user_arn"),
		ErrorCode:    str(m, "error_code"),
		ErrorMessage: str(m, "error_message"),
		Outcome:      str(m, "outcome"),
		MFAUsed:      m["mfa_used"] == true,
		Action:       str(m, "action"),
		Environment:  str(m, "environment"),
		Raw:          str(m, "raw"),
	}, nil
}

// EncodeDetection appends the Avro single-object encoding of d to buf.
func EncodeDetection(buf []byte, d *Detection) ([]byte, error) {
	out, err := detectionCodec.SingleFromNative(buf, map[string]any{
		"detection_id":  d.DetectionID,
		"rule_id":       d.RuleID,
		"severity":      d.Severity,
		"title":         d.Title,
		"account_id":    d.AccountID,
		"environment":   d.Environment,
		"resource_type": d.ResourceType,
		"resource_name": d.ResourceName,
		"event_ids":     strSlice(d.EventIDs),
		"actors":        strSlice(d.Actors),
		"first_time":    d.FirstTime,
		"last_time":     d.LastTime,
		"detected_at":   d.DetectedAt,
	})
	if err != nil {
		return nil, fmt.Errorf("encode detection %s: %w", d.DetectionID, err)
	}
	return out, nil
}

// DecodeDetection decodes an Avro single-object encoded detection.
func DecodeDetection(b []byte) (*Detection, error) {
	n, _, err := detectionCodec.NativeFromSingle(b)
	if err != nil {
		return nil, fmt.Errorf("decode detection: %w", err)
	}
	m := n.(map[string]any)
	return &Detection{
		DetectionID:  str(m, "detection_id"),
		RuleID:       str(m, "rule_id"),
		Severity:     str(m, "severity"),
		Title:        str(m, "title"),
		AccountID:    str(m, "account_id"),
		Environment:  str(m, "environment"),
		ResourceType: str(m, "resource_type"),
		ResourceName: str(m, "resource_name"),
		EventIDs:     strs(m, "event_ids"),
		Actors:       strs(m, "actors"),
		FirstTime:    ts(m, "first_time"),
		LastTime:     ts(m, "last_time"),
		DetectedAt:   ts(m, "detected_at"),
	}, nil
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func ts(m map[string]any, k string) time.Time { t, _ := m[k].(time.Time); return t.UTC() }

func strs(m map[string]any, k string) []string {
	in, _ := m[k].([]any)
	out := make([]string, 0, len(in))
	for _, v := range in {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func strSlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
