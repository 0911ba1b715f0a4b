package model

import (
	"fmt"
)

// The functions below are the seam for framings other than the single-object encoding
// (pkg/registry's Confluent wire format): they write and read the bare Avro binary datum,
// the part of a message after its header, and name schemas by their CRC-64-AVRO (Rabin)
// fingerprint, which is what the single-object header carries.

// MaxHeader is the longest header EncodeEventAfter and EncodeDetectionAfter take.
const MaxHeader = 10

// EventFingerprint returns the fingerprint of the current event schema
// (schemas/cloudtrail_event.avsc).
func EventFingerprint() uint64 { return eventCodec.fingerprint() }

// DetectionFingerprint returns the fingerprint of the current detection schema
// (schemas/detection.avsc).
func DetectionFingerprint() uint64 { return detectionCodec.fingerprint() }

// KnownEventSchema reports whether fp is the fingerprint of the current event schema or of
// one of its earlier versions (schemas/history).
func KnownEventSchema(fp uint64) bool {
	_, err := eventCodec.fieldsOf(fp)
	return err == nil
}

// KnownDetectionSchema is KnownEventSchema for the detection schema.
func KnownDetectionSchema(fp uint64) bool {
	_, err := detectionCodec.fieldsOf(fp)
	return err == nil
}

// EarlierEventSchema reports whether fp is the fingerprint of an earlier version of the
// event schema, as EarlierEvent does for a single-object message.
func EarlierEventSchema(fp uint64) bool {
	return fp != eventCodec.fingerprint() && eventCodec.older[fp] > 0
}

// EncodeEventAfter appends header (at most MaxHeader bytes), then the Avro binary datum of
// e in the current schema, to buf. Like EncodeEvent it allocates nothing when buf has room
// and otherwise grows buf once.
func EncodeEventAfter(buf, header []byte, e *Event) ([]byte, error) {
	if len(header) > MaxHeader {
		return nil, fmt.Errorf("encode event %s: header of %d bytes is longer than %d", e.EventID, len(header), MaxHeader)
	}
	out, err := eventCodec.encodeAfter(buf, header, e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.EventID, err)
	}
	return out, nil
}

// EncodeDetectionAfter is EncodeEventAfter for a detection.
func EncodeDetectionAfter(buf, header []byte, d *Detection) ([]byte, error) {
	if len(header) > MaxHeader {
		return nil, fmt.Errorf("encode detection %s: header of %d bytes is longer than %d", d.DetectionID, len(header), MaxHeader)
	}
	out, err := detectionCodec.encodeAfter(buf, header, d)
	if err != nil {
		return nil, fmt.Errorf("encode detection %s: %w", d.DetectionID, err)
	}
	return out, nil
}

// DecodeEventDatum decodes the Avro binary datum b written with the event schema of
// fingerprint fp, the current one or an earlier version; at is where b starts in its
// message, for the offsets errors name. Fields an earlier version lacks take their
// defaults. Strings share one copy of b, as with DecodeEvent.
func DecodeEventDatum(fp uint64, b []byte, at int) (*Event, error) {
	n, err := eventCodec.fieldsOf(fp)
	if err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	e := new(Event)
	if err := eventCodec.decodeDatum(b, at, n, e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}

// DecodeDetectionDatum is DecodeEventDatum for a detection.
func DecodeDetectionDatum(fp uint64, b []byte, at int) (*Detection, error) {
	n, err := detectionCodec.fieldsOf(fp)
	if err != nil {
		return nil, fmt.Errorf("decode detection: %w", err)
	}
	d := new(Detection)
	if err := detectionCodec.decodeDatum(b, at, n, d); err != nil {
		return nil, fmt.Errorf("decode detection: %w", err)
	}
	return d, nil
}
