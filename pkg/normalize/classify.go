package normalize

import (
	"strings"
)

// categories maps the service of eventSource (the part before ".amazonaws.com") to the
// event category; services not listed are "other".
var categories = map[string]string{
	"signin": "authentication", "sts": "authentication", "sso": "authentication", "portal.sso": "authentication",
	"iam": "iam", "sso-directory": "iam", "identitystore": "iam", "access-analyzer": "iam", "sso-oauth": "authentication",
	"ec2": "compute", "lambda": "compute", "ecs": "compute", "eks": "compute", "autoscaling": "compute",
	"batch": "compute", "lightsail": "compute", "elasticbeanstalk": "compute", "ecr": "compute", "ssm": "compute",
	"elasticloadbalancing": "network", "route53": "network", "cloudfront": "network", "directconnect": "network",
	"network-firewall": "network", "globalaccelerator": "network", "apigateway": "network",
	"s3": "storage", "elasticfilesystem": "storage", "glacier": "storage", "backup": "storage", "fsx": "storage",
	"storagegateway": "storage",
	"rds":            "database", "dynamodb": "database", "redshift": "database", "elasticache": "database",
	"docdb-elastic": "database", "neptune": "database",
	"cloudtrail": "logging", "logs": "logging", "monitoring": "logging", "config": "logging", "events": "logging",
	"kms": "kms", "secretsmanager": "kms", "acm": "kms", "cloudhsm": "kms",
	"organizations": "organizations", "account": "organizations", "controltower": "organizations",
	"guardduty": "security", "securityhub": "security", "inspector2": "security", "macie2": "security",
	"wafv2": "security", "shield": "security",
	"cloudformation": "management", "servicecatalog": "management",
}

// ec2Network are the nouns of EC2 calls that change or read the network.
var ec2Network = []string{"SecurityGroup", "NetworkAcl", "Vpc", "Subnet", "Route", "Gateway", "Address",
	"NetworkInterface", "DhcpOptions", "FlowLogs", "PrefixList", "Vpn"}

// networkSecurity are the nouns of the calls that shape who can reach what: security groups,
// network ACLs, routes, gateways and VPCs.
var networkSecurity = []string{"SecurityGroup", "NetworkAcl", "Route", "Gateway", "Vpc"}

// category returns the event category of a call.
func category(source, name string) string {
	svc := strings.TrimSuffix(source, ".amazonaws.com")
	if svc == "ec2" {
		switch {
		case containsAny(name, ec2Network):
			return "network"
		case strings.Contains(name, "Volume") || strings.Contains(name, "Snapshot"):
			return "storage"
		}
	}
	if c, ok := categories[svc]; ok {
		return c
	}
	return "other"
}

// isNetworkSecurity tells a change to a security group, network ACL, route, gateway or VPC.
func isNetworkSecurity(source, name string, readOnly bool) bool {
	return !readOnly && source == "ec2.amazonaws.com" && containsAny(name, networkSecurity)
}

func containsAny(s string, parts []string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
