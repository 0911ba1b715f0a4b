package rules

import (
	"net/url"
	"slices"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	const admin = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	tests := []struct {
		name     string
		in       any
		ok       bool
		n        int // statements
		grantAll bool
	}{
		{"JSON string", admin, true, 1, true},
		{"URL-encoded", url.QueryEscape(admin), true, 1, true},
		{"URL-encoded with %20 for spaces", "%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%20%22Action%22%3A%22*%3A*%22%2C%22Resource%22%3A%5B%22*%22%5D%7D%7D", true, 1, true},
		{"object", map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Action": []any{"s3:*"}, "Resource": "*"}}}, true, 1, false},
		{"single statement, not an array", `{"Statement":{"Effect":"Allow","Action":["ec2:*","*"],"Resource":["*"]}}`, true, 1, true},
		{"all actions on one bucket", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/*"}]}`, true, 1, false},
		{"denied, not granted", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`, true, 1, false},
		{"NotAction is not *", `{"Statement":[{"Effect":"Allow","NotAction":"*","Resource":"*"}]}`, true, 1, false},
		{"second statement grants all", `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*"}]}`, true, 2, true},
		{"not JSON", "%7Bnope", false, 0, false},
		{"no statements", `{"Version":"2012-10-17"}`, false, 0, false},
		{"a number", 3.0, false, 0, false},
		{"nothing", nil, false, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, ok := parsePolicy(tc.in)
			if ok != tc.ok || len(doc.Statements) != tc.n {
				t.Fatalf("parsePolicy: ok %v with %d statements, want %v with %d", ok, len(doc.Statements), tc.ok, tc.n)
			}
			if got := doc.grantsAll(); got != tc.grantAll {
				t.Fatalf("grantsAll() = %v, want %v", got, tc.grantAll)
			}
		})
	}
}

func TestOpenTrust(t *testing.T) {
	const own = "111122223333"
	known := []string{"444455556666"}
	trust := func(stmt string) string { return `{"Version":"2012-10-17","Statement":[` + stmt + `]}` }
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"a service", trust(`{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}`), nil},
		{"own account", trust(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}`), nil},
		{"a known account by ID", trust(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole"}`), nil},
		{"an outside account", trust(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}`), []string{"999988887777"}},
		{"an outside role among known ones", trust(`{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:role/ci","arn:aws-cn:iam::999988887777:role/x","arn:aws:iam::999988887777:user/y"]},"Action":"sts:AssumeRole"}`), []string{"999988887777"}},
		{"everyone", trust(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`), []string{"*"}},
		{"everyone among AWS principals", trust(`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"sts:AssumeRole"}`), []string{"*"}},
		{"everyone in the organization", trust(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}`), nil},
		{"everyone not in the organization", trust(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}`), []string{"*"}},
		{"everyone, if the key exists", trust(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"aws:PrincipalAccount":"111122223333"}}}`), []string{"*"}},
		{"everyone with an external ID", trust(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"}}}`), []string{"*"}},
		{"everyone from the whole Internet", trust(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"IpAddress":{"aws:SourceIp":["0.0.0.0/0"]}}}`), []string{"*"}},
		{"NotPrincipal", trust(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}`), []string{"*"}},
		{"denied", trust(`{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}`), nil},
		{"a deleted principal's unique ID", trust(`{"Effect":"Allow","Principal":{"AWS":"AROAQ3EGRXT5DELETED01"},"Action":"sts:AssumeRole"}`), nil},
		{"both, repeated", trust(`{"Effect":"Allow","Principal":{"AWS":["999988887777","*"]},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"sts:TagSession"}`), []string{"*", "999988887777"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, ok := parsePolicy(tc.doc)
			if !ok {
				t.Fatal("not parsed")
			}
			if got := doc.openTrust(own, known); !slices.Equal(got, tc.want) {
				t.Fatalf("openTrust = %q, want %q", got, tc.want)
			}
		})
	}
}
