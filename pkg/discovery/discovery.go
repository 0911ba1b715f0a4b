// Package discovery finds every CloudTrail trail of an account: the account's enabled regions
// (EC2 DescribeRegions), each region's trails (CloudTrail DescribeTrails, without shadow
// trails, so that a multi-region trail is listed once, in its home region) and whether each
// is logging (GetTrailStatus). The account is the one of the configuration's credentials:
// give it a role (awsutil.Load with a RoleARN) to look into another account.
//
// It is a library: running it on a schedule and turning trails into sources is the caller's.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"

	"github.com/trailstream/trailstream/pkg/awsutil"
)

// Trail is one trail of the account.
type Trail struct {
	Name        string
	ARN         string
	HomeRegion  string
	Bucket      string // where the trail delivers its files
	Prefix      string // the trail's S3 key prefix, "" for none
	SNSTopicARN string // the topic CloudTrail notifies of each file, "" for none
	KMSKeyID    string // the key the files are encrypted with (SSE-KMS), "" for SSE-S3
	MultiRegion bool
	// Organization is true for an organization trail: one trail, and one bucket layout
	// (AWSLogs/o-<org>/<account>/...), for every member account.
	Organization bool
	Logging      bool // the trail is delivering files
}

// SourceID returns the ID of the source collecting the trail's files: "trail:" and its ARN.
func (t Trail) SourceID() string { return "trail:" + t.ARN }

// RegionsError is the error of listing the account's regions: no trail could be looked for.
type RegionsError struct{ Err error }

func (e *RegionsError) Error() string { return "list regions: " + e.Err.Error() }
func (e *RegionsError) Unwrap() error { return e.Err }

// RegionError is the error of one region: its trails are missing from Discover's result when
// Trail is empty, or the trail named has Logging false because its status could not be read.
type RegionError struct {
	Region string
	Trail  string // the ARN of the trail whose status failed; "" when listing the region's trails did
	Err    error
}

func (e *RegionError) Error() string {
	if e.Trail != "" {
		return fmt.Sprintf("%s: status of trail %s: %v", e.Region, e.Trail, e.Err)
	}
	return fmt.Sprintf("%s: list trails: %v", e.Region, e.Err)
}

func (e *RegionError) Unwrap() error { return e.Err }

// concurrency is how many regions are asked at once.
const concurrency = 6

// Discover returns the trails of the account of cfg in every region it has enabled (opted in
// or needing no opt-in), by ARN. cfg.Region is where the regions are listed (us-east-1 when
// empty). A region that fails does not hide the others' trails: its error, a *RegionError, is
// joined into the returned error beside the trails found. Use Complete to tell whether a trail
// missing from the result is gone.
func Discover(ctx context.Context, cfg aws.Config) ([]Trail, error) {
	regions, err := awsutil.NewEC2(cfg).DescribeRegions(ctx, true)
	if err != nil {
		return nil, &RegionsError{Err: err}
	}
	var (
		mu     sync.Mutex
		trails = map[string]Trail{}
		errs   []error
		wg     sync.WaitGroup
		sem    = make(chan struct{}, concurrency)
	)
	for _, r := range regions {
		if !r.Enabled() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				errs = append(errs, &RegionError{Region: r.Name, Err: ctx.Err()})
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			found, rerrs := regionTrails(ctx, cfg, r.Name)
			mu.Lock()
			defer mu.Unlock()
			for _, t := range found {
				trails[t.ARN] = t
			}
			errs = append(errs, rerrs...)
		}()
	}
	wg.Wait()
	out := make([]Trail, 0, len(trails))
	for _, t := range trails {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Trail) int { return strings.Compare(a.ARN, b.ARN) })
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return out, errors.Join(errs...)
}

// regionTrails returns the trails whose home region is region, with their status.
func regionTrails(ctx context.Context, cfg aws.Config, region string) ([]Trail, []error) {
	ct := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.Region = region })
	out, err := ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(false)})
	if err != nil {
		return nil, []error{&RegionError{Region: region, Err: err}}
	}
	var (
		trails []Trail
		errs   []error
	)
	for _, d := range out.TrailList {
		t := Trail{
			Name:         aws.ToString(d.Name),
			ARN:          aws.ToString(d.TrailARN),
			HomeRegion:   aws.ToString(d.HomeRegion),
			Bucket:       aws.ToString(d.S3BucketName),
			Prefix:       aws.ToString(d.S3KeyPrefix),
			SNSTopicARN:  aws.ToString(d.SnsTopicARN),
			KMSKeyID:     aws.ToString(d.KmsKeyId),
			MultiRegion:  aws.ToBool(d.IsMultiRegionTrail),
			Organization: aws.ToBool(d.IsOrganizationTrail),
		}
		if t.HomeRegion == "" {
			t.HomeRegion = region
		}
		if t.ARN == "" || t.HomeRegion != region {
			continue // a shadow trail: listed by its home region
		}
		st, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(t.ARN)})
		if err != nil {
			errs = append(errs, &RegionError{Region: region, Trail: t.ARN, Err: err})
		} else {
			t.Logging = aws.ToBool(st.IsLogging)
		}
		trails = append(trails, t)
	}
	return trails, errs
}

// Complete reports whether the trails Discover returned with err are all the trails of
// region: true when err is nil or has no error of listing region's trails nor of listing the
// regions. A source of a trail of that home region that is missing from the result may be
// removed only when Complete is true.
func Complete(err error, region string) bool {
	if err == nil {
		return true
	}
	var re *RegionsError
	if errors.As(err, &re) {
		return false
	}
	stack := []error{err}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r, ok := e.(*RegionError); ok {
			if r.Region == region && r.Trail == "" {
				return false
			}
			continue
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			stack = append(stack, u.Unwrap()...)
		case interface{ Unwrap() error }:
			if w := u.Unwrap(); w != nil {
				stack = append(stack, w)
			}
		}
	}
	return true
}
