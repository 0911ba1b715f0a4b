package model

// Column-wise access for stores such as ClickHouse, whose tables name their columns after
// the Avro fields.

// names returns the field names of t in schema order.
func (t *table[T]) names() []string {
	out := make([]string, len(t.fields))
	for i, f := range t.fields {
		out[i] = f.name
	}
	return out
}

// values appends the fields of v to dst in schema order: a string, bool, float64,
// time.Time or []string each.
func (t *table[T]) values(dst []any, v *T) []any {
	for _, f := range t.fields {
		switch f.kind {
		case kindString:
			dst = append(dst, *f.str(v))
		case kindBoolean:
			dst = append(dst, *f.boolean(v))
		case kindDouble:
			dst = append(dst, *f.double(v))
		case kindTimestampMillis:
			dst = append(dst, *f.timestamp(v))
		case kindStringArray:
			s := *f.strs(v)
			if s == nil {
				s = []string{}
			}
			dst = append(dst, s)
		}
	}
	return dst
}

// EventFields returns the field names of schemas/cloudtrail_event.avsc in schema order,
// which are also the columns of the ClickHouse events table.
func EventFields() []string { return eventCodec.names() }

// Values appends the fields of e to dst in the order of EventFields.
func (e *Event) Values(dst []any) []any { return eventCodec.values(dst, e) }

// DetectionFields returns the field names of schemas/detection.avsc in schema order, which
// are also the columns of the ClickHouse detections table.
func DetectionFields() []string { return detectionCodec.names() }

// Values appends the fields of d to dst in the order of DetectionFields.
func (d *Detection) Values(dst []any) []any { return detectionCodec.values(dst, d) }
