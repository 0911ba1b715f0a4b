package normalize

import (
	"strings"
)

// target is what a call acted on.
type target struct {
	typ   string
	names []string
	arns  []string
}

// cloudTrailResource is an entry of the record's resources list (data events and some
// management events).
type cloudTrailResource struct {
	ARN  string `json:"ARN"`
	Type string `json:"type"`
}

// resources returns the objects a call acted on: the target IAM user, role, group, policy or
// access key; security group, network ACL; bucket or object; instances; elastic IP; AMI,
// EBS or RDS snapshot. Calls it has no rule for fall back to the record's resources list.
func resources(source, name, region, account, partition string, q *request, p *response, listed []cloudTrailResource) target {
	var t target
	switch source {
	case "iam.amazonaws.com":
		t = iamTarget(name, account, partition, q, p)
	case "ec2.amazonaws.com":
		t = ec2Target(name, region, account, partition, q, p)
	case "rds.amazonaws.com":
		t = rdsTarget(region, account, partition, q)
	case "s3.amazonaws.com":
		if q.BucketName != "" {
			if q.Key != "" {
				t = target{"s3-object", []string{q.BucketName + "/" + q.Key}, []string{"arn:" + partition + ":s3:::" + q.BucketName + "/" + q.Key}}
			} else {
				t = target{"s3-bucket", []string{q.BucketName}, []string{"arn:" + partition + ":s3:::" + q.BucketName}}
			}
		}
	}
	if t.typ == "" && len(listed) > 0 {
		// The entries of the first type: AssumeRoleWithSAML lists the role, then the
		// identity provider.
		t.typ = resourceType(listed[0].Type)
		for _, r := range listed {
			if r.ARN != "" && r.Type == listed[0].Type {
				t.arns = append(t.arns, r.ARN)
				t.names = append(t.names, r.ARN[strings.LastIndexAny(r.ARN, ":/")+1:])
			}
		}
	}
	return t
}

// resourceType turns a CloudFormation-style type of the resources list into the form of
// resource_type: AWS::EC2::SecurityGroup → ec2-security-group, AWS::IAM::SAMLProvider →
// iam-saml-provider.
func resourceType(cfn string) string {
	svc, kind, ok := strings.Cut(strings.TrimPrefix(cfn, "AWS::"), "::")
	if !ok {
		return strings.ToLower(cfn)
	}
	b := []byte(strings.ToLower(svc))
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		if upper(c) {
			// A word starts at a capital that follows a small letter, or that ends an
			// acronym before a small letter (SAMLProvider).
			if i == 0 || !upper(kind[i-1]) || i+1 < len(kind) && !upper(kind[i+1]) {
				b = append(b, '-')
			}
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

func upper(c byte) bool { return 'A' <= c && c <= 'Z' }

// iamTarget returns the IAM object of a call. An ARN is given when the record has it (the
// response of a create, the policy ARN of a request) or, for a managed policy, when the
// record holds its path and name; the others depend on an IAM path the record does not show.
func iamTarget(name, account, partition string, q *request, p *response) target {
	arn := func(known string) []string {
		if known == "" {
			return nil
		}
		return []string{known}
	}
	noun := noun(name)
	switch {
	case strings.Contains(noun, "AccessKey"):
		if id := first(q.AccessKeyID, p.AccessKey.AccessKeyID); id != "" {
			return target{"iam-access-key", []string{id}, nil}
		}
	case noun == "Policy" || noun == "PolicyVersion" || noun == "PolicyVersions" || noun == "Policies":
		if a := first(q.PolicyARN, p.Policy.ARN); a != "" {
			return target{"iam-policy", []string{lastPart(a)}, []string{a}}
		}
		if q.PolicyName != "" {
			// A managed policy's ARN is its path and name (DeletePolicy names it by ARN
			// only): arn:<partition>:iam::<account>:policy<path><name>.
			path := q.Path
			if path == "" {
				path = "/"
			}
			return target{"iam-policy", []string{q.PolicyName}, []string{"arn:" + partition + ":iam::" + account + ":policy" + path + q.PolicyName}}
		}
	case q.UserName != "" && strings.Contains(noun, "User") || strings.HasPrefix(noun, "LoginProfile"):
		if q.UserName != "" {
			return target{"iam-user", []string{q.UserName}, arn(p.User.ARN)}
		}
	case q.RoleName != "" && strings.Contains(noun, "Role"):
		return target{"iam-role", []string{q.RoleName}, arn(p.Role.ARN)}
	case q.GroupName != "" && strings.Contains(noun, "Group"):
		return target{"iam-group", []string{q.GroupName}, arn(p.Group.ARN)}
	case q.InstanceProfileName != "":
		return target{"iam-instance-profile", []string{q.InstanceProfileName}, nil}
	}
	return target{}
}

func ec2Target(name, region, account, partition string, q *request, p *response) target {
	arn := func(kind string, ids ...string) []string {
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			out = append(out, "arn:"+partition+":ec2:"+region+":"+account+":"+kind+"/"+id)
		}
		return out
	}
	switch {
	case strings.Contains(name, "SecurityGroup"):
		if id := first(q.GroupID, p.GroupID); id != "" {
			return target{"ec2-security-group", []string{id}, arn("security-group", id)}
		}
		if q.GroupName != "" {
			return target{"ec2-security-group", []string{q.GroupName}, nil}
		}
	case strings.Contains(name, "NetworkAcl"):
		if id := first(q.NetworkACLID, p.NetworkACL.NetworkACLID); id != "" {
			return target{"ec2-network-acl", []string{id}, arn("network-acl", id)}
		}
	case strings.HasSuffix(name, "Address") || strings.HasSuffix(name, "Addresses"):
		alloc, ip := first(q.AllocationID, p.AllocationID), first(q.PublicIP, p.PublicIP)
		var names []string
		for _, v := range []string{ip, alloc} {
			if v != "" {
				names = append(names, v)
			}
		}
		t := target{typ: "ec2-elastic-ip", names: names}
		if alloc != "" {
			t.arns = arn("elastic-ip", alloc)
		}
		if len(names) > 0 {
			return t
		}
	case strings.Contains(name, "Image"):
		// AMIs and snapshots have no account in their ARN.
		if id := first(q.ImageID, p.ImageID); id != "" {
			return target{"ec2-image", []string{id}, []string{"arn:" + partition + ":ec2:" + region + "::image/" + id}}
		}
	case strings.Contains(name, "Snapshot"):
		if id := first(q.SnapshotID, p.SnapshotID); id != "" {
			return target{"ec2-snapshot", []string{id}, []string{"arn:" + partition + ":ec2:" + region + "::snapshot/" + id}}
		}
	case strings.HasSuffix(name, "Instances"):
		set := p.InstancesSet.Items
		if len(set) == 0 {
			set = q.InstancesSet.Items
		}
		var ids []string
		for _, i := range set {
			if i.InstanceID != "" {
				ids = append(ids, i.InstanceID)
			}
		}
		if len(ids) > 0 {
			return target{"ec2-instance", ids, arn("instance", ids...)}
		}
	}
	return target{}
}

// rdsTarget returns the RDS snapshot of a call.
func rdsTarget(region, account, partition string, q *request) target {
	arn := "arn:" + partition + ":rds:" + region + ":" + account + ":"
	switch {
	case q.DBSnapshotID != "":
		return target{"rds-snapshot", []string{q.DBSnapshotID}, []string{arn + "snapshot:" + q.DBSnapshotID}}
	case q.DBClusterSnapshotID != "":
		return target{"rds-cluster-snapshot", []string{q.DBClusterSnapshotID}, []string{arn + "cluster-snapshot:" + q.DBClusterSnapshotID}}
	}
	return target{}
}

// noun is an API name without its leading verb: CreateAccessKey → AccessKey.
func noun(name string) string {
	for i := 1; i < len(name); i++ {
		if name[i] >= 'A' && name[i] <= 'Z' {
			return name[i:]
		}
	}
	return ""
}
