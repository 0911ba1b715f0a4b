package awsutil_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/discovery/awstest"
)

const account = "111111111111"

func newServer(t *testing.T) (*awstest.Server, awstest.Key) {
	t.Helper()
	s := awstest.New(t)
	s.AddRegion("us-east-1", awstest.OptInNotRequired)
	s.AddRegion("eu-central-1", awstest.OptInNotRequired)
	s.AddRegion("ap-east-1", awstest.NotOptedIn)
	s.AddRegion("eu-south-1", awstest.OptedIn)
	k := s.AddUser(account, "trailstream")
	s.Env(t, k)
	t.Setenv("AWS_REGION", "us-east-1")
	return s, k
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		a    awsutil.Access
		want string
	}{
		{"external ID alone", awsutil.Access{ExternalID: "x1"}, "external ID without a role ARN"},
		{"not an ARN", awsutil.Access{RoleARN: "trailstream-read"}, `role ARN "trailstream-read"`},
		{"a user", awsutil.Access{RoleARN: "arn:aws:iam::111111111111:user/alice"}, "is not an IAM role"},
		{"no account", awsutil.Access{RoleARN: "arn:aws:iam:::role/x"}, "is not an IAM role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := awsutil.Load(context.Background(), tt.a)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestDescribeRegions(t *testing.T) {
	s, k := newServer(t)
	cfg, err := awsutil.Load(ctx(t), awsutil.Access{Region: "eu-central-1"})
	if err != nil {
		t.Fatal(err)
	}
	ec2 := awsutil.NewEC2(cfg)
	for _, tt := range []struct {
		all  bool
		want []awsutil.Region
	}{
		{false, []awsutil.Region{
			{Name: "us-east-1", Endpoint: "ec2.us-east-1.amazonaws.com", OptInStatus: "opt-in-not-required"},
			{Name: "eu-central-1", Endpoint: "ec2.eu-central-1.amazonaws.com", OptInStatus: "opt-in-not-required"},
			{Name: "eu-south-1", Endpoint: "ec2.eu-south-1.amazonaws.com", OptInStatus: "opted-in"},
		}},
		{true, []awsutil.Region{
			{Name: "us-east-1", Endpoint: "ec2.us-east-1.amazonaws.com", OptInStatus: "opt-in-not-required"},
			{Name: "eu-central-1", Endpoint: "ec2.eu-central-1.amazonaws.com", OptInStatus: "opt-in-not-required"},
			{Name: "ap-east-1", Endpoint: "ec2.ap-east-1.amazonaws.com", OptInStatus: "not-opted-in"},
			{Name: "eu-south-1", Endpoint: "ec2.eu-south-1.amazonaws.com", OptInStatus: "opted-in"},
		}},
	} {
		got, err := ec2.DescribeRegions(ctx(t), tt.all)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("DescribeRegions(all=%v):\n got %+v\nwant %+v", tt.all, got, tt.want)
		}
	}
	for _, c := range s.Calls() {
		if c.Service != "ec2" || c.Region != "eu-central-1" || c.AccessKey != k.ID {
			t.Errorf("call %+v, want ec2 in eu-central-1 signed by %s", c, k.ID)
		}
	}
	enabled := map[string]bool{"opt-in-not-required": true, "opted-in": true, "not-opted-in": false, "": false}
	for st, want := range enabled {
		if got := (awsutil.Region{OptInStatus: st}).Enabled(); got != want {
			t.Errorf("Enabled(%q) = %v, want %v", st, got, want)
		}
	}
}

func TestDescribeRegionsErrors(t *testing.T) {
	tests := []struct {
		name      string
		fault     awstest.Fault
		wantErr   string // "" for success after retries
		wantCalls int
	}{
		{"unavailable twice, then served", awstest.Fault{Status: 503, Code: "Unavailable", Message: "busy", Times: 2}, "", 3},
		{"throttled once", awstest.Fault{Status: 400, Code: "RequestLimitExceeded", Message: "slow", Times: 1}, "", 2},
		{"not authorized", awstest.Fault{Status: 403, Code: "UnauthorizedOperation", Message: "You are not authorized"}, "UnauthorizedOperation", 1},
		{"always unavailable", awstest.Fault{Status: 503, Code: "Unavailable", Message: "down"}, "Unavailable", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newServer(t)
			s.Fail("ec2", "DescribeRegions", "", tt.fault)
			cfg, err := awsutil.Load(ctx(t), awsutil.Access{})
			if err != nil {
				t.Fatal(err)
			}
			// The configuration's retryer is the one used: the SDK's standard one, with short waits.
			cfg.Retryer = func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = retry.NewExponentialJitterBackoff(5 * time.Millisecond) })
			}
			start := time.Now()
			_, err = awsutil.NewEC2(cfg).DescribeRegions(ctx(t), true)
			if d := time.Since(start); d > time.Second {
				t.Errorf("DescribeRegions took %v: the configuration's retryer was not used", d)
			}
			if n := len(s.Calls()); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var api *awsutil.APIError
			if !errors.As(err, &api) || api.Code != tt.wantErr || api.StatusCode != tt.fault.Status || api.Message != tt.fault.Message || api.RequestID == "" {
				t.Fatalf("error %v, want an APIError %s with the server's message and request ID", err, tt.wantErr)
			}
		})
	}
}

func TestServiceEndpoint(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"service-specific", map[string]string{"AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:1/ec2", "AWS_ENDPOINT_URL": "http://127.0.0.1:1/all"}, "http://127.0.0.1:1/ec2"},
		{"global", map[string]string{"AWS_ENDPOINT_URL_EC2": "", "AWS_ENDPOINT_URL": "http://127.0.0.1:1/all"}, "http://127.0.0.1:1/all"},
		{"ignored", map[string]string{"AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:1/ec2", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, ""},
		{"none", map[string]string{"AWS_ENDPOINT_URL_EC2": "", "AWS_ENDPOINT_URL": ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newServer(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := awsutil.Load(ctx(t), awsutil.Access{})
			if err != nil {
				t.Fatal(err)
			}
			if got := awsutil.ServiceEndpoint(ctx(t), cfg, "EC2"); got != tt.want {
				t.Errorf("ServiceEndpoint = %q, want %q", got, tt.want)
			}
		})
	}
}

// recorder is an S3/SQS emulator stand-in that records what reaches it.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.Path+" "+req.Header.Get("X-Amz-Target"))
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_, _ = w.Write([]byte(`{"QueueUrl":"http://127.0.0.1/000000000000/q"}`))
}

// With an emulator endpoint, S3 and SQS go there and CloudTrail, EC2 and STS do not.
func TestEmulatorEndpoint(t *testing.T) {
	s, _ := newServer(t)
	rec := &recorder{}
	emu := httptest.NewServer(rec)
	t.Cleanup(emu.Close)
	const role = "arn:aws:iam::444444444444:role/reader"
	s.AddRole(role, "abc123")

	cfg, err := awsutil.Load(ctx(t), awsutil.Access{Region: "eu-central-1", Endpoint: emu.URL, RoleARN: role, ExternalID: "abc123"})
	if err != nil {
		t.Fatal(err)
	}
	cl := awsutil.NewClients(cfg, emu.URL)
	url, err := cl.QueueURL(ctx(t), "q")
	if err != nil || url != "http://127.0.0.1/000000000000/q" {
		t.Fatalf("QueueURL = %q, %v", url, err)
	}
	_, _ = cl.S3.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: aws.String("trail-bucket")}) // only has to reach the emulator
	if _, err := cl.CloudTrail.DescribeTrails(ctx(t), &cloudtrail.DescribeTrailsInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.EC2.DescribeRegions(ctx(t), false); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.InRegion("us-east-1").SQS.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String("q")}); err != nil {
		t.Fatal(err)
	}

	rec.mu.Lock()
	seen := slices.Clone(rec.seen)
	rec.mu.Unlock()
	wantSeen := []string{"POST / AmazonSQS.GetQueueUrl", "HEAD /trail-bucket ", "POST / AmazonSQS.GetQueueUrl"}
	if !slices.Equal(seen, wantSeen) {
		t.Errorf("the emulator saw %q, want %q (S3 path-style)", seen, wantSeen)
	}
	for _, r := range seen {
		if strings.Contains(r, "CloudTrail") || strings.Contains(r, "AssumeRole") {
			t.Errorf("the emulator got %q", r)
		}
	}
	var got []string
	for _, c := range s.Calls() {
		got = append(got, c.Service+" "+c.Action+" "+c.Region)
		if c.Service != "sts" && !strings.Contains(c.Principal, "assumed-role/reader/trailstream") {
			t.Errorf("%s %s by %q, want the assumed role", c.Service, c.Action, c.Principal)
		}
	}
	want := []string{"sts AssumeRole eu-central-1", "cloudtrail DescribeTrails eu-central-1", "ec2 DescribeRegions eu-central-1"}
	if !slices.Equal(got, want) {
		t.Errorf("AWS calls %q, want %q", got, want)
	}
}

func TestInRegion(t *testing.T) {
	s, _ := newServer(t)
	cl, err := awsutil.New(ctx(t), "us-east-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if cl.InRegion("") != cl || cl.InRegion("us-east-1") != cl {
		t.Error("InRegion of the same region made new clients")
	}
	eu := cl.InRegion("eu-central-1")
	if eu.Config().Region != "eu-central-1" || cl.Config().Region != "us-east-1" {
		t.Errorf("regions %q and %q", eu.Config().Region, cl.Config().Region)
	}
	if _, err := eu.CloudTrail.DescribeTrails(ctx(t), &cloudtrail.DescribeTrailsInput{}); err != nil {
		t.Fatal(err)
	}
	if c := s.Calls(); len(c) != 1 || c[0].Region != "eu-central-1" {
		t.Errorf("calls %+v, want one in eu-central-1", c)
	}
}

// New keeps working for its callers: emulator credentials when the environment has none.
func TestNewEmulatorCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	cl, err := awsutil.New(ctx(t), "us-east-1", "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cl.Config().Credentials.Retrieve(ctx(t))
	if err != nil || creds.AccessKeyID != "test" || creds.SecretAccessKey != "test" {
		t.Errorf("credentials %+v, %v; want test/test", creds, err)
	}
}

func TestQueueRegion(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://sqs.eu-west-1.amazonaws.com/111111111111/trail-new", "eu-west-1"},
		{"https://sqs-fips.us-gov-west-1.amazonaws.com/111111111111/q", "us-gov-west-1"},
		{"https://sqs.cn-north-1.amazonaws.com.cn/111111111111/q", "cn-north-1"},
		{"https://ap-south-1.queue.amazonaws.com/111111111111/q", "ap-south-1"},
		{"https://queue.amazonaws.com/111111111111/q", ""},
		{"http://localhost:4566/000000000000/q", ""},
		{"http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q", ""},
		{"trail-new", ""},
	}
	for _, tt := range tests {
		if got := awsutil.QueueRegion(tt.url); got != tt.want {
			t.Errorf("QueueRegion(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

func TestBucketRegion(t *testing.T) {
	s3srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/here":
			w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
		case "/elsewhere":
			w.Header().Set("X-Amz-Bucket-Region", "ap-south-1")
			w.WriteHeader(http.StatusMovedPermanently)
		case "/forbidden":
			w.Header().Set("X-Amz-Bucket-Region", "sa-east-1")
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(s3srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	cl, err := awsutil.New(ctx(t), "us-east-1", s3srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ bucket, want, wantErr string }{
		{"here", "eu-west-1", ""},
		{"elsewhere", "ap-south-1", ""},
		{"forbidden", "sa-east-1", ""},
		{"missing", "", "region of bucket missing"},
	}
	for _, tt := range tests {
		got, err := awsutil.BucketRegion(ctx(t), cl.S3, tt.bucket)
		if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("BucketRegion(%s) = %q, %v; want %q, %q", tt.bucket, got, err, tt.want, tt.wantErr)
		}
	}
}
