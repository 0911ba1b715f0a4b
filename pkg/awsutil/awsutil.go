// Package awsutil builds the AWS SDK clients trailstream uses: per source, in the source's
// region and, when the source names a role, with that role's credentials (STS AssumeRole with
// an external ID). Pointed at an S3/SQS emulator by an endpoint, S3 uses path-style
// addressing and fixed emulator credentials stand in when the environment has none.
//
// The CloudTrail, EC2 and STS endpoints follow the SDK's service-specific endpoint settings
// (AWS_ENDPOINT_URL_CLOUDTRAIL, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_STS or the services
// section of the shared config file) and are not moved by the emulator endpoint.
package awsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// SessionName is the role session name of every role trailstream assumes; it appears in the
// account's own CloudTrail records of what trailstream read (userIdentity.arn
// arn:aws:sts::<account>:assumed-role/<role>/trailstream).
const SessionName = "trailstream"

// Access says how to reach one source's AWS resources.
type Access struct {
	// Region of the clients: the bucket's region for S3. Empty for the SDK's default
	// (AWS_REGION, the shared config file).
	Region string
	// Endpoint of an S3/SQS emulator; empty for AWS.
	Endpoint string
	// RoleARN, when set, is assumed for every call, with ExternalID when that is set.
	RoleARN    string
	ExternalID string
}

// Load returns the AWS configuration for a: the SDK's default configuration chain in
// a.Region, with emulator credentials when a.Endpoint is set and the environment has none,
// and, when a.RoleARN is set, credentials of that role, assumed through STS with a.ExternalID
// and session name SessionName, cached and renewed before they expire. Nothing is called
// here: a role that cannot be assumed fails the first request (or cfg.Credentials.Retrieve).
func Load(ctx context.Context, a Access) (aws.Config, error) {
	if a.ExternalID != "" && a.RoleARN == "" {
		return aws.Config{}, fmt.Errorf("external ID without a role ARN")
	}
	if a.RoleARN != "" {
		if err := checkRoleARN(a.RoleARN); err != nil {
			return aws.Config{}, err
		}
	}
	var opts []func(*awsconfig.LoadOptions) error
	if a.Region != "" {
		opts = append(opts, awsconfig.WithRegion(a.Region))
	}
	if a.Endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if a.RoleARN != "" {
		p := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = SessionName
			if a.ExternalID != "" {
				o.ExternalID = aws.String(a.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(p)
	}
	return cfg, nil
}

// checkRoleARN returns an error unless s is an IAM role ARN.
func checkRoleARN(s string) error {
	a, err := arn.Parse(s)
	if err != nil {
		return fmt.Errorf("role ARN %q: %w", s, err)
	}
	if a.Service != "iam" || a.AccountID == "" || !strings.HasPrefix(a.Resource, "role/") {
		return fmt.Errorf("role ARN %q is not an IAM role (arn:aws:iam::<account>:role/<name>)", s)
	}
	return nil
}

// Clients are the clients of one configuration.
type Clients struct {
	S3         *s3.Client
	SQS        *sqs.Client
	CloudTrail *cloudtrail.Client
	EC2        *EC2

	cfg      aws.Config
	endpoint string
}

// NewClients returns the clients of cfg. With a non-empty endpoint (an S3/SQS emulator) S3
// and SQS go there, S3 with path-style addressing; CloudTrail, EC2 and STS keep the SDK's
// endpoint resolution.
func NewClients(cfg aws.Config, endpoint string) *Clients {
	return &Clients{
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			// Emulators send no checksums; the SDK would log that for every object.
			o.DisableLogOutputChecksumValidationSkipped = true
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
				o.UsePathStyle = true
			}
		}),
		SQS: sqs.NewFromConfig(cfg, func(o *sqs.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
		}),
		CloudTrail: cloudtrail.NewFromConfig(cfg),
		EC2:        NewEC2(cfg),
		cfg:        cfg,
		endpoint:   endpoint,
	}
}

// New loads the AWS configuration for region, without a role, and returns its clients. With
// a non-empty endpoint S3 and SQS go there (see NewClients).
func New(ctx context.Context, region, endpoint string) (*Clients, error) {
	cfg, err := Load(ctx, Access{Region: region, Endpoint: endpoint})
	if err != nil {
		return nil, err
	}
	return NewClients(cfg, endpoint), nil
}

// Config returns the configuration the clients were made of.
func (c *Clients) Config() aws.Config { return c.cfg.Copy() }

// InRegion returns clients like c in another region, with the same credentials (an assumed
// role's credentials are valid in every region): for a bucket in one region whose queue is in
// another.
func (c *Clients) InRegion(region string) *Clients {
	if region == "" || region == c.cfg.Region {
		return c
	}
	cfg := c.cfg.Copy()
	cfg.Region = region
	return NewClients(cfg, c.endpoint)
}

// QueueURL resolves a queue name to its URL; a value that already is a URL is returned as is.
func (c *Clients) QueueURL(ctx context.Context, nameOrURL string) (string, error) {
	if strings.HasPrefix(nameOrURL, "https://") || strings.HasPrefix(nameOrURL, "http://") {
		return nameOrURL, nil
	}
	out, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(nameOrURL)})
	if err != nil {
		return "", fmt.Errorf("look up SQS queue %q: %w", nameOrURL, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// QueueRegion returns the region of an SQS queue URL of AWS
// (https://sqs.<region>.amazonaws.com/<account>/<name>, or the older
// https://<region>.queue.amazonaws.com/...), or "" when the URL does not say, as an
// emulator's does not. SQS must be called in the queue's region.
func QueueRegion(queueURL string) string {
	rest, ok := strings.CutPrefix(queueURL, "https://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	parts := strings.Split(host, ".")
	if len(parts) < 4 || (parts[len(parts)-2] != "amazonaws" && parts[len(parts)-3] != "amazonaws") {
		return ""
	}
	switch {
	case parts[0] == "sqs" || parts[0] == "sqs-fips":
		return parts[1]
	case parts[1] == "queue":
		return parts[0]
	}
	return ""
}

// BucketRegion returns the region of bucket: S3 names it (x-amz-bucket-region) in its answer
// to HeadBucket from any region, a redirect or a refusal included. For a trail's bucket, which
// may be in another region than the trail.
func BucketRegion(ctx context.Context, c *s3.Client, bucket string) (string, error) {
	out, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil && aws.ToString(out.BucketRegion) != "" {
		return aws.ToString(out.BucketRegion), nil
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if r := re.Response.Header.Get("X-Amz-Bucket-Region"); r != "" {
			return r, nil
		}
	}
	if err == nil {
		err = errors.New("S3 did not say")
	}
	return "", fmt.Errorf("region of bucket %s: %w", bucket, err)
}
