package normalize

import (
	"cmp"
	"strconv"
	"strings"
)

// networkRule renders the rule a security-group or network-ACL call sets or removes, for
// the event's network_rule (the format is in schemas/README.md):
//
//	AuthorizeSecurityGroupIngress   tcp 22 from 0.0.0.0/0, ::/0 allow; tcp 443 from sg-1 allow
//	RevokeSecurityGroupEgress       all to 10.0.0.0/8 allow
//	CreateNetworkAclEntry           #100 ingress tcp 1024-65535 from 0.0.0.0/0 allow
//	DeleteNetworkAclEntry           #100 egress
//	CreateNetworkAcl                new network ACL in vpc-1
//	ReplaceNetworkAclAssociation    subnet association aclassoc-1
//
// Other calls have none ("").
func networkRule(source, name string, q *request) string {
	if source != "ec2.amazonaws.com" {
		return ""
	}
	switch name {
	case "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress":
		way := " from "
		if strings.HasSuffix(name, "Egress") {
			way = " to "
		}
		perms := q.IPPermissions.Items
		if len(perms) == 0 && (q.IPProtocol != "" || q.CidrIP != "") {
			perms = []ipPermission{{IPProtocol: q.IPProtocol, FromPort: q.FromPort, ToPort: q.ToPort}}
			if q.CidrIP != "" {
				perms[0].IPRanges.Items = append(perms[0].IPRanges.Items, struct {
					CidrIP string `json:"cidrIp"`
				}{q.CidrIP})
			}
		}
		rules := make([]string, 0, len(perms))
		for _, p := range perms {
			rules = append(rules, sgRule(p, way))
		}
		return strings.Join(rules, "; ")
	case "CreateNetworkAclEntry", "ReplaceNetworkAclEntry":
		way, dir := " from ", " ingress "
		if q.Egress {
			way, dir = " to ", " egress "
		}
		return "#" + strconv.FormatInt(q.RuleNumber, 10) + dir + protocolName(q.ACLProtocol) +
			ports(q.ACLProtocol, q.PortRange.From, q.PortRange.To) + way + q.CidrBlock + q.IPv6CidrBlock + " " + q.RuleAction
	case "DeleteNetworkAclEntry":
		dir := " ingress"
		if q.Egress {
			dir = " egress"
		}
		return "#" + strconv.FormatInt(q.RuleNumber, 10) + dir
	case "CreateNetworkAcl":
		return "new network ACL in " + q.VpcID
	case "ReplaceNetworkAclAssociation":
		return "subnet association " + q.AssociationID
	}
	return ""
}

// sgRule renders one permission of a security group: protocol, ports, the addresses,
// groups and prefix lists it names. Security groups only allow.
func sgRule(p ipPermission, way string) string {
	var peers []string
	for _, r := range p.IPRanges.Items {
		peers = append(peers, r.CidrIP)
	}
	for _, r := range p.IPv6Ranges.Items {
		peers = append(peers, r.CidrIPv6)
	}
	for _, g := range p.Groups.Items {
		peers = append(peers, cmp.Or(g.GroupID, g.GroupName))
	}
	for _, l := range p.PrefixListIDs.Items {
		peers = append(peers, l.PrefixListID)
	}
	rule := protocolName(p.IPProtocol) + ports(p.IPProtocol, p.FromPort, p.ToPort)
	if len(peers) > 0 {
		rule += way + strings.Join(peers, ", ")
	}
	return rule + " allow"
}

// protocolName names an IP protocol given by name or number as AWS does: -1 is all.
func protocolName(p string) string {
	switch p {
	case "-1", "":
		return "all"
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "1":
		return "icmp"
	case "58":
		return "icmpv6"
	}
	return p
}

// ports renders a port range (" 22", " 1024-65535"), or nothing when the protocol has no
// ports or the range is every port (-1).
func ports(protocol string, from, to *int64) string {
	if protocolName(protocol) == "all" || from == nil || *from == -1 {
		return ""
	}
	if to == nil || *to == *from {
		return " " + strconv.FormatInt(*from, 10)
	}
	return " " + strconv.FormatInt(*from, 10) + "-" + strconv.FormatInt(*to, 10)
}
