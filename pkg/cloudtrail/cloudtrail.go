// Package cloudtrail reads CloudTrail log files: gzip-compressed (or plain) JSON objects
// whose "Records" array holds the records. Files are streamed: one record is in memory at
// a time, however large the file.
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

// ErrNotCloudTrail reports a file that is JSON but not a CloudTrail log file.
var ErrNotCloudTrail = errors.New("not a CloudTrail log file: no Records array")

// Records calls fn with each record of the CloudTrail file read from r, in file order. The
// record is the bytes of the file, unchanged; fn may keep it. Duplicate keys and invalid
// UTF-8 inside a record are passed on as they are, not rejected. A gzip file is recognised by
// its magic bytes. Records stops at the first error, fn's included.
func Records(r io.Reader, fn func(record []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	in := io.Reader(br)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		defer zr.Close()
		in = zr
	}
	dec := jsontext.NewDecoder(in, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if err := expect(dec, '{'); err != nil {
		return err
	}
	found := false
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return fmt.Errorf("read CloudTrail file: %w", err)
		}
		if name.String() != "Records" {
			if err := dec.SkipValue(); err != nil {
				return fmt.Errorf("read CloudTrail file: %w", err)
			}
			continue
		}
		found = true
		if err := expect(dec, '['); err != nil {
			return err
		}
		for i := 0; dec.PeekKind() != ']'; i++ {
			rec, err := dec.ReadValue()
			if err != nil {
				return fmt.Errorf("read CloudTrail record %d: %w", i, err)
			}
			if rec.Kind() != '{' {
				return fmt.Errorf("CloudTrail record %d is not a JSON object", i)
			}
			if err := fn(bytes.Clone(rec)); err != nil {
				return err
			}
		}
		if _, err := dec.ReadToken(); err != nil {
			return fmt.Errorf("read CloudTrail file: %w", err)
		}
	}
	if err := expect(dec, '}'); err != nil {
		return err
	}
	if !found {
		return ErrNotCloudTrail
	}
	return nil
}

// expect reads the next token, which must be the delimiter want.
func expect(dec *jsontext.Decoder, want jsontext.Kind) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotCloudTrail, err)
	}
	if tok.Kind() != want {
		return fmt.Errorf("%w (found %v where %v belongs)", ErrNotCloudTrail, tok.Kind(), want)
	}
	return nil
}

// Lines calls fn with each record of JSON-lines input: one record per line, blank lines
// skipped. It is the counterpart of Records for exported or hand-written records.
func Lines(r io.Reader, fn func(record []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(bytes.Clone(line)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read JSON lines: %w", err)
	}
	return nil
}
