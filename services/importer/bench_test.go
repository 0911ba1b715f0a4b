package importer

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// benchEvents and benchPerFile size the benchmark's tree: generated CloudTrail files of
// several accounts, as a downloaded AWSLogs/ tree.
const (
	benchEvents  = 100_000
	benchPerFile = 500
)

// BenchmarkImportDirect imports a tree of generated log files with --direct (normalize,
// the detection rules, insert into ClickHouse, the ledger), every file read again in each
// iteration (--reread), and reports records/s and files/s; "no-rules" leaves out the
// detection rules.
func BenchmarkImportDirect(b *testing.B) {
	dir := b.TempDir()
	files, records := 0, 0
	start := time.Now().Add(-48 * time.Hour).Truncate(time.Hour)
	for f := range generate.Files(generate.Options{Events: benchEvents, Accounts: 4, RecordsPerFile: benchPerFile, Seed: 7,
		Start: start, Span: 2 * time.Hour}) {
		var buf bytes.Buffer
		if err := generate.WriteFile(&buf, slices.Values(f.Records)); err != nil {
			b.Fatal(err)
		}
		p := filepath.Join(dir, "bucket", filepath.FromSlash(f.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		files++
		records += len(f.Records)
	}
	for _, bc := range []struct {
		name   string
		detect bool
	}{{"rules", true}, {"no-rules", false}} {
		b.Run(bc.name, func(b *testing.B) {
			c := testenv.Config(b)
			testenv.ClickHouse(b, c)
			c.Reread = true
			o := Options{Direct: true, Detect: bc.detect, Concurrency: DefaultConcurrency}
			var took time.Duration
			for b.Loop() {
				sum, err := Run(context.Background(), c, o, []string{dir}, io.Discard, io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				if sum.Records != records || sum.Read != files {
					b.Fatalf("imported %d records of %d files, want %d of %d", sum.Records, sum.Read, records, files)
				}
				took += sum.Took
			}
			secs := took.Seconds() / float64(b.N)
			b.ReportMetric(float64(records)/secs, "records/s")
			b.ReportMetric(float64(files)/secs, "files/s")
		})
	}
}
