package normalize

import "testing"

func TestAction(t *testing.T) {
	tests := []struct {
		want  string
		names []string
	}{
		{"login", []string{"ConsoleLogin", "CheckMfa", "UserAuthentication", "CredentialChallenge", "CredentialVerification"}},
		{"create", []string{"CreateUser", "RunInstances", "AllocateAddress", "PutBucketAcl", "PutObject", "AddUserToGroup",
			"ImportKeyPair", "RegisterImage", "CopySnapshot", "IssueCertificate", "RequestCertificate", "UploadServerCertificate",
			"LaunchInstances", "PublishVersion20150331", "PurchaseReservedInstancesOffering", "RestoreDBInstanceFromDBSnapshot",
			"Subscribe", "CreateFunction20150331"}},
		{"delete", []string{"DeleteUser", "TerminateInstances", "ReleaseAddress", "RemoveUserFromGroup", "DeregisterImage",
			"PurgeQueue", "RetireGrant", "Unsubscribe", "LeaveOrganization", "BatchDeleteImage"}},
		{"read", []string{"DescribeInstances", "GetObject", "HeadBucket", "LookupEvents", "SearchResources", "Query", "Scan",
			"SelectObjectContent", "FilterLogEvents", "DownloadDBLogFilePortion", "SimulatePrincipalPolicy",
			"DecodeAuthorizationMessage", "EstimateTemplateCost", "ValidateTemplate", "BatchGetItem", "GetFunction20150331v2"}},
		{"list", []string{"ListBuckets", "ListUsers", "ListFunctions20150331"}},
		{"modify", []string{"UpdateTrail", "ModifyInstanceAttribute", "SetDefaultPolicyVersion", "AttachUserPolicy",
			"DetachRolePolicy", "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "AssociateAddress",
			"DisassociateAddress", "EnableKeyRotation", "DisableKey", "ChangePassword", "ReplaceNetworkAclEntry",
			"ResetSnapshotAttribute", "StartLogging", "StopLogging", "RebootInstances", "TagResource", "UntagResource",
			"CancelKeyDeletion", "AcceptVpcPeeringConnection", "RejectVpcPeeringConnection", "ApplySecurityGroupsToLoadBalancer",
			"AssignPrivateIpAddresses", "UnassignPrivateIpAddresses", "RotateSecret", "SuspendProcesses", "ResumeProcesses",
			"ActivateType", "DeactivateMFADevice", "MoveAccount", "BatchWriteItem"}},
		{"other", []string{"AssumeRole", "AssumeRoleWithSAML", "SwitchRole", "Decrypt", "GenerateDataKey", "SendCommand",
			"Invoke", "Putty", "Getaway", "Batch", "BatchX", "", "createUser"}},
	}
	for _, tt := range tests {
		for _, name := range tt.names {
			if got := Action(name); got != tt.want {
				t.Errorf("Action(%q) = %q, want %q", name, got, tt.want)
			}
		}
	}
}

func TestCategory(t *testing.T) {
	tests := []struct {
		source, name, want string
	}{
		{"signin.amazonaws.com", "ConsoleLogin", "authentication"},
		{"sts.amazonaws.com", "AssumeRole", "authentication"},
		{"iam.amazonaws.com", "CreateUser", "iam"},
		{"identitystore.amazonaws.com", "CreateUser", "iam"},
		{"ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "network"},
		{"ec2.amazonaws.com", "CreateNetworkAclEntry", "network"},
		{"ec2.amazonaws.com", "AllocateAddress", "network"},
		{"ec2.amazonaws.com", "CreateVpc", "network"},
		{"ec2.amazonaws.com", "RunInstances", "compute"},
		{"ec2.amazonaws.com", "ModifyImageAttribute", "compute"},
		{"ec2.amazonaws.com", "ModifySnapshotAttribute", "storage"},
		{"ec2.amazonaws.com", "CreateVolume", "storage"},
		{"lambda.amazonaws.com", "Invoke", "compute"},
		{"elasticloadbalancing.amazonaws.com", "CreateLoadBalancer", "network"},
		{"s3.amazonaws.com", "PutBucketPolicy", "storage"},
		{"rds.amazonaws.com", "ModifyDBSnapshotAttribute", "database"},
		{"dynamodb.amazonaws.com", "DescribeTable", "database"},
		{"cloudtrail.amazonaws.com", "StopLogging", "logging"},
		{"logs.amazonaws.com", "DeleteLogGroup", "logging"},
		{"kms.amazonaws.com", "Decrypt", "kms"},
		{"secretsmanager.amazonaws.com", "GetSecretValue", "kms"},
		{"organizations.amazonaws.com", "LeaveOrganization", "organizations"},
		{"guardduty.amazonaws.com", "DeleteDetector", "security"},
		{"cloudformation.amazonaws.com", "CreateStack", "management"},
		{"workdocs.amazonaws.com", "DescribeFolderContents", "other"},
		{"", "", "other"},
	}
	for _, tt := range tests {
		if got := category(tt.source, tt.name); got != tt.want {
			t.Errorf("category(%q, %q) = %q, want %q", tt.source, tt.name, got, tt.want)
		}
	}
}

func TestIsNetworkSecurity(t *testing.T) {
	tests := []struct {
		source, name string
		readOnly     bool
		want         bool
	}{
		{"ec2.amazonaws.com", "CreateSecurityGroup", false, true},
		{"ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", false, true},
		{"ec2.amazonaws.com", "RevokeSecurityGroupEgress", false, true},
		{"ec2.amazonaws.com", "ModifySecurityGroupRules", false, true},
		{"ec2.amazonaws.com", "CreateNetworkAclEntry", false, true},
		{"ec2.amazonaws.com", "ReplaceNetworkAclAssociation", false, true},
		{"ec2.amazonaws.com", "CreateRoute", false, true},
		{"ec2.amazonaws.com", "AssociateRouteTable", false, true},
		{"ec2.amazonaws.com", "AttachInternetGateway", false, true},
		{"ec2.amazonaws.com", "CreateNatGateway", false, true},
		{"ec2.amazonaws.com", "CreateVpcPeeringConnection", false, true},
		{"ec2.amazonaws.com", "DeleteVpc", false, true},
		{"ec2.amazonaws.com", "DescribeSecurityGroups", true, false},
		{"ec2.amazonaws.com", "DescribeRouteTables", true, false},
		{"ec2.amazonaws.com", "AllocateAddress", false, false},
		{"ec2.amazonaws.com", "RunInstances", false, false},
		{"ec2.amazonaws.com", "CreateSubnet", false, false},
		{"route53.amazonaws.com", "ChangeResourceRecordSets", false, false},
		{"storagegateway.amazonaws.com", "CreateGateway", false, false},
	}
	for _, tt := range tests {
		if got := isNetworkSecurity(tt.source, tt.name, tt.readOnly); got != tt.want {
			t.Errorf("isNetworkSecurity(%q, %q, %v) = %v, want %v", tt.source, tt.name, tt.readOnly, got, tt.want)
		}
	}
}

func TestPartition(t *testing.T) {
	tests := []struct {
		arn, region, want string
	}{
		{"arn:aws:iam::111122223333:user/alice", "us-east-1", "aws"},
		{"arn:aws-cn:sts::111122223333:assumed-role/r/s", "cn-north-1", "aws-cn"},
		{"arn:aws-us-gov:iam::111122223333:user/gov", "us-gov-west-1", "aws-us-gov"},
		{"arn:aws-cn:iam::111122223333:root", "", "aws-cn"},
		{"", "cn-northwest-1", "aws-cn"},
		{"", "us-gov-east-1", "aws-us-gov"},
		{"", "us-iso-east-1", "aws-iso"},
		{"", "us-isob-east-1", "aws-iso-b"},
		{"", "eu-west-1", "aws"},
		{"", "", "aws"},
		{"not-an-arn", "cn-north-1", "aws-cn"},
		{"arn:", "us-gov-west-1", "aws-us-gov"},
	}
	for _, tt := range tests {
		if got := partition(tt.arn, tt.region); got != tt.want {
			t.Errorf("partition(%q, %q) = %q, want %q", tt.arn, tt.region, got, tt.want)
		}
	}
}

func TestResourceType(t *testing.T) {
	for in, want := range map[string]string{
		"AWS::IAM::Role":          "iam-role",
		"AWS::IAM::AccessKey":     "iam-access-key",
		"AWS::IAM::SAMLProvider":  "iam-saml-provider",
		"AWS::EC2::SecurityGroup": "ec2-security-group",
		"AWS::EC2::NetworkAcl":    "ec2-network-acl",
		"AWS::EC2::VPC":           "ec2-vpc",
		"AWS::S3::Bucket":         "s3-bucket",
		"AWS::KMS::Key":           "kms-key",
		"AWS::DynamoDB::Table":    "dynamodb-table",
		"AWS::RDS::DBSnapshot":    "rds-db-snapshot",
		"AWS::CloudTrail::Trail":  "cloudtrail-trail",
		"Custom":                  "custom",
		"":                        "",
	} {
		if got := resourceType(in); got != want {
			t.Errorf("resourceType(%q) = %q, want %q", in, got, want)
		}
	}
}
