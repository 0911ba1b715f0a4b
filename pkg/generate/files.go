package generate

import (
	"compress/gzip"
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
	// AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<random16>.json.gz
	Key     string
	Records [][]byte // the records, in time order
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
		type pending struct {
			File
			last time.Time // time of the last record
		}
		open := map[group]*pending{}
		var order []group // the order files were opened in, for deterministic output
		var period time.Time
		emit := func(f *pending) bool {
			f.Key = fileKey(names, f.Account, f.Region, f.last)
			return yield(f.File)
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
				f = &pending{File: File{Account: r.Account, Region: r.Region}}
				open[k] = f
				if !seen { // a group whose file filled up keeps its place in order
					order = append(order, k)
				}
			}
			f.Records = append(f.Records, r.JSON)
			f.last = r.Time
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

// fileKey names a file delivered a few minutes after its last record.
func fileKey(r *rand.Rand, account, region string, last time.Time) string {
	at := last.Add(time.Minute + time.Duration(r.Int64N(int64(4*time.Minute)))).UTC()
	return fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		account, region, at.Format("2006/01/02"), account, region, at.Format("20060102T1504Z"), randomString(r, alphaNum, 16))
}

// gzippers reuse compressors, which are large, across files.
var gzippers = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// WriteFile writes records as one CloudTrail log file: gzip-compressed {"Records":[...]}.
// It streams, so the records may come from Records for files of any size.
func WriteFile(w io.Writer, records iter.Seq[[]byte]) error {
	zw := gzippers.Get().(*gzip.Writer)
	defer gzippers.Put(zw)
	zw.Reset(w)
	sep := []byte(`{"Records":[`)
	for r := range records {
		if _, err := zw.Write(sep); err != nil {
			return err
		}
		if _, err := zw.Write(r); err != nil {
			return err
		}
		sep = []byte{','}
	}
	if len(sep) > 1 { // no records
		if _, err := zw.Write(sep); err != nil {
			return err
		}
	}
	if _, err := zw.Write([]byte("]}")); err != nil {
		return err
	}
	return zw.Close()
}
