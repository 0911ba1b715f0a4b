package model

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// jsonTime is the layout of times in JSON: RFC 3339 in UTC with milliseconds.
const jsonTime = "2006-01-02T15:04:05.000Z07:00"

// appendJSON appends v as a JSON object keyed by the Avro field names, in schema order.
// Doubles that JSON cannot hold are the strings "NaN", "Infinity" and "-Infinity".
func (t *table[T]) appendJSON(buf []byte, v *T) []byte {
	buf = append(buf, '{')
	for i := range t.fields {
		f := &t.fields[i]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, f.name)
		buf = append(buf, ':')
		switch f.kind {
		case kindString:
			buf = appendJSONString(buf, *f.str(v))
		case kindBoolean:
			buf = strconv.AppendBool(buf, *f.boolean(v))
		case kindDouble:
			switch x := *f.double(v); {
			case math.IsNaN(x):
				buf = append(buf, `"NaN"`...)
			case math.IsInf(x, 1):
				buf = append(buf, `"Infinity"`...)
			case math.IsInf(x, -1):
				buf = append(buf, `"-Infinity"`...)
			default:
				buf = strconv.AppendFloat(buf, x, 'g', -1, 64)
			}
		case kindTimestampMillis:
			buf = append(buf, '"')
			buf = f.timestamp(v).UTC().AppendFormat(buf, jsonTime)
			buf = append(buf, '"')
		case kindStringArray:
			buf = append(buf, '[')
			for j, s := range *f.strs(v) {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = appendJSONString(buf, s)
			}
			buf = append(buf, ']')
		}
	}
	return append(buf, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does with HTML
// escaping off: invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are escaped.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
