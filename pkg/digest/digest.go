// Package digest reads and writes CloudTrail digest files: the hourly files CloudTrail
// delivers beside the log files of a trail with log file validation on, under
//
//	[prefix/]AWSLogs/[o-org/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/
//	    <account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHmmssZ>.json.gz
//
// Each lists the log files CloudTrail delivered for one account and region in the hour
// [digestStartTime, digestEndTime): their keys, the hex SHA-256 of each file's content
// (the JSON, after gunzip: what HashLogFile computes) and the times of their oldest and
// newest events. CloudTrail delivers a digest for every hour, even one without files, and
// each digest names the one before it. AWS documents the format in the CloudTrail user
// guide, "CloudTrail digest file structure".
//
// What trailstream checks with a digest, and what it does not:
//
//   - It checks that every log file a digest lists was read (a file listed but never read is
//     a collection gap), and that the SHA-256 of what was read matches the hashValue the
//     digest gives for it (a file changed after delivery, or read from somewhere else, does
//     not).
//   - It does not verify the digest's RSA signature (the x-amz-meta-signature of the digest
//     object, made with the key of digestPublicKeyFingerprint), nor follow the chain of
//     previous digests (previousDigestHashValue and previousDigestSignature). A digest
//     forged or deleted by someone who can write to the bucket goes unnoticed; `aws
//     cloudtrail validate-logs` checks both for a trail.
//
// Parse reads a digest as stored (gzip) or decompressed (plain JSON); Write writes one as
// CloudTrail does, gzip-compressed JSON with AWS's field names.
package digest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxSize is the largest digest Parse reads, compressed or not. A digest lists the files
// of one hour of one account and region, about 300 bytes each: 64 MiB is some 200,000
// files, far more than CloudTrail delivers in an hour.
const MaxSize = 64 << 20

// maxSize is MaxSize, smaller in tests.
var maxSize int64 = MaxSize

// HashSHA256 is the hashAlgorithm CloudTrail gives its log files and digests.
const HashSHA256 = "SHA-256"

// SignatureAlgorithm is the digestSignatureAlgorithm CloudTrail signs digests with.
const SignatureAlgorithm = "SHA256withRSA"

// Digest is one digest file.
type Digest struct {
	AccountID string    // awsAccountId
	Start     time.Time // digestStartTime: the first delivery time the digest covers
	End       time.Time // digestEndTime: the end of the hour, excluded
	Bucket    string    // digestS3Bucket: where the digest itself is
	Key       string    // digestS3Object
	// Oldest and Newest are the times of the oldest and newest events of all its files
	// (oldestEventTime, newestEventTime); zero for a digest without files.
	Oldest, Newest time.Time
	// PublicKeyFingerprint (digestPublicKeyFingerprint) names the key the digest is signed
	// with, SignatureAlgorithm (digestSignatureAlgorithm) how; trailstream does not check
	// the signature.
	PublicKeyFingerprint string
	SignatureAlgorithm   string
	// Previous is the digest before this one; zero in the first digest of a trail (a
	// "starting digest", whose previous fields are null).
	Previous Previous
	Files    []LogFile // logFiles: empty for an hour without deliveries
}

// Previous names the digest before a digest.
type Previous struct {
	Bucket        string // previousDigestS3Bucket
	Key           string // previousDigestS3Object
	Hash          string // previousDigestHashValue: hex SHA-256 of its uncompressed content
	HashAlgorithm string // previousDigestHashAlgorithm
	Signature     string // previousDigestSignature: hex
}

// LogFile is one log file a digest lists.
type LogFile struct {
	Bucket string // s3Bucket
	Key    string // s3Object
	// Hash (hashValue) is the hex hash of the file's uncompressed content, by
	// HashAlgorithm (hashAlgorithm, SHA-256): see HashLogFile.
	Hash          string
	HashAlgorithm string
	// Oldest and Newest are the times of its oldest and newest events.
	Oldest, Newest time.Time
}

// wire is a digest as CloudTrail writes it, in its field order.
type wire struct {
	AWSAccountID                string     `json:"awsAccountId"`
	DigestStartTime             *string    `json:"digestStartTime"`
	DigestEndTime               *string    `json:"digestEndTime"`
	DigestS3Bucket              string     `json:"digestS3Bucket"`
	DigestS3Object              string     `json:"digestS3Object"`
	DigestPublicKeyFingerprint  string     `json:"digestPublicKeyFingerprint"`
	DigestSignatureAlgorithm    string     `json:"digestSignatureAlgorithm"`
	NewestEventTime             *string    `json:"newestEventTime"`
	OldestEventTime             *string    `json:"oldestEventTime"`
	PreviousDigestS3Bucket      *string    `json:"previousDigestS3Bucket"`
	PreviousDigestS3Object      *string    `json:"previousDigestS3Object"`
	PreviousDigestHashValue     *string    `json:"previousDigestHashValue"`
	PreviousDigestHashAlgorithm *string    `json:"previousDigestHashAlgorithm"`
	PreviousDigestSignature     *string    `json:"previousDigestSignature"`
	LogFiles                    *[]wireLog `json:"logFiles"`
}

type wireLog struct {
	S3Bucket        string  `json:"s3Bucket"`
	S3Object        string  `json:"s3Object"`
	HashValue       string  `json:"hashValue"`
	HashAlgorithm   string  `json:"hashAlgorithm"`
	NewestEventTime *string `json:"newestEventTime"`
	OldestEventTime *string `json:"oldestEventTime"`
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// Parse reads one digest file, gzip-compressed (recognised by its first bytes) or plain
// JSON, of at most MaxSize bytes either way. It fails on anything else, naming the first
// required field that is missing or empty: awsAccountId, digestStartTime, digestEndTime,
// digestS3Bucket, digestS3Object, logFiles (which may be empty, not absent), and each log
// file's s3Bucket, s3Object, hashValue and hashAlgorithm. Times are RFC 3339; the event
// times may be null (a digest without files has no oldest or newest event), and so may
// the previous digest's fields (in a trail's first digest).
func Parse(r io.Reader) (*Digest, error) {
	lr := &io.LimitedReader{R: r, N: maxSize + 1}
	br := bufio.NewReader(lr)
	var in io.Reader = br
	if head, _ := br.Peek(len(gzipMagic)); bytes.Equal(head, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("digest: gzip: %w", err)
		}
		defer zr.Close()
		in = zr
	}
	data, err := io.ReadAll(io.LimitReader(in, maxSize+1))
	// lr.N is 0 once more than maxSize bytes came in: a compressed stream cut there fails
	// to decompress, and says so less clearly than this.
	if lr.N == 0 || int64(len(data)) > maxSize {
		return nil, fmt.Errorf("digest: larger than %s, the most a digest may be", sizeText(maxSize))
	}
	if err != nil {
		return nil, fmt.Errorf("digest: read: %w", err)
	}
	return decode(data)
}

// sizeText says n bytes in MiB when it is whole ones.
func sizeText(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func decode(data []byte) (*Digest, error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("digest: not a digest file's JSON object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("digest: data after the JSON object")
	}
	d := &Digest{
		AccountID:            w.AWSAccountID,
		Bucket:               w.DigestS3Bucket,
		Key:                  w.DigestS3Object,
		PublicKeyFingerprint: w.DigestPublicKeyFingerprint,
		SignatureAlgorithm:   w.DigestSignatureAlgorithm,
		Previous: Previous{
			Bucket:        deref(w.PreviousDigestS3Bucket),
			Key:           deref(w.PreviousDigestS3Object),
			Hash:          deref(w.PreviousDigestHashValue),
			HashAlgorithm: deref(w.PreviousDigestHashAlgorithm),
			Signature:     deref(w.PreviousDigestSignature),
		},
	}
	for _, f := range []struct{ name, value string }{
		{"awsAccountId", w.AWSAccountID},
		{"digestS3Bucket", w.DigestS3Bucket},
		{"digestS3Object", w.DigestS3Object},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("digest: required field %s is missing", f.name)
		}
	}
	for _, f := range []struct {
		name     string
		v        *string
		required bool
		t        *time.Time
	}{
		{"digestStartTime", w.DigestStartTime, true, &d.Start},
		{"digestEndTime", w.DigestEndTime, true, &d.End},
		{"oldestEventTime", w.OldestEventTime, false, &d.Oldest},
		{"newestEventTime", w.NewestEventTime, false, &d.Newest},
	} {
		t, err := parseTime(f.name, f.v, f.required)
		if err != nil {
			return nil, fmt.Errorf("digest: %w", err)
		}
		*f.t = t
	}
	if w.LogFiles == nil {
		return nil, errors.New("digest: required field logFiles is missing")
	}
	d.Files = make([]LogFile, 0, len(*w.LogFiles))
	for i, l := range *w.LogFiles {
		for _, f := range []struct{ name, value string }{
			{"s3Bucket", l.S3Bucket},
			{"s3Object", l.S3Object},
			{"hashValue", l.HashValue},
			{"hashAlgorithm", l.HashAlgorithm},
		} {
			if f.value == "" {
				return nil, fmt.Errorf("digest: logFiles[%d]: required field %s is missing", i, f.name)
			}
		}
		f := LogFile{Bucket: l.S3Bucket, Key: l.S3Object, Hash: l.HashValue, HashAlgorithm: l.HashAlgorithm}
		var err error
		if f.Oldest, err = parseTime("oldestEventTime", l.OldestEventTime, false); err != nil {
			return nil, fmt.Errorf("digest: logFiles[%d] (%s): %w", i, l.S3Object, err)
		}
		if f.Newest, err = parseTime("newestEventTime", l.NewestEventTime, false); err != nil {
			return nil, fmt.Errorf("digest: logFiles[%d] (%s): %w", i, l.S3Object, err)
		}
		d.Files = append(d.Files, f)
	}
	return d, nil
}

// earliest bounds the times of a digest: none can be older, and a zero time stands for
// null.
var earliest = time.Unix(0, 0)

// parseTime reads the RFC 3339 time of field name; null or absent is the zero time, an
// error when required.
func parseTime(name string, v *string, required bool) (time.Time, error) {
	if v == nil || *v == "" {
		if required {
			return time.Time{}, fmt.Errorf("required field %s is missing", name)
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not an RFC 3339 time", name, *v)
	}
	if t.Before(earliest) {
		return time.Time{}, fmt.Errorf("%s %q is before 1970", name, *v)
	}
	return t.UTC(), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Marshal returns d as the JSON CloudTrail writes (uncompressed): AWS's field names in
// its order, times in UTC to the second, null for the previous digest's fields when d has
// none and for the event times of a digest without files. Its SHA-256 is what the next
// digest's previousDigestHashValue holds. It fails when a field Parse requires is empty.
func Marshal(d Digest) ([]byte, error) {
	for _, f := range []struct{ name, value string }{
		{"awsAccountId", d.AccountID},
		{"digestS3Bucket", d.Bucket},
		{"digestS3Object", d.Key},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("digest: write: %s is empty", f.name)
		}
	}
	if d.Start.IsZero() || d.End.IsZero() {
		return nil, errors.New("digest: write: digestStartTime or digestEndTime is zero")
	}
	w := wire{
		AWSAccountID:                d.AccountID,
		DigestStartTime:             formatTime(d.Start),
		DigestEndTime:               formatTime(d.End),
		DigestS3Bucket:              d.Bucket,
		DigestS3Object:              d.Key,
		DigestPublicKeyFingerprint:  d.PublicKeyFingerprint,
		DigestSignatureAlgorithm:    d.SignatureAlgorithm,
		NewestEventTime:             formatTime(d.Newest),
		OldestEventTime:             formatTime(d.Oldest),
		PreviousDigestS3Bucket:      nullable(d.Previous.Bucket),
		PreviousDigestS3Object:      nullable(d.Previous.Key),
		PreviousDigestHashValue:     nullable(d.Previous.Hash),
		PreviousDigestHashAlgorithm: nullable(d.Previous.HashAlgorithm),
		PreviousDigestSignature:     nullable(d.Previous.Signature),
	}
	logs := make([]wireLog, 0, len(d.Files))
	for i, f := range d.Files {
		if f.Bucket == "" || f.Key == "" || f.Hash == "" || f.HashAlgorithm == "" {
			return nil, fmt.Errorf("digest: write: log file %d (%q) lacks its bucket, key, hash or hash algorithm", i, f.Key)
		}
		logs = append(logs, wireLog{
			S3Bucket: f.Bucket, S3Object: f.Key, HashValue: f.Hash, HashAlgorithm: f.HashAlgorithm,
			NewestEventTime: formatTime(f.Newest), OldestEventTime: formatTime(f.Oldest),
		})
	}
	w.LogFiles = &logs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return nil, fmt.Errorf("digest: write: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Write writes d as CloudTrail stores a digest file: Marshal's JSON, gzip-compressed.
func Write(w io.Writer, d Digest) error {
	data, err := Marshal(d)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(w)
	if _, err := zw.Write(data); err != nil {
		return fmt.Errorf("digest: write: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("digest: write: %w", err)
	}
	return nil
}

func formatTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format("2006-01-02T15:04:05Z")
	return &s
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// HashLogFile returns the hex SHA-256 a digest's hashValue gives for a log file: that of
// its uncompressed content. r is the object as stored, gzip-compressed (recognised by its
// first bytes, and gunzipped) or plain (hashed as it is, as a log file someone
// decompressed after download). This is how `aws cloudtrail validate-logs` checks a file:
// the hash is not that of the gzip bytes, which differ with the compressor.
func HashLogFile(r io.Reader) (string, error) {
	br := bufio.NewReader(r)
	var in io.Reader = br
	if head, _ := br.Peek(len(gzipMagic)); bytes.Equal(head, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", fmt.Errorf("hash log file: gzip: %w", err)
		}
		defer zr.Close()
		in = zr
	}
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		return "", fmt.Errorf("hash log file: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
