package model

import (
	"math"
	"strconv"
	"time"
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
		buf = append(buf, t.keys[i]...)
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
			buf = appendJSONTime(buf, *f.timestamp(v))
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

// appendJSONTime appends t in the layout jsonTime; digit by digit for the years 0 to
// 9999, as AppendFormat takes three times as long.
func appendJSONTime(buf []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(buf, jsonTime)
	}
	hour, min, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	return append(buf,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
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
