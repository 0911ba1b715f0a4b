package cloudtrail

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// bufSize is the scanner's buffer to begin with; it grows for a record longer than that,
// up to maxRecordBytes and one more read.
const bufSize = 32 << 10

// scanner finds the elements of a CloudTrail file in the bytes read from src. It holds
// buf[pos:end], the bytes not yet consumed; an element being read stays in buf from its
// first byte, so that it is contiguous when it is complete.
type scanner struct {
	src      io.Reader
	buf      []byte
	pos, end int
	base     int64 // offset in the JSON of buf[0]
	err      error // of src, once it returned one (io.EOF at its end)
	index    int   // of the next element of the Records array
	v        validator
}

func newScanner(src io.Reader) *scanner {
	return &scanner{src: src, buf: make([]byte, bufSize)}
}

// offset is that of buf[pos] in the JSON.
func (s *scanner) offset() int64 { return s.base + int64(s.pos) }

// more reads from src, after moving buf[pos:end] to the front of buf (which grows if that
// fills it), until buf is full or src fails. It tells whether it read anything.
func (s *scanner) more() bool {
	if s.err != nil {
		return false
	}
	if s.pos > 0 {
		s.end = copy(s.buf, s.buf[s.pos:s.end])
		s.base += int64(s.pos)
		s.pos = 0
	}
	if s.end == len(s.buf) {
		buf := make([]byte, min(2*len(s.buf), maxRecordBytes+bufSize))
		s.end = copy(buf, s.buf[:s.end])
		s.buf = buf
	}
	start := s.end
	for empty := 0; s.end < len(s.buf); {
		n, err := s.src.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
			break
		}
		if n > 0 {
			empty = 0
		} else if empty++; empty == 100 {
			s.err = io.ErrNoProgress
			break
		}
	}
	return s.end > start
}

// skipWS consumes white space and tells whether a byte follows.
func (s *scanner) skipWS() bool {
	for {
		for s.pos < s.end && isWS(s.buf[s.pos]) {
			s.pos++
		}
		if s.pos < s.end {
			return true
		}
		if !s.more() {
			return false
		}
	}
}

func isWS(c byte) bool { return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t') }

// stop reports that reading stopped at buf[pos] with tail the unfinished element; err nil
// means the data ended: src's error or, at a clean EOF, io.ErrUnexpectedEOF.
func (s *scanner) stop(tail []byte, err error) *StopError {
	if err == nil {
		err = s.err
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	}
	return &StopError{Offset: s.offset(), Index: s.index, Tail: bytes.Clone(tail[:min(len(tail), maxBadBytes)]), Err: err}
}

// object reads an element that begins with '{' (at buf[pos]) and the ',' or closer after
// it. It returns the element (Data nil if there is none) and the byte that ended it, or a
// StopError; both when the element was read whole before reading stopped.
func (s *scanner) object(closer byte) (Record, byte, *StopError) {
	rec := Record{Index: s.index, Offset: s.offset()}
	n := -1 // length of the object, once it was found valid
	for {
		b := s.buf[s.pos:s.end]
		if n < 0 {
			var err error
			switch n, err = s.v.object(b); {
			case err == errShort:
				n = -1
			case err != nil:
				return s.bad(closer, err)
			case n > maxRecordBytes:
				return s.bad(closer, ErrTooLong)
			}
		}
		if n >= 0 {
			j := n
			for j < len(b) && isWS(b[j]) {
				j++
			}
			if j < len(b) {
				switch c := b[j]; c {
				case ',', closer:
					rec.Data = bytes.Clone(b[:n])
					s.pos += j + 1
					return rec, c, nil
				case '}', ']':
					// The wrong closing bracket: the file is broken after a good record.
					rec.Data = bytes.Clone(b[:n])
					s.pos += j
					stop := s.stop(nil, fmt.Errorf("%w: %s where ',' or %s belongs", ErrInvalidJSON, quoteChar(c), quoteChar(closer)))
					stop.Index++ // that record was seen
					return rec, 0, stop
				default:
					return s.bad(closer, fmt.Errorf("%w: %s after the object, at byte %d", ErrInvalidJSON, quoteChar(c), j))
				}
			}
		}
		if len(b) > maxRecordBytes {
			return s.bad(closer, ErrTooLong)
		}
		if !s.more() {
			b = s.buf[s.pos:s.end]
			if n < 0 {
				s.pos = s.end
				return Record{}, 0, s.stop(b, nil)
			}
			// The object is whole; what would follow it is missing.
			rec.Data = bytes.Clone(b[:n])
			s.pos = s.end
			stop := s.stop(nil, nil)
			stop.Index++ // that record was seen
			return rec, 0, stop
		}
	}
}

// bad reads an unreadable element (from buf[pos]) to the ',' or closer that ends it, keeping
// its first maxBadBytes bytes, and returns it with Err reason. It stops (a StopError) at
// the end of the data or at the wrong closing bracket, where the boundaries are lost.
func (s *scanner) bad(closer byte, reason error) (Record, byte, *StopError) {
	rec := Record{Index: s.index, Offset: s.offset(), Err: reason}
	var l lenient
	data := []byte{}
	for {
		b := s.buf[s.pos:s.end]
		k := l.scan(b)
		part := b
		if k >= 0 {
			part = b[:k]
		}
		data = append(data, part[:min(len(part), maxBadBytes-len(data))]...)
		if k < 0 {
			s.pos = s.end
			if !s.more() {
				return Record{}, 0, s.stop(data, nil)
			}
			continue
		}
		s.pos += k
		c := b[k]
		if c != ',' && c != closer {
			return Record{}, 0, s.stop(data, fmt.Errorf("%w: %s where ',' or %s belongs", ErrInvalidJSON, quoteChar(c), quoteChar(closer)))
		}
		s.pos++
		if len(data) < maxBadBytes {
			data = bytes.TrimRight(data, " \t\r\n")
		}
		rec.Data = data
		return rec, c, nil
	}
}

// skip consumes a value of the top-level object and the ',' or '}' after it, which it
// returns; ']' (not consumed) when that ended it, 0 when the data did.
func (s *scanner) skip() byte {
	var l lenient
	for {
		if k := l.scan(s.buf[s.pos:s.end]); k >= 0 {
			s.pos += k
			c := s.buf[s.pos]
			if c != ']' {
				s.pos++
			}
			return c
		}
		s.pos = s.end
		if !s.more() {
			return 0
		}
	}
}

// lenient follows strings, escapes and bracket depth, nothing else, over as many pieces of
// input as it takes, to find where an element of unknown validity ends.
type lenient struct {
	depth    int
	str, esc bool
}

// scan returns the index in b of the ',', '}' or ']' at depth 0 outside strings that ends
// the element, or -1 if b ends first.
func (l *lenient) scan(b []byte) int {
	nq, nb := -1, -1 // the next '"' and '\\' in b (len(b): none) once looked for
	for i := 0; i < len(b); i++ {
		c := b[i]
		if l.str {
			switch {
			case l.esc:
				l.esc = false
			case c == '\\':
				l.esc = true
			case c == '"':
				l.str = false
			default:
				// Skip to the next quote or backslash, each looked for afresh only once
				// passed, lest a long string of escapes take quadratic time.
				if nq < i {
					nq = next(b, i, '"')
				}
				if nb < i {
					nb = next(b, i, '\\')
				}
				i = min(nq, nb) - 1
			}
			continue
		}
		switch c {
		case '"':
			l.str = true
		case '{', '[':
			l.depth++
		case '}', ']':
			if l.depth == 0 {
				return i
			}
			l.depth--
		case ',':
			if l.depth == 0 {
				return i
			}
		}
	}
	return -1
}

// next is the index of the first c in b from i, or len(b).
func next(b []byte, i int, c byte) int {
	if k := bytes.IndexByte(b[i:], c); k >= 0 {
		return i + k
	}
	return len(b)
}

// errShort: the input ends before the object does.
var errShort = errors.New("unexpected end of input")

// validator checks that bytes are a JSON object, as jsontext does with AllowDuplicateNames
// and AllowInvalidUTF8: names are not compared and string bytes are not decoded, but
// control characters and bad escapes are errors. It nests up to maxDepth levels, keeping
// which containers are objects in a bit stack instead of recursing.
type validator struct {
	objects [MaxDepth/64 + 1]uint64 // bit d: the container at depth d is an object
}

// object returns the length of the object at the start of b (b[0] is '{'), or errShort if b
// ends first, or why it is not valid (wrapping ErrInvalidJSON or ErrTooDeep).
func (v *validator) object(b []byte) (int, error) {
	var (
		i     = 1
		depth = 1
		obj   = true // the innermost container is an object
		err   error
		c     byte
	)
	v.objects[0] = 1 << 1
objectStart: // just after a '{'
	i = ws(b, i)
	if i >= len(b) {
		return 0, errShort
	}
	if b[i] == '}' {
		i++
		goto closed
	}
name: // at the '"' of a name
	if b[i] != '"' {
		return 0, invalid(b, i, "where a name belongs")
	}
	if i, err = str(b, i+1); err != nil {
		return 0, err
	}
	if i = ws(b, i); i >= len(b) {
		return 0, errShort
	}
	if b[i] != ':' {
		return 0, invalid(b, i, "after a name")
	}
	i++
value: // before a value
	if i = ws(b, i); i >= len(b) {
		return 0, errShort
	}
	switch c = b[i]; c {
	case '"':
		if i, err = str(b, i+1); err != nil {
			return 0, err
		}
	case '{', '[':
		if depth++; depth > maxDepth {
			return 0, fmt.Errorf("%w (at byte %d)", ErrTooDeep, i)
		}
		w, bit := depth>>6, uint64(1)<<(depth&63)
		i++
		if c == '{' {
			v.objects[w] |= bit
			obj = true
			goto objectStart
		}
		v.objects[w] &^= bit
		obj = false
		if i = ws(b, i); i >= len(b) {
			return 0, errShort
		}
		if b[i] == ']' {
			i++
			goto closed
		}
		goto value
	case 't', 'f', 'n':
		lit := "null"
		if c == 't' {
			lit = "true"
		} else if c == 'f' {
			lit = "false"
		}
		if len(b)-i < len(lit) {
			return 0, errShort
		}
		if string(b[i:i+len(lit)]) != lit {
			return 0, invalid(b, i, "in a literal")
		}
		i += len(lit)
	default:
		if i, err = number(b, i); err != nil {
			return 0, err
		}
	}
	goto after
closed: // after a '}' or ']'
	if depth--; depth == 0 {
		return i, nil
	}
	obj = v.objects[depth>>6]&(1<<(depth&63)) != 0
after: // after a value, inside a container
	if i = ws(b, i); i >= len(b) {
		return 0, errShort
	}
	switch c = b[i]; {
	case c == ',':
		i++
		if obj {
			if i = ws(b, i); i >= len(b) {
				return 0, errShort
			}
			goto name
		}
		goto value
	case c == '}' && obj, c == ']' && !obj:
		i++
		goto closed
	}
	return 0, invalid(b, i, "after a value")
}

func invalid(b []byte, i int, where string) error {
	return fmt.Errorf("%w: %s %s, at byte %d", ErrInvalidJSON, quoteChar(b[i]), where, i)
}

func ws(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// plain tells the bytes a string holds as they are: all but '"', '\\' and control characters.
var plain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= ' ' && c != '"' && c != '\\'
	}
	return t
}()

// str returns the index after the string whose contents begin at b[i].
func str(b []byte, i int) (int, error) {
	const (
		ones   = 0x0101010101010101
		highs  = 0x8080808080808080
		quotes = '"' * ones
		backsl = '\\' * ones
	)
	for {
		// Eight bytes at a time while none is special: a byte of x below 0x20, or 0 in
		// x^quotes or x^backsl, sets its high bit in t, and the lowest bit set in t is
		// always a real one.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			q, e := x^quotes, x^backsl
			t := ((x-' '*ones) & ^x | (q-ones)&^q | (e-ones)&^e) & highs
			if t != 0 {
				i += bits.TrailingZeros64(t) >> 3
				break
			}
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, errShort
		}
		switch b[i] {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 >= len(b) {
				return 0, errShort
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return 0, errShort
				}
				for _, h := range b[i+2 : i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, fmt.Errorf("%w: bad escape %q in a string, at byte %d", ErrInvalidJSON, b[i:i+6], i)
					}
				}
				i += 6
			default:
				return 0, fmt.Errorf("%w: bad escape %q in a string, at byte %d", ErrInvalidJSON, b[i:i+2], i)
			}
		default:
			return 0, invalid(b, i, "in a string")
		}
	}
}

// number returns the index after the number that begins at b[i].
func number(b []byte, i int) (int, error) {
	digits := func() {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if b[i] == '-' {
		if i++; i >= len(b) {
			return 0, errShort
		}
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		digits()
	default:
		return 0, invalid(b, i, "where a value belongs")
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) {
			return 0, errShort
		}
		if b[i] < '0' || b[i] > '9' {
			return 0, invalid(b, i, "in a number")
		}
		digits()
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			return 0, errShort
		}
		if b[i] < '0' || b[i] > '9' {
			return 0, invalid(b, i, "in a number")
		}
		digits()
	}
	if i >= len(b) {
		return 0, errShort // inside a container, something must follow
	}
	return i, nil
}
