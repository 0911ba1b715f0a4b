package fetcher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailstream/trailstream/pkg/layout"
	"github.com/trailstream/trailstream/pkg/sources"
)

// folder is one day folder of a source: what backfill and scanning list, and what their
// checkpoints are kept by.
type folder struct {
	prefix  string
	account string
	region  string
	kind    layout.Kind
	day     time.Time
}

func (d folder) checkpoint(src sources.Source, kind string) sources.Checkpoint {
	return sources.Checkpoint{Source: src.ID, Prefix: d.prefix, Kind: kind, Account: d.account, Region: d.region, Day: d.day}
}

// subfolders lists the folders right under prefix (S3 common prefixes with delimiter "/"),
// as names without prefix and slash.
func subfolders(ctx context.Context, cl *s3.Client, bucket, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
			if name != "" {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// dayFolders returns the day folders of src from the day of since to the day of until, of
// every account (of every organization), kind and region found in the bucket, by prefix.
// The listing runs limit requests at a time.
func dayFolders(ctx context.Context, cl *s3.Client, src sources.Source, since, until time.Time, limit int) ([]folder, error) {
	since, until = since.UTC().Truncate(24*time.Hour), until.UTC().Truncate(24*time.Hour)
	l := &lister{ctx: ctx, cl: cl, bucket: src.Bucket, sem: make(chan struct{}, limit)}
	root := layout.Root(src.Prefix, "")
	top, err := subfolders(ctx, cl, src.Bucket, root)
	if err != nil {
		return nil, err
	}
	for _, name := range top {
		switch {
		case layout.IsAccount(name):
			l.account(root+name+"/", name, since, until)
		case layout.IsOrg(name):
			l.run(func() error {
				accounts, err := subfolders(ctx, cl, src.Bucket, root+name+"/")
				for _, a := range accounts {
					if layout.IsAccount(a) {
						l.account(root+name+"/"+a+"/", a, since, until)
					}
				}
				return err
			})
		}
	}
	l.wg.Wait()
	sort.Slice(l.out, func(i, j int) bool { return l.out[i].prefix < l.out[j].prefix })
	return l.out, errors.Join(l.errs...)
}

// lister collects day folders from listings running in parallel.
type lister struct {
	ctx    context.Context
	cl     *s3.Client
	bucket string
	sem    chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	out    []folder
	errs   []error
}

// run runs fn in its own goroutine once a request slot is free.
func (l *lister) run(fn func() error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.sem <- struct{}{}
		err := fn()
		<-l.sem
		if err != nil {
			l.mu.Lock()
			l.errs = append(l.errs, err)
			l.mu.Unlock()
		}
	}()
}

func (l *lister) add(d folder) {
	l.mu.Lock()
	l.out = append(l.out, d)
	l.mu.Unlock()
}

// account lists the kinds and regions under one account's folder.
func (l *lister) account(prefix, account string, since, until time.Time) {
	l.run(func() error {
		kinds, err := subfolders(l.ctx, l.cl, l.bucket, prefix)
		if err != nil {
			return err
		}
		for _, k := range kinds {
			kind, ok := layout.FolderKind(k)
			if !ok {
				continue
			}
			l.run(func() error {
				regions, err := subfolders(l.ctx, l.cl, l.bucket, prefix+k+"/")
				for _, r := range regions {
					l.region(prefix+k+"/"+r+"/", account, r, kind, since, until)
				}
				return err
			})
		}
		return nil
	})
}

// region adds the day folders of one region: computed for a span of a few days (scanning),
// listed year, month and day otherwise (backfill, which may reach back years).
func (l *lister) region(prefix, account, region string, kind layout.Kind, since, until time.Time) {
	if until.Sub(since) <= 3*24*time.Hour {
		for d := since; !d.After(until); d = d.Add(24 * time.Hour) {
			l.add(folder{prefix: prefix + d.Format("2006/01/02") + "/", account: account, region: region, kind: kind, day: d})
		}
		return
	}
	l.run(func() error {
		years, err := subfolders(l.ctx, l.cl, l.bucket, prefix)
		if err != nil {
			return err
		}
		for _, y := range years {
			if y < since.Format("2006") || y > until.Format("2006") {
				continue
			}
			l.run(func() error {
				months, err := subfolders(l.ctx, l.cl, l.bucket, prefix+y+"/")
				if err != nil {
					return err
				}
				for _, m := range months {
					if ym := y + "/" + m; ym < since.Format("2006/01") || ym > until.Format("2006/01") {
						continue
					}
					l.run(func() error {
						days, err := subfolders(l.ctx, l.cl, l.bucket, prefix+y+"/"+m+"/")
						for _, d := range days {
							day, perr := time.Parse("2006/01/02", y+"/"+m+"/"+d)
							if perr != nil || day.Before(since) || day.After(until) {
								continue
							}
							l.add(folder{prefix: prefix + y + "/" + m + "/" + d + "/", account: account, region: region, kind: kind, day: day})
						}
						return err
					})
				}
				return nil
			})
		}
		return nil
	})
}
