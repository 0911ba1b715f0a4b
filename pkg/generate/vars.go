package generate

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// iamTime is how IAM, STS and KMS write dates in responseElements.
const iamTime = "Jan 2, 2006, 3:04:05 PM"

// value returns the value of placeholder name in this call. Values that depend on the call
// itself (time, request ID, outcome) are computed each time; the others are made once per
// scene and reused by its later steps, so a user created in one step is the one deleted in
// a later step.
func (c *call) value(name string) string {
	s, r := c.scene, c.g.rng
	switch name {
	case "account":
		return s.acct.id
	case "region":
		return c.region
	case "requestId":
		return c.requestID
	case "clientToken":
		return uuid(r)
	case "iamDate":
		return c.at.Format(iamTime)
	case "expiration":
		return c.at.Add(time.Hour).Format(iamTime)
	case "deletionDate":
		return c.at.Add(7 * 24 * time.Hour).Truncate(24 * time.Hour).Format(iamTime)
	case "epochMs":
		return strconv.FormatInt(c.at.UnixMilli(), 10)
	case "action":
		return strings.Replace(c.op.source, ".amazonaws.com", ":", 1) + c.op.event
	case "actorArn":
		return s.actorArn()
	case "encoded":
		return randomString(r, base64Ish, 96)
	case "amzId2":
		return randomString(r, base64Ish, 76)
	case "loginState":
		return hexString(r, 16)
	case "loginResult":
		if c.fail {
			return "Failure"
		}
		return "Success"
	case "mfaUsed":
		if !c.fail && s.who.mfa {
			return "Yes"
		}
		return "No"
	case "mfaIdentifier":
		if c.fail || !s.who.mfa {
			return ""
		}
		device := "mfa/" + s.who.name
		if s.who.kind == "Root" {
			device = "mfa/root-account-mfa-device"
		}
		return `,"MFAIdentifier":"arn:aws:iam::` + s.acct.id + ":" + device + `"`
	case "aclRule":
		return strconv.Itoa(100 + 10*r.IntN(20))
	case "aclEgress":
		if s.vars["aclEgress"] == "both" { // inbound, then outbound
			s.repeat++
			return strconv.FormatBool(s.repeat%2 == 0)
		}
		return strconv.FormatBool(r.IntN(10) < 3)
	case "partNumber":
		s.repeat++
		return strconv.Itoa(s.repeat)
	case "launched":
		return c.launched()
	case "objectSize":
		return strconv.Itoa(200 + r.IntN(5<<20))
	case "lambdaTime":
		return c.at.Format("2006-01-02T15:04:05.000-0700")
	}
	if v, ok := s.vars[name]; ok {
		return v
	}
	mk, ok := makers[name]
	if !ok {
		panic("generate: no value for placeholder $" + name)
	}
	v := mk(c)
	s.vars[name] = v
	return v
}

// Network ACL entry addresses: everyone over IPv4 and over IPv6.
const (
	allIPv4 = `"cidrBlock":"0.0.0.0/0"`
	allIPv6 = `"ipv6CidrBlock":"::/0"`
)

// launched renders the instances of a RunInstances response, one item each.
func (c *call) launched() string {
	var b []byte
	for i, id := range strings.Split(c.value("instanceIds"), ",") {
		if i > 0 {
			b = append(b, ',')
		}
		ip := fmt.Sprintf("10.0.%d.%d", c.g.rng.IntN(64), 4+c.g.rng.IntN(250))
		if i == 0 {
			ip = c.value("privateIp")
		}
		b = launchedItem.render(b, func(name string) string {
			switch name {
			case "instanceId":
				return id
			case "launchIndex":
				return strconv.Itoa(i)
			case "privateIp":
				return ip
			case "privateDns":
				return privateDNS(c.region, ip)
			case "eniId":
				if i > 0 {
					return "eni-" + hexString(c.g.rng, 17)
				}
			}
			return c.value(name)
		})
	}
	return string(b)
}

// privateDNS is an instance's private host name in region.
func privateDNS(region, ip string) string {
	domain := region + ".compute.internal"
	if region == "us-east-1" {
		domain = "ec2.internal"
	}
	return "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + domain
}

// makers make the values that stay the same for a whole scene.
var makers map[string]func(c *call) string

func init() {
	makers = map[string]func(c *call) string{
		// IAM.
		"iamUser":       func(c *call) string { return pick(c.g.rng, c.scene.acct.users) },
		"newUser":       func(c *call) string { return pick(c.g.rng, newUsers) + "-" + digits(c, 3) },
		"userId":        func(c *call) string { return "AIDA" + base32String(c.g.rng, 17) },
		"newKeyId":      func(c *call) string { return "AKIA" + base32String(c.g.rng, 16) },
		"iamGroup":      func(c *call) string { return pick(c.g.rng, c.scene.acct.groups) },
		"newGroup":      func(c *call) string { return pick(c.g.rng, newGroups) + "-" + digits(c, 2) },
		"groupId":       func(c *call) string { return "AGPA" + base32String(c.g.rng, 17) },
		"policyName":    func(c *call) string { return pick(c.g.rng, newPolicies) + "-" + digits(c, 3) },
		"policyId":      func(c *call) string { return "ANPA" + base32String(c.g.rng, 17) },
		"iamRole":       func(c *call) string { return pick(c.g.rng, c.scene.acct.roles) },
		"newRole":       func(c *call) string { return pick(c.g.rng, newRoles) + "-" + hexString(c.g.rng, 4) },
		"roleId":        func(c *call) string { return "AROA" + base32String(c.g.rng, 17) },
		"managedPolicy": func(c *call) string { return "arn:aws:iam::aws:policy/" + pick(c.g.rng, managedPolicies) },
		// otherUser is a user of the account other than the caller; callerName is the caller.
		"otherUser": func(c *call) string {
			users := slices.DeleteFunc(slices.Clone(c.scene.acct.users), func(u string) bool { return u == c.scene.who.name })
			return pick(c.g.rng, users)
		},
		"callerName": func(c *call) string { return c.scene.who.name },
		// oldKeyId is the caller's own access key, the one a rotation retires.
		"oldKeyId": func(c *call) string {
			if k := c.scene.who.key; k != "" {
				return k
			}
			return "AKIA" + base32String(c.g.rng, 16)
		},
		"inlinePolicyName": func(c *call) string { return pick(c.g.rng, inlinePolicies) },
		// inlinePolicy is what a workload's role needs of its bucket.
		"inlinePolicy": func(c *call) string {
			return iamEncoded(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::` +
				c.value("bucket") + `/*"}]}`)
		},
		// trustPolicy lets the organization's accounts assume the role, and no one else.
		"trustPolicy": func(c *call) string {
			return jsonText(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"` +
				c.scene.acct.org + `"}}}]}`)
		},
		"samlName": func(c *call) string { return pick(c.g.rng, identityProviders) },
		"samlMetadata": func(c *call) string {
			app := "exk" + randomString(c.g.rng, alphaNum, 17)
			return jsonText(`<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://www.okta.com/` + app +
				`"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>` +
				`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://acme.okta.com/app/amazon_aws/` + app + `/sso/saml"/></md:IDPSSODescriptor></md:EntityDescriptor>`)
		},

		// STS: the role a principal assumes and the session it gets.
		"targetRole": func(c *call) string {
			if t := c.scene.who.target; t != "" {
				return t
			}
			return pick(c.g.rng, standingRoles)
		},
		"targetRoleId": func(c *call) string { return c.scene.acct.roleIDs[c.value("targetRole")] },
		"roleArn":      func(c *call) string { return "arn:aws:iam::" + c.scene.acct.id + ":role/" + c.value("targetRole") },
		"roleSession": func(c *call) string {
			switch w := c.scene.who; {
			case w.name == "lambda.amazonaws.com":
				return pick(c.g.rng, functions)
			case w.name == "ec2.amazonaws.com":
				return "i-" + hexString(c.g.rng, 17)
			case w.kind == "AWSService":
				return hexString(c.g.rng, 32)
			case w.kind == "IAMUser":
				return w.name + "-" + digits(c, 10)
			default:
				return w.session
			}
		},
		"sessionKey": func(c *call) string { return "ASIA" + base32String(c.g.rng, 16) },

		// EC2.
		"vpcId":        func(c *call) string { return c.scene.acct.vpcs[c.region][0] },
		"subnetId":     func(c *call) string { return c.scene.acct.vpcs[c.region][1] },
		"zone":         func(c *call) string { return c.region + string(rune('a'+c.g.rng.IntN(3))) },
		"imageId":      func(c *call) string { return "ami-" + hexString(c.g.rng, 17) },
		"instanceType": func(c *call) string { return pick(c.g.rng, instanceTypes) },
		"newInstanceType": func(c *call) string {
			return pick(c.g.rng, slices.DeleteFunc(slices.Clone(instanceTypes), func(t string) bool { return t == c.value("instanceType") }))
		},
		"instanceName": func(c *call) string { return pick(c.g.rng, instanceNames) + "-" + digits(c, 2) },
		"instanceId":   func(c *call) string { return "i-" + hexString(c.g.rng, 17) },
		"instanceCount": func(c *call) string {
			switch n := c.g.rng.IntN(10); {
			case n < 7:
				return "1"
			case n < 9:
				return "2"
			}
			return "3"
		},
		// instanceIds are the instances a RunInstances launches, the first being instanceId.
		"instanceIds": func(c *call) string {
			ids := c.value("instanceId")
			n, _ := strconv.Atoi(c.value("instanceCount"))
			for range n - 1 {
				ids += ",i-" + hexString(c.g.rng, 17)
			}
			return ids
		},
		"terminate": func(c *call) string {
			return `{"instanceId":"` + strings.ReplaceAll(c.value("instanceIds"), ",", `"},{"instanceId":"`) + `"}`
		},
		"terminated": func(c *call) string {
			var b strings.Builder
			for i, id := range strings.Split(c.value("instanceIds"), ",") {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"instanceId":"` + id + `","currentState":{"code":32,"name":"shutting-down"},"previousState":{"code":16,"name":"running"}}`)
			}
			return b.String()
		},
		"reservationId": func(c *call) string { return "r-" + hexString(c.g.rng, 17) },
		"eniId":         func(c *call) string { return "eni-" + hexString(c.g.rng, 17) },
		"privateIp": func(c *call) string {
			return fmt.Sprintf("10.0.%d.%d", c.g.rng.IntN(64), 4+c.g.rng.IntN(250))
		},
		"privateDns": func(c *call) string { return privateDNS(c.region, c.value("privateIp")) },
		"sgId":       func(c *call) string { return "sg-" + hexString(c.g.rng, 17) },
		"sgName":     func(c *call) string { return pick(c.g.rng, securityGroups) },
		"sgRuleId":   func(c *call) string { return "sgr-" + hexString(c.g.rng, 17) },
		"port":       func(c *call) string { return pick(c.g.rng, ports) },
		"cidr": func(c *call) string {
			switch c.g.rng.IntN(10) {
			case 0, 1, 2, 3:
				return "0.0.0.0/0"
			case 4, 5, 6:
				return c.scene.acct.office + "/32"
			}
			return "10.0.0.0/16"
		},
		"aclId": func(c *call) string { return "acl-" + hexString(c.g.rng, 17) },
		"aclProtocol": func(c *call) string {
			if c.g.rng.IntN(10) == 0 {
				return "-1" // all traffic
			}
			return "6"
		},
		"aclPorts": func(c *call) string {
			if c.value("aclProtocol") == "-1" {
				return "{}"
			}
			p := pick(c.g.rng, ports)
			return `{"from":` + p + `,"to":` + p + `}`
		},
		"aclCidr": func(c *call) string {
			switch c.g.rng.IntN(10) {
			case 0, 1, 2, 3, 4:
				return allIPv4
			case 5:
				return allIPv6
			}
			return `"cidrBlock":"10.0.0.0/16"`
		},
		"elasticIp":  func(c *call) string { return randomIP(c.g.rng, regions[c.region]) },
		"snapshotId": func(c *call) string { return "snap-" + hexString(c.g.rng, 17) },
		"flowLogId":  func(c *call) string { return "fl-" + hexString(c.g.rng, 17) },
		// shareWith is who an AMI or snapshot is shared with: a partner's account.
		"shareWith": func(c *call) string {
			return `{"userId":"` + strconv.Itoa(100000000000+c.g.rng.IntN(899999999999)) + `"}`
		},
		"allocationId":  func(c *call) string { return "eipalloc-" + hexString(c.g.rng, 17) },
		"associationId": func(c *call) string { return "eipassoc-" + hexString(c.g.rng, 17) },

		// S3.
		"bucket": func(c *call) string { return pick(c.g.rng, c.scene.acct.buckets) },
		"newBucket": func(c *call) string {
			return fmt.Sprintf("acme-%s-%s-%s", c.scene.acct.env, pick(c.g.rng, newBuckets), hexString(c.g.rng, 6))
		},
		"objectKey": func(c *call) string {
			return pick(c.g.rng, objectPrefixes) + pick(c.g.rng, objectNames) + "-" + digits(c, 4) + pick(c.g.rng, objectSuffixes)
		},
		"objectAcl": func(c *call) string {
			if c.g.rng.IntN(10) == 0 {
				return publicObject
			}
			return ""
		},
		"aclPublic": func(c *call) string { return strconv.FormatBool(c.g.rng.IntN(10) < 3) },
		"bucketAcl": func(c *call) string {
			return `,"AccessControlPolicy":{"AccessControlList":{"Grant":` + c.value("aclGrants") + `},"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","Owner":{"ID":"` + c.value("canonicalId") + `"}}`
		},
		"objectAclChange": func(c *call) string { return ownerFullACL },
		"objectGrant": func(c *call) string {
			return `,"AccessControlPolicy":{"AccessControlList":{"Grant":[{"Grantee":{"xsi:type":"CanonicalUser","ID":"` + c.value("canonicalId") +
				`"},"Permission":"FULL_CONTROL"},{"Grantee":{"xsi:type":"Group","URI":"http://acs.amazonaws.com/groups/global/AllUsers"},"Permission":"READ"}]},"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","Owner":{"ID":"` +
				c.value("canonicalId") + `"}}`
		},
		"blockAcls":   func(c *call) string { return "true" },
		"blockPolicy": func(c *call) string { return "true" },
		// bucketPolicy is one that S3 does not judge public: for a VPC endpoint, or for
		// another account of the company's.
		"bucketPolicy": func(c *call) string {
			arn := "arn:aws:s3:::" + c.value("bucket")
			if c.g.rng.IntN(2) == 0 {
				return `{"Version":"2012-10-17","Statement":[{"Sid":"VPCEndpointOnly","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:PutObject"],"Resource":"` + arn +
					`/*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-` + hexString(c.g.rng, 17) + `"}}}]}`
			}
			return `{"Version":"2012-10-17","Statement":[{"Sid":"CrossAccountRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + strconv.Itoa(100000000000+c.g.rng.IntN(899999999999)) +
				`:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["` + arn + `","` + arn + `/*"]}]}`
		},
		"publicPolicy": func(c *call) string {
			return `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + c.value("bucket") + `/*"}]}`
		},
		"copySource": func(c *call) string {
			return pick(c.g.rng, c.scene.acct.buckets) + "/" + pick(c.g.rng, objectPrefixes) + pick(c.g.rng, objectNames) + "-" + digits(c, 4) + pick(c.g.rng, objectSuffixes)
		},
		"uploadId": func(c *call) string { return randomString(c.g.rng, alphaNum, 86) },
		// deletedKeys are the keys of a DeleteObjects batch, $deleteCount of them (40).
		"deletedKeys": func(c *call) string {
			n, err := strconv.Atoi(c.scene.vars["deleteCount"])
			if err != nil {
				n = 40
			}
			prefix := pick(c.g.rng, objectPrefixes)
			var b strings.Builder
			for i := range n {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"Key":"%s%s-%s%s"}`, prefix, pick(c.g.rng, objectNames), digits(c, 4), pick(c.g.rng, objectSuffixes))
			}
			return b.String()
		},
		"versioning":  func(c *call) string { return "Enabled" },
		"canonicalId": func(c *call) string { return c.scene.acct.canonical },
		"aclGrants": func(c *call) string {
			owner := `{"Grantee":{"xsi:type":"CanonicalUser","ID":"` + c.scene.acct.canonical + `"},"Permission":"FULL_CONTROL"}`
			if c.value("aclPublic") == "true" {
				return `[` + owner + `,{"Grantee":{"xsi:type":"Group","URI":"http://acs.amazonaws.com/groups/global/AllUsers"},"Permission":"READ"}]`
			}
			return `[` + owner + `,{"Grantee":{"xsi:type":"Group","URI":"http://acs.amazonaws.com/groups/s3/LogDelivery"},"Permission":"WRITE"}]`
		},

		// KMS, CloudTrail and the rest.
		"kmsKey":      func(c *call) string { return c.scene.acct.keys[c.region] },
		"newKmsKey":   func(c *call) string { return uuid(c.g.rng) },
		"kmsAlias":    func(c *call) string { return "app-data" },
		"newKmsAlias": func(c *call) string { return pick(c.g.rng, newAliases) + "-" + digits(c, 2) },
		"trailArn": func(c *call) string {
			return "arn:aws:cloudtrail:" + c.scene.acct.regions[0] + ":" + c.scene.acct.id + ":trail/management-events"
		},
		"trailBucket": func(c *call) string { return c.scene.acct.buckets[0] },
		// eventSelectors record management events and, now, the S3 data events of a bucket.
		"eventSelectors": func(c *call) string {
			return `{"readWriteType":"All","includeManagementEvents":true,"dataResources":[{"type":"AWS::S3::Object","values":["arn:aws:s3:::` +
				c.value("bucket") + `/"]}],"excludeManagementEventSources":[]}`
		},
		// detectorId is the account's GuardDuty detector in the region: one per account and region.
		"detectorId": func(c *call) string {
			sum := md5.Sum([]byte(c.scene.acct.id + "/" + c.region))
			return hex.EncodeToString(sum[:])
		},
		"optInRegion": func(c *call) string { return pick(c.g.rng, optInRegions) },
		"dbInstance":  func(c *call) string { return c.scene.acct.env + "-" + pick(c.g.rng, databases) },
		"dbHost": func(c *call) string {
			sum := md5.Sum([]byte(c.scene.acct.id + "/" + c.region + "/rds"))
			return "c" + hex.EncodeToString(sum[:])[:11]
		},
		"dbChange":        func(c *call) string { return `"dBInstanceClass":"db.r6g.large"` },
		"codeSize":        func(c *call) string { return strconv.Itoa(4096 + c.g.rng.IntN(20<<20)) },
		"codeSha":         func(c *call) string { return randomString(c.g.rng, base64Ish, 43) + "=" },
		"functionVersion": func(c *call) string { return strconv.Itoa(2 + c.g.rng.IntN(60)) },
		"statementId":     func(c *call) string { return uuid(c.g.rng) },
		"lambdaPrincipal": func(c *call) string { return "s3.amazonaws.com" },
		"permissionSource": func(c *call) string {
			if c.value("lambdaPrincipal") == "*" {
				return ""
			}
			return `,"sourceArn":"arn:aws:s3:::` + c.value("bucket") + `","sourceAccount":"` + c.scene.acct.id + `"`
		},
		"permissionStatement": func(c *call) string {
			fn := "arn:aws:lambda:" + c.region + ":" + c.scene.acct.id + ":function:" + c.value("functionName")
			st := `{"Sid":"` + c.value("statementId") + `","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"` + fn + `"}`
			if p := c.value("lambdaPrincipal"); p != "*" {
				st = `{"Sid":"` + c.value("statementId") + `","Effect":"Allow","Principal":{"Service":"` + p + `"},"Action":"lambda:InvokeFunction","Resource":"` + fn +
					`","Condition":{"StringEquals":{"AWS:SourceAccount":"` + c.scene.acct.id + `"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::` + c.value("bucket") + `"}}}`
			}
			return jsonText(st)
		},
		"urlAuth":      func(c *call) string { return "AWS_IAM" },
		"urlId":        func(c *call) string { return randomString(c.g.rng, lowerAlnum, 32) },
		"ssmParam":     func(c *call) string { return "/" + c.scene.acct.env + "/" + pick(c.g.rng, parameters) },
		"secretId":     func(c *call) string { return c.scene.acct.env + "/" + pick(c.g.rng, secretNames) },
		"functionName": func(c *call) string { return pick(c.g.rng, functions) },
		"tableName":    func(c *call) string { return pick(c.g.rng, tables) },
		"stackName":    func(c *call) string { return c.scene.acct.env + "-" + pick(c.g.rng, stacks) },
	}
}

var (
	newUsers        = []string{"tmp-contractor", "test-user", "debug-access", "svc-reporting", "migration-bot", "backup-admin", "qa-automation", "vendor-support"}
	newGroups       = []string{"contractors", "incident-response", "data-science", "oncall"}
	newPolicies     = []string{"s3-read-exports", "ec2-start-stop", "kms-decrypt-app", "ci-deploy-permissions"}
	newRoles        = []string{"lambda-exec", "batch-runner", "cross-account-audit", "ecs-task"}
	managedPolicies = []string{"AdministratorAccess", "ReadOnlyAccess", "AmazonS3FullAccess", "PowerUserAccess", "IAMFullAccess", "AmazonEC2FullAccess"}
	instanceTypes   = []string{"t3.micro", "t3.medium", "m6i.large", "c6i.xlarge", "r6g.large"}
	instanceNames   = []string{"web", "api", "worker", "bastion", "batch"}
	securityGroups  = []string{"web-sg", "bastion-sg", "db-access", "temp-debug", "launch-wizard-3"}
	ports           = []string{"22", "3389", "443", "80", "5432", "6379", "8080"}
	newBuckets      = []string{"tmp", "share", "data", "static", "public-assets"}
	objectPrefixes  = []string{"exports/", "reports/2025/", "uploads/", "static/img/", "backups/db/"}
	objectNames     = []string{"report", "invoice", "customers", "logo", "dump", "dataset"}
	objectSuffixes  = []string{".csv", ".pdf", ".json", ".png", ".sql.gz", ".parquet"}
	newAliases      = []string{"payments", "backups", "tenant-data", "secrets"}
	parameters      = []string{"app/db-password", "app/api-key", "payments/stripe-key", "etl/source-dsn"}
	secretNames     = []string{"app/db-password", "app/api-key", "payments/stripe-key", "etl/source-dsn", "app/jwt-signing-key",
		"crm/salesforce-token", "ci/github-token", "mail/sendgrid-key", "analytics/snowflake-password", "support/zendesk-token",
		"app/redis-auth", "backup/encryption-passphrase"}
	inlinePolicies    = []string{"s3-access", "bucket-rw", "exports-writer", "data-reader"}
	identityProviders = []string{"Okta", "AzureAD", "GoogleWorkspace"}
	optInRegions      = []string{"ap-east-1", "me-south-1", "af-south-1", "eu-south-1", "ap-southeast-3", "me-central-1", "il-central-1"}
	databases         = []string{"orders", "app", "analytics", "billing"}
	functions         = []string{"etl-loader", "image-resizer", "slack-notifier", "cost-report"}
	tables            = []string{"orders", "sessions", "customers", "audit-log"}
	stacks            = []string{"network", "app", "data", "monitoring"}
)

func digits(c *call, n int) string { return randomString(c.g.rng, digitChars, n) }

// jsonText returns s as the inside of a JSON string: quotes and backslashes escaped, < and
// > left as they are.
func jsonText(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic("generate: " + err.Error())
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// iamEncoded returns a policy document as IAM records it in requestParameters: URL-encoded
// the way Java's URLEncoder does (letters, digits and .-*_ kept, a space a +).
func iamEncoded(doc string) string {
	var b strings.Builder
	for i := 0; i < len(doc); i++ {
		switch ch := doc[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', strings.IndexByte(".-*_", ch) >= 0:
			b.WriteByte(ch)
		case ch == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}
