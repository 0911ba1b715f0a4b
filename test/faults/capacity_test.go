//go:build faults

package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
)

// rssLimit is the most resident memory a service may take at full load.
const rssLimit = 256 << 20

// BenchmarkCapacity measures what one core of each stage handles (`make bench-capacity`).
// It runs the fetcher, normalizer, detector and sink each as its own process, queues
// BENCH_CAPACITY_EVENTS generated records (200,000) in S3/SQS and lets them run until every
// record is in ClickHouse. Per service it reports the records it handled per CPU second (user
// and system, from its own process_cpu_seconds_total: what one core of it sustains, whatever
// else shares the machine) and its peak resident memory (VmHWM), and the ClickHouse server's
// CPU per record over the same span. It fails when a service's peak RSS passes 256 MiB.
// BENCH_CAPACITY_SETTINGS gives the services TRAILSTREAM_ settings to measure, separated by
// spaces (TRAILSTREAM_BATCH_SIZE=20000 ...).
func BenchmarkCapacity(b *testing.B) {
	n := 200000
	if v := os.Getenv("BENCH_CAPACITY_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("BENCH_CAPACITY_EVENTS=%q: %v", v, err)
		}
	}
	in := &input{}
	for f := range generate.Files(generate.Options{Events: n, Accounts: 8, RecordsPerFile: generate.DefaultRecordsPerFile,
		Span: time.Hour, Start: start, Seed: 21}) {
		in.add(f.Key, f.Records, ids(b, f.Records))
	}
	for range b.N {
		w := newWorld(b, strings.Fields(os.Getenv("BENCH_CAPACITY_SETTINGS"))...)
		w.put(in)
		w.startAll()
		addrs := map[string]string{}
		for _, svc := range services {
			addrs[svc] = w.metricsAddr(w.running(svc))
		}
		chBefore, chErr := clickhouseCPU()
		fedAt := time.Now()
		<-w.feed(in, in.objects, 0, 1)
		if !poll(10*time.Minute, func() bool { c, err := w.counts(); return err == nil && c.distinct >= uint64(len(in.ids)) }) {
			b.Fatalf("not every record reached ClickHouse within 10 minutes:%s", w.logs(10))
		}
		took := time.Since(fedAt)
		chAfter, _ := clickhouseCPU()

		var rows []string
		for _, svc := range services {
			s := metricstest.Read(b, addrs[svc])
			cpu := s.Sum("process_cpu_seconds_total")
			records := s.Sum("trailstream_stage_records_in_total")
			rss, err := peakRSS(w.running(svc).cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			perCore := records / cpu
			b.ReportMetric(perCore, svc+"-records/cpu-s")
			b.ReportMetric(float64(rss)/(1<<20), svc+"-peak-MiB")
			rows = append(rows, fmt.Sprintf("| %s | %.0f | %.1f | %.0f | %.0f |", svc, records, cpu, perCore, float64(rss)/(1<<20)))
			if rss > rssLimit {
				b.Errorf("%s: peak RSS %.0f MiB, over the %d MiB a service may take", svc, float64(rss)/(1<<20), rssLimit>>20)
			}
		}
		if chErr == nil {
			cpu := chAfter - chBefore
			b.ReportMetric(float64(len(in.ids))/cpu, "clickhouse-records/cpu-s")
			rows = append(rows, fmt.Sprintf("| clickhouse-server | %d | %.1f | %.0f | |", len(in.ids), cpu, float64(len(in.ids))/cpu))
		}
		b.ReportMetric(float64(len(in.ids))/took.Seconds(), "records/s")
		b.Logf("%d records through the pipeline in %.1f s (%.0f records/s, every service a process of its own):\n"+
			"| service | records | CPU s | records per CPU second | peak RSS MiB |\n|---|---|---|---|---|\n%s",
			len(in.ids), took.Seconds(), float64(len(in.ids))/took.Seconds(), strings.Join(rows, "\n"))
		w.stopAll()
	}
}

// BenchmarkLargeFile reads one CloudTrail file of 200,000 records (BENCH_LARGE_FILE_EVENTS)
// through a fetcher process and reports its peak resident memory, which must stay under 256
// MiB however large the file: the file is streamed, never held.
func BenchmarkLargeFile(b *testing.B) {
	n := 200000
	if v := os.Getenv("BENCH_LARGE_FILE_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("BENCH_LARGE_FILE_EVENTS=%q: %v", v, err)
		}
	}
	// The generator writes a file per account, region and five minutes, as CloudTrail does:
	// its records are put in one file under the first file's key.
	var key string
	var records [][]byte
	for f := range generate.Files(generate.Options{Events: n, Accounts: 1, RecordsPerFile: n, Span: time.Hour, Start: start, Seed: 22}) {
		if key == "" {
			key = f.Key
		}
		records = append(records, f.Records...)
	}
	in := &input{}
	in.add(key, records, ids(b, records))
	b.Logf("one file of %d records: %.1f MB gzipped", len(in.ids), float64(len(in.objects[0].body))/1e6)
	for range b.N {
		w := newWorld(b)
		w.putMultipart(in.objects[0])
		p := w.start("fetcher")
		addr := w.metricsAddr(p)
		began := time.Now()
		<-w.feed(in, in.objects, 0, 1)
		metricstest.Wait(b, addr, 10*time.Minute, "every record of the file produced", func(s metricstest.Scrape) bool {
			return s.Sum("trailstream_stage_records_out_total") >= float64(len(in.ids))
		})
		took := time.Since(began)
		rss, err := peakRSS(p.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(in.ids))/took.Seconds(), "records/s")
		b.ReportMetric(float64(rss)/(1<<20), "peak-MiB")
		b.Logf("fetcher: %d records of one file in %.1f s, peak RSS %.0f MiB", len(in.ids), took.Seconds(), float64(rss)/(1<<20))
		if rss > rssLimit {
			b.Errorf("fetcher: peak RSS %.0f MiB reading one file of %d records, over %d MiB", float64(rss)/(1<<20), len(in.ids), rssLimit>>20)
		}
		w.stopAll()
	}
}

// putMultipart stores o in parts of 8 MiB, as S3 clients store large objects (and as the
// emulator requires of bodies this large).
func (w *world) putMultipart(o object) {
	w.t.Helper()
	ctx := context.Background()
	up, err := w.aws.S3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(w.cfg.Bucket), Key: aws.String(o.key)})
	if err != nil {
		w.t.Fatalf("put s3://%s/%s: %v", w.cfg.Bucket, o.key, err)
	}
	var parts []types.CompletedPart
	for i, off := int32(1), 0; off < len(o.body); i, off = i+1, off+8<<20 {
		body := o.body[off:min(off+8<<20, len(o.body))]
		part, err := w.aws.S3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(w.cfg.Bucket), Key: aws.String(o.key), UploadId: up.UploadId,
			PartNumber: aws.Int32(i), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
		if err != nil {
			w.t.Fatalf("put s3://%s/%s, part %d: %v", w.cfg.Bucket, o.key, i, err)
		}
		// The ETag without its quotes, which the SDK's XML would escape and the emulator would
		// then not recognize (S3 takes either).
		parts = append(parts, types.CompletedPart{ETag: aws.String(strings.Trim(aws.ToString(part.ETag), `"`)), PartNumber: aws.Int32(i)})
	}
	if _, err := w.aws.S3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(w.cfg.Bucket), Key: aws.String(o.key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		w.t.Fatalf("put s3://%s/%s: complete: %v", w.cfg.Bucket, o.key, err)
	}
}

// peakRSS returns the most resident memory process pid has had, in bytes (VmHWM).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("peak RSS of process %d: %q: %w", pid, line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("peak RSS of process %d: no VmHWM line in its status", pid)
}

// clickhouseCPU returns the CPU seconds the local ClickHouse server process has used: the
// oldest process named clickhouse-server.
func clickhouseCPU() (float64, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var best float64
	var oldest uint64
	found := false
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: the fields after the parenthesis hold utime (14th
		// field), stime (15th) and starttime (22nd) in clock ticks.
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || !strings.HasPrefix(s[open+1:end], "clickhouse-serv") {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 20 {
			continue
		}
		utime, _ := strconv.ParseUint(f[11], 10, 64)
		stime, _ := strconv.ParseUint(f[12], 10, 64)
		started, _ := strconv.ParseUint(f[19], 10, 64)
		if !found || started < oldest {
			found, oldest, best = true, started, float64(utime+stime)/clockTicks
		}
	}
	if !found {
		return 0, fmt.Errorf("no clickhouse-server process")
	}
	return best, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times: 100 on Linux.
const clockTicks = 100
