package awsutil

import (
	"errors"
	"os"
	"slices"
	"testing"
)

func TestDecodeRegions(t *testing.T) {
	b, err := os.ReadFile("testdata/describe-regions.xml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRegions(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Region{
		{Name: "us-east-1", Endpoint: "ec2.us-east-1.amazonaws.com", OptInStatus: "opt-in-not-required"},
		{Name: "ap-east-1", Endpoint: "ec2.ap-east-1.amazonaws.com", OptInStatus: "not-opted-in"},
		{Name: "me-south-1", Endpoint: "ec2.me-south-1.amazonaws.com", OptInStatus: "opted-in"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("decodeRegions:\n got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"",
		"<Response><Errors/></Response>",
		"<DescribeRegionsResponse><regionInfo><item><regionEndpoint>x</regionEndpoint></item></regionInfo></DescribeRegionsResponse>",
	} {
		if _, err := decodeRegions([]byte(bad)); err == nil {
			t.Errorf("decodeRegions(%q) accepted it", bad)
		}
	}
}

func TestDecodeEC2Error(t *testing.T) {
	b, err := os.ReadFile("testdata/error.xml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		status int
		body   []byte
		want   APIError
	}{
		{403, b, APIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation.", RequestID: "ea966190-f9aa-478e-9ede-example", StatusCode: 403}},
		{503, []byte("<html>Service Unavailable</html>"), APIError{Code: "Service Unavailable", Message: "<html>Service Unavailable</html>", StatusCode: 503}},
		{599, nil, APIError{Code: "HTTP599", StatusCode: 599}},
	}
	for _, tt := range tests {
		var e *APIError
		if err := decodeEC2Error(tt.status, tt.body); !errors.As(err, &e) || *e != tt.want {
			t.Errorf("decodeEC2Error(%d, %q) = %#v, want %#v", tt.status, tt.body, err, tt.want)
		}
	}
}

func FuzzDecodeRegions(f *testing.F) {
	for _, name := range []string{"testdata/describe-regions.xml", "testdata/error.xml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if regions, err := decodeRegions(b); err == nil {
			for _, r := range regions {
				if r.Name == "" {
					t.Fatalf("a region without a name: %+v", regions)
				}
			}
		}
		var e *APIError
		if err := decodeEC2Error(500, b); !errors.As(err, &e) || e.Code == "" || e.StatusCode != 500 || len(e.Message) > len(b) {
			t.Fatalf("decodeEC2Error = %#v", err)
		}
	})
}
