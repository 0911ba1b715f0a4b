// Package cloudtrail reads CloudTrail log files: gzip-compressed (or plain) JSON objects
// whose "Records" array holds the records. Files are streamed: one record is in memory at
// a time, plus a read buffer, however large the file.
//
// One bad record never costs the rest of its file. The elements of the Records array are
// found by a byte scanner that follows strings, escapes and bracket depth only (no recursion
// and no depth limit of its own), so an element that is not an object, is not valid JSON, is
// nested too deeply or is too long is reported alone, as a Record with Err, and reading goes
// on with the next one. Only what leaves the element boundaries unknown stops a file: its
// end (truncated), a corrupt gzip stream, a read error, or a stray closing bracket; that is
// a *StopError, after every record before it was delivered.
package cloudtrail

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// Record is one element of the Records array of a CloudTrail file.
type Record struct {
	Index  int    // its position in the Records array, from 0
	Offset int64  // byte offset of its first byte in the file's JSON (after gunzip)
	Data   []byte // its bytes, unchanged; the callee may keep them. For an unreadable element, its bytes as far as they were read, at most MaxBadBytes
	Err    error  // nil for a readable record: a syntactically valid JSON object. Else why this element is unreadable (not an object, invalid JSON, nested deeper than MaxDepth, longer than MaxRecordBytes); reading goes on with the next element
}

const (
	// MaxRecordBytes: an element longer than this is not held in memory; it is reported
	// (Err) with its first MaxBadBytes bytes and skipped.
	MaxRecordBytes = 32 << 20
	// MaxBadBytes bounds the bytes kept of an unreadable element or tail.
	MaxBadBytes = 1 << 20
	// MaxDepth: an element whose brackets nest deeper than this (the record object itself
	// is depth 1) is reported unreadable, not fatal to the file. Real records nest a few
	// levels; 1000 leaves them room and stays well under the 10,000 that jsontext and
	// encoding/json accept, so every delivered record can be decoded downstream.
	MaxDepth = 1000
)

// The limits, as variables that tests lower to stay fast. maxDepth must not exceed MaxDepth.
var (
	maxRecordBytes = MaxRecordBytes
	maxBadBytes    = MaxBadBytes
	maxDepth       = MaxDepth
)

var (
	// ErrNotCloudTrail reports an input that is not a CloudTrail log file at all: not JSON,
	// or a JSON object without a Records array. Nothing was delivered.
	ErrNotCloudTrail = errors.New("not a CloudTrail log file: no Records array")

	// The reasons of an unreadable Record (Record.Err wraps one of them).
	ErrNotObject   = errors.New("not a JSON object")
	ErrInvalidJSON = errors.New("invalid JSON")
	ErrTooDeep     = fmt.Errorf("nested deeper than %d levels", MaxDepth)
	ErrTooLong     = fmt.Errorf("longer than %d bytes", MaxRecordBytes)
)

// errNoValue: two commas in a row, or a comma before the ']'.
var errNoValue = fmt.Errorf("%w: no value before ',' or ']'", ErrInvalidJSON)

// StopError reports that reading a file stopped before its end: a corrupt or truncated
// gzip stream, a JSON syntax error that leaves the element boundaries unknown, an early EOF.
// Every record before it was delivered.
type StopError struct {
	Offset int64  // byte offset in the file's JSON where reading stopped
	Index  int    // index of the element being read when it stopped (= records seen)
	Tail   []byte // the bytes of that unfinished element, at most MaxBadBytes
	Err    error
}

func (e *StopError) Error() string {
	tail := ""
	if len(e.Tail) > 0 {
		tail = fmt.Sprintf(", %d bytes into it", len(e.Tail))
	}
	return fmt.Sprintf("reading stopped at byte %d, in record index %d%s: %v", e.Offset, e.Index, tail, e.Err)
}

func (e *StopError) Unwrap() error { return e.Err }

// Records calls fn with each element of the Records array of the CloudTrail file read from
// r, in file order; fn decides what to do with unreadable ones (Err set). It returns nil at
// the end of a well-formed file; ErrNotCloudTrail (wrapped) when the input is not a
// CloudTrail file at all (not JSON, no Records array: nothing was delivered); a *StopError
// when reading stopped part-way; fn's error as it is. A read error of r itself is returned
// inside a *StopError too.
//
// A gzip file is recognised by its magic bytes; concatenated gzip members are one stream.
// Keys other than "Records" at the top level are skipped. Duplicate keys and invalid UTF-8
// inside a record are passed on as they are. What follows the file's object must be white
// space: anything else, or a gzip error found there (a bad checksum), is a *StopError too.
func Records(r io.Reader, fn func(Record) error) error {
	br := bufio.NewReaderSize(r, 32<<10)
	src := io.Reader(br)
	magic, err := br.Peek(2)
	if len(magic) < 2 && err != nil && err != io.EOF {
		return &StopError{Err: err}
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return &StopError{Err: fmt.Errorf("gunzip: %w", err)}
		}
		defer zr.Close()
		src = zr
	}
	s := newScanner(src)
	return s.file(fn)
}

// file reads the top-level object of a CloudTrail file.
func (s *scanner) file(fn func(Record) error) error {
	if !s.skipWS() {
		if s.err == io.EOF {
			return fmt.Errorf("%w: the input is empty", ErrNotCloudTrail)
		}
		return s.stop(nil, nil)
	}
	if c := s.buf[s.pos]; c != '{' {
		return fmt.Errorf("%w: %s at byte %d, where a JSON object should begin", ErrNotCloudTrail, quoteChar(c), s.offset())
	}
	s.pos++
	found := false // a Records array was begun: from then on, errors are StopErrors
	syntax := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if !found {
			return fmt.Errorf("%w: %s at byte %d", ErrNotCloudTrail, msg, s.offset())
		}
		return s.stop(nil, fmt.Errorf("%w: %s", ErrInvalidJSON, msg))
	}
	for first := true; ; first = false {
		if !s.skipWS() {
			return s.stop(nil, nil)
		}
		c := s.buf[s.pos]
		if c == '}' && first {
			s.pos++
			break
		}
		if c != '"' {
			return syntax("%s where a name belongs", quoteChar(c))
		}
		name, ok := s.name()
		if !ok {
			return s.stop(nil, nil)
		}
		if !s.skipWS() {
			return s.stop(nil, nil)
		}
		if c := s.buf[s.pos]; c != ':' {
			return syntax("%s after a name", quoteChar(c))
		}
		s.pos++
		if !s.skipWS() {
			return s.stop(nil, nil)
		}
		if name == "Records" {
			if c := s.buf[s.pos]; c != '[' {
				if !found {
					return fmt.Errorf("%w: Records is not an array (%s at byte %d)", ErrNotCloudTrail, quoteChar(c), s.offset())
				}
				return syntax("%s where a second Records array begins", quoteChar(c))
			}
			s.pos++
			found = true
			if err := s.array(fn); err != nil {
				return err
			}
			if !s.skipWS() {
				return s.stop(nil, nil)
			}
			c = s.buf[s.pos]
			if c == ',' || c == '}' {
				s.pos++
			}
		} else if c = s.skip(); c == 0 {
			return s.stop(nil, nil)
		}
		if c == '}' {
			break
		}
		if c != ',' {
			return syntax("%s after a value", quoteChar(c))
		}
	}
	if !found {
		return ErrNotCloudTrail
	}
	// Read on to the end, so that a gzip checksum is checked and nothing follows unseen.
	if s.skipWS() {
		return s.stop(nil, fmt.Errorf("%w: %s after the end of the file's JSON object", ErrInvalidJSON, quoteChar(s.buf[s.pos])))
	}
	if s.err != io.EOF {
		return s.stop(nil, nil)
	}
	return nil
}

// array reads the elements of the Records array, just after its '[', and its ']'.
func (s *scanner) array(fn func(Record) error) error {
	for first := true; ; first = false {
		if !s.skipWS() {
			return s.stop(nil, nil)
		}
		var (
			rec  Record
			term byte
			stop *StopError
		)
		switch c := s.buf[s.pos]; {
		case c == ']' && first:
			s.pos++
			return nil
		case c == ',' || c == ']':
			// Nothing between two commas, or a comma before the ']'.
			rec = Record{Index: s.index, Offset: s.offset(), Data: []byte{}, Err: errNoValue}
			term = c
			s.pos++
		case c == '{':
			rec, term, stop = s.object(']')
		default:
			rec, term, stop = s.bad(']', ErrNotObject)
		}
		if rec.Data != nil {
			s.index++
			if err := fn(rec); err != nil {
				return err
			}
		}
		if stop != nil {
			return stop
		}
		if term == ']' {
			return nil
		}
	}
}

// name reads the name of a member of the top-level object (s.pos is at its '"') and what
// it says, unquoted if it has escapes; names much longer than "Records" are not kept whole.
func (s *scanner) name() (string, bool) {
	const keep = 64 // "Records" with every letter escaped is 42 bytes
	var b [keep + 2]byte
	n := copy(b[:], `"`)
	s.pos++
	escaped, esc := false, false
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			s.pos++
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc, escaped = true, true
			case c == '"':
				if n > keep {
					return "", true // too long to be Records
				}
				if !escaped {
					return string(b[1:n]), true
				}
				b[n] = '"'
				name, err := jsontext.AppendUnquote(nil, b[:n+1])
				if err != nil {
					return "", true
				}
				return string(name), true
			}
			if n <= keep {
				b[n] = c
				n++
			}
		}
		if !s.more() {
			return "", false
		}
	}
}

// quoteChar shows a byte of JSON in an error message.
func quoteChar(c byte) string {
	if c >= ' ' && c < 0x7f && c != '\'' {
		return "'" + string(c) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// Lines calls fn with each record of JSON-lines input: one record a line, blank lines
// skipped. It is the counterpart of Records for exported or hand-written records. A
// Record's Index is its line's, from 0 and counting blank lines. A line that is not a JSON
// object, or longer than MaxRecordBytes, is an unreadable Record and reading goes on. Lines
// returns nil at the end of the input, fn's error as it is, or a *StopError when reading
// the input failed (its Tail the line it was in).
func Lines(r io.Reader, fn func(Record) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		v    validator
		long []byte // a line longer than br's buffer, gathered
		off  int64
	)
	for index := 0; ; index++ {
		start := off
		line, err := br.ReadSlice('\n')
		off += int64(len(line))
		over := false
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				off += int64(len(line))
				if !over && len(long)+len(line) > maxRecordBytes {
					over = true
					long = long[:min(len(long), maxBadBytes)]
				}
				if over {
					line = line[:min(len(line), maxBadBytes-len(long))]
				}
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return &StopError{Offset: off, Index: index, Tail: bytes.Clone(line[:min(len(line), maxBadBytes)]), Err: err}
		}
		lead := len(line) - len(bytes.TrimLeft(line, " \t\r\n"))
		line = line[lead:]
		if !over {
			line = bytes.TrimRight(line, " \t\r\n")
		}
		if len(line) > 0 {
			rec := Record{Index: index, Offset: start + int64(lead)}
			switch {
			case over:
				rec.Err = ErrTooLong
			case line[0] != '{':
				rec.Err = ErrNotObject
			default:
				n, verr := v.object(line)
				switch {
				case verr == errShort:
					rec.Err = fmt.Errorf("%w: the line ends inside the object", ErrInvalidJSON)
				case verr != nil:
					rec.Err = verr
				case n < len(line):
					rec.Err = fmt.Errorf("%w: %s after the object, at byte %d", ErrInvalidJSON, quoteChar(line[n]), n)
				}
			}
			if rec.Err != nil {
				line = line[:min(len(line), maxBadBytes)]
			}
			rec.Data = bytes.Clone(line)
			if err := fn(rec); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}
