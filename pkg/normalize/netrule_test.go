package normalize

import "testing"

func TestNetworkRule(t *testing.T) {
	tests := []struct {
		name, source, event, params, want string
	}{
		{"ingress, two permissions, IPv4 and IPv6", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
			`{"groupId":"sg-1","ipPermissions":{"items":[
				{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]}},
				{"ipProtocol":"tcp","fromPort":8000,"toPort":8100,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8","description":"vpc"}]},"groups":{},"prefixListIds":{}}]}}`,
			"tcp 22 from 0.0.0.0/0, ::/0 allow; tcp 8000-8100 from 10.0.0.0/8 allow"},
		{"ingress from a group and a prefix list", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
			`{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"udp","fromPort":53,"toPort":53,
				"groups":{"items":[{"groupId":"sg-2","userId":"123456789012"},{"groupName":"default"}]},"prefixListIds":{"items":[{"prefixListId":"pl-6"}]}}]}}`,
			"udp 53 from sg-2, default, pl-6 allow"},
		{"egress, every protocol", "ec2.amazonaws.com", "RevokeSecurityGroupEgress",
			`{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"-1","ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}`,
			"all to 0.0.0.0/0 allow"},
		{"icmp, every type", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
			`{"ipPermissions":{"items":[{"ipProtocol":"icmp","fromPort":-1,"toPort":-1,"ipRanges":{"items":[{"cidrIp":"192.0.2.0/24"}]}}]}}`,
			"icmp from 192.0.2.0/24 allow"},
		{"the older form, in the request itself", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
			`{"groupName":"web","ipProtocol":"tcp","fromPort":80,"toPort":80,"cidrIp":"0.0.0.0/0"}`,
			"tcp 80 from 0.0.0.0/0 allow"},
		{"a permission without peers", "ec2.amazonaws.com", "RevokeSecurityGroupIngress",
			`{"ipPermissions":{"items":[{"ipProtocol":"6","fromPort":443,"toPort":443}]}}`,
			"tcp 443 allow"},
		{"ACL entry, ingress, all", "ec2.amazonaws.com", "CreateNetworkAclEntry",
			`{"networkAclId":"acl-1","ruleNumber":100,"egress":false,"ruleAction":"allow","aclProtocol":"-1","cidrBlock":"0.0.0.0/0"}`,
			"#100 ingress all from 0.0.0.0/0 allow"},
		{"ACL entry, egress, IPv6, ports", "ec2.amazonaws.com", "ReplaceNetworkAclEntry",
			`{"networkAclId":"acl-1","ruleNumber":32766,"egress":true,"ruleAction":"deny","aclProtocol":"17","portRange":{"from":1024,"to":65535},"ipv6CidrBlock":"::/0"}`,
			"#32766 egress udp 1024-65535 to ::/0 deny"},
		{"ACL entry, a protocol by number", "ec2.amazonaws.com", "CreateNetworkAclEntry",
			`{"ruleNumber":5,"egress":false,"ruleAction":"allow","aclProtocol":"47","cidrBlock":"198.51.100.7/32"}`,
			"#5 ingress 47 from 198.51.100.7/32 allow"},
		{"ACL entry deleted", "ec2.amazonaws.com", "DeleteNetworkAclEntry",
			`{"networkAclId":"acl-1","ruleNumber":120,"egress":true}`, "#120 egress"},
		{"new ACL", "ec2.amazonaws.com", "CreateNetworkAcl", `{"vpcId":"vpc-9"}`, "new network ACL in vpc-9"},
		{"association", "ec2.amazonaws.com", "ReplaceNetworkAclAssociation",
			`{"associationId":"aclassoc-3","networkAclId":"acl-1"}`, "subnet association aclassoc-3"},
		{"another call", "ec2.amazonaws.com", "CreateSecurityGroup", `{"groupName":"web","vpcId":"vpc-9"}`, ""},
		{"another service", "rds.amazonaws.com", "CreateNetworkAclEntry", `{"ruleNumber":1}`, ""},
		{"no parameters", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", `null`, ""},
	}
	n := &Normalizer{Environment: "test"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := `{"eventVersion":"1.08","eventTime":"2026-11-20T10:00:00Z","eventSource":"` + tt.source + `","eventName":"` + tt.event +
				`","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","eventID":"e-1",` +
				`"userIdentity":{"type":"IAMUser","accountId":"123456789012","userName":"alice"},"requestParameters":` + tt.params + `}`
			e, err := n.Normalize([]byte(rec))
			if err != nil {
				t.Fatal(err)
			}
			if e.NetworkRule != tt.want {
				t.Errorf("network_rule = %q, want %q", e.NetworkRule, tt.want)
			}
		})
	}
}
