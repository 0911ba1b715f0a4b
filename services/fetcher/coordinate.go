package fetcher

import (
	"context"
	"time"

	"github.com/trailstream/trailstream/pkg/sources"
)

// coordinate runs, for each enabled source this fetcher owns, the work done once per
// source: planning its backfill (and seeing it finished), scanning it when its scan is due,
// and checking its completeness, until ctx (the generation) ends.
func (f *fetcher) coordinate(ctx context.Context, sh share) {
	checked := map[string]time.Time{} // completeness, by source
	var discovered time.Time
	discover := f.cfg.DiscoverTrails.Or(f.cfg.AWSEndpoint == "") && sh.owns("discovery")
	for ctx.Err() == nil {
		if discover && time.Since(discovered) >= discoverEvery {
			discovered = time.Now()
			if err := f.discoverTrails(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("trail discovery incomplete; trying again in "+discoverEvery.String(), "err", err)
			}
		}
		list, changed := f.enabledWatch()
		next := time.Now().Add(refreshEvery)
		if discover && discovered.Add(discoverEvery).Before(next) {
			next = discovered.Add(discoverEvery)
		}
		states, err := f.store.States(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("source states not read; trying again", "err", err)
			}
			f.sleep(ctx, 5*time.Second, changed)
			continue
		}
		for _, src := range list {
			if !sh.owns(src.ID) || ctx.Err() != nil {
				continue
			}
			st, ok := states[src.ID]
			if !ok {
				st = sources.State{Source: src.ID, Backfill: sources.BackfillPending, ScanInterval: f.cfg.ScanInterval}
				if src.Queue != "" { // notified, and backfilled: the first scan is a safety net
					st.NextScan = time.Now().Add(f.cfg.ScanInterval)
				}
				if err := f.store.PutState(ctx, st); err != nil {
					continue // tried again next round
				}
			}
			f.coordinateOne(ctx, src, &st, checked)
			if st.NextScan.Before(next) {
				next = st.NextScan
			}
			if due := checked[src.ID].Add(completeEvery(f.cfg.CompletenessGrace)); due.Before(next) {
				next = due
			}
		}
		f.sleep(ctx, time.Until(next), changed)
	}
}

// coordinateOne does what is due for src, whose state is st.
func (f *fetcher) coordinateOne(ctx context.Context, src sources.Source, st *sources.State, checked map[string]time.Time) {
	log := f.log.With("source", src.ID)
	fail := func(what string, err error) {
		if ctx.Err() != nil {
			return
		}
		log.Warn(what, "err", err, "next_scan", st.NextScan)
		st.LastError, st.ErrorAt = err.Error(), time.Now()
		// A source that fails (a bucket gone, a role refused) is tried again at its next
		// scan, a minute away at least.
		if retry := time.Now().Add(max(time.Minute, min(st.ScanInterval, 5*time.Minute))); st.NextScan.Before(retry) {
			st.NextScan = retry
		}
		if err := f.store.PutState(context.WithoutCancel(ctx), *st); err != nil {
			log.Warn("source state not stored", "err", err)
		}
	}
	switch st.Backfill {
	case sources.BackfillPending, sources.BackfillListing, "":
		if !st.ErrorAt.IsZero() && time.Now().Before(st.NextScan) {
			return // failed last time: again at the next scan
		}
		if err := f.planBackfill(ctx, src, st); err != nil {
			fail("backfill not listed; trying again", err)
			return
		}
	case sources.BackfillReading:
		if err := f.backfillDone(ctx, src, st); err != nil {
			fail("backfill progress not read", err)
		}
	}
	if !time.Now().Before(st.NextScan) {
		start := time.Now()
		read, err := f.scan(ctx, src, *st)
		if ctx.Err() != nil {
			return
		}
		st.LastScan = start
		if read > 0 {
			st.LastNew = start
		}
		st.ScanInterval = nextInterval(st.ScanInterval, f.cfg.ScanInterval, read)
		st.NextScan = time.Now().Add(st.ScanInterval)
		if err != nil {
			fail("scan incomplete; the next one goes on from its checkpoints", err)
		} else if err := f.store.PutState(ctx, *st); err != nil {
			log.Warn("source state not stored", "err", err)
		}
		log.Info("scanned", "files_read", read, "took", time.Since(start), "next_scan_in", st.ScanInterval)
	}
	if time.Since(checked[src.ID]) >= completeEvery(f.cfg.CompletenessGrace) {
		checked[src.ID] = time.Now()
		if err := f.complete(ctx, src, *st); err != nil {
			fail("completeness not checked", err)
		}
	}
}

// backfillDone moves src's state to done once every day folder of its backfill is.
func (f *fetcher) backfillDone(ctx context.Context, src sources.Source, st *sources.State) error {
	cps, err := f.store.Checkpoints(ctx, src.ID, sources.CheckpointBackfill)
	if err != nil {
		return err
	}
	var files, total, records, done int64
	for _, c := range cps {
		files, total, records = files+int64(c.Files), total+int64(c.FilesTotal), records+c.Records
		if c.Done {
			done++
		}
	}
	if done < int64(len(cps)) {
		f.log.Info("backfill progress", "source", src.ID, "files", files, "of", total, "records", records,
			"day_folders_done", done, "of_day_folders", len(cps))
		return nil
	}
	st.Backfill = sources.BackfillDone
	f.log.Info("backfill done", "source", src.ID, "day_folders", len(cps), "files", files, "records", records)
	return f.store.PutState(ctx, *st)
}
