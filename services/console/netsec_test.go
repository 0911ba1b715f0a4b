package console_test

import (
	"net/url"
	"testing"
)

// TestNetworkSecurity checks the Network and Security panels on testdata/netsec.jsonl.
func TestNetworkSecurity(t *testing.T) {
	f := loadFixture(t, "netsec.jsonl")
	day := f.day()
	const acct, region = "123456789012", "us-east-1"
	f.check(t, []panelCase{
		// AccessDenied*, and *UnauthorizedOperation with or without Client.; not
		// NoSuchBucket nor a failed sign-in. n02, delivered twice, counts once.
		{"authorization failures by location", "netsec-authz-failures-geo", day, [][]any{
			at(amsterdam, 1, "Amsterdam", 1.0), at(berlin, 1, "Berlin", 1.0), at(london, 1, "London", 1.0), at(unitedStates, 1, "", 1.0)}},
		{"recent authorization failures", "netsec-authz-failures-recent", nil, [][]any{
			{f.at(-90), "dave", "Decrypt", "AccessDeniedException", "91.198.174.192", "Netherlands", region},
			{f.at(-100), "carol", "DescribeInstances", "UnauthorizedOperation", "217.160.0.1", "Germany", region}}},
		{"authorization failures over time", "netsec-authz-failures-over-time", day, [][]any{{f.h(-5), 2.0}, {f.h(-2), 2.0}}},
		{"authorization failures of an event", "netsec-authz-failures-over-time", with(day, "event_name", "RunInstances"), [][]any{{f.h(-5), 1.0}}},

		// Every call whose name has Security or Network, failed and read-only ones too.
		{"network and security events over time", "netsec-events-over-time", day, [][]any{
			{f.h(-5), "ReplaceNetworkAclEntry", 1.0},
			{f.h(-1), "AuthorizeSecurityGroupIngress", 2.0}, {f.h(-1), "CreateNetworkAcl", 1.0},
			{f.h(-1), "CreateNetworkAclEntry", 4.0}, {f.h(-1), "DescribeSecurityGroups", 1.0},
			{f.h(-1), "ReplaceNetworkAclEntry", 1.0}, {f.h(-1), "RevokeSecurityGroupEgress", 1.0}}},

		// The changes that happened (not the failed n09 and n16) in the last three hours,
		// newest first, with the rule they set: protocol, ports, addresses, allow or deny;
		// each permission of n07 with its own address.
		{"security group and network ACL changes", "netsec-sg-nacl-changes", nil, [][]any{
			{f.at(-25), "bob", "CreateNetworkAclEntry", "acl-2", "#130 ingress all from 0.0.0.0/0 deny"},
			{f.at(-30), "bob", "ReplaceNetworkAclEntry", "acl-2", "#120 ingress tcp 22 from 0.0.0.0/0 allow"},
			{f.at(-35), "alice", "CreateNetworkAclEntry", "acl-1", "#110 egress all to ::/0 allow"},
			{f.at(-40), "alice", "CreateNetworkAclEntry", "acl-1", "#100 ingress all from 0.0.0.0/0 allow"},
			{f.at(-45), "alice", "CreateNetworkAcl", "acl-1", "new network ACL in vpc-1"},
			{f.at(-55), "bob", "RevokeSecurityGroupEgress", "sg-bbb", "all to 10.0.0.0/8 allow"},
			{f.at(-60), "alice", "AuthorizeSecurityGroupIngress", "sg-aaa", "tcp 22 from 0.0.0.0/0 allow; tcp 443 from ::/0 allow"}}},

		// Allow all protocols (-1) from or to anywhere, IPv4 or IPv6, either direction: not
		// the tcp entry (n13), the deny (n14) or the failed one (n16).
		{"network ACL entries allowing all", "netsec-nacl-allow-all", nil, [][]any{
			{f.at(-35), "alice", "CreateNetworkAclEntry", "acl-1", 110.0, "egress", "::/0", acct, region},
			{f.at(-40), "alice", "CreateNetworkAclEntry", "acl-1", 100.0, "ingress", "0.0.0.0/0", acct, region},
			{f.at(-300), "carol", "ReplaceNetworkAclEntry", "acl-3", 90.0, "egress", "0.0.0.0/0", acct, region}}},
		{"network ACL entries allowing all, of carol", "netsec-nacl-allow-all", with(day, "user_name", "carol"), [][]any{
			{f.at(-300), "carol", "ReplaceNetworkAclEntry", "acl-3", 90.0, "egress", "0.0.0.0/0", acct, region}}},

		// Created and deleted: the failed n16 is an event too.
		{"created and deleted", "netsec-created-deleted", day, [][]any{{"CreateNetworkAclEntry", 4.0}, {"CreateNetworkAcl", 1.0}}},

		// tmp-deploy lived five minutes; r1 lived 100 (not short); g-old is older than the
		// window.
		{"short-lived", "netsec-short-lived", nil, [][]any{{"iam-user", "tmp-deploy", "alice", "bob", f.at(-400), f.at(-395), 300.0}}},
		{"short-lived in 30 hours", "netsec-short-lived", url.Values{"from": {f.h(-30)}, "to": {f.h(1)}}, [][]any{
			{"iam-user", "tmp-deploy", "alice", "bob", f.at(-400), f.at(-395), 300.0},
			{"iam-group", "g-old", "carol", "carol", f.at(-1600), f.at(-1598), 120.0}}},
		{"short-lived of its deleter", "netsec-short-lived", with(day, "user_name", "bob"), [][]any{
			{"iam-user", "tmp-deploy", "alice", "bob", f.at(-400), f.at(-395), 300.0}}},
		{"short-lived of another user", "netsec-short-lived", with(day, "user_name", "carol"), [][]any{}},
		{"short-lived of its event", "netsec-short-lived", with(day, "event_name", "CreateUser"), [][]any{
			{"iam-user", "tmp-deploy", "alice", "bob", f.at(-400), f.at(-395), 300.0}}},
		{"short-lived of another region", "netsec-short-lived", with(day, "aws_region", "eu-west-1"), [][]any{}},
	})
}
