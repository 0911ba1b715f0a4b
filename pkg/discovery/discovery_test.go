package discovery_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/discovery"
	"github.com/trailstream/trailstream/pkg/discovery/awstest"
)

const (
	account = "111111111111" // trailstream's own account
	other   = "222222222222" // an account whose trails trailstream must not see without a role
	logs    = "333333333333" // the account trailstream reads through a role
)

// world is an AWS of five regions, one of them not enabled, and the trails of the tests.
type world struct {
	srv *awstest.Server
	key awstest.Key
}

func newWorld(t *testing.T) *world {
	t.Helper()
	s := awstest.New(t)
	for _, r := range []struct{ name, status string }{
		{"us-east-1", awstest.OptInNotRequired},
		{"eu-west-1", awstest.OptInNotRequired},
		{"ap-southeast-2", awstest.OptInNotRequired},
		{"me-south-1", awstest.OptedIn},
		{"af-south-1", awstest.NotOptedIn},
	} {
		s.AddRegion(r.name, r.status)
	}
	w := &world{srv: s, key: s.AddUser(account, "trailstream")}
	s.Env(t, w.key)
	t.Setenv("AWS_REGION", "us-east-1")
	return w
}

func (w *world) config(t *testing.T, a awsutil.Access) aws.Config {
	t.Helper()
	cfg, err := awsutil.Load(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func discover(t *testing.T, cfg aws.Config) ([]discovery.Trail, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return discovery.Discover(ctx, cfg)
}

func names(trails []discovery.Trail) []string {
	var out []string
	for _, t := range trails {
		out = append(out, t.Name)
	}
	return out
}

func TestDiscover(t *testing.T) {
	w := newWorld(t)
	s := w.srv
	s.PutTrail(awstest.Trail{Account: account, Name: "org", HomeRegion: "us-east-1", Bucket: "org-trail",
		MultiRegion: true, Organization: true, Logging: true, SNSTopicARN: "arn:aws:sns:us-east-1:111111111111:org-trail"})
	s.PutTrail(awstest.Trail{Account: account, Name: "eu", HomeRegion: "eu-west-1", Bucket: "eu-trail", Prefix: "eu/prod",
		KMSKeyID: "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab", Logging: true})
	s.PutTrail(awstest.Trail{Account: account, Name: "bahrain", HomeRegion: "me-south-1", Bucket: "me-trail", Logging: false})
	s.PutTrail(awstest.Trail{Account: account, Name: "cape-town", HomeRegion: "af-south-1", Bucket: "af-trail", Logging: true})
	s.PutTrail(awstest.Trail{Account: other, Name: "not-ours", HomeRegion: "us-east-1", Bucket: "other", Logging: true})

	got, err := discover(t, w.config(t, awsutil.Access{}))
	if err != nil {
		t.Fatal(err)
	}
	want := []discovery.Trail{
		{Name: "eu", ARN: "arn:aws:cloudtrail:eu-west-1:111111111111:trail/eu", HomeRegion: "eu-west-1", Bucket: "eu-trail",
			Prefix: "eu/prod", KMSKeyID: "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab", Logging: true},
		{Name: "bahrain", ARN: "arn:aws:cloudtrail:me-south-1:111111111111:trail/bahrain", HomeRegion: "me-south-1", Bucket: "me-trail"},
		{Name: "org", ARN: "arn:aws:cloudtrail:us-east-1:111111111111:trail/org", HomeRegion: "us-east-1", Bucket: "org-trail",
			SNSTopicARN: "arn:aws:sns:us-east-1:111111111111:org-trail", MultiRegion: true, Organization: true, Logging: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Discover:\n got %+v\nwant %+v", got, want)
	}

	// Every enabled region was asked once, the one not opted in never.
	// and each trail's status once, in its home region: no shadow trail was listed.
	asked := map[string]int{}
	status := map[string]int{}
	for _, c := range s.Calls() {
		switch c.Action {
		case "DescribeTrails":
			asked[c.Region]++
		case "GetTrailStatus":
			status[c.Region]++
		}
		if c.Region == "af-south-1" {
			t.Errorf("called %s %s in af-south-1, a region not enabled", c.Service, c.Action)
		}
		if c.Status != 200 {
			t.Errorf("%s %s in %s answered %d", c.Service, c.Action, c.Region, c.Status)
		}
	}
	wantAsked := map[string]int{"us-east-1": 1, "eu-west-1": 1, "ap-southeast-2": 1, "me-south-1": 1}
	if len(asked) != len(wantAsked) {
		t.Errorf("DescribeTrails per region %v, want %v", asked, wantAsked)
	}
	for r, n := range wantAsked {
		if asked[r] != n {
			t.Errorf("DescribeTrails in %s %d times, want %d", r, asked[r], n)
		}
	}
	if want := map[string]int{"us-east-1": 1, "eu-west-1": 1, "me-south-1": 1}; !maps.Equal(status, want) {
		t.Errorf("GetTrailStatus per region %v, want %v", status, want)
	}
}

// A trail deleted between two runs is gone from the second; a new one is there.
func TestDiscoverChanges(t *testing.T) {
	w := newWorld(t)
	keep := w.srv.PutTrail(awstest.Trail{Account: account, Name: "keep", HomeRegion: "us-east-1", Bucket: "b1", Logging: true})
	gone := w.srv.PutTrail(awstest.Trail{Account: account, Name: "gone", HomeRegion: "ap-southeast-2", Bucket: "b2", MultiRegion: true, Logging: true})
	cfg := w.config(t, awsutil.Access{})

	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{"first", func() {}, []string{"gone", "keep"}},
		{"trail deleted", func() { w.srv.RemoveTrail(gone) }, []string{"keep"}},
		{"trail created", func() {
			w.srv.PutTrail(awstest.Trail{Account: account, Name: "new", HomeRegion: "eu-west-1", Bucket: "b3", Logging: true})
		}, []string{"new", "keep"}},
		{"region opted out", func() { w.srv.AddRegion("eu-west-1", awstest.NotOptedIn) }, []string{"keep"}},
		{"logging stopped", func() { w.srv.SetLogging(keep, false) }, []string{"keep"}},
	}
	for _, st := range steps {
		st.change()
		got, err := discover(t, cfg)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !slices.Equal(names(got), st.want) {
			t.Errorf("%s: trails %v, want %v", st.name, names(got), st.want)
		}
	}
	got, _ := discover(t, cfg)
	if len(got) != 1 || got[0].Logging {
		t.Errorf("after StopLogging: %+v, want keep with Logging false", got)
	}
}

// A region that fails hides its own trails only; Complete says which regions' absences count.
func TestDiscoverErrors(t *testing.T) {
	tests := []struct {
		name      string
		service   string
		action    string
		region    string
		code      string
		want      []string
		logging   map[string]bool
		complete  map[string]bool
		wantInErr string
	}{
		{
			name: "one region's trails", service: "cloudtrail", action: "DescribeTrails", region: "eu-west-1", code: "AccessDeniedException",
			want:      []string{"ap", "us"},
			complete:  map[string]bool{"eu-west-1": false, "us-east-1": true, "ap-southeast-2": true},
			wantInErr: "eu-west-1: list trails",
		},
		{
			name: "one trail's status", service: "cloudtrail", action: "GetTrailStatus", region: "us-east-1", code: "TrailNotFoundException",
			want:      []string{"ap", "eu", "us"},
			logging:   map[string]bool{"us": false, "eu": true, "ap": true},
			complete:  map[string]bool{"eu-west-1": true, "us-east-1": true},
			wantInErr: "status of trail arn:aws:cloudtrail:us-east-1:111111111111:trail/us",
		},
		{
			name: "the regions", service: "ec2", action: "DescribeRegions", code: "UnauthorizedOperation",
			want:      nil,
			complete:  map[string]bool{"eu-west-1": false, "us-east-1": false},
			wantInErr: "UnauthorizedOperation",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			for _, tr := range []struct{ name, region string }{{"us", "us-east-1"}, {"eu", "eu-west-1"}, {"ap", "ap-southeast-2"}} {
				w.srv.PutTrail(awstest.Trail{Account: account, Name: tr.name, HomeRegion: tr.region, Bucket: "b-" + tr.name, Logging: true})
			}
			w.srv.Fail(tt.service, tt.action, tt.region, awstest.Fault{Code: tt.code, Message: "injected"})
			got, err := discover(t, w.config(t, awsutil.Access{}))
			if err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("error %v, want one with %q", err, tt.wantInErr)
			}
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("trails %v, want %v", names(got), tt.want)
			}
			for _, tr := range got {
				if want, ok := tt.logging[tr.Name]; ok && tr.Logging != want {
					t.Errorf("trail %s Logging %v, want %v", tr.Name, tr.Logging, want)
				}
			}
			for region, want := range tt.complete {
				if c := discovery.Complete(err, region); c != want {
					t.Errorf("Complete(err, %s) = %v, want %v", region, c, want)
				}
			}
		})
	}
	if !discovery.Complete(nil, "us-east-1") {
		t.Error("Complete(nil) = false")
	}
}

// Through a role: the role's account's trails, with the role's credentials for every call.
func TestDiscoverAssumeRole(t *testing.T) {
	const roleARN = "arn:aws:iam::333333333333:role/trailstream-read"
	tests := []struct {
		name       string
		externalID string
		trusted    []string
		wantErr    string
	}{
		{name: "right external ID", externalID: "f1d2c3b4a5", trusted: []string{account}},
		{name: "wrong external ID", externalID: "guess", trusted: []string{account}, wantErr: "AccessDenied"},
		{name: "no external ID", externalID: "", trusted: []string{account}, wantErr: "AccessDenied"},
		{name: "caller not trusted", externalID: "f1d2c3b4a5", trusted: []string{other}, wantErr: "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.srv.AddRole(roleARN, "f1d2c3b4a5", tt.trusted...)
			w.srv.PutTrail(awstest.Trail{Account: logs, Name: "central", HomeRegion: "eu-west-1", Bucket: "central-logs",
				MultiRegion: true, Organization: true, Logging: true})
			w.srv.PutTrail(awstest.Trail{Account: account, Name: "own", HomeRegion: "us-east-1", Bucket: "own-logs", Logging: true})

			got, err := discover(t, w.config(t, awsutil.Access{RoleARN: roleARN, ExternalID: tt.externalID}))
			calls := w.srv.Calls()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				if len(got) != 0 {
					t.Errorf("trails %v with a refused role", names(got))
				}
				for _, c := range calls {
					if c.Service != "sts" {
						t.Errorf("%s %s called although the role was refused", c.Service, c.Action)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), []string{"central"}) || !got[0].Organization {
				t.Fatalf("trails %+v, want the organization trail central of account %s", got, logs)
			}
			var assumed int
			for _, c := range calls {
				switch c.Service {
				case "sts":
					assumed++
					if c.AccessKey != w.key.ID {
						t.Errorf("AssumeRole signed by %s, want the base key %s", c.AccessKey, w.key.ID)
					}
				default:
					if c.AccessKey == w.key.ID || !strings.HasPrefix(c.AccessKey, "ASIA") {
						t.Errorf("%s %s signed by %s, want the role's session key", c.Service, c.Action, c.AccessKey)
					}
					if want := "arn:aws:sts::333333333333:assumed-role/trailstream-read/trailstream"; c.Principal != want {
						t.Errorf("%s %s by %s, want %s", c.Service, c.Action, c.Principal, want)
					}
				}
			}
			if assumed != 1 {
				t.Errorf("AssumeRole called %d times, want once (the credentials are cached)", assumed)
			}
		})
	}
}

func TestRegionsErrorUnwraps(t *testing.T) {
	w := newWorld(t)
	w.srv.Fail("ec2", "DescribeRegions", "", awstest.Fault{Code: "UnauthorizedOperation", Message: "no"})
	_, err := discover(t, w.config(t, awsutil.Access{}))
	var re *discovery.RegionsError
	var api *awsutil.APIError
	if !errors.As(err, &re) || !errors.As(err, &api) || api.Code != "UnauthorizedOperation" {
		t.Fatalf("error %v (%T), want a RegionsError wrapping the API's UnauthorizedOperation", err, err)
	}
}

func TestSourceID(t *testing.T) {
	tr := discovery.Trail{ARN: "arn:aws:cloudtrail:us-east-1:111111111111:trail/org"}
	if got, want := tr.SourceID(), "trail:arn:aws:cloudtrail:us-east-1:111111111111:trail/org"; got != want {
		t.Errorf("SourceID = %q, want %q", got, want)
	}
}
