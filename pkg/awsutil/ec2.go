package awsutil

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// EC2 calls the one EC2 API action trailstream needs, DescribeRegions, in EC2's query protocol
// (API version 2016-11-15), signed with Signature Version 4 by the SDK's signer. The SDK's EC2
// module would add about two minutes of compilation to a cold build for this one call.
type EC2 struct {
	cfg aws.Config
}

// NewEC2 returns the EC2 client of cfg: its region, credentials, HTTP client and retryer, and
// the endpoint the SDK would use (AWS_ENDPOINT_URL_EC2 or the shared config's services
// section, then AWS_ENDPOINT_URL, then https://ec2.<region>.amazonaws.com).
func NewEC2(cfg aws.Config) *EC2 { return &EC2{cfg: cfg} }

// Region is one region of DescribeRegions.
type Region struct {
	Name        string `xml:"regionName"`
	Endpoint    string `xml:"regionEndpoint"`
	OptInStatus string `xml:"optInStatus"` // opt-in-not-required, opted-in or not-opted-in
}

// Enabled reports whether the account can use the region: one that needs no opt-in, or one
// the account opted in to.
func (r Region) Enabled() bool {
	return r.OptInStatus == "opt-in-not-required" || r.OptInStatus == "opted-in"
}

// APIError is an error response of the EC2 API. It has the methods of smithy-go's APIError
// and those the SDK's retryers look for, so errors.As and the retry rules treat it like the
// SDK's own errors.
type APIError struct {
	Code       string
	Message    string
	RequestID  string
	StatusCode int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("api error %s: %s (HTTP %d, request %s)", e.Code, e.Message, e.StatusCode, e.RequestID)
}

// ErrorCode returns the error's code, such as UnauthorizedOperation.
func (e *APIError) ErrorCode() string { return e.Code }

// ErrorMessage returns the error's message.
func (e *APIError) ErrorMessage() string { return e.Message }

// HTTPStatusCode returns the response's HTTP status.
func (e *APIError) HTTPStatusCode() int { return e.StatusCode }

// DescribeRegions returns the regions of the account: every region when all is true (the
// AllRegions parameter), otherwise those EC2 counts as enabled. Failed attempts are retried
// as the configuration's retryer says (the SDK's standard retryer when it has none).
func (c *EC2) DescribeRegions(ctx context.Context, all bool) ([]Region, error) {
	form := url.Values{"Action": {"DescribeRegions"}, "Version": {"2016-11-15"}}
	if all {
		form.Set("AllRegions", "true")
	}
	body := []byte(form.Encode())
	var retryer aws.Retryer = retry.NewStandard()
	if c.cfg.Retryer != nil {
		retryer = c.cfg.Retryer()
	}
	for attempt := 1; ; attempt++ {
		regions, err := c.describeRegions(ctx, body)
		if err == nil {
			return regions, nil
		}
		if ctx.Err() != nil || attempt >= retryer.MaxAttempts() || !retryer.IsErrorRetryable(err) {
			return nil, fmt.Errorf("EC2 DescribeRegions: %w", err)
		}
		delay, derr := retryer.RetryDelay(attempt, err)
		if derr != nil {
			return nil, fmt.Errorf("EC2 DescribeRegions: %w", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("EC2 DescribeRegions: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func (c *EC2) describeRegions(ctx context.Context, body []byte) ([]Region, error) {
	region := c.cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	endpoint := ServiceEndpoint(ctx, c.cfg, "EC2")
	if endpoint == "" {
		endpoint = "https://ec2." + region + "." + dnsSuffix(region)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if c.cfg.Credentials == nil {
		return nil, fmt.Errorf("no AWS credentials")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ec2", region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var client aws.HTTPClient = http.DefaultClient
	if c.cfg.HTTPClient != nil {
		client = c.cfg.HTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err // connection errors are retryable as they are
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, decodeEC2Error(resp.StatusCode, b)
	}
	return decodeRegions(b)
}

// decodeRegions reads a DescribeRegionsResponse.
func decodeRegions(b []byte) ([]Region, error) {
	var out struct {
		XMLName xml.Name `xml:"DescribeRegionsResponse"`
		Regions []Region `xml:"regionInfo>item"`
	}
	if err := xml.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode DescribeRegions response: %w", err)
	}
	for i, r := range out.Regions {
		if r.Name == "" {
			return nil, fmt.Errorf("decode DescribeRegions response: region %d has no name", i+1)
		}
	}
	return out.Regions, nil
}

// decodeEC2Error reads EC2's error response, <Response><Errors><Error><Code>...; a body that
// is not one gives an error with the HTTP status as its code.
func decodeEC2Error(status int, b []byte) error {
	var out struct {
		Errors []struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Errors>Error"`
		RequestID string `xml:"RequestID"`
	}
	e := &APIError{StatusCode: status, Code: http.StatusText(status)}
	if err := xml.Unmarshal(b, &out); err == nil && len(out.Errors) > 0 {
		e.Code, e.Message, e.RequestID = out.Errors[0].Code, out.Errors[0].Message, out.RequestID
	} else {
		e.Message = strings.TrimSpace(string(b[:min(len(b), 200)]))
	}
	if e.Code == "" {
		e.Code = fmt.Sprintf("HTTP%d", status)
	}
	return e
}

// dnsSuffix returns the DNS suffix of the region's partition.
func dnsSuffix(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// ServiceEndpoint returns the endpoint configured for the service with SDK ID sdkID ("EC2",
// "CloudTrail", "STS"), in the SDK's order: the service-specific setting
// (AWS_ENDPOINT_URL_<SERVICE> or the shared config file's services section), then the global
// one (AWS_ENDPOINT_URL), none when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true; "" for the
// service's default endpoint.
func ServiceEndpoint(ctx context.Context, cfg aws.Config, sdkID string) string {
	type ignorer interface {
		GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error)
	}
	type provider interface {
		GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
	}
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(ignorer); ok {
			if ignore, found, err := p.GetIgnoreConfiguredEndpoints(ctx); err == nil && found {
				if ignore {
					return ""
				}
				break
			}
		}
	}
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(provider); ok {
			v, found, err := p.GetServiceBaseEndpoint(ctx, sdkID)
			if err != nil {
				break
			}
			if found {
				return v
			}
		}
	}
	return aws.ToString(cfg.BaseEndpoint)
}
