package fetcher

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/sources"
)

// Scanning lists each source's day folders of today and yesterday (UTC) for files not read
// yet, from the scan checkpoint of each folder on. It is the way in for sources without a
// queue and the safety net for those with one: a file whose notification was lost is found
// by the next scan. CloudTrail names files by time, so a folder's keys sort by time, but a
// file may be delivered up to about a quarter of an hour after the files named after it:
// the checkpoint stays that far behind, and the ledger keeps files listed twice from being
// read twice.

// settle is how far behind the newest key a scan checkpoint stays.
const settle = 20 * time.Minute

// maxScanInterval bounds the doubling of a source's scan interval.
const maxScanInterval = 24 * time.Hour

// scan reads the files of src that no notification, backfill or scan read yet, and returns
// how many it read.
func (f *fetcher) scan(ctx context.Context, src sources.Source, st sources.State) (int, error) {
	cl, err := f.clients.of(ctx, src)
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	folders, err := dayFolders(ctx, cl.S3, src, now.Add(-24*time.Hour), now, f.cfg.Fetchers)
	if err != nil {
		return 0, err
	}
	backfilling := map[string]bool{} // folders backfill has yet to finish: backfill reads them
	if st.Backfill == sources.BackfillReading || st.Backfill == sources.BackfillListing {
		cps, err := f.store.Checkpoints(ctx, src.ID, sources.CheckpointBackfill)
		if err != nil {
			return 0, err
		}
		for _, c := range cps {
			backfilling[c.Prefix] = !c.Done
		}
	}
	have, err := f.store.Checkpoints(ctx, src.ID, sources.CheckpointScan)
	if err != nil {
		return 0, err
	}
	cps := map[string]sources.Checkpoint{}
	for _, c := range have {
		cps[c.Prefix] = c
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		read int
		errs []error
		sem  = make(chan struct{}, f.cfg.Fetchers)
	)
	for _, d := range folders {
		if backfilling[d.prefix] {
			continue
		}
		cp, ok := cps[d.prefix]
		if !ok {
			cp = d.checkpoint(src, sources.CheckpointScan)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			n, err := f.readFolder(ctx, src, &cp, ledger.PathScan, settle)
			mu.Lock()
			defer mu.Unlock()
			read += n
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return read, errors.Join(errs...)
}

// nextInterval returns the scan interval after a scan that read found files: back to the
// configured one when it found some, doubled (up to a day) when it found none.
func nextInterval(current, configured time.Duration, found int) time.Duration {
	if found > 0 || current <= 0 {
		return configured
	}
	return min(2*current, max(maxScanInterval, configured))
}
