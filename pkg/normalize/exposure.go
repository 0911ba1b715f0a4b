package normalize

import (
	"bytes"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// publicGrantees are the S3 ACL groups that open a bucket or object to everyone.
var publicGrantees = [][]byte{[]byte("acs.amazonaws.com/groups/global/AllUsers"), []byte("acs.amazonaws.com/groups/global/AuthenticatedUsers")}

// publicCannedACLs are the canned ACLs that do the same.
var publicCannedACLs = [][]byte{[]byte(`"public-read"`), []byte(`"public-read-write"`), []byte(`"authenticated-read"`)}

// isPublicExposure tells a successful call that opens something to the world: a bucket or
// object ACL granting AllUsers or AuthenticatedUsers, a bucket policy allowing Principal "*",
// a public access block removed or weakened, an AMI or snapshot (EC2 or RDS) shared with
// everyone, a security group ingress from 0.0.0.0/0 or ::/0, an inbound network ACL entry
// allowing all traffic from anywhere.
func isPublicExposure(name string, q *request) bool {
	switch name {
	case "PutBucketAcl", "PutObjectAcl", "PutObject", "CopyObject", "CreateMultipartUpload", "CreateBucket":
		return anyContains(publicCannedACLs, q.CannedACL) ||
			anyContains(publicGrantees, q.GrantRead, q.GrantWrite, q.GrantReadACP, q.GrantWriteACP, q.GrantFullControl, q.AccessControl)
	case "PutBucketPolicy":
		return policyIsPublic(q.BucketPolicy)
	case "DeleteBucketPublicAccessBlock", "DeletePublicAccessBlock", "DeleteAccountPublicAccessBlock":
		return true
	case "PutBucketPublicAccessBlock", "PutPublicAccessBlock", "PutAccountPublicAccessBlock":
		var c struct {
			BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets *bool
		}
		if !decodeObject(q.PublicAccessBlock, &c) {
			return false
		}
		for _, b := range []*bool{c.BlockPublicAcls, c.IgnorePublicAcls, c.BlockPublicPolicy, c.RestrictPublicBuckets} {
			if b != nil && !*b {
				return true
			}
		}
	case "ModifyImageAttribute":
		return sharedWithAll(q.LaunchPermission)
	case "ModifySnapshotAttribute":
		return sharedWithAll(q.CreateVolumePermission)
	case "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute":
		return q.AttributeName == "restore" && bytes.Contains(q.ValuesToAdd, []byte(`"all"`))
	case "AuthorizeSecurityGroupIngress":
		if q.CidrIP == "0.0.0.0/0" {
			return true
		}
		for _, p := range q.IPPermissions.Items {
			for _, r := range p.IPRanges.Items {
				if r.CidrIP == "0.0.0.0/0" {
					return true
				}
			}
			for _, r := range p.IPv6Ranges.Items {
				if r.CidrIPv6 == "::/0" {
					return true
				}
			}
		}
	case "CreateNetworkAclEntry", "ReplaceNetworkAclEntry":
		return !q.Egress && q.RuleAction == "allow" && q.ACLProtocol == "-1" && (q.CidrBlock == "0.0.0.0/0" || q.IPv6CidrBlock == "::/0")
	}
	return false
}

func anyContains(needles [][]byte, haystacks ...jsontext.Value) bool {
	for _, h := range haystacks {
		for _, n := range needles {
			if bytes.Contains(h, n) {
				return true
			}
		}
	}
	return false
}

func sharedWithAll(p permission) bool {
	for _, it := range p.Add.Items {
		if it.Group == "all" {
			return true
		}
	}
	return false
}

// policyIsPublic tells a bucket policy with a statement allowing Principal "*" or
// {"AWS": "*"} that no condition confines to known networks, accounts or principals.
// CloudTrail records the policy as an object; a string holding the JSON is read too, and so
// is a single statement not wrapped in an array.
func policyIsPublic(v jsontext.Value) bool {
	if len(v) > 0 && v.Kind() == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return false
		}
		v = jsontext.Value(s)
	}
	var p struct {
		Statement jsontext.Value `json:"Statement"`
	}
	if !decodeObject(v, &p) {
		return false
	}
	type statement struct {
		Effect    string                               `json:"Effect"`
		Principal jsontext.Value                       `json:"Principal"`
		Condition map[string]map[string]jsontext.Value `json:"Condition"`
	}
	var stmts []statement
	if len(p.Statement) > 0 && p.Statement.Kind() == '{' {
		stmts = make([]statement, 1)
		if json.Unmarshal(p.Statement, &stmts[0], lenient) != nil {
			return false
		}
	} else if len(p.Statement) == 0 || json.Unmarshal(p.Statement, &stmts, lenient) != nil {
		return false
	}
	for _, s := range stmts {
		if s.Effect == "Allow" && anyPrincipal(s.Principal) && !confined(s.Condition) {
			return true
		}
	}
	return false
}

// anyPrincipal tells a statement's Principal that is everyone: "*", or "*" among the AWS
// principals.
func anyPrincipal(v jsontext.Value) bool {
	if string(v) == `"*"` {
		return true
	}
	var aws struct {
		AWS jsontext.Value `json:"AWS"`
	}
	return decodeObject(v, &aws) && bytes.Contains(aws.AWS, []byte(`"*"`))
}

// confiningKeys are the condition keys that, required to equal given values, confine a
// statement to known networks, accounts or principals, as S3 itself judges a policy not
// public (lower case: condition keys are case-insensitive).
var confiningKeys = map[string]bool{
	"aws:sourceip": true, "aws:sourcevpc": true, "aws:sourcevpce": true, "aws:sourcearn": true,
	"aws:sourceaccount": true, "aws:sourceowner": true, "aws:sourceorgid": true, "aws:sourceorgpaths": true,
	"aws:principalorgid": true, "aws:principalorgpaths": true, "aws:principalaccount": true,
	"aws:principalarn": true, "aws:userid": true,
}

// confined tells whether a statement's conditions confine it: a positive test (not a Not…
// operator, not …IfExists, which passes when the key is absent) of a confining key, and for
// aws:SourceIp a range that is not the whole Internet.
func confined(cond map[string]map[string]jsontext.Value) bool {
	for op, tests := range cond {
		if strings.Contains(op, "Not") || strings.HasSuffix(op, "IfExists") || op == "Null" {
			continue
		}
		for key, val := range tests {
			key = strings.ToLower(key)
			if !confiningKeys[key] {
				continue
			}
			if key == "aws:sourceip" && (bytes.Contains(val, []byte(`"0.0.0.0/0"`)) || bytes.Contains(val, []byte(`"::/0"`))) {
				continue
			}
			return true
		}
	}
	return false
}
