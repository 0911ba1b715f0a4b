package awstest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const acct = "111111111111"

type answer struct {
	status int
	body   string
	header http.Header
}

// send signs a request with k for service in region (no signature when k.ID is empty) and
// returns the answer.
func send(t *testing.T, s *Server, k Key, service, region string, header map[string]string, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range header {
		req.Header.Set(name, v)
	}
	if k.ID != "" {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret, SessionToken: k.Token}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, string(b), resp.Header}
}

func cloudTrail(t *testing.T, s *Server, k Key, region, target, body string) answer {
	t.Helper()
	return send(t, s, k, "cloudtrail", region, map[string]string{"Content-Type": jsonContentType, "X-Amz-Target": target}, body)
}

func query(t *testing.T, s *Server, k Key, service, region string, v url.Values) answer {
	t.Helper()
	return send(t, s, k, service, region, map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, v.Encode())
}

func jsonErrorType(t *testing.T, a answer) string {
	t.Helper()
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(a.body), &e); err != nil {
		t.Fatalf("error body %q: %v", a.body, err)
	}
	if a.header.Get("X-Amzn-ErrorType") != e.Type || e.Message == "" {
		t.Errorf("error %q: X-Amzn-ErrorType %q, message %q", a.body, a.header.Get("X-Amzn-ErrorType"), e.Message)
	}
	return e.Type
}

func newServer(t *testing.T) (*Server, Key) {
	s := New(t)
	s.AddRegion("us-east-1", OptInNotRequired)
	s.AddRegion("eu-west-1", OptInNotRequired)
	s.AddRegion("il-central-1", NotOptedIn)
	s.PutTrail(Trail{Account: acct, Name: "multi", HomeRegion: "us-east-1", Bucket: "b", MultiRegion: true, Logging: true})
	s.PutTrail(Trail{Account: acct, Name: "single", HomeRegion: "eu-west-1", Bucket: "c", Prefix: "p"})
	return s, s.AddUser(acct, "alice")
}

func trailNames(t *testing.T, a answer) []string {
	t.Helper()
	if a.status != 200 {
		t.Fatalf("DescribeTrails: %d %s", a.status, a.body)
	}
	var out struct {
		TrailList []struct{ Name, TrailARN, HomeRegion string } `json:"trailList"`
	}
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tr := range out.TrailList {
		names = append(names, tr.Name)
	}
	return names
}

func TestCloudTrailProtocol(t *testing.T) {
	s, k := newServer(t)
	const short, long = "CloudTrail_20131101.DescribeTrails", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails"
	tests := []struct {
		name, region, target, body string
		want                       []string // trail names, or nil with wantErr
		wantErr                    string
	}{
		{name: "shadow trails by default", region: "eu-west-1", target: short, body: `{}`, want: []string{"single", "multi"}},
		{name: "without shadow trails", region: "eu-west-1", target: long, body: `{"includeShadowTrails":false}`, want: []string{"single"}},
		{name: "home region", region: "us-east-1", target: short, body: `{"includeShadowTrails":false}`, want: []string{"multi"}},
		{name: "by name", region: "eu-west-1", target: short, body: `{"trailNameList":["single"]}`, want: []string{"single"}},
		{name: "member name spelled wrong", region: "eu-west-1", target: short, body: `{"IncludeShadowTrails":false}`, wantErr: "SerializationException"},
		{name: "unknown operation", region: "eu-west-1", target: "CloudTrail_20131101.DeleteTrail", body: `{}`, wantErr: "UnknownOperationException"},
		{name: "region not enabled", region: "il-central-1", target: short, body: `{}`, wantErr: "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := cloudTrail(t, s, k, tt.region, tt.target, tt.body)
			if tt.wantErr != "" {
				if a.status != 400 || jsonErrorType(t, a) != tt.wantErr {
					t.Fatalf("answer %d %s, want 400 %s", a.status, a.body, tt.wantErr)
				}
				return
			}
			if got := trailNames(t, a); !slices.Equal(got, tt.want) {
				t.Errorf("trails %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGetTrailStatus(t *testing.T) {
	s, k := newServer(t)
	multi := "arn:aws:cloudtrail:us-east-1:111111111111:trail/multi"
	tests := []struct {
		name, region, trail string
		wantLogging         bool
		wantErr             string
	}{
		{"by name in its home region", "us-east-1", "multi", true, ""},
		{"shadow by ARN", "eu-west-1", multi, true, ""},
		{"shadow by name", "eu-west-1", "multi", false, "TrailNotFoundException"},
		{"not logging", "eu-west-1", "single", false, ""},
		{"unknown", "us-east-1", "nope", false, "TrailNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"Name": tt.trail})
			a := cloudTrail(t, s, k, tt.region, "CloudTrail_20131101.GetTrailStatus", string(b))
			if tt.wantErr != "" {
				if a.status != 400 || jsonErrorType(t, a) != tt.wantErr {
					t.Fatalf("answer %d %s, want 400 %s", a.status, a.body, tt.wantErr)
				}
				return
			}
			var st struct{ IsLogging bool }
			if a.status != 200 || json.Unmarshal([]byte(a.body), &st) != nil || st.IsLogging != tt.wantLogging {
				t.Fatalf("answer %d %s, want IsLogging %v", a.status, a.body, tt.wantLogging)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	s, k := newServer(t)
	expired := Key{ID: "ASIAEXPIREDEXPIRED00", Secret: "s", Token: "tok"}
	s.mu.Lock()
	s.keys[expired.ID] = &key{Key: expired, account: acct, principal: "p", expires: time.Now().Add(-time.Minute)}
	s.mu.Unlock()
	tests := []struct {
		name              string
		key               Key
		wantCT, wantEC2   string // the CloudTrail and EC2 error codes
		wantSTS           string
		wantSTSStatus     int
		wantEC2Status     int
		wantCTStatus      int
		wantRecordedKeyID string
	}{
		{"no signature", Key{}, "MissingAuthenticationTokenException", "AuthFailure", "MissingAuthenticationToken", 403, 401, 400, ""},
		{"unknown key", Key{ID: "AKIANOBODYNOBODY0000", Secret: "x"}, "UnrecognizedClientException", "AuthFailure", "InvalidClientTokenId", 403, 401, 400, "AKIANOBODYNOBODY0000"},
		{"wrong secret", Key{ID: k.ID, Secret: k.Secret + "x"}, "InvalidSignatureException", "AuthFailure", "SignatureDoesNotMatch", 403, 401, 400, k.ID},
		{"session key without its token", Key{ID: expired.ID, Secret: "s"}, "UnrecognizedClientException", "AuthFailure", "InvalidClientTokenId", 403, 401, 400, expired.ID},
		{"expired session", expired, "ExpiredTokenException", "RequestExpired", "ExpiredToken", 400, 400, 400, expired.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.ResetCalls()
			a := cloudTrail(t, s, tt.key, "us-east-1", "CloudTrail_20131101.DescribeTrails", `{}`)
			if a.status != tt.wantCTStatus || jsonErrorType(t, a) != tt.wantCT {
				t.Errorf("CloudTrail: %d %s, want %d %s", a.status, a.body, tt.wantCTStatus, tt.wantCT)
			}
			a = query(t, s, tt.key, "ec2", "us-east-1", url.Values{"Action": {"DescribeRegions"}, "Version": {ec2Version}})
			if a.status != tt.wantEC2Status || !strings.Contains(a.body, "<Code>"+tt.wantEC2+"</Code>") || !strings.Contains(a.body, "<Response><Errors><Error>") {
				t.Errorf("EC2: %d %s, want %d %s", a.status, a.body, tt.wantEC2Status, tt.wantEC2)
			}
			a = query(t, s, tt.key, "sts", "us-east-1", url.Values{"Action": {"AssumeRole"}, "Version": {stsVersion}})
			if a.status != tt.wantSTSStatus || !strings.Contains(a.body, "<Code>"+tt.wantSTS+"</Code>") || !strings.Contains(a.body, "<ErrorResponse") {
				t.Errorf("STS: %d %s, want %d %s", a.status, a.body, tt.wantSTSStatus, tt.wantSTS)
			}
			for _, c := range s.Calls() {
				if c.AccessKey != tt.wantRecordedKeyID || c.Principal != "" {
					t.Errorf("recorded %+v, want key %q and no principal", c, tt.wantRecordedKeyID)
				}
			}
		})
	}
}

func TestDescribeRegions(t *testing.T) {
	s, k := newServer(t)
	s.AddRegion("me-central-1", OptedIn)
	s.SetRegion("999999999999", "il-central-1", OptedIn) // another account's opt-in changes nothing here
	tests := []struct {
		name   string
		params url.Values
		want   []string
	}{
		{"enabled", url.Values{}, []string{"us-east-1/opt-in-not-required", "eu-west-1/opt-in-not-required", "me-central-1/opted-in"}},
		{"all", url.Values{"AllRegions": {"true"}}, []string{"us-east-1/opt-in-not-required", "eu-west-1/opt-in-not-required", "il-central-1/not-opted-in", "me-central-1/opted-in"}},
		{"by name", url.Values{"RegionName.1": {"eu-west-1"}}, []string{"eu-west-1/opt-in-not-required"}},
		{"filter", url.Values{"AllRegions": {"true"}, "Filter.1.Name": {"opt-in-status"}, "Filter.1.Value.1": {"opted-in"}, "Filter.1.Value.2": {"not-opted-in"}},
			[]string{"il-central-1/not-opted-in", "me-central-1/opted-in"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.params
			v.Set("Action", "DescribeRegions")
			v.Set("Version", ec2Version)
			a := query(t, s, k, "ec2", "eu-west-1", v)
			var out struct {
				XMLName xml.Name
				Items   []struct {
					Name   string `xml:"regionName"`
					Status string `xml:"optInStatus"`
				} `xml:"regionInfo>item"`
			}
			if a.status != 200 || xml.Unmarshal([]byte(a.body), &out) != nil {
				t.Fatalf("answer %d %s", a.status, a.body)
			}
			if out.XMLName.Local != "DescribeRegionsResponse" || out.XMLName.Space != "http://ec2.amazonaws.com/doc/2016-11-15/" {
				t.Errorf("root element %v", out.XMLName)
			}
			var got []string
			for _, it := range out.Items {
				got = append(got, it.Name+"/"+it.Status)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("regions %v, want %v", got, tt.want)
			}
		})
	}
	a := query(t, s, k, "ec2", "eu-west-1", url.Values{"Action": {"DescribeRegions"}, "Version": {"2014-01-01"}})
	if a.status != 400 || !strings.Contains(a.body, "InvalidParameterValue") {
		t.Errorf("wrong version: %d %s", a.status, a.body)
	}
}

func TestAssumeRole(t *testing.T) {
	s, k := newServer(t)
	const role = "arn:aws:iam::333333333333:role/path/reader"
	s.AddRole(role, "ext-id-1", acct)
	params := func(extra ...string) url.Values {
		v := url.Values{"Action": {"AssumeRole"}, "Version": {stsVersion}, "RoleArn": {role}, "RoleSessionName": {"trailstream"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	tests := []struct {
		name       string
		params     url.Values
		wantStatus int
		wantCode   string
	}{
		{"right external ID", params("ExternalId", "ext-id-1", "DurationSeconds", "900"), 200, ""},
		{"wrong external ID", params("ExternalId", "ext-id-2"), 403, "AccessDenied"},
		{"no external ID", params(), 403, "AccessDenied"},
		{"unknown role", params("RoleArn", "arn:aws:iam::333333333333:role/other", "ExternalId", "ext-id-1"), 403, "AccessDenied"},
		{"bad session name", params("ExternalId", "ext-id-1", "RoleSessionName", "a b"), 400, "ValidationError"},
		{"bad duration", params("ExternalId", "ext-id-1", "DurationSeconds", "60"), 400, "ValidationError"},
		{"bad role ARN", params("ExternalId", "ext-id-1", "RoleArn", "reader"), 400, "ValidationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := query(t, s, k, "sts", "us-east-1", tt.params)
			if a.status != tt.wantStatus {
				t.Fatalf("answer %d %s, want %d", a.status, a.body, tt.wantStatus)
			}
			if tt.wantCode != "" {
				if !strings.Contains(a.body, "<Code>"+tt.wantCode+"</Code>") || !strings.Contains(a.body, "<Type>Sender</Type>") {
					t.Errorf("answer %s, want %s", a.body, tt.wantCode)
				}
				return
			}
			var out struct {
				Result struct {
					Credentials struct {
						AccessKeyID     string `xml:"AccessKeyId"`
						SecretAccessKey string
						SessionToken    string
						Expiration      string
					}
					AssumedRoleUser struct{ Arn string }
				} `xml:"AssumeRoleResult"`
			}
			if err := xml.Unmarshal([]byte(a.body), &out); err != nil {
				t.Fatal(err)
			}
			c := out.Result.Credentials
			exp, err := time.Parse(time.RFC3339, c.Expiration)
			if err != nil || exp.Before(time.Now().Add(14*time.Minute)) || exp.After(time.Now().Add(16*time.Minute)) {
				t.Errorf("expiration %q, want in 15 minutes", c.Expiration)
			}
			if got, want := out.Result.AssumedRoleUser.Arn, "arn:aws:sts::333333333333:assumed-role/reader/trailstream"; got != want {
				t.Errorf("assumed role user %q, want %q", got, want)
			}
			// The new credentials work, in the role's account.
			s.PutTrail(Trail{Account: "333333333333", Name: "theirs", HomeRegion: "us-east-1", Bucket: "x"})
			session := Key{ID: c.AccessKeyID, Secret: c.SecretAccessKey, Token: c.SessionToken}
			if got := trailNames(t, cloudTrail(t, s, session, "us-east-1", "CloudTrail_20131101.DescribeTrails", `{}`)); !slices.Equal(got, []string{"theirs"}) {
				t.Errorf("trails with the role's credentials %v, want [theirs]", got)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	s, k := newServer(t)
	s.Fail("ec2", "DescribeRegions", "", Fault{Status: 503, Code: "Unavailable", Message: "try again", Times: 2})
	v := url.Values{"Action": {"DescribeRegions"}, "Version": {ec2Version}}
	var got []int
	for range 3 {
		got = append(got, query(t, s, k, "ec2", "us-east-1", v).status)
	}
	if !slices.Equal(got, []int{503, 503, 200}) {
		t.Errorf("statuses %v, want two faults then success", got)
	}
	s.Fail("cloudtrail", "", "eu-west-1", Fault{Code: "ThrottlingException", Message: "slow down"})
	if a := cloudTrail(t, s, k, "eu-west-1", "CloudTrail_20131101.DescribeTrails", `{}`); a.status != 400 || jsonErrorType(t, a) != "ThrottlingException" {
		t.Errorf("eu-west-1: %d %s", a.status, a.body)
	}
	if a := cloudTrail(t, s, k, "us-east-1", "CloudTrail_20131101.DescribeTrails", `{}`); a.status != 200 {
		t.Errorf("us-east-1 has no fault: %d %s", a.status, a.body)
	}
	s.ClearFaults()
	if a := cloudTrail(t, s, k, "eu-west-1", "CloudTrail_20131101.DescribeTrails", `{}`); a.status != 200 {
		t.Errorf("after ClearFaults: %d %s", a.status, a.body)
	}
}
