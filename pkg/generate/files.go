package generate

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"sync"
	"time"
)

// File is one CloudTrail log file: records of one account and region, as CloudTrail
// delivers them about every five minutes.
type File struct {
	Account string
	Region  string
	// Key is the object key CloudTrail gives the file:
	// [prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<random16>.json.gz
	// (the prefix and organization of Options.KeyPrefix and Options.Organization).
	Key     string
	Records [][]byte // the records, in time order
	// Oldest and Newest are the times of its first and last records; Delivered is when
	// CloudTrail delivered it, one to five minutes after Newest: the time in Key.
	Oldest, Newest, Delivered time.Time
}

// deliveryPeriod is how much time one CloudTrail file covers.
const deliveryPeriod = 5 * time.Minute

// Files yields the records of Records(o) grouped into CloudTrail log files: one file per
// account, region and five minutes, split when it would exceed o.RecordsPerFile. A file is
// yielded once it is complete, so at most one open file per account and region is held.
func Files(o Options) iter.Seq[File] {
	o = o.withDefaults(time.Now())
	return func(yield func(File) bool) {
		names := rand.New(rand.NewPCG(o.Seed, 0x66696c6573))
		type group struct{ account, region string }
		root := o.root()
		open := map[group]*File{}
		var order []group // the order files were opened in, for deterministic output
		var period time.Time
		emit := func(f *File) bool {
			f.Key, f.Delivered = fileKey(names, root, f.Account, f.Region, f.Newest)
			return yield(*f)
		}
		flushAll := func() bool {
			for _, k := range order {
				if f := open[k]; f != nil && !emit(f) {
					return false
				}
			}
			clear(open)
			order = order[:0]
			return true
		}
		for r := range Records(o) {
			if p := r.Time.Truncate(deliveryPeriod); !p.Equal(period) {
				if !flushAll() {
					return
				}
				period = p
			}
			k := group{r.Account, r.Region}
			f, seen := open[k]
			if f == nil {
				f = &File{Account: r.Account, Region: r.Region, Oldest: r.Time}
				open[k] = f
				if !seen { // a group whose file filled up keeps its place in order
					order = append(order, k)
				}
			}
			f.Records = append(f.Records, r.JSON)
			f.Newest = r.Time
			if len(f.Records) >= o.RecordsPerFile {
				open[k] = nil
				if !emit(f) {
					return
				}
			}
		}
		flushAll()
	}
}

// fileKey names a file delivered a few minutes after its last record, under root
// ([prefix/]AWSLogs/[o-org/]), and returns the time of its delivery.
func fileKey(r *rand.Rand, root, account, region string, last time.Time) (string, time.Time) {
	at := last.Add(time.Minute + time.Duration(r.Int64N(int64(4*time.Minute)))).UTC()
	return fmt.Sprintf("%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		root, account, region, at.Format("2006/01/02"), account, region, at.Format("20060102T1504Z"), randomString(r, alphaNum, 16)), at
}

// gzippers reuse compressors, which are large, across files.
var gzippers = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// WriteFile writes records as one CloudTrail log file: gzip-compressed {"Records":[...]}.
// It streams, so the records may come from Records for files of any size.
func WriteFile(w io.Writer, records iter.Seq[[]byte]) error {
	_, err := writeFile(w, records)
	return err
}

// writeFile writes a log file as WriteFile does and returns the hex SHA-256 of its
// uncompressed content: the hash a digest lists for it.
func writeFile(w io.Writer, records iter.Seq[[]byte]) (string, error) {
	zw := gzippers.Get().(*gzip.Writer)
	defer gzippers.Put(zw)
	zw.Reset(w)
	h := sha256.New()
	out := io.MultiWriter(zw, h)
	sep := []byte(`{"Records":[`)
	for r := range records {
		if _, err := out.Write(sep); err != nil {
			return "", err
		}
		if _, err := out.Write(r); err != nil {
			return "", err
		}
		sep = []byte{','}
	}
	if len(sep) > 1 { // no records
		if _, err := out.Write(sep); err != nil {
			return "", err
		}
	}
	if _, err := out.Write([]byte("]}")); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// gzipBytes writes data gzip-compressed to w.
func gzipBytes(w io.Writer, data []byte) error {
	zw := gzippers.Get().(*gzip.Writer)
	defer gzippers.Put(zw)
	zw.Reset(w)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}
