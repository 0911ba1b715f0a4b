package cloudtrail

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// oldRecords is Records as it was before it read record by record (one jsontext.Decoder,
// stopping at the first error), the reference of FuzzRecords: what it delivered, the new
// one must deliver too.
func oldRecords(r io.Reader, fn func([]byte)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	in := io.Reader(br)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		in = zr
	}
	dec := jsontext.NewDecoder(in, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return ErrNotCloudTrail
	}
	found := false
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if name.String() != "Records" {
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		found = true
		if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
			return ErrNotCloudTrail
		}
		for dec.PeekKind() != ']' {
			rec, err := dec.ReadValue()
			if err != nil {
				return err
			}
			if rec.Kind() != '{' {
				return ErrNotObject
			}
			fn(bytes.Clone(rec))
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return ErrNotCloudTrail
	}
	if !found {
		return ErrNotCloudTrail
	}
	return nil
}
