package normalize

import (
	"bytes"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// publicGrantees are the S3 ACL groups that open a bucket or object to everyone.
var publicGrantees = [][]byte{[]byte("acs.amazonaws.com/groups/global/AllUsers"), []byte("acs.amazonaws.com/groups/global/AuthenticatedUsers")}

// publicCannedACLs are the canned ACLs that do the same.
var publicCannedACLs = [][]byte{[]byte(`"public-read"`), []byte(`"public-read-write"`), []byte(`"authenticated-read"`)}

// isPublicExposure tells a successful call that opens something to the world: a bucket or
// object ACL granting AllUsers or AuthenticatedUsers, a bucket policy allowing Principal "*",
// a public access block removed or weakened, an AMI or snapshot shared with everyone, a
// security group ingress from 0.0.0.0/0 or ::/0, a network ACL entry allowing all traffic
// from anywhere.
func isPublicExposure(name string, q *request) bool {
	switch name {
	case "PutBucketAcl", "PutObjectAcl", "PutObject", "CopyObject", "CreateMultipartUpload", "CreateBucket":
		return anyContains(publicCannedACLs, q.CannedACL) ||
			anyContains(publicGrantees, q.GrantRead, q.GrantFullControl, q.AccessControl)
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
		return q.RuleAction == "allow" && q.ACLProtocol == "-1" && (q.CidrBlock == "0.0.0.0/0" || q.IPv6CidrBlock == "::/0")
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
// {"AWS": "*"}. CloudTrail records the policy as an object; a string holding the JSON is
// read too.
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
		Effect    string         `json:"Effect"`
		Principal jsontext.Value `json:"Principal"`
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
		if s.Effect != "Allow" {
			continue
		}
		if string(s.Principal) == `"*"` {
			return true
		}
		var aws struct {
			AWS jsontext.Value `json:"AWS"`
		}
		if decodeObject(s.Principal, &aws) && (string(aws.AWS) == `"*"` || bytes.Contains(aws.AWS, []byte(`"*"`))) {
			return true
		}
	}
	return false
}
