package normalizer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/trailstream/trailstream/pkg/cloudtrail"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/model"
)

// Tool is `trailstream normalize [FILE ...]`: it reads CloudTrail log files (.json, or
// .json.gz, with a Records array), JSON lines (one record a line) or records one after the
// other over several lines each (pretty-printed), from the files or from stdin, and writes one normalized event per record to stdout: a JSON object a line (keys:
// the Avro field names, every field present) for format "json", or Avro single-object
// encoded messages back to back for format "avro" (each is self-delimiting for a reader with
// schemas/cloudtrail_event.avsc). A record that cannot be normalized is reported on stderr
// with its place and reason, as is an input that cannot be read; Tool goes on with the rest
// and returns an error once all input is read.
func Tool(ctx context.Context, cfg config.Config, format string, files []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if format != "json" && format != "avro" {
		return fmt.Errorf("--format %q: use json or avro", format)
	}
	n, closeN, err := newNormalizer(ctx, cfg, false, slog.Default())
	if err != nil {
		return err
	}
	defer closeN()
	out := bufio.NewWriterSize(stdout, 256<<10)
	var buf []byte
	bad := 0
	emit := func(where string, i int) func([]byte) error {
		return func(rec []byte) error {
			i++
			e, err := n.Normalize(rec)
			if err != nil {
				bad++
				fmt.Fprintf(stderr, "%s: record %d: %v\n", where, i, err)
				return nil
			}
			if format == "avro" {
				buf, err = model.EncodeEvent(buf[:0], e)
				if err != nil {
					return err
				}
			} else {
				buf = append(e.AppendJSON(buf[:0]), '\n')
			}
			_, err = out.Write(buf)
			return err
		}
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	var failed []error
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			failed = append(failed, err)
			break
		}
		if err := readInput(name, stdin, emit(name, 0)); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			failed = append(failed, fmt.Errorf("%s: %w", name, err))
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if bad > 0 {
		failed = append(failed, fmt.Errorf("%d records could not be normalized (reasons above)", bad))
	}
	return errors.Join(failed...)
}

// readInput calls fn with each record of the named input ("-": stdin): a CloudTrail log file
// when it starts with {"Records", else JSON lines; either may be gzip-compressed.
func readInput(name string, stdin io.Reader, fn func([]byte) error) error {
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReaderSize(in, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	head, err := br.Peek(br.Size())
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return err
	}
	switch {
	case isTrailFile(head):
		return cloudtrail.Records(br, fn)
	case firstLineIsJSON(head):
		return cloudtrail.Lines(br, fn)
	}
	return values(br, fn)
}

// firstLineIsJSON tells JSON lines from records written over several lines each: the first
// non-blank line is a whole JSON value (or longer than what was peeked at).
func firstLineIsJSON(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n")
	line, _, found := bytes.Cut(head, []byte("\n"))
	return !found || json.Valid(line)
}

// values calls fn with each of a sequence of JSON values, such as pretty-printed records.
func values(r io.Reader, fn func([]byte) error) error {
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	for {
		v, err := dec.ReadValue()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read JSON: %w", err)
		}
		if err := fn(bytes.Clone(v)); err != nil {
			return err
		}
	}
}

// isTrailFile tells the start of a CloudTrail log file: an object whose first key is Records.
func isTrailFile(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || head[0] != '{' {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(head[1:], " \t\r\n"), []byte(`"Records"`))
}
