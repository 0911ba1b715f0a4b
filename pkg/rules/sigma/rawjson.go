package sigma

import (
	"strconv"
	"strings"
)

// Reading one field of a raw record by scanning its JSON text costs a fraction of parsing
// the whole record into maps, and allocates nothing. A rule uses it until the record is
// parsed anyway (rules.Input.Parsed): for a field reached through objects only that holds
// a scalar. Anything else (an array on the way, an object or an array at the end, a string
// or key with escapes, JSON that does not read) is left to the parsed record. A record the
// parse would refuse for what the scan does not see (a key given twice, invalid UTF-8) is
// no CloudTrail record; the scan may find values in it that the parse would not.

// rawKind is what scanPath found.
type rawKind uint8

const (
	rawUnknown rawKind = iota // ask the parsed record
	rawAbsent
	rawString
	rawNumber
	rawBool
	rawNull
)

// cand is one value of a field: its kind and text (a string's content, a number as
// written, true or false).
type cand struct {
	kind rawKind
	s    string
}

// value returns the candidate as parsed JSON would give it.
func (c cand) value() any {
	switch c.kind {
	case rawString:
		return c.s
	case rawNumber:
		f, err := strconv.ParseFloat(c.s, 64)
		if err != nil {
			return nil
		}
		return f
	case rawBool:
		return c.s == "true"
	}
	return nil
}

// match reports whether m matches the candidate.
func (c cand) match(m matcher) bool {
	switch c.kind {
	case rawString:
		return m.matchString(c.s)
	case rawBool:
		return m.matchValue(c.s == "true")
	case rawNull:
		return m.matchValue(nil)
	}
	return m.matchValue(c.value())
}

// scanPath finds the value at the dotted path of the JSON object raw, and returns how
// far it read.
func scanPath(raw, path string) (cand, int) {
	end := 0
	c := scanTo(raw, path, &end)
	return c, min(end, len(raw))
}

func scanTo(raw, path string, end *int) cand {
	i := skipSpace(raw, 0)
	defer func() { *end = i }()
	for {
		if i >= len(raw) || raw[i] != '{' {
			return cand{}
		}
		seg, rest, _ := strings.Cut(path, ".")
		i++
		for {
			i = skipSpace(raw, i)
			if i >= len(raw) {
				return cand{}
			}
			if raw[i] == '}' {
				return cand{kind: rawAbsent}
			}
			if raw[i] != '"' {
				return cand{}
			}
			end := strings.IndexByte(raw[i+1:], '"')
			if end < 0 {
				return cand{}
			}
			key := raw[i+1 : i+1+end]
			if strings.IndexByte(key, '\\') >= 0 {
				return cand{}
			}
			i = skipSpace(raw, i+2+end)
			if i >= len(raw) || raw[i] != ':' {
				return cand{}
			}
			i = skipSpace(raw, i+1)
			if key != seg {
				if i = skipValue(raw, i); i < 0 {
					return cand{}
				}
				i = skipSpace(raw, i)
				if i < len(raw) && raw[i] == ',' {
					i++
					continue
				}
				if i < len(raw) && raw[i] == '}' {
					return cand{kind: rawAbsent}
				}
				return cand{}
			}
			if rest == "" {
				return scalarAt(raw, i)
			}
			if i < len(raw) && raw[i] == '{' {
				break // into the object, for the rest of the path
			}
			if i < len(raw) && raw[i] == '[' {
				return cand{}
			}
			if skipValue(raw, i) < 0 {
				return cand{}
			}
			return cand{kind: rawAbsent} // a scalar has no fields
		}
		path = rest
	}
}

// scalarAt reads the scalar at raw[i:].
func scalarAt(raw string, i int) cand {
	if i >= len(raw) {
		return cand{}
	}
	switch c := raw[i]; {
	case c == '"':
		end := strings.IndexByte(raw[i+1:], '"')
		if end < 0 {
			return cand{}
		}
		s := raw[i+1 : i+1+end]
		if strings.IndexByte(s, '\\') >= 0 {
			return cand{}
		}
		return cand{kind: rawString, s: s}
	case strings.HasPrefix(raw[i:], "true"):
		return cand{kind: rawBool, s: "true"}
	case strings.HasPrefix(raw[i:], "false"):
		return cand{kind: rawBool, s: "false"}
	case strings.HasPrefix(raw[i:], "null"):
		return cand{kind: rawNull}
	case c == '-' || ('0' <= c && c <= '9'):
		j := i + 1
		for j < len(raw) && strings.IndexByte("0123456789.eE+-", raw[j]) >= 0 {
			j++
		}
		return cand{kind: rawNumber, s: raw[i:j]}
	}
	return cand{}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i++
	}
	return i
}

// structural marks the bytes skipValue stops at within an object or an array.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipValue returns the end of the JSON value at s[i:], -1 when it does not read.
func skipValue(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch c := s[i]; {
			case !structural[c]:
			case c == '"':
				if i = skipString(s, i); i < 0 {
					return -1
				}
				continue
			case c == '{' || c == '[':
				depth++
			default:
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	for i < len(s) && strings.IndexByte(",}] \t\r\n", s[i]) < 0 {
		i++
	}
	return i
}

// skipString returns the end of the string starting at s[i] (a quote): after the first
// quote not escaped by an odd number of backslashes.
func skipString(s string, i int) int {
	for j := i + 1; ; j++ {
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		n := 0
		for p := j - 1; p > i && s[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
	}
}
