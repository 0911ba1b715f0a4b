package fetcher

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/collect"
	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/pkg/sources"
)

// Completeness: CloudTrail's hourly digests list every log file delivered in their hour.
// Once a digest was read longer than --completeness-grace ago, every file it lists must be
// in the ledger; those that are not are reported as one collection-gap detection per
// account, region and hour, with their keys. With --heal they are fetched first, when they
// can be. A source whose account and region sent no file for much longer than usual raises
// collection-silent.

// Rule IDs of the collection's detections.
const (
	RuleCollectionGap     = "collection-gap"
	RuleCollectionSilent  = "collection-silent"
	RuleCollectionChanged = "collection-file-changed"
)

// completeEvery is how often a source's completeness is checked.
func completeEvery(grace time.Duration) time.Duration {
	return min(max(grace/2, time.Second), 5*time.Minute)
}

// complete checks src's digests against the ledger, heals and reports what is missing, and
// looks for silent accounts and regions.
func (f *fetcher) complete(ctx context.Context, src sources.Source, st sources.State) error {
	since := st.BackfillSince
	if since.IsZero() || since.Unix() <= 0 {
		since = time.Now().Add(-30 * 24 * time.Hour)
	}
	missing, err := f.ledger.Missing(ctx, src.ID, since, f.cfg.CompletenessGrace, 10000)
	if err != nil {
		return err
	}
	if f.cfg.Heal && len(missing) > 0 {
		if missing, err = f.heal(ctx, src, missing); err != nil {
			return err
		}
	}
	var dets []model.Detection
	for _, g := range gaps(missing) {
		dets = append(dets, gapDetection(src, g))
	}
	changed, err := f.ledger.Changed(ctx, src.ID, since, 10000)
	if err != nil {
		return err
	}
	for _, g := range gaps(changed) {
		dets = append(dets, changedDetection(src, g))
	}
	silent, err := f.silent(ctx, src)
	if err != nil {
		return err
	}
	dets = append(dets, silent...)
	return f.report(ctx, dets)
}

// heal reads the missing files that exist now and returns those still missing. A file the
// ledger has as failed is not tried again (--reread does).
func (f *fetcher) heal(ctx context.Context, src sources.Source, missing []ledger.DigestFile) ([]ledger.DigestFile, error) {
	cl, err := f.clients.of(ctx, src)
	if err != nil {
		return nil, err
	}
	var still []ledger.DigestFile
	for _, m := range missing {
		if ctx.Err() != nil {
			return still, ctx.Err()
		}
		seen, err := f.ledger.Seen(ctx, m.Bucket, []string{m.Key})
		if err != nil {
			return nil, err
		}
		if seen[m.Key] {
			still = append(still, m)
			continue
		}
		if _, err := cl.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(m.Bucket), Key: aws.String(m.Key)}); err != nil {
			still = append(still, m) // not there (yet)
			continue
		}
		res, err := f.reader.Get(ctx, cl.S3, collect.Object{Source: src, Bucket: m.Bucket, Key: m.Key, Path: ledger.PathHeal, Checked: true})
		if err != nil {
			still = append(still, m)
			continue
		}
		f.log.Info("missing file healed", "source", src.ID, "bucket", m.Bucket, "key", m.Key, "records", res.Records)
	}
	return still, nil
}

// gap is the missing files of one account, region and hour.
type gap struct {
	account, region string
	hour            time.Time
	bucket          string
	keys            []string
	digests         []string
}

func gaps(missing []ledger.DigestFile) []gap {
	by := map[string]*gap{}
	var order []string
	for _, m := range missing {
		id := m.Account + "/" + m.Region + "/" + m.Hour.UTC().Format(time.RFC3339)
		g, ok := by[id]
		if !ok {
			g = &gap{account: m.Account, region: m.Region, hour: m.Hour.UTC(), bucket: m.Bucket}
			by[id] = g
			order = append(order, id)
		}
		g.keys = append(g.keys, m.Key)
		if len(g.digests) == 0 || g.digests[len(g.digests)-1] != m.DigestKey {
			g.digests = append(g.digests, m.DigestKey)
		}
	}
	out := make([]gap, len(order))
	for i, id := range order {
		out[i] = *by[id]
		sort.Strings(out[i].keys)
	}
	return out
}

func gapDetection(src sources.Source, g gap) model.Detection {
	ctx, _ := json.Marshal(map[string]any{
		"source": src.ID, "bucket": g.bucket, "region": g.region, "hour": g.hour.Format(time.RFC3339),
		"missing": len(g.keys), "keys": g.keys, "digests": g.digests,
	})
	files := "files"
	if len(g.keys) == 1 {
		files = "file"
	}
	return model.Detection{
		DetectionID: rules.DetectionID(RuleCollectionGap, src.ID, g.account, g.region, g.hour.Format(time.RFC3339)),
		RuleID:      RuleCollectionGap, Severity: "high",
		Title:     fmt.Sprintf("%d CloudTrail log %s of %s %s delivered in the hour from %s never read", len(g.keys), files, g.account, g.region, g.hour.Format("2006-01-02 15:04Z")),
		AccountID: g.account, Environment: src.Environment, ResourceType: "CloudTrail log file", ResourceName: "s3://" + g.bucket + "/" + g.keys[0],
		FirstTime: g.hour, LastTime: g.hour.Add(time.Hour), DetectedAt: time.Now().UTC(),
		Description: "A CloudTrail digest lists log files that trailstream never read: events of that hour are missing from the " +
			"pipeline. The files may have been deleted or moved before they were read (defense evasion), or collection failed. " +
			"--heal fetches them once they can be read.",
		Tags: []string{"attack.defense_evasion", "attack.t1070"}, Source: "collection", Context: string(ctx),
	}
}

func changedDetection(src sources.Source, g gap) model.Detection {
	ctx, _ := json.Marshal(map[string]any{
		"source": src.ID, "bucket": g.bucket, "region": g.region, "hour": g.hour.Format(time.RFC3339),
		"changed": len(g.keys), "keys": g.keys, "digests": g.digests,
	})
	return model.Detection{
		DetectionID: rules.DetectionID(RuleCollectionChanged, src.ID, g.account, g.region, g.hour.Format(time.RFC3339), fmt.Sprint(len(g.keys))),
		RuleID:      RuleCollectionChanged, Severity: "critical",
		Title: fmt.Sprintf("%d CloudTrail log file(s) of %s %s from the hour %s differ from what CloudTrail delivered", len(g.keys),
			g.account, g.region, g.hour.Format("2006-01-02 15:04Z")),
		AccountID: g.account, Environment: src.Environment, ResourceType: "CloudTrail log file", ResourceName: "s3://" + g.bucket + "/" + g.keys[0],
		FirstTime: g.hour, LastTime: g.hour.Add(time.Hour), DetectedAt: time.Now().UTC(),
		Description: "The SHA-256 of a log file as read differs from the hash its CloudTrail digest lists: the file was changed " +
			"after delivery (events altered or removed to cover tracks), or replaced. The digest itself is not verified: " +
			"aws cloudtrail validate-logs checks its signature.",
		Tags: []string{"attack.defense_evasion", "attack.t1070", "attack.t1565.001"}, Source: "collection", Context: string(ctx),
	}
}

// silentAfter is how many usual gaps between files an account and region may stay silent
// before collection-silent, and silentMin the shortest silence reported.
const (
	silentAfter = 6
	silentMin   = 2 * time.Hour
)

// silent returns a collection-silent detection for each account and region of src whose
// newest log file is older than silentAfter times their usual interval between files (over
// the last week, from at least 6 files), and than silentMin.
func (f *fetcher) silent(ctx context.Context, src sources.Source) ([]model.Detection, error) {
	rows, err := f.ledger.Cadence(ctx, src.ID, time.Now().Add(-7*24*time.Hour))
	if err != nil {
		return nil, err
	}
	var out []model.Detection
	now := time.Now()
	for _, c := range rows {
		if c.Files < 6 {
			continue
		}
		usual := c.Newest.Sub(c.Oldest) / time.Duration(c.Files-1)
		quiet := now.Sub(c.Newest)
		if quiet < silentMin || quiet < silentAfter*usual {
			continue
		}
		ctx, _ := json.Marshal(map[string]any{"source": src.ID, "region": c.Region, "newest_file_event": c.Newest.UTC().Format(time.RFC3339),
			"usual_interval_seconds": int(usual.Seconds()), "silent_seconds": int(quiet.Seconds()), "files_last_week": c.Files})
		out = append(out, model.Detection{
			DetectionID: rules.DetectionID(RuleCollectionSilent, src.ID, c.Account, c.Region, c.Newest.UTC().Format(time.RFC3339)),
			RuleID:      RuleCollectionSilent, Severity: "medium",
			Title: fmt.Sprintf("No CloudTrail file from %s %s for %s (usually one every %s)", c.Account, c.Region,
				quiet.Truncate(time.Minute), usual.Truncate(time.Second)),
			AccountID: c.Account, Environment: src.Environment, ResourceType: "CloudTrail trail", ResourceName: src.Bucket,
			FirstTime: c.Newest.UTC(), LastTime: now.UTC(), DetectedAt: now.UTC(),
			Description: "An account and region that used to deliver CloudTrail files regularly has stopped: the trail may have " +
				"been stopped or deleted, its bucket policy changed, or collection is failing.",
			Tags: []string{"attack.defense_evasion", "attack.t1562.008"}, Source: "collection", Context: string(ctx),
		})
	}
	return out, nil
}

// report produces dets on the detections topic, each once per fetcher process unless it
// changed (a gap of the same hour with more files).
func (f *fetcher) report(ctx context.Context, dets []model.Detection) error {
	// The schema is registered at the first detection, not at start: collecting does not
	// wait for the registry.
	if len(dets) == 0 {
		return nil
	}
	if err := f.serde.RegisterDetections(ctx, f.cfg.TopicDetections); err != nil {
		return err
	}
	var (
		msgs  []kafka.Message
		fresh []model.Detection
	)
	f.mu.Lock()
	if f.reported == nil {
		f.reported = map[string]string{}
	}
	for i := range dets {
		d := &dets[i]
		if f.reported[d.DetectionID] == d.Title {
			continue
		}
		v, err := f.serde.EncodeDetection(nil, d)
		if err != nil {
			f.mu.Unlock()
			return fmt.Errorf("encode %s detection: %w", d.RuleID, err)
		}
		msgs, fresh = append(msgs, kafka.Message{Key: []byte(d.AccountID), Value: v}), append(fresh, *d)
	}
	f.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	if _, err := f.detections.Write(ctx, msgs...); err != nil {
		return fmt.Errorf("write detections: %w", err)
	}
	f.mu.Lock()
	for _, d := range fresh {
		f.reported[d.DetectionID] = d.Title
	}
	f.mu.Unlock()
	for _, d := range fresh {
		metrics.DetectionsPublished.WithLabelValues(d.RuleID, d.Severity).Inc()
		f.log.Warn("collection detection", "rule", d.RuleID, "account", d.AccountID, "title", d.Title)
	}
	return nil
}
