package normalize

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// items is EC2's way of writing a list: {"items": [...]}.
type items[T any] struct {
	Items []T `json:"items"`
}

type instance struct {
	InstanceID string `json:"instanceId"`
}

// request holds the requestParameters the event model reads. Members of the same name mean
// different things to different services (groupName: an IAM group or a security group).
type request struct {
	UserName            string          `json:"userName"`
	RoleName            string          `json:"roleName"`
	GroupName           string          `json:"groupName"`
	NewUserName         string          `json:"newUserName"`
	NewGroupName        string          `json:"newGroupName"`
	PolicyName          string          `json:"policyName"`
	PolicyARN           string          `json:"policyArn"`
	Path                string          `json:"path"`
	AccessKeyID         string          `json:"accessKeyId"`
	InstanceProfileName string          `json:"instanceProfileName"`
	GroupID             string          `json:"groupId"`
	NetworkACLID        string          `json:"networkAclId"`
	AllocationID        string          `json:"allocationId"`
	PublicIP            string          `json:"publicIp"`
	InstancesSet        items[instance] `json:"instancesSet"`
	ImageID             string          `json:"imageId"`
	SnapshotID          string          `json:"snapshotId"`
	BucketName          string          `json:"bucketName"`
	Key                 string          `json:"key"`
	DBSnapshotID        string          `json:"dBSnapshotIdentifier"`
	DBClusterSnapshotID string          `json:"dBClusterSnapshotIdentifier"`

	CannedACL         jsontext.Value      `json:"x-amz-acl"`
	GrantRead         jsontext.Value      `json:"x-amz-grant-read"`
	GrantWrite        jsontext.Value      `json:"x-amz-grant-write"`
	GrantReadACP      jsontext.Value      `json:"x-amz-grant-read-acp"`
	GrantWriteACP     jsontext.Value      `json:"x-amz-grant-write-acp"`
	GrantFullControl  jsontext.Value      `json:"x-amz-grant-full-control"`
	AccessControl     jsontext.Value      `json:"AccessControlPolicy"`
	BucketPolicy      jsontext.Value      `json:"bucketPolicy"`
	PublicAccessBlock jsontext.Value      `json:"PublicAccessBlockConfiguration"`
	IPPermissions     items[ipPermission] `json:"ipPermissions"`
	// The older form of a security-group rule, one permission in the request itself.
	CidrIP     string `json:"cidrIp"`
	IPProtocol string `json:"ipProtocol"`
	FromPort   *int64 `json:"fromPort"`
	ToPort     *int64 `json:"toPort"`
	// A network ACL entry, a new network ACL's VPC, an ACL's new subnet association.
	RuleNumber    int64  `json:"ruleNumber"`
	RuleAction    string `json:"ruleAction"`
	Egress        bool   `json:"egress"`
	CidrBlock     string `json:"cidrBlock"`
	IPv6CidrBlock string `json:"ipv6CidrBlock"`
	ACLProtocol   string `json:"aclProtocol"`
	PortRange     struct {
		From *int64 `json:"from"`
		To   *int64 `json:"to"`
	} `json:"portRange"`
	VpcID         string `json:"vpcId"`
	AssociationID string `json:"associationId"`

	LaunchPermission       permission     `json:"launchPermission"`
	CreateVolumePermission permission     `json:"createVolumePermission"`
	AttributeName          string         `json:"attributeName"`
	ValuesToAdd            jsontext.Value `json:"valuesToAdd"`
}

// ipPermission is one rule of a security-group change: a protocol, a port range and the
// sources (ingress) or destinations (egress) it applies to.
type ipPermission struct {
	IPProtocol string `json:"ipProtocol"`
	FromPort   *int64 `json:"fromPort"`
	ToPort     *int64 `json:"toPort"`
	IPRanges   items[struct {
		CidrIP string `json:"cidrIp"`
	}] `json:"ipRanges"`
	IPv6Ranges items[struct {
		CidrIPv6 string `json:"cidrIpv6"`
	}] `json:"ipv6Ranges"`
	Groups items[struct {
		GroupID   string `json:"groupId"`
		GroupName string `json:"groupName"`
	}] `json:"groups"`
	PrefixListIDs items[struct {
		PrefixListID string `json:"prefixListId"`
	}] `json:"prefixListIds"`
}

// permission is an AMI's or snapshot's permission change; group "all" makes it public.
type permission struct {
	Add items[struct {
		Group string `json:"group"`
	}] `json:"add"`
}

type named struct {
	ARN string `json:"arn"`
}

// response holds the responseElements the event model reads.
type response struct {
	User      named `json:"user"`
	Role      named `json:"role"`
	Group     named `json:"group"`
	Policy    named `json:"policy"`
	AccessKey struct {
		AccessKeyID string `json:"accessKeyId"`
	} `json:"accessKey"`
	GroupID    string `json:"groupId"`
	NetworkACL struct {
		NetworkACLID string `json:"networkAclId"`
	} `json:"networkAcl"`
	AllocationID string          `json:"allocationId"`
	PublicIP     string          `json:"publicIp"`
	InstancesSet items[instance] `json:"instancesSet"`
	ImageID      string          `json:"imageId"`
	SnapshotID   string          `json:"snapshotId"`
}

// decodeObject decodes v into out when v is a JSON object, and tells whether it did. The
// parameters are best effort: a shape the model does not know leaves the fields empty
// rather than losing the record.
func decodeObject(v jsontext.Value, out any) bool {
	return len(v) > 0 && v.Kind() == '{' && json.Unmarshal(v, out, lenient) == nil
}
