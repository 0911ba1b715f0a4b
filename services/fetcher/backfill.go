package fetcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/collect"
	"github.com/trailstream/trailstream/pkg/layout"
	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/sources"
)

// Backfill reads the files a new source has stored. Its coordinator (the fetcher owning the
// source) lists the source's day folders of the last --backfill-since, counts the files and
// bytes of each, and stores a checkpoint per folder; then every fetcher reads the folders it
// owns, page by page of the listing, recording after each page how far it got. A restart,
// or a folder changing hands, resumes from there, and the ledger keeps the files of a page
// read before the stop from being read again.

// planBackfill lists and counts the day folders of src's backfill and moves its state on to
// reading.
func (f *fetcher) planBackfill(ctx context.Context, src sources.Source, st *sources.State) error {
	if f.cfg.BackfillSince < 0 {
		st.Backfill = sources.BackfillOff
		return f.store.PutState(ctx, *st)
	}
	now := time.Now()
	since := time.Unix(0, 0).UTC()
	if f.cfg.BackfillSince > 0 {
		since = now.Add(-f.cfg.BackfillSince)
	}
	if st.Backfill != sources.BackfillListing {
		st.Backfill, st.BackfillSince = sources.BackfillListing, since
		if err := f.store.PutState(ctx, *st); err != nil {
			return err
		}
	}
	cl, err := f.clients.of(ctx, src)
	if err != nil {
		return err
	}
	start := time.Now()
	folders, err := dayFolders(ctx, cl.S3, src, st.BackfillSince, now, f.cfg.Fetchers)
	if err != nil {
		return err
	}
	have, err := f.store.Checkpoints(ctx, src.ID, sources.CheckpointBackfill)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, c := range have {
		known[c.Prefix] = true
	}
	var (
		mu    sync.Mutex
		todo  []sources.Checkpoint
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, f.cfg.Fetchers)
		files int
	)
	for _, d := range folders {
		if known[d.prefix] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cp := d.checkpoint(src, sources.CheckpointBackfill)
			n, size, err := count(ctx, cl.S3, src.Bucket, d.prefix)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			cp.FilesTotal, cp.BytesTotal, cp.Done = n, size, n == 0
			files += n
			todo = append(todo, cp)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for len(todo) > 0 {
		n := min(len(todo), 1000)
		if err := f.store.PutCheckpoints(ctx, todo[:n]...); err != nil {
			return err
		}
		todo = todo[n:]
	}
	f.log.Info("backfill listed", "source", src.ID, "since", st.BackfillSince, "day_folders", len(folders), "files", files, "took", time.Since(start))
	st.Backfill = sources.BackfillReading
	return f.store.PutState(ctx, *st)
}

// count returns how many objects, and bytes, are under prefix.
func count(ctx context.Context, cl *s3.Client, bucket, prefix string) (n int, size int64, err error) {
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			n++
			size += aws.ToInt64(o.Size)
		}
	}
	return n, size, nil
}

// backfill reads the day folders this fetcher owns of the sources being backfilled, until
// ctx (the generation) ends.
func (f *fetcher) backfill(ctx context.Context, sh share) {
	for ctx.Err() == nil {
		list, changed := f.enabledWatch()
		todo, err := f.backfillWork(ctx, sh, list)
		if err != nil && ctx.Err() == nil {
			f.log.Warn("backfill: work not read; trying again", "err", err)
		}
		if len(todo) == 0 {
			f.sleep(ctx, 2*time.Second, changed)
			continue
		}
		var wg sync.WaitGroup
		work := make(chan folderWork)
		for range min(f.cfg.Fetchers, len(todo)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for w := range work {
					if _, err := f.readFolder(ctx, w.src, &w.cp, ledger.PathBackfill, 0); err != nil && ctx.Err() == nil {
						f.log.Warn("backfill of a day folder interrupted; it resumes from its checkpoint", "source", w.src.ID, "prefix", w.cp.Prefix, "err", err)
						f.noteError(ctx, w.src, err)
					}
				}
			}()
		}
		for _, w := range todo {
			if ctx.Err() != nil {
				break
			}
			work <- w
		}
		close(work)
		wg.Wait()
	}
}

type folderWork struct {
	src sources.Source
	cp  sources.Checkpoint
}

// backfillWork returns the unfinished day folders this fetcher owns.
func (f *fetcher) backfillWork(ctx context.Context, sh share, list []sources.Source) ([]folderWork, error) {
	states, err := f.store.States(ctx)
	if err != nil {
		return nil, err
	}
	var out []folderWork
	for _, src := range list {
		if states[src.ID].Backfill != sources.BackfillReading {
			continue
		}
		cps, err := f.store.Checkpoints(ctx, src.ID, sources.CheckpointBackfill)
		if err != nil {
			return nil, err
		}
		for _, cp := range cps {
			if !cp.Done && sh.owns(src.ID+"\x00"+cp.Prefix) {
				out = append(out, folderWork{src, cp})
			}
		}
	}
	return out, nil
}

// finishing is how long a file being read when its fetcher stops (or its folder changes
// hands) may take to be read to its end, so that its records are not produced twice.
const finishing = 30 * time.Second

// readFolder reads the files of the day folder of cp after cp.After, page by page of the
// listing: files the ledger has are counted, not read again. After each page cp is stored:
// After moves on to the last key of the page whose files are all handled and, with settle,
// named by a time before now minus settle (files CloudTrail may still deliver later sort
// before it, so a scan lists them again). A folder listed to its end is Done, unless settle
// is set (scanning never finishes a folder). It returns how many files it read.
func (f *fetcher) readFolder(ctx context.Context, src sources.Source, cp *sources.Checkpoint, path string, settle time.Duration) (read int, err error) {
	cl, err := f.clients.of(ctx, src)
	if err != nil {
		return 0, err
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(src.Bucket), Prefix: aws.String(cp.Prefix)}
	if cp.After != "" {
		in.StartAfter = aws.String(cp.After)
	}
	p := s3.NewListObjectsV2Paginator(cl.S3, in)
	advance := true
	for p.HasMorePages() && ctx.Err() == nil {
		page, err := p.NextPage(ctx)
		if err != nil {
			return read, fmt.Errorf("list s3://%s/%s: %w", src.Bucket, cp.Prefix, err)
		}
		keys := make([]string, 0, len(page.Contents))
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		seen := map[string]bool{}
		if !f.cfg.Reread {
			if seen, err = f.ledger.Seen(ctx, src.Bucket, keys); err != nil {
				return read, err
			}
		}
		before := *cp
		results, err := f.readPage(ctx, cl, src, keys, seen, path)
		for i, k := range keys {
			r := results[i]
			if !r.done {
				advance = false
				break
			}
			cp.Files++
			if !r.res.Seen {
				read++
				if r.res.Kind != layout.KindDigest { // a digest's "records" are the files it lists
					cp.Records += int64(r.res.Records)
				}
				cp.Bytes += r.res.Bytes
			}
			if advance && settle > 0 {
				if t, ok := layout.FileTime(k); ok && t.After(time.Now().Add(-settle)) {
					advance = false
				}
			}
			if advance {
				cp.After = k
			}
		}
		if *cp != before {
			if perr := f.store.PutCheckpoints(context.WithoutCancel(ctx), *cp); perr != nil {
				return read, perr
			}
		}
		if err != nil {
			return read, err
		}
		if !advance && settle == 0 {
			break
		}
	}
	if ctx.Err() != nil || !advance || settle > 0 {
		return read, nil
	}
	cp.Done = true
	if path == ledger.PathBackfill {
		f.log.Info("backfill: day folder done", "source", src.ID, "account", cp.Account, "region", cp.Region,
			"day", cp.Day.Format("2006-01-02"), "prefix", cp.Prefix, "files", cp.Files, "of", cp.FilesTotal, "records", cp.Records)
	}
	return read, f.store.PutCheckpoints(context.WithoutCancel(ctx), *cp)
}

type pageResult struct {
	res  collect.Result
	done bool // read, skipped, or in the ledger already
}

// readPage reads the keys of one listing page not in seen, --fetch-concurrency at a time,
// and returns what became of each. Once ctx ends no file is started; those being read are
// read to their end (within finishing).
func (f *fetcher) readPage(ctx context.Context, cl *awsutil.Clients, src sources.Source, keys []string, seen map[string]bool, path string) ([]pageResult, error) {
	out := make([]pageResult, len(keys))
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(finishing, cancel) })
	defer stop()
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, f.cfg.Fetchers)
		mu   sync.Mutex
		errs []error
	)
	for i, k := range keys {
		if seen[k] {
			out[i] = pageResult{res: collect.Result{Seen: true, Kind: layout.Parse(k).Kind}, done: true}
			continue
		}
		if strings.HasSuffix(k, "/") { // a folder marker
			out[i] = pageResult{res: collect.Result{Seen: true}, done: true}
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() == nil && f.wait != nil {
			_ = f.wait(ctx) // nil, or ctx's error
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			res, stored, err := f.reader.Start(fctx, cl.S3, collect.Object{Source: src, Bucket: src.Bucket, Key: k, Path: path, Checked: true})
			<-sem // the next file is read while this one's ledger row waits for its batch
			if err == nil {
				err = stored(fctx)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			logFile(f.log.With("source", src.ID, "path", path), src.Bucket, k, res, time.Since(start))
			out[i] = pageResult{res: res, done: true}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// noteError stores err as the last error of src.
func (f *fetcher) noteError(ctx context.Context, src sources.Source, err error) {
	states, serr := f.store.States(ctx)
	if serr != nil {
		return
	}
	st := states[src.ID]
	st.Source, st.LastError, st.ErrorAt = src.ID, err.Error(), time.Now()
	if perr := f.store.PutState(context.WithoutCancel(ctx), st); perr != nil {
		f.log.Warn("error of a source not stored", "source", src.ID, "err", perr)
	}
}
