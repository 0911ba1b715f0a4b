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
// access key; security group, network ACL; bucket or object; instances; elastic IP. Calls
// it has no rule for fall back to the record's resources list.
func resources(source, name, region, account, partition string, q *request, p *response, listed []cloudTrailResource) target {
	var t target
	switch source {
	case "iam.amazonaws.com":
		t = iamTarget(name, account, partition, q, p)
	case "ec2.amazonaws.com":
		t = ec2Target(name, region, account, partition, q, p)
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
		t.typ = listed[0].Type
		for _, r := range listed {
			if r.ARN != "" {
				t.arns = append(t.arns, r.ARN)
				t.names = append(t.names, r.ARN[strings.LastIndexAny(r.ARN, ":/")+1:])
			}
		}
	}
	return t
}

func iamTarget(name, account, partition string, q *request, p *response) target {
	arn := func(kind, n, known string) []string {
		if known != "" {
			return []string{known}
		}
		return []string{"arn:" + partition + ":iam::" + account + ":" + kind + "/" + n}
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
			return target{"iam-policy", []string{q.PolicyName}, nil}
		}
	case q.UserName != "" && strings.Contains(noun, "User") || strings.HasPrefix(noun, "LoginProfile"):
		if q.UserName != "" {
			return target{"iam-user", []string{q.UserName}, arn("user", q.UserName, p.User.ARN)}
		}
	case q.RoleName != "" && strings.Contains(noun, "Role"):
		return target{"iam-role", []string{q.RoleName}, arn("role", q.RoleName, p.Role.ARN)}
	case q.GroupName != "" && strings.Contains(noun, "Group"):
		return target{"iam-group", []string{q.GroupName}, arn("group", q.GroupName, p.Group.ARN)}
	case q.InstanceProfileName != "":
		return target{"iam-instance-profile", []string{q.InstanceProfileName}, arn("instance-profile", q.InstanceProfileName, "")}
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

// noun is an API name without its leading verb: CreateAccessKey → AccessKey.
func noun(name string) string {
	for i := 1; i < len(name); i++ {
		if name[i] >= 'A' && name[i] <= 'Z' {
			return name[i:]
		}
	}
	return ""
}
