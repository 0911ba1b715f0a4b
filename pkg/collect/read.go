// Package collect reads CloudTrail objects, whichever way they were found (a notification, a
// scan, backfill, a local import, healing a gap): a log or Insights file becomes one raw
// message per record, a digest becomes its listing in the ledger, anything else is skipped
// with its reason, and every object ends as a row of the ledger of files (pkg/ledger).
//
// Every readable record of a file is produced, whatever else the file holds: a record that
// cannot be read, or that is too large for the raw topic, goes to the dead-letter topic alone
// with the file's bucket and key and its index in the file, and a file whose end is corrupt
// or truncated has its records up to there produced and the rest reported with the byte
// offset where reading stopped. A file that cannot be read at all is reported on the
// dead-letter topic with its bucket and key, and recorded as failed.
package collect

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/cloudtrail"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/digest"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/layout"
	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/sources"
)

// chunk is how many records are produced at once; it bounds the memory a file takes.
const chunk = 500

// Raw is where records go: the raw topic (a *kafkautil.Writer), or, for a local import
// without Kafka, the normalizer and sink in process.
type Raw interface {
	// Write delivers msgs; rejected are those no retry can deliver (too large), err a
	// failure that may pass.
	Write(ctx context.Context, msgs ...kafka.Message) (rejected []kafkautil.Rejected, err error)
}

// Reader reads objects. Its fields are set once, before the first read.
type Reader struct {
	Raw Raw
	// Dead reports what cannot be processed (the dead-letter topic); an error may pass.
	Dead    func(ctx context.Context, entries []deadletter.Entry) error
	Ledger  *ledger.Ledger
	Exclude *Filter // nil: every record is produced
	// Reread reads objects the ledger already has.
	Reread bool
	Log    *slog.Logger
	// Stage names the reader in its dead-letter entries; "" is "fetcher".
	Stage string

	mu       sync.Mutex
	inFlight map[string]bool
	// recent are the objects this reader recorded lately, oldest first: an object checked
	// against the ledger before another path of this process recorded it is not read twice.
	recent     map[string]bool
	recentList []string
}

// recentMax bounds Reader.recent.
const recentMax = 1 << 14

// Object is one object to read.
type Object struct {
	Source sources.Source // its ID and environment go with every record
	Bucket string
	Key    string
	Path   string // ledger.Path*
	// Checked says the caller looked the object up in the ledger already.
	Checked bool
	// Listed, when set, names the files a digest lists as the ledger knows them: a local
	// import keys files otherwise than their S3 bucket and key.
	Listed func(bucket, key string) (string, string)
}

// Result is what became of an object.
type Result struct {
	Kind     layout.Kind
	Outcome  string // ledger.Outcome*; "" when the object was not read (Seen)
	Records  int    // produced
	Dead     int    // records sent to the dead-letter topic
	Excluded int    // records dropped by the Exclude filter
	Bytes    int64  // of the object as stored
	// Seen: the ledger has the object already, and it was not read again.
	Seen bool
}

// Transient marks a failure that may pass (S3, Kafka, ClickHouse): the object should be read
// again later.
type Transient struct{ error }

func (e Transient) Unwrap() error { return e.error }

// ErrInFlight: the object is being read by this process already.
var ErrInFlight = Transient{errors.New("being read already")}

// Get reads o from S3 with client. The error, a Transient, is returned only when o should be
// read again later; every other outcome is in the ledger.
func (r *Reader) Get(ctx context.Context, client *s3.Client, o Object) (Result, error) {
	res, stored, err := r.Start(ctx, client, o)
	if err == nil {
		err = stored(ctx)
	}
	return res, err
}

// Stored waits until the ledger row of an object read is stored; its error is a Transient.
type Stored func(ctx context.Context) error

// Start is Get without waiting for the ledger, which stores many objects' rows at once:
// the object is read when Start returns without an error, and recorded once stored returns
// nil. Whoever acknowledges the object (deletes its notification, moves a checkpoint past it)
// must wait for stored first.
func (r *Reader) Start(ctx context.Context, client *s3.Client, o Object) (Result, Stored, error) {
	return r.read(ctx, o, func(ctx context.Context) (io.ReadCloser, *int64, error) {
		// The request is given up when S3 sends nothing for StallTimeout while the reader
		// waits for it (not while it writes the records).
		sctx, cancel := context.WithCancelCause(ctx)
		guard := time.AfterFunc(StallTimeout, func() { cancel(ErrStalled) })
		out, err := client.GetObject(sctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)})
		guard.Stop()
		if err != nil {
			cancel(nil)
			var re *awshttp.ResponseError
			if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 {
				metrics.S3Errors.WithLabelValues(clientErrorKind(re.HTTPStatusCode())).Inc()
				return nil, nil, fmt.Errorf("get s3://%s/%s: %w", o.Bucket, o.Key, err)
			}
			if context.Cause(sctx) == ErrStalled {
				metrics.S3Errors.WithLabelValues("stalled").Inc()
			} else if ctx.Err() == nil {
				metrics.S3Errors.WithLabelValues("server").Inc()
			}
			return nil, nil, Transient{fmt.Errorf("get s3://%s/%s: %w", o.Bucket, o.Key, stallCause(sctx, err))}
		}
		return &guarded{body: out.Body, guard: guard, ctx: sctx, cancel: cancel}, out.ContentLength, nil
	})
}

// clientErrorKind is the kind of S3 error (metrics.S3Errors) of a 4xx answer.
func clientErrorKind(status int) string {
	switch status {
	case 404:
		return "not_found"
	case 403:
		return "access_denied"
	}
	return "client"
}

// StallTimeout is how long a request for an S3 object may go without an answer or without
// more of the object before it is given up and the file read again later: a connection that
// stopped answering would otherwise hold its notification for good.
var StallTimeout = time.Minute

// ErrStalled is the cause of a request given up after StallTimeout.
var ErrStalled = errors.New("S3 sent nothing for the stall timeout")

// stallCause returns err, naming the stall when that is why the request of ctx ended.
func stallCause(ctx context.Context, err error) error {
	if context.Cause(ctx) == ErrStalled {
		return fmt.Errorf("%w (%s): %w", ErrStalled, StallTimeout, err)
	}
	return err
}

// guarded is an S3 object's body whose every read runs under the stall guard.
type guarded struct {
	body   io.ReadCloser
	guard  *time.Timer
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (g *guarded) Read(p []byte) (int, error) {
	g.guard.Reset(StallTimeout)
	n, err := g.body.Read(p)
	g.guard.Stop()
	if err != nil && err != io.EOF {
		err = stallCause(g.ctx, err)
	}
	return n, err
}

func (g *guarded) Close() error {
	err := g.body.Close()
	g.cancel(nil)
	return err
}

// From reads o's content from body, as Get does (a local import).
func (r *Reader) From(ctx context.Context, body io.Reader, o Object) (Result, error) {
	res, stored, err := r.read(ctx, o, func(context.Context) (io.ReadCloser, *int64, error) { return io.NopCloser(body), nil, nil })
	if err == nil {
		err = stored(ctx)
	}
	return res, err
}

type opener func(ctx context.Context) (io.ReadCloser, *int64, error)

// done is the Stored of an object nothing is recorded for.
func done(context.Context) error { return nil }

func (r *Reader) read(ctx context.Context, o Object, open opener) (Result, Stored, error) {
	k := layout.Parse(o.Key)
	res := Result{Kind: k.Kind}
	if !r.claim(o) {
		return res, nil, ErrInFlight
	}
	released := false
	release := func() {
		if !released {
			released = true
			r.release(o)
		}
	}
	defer release()
	if !r.Reread && o.Checked && r.wasRecent(o) {
		res.Seen = true
		metrics.Files.WithLabelValues(o.Path, "seen").Inc()
		return res, done, nil
	}
	if !r.Reread && !o.Checked {
		seen, err := r.Ledger.Has(ctx, o.Bucket, o.Key)
		if err != nil {
			return res, nil, Transient{err}
		}
		if seen {
			res.Seen = true
			metrics.Files.WithLabelValues(o.Path, "seen").Inc()
			return res, done, nil
		}
	}
	// The object stays claimed until its row is stored, so that no other path of this
	// process reads it meanwhile.
	record := func(e ledger.Entry) Stored {
		released = true
		p := r.Ledger.Add(e)
		return func(ctx context.Context) error {
			defer r.release(o)
			if err := p.Wait(ctx); err != nil {
				return Transient{fmt.Errorf("s3://%s/%s read, but not recorded in the ledger: %w", e.Bucket, e.Key, err)}
			}
			r.remember(o)
			return nil
		}
	}
	e := r.entry(o, k)
	if k.Kind == layout.KindOther {
		e.Outcome, e.Reason = ledger.OutcomeSkipped, k.Reason
		res.Outcome = e.Outcome
		metrics.Files.WithLabelValues(o.Path, e.Outcome).Inc()
		return res, record(e), nil
	}
	start := time.Now()
	body, size, err := open(ctx)
	if err == nil {
		defer body.Close()
		var fr fileRead
		if k.Kind == layout.KindDigest {
			fr, err = r.digest(ctx, o, body)
		} else {
			fr, err = r.records(ctx, o, body)
			r.observe(o, fr, start, err)
		}
		res.Records, res.Dead, res.Excluded = fr.produced, fr.dead, fr.excluded
		e.Records, e.DeadLetters, e.SHA256, e.FirstEvent, e.LastEvent = fr.produced, fr.dead, fr.sha256, fr.first, fr.last
		e.Bytes = fr.bytes
		if size != nil {
			e.Bytes = *size
		}
		res.Bytes = e.Bytes
		if !errors.As(err, new(Transient)) {
			metrics.S3Objects.WithLabelValues(string(k.Kind)).Inc()
			metrics.S3Bytes.WithLabelValues(string(k.Kind)).Add(float64(e.Bytes))
		}
	}
	var te Transient
	switch {
	case errors.As(err, &te):
		return res, nil, err
	case err != nil:
		r.Log.Error("file cannot be read; reported on the dead-letter topic", "bucket", o.Bucket, "key", o.Key, "err", err)
		if err := r.dead(ctx, []deadletter.Entry{r.deadLetter(o, deadletter.Because(deadletter.KindFile, err), nil)}); err != nil {
			return res, nil, err
		}
		e.Outcome, e.Reason = ledger.OutcomeFailed, err.Error()
	case e.DeadLetters > 0:
		e.Outcome = ledger.OutcomePartial
	default:
		e.Outcome = ledger.OutcomeRead
	}
	res.Outcome = e.Outcome
	metrics.Files.WithLabelValues(o.Path, e.Outcome).Inc()
	return res, record(e), nil
}

// observe records what became of a log or Insights file's records, once per file: the
// stage's records in (produced, dead-lettered, excluded) and out, the file as its batch, and
// the delivery lag of its newest event when it was read in full.
func (r *Reader) observe(o Object, fr fileRead, start time.Time, err error) {
	stage := r.Stage
	if stage == "" {
		stage = "fetcher"
	}
	now := time.Now()
	metrics.ForStage(stage).Batch(fr.produced+fr.dead+fr.excluded, fr.produced, now.Sub(start))
	if fr.excluded > 0 {
		metrics.RecordsExcluded.WithLabelValues().Add(float64(fr.excluded))
	}
	if err == nil && !fr.last.IsZero() {
		metrics.DeliveryLag.WithLabelValues(o.Source.ID, o.Path).Observe(max(0, now.Sub(fr.last).Seconds()))
	}
}

// claim marks o as being read, unless it is already.
func (r *Reader) claim(o Object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight == nil {
		r.inFlight = map[string]bool{}
	}
	id := o.Bucket + "/" + o.Key
	if r.inFlight[id] {
		return false
	}
	r.inFlight[id] = true
	return true
}

// remember adds o to the recent objects.
func (r *Reader) remember(o Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recent == nil {
		r.recent = map[string]bool{}
	}
	id := o.Bucket + "/" + o.Key
	if r.recent[id] {
		return
	}
	if len(r.recentList) >= recentMax {
		delete(r.recent, r.recentList[0])
		r.recentList = r.recentList[1:]
	}
	r.recent[id] = true
	r.recentList = append(r.recentList, id)
}

func (r *Reader) wasRecent(o Object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recent[o.Bucket+"/"+o.Key]
}

func (r *Reader) release(o Object) {
	r.mu.Lock()
	delete(r.inFlight, o.Bucket+"/"+o.Key)
	r.mu.Unlock()
}

func (r *Reader) entry(o Object, k layout.Key) ledger.Entry {
	return ledger.Entry{Source: o.Source.ID, Bucket: o.Bucket, Key: o.Key, Kind: string(k.Kind), Account: k.Account,
		Region: k.Region, Day: k.Day, ReadAt: time.Now(), Path: o.Path}
}

func (r *Reader) dead(ctx context.Context, entries []deadletter.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := r.Dead(ctx, entries); err != nil {
		return Transient{fmt.Errorf("dead-letter write: %w", err)}
	}
	return nil
}

// deadLetter returns the dead-letter entry of a file, or of a part of it, with payload.
func (r *Reader) deadLetter(o Object, reason error, payload []byte) deadletter.Entry {
	stage := r.Stage
	if stage == "" {
		stage = "fetcher"
	}
	e := deadletter.New(stage, reason, payload)
	e.Environment, e.Bucket, e.Key = o.Source.Environment, o.Bucket, o.Key
	return e
}

// fileRead counts what became of a file's content.
type fileRead struct {
	produced, dead, excluded int
	bytes                    int64 // as read, when the size is not known otherwise
	sha256                   string
	first, last              time.Time
}

// content wraps body: it counts the bytes read, remembers a failure of the read itself
// (which tells a broken connection, to be tried again, from a broken file), and returns the
// decompressed content, whose SHA-256 it computes as it is read (what digests list).
type content struct {
	body   io.Reader
	n      int64
	err    error
	hash   hash.Hash
	reader io.Reader
}

func newContent(body io.Reader) *content {
	c := &content{body: body, hash: sha256.New()}
	br := bufio.NewReaderSize(c, 32<<10)
	c.reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if zr, err := gzip.NewReader(br); err == nil {
			c.reader = zr
		} else {
			c.reader = errReader{fmt.Errorf("gunzip: %w", err)}
		}
	}
	c.reader = io.TeeReader(c.reader, c.hash)
	return c
}

// Read reads the object as stored.
func (c *content) Read(p []byte) (int, error) {
	n, err := c.body.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func (c *content) sum() string { return hex.EncodeToString(c.hash.Sum(nil)) }

// failed counts the failure of the read itself (metrics.S3Errors): the guard gave it up, or
// the connection broke.
func (c *content) failed() {
	kind := "connection"
	if errors.Is(c.err, ErrStalled) {
		kind = "stalled"
	}
	metrics.S3Errors.WithLabelValues(kind).Inc()
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// records produces every readable record of a log or Insights file and dead-letters the
// rest. The error is a Transient when the file should be read again later (S3 or Kafka
// failed), or says why the file as a whole cannot be read (not a CloudTrail file).
func (r *Reader) records(ctx context.Context, o Object, body io.Reader) (fileRead, error) {
	var res fileRead
	c := newContent(body)
	headers := []kafka.Header{
		{Key: "s3_bucket", Value: []byte(o.Bucket)},
		{Key: "s3_key", Value: []byte(o.Key)},
		{Key: "environment", Value: []byte(o.Source.Environment)},
		{Key: "source", Value: []byte(o.Source.ID)},
	}
	key := []byte(o.Bucket + "/" + o.Key)
	var (
		batch   = make([]kafka.Message, 0, chunk)
		indexes = make([]int, 0, chunk) // of batch's records in the file
		offsets = make([]int64, 0, chunk)
		dead    []deadletter.Entry
	)
	bad := func(reason error, index int, offset int64, payload []byte) {
		e := r.deadLetter(o, reason, payload)
		e.RecordIndex, e.ByteOffset = &index, &offset
		dead = append(dead, e)
	}
	flush := func() error {
		rejected, err := r.Raw.Write(ctx, batch...)
		if err != nil {
			return Transient{fmt.Errorf("write records: %w", err)}
		}
		for _, rj := range rejected {
			bad(deadletter.Because(deadletter.KindRejected, fmt.Errorf("record %d of s3://%s/%s: %w", indexes[rj.Index], o.Bucket, o.Key, rj.Err)),
				indexes[rj.Index], offsets[rj.Index], batch[rj.Index].Value)
		}
		if err := r.dead(ctx, dead); err != nil {
			return err
		}
		res.produced += len(batch) - len(rejected)
		res.dead += len(dead)
		batch, indexes, offsets, dead = batch[:0], indexes[:0], offsets[:0], dead[:0]
		return nil
	}
	err := cloudtrail.Records(c.reader, func(rec cloudtrail.Record) error {
		if rec.Err != nil {
			bad(deadletter.Because(deadletter.KindRecord, fmt.Errorf("record %d of s3://%s/%s: %w", rec.Index, o.Bucket, o.Key, rec.Err)), rec.Index, rec.Offset, rec.Data)
		} else {
			if t, ok := EventTime(rec.Data); ok {
				if res.first.IsZero() || t.Before(res.first) {
					res.first = t
				}
				if t.After(res.last) {
					res.last = t
				}
			}
			if r.Exclude.Drop(rec.Data) {
				res.excluded++
				return nil
			}
			batch = append(batch, kafka.Message{Key: key, Value: rec.Data, Headers: headers})
			indexes, offsets = append(indexes, rec.Index), append(offsets, rec.Offset)
		}
		if len(batch)+len(dead) >= chunk {
			return flush()
		}
		return nil
	})
	res.bytes, res.sha256 = c.n, c.sum()
	if c.err != nil { // the connection failed, not the file: read it again later
		c.failed()
		return res, Transient{fmt.Errorf("read s3://%s/%s: %w", o.Bucket, o.Key, c.err)}
	}
	var stop *cloudtrail.StopError
	switch {
	case errors.As(err, &stop):
		bad(deadletter.Because(deadletter.KindTruncated, fmt.Errorf("reading s3://%s/%s stopped at byte %d, in record %d: %w", o.Bucket, o.Key, stop.Offset, stop.Index, stop.Err)),
			stop.Index, stop.Offset, stop.Tail)
		err = nil
	case err != nil && !errors.As(err, new(Transient)):
		return res, fmt.Errorf("decode s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	if err == nil {
		err = flush()
	}
	return res, err
}

// digest stores the listing of a digest file in the ledger.
func (r *Reader) digest(ctx context.Context, o Object, body io.Reader) (fileRead, error) {
	var res fileRead
	c := newContent(body)
	d, err := digest.Parse(c.reader)
	_, _ = io.Copy(io.Discard, c.reader) // the hash covers it all
	res.bytes, res.sha256 = c.n, c.sum()
	if c.err != nil {
		c.failed()
		return res, Transient{fmt.Errorf("read s3://%s/%s: %w", o.Bucket, o.Key, c.err)}
	}
	if err != nil {
		return res, fmt.Errorf("digest s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	k := layout.Parse(o.Key)
	files := make([]ledger.DigestFile, len(d.Files))
	for i, f := range d.Files {
		if o.Listed != nil {
			f.Bucket, f.Key = o.Listed(f.Bucket, f.Key)
		}
		lk := layout.Parse(f.Key)
		acct, region := lk.Account, lk.Region
		if acct == "" {
			acct, region = k.Account, k.Region
		}
		files[i] = ledger.DigestFile{Source: o.Source.ID, DigestKey: o.Key, Bucket: f.Bucket, Key: f.Key, Account: acct,
			Region: region, Hour: d.Start, SHA256: f.Hash, OldestEvent: f.Oldest, NewestEvent: f.Newest, ReadAt: time.Now()}
	}
	if err := r.Ledger.Digest(ctx, files); err != nil {
		return res, Transient{err}
	}
	res.produced, res.first, res.last = len(files), d.Start, d.End
	return res, nil
}

var eventTimeKey = []byte(`"eventTime"`)

// EventTime returns the eventTime of a raw record: the first "eventTime" key, which in
// CloudTrail's records is the top-level one (userIdentity, before it, has none).
func EventTime(rec []byte) (time.Time, bool) {
	v, ok := stringField(rec, eventTimeKey)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, string(v))
	return t, err == nil
}

// stringField returns the value of the first field key (`"name"`) of rec, when it is a
// string without escapes.
func stringField(rec, key []byte) ([]byte, bool) {
	i := bytes.Index(rec, key)
	if i < 0 {
		return nil, false
	}
	v := bytes.TrimLeft(rec[i+len(key):], " \t\r\n")
	if len(v) == 0 || v[0] != ':' {
		return nil, false
	}
	v = bytes.TrimLeft(v[1:], " \t\r\n")
	if len(v) == 0 || v[0] != '"' {
		return nil, false
	}
	v = v[1:]
	j := bytes.IndexByte(v, '"')
	if j < 0 || bytes.IndexByte(v[:j], '\\') >= 0 {
		return nil, false
	}
	return v[:j], true
}
