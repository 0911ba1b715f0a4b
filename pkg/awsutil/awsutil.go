// Package awsutil builds the AWS SDK clients trailstream uses, pointed at real AWS or, when
// an endpoint is configured, at an S3/SQS emulator with path-style S3 addressing.
package awsutil

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Clients are the S3 and SQS clients of one configuration.
type Clients struct {
	S3  *s3.Client
	SQS *sqs.Client
}

// New loads the AWS configuration for region. With a non-empty endpoint every request goes
// there, S3 uses path-style addressing, and when no credentials are in the environment
// fixed emulator credentials are used.
func New(ctx context.Context, region, endpoint string) (*Clients, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	if endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	c := &Clients{
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
	}
	return c, nil
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
