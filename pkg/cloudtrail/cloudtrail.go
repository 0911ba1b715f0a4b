// Package cloudtrail reads CloudTrail log files: gzip-compressed (or plain) JSON objects
// whose "Records" array holds the records. Files are streamed: one record is in memory at
// a time, however large the file.
package cloudtrail

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrNotCloudTrail reports a file that is JSON but not a CloudTrail log file.
var ErrNotCloudTrail = errors.New("not a CloudTrail log file: no Records array")

// Records calls fn with each record of the CloudTrail file read from r, in file order. The
// record is the bytes of the file, unchanged; fn may keep it. A gzip file is recognised by
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
	dec := json.NewDecoder(in)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read CloudTrail file: %w", err)
		}
		if tok != "Records" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("read CloudTrail file: %w", err)
			}
			continue
		}
		found = true
		if err := expectDelim(dec, '['); err != nil {
			return err
		}
		for i := 0; dec.More(); i++ {
			var rec json.RawMessage
			if err := dec.Decode(&rec); err != nil {
				return fmt.Errorf("read CloudTrail record %d: %w", i, err)
			}
			if len(rec) == 0 || rec[0] != '{' {
				return fmt.Errorf("CloudTrail record %d is not a JSON object", i)
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("read CloudTrail file: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("read CloudTrail file: %w", err)
	}
	if !found {
		return ErrNotCloudTrail
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("read CloudTrail file: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w (found %v where %q belongs)", ErrNotCloudTrail, tok, want)
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
