package normalize

import (
	"slices"
	"testing"
)

// call is a minimal successful CloudTrail record of source:name with the request and
// response given (JSON, "null" when empty).
func call(source, name, req, resp string) string {
	return `{"eventVersion":"1.09","eventTime":"2026-11-20T10:00:00Z","eventID":"e1","awsRegion":"eu-west-1",` +
		`"recipientAccountId":"111122223333","eventSource":"` + source + `","eventName":"` + name + `",` +
		`"requestParameters":` + req + `,"responseElements":` + resp + `}`
}

func TestIsPublicExposure(t *testing.T) {
	const s3, ec2, rds = "s3.amazonaws.com", "ec2.amazonaws.com", "rds.amazonaws.com"
	allUsers := `{"Grantee":{"xsi:type":"Group","URI":"http://acs.amazonaws.com/groups/global/AllUsers"},"Permission":"READ"}`
	authUsers := `{"Grantee":{"xsi:type":"Group","URI":"http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},"Permission":"WRITE"}`
	owner := `{"Grantee":{"xsi:type":"CanonicalUser","ID":"79a59df9"},"Permission":"FULL_CONTROL"}`
	acl := func(grants string) string {
		return `{"bucketName":"b","acl":"","AccessControlPolicy":{"AccessControlList":{"Grant":` + grants + `}}}`
	}
	policy := func(p string) string { return `{"bucketName":"b","policy":"","bucketPolicy":` + p + `}` }
	pab := func(c string) string { return `{"bucketName":"b","PublicAccessBlockConfiguration":` + c + `}` }
	sg := func(ranges string) string {
		return `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,` + ranges + `}]}}`
	}
	nacl := func(egress, action, proto, cidr string) string {
		return `{"networkAclId":"acl-1","ruleNumber":100,"egress":` + egress + `,"ruleAction":"` + action + `","aclProtocol":"` + proto + `",` + cidr + `}`
	}
	tests := []struct {
		name         string
		source, call string
		req          string
		want         bool
	}{
		{"bucket ACL granting AllUsers", s3, "PutBucketAcl", acl(`[` + owner + `,` + allUsers + `]`), true},
		{"bucket ACL granting AuthenticatedUsers", s3, "PutBucketAcl", acl(`[` + owner + `,` + authUsers + `]`), true},
		{"bucket ACL with the owner alone, a single Grant object", s3, "PutBucketAcl", acl(owner), false},
		{"canned public-read bucket ACL", s3, "PutBucketAcl", `{"bucketName":"b","acl":"","x-amz-acl":["public-read"]}`, true},
		{"canned private bucket ACL", s3, "PutBucketAcl", `{"bucketName":"b","acl":"","x-amz-acl":["private"]}`, false},
		{"grant header to AllUsers", s3, "PutBucketAcl", `{"bucketName":"b","x-amz-grant-write":"uri=http://acs.amazonaws.com/groups/global/AllUsers"}`, true},
		{"grant-read-acp header to AuthenticatedUsers", s3, "PutObjectAcl", `{"bucketName":"b","key":"k","x-amz-grant-read-acp":"uri=http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}`, true},
		{"grant header to an account", s3, "PutBucketAcl", `{"bucketName":"b","x-amz-grant-read":"id=79a59df9"}`, false},
		{"object put public-read", s3, "PutObject", `{"bucketName":"b","key":"k","x-amz-acl":"public-read"}`, true},
		{"object put public-read-write", s3, "PutObject", `{"bucketName":"b","key":"k","x-amz-acl":"public-read-write"}`, true},
		{"object put bucket-owner-full-control", s3, "PutObject", `{"bucketName":"b","key":"k","x-amz-acl":"bucket-owner-full-control"}`, false},
		{"object put without ACL", s3, "PutObject", `{"bucketName":"b","key":"k"}`, false},
		{"object copied authenticated-read", s3, "CopyObject", `{"bucketName":"b","key":"k","x-amz-acl":"authenticated-read"}`, true},
		{"bucket created public-read", s3, "CreateBucket", `{"bucketName":"b","x-amz-acl":"public-read"}`, true},
		{"object ACL public", s3, "PutObjectAcl", `{"bucketName":"b","key":"k","acl":"","x-amz-acl":"public-read"}`, true},
		{"GetObject of a public-read object", s3, "GetObject", `{"bucketName":"b","key":"k","x-amz-acl":"public-read"}`, false},

		{"policy Principal *", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}`), true},
		{"policy Principal AWS *", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"}}]}`), true},
		{"policy Principal AWS list with *", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root","*"]}}]}`), true},
		{"policy as a JSON string", s3, "PutBucketPolicy", policy(`"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\"}]}"`), true},
		{"policy with a single Statement object", s3, "PutBucketPolicy", policy(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}}`), true},
		{"policy string with a single Statement object", s3, "PutBucketPolicy", policy(`"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"}}}"`), true},
		{"policy for one account", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"}}]}`), false},
		{"policy for a service", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"}}]}`), false},
		{"policy denying *", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Deny","Principal":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`), false},
		{"policy * confined to a VPC endpoint", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}}]}`), false},
		{"policy * confined to an organization, key in other case", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"StringEquals":{"AWS:PrincipalOrgID":"o-1"}}}]}`), false},
		{"policy * confined to an office network", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"IpAddress":{"aws:SourceIp":["198.51.100.0/24"]}}}]}`), false},
		{"policy * from the whole Internet", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}]}`), true},
		{"policy * except a VPC endpoint", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}}]}`), true},
		{"policy * with an IfExists condition", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"StringEqualsIfExists":{"aws:SourceVpce":"vpce-1"}}}]}`), true},
		{"policy * with an unrelated condition", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`), true},
		{"policy public in its second statement", s3, "PutBucketPolicy", policy(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"}},{"Effect":"Allow","Principal":"*"}]}`), true},
		{"policy not JSON", s3, "PutBucketPolicy", policy(`"{not json"`), false},
		{"policy without statements", s3, "PutBucketPolicy", policy(`{"Version":"2012-10-17"}`), false},

		{"public access block deleted", s3, "DeleteBucketPublicAccessBlock", `{"bucketName":"b","publicAccessBlock":""}`, true},
		{"account public access block deleted", "s3-control.amazonaws.com", "DeletePublicAccessBlock", `{"accountId":"111122223333"}`, true},
		{"public access block with a false flag", s3, "PutBucketPublicAccessBlock", pab(`{"BlockPublicAcls":true,"IgnorePublicAcls":true,"BlockPublicPolicy":false,"RestrictPublicBuckets":true}`), true},
		{"public access block all true", s3, "PutBucketPublicAccessBlock", pab(`{"BlockPublicAcls":true,"IgnorePublicAcls":true,"BlockPublicPolicy":true,"RestrictPublicBuckets":true}`), false},
		{"public access block with flags left out", s3, "PutBucketPublicAccessBlock", pab(`{"BlockPublicAcls":true}`), false},
		{"account public access block with a false flag", "s3-control.amazonaws.com", "PutPublicAccessBlock", pab(`{"BlockPublicAcls":false}`), true},

		{"AMI shared with all", ec2, "ModifyImageAttribute", `{"imageId":"ami-1","launchPermission":{"add":{"items":[{"group":"all"}]}},"attributeType":"launchPermission"}`, true},
		{"AMI shared with an account", ec2, "ModifyImageAttribute", `{"imageId":"ami-1","launchPermission":{"add":{"items":[{"userId":"444455556666"}]}}}`, false},
		{"AMI made private", ec2, "ModifyImageAttribute", `{"imageId":"ami-1","launchPermission":{"remove":{"items":[{"group":"all"}]}}}`, false},
		{"snapshot shared with all", ec2, "ModifySnapshotAttribute", `{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"group":"all"}]}}}`, true},
		{"snapshot shared with an account", ec2, "ModifySnapshotAttribute", `{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"userId":"444455556666"}]}}}`, false},
		{"RDS snapshot shared with all", rds, "ModifyDBSnapshotAttribute", `{"dBSnapshotIdentifier":"s","attributeName":"restore","valuesToAdd":["all"]}`, true},
		{"RDS cluster snapshot shared with all", rds, "ModifyDBClusterSnapshotAttribute", `{"dBClusterSnapshotIdentifier":"s","attributeName":"restore","valuesToAdd":["all"]}`, true},
		{"RDS snapshot shared with an account", rds, "ModifyDBSnapshotAttribute", `{"dBSnapshotIdentifier":"s","attributeName":"restore","valuesToAdd":["444455556666"]}`, false},
		{"RDS snapshot made private", rds, "ModifyDBSnapshotAttribute", `{"dBSnapshotIdentifier":"s","attributeName":"restore","valuesToRemove":["all"]}`, false},

		{"ingress from 0.0.0.0/0", ec2, "AuthorizeSecurityGroupIngress", sg(`"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{}`), true},
		{"ingress from ::/0", ec2, "AuthorizeSecurityGroupIngress", sg(`"ipRanges":{},"ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]}`), true},
		{"ingress from a private range and the world", ec2, "AuthorizeSecurityGroupIngress", sg(`"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"},{"cidrIp":"0.0.0.0/0"}]}`), true},
		{"ingress from a private range", ec2, "AuthorizeSecurityGroupIngress", sg(`"ipRanges":{"items":[{"cidrIp":"10.0.0.0/16"}]},"ipv6Ranges":{}`), false},
		{"ingress from another group", ec2, "AuthorizeSecurityGroupIngress", sg(`"groups":{"items":[{"groupId":"sg-2"}]},"ipRanges":{}`), false},
		{"ingress the old way, cidrIp at the top", ec2, "AuthorizeSecurityGroupIngress", `{"groupName":"web","cidrIp":"0.0.0.0/0","ipProtocol":"tcp","fromPort":80,"toPort":80}`, true},
		{"egress to 0.0.0.0/0", ec2, "AuthorizeSecurityGroupEgress", sg(`"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}`), false},
		{"revoking ingress from 0.0.0.0/0", ec2, "RevokeSecurityGroupIngress", sg(`"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}`), false},

		{"NACL allow all from 0.0.0.0/0", ec2, "CreateNetworkAclEntry", nacl("false", "allow", "-1", `"cidrBlock":"0.0.0.0/0"`), true},
		{"NACL allow all from ::/0", ec2, "CreateNetworkAclEntry", nacl("false", "allow", "-1", `"ipv6CidrBlock":"::/0"`), true},
		{"NACL entry replaced by allow all", ec2, "ReplaceNetworkAclEntry", nacl("false", "allow", "-1", `"cidrBlock":"0.0.0.0/0"`), true},
		{"NACL allow all outbound", ec2, "CreateNetworkAclEntry", nacl("true", "allow", "-1", `"cidrBlock":"0.0.0.0/0"`), false},
		{"NACL deny all", ec2, "CreateNetworkAclEntry", nacl("false", "deny", "-1", `"cidrBlock":"0.0.0.0/0"`), false},
		{"NACL allow HTTPS from anywhere", ec2, "CreateNetworkAclEntry", nacl("false", "allow", "6", `"cidrBlock":"0.0.0.0/0","portRange":{"from":443,"to":443}`), false},
		{"NACL allow all from a private range", ec2, "CreateNetworkAclEntry", nacl("false", "allow", "-1", `"cidrBlock":"10.0.0.0/16"`), false},

		{"another service's call", "lambda.amazonaws.com", "AddPermission20150331v2", `{"principal":"*","functionName":"f"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Normalize([]byte(call(tt.source, tt.call, tt.req, "null")), "")
			if err != nil {
				t.Fatal(err)
			}
			if e.IsPublicExposure != tt.want {
				t.Errorf("is_public_exposure = %v, want %v", e.IsPublicExposure, tt.want)
			}
		})
	}
}

// TestFailedCallExposesNothing checks that a refused call is no exposure, however public
// its request.
func TestFailedCallExposesNothing(t *testing.T) {
	rec := `{"eventTime":"2026-11-20T10:00:00Z","eventID":"e1","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl",` +
		`"errorCode":"AccessDenied","requestParameters":{"bucketName":"b","x-amz-acl":["public-read"]}}`
	e, err := Normalize([]byte(rec), "")
	if err != nil {
		t.Fatal(err)
	}
	if e.IsPublicExposure || e.Outcome != "failure" {
		t.Fatalf("refused call: is_public_exposure %v, outcome %q", e.IsPublicExposure, e.Outcome)
	}
}

func TestResources(t *testing.T) {
	const iam, ec2, s3 = "iam.amazonaws.com", "ec2.amazonaws.com", "s3.amazonaws.com"
	tests := []struct {
		name         string
		source, call string
		req, resp    string
		resources    string // the record's resources list, JSON
		typ          string
		names, arns  []string
		userARN      string
	}{
		{name: "IAM user created", source: iam, call: "CreateUser", req: `{"userName":"bot"}`,
			resp: `{"user":{"userName":"bot","arn":"arn:aws:iam::111122223333:user/ci/bot"}}`,
			typ:  "iam-user", names: []string{"bot"}, arns: []string{"arn:aws:iam::111122223333:user/ci/bot"}},
		{name: "IAM user deleted: the path is unknown, so no ARN", source: iam, call: "DeleteUser", req: `{"userName":"bot"}`,
			typ: "iam-user", names: []string{"bot"}},
		{name: "login profile", source: iam, call: "CreateLoginProfile", req: `{"userName":"bot","passwordResetRequired":true}`,
			typ: "iam-user", names: []string{"bot"}},
		{name: "user policy attached", source: iam, call: "AttachUserPolicy", req: `{"userName":"bot","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`,
			typ: "iam-user", names: []string{"bot"}},
		{name: "IAM group created", source: iam, call: "CreateGroup", req: `{"groupName":"ops"}`,
			resp: `{"group":{"groupName":"ops","arn":"arn:aws:iam::111122223333:group/ops"}}`,
			typ:  "iam-group", names: []string{"ops"}, arns: []string{"arn:aws:iam::111122223333:group/ops"}},
		{name: "IAM group deleted", source: iam, call: "DeleteGroup", req: `{"groupName":"ops"}`, typ: "iam-group", names: []string{"ops"}},
		{name: "IAM role created", source: iam, call: "CreateRole", req: `{"roleName":"r","path":"/svc/"}`,
			resp: `{"role":{"roleName":"r","arn":"arn:aws:iam::111122223333:role/svc/r"}}`,
			typ:  "iam-role", names: []string{"r"}, arns: []string{"arn:aws:iam::111122223333:role/svc/r"}},
		{name: "IAM role deleted", source: iam, call: "DeleteRole", req: `{"roleName":"r"}`, typ: "iam-role", names: []string{"r"}},
		{name: "role policy attached", source: iam, call: "AttachRolePolicy", req: `{"roleName":"r","policyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}`,
			typ: "iam-role", names: []string{"r"}},
		{name: "IAM policy created", source: iam, call: "CreatePolicy", req: `{"policyName":"p"}`,
			resp: `{"policy":{"policyName":"p","arn":"arn:aws:iam::111122223333:policy/team/p"}}`,
			typ:  "iam-policy", names: []string{"p"}, arns: []string{"arn:aws:iam::111122223333:policy/team/p"}},
		{name: "IAM policy deleted", source: iam, call: "DeletePolicy", req: `{"policyArn":"arn:aws:iam::111122223333:policy/team/p"}`,
			typ: "iam-policy", names: []string{"p"}, arns: []string{"arn:aws:iam::111122223333:policy/team/p"}},
		{name: "policy version created", source: iam, call: "CreatePolicyVersion", req: `{"policyArn":"arn:aws:iam::111122223333:policy/p","setAsDefault":true}`,
			typ: "iam-policy", names: []string{"p"}, arns: []string{"arn:aws:iam::111122223333:policy/p"}},
		{name: "access key created", source: iam, call: "CreateAccessKey", req: `{"userName":"bot"}`,
			resp: `{"accessKey":{"userName":"bot","accessKeyId":"AKIAEXAMPLE1","status":"Active"}}`,
			typ:  "iam-access-key", names: []string{"AKIAEXAMPLE1"}},
		{name: "access key deleted", source: iam, call: "DeleteAccessKey", req: `{"userName":"bot","accessKeyId":"AKIAEXAMPLE1"}`,
			typ: "iam-access-key", names: []string{"AKIAEXAMPLE1"}},
		{name: "instance profile", source: iam, call: "CreateInstanceProfile", req: `{"instanceProfileName":"web"}`,
			typ: "iam-instance-profile", names: []string{"web"}},
		{name: "IAM list", source: iam, call: "ListUsers", req: `{}`},

		{name: "security group created", source: ec2, call: "CreateSecurityGroup", req: `{"groupName":"web","vpcId":"vpc-1"}`,
			resp: `{"_return":true,"groupId":"sg-1"}`,
			typ:  "ec2-security-group", names: []string{"sg-1"}, arns: []string{"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1"}},
		{name: "security group by name", source: ec2, call: "AuthorizeSecurityGroupIngress", req: `{"groupName":"web"}`,
			typ: "ec2-security-group", names: []string{"web"}},
		{name: "network ACL created", source: ec2, call: "CreateNetworkAcl", req: `{"vpcId":"vpc-1"}`,
			resp: `{"networkAcl":{"networkAclId":"acl-1","vpcId":"vpc-1"}}`,
			typ:  "ec2-network-acl", names: []string{"acl-1"}, arns: []string{"arn:aws:ec2:eu-west-1:111122223333:network-acl/acl-1"}},
		{name: "network ACL entry", source: ec2, call: "CreateNetworkAclEntry", req: `{"networkAclId":"acl-1","ruleNumber":100}`,
			typ: "ec2-network-acl", names: []string{"acl-1"}, arns: []string{"arn:aws:ec2:eu-west-1:111122223333:network-acl/acl-1"}},
		{name: "elastic IP allocated", source: ec2, call: "AllocateAddress", req: `{"domain":"vpc"}`,
			resp: `{"publicIp":"54.0.0.1","allocationId":"eipalloc-1"}`,
			typ:  "ec2-elastic-ip", names: []string{"54.0.0.1", "eipalloc-1"}, arns: []string{"arn:aws:ec2:eu-west-1:111122223333:elastic-ip/eipalloc-1"}},
		{name: "EC2-Classic address released", source: ec2, call: "ReleaseAddress", req: `{"publicIp":"54.0.0.1"}`,
			typ: "ec2-elastic-ip", names: []string{"54.0.0.1"}},
		{name: "addresses described", source: ec2, call: "DescribeAddresses", req: `{"publicIpsSet":{},"allocationIdsSet":{}}`},
		{name: "instances run: the response's IDs", source: ec2, call: "RunInstances",
			req:  `{"instancesSet":{"items":[{"imageId":"ami-1","minCount":2,"maxCount":2}]}}`,
			resp: `{"instancesSet":{"items":[{"instanceId":"i-1","imageId":"ami-1"},{"instanceId":"i-2","imageId":"ami-1"}]}}`,
			typ:  "ec2-instance", names: []string{"i-1", "i-2"},
			arns: []string{"arn:aws:ec2:eu-west-1:111122223333:instance/i-1", "arn:aws:ec2:eu-west-1:111122223333:instance/i-2"}},
		{name: "instances terminated, no response", source: ec2, call: "TerminateInstances",
			req: `{"instancesSet":{"items":[{"instanceId":"i-1"},{"instanceId":"i-2"}]}}`,
			typ: "ec2-instance", names: []string{"i-1", "i-2"},
			arns: []string{"arn:aws:ec2:eu-west-1:111122223333:instance/i-1", "arn:aws:ec2:eu-west-1:111122223333:instance/i-2"}},
		{name: "instances run and refused", source: ec2, call: "RunInstances",
			req: `{"instancesSet":{"items":[{"imageId":"ami-1","minCount":1,"maxCount":1}]}}`},
		{name: "AMI", source: ec2, call: "ModifyImageAttribute", req: `{"imageId":"ami-1"}`,
			typ: "ec2-image", names: []string{"ami-1"}, arns: []string{"arn:aws:ec2:eu-west-1::image/ami-1"}},
		{name: "AMI created", source: ec2, call: "CreateImage", req: `{"instanceId":"i-1","name":"golden"}`, resp: `{"imageId":"ami-2"}`,
			typ: "ec2-image", names: []string{"ami-2"}, arns: []string{"arn:aws:ec2:eu-west-1::image/ami-2"}},
		{name: "snapshot", source: ec2, call: "ModifySnapshotAttribute", req: `{"snapshotId":"snap-1"}`,
			typ: "ec2-snapshot", names: []string{"snap-1"}, arns: []string{"arn:aws:ec2:eu-west-1::snapshot/snap-1"}},
		{name: "security group in China", source: ec2, call: "DeleteSecurityGroup", req: `{"groupId":"sg-1"}`,
			userARN: "arn:aws-cn:iam::111122223333:user/u",
			typ:     "ec2-security-group", names: []string{"sg-1"}, arns: []string{"arn:aws-cn:ec2:eu-west-1:111122223333:security-group/sg-1"}},

		{name: "bucket", source: s3, call: "PutBucketPolicy", req: `{"bucketName":"b","policy":""}`,
			typ: "s3-bucket", names: []string{"b"}, arns: []string{"arn:aws:s3:::b"}},
		{name: "object", source: s3, call: "PutObject", req: `{"bucketName":"b","key":"a/b.txt"}`,
			typ: "s3-object", names: []string{"b/a/b.txt"}, arns: []string{"arn:aws:s3:::b/a/b.txt"}},
		{name: "bucket in GovCloud", source: s3, call: "DeleteBucket", req: `{"bucketName":"b"}`,
			userARN: "arn:aws-us-gov:iam::111122223333:user/u",
			typ:     "s3-bucket", names: []string{"b"}, arns: []string{"arn:aws-us-gov:s3:::b"}},
		{name: "no bucket", source: s3, call: "ListBuckets", req: `{"Host":"s3.eu-west-1.amazonaws.com"}`},

		{name: "RDS snapshot", source: "rds.amazonaws.com", call: "ModifyDBSnapshotAttribute", req: `{"dBSnapshotIdentifier":"db-1"}`,
			typ: "rds-snapshot", names: []string{"db-1"}, arns: []string{"arn:aws:rds:eu-west-1:111122223333:snapshot:db-1"}},
		{name: "RDS cluster snapshot", source: "rds.amazonaws.com", call: "ModifyDBClusterSnapshotAttribute", req: `{"dBClusterSnapshotIdentifier":"c-1"}`,
			typ: "rds-cluster-snapshot", names: []string{"c-1"}, arns: []string{"arn:aws:rds:eu-west-1:111122223333:cluster-snapshot:c-1"}},

		{name: "the resources list", source: "kms.amazonaws.com", call: "Decrypt", req: `{}`,
			resources: `[{"accountId":"111122223333","type":"AWS::KMS::Key","ARN":"arn:aws:kms:eu-west-1:111122223333:key/k-1"}]`,
			typ:       "kms-key", names: []string{"k-1"}, arns: []string{"arn:aws:kms:eu-west-1:111122223333:key/k-1"}},
		{name: "the resources list, first type only", source: "sts.amazonaws.com", call: "AssumeRoleWithSAML", req: `{}`,
			resources: `[{"type":"AWS::IAM::Role","ARN":"arn:aws:iam::111122223333:role/path/r"},{"type":"AWS::IAM::SAMLProvider","ARN":"arn:aws:iam::111122223333:saml-provider/okta"}]`,
			typ:       "iam-role", names: []string{"r"}, arns: []string{"arn:aws:iam::111122223333:role/path/r"}},
		{name: "the resources list, an entry without ARN", source: "kms.amazonaws.com", call: "CreateAlias", req: `{}`,
			resources: `[{"type":"AWS::KMS::Key"},{"type":"AWS::KMS::Key","ARN":"arn:aws:kms:eu-west-1:111122223333:alias/a"}]`,
			typ:       "kms-key", names: []string{"a"}, arns: []string{"arn:aws:kms:eu-west-1:111122223333:alias/a"}},
		{name: "the model's rule wins over the list", source: s3, call: "GetObject", req: `{"bucketName":"b","key":"k"}`,
			resources: `[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"},{"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::b"}]`,
			typ:       "s3-object", names: []string{"b/k"}, arns: []string{"arn:aws:s3:::b/k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.resp
			if resp == "" {
				resp = "null"
			}
			rec := call(tt.source, tt.call, tt.req, resp)
			if tt.resources != "" {
				rec = rec[:len(rec)-1] + `,"resources":` + tt.resources + `}`
			}
			if tt.userARN != "" {
				rec = rec[:len(rec)-1] + `,"userIdentity":{"type":"IAMUser","arn":"` + tt.userARN + `"}}`
			}
			e, err := Normalize([]byte(rec), "")
			if err != nil {
				t.Fatal(err)
			}
			if e.ResourceType != tt.typ || !slices.Equal(e.ResourceNames, tt.names) || !slices.Equal(e.ResourceARNs, tt.arns) {
				t.Errorf("got %q %q %q\nwant %q %q %q", e.ResourceType, e.ResourceNames, e.ResourceARNs, tt.typ, tt.names, tt.arns)
			}
		})
	}
}
