package rules

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The rules of this file report resources opened to the world. The normalizer judges most
// of it (is_public_exposure: public ACLs and bucket policies, public access blocks removed,
// AMIs and snapshots shared with all, security groups and network ACLs open to anyone) and
// renders the network rules a call sets (network_rule); the rules name what was opened.

func init() {
	register(Builtin{
		Meta: Meta{ID: "s3-bucket-made-public", Severity: "high",
			Description: "A bucket made public: an ACL granting AllUsers or AuthenticatedUsers, a bucket policy " +
				"allowing everyone, or its public access block (or the account's) removed or weakened.",
			Tags:   []string{"attack.collection", "attack.exfiltration", "attack.t1530"},
			Events: slices.Sorted(maps.Keys(bucketExposures))},
		New: func(*Params) Rule { return &Match{When: bucketMadePublic} },
	})
	register(Builtin{
		Meta: Meta{ID: "s3-object-made-public", Severity: "medium",
			Description: "Objects written or changed to be public (a public canned ACL or grant on PutObject, " +
				"PutObjectAcl, CopyObject or CreateMultipartUpload); once per bucket per period (1 h).",
			Tags:   []string{"attack.collection", "attack.exfiltration", "attack.t1530"},
			Events: []string{"PutObject", "PutObjectAcl", "CopyObject", "CreateMultipartUpload"}},
		Params: map[string]any{"period": time.Hour},
		New: func(p *Params) Rule {
			return &Match{When: objectMadePublic, Dedup: &Dedup{Key: func(in *Input) string { return bucketOfObject(in) }, Period: p.Duration("period")}}
		},
	})
	register(Builtin{
		Meta: Meta{ID: "security-group-open-to-world", Severity: "high",
			Description: "Security group ingress authorized from anywhere (0.0.0.0/0 or ::/0); critical when it opens " +
				"SSH (22), RDP (3389) or every port.",
			Tags:   []string{"attack.defense-evasion", "attack.initial-access", "attack.t1562.007"},
			Events: []string{"AuthorizeSecurityGroupIngress"}},
		New: func(*Params) Rule { return &Match{When: securityGroupOpened} },
	})
	register(Builtin{
		Meta: Meta{ID: "network-acl-open-to-world", Severity: "medium",
			Description: "A network ACL entry allowing all inbound traffic from anywhere: the subnet's last filter " +
				"gone (allowing all egress is AWS's default and not reported).",
			Tags:   []string{"attack.defense-evasion", "attack.t1562.007"},
			Events: []string{"CreateNetworkAclEntry", "ReplaceNetworkAclEntry"}},
		New: func(*Params) Rule { return &Match{When: naclOpened} },
	})
	register(Builtin{
		Meta: Meta{ID: "snapshot-or-image-made-public", Severity: "high",
			Description: "An EBS snapshot, AMI, or RDS (cluster) snapshot shared with all AWS accounts: anyone can " +
				"copy the disk or database it holds.",
			Tags:   []string{"attack.exfiltration", "attack.t1537"},
			Events: []string{"ModifyImageAttribute", "ModifySnapshotAttribute", "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute"}},
		New: func(*Params) Rule { return &Match{When: snapshotShared} },
	})
	register(Builtin{
		Meta: Meta{ID: "rds-instance-made-public", Severity: "high",
			Description: "A DB instance created, modified, restored or replicated as publicly accessible: its " +
				"endpoint resolves to a public address, reachable wherever its security groups allow.",
			Tags:   []string{"attack.collection", "attack.exfiltration", "attack.t1530"},
			Events: slices.Sorted(maps.Keys(rdsInstanceCalls))},
		New: func(*Params) Rule { return &Match{When: rdsMadePublic} },
	})
}

// bucketExposures are the calls that can make a bucket public and how each does it.
// Those of the account's public access block concern every bucket of the account.
var bucketExposures = map[string]string{
	"CreateBucket":                   "an ACL granting everyone",
	"PutBucketAcl":                   "an ACL granting everyone",
	"PutBucketPolicy":                "a bucket policy allowing everyone",
	"DeleteBucketPublicAccessBlock":  "its public access block removed",
	"PutBucketPublicAccessBlock":     "its public access block weakened",
	"DeleteAccountPublicAccessBlock": "the account's public access block removed",
	"PutAccountPublicAccessBlock":    "the account's public access block weakened",
	"DeletePublicAccessBlock":        "the account's public access block removed",
	"PutPublicAccessBlock":           "the account's public access block weakened",
}

func bucketMadePublic(in *Input) (Finding, bool) {
	e := in.Event
	how, ok := bucketExposures[e.EventName]
	if !ok || !e.IsPublicExposure {
		return Finding{}, false
	}
	ctx := map[string]any{"call": e.EventName, "how": how}
	if strings.HasSuffix(how, "weakened") {
		off := weakenedBlocks(in)
		ctx["turned_off"] = off
		how += ": " + strings.Join(off, ", ") + " off"
	}
	if strings.HasPrefix(how, "the account's") {
		return Finding{
			Title:        fmt.Sprintf("buckets of account %s may be made public: %s (by %s)", e.AccountID, how, userOf(e)),
			ResourceType: "aws-account", ResourceName: e.AccountID, Context: ctx,
		}, true
	}
	bucket := orField(resourceOf(e, "s3-bucket"), in, "requestParameters.bucketName")
	return Finding{
		Title:        fmt.Sprintf("bucket %q made public: %s (by %s)", bucket, how, userOf(e)),
		ResourceType: "s3-bucket", ResourceName: bucket, Context: ctx,
	}, true
}

// weakenedBlocks returns the settings a public access block sets to false.
func weakenedBlocks(in *Input) []string {
	c, _ := in.Field("requestParameters.PublicAccessBlockConfiguration").(map[string]any)
	var off []string
	for _, k := range []string{"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"} {
		if c[k] == false {
			off = append(off, k)
		}
	}
	return off
}

// bucketOfObject returns the bucket of an object call, from its normalized object name
// (bucket/key).
func bucketOfObject(in *Input) string {
	if o := resourceOf(in.Event, "s3-object"); o != "" {
		b, _, _ := strings.Cut(o, "/")
		return b
	}
	return resourceOf(in.Event, "s3-bucket")
}

func objectMadePublic(in *Input) (Finding, bool) {
	e := in.Event
	if !e.IsPublicExposure {
		return Finding{}, false
	}
	bucket := bucketOfObject(in)
	ctx := map[string]any{"call": e.EventName}
	if o := resourceOf(e, "s3-object"); o != "" {
		ctx["first_key"] = strings.TrimPrefix(o, bucket+"/")
	}
	return Finding{
		Title:        fmt.Sprintf("objects made public in bucket %q by %s (%s)", bucket, userOf(e), e.EventName),
		ResourceType: "s3-bucket", ResourceName: bucket, Context: ctx,
	}, true
}

// worldOpen reads a security group's network_rule ("tcp 22 from 0.0.0.0/0, ::/0 allow;
// all from sg-1 allow") and returns the protocol and ports of each permission open to
// anywhere ("tcp 22"), and whether one of them opens SSH, RDP or every port.
func worldOpen(rule string) (open []string, critical bool) {
	for _, perm := range strings.Split(rule, "; ") {
		spec, peers, ok := strings.Cut(strings.TrimSuffix(perm, " allow"), " from ")
		if !ok {
			continue
		}
		if !slices.ContainsFunc(strings.Split(peers, ", "), func(p string) bool { return p == "0.0.0.0/0" || p == "::/0" }) {
			continue
		}
		open = append(open, spec)
		critical = critical || opensAdminPorts(spec)
	}
	return open, critical
}

// adminPorts are the ports whose opening to the world is critical: SSH and RDP.
var adminPorts = []int{22, 3389}

// opensAdminPorts reports whether a permission ("all", "tcp", "tcp 22", "udp 3000-4000")
// covers every port or an admin port: all protocols, TCP or UDP without a port range, or a
// range holding 22 or 3389.
func opensAdminPorts(spec string) bool {
	f := strings.Fields(spec)
	if len(f) == 0 {
		return false
	}
	switch f[0] {
	case "all":
		return true
	case "tcp", "udp":
	default:
		return false
	}
	if len(f) == 1 {
		return true
	}
	lo, hi, _ := strings.Cut(f[1], "-")
	from, err1 := strconv.Atoi(lo)
	to, err2 := strconv.Atoi(cmp.Or(hi, lo))
	if err1 != nil || err2 != nil {
		return false
	}
	return slices.ContainsFunc(adminPorts, func(p int) bool { return from <= p && p <= to })
}

func securityGroupOpened(in *Input) (Finding, bool) {
	e := in.Event
	if !e.IsPublicExposure || e.EventSource != "ec2.amazonaws.com" {
		return Finding{}, false
	}
	open, critical := worldOpen(e.NetworkRule)
	group := resourceOf(e, "ec2-security-group")
	f := Finding{
		Title:        fmt.Sprintf("security group %s opened to the world by %s: %s", group, userOf(e), strings.Join(open, "; ")),
		ResourceType: "ec2-security-group", ResourceName: group,
		Context: map[string]any{"rule": e.NetworkRule, "open": open},
	}
	if critical {
		f.Severity = "critical"
	}
	return f, true
}

func naclOpened(in *Input) (Finding, bool) {
	e := in.Event
	if !e.IsPublicExposure || e.EventSource != "ec2.amazonaws.com" {
		return Finding{}, false
	}
	acl := resourceOf(e, "ec2-network-acl")
	return Finding{
		Title:        fmt.Sprintf("network ACL %s allows all inbound traffic from anywhere (%s), set by %s", acl, e.NetworkRule, userOf(e)),
		ResourceType: "ec2-network-acl", ResourceName: acl,
		Context: map[string]any{"rule": e.NetworkRule, "call": e.EventName},
	}, true
}

// snapshotKinds name the shareable images and snapshots by their resource type.
var snapshotKinds = map[string]string{
	"ec2-image": "AMI", "ec2-snapshot": "EBS snapshot", "rds-snapshot": "RDS snapshot", "rds-cluster-snapshot": "RDS cluster snapshot",
}

func snapshotShared(in *Input) (Finding, bool) {
	e := in.Event
	kind, ok := snapshotKinds[e.ResourceType]
	if !e.IsPublicExposure || !ok {
		return Finding{}, false
	}
	name := firstName(e)
	return Finding{
		Title:        fmt.Sprintf("%s %s shared with everyone by %s", kind, name, userOf(e)),
		ResourceType: e.ResourceType, ResourceName: name,
		Context: map[string]any{"call": e.EventName},
	}, true
}

// rdsInstanceCalls are the calls that create or change a DB instance, and whether the
// response tells the instance's accessibility (a create or restore; a modification's
// response shows the state before it applies).
var rdsInstanceCalls = map[string]bool{
	"CreateDBInstance":                true,
	"CreateDBInstanceReadReplica":     true,
	"RestoreDBInstanceFromDBSnapshot": true,
	"RestoreDBInstanceFromS3":         true,
	"RestoreDBInstanceToPointInTime":  true,
	"ModifyDBInstance":                false,
}

func rdsMadePublic(in *Input) (Finding, bool) {
	e := in.Event
	created, ok := rdsInstanceCalls[e.EventName]
	if !ok || e.EventSource != "rds.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	public := in.Field("requestParameters.publiclyAccessible") == true ||
		(created && in.Field("responseElements.publiclyAccessible") == true)
	if !public {
		return Finding{}, false
	}
	db := cmp.Or(in.Str("requestParameters.dBInstanceIdentifier"), in.Str("requestParameters.targetDBInstanceIdentifier"),
		in.Str("responseElements.dBInstanceIdentifier"))
	return Finding{
		Title:        fmt.Sprintf("DB instance %q made publicly accessible by %s (%s)", db, userOf(e), e.EventName),
		ResourceType: "rds-db-instance", ResourceName: db,
		Context: map[string]any{"call": e.EventName},
	}, true
}
