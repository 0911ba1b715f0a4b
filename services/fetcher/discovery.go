package fetcher

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/discovery"
	"github.com/trailstream/trailstream/pkg/sources"
)

// Trail discovery (--discover-trails): every discoverEvery the fetcher that owns the unit
// "discovery" lists the trails of the account of its own credentials, and of each role a
// configured source names, in every enabled region, and keeps one source per trail: a new
// trail gets one, enabled; a deleted trail's source is removed (the files read from it stay
// in the ledger). A trail whose files a configured source already covers gets none. A
// trail is removed only when its home region answered: a region that failed keeps its
// trails' sources.

// discoverEvery is how often the trails are listed.
var discoverEvery = 5 * time.Minute

// discoverTrails runs one round of discovery.
func (f *fetcher) discoverTrails(ctx context.Context) error {
	all, _ := f.enabledWatch()
	f.mu.Lock()
	every := append([]sources.Source(nil), f.sources...)
	f.mu.Unlock()
	accesses := []awsutil.Access{{Region: f.cfg.AWSRegion, Endpoint: f.cfg.AWSEndpoint}}
	seen := map[string]bool{"": true}
	for _, s := range every {
		if s.Origin != sources.OriginDiscovery && s.RoleARN != "" && !seen[s.RoleARN] {
			seen[s.RoleARN] = true
			accesses = append(accesses, awsutil.Access{Region: f.cfg.AWSRegion, Endpoint: f.cfg.AWSEndpoint, RoleARN: s.RoleARN, ExternalID: s.ExternalID})
		}
	}
	var (
		want []sources.Source
		errs []error
	)
	for _, a := range accesses {
		cfg, err := awsutil.Load(ctx, a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		trails, err := discovery.Discover(ctx, cfg)
		if err != nil {
			errs = append(errs, err)
		}
		found := map[string]bool{}
		for _, t := range trails {
			found[t.SourceID()] = true
			if covered(all, t) {
				continue
			}
			region := t.HomeRegion
			if r, err := awsutil.BucketRegion(ctx, awsutil.NewClients(cfg, f.cfg.AWSEndpoint).S3, t.Bucket); err == nil && r != "" {
				region = r
			}
			want = append(want, sources.Source{ID: t.SourceID(), Name: t.Name, Origin: sources.OriginDiscovery, Bucket: t.Bucket,
				Prefix: t.Prefix, Region: region, RoleARN: a.RoleARN, ExternalID: a.ExternalID, Environment: f.cfg.Environment,
				Enabled: true, TrailARN: t.ARN, Organization: t.Organization})
		}
		// Keep the sources of trails this access may just not have seen this time.
		for _, s := range every {
			if s.Origin == sources.OriginDiscovery && s.RoleARN == a.RoleARN && !found[s.ID] && !discovery.Complete(err, arnRegion(s.TrailARN)) {
				want = append(want, s)
			}
		}
	}
	added, removed, err := f.store.Sync(ctx, sources.OriginDiscovery, want, true)
	if err != nil {
		return err
	}
	if len(added)+len(removed) > 0 {
		f.log.Info("trails discovered", "added", added, "removed", removed)
		if err := f.refresh(ctx); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// covered reports whether a source not of discovery covers the files of t.
func covered(list []sources.Source, t discovery.Trail) bool {
	for _, s := range list {
		if s.Origin != sources.OriginDiscovery && s.Bucket == t.Bucket && strings.HasPrefix(strings.Trim(t.Prefix, "/")+"/", s.KeyPrefix()) {
			return true
		}
	}
	return false
}

// arnRegion returns the region of an ARN (arn:aws:cloudtrail:<region>:<account>:trail/<name>).
func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[3]
}
