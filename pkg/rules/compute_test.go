package rules

import (
	"slices"
	"testing"
)

func TestLambdaAPI(t *testing.T) {
	tests := map[string]string{
		"UpdateFunctionCode20150331v2":      "UpdateFunctionCode",
		"UpdateFunctionCode20150331":        "UpdateFunctionCode",
		"AddLayerVersionPermission20181031": "AddLayerVersionPermission",
		"CreateFunctionUrlConfig20211031":   "CreateFunctionUrlConfig",
		"AddPermission":                     "AddPermission",
		"Invoke":                            "Invoke",
	}
	for in, want := range tests {
		if got := lambdaAPI(in); got != want {
			t.Errorf("lambdaAPI(%q) = %q, want %q", in, got, want)
		}
	}
	names := lambdaEventNames()
	for _, n := range []string{"UpdateFunctionCode20150331v2", "UpdateFunctionConfiguration20150331v2", "AddPermission20150331v2",
		"AddPermission20150331", "CreateFunctionUrlConfig20211031", "UpdateFunctionUrlConfig20211031", "AddPermission"} {
		if !slices.Contains(names, n) {
			t.Errorf("event names %q lack %s", names, n)
		}
	}
}

func TestFunctionName(t *testing.T) {
	tests := map[string]string{
		"billing-export": "billing-export",
		"arn:aws:lambda:us-west-2:123456789012:function:billing-export":      "billing-export",
		"arn:aws:lambda:us-west-2:123456789012:function:billing-export:PROD": "billing-export",
		"123456789012:function:billing-export":                               "billing-export",
	}
	for in, want := range tests {
		if got := functionName(in); got != want {
			t.Errorf("functionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestArnName(t *testing.T) {
	tests := map[string]string{
		"arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail":                   "org-trail",
		"arn:aws:lambda:us-west-2:123456789012:function:billing-export":               "billing-export",
		"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com": "token.actions.githubusercontent.com",
		"org-trail": "org-trail",
		"a/b":       "a/b",
		"":          "",
	}
	for in, want := range tests {
		if got := arnName(in); got != want {
			t.Errorf("arnName(%q) = %q, want %q", in, got, want)
		}
	}
}
