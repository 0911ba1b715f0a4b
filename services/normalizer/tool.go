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

// Tool is `trailstream normalize [FILE ...]`: it reads records as Events does and writes one
// normalized event per record to stdout: a JSON object a line (keys: the Avro field names,
// every field present) for format "json", or Avro single-object encoded messages back to
// back for format "avro" (each is self-delimiting for a reader with
// schemas/cloudtrail_event.avsc).
func Tool(ctx context.Context, cfg config.Config, format string, files []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if format != "json" && format != "avro" {
		return fmt.Errorf("--format %q: use json or avro", format)
	}
	out := bufio.NewWriterSize(stdout, 256<<10)
	var buf []byte
	err := Events(ctx, cfg, files, stdin, stderr, func(e *model.Event) error {
		var err error
		if format == "avro" {
			if buf, err = model.EncodeEvent(buf[:0], e); err != nil {
				return err
			}
		} else {
			buf = append(e.AppendJSON(buf[:0]), '\n')
		}
		_, err = out.Write(buf)
		return err
	})
	if ferr := out.Flush(); ferr != nil {
		return ferr
	}
	return err
}

// Events reads CloudTrail log files (.json, or .json.gz, with a Records array), JSON lines
// (one record a line) or records one after the other over several lines each
// (pretty-printed), from the files or from stdin (no files, or "-"), normalizes each record
// as the normalizer service does (cfg's environment, geolocation and admin users) and hands
// the events to fn in input order. A record that cannot be read or normalized is reported on
// stderr with its file, place and reason, and the rest of its file is still read; an input
// that cannot be read to its end (truncated, corrupt) is reported with where reading stopped,
// after the records before that. Events goes on with the rest and returns an error once all
// input is read; an error of fn stops it.
func Events(ctx context.Context, cfg config.Config, files []string, stdin io.Reader, stderr io.Writer, fn func(*model.Event) error) error {
	n, closeN, err := newNormalizer(ctx, cfg, false, slog.Default())
	if err != nil {
		return err
	}
	defer closeN()
	bad := 0
	emit := func(name string, kind inputKind, rec cloudtrail.Record) error {
		if rec.Err != nil {
			bad++
			fmt.Fprintf(stderr, "%s: %s: unreadable: %v\n", name, kind.place(rec), rec.Err)
			return nil
		}
		e, err := n.Normalize(rec.Data)
		if err != nil {
			bad++
			fmt.Fprintf(stderr, "%s: %s: %v\n", name, kind.place(rec), err)
			return nil
		}
		return fn(e)
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
		kind, err := readInput(name, stdin, func(kind inputKind, rec cloudtrail.Record) error { return emit(name, kind, rec) })
		if err != nil {
			var stop *cloudtrail.StopError
			if errors.As(err, &stop) {
				err = fmt.Errorf("reading stopped at byte %d, in %s: %w", stop.Offset, kind.place(cloudtrail.Record{Index: stop.Index, Offset: -1}), stop.Err)
			}
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			failed = append(failed, fmt.Errorf("%s: %w", name, err))
		}
	}
	if bad > 0 {
		failed = append(failed, fmt.Errorf("%d records could not be read or normalized (reasons above)", bad))
	}
	return errors.Join(failed...)
}

// inputKind is how an input holds its records.
type inputKind int

const (
	kindTrail  inputKind = iota // a CloudTrail log file: a Records array
	kindLines                   // a record a line
	kindValues                  // records one after the other, over several lines each
)

// place tells where rec is in an input of this kind, for a person: records and lines counted
// from 1, the index (from 0) as Records gives it, and the byte offset when known (>= 0).
func (k inputKind) place(rec cloudtrail.Record) string {
	if k == kindLines {
		return fmt.Sprintf("line %d", rec.Index+1)
	}
	p := fmt.Sprintf("record %d (index %d", rec.Index+1, rec.Index)
	if rec.Offset >= 0 {
		p += fmt.Sprintf(", byte %d", rec.Offset)
	}
	return p + ")"
}

// readInput calls fn with each record of the named input ("-": stdin): a CloudTrail log file
// when it starts with {"Records", else JSON lines, else pretty-printed records; any of them
// may be gzip-compressed. It returns the kind it found, and an error if the input could not
// be read to its end (a *cloudtrail.StopError when that was part-way).
func readInput(name string, stdin io.Reader, fn func(inputKind, cloudtrail.Record) error) (inputKind, error) {
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return kindTrail, err
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReaderSize(&stickyErr{r: in}, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return kindTrail, fmt.Errorf("gunzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(&stickyErr{r: zr}, 64<<10)
	}
	// An error here (a truncated gzip stream) comes back to the reader below, after what
	// was read before it.
	head, _ := br.Peek(br.Size())
	kind := kindValues
	switch {
	case isTrailFile(head):
		kind = kindTrail
	case firstLineIsJSON(head):
		kind = kindLines
	}
	each := func(rec cloudtrail.Record) error { return fn(kind, rec) }
	switch kind {
	case kindTrail:
		return kind, cloudtrail.Records(br, each)
	case kindLines:
		return kind, cloudtrail.Lines(br, each)
	}
	return kind, values(br, each)
}

// stickyErr returns the first error of r ever after, so that an error a Peek met is met
// again by the reader that reads on.
type stickyErr struct {
	r   io.Reader
	err error
}

func (s *stickyErr) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.err = err
	return n, err
}

// firstLineIsJSON tells JSON lines from records written over several lines each: the first
// non-blank line is a whole JSON value (or longer than what was peeked at).
func firstLineIsJSON(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n")
	line, _, found := bytes.Cut(head, []byte("\n"))
	return !found || json.Valid(line)
}

// values calls fn with each of a sequence of JSON values, such as pretty-printed records: a
// value that is not an object is unreadable, and a syntax error, which leaves the values'
// boundaries unknown, stops the input (a *cloudtrail.StopError).
func values(r io.Reader, fn func(cloudtrail.Record) error) error {
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	for i := 0; ; i++ {
		v, err := dec.ReadValue()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &cloudtrail.StopError{Offset: dec.InputOffset(), Index: i, Err: err}
		}
		rec := cloudtrail.Record{Index: i, Offset: dec.InputOffset() - int64(len(v)), Data: bytes.Clone(v)}
		if v.Kind() != '{' {
			rec.Err = cloudtrail.ErrNotObject
		}
		if err := fn(rec); err != nil {
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
