package generate

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file is the catalogue: the services, the API calls with their request and response
// templates, and the scenarios that string calls together. Templates are JSON with
// $placeholders; vars.go says what each placeholder becomes.

// service is what the calls of one AWS service have in common.
type service struct {
	version  string // eventVersion
	host     string // TLS host header; default <service>.<region>.amazonaws.com
	global   bool   // recorded in us-east-1 whatever the caller's region
	denyCode string // errorCode of a refused call
	denyMsg  string // errorMessage of a refused call
	shortID  bool   // request IDs are 16 hex digits, not UUIDs
	extra    string // additionalEventData of every call unless the API has its own
}

const (
	userDenied = "User: $actorArn is not authorized to perform: $action because no identity-based policy allows the $action action"
	s3Extra    = `{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"$amzId2","bytesTransferredOut":0}`
)

var services = map[string]*service{
	"ec2": {version: "1.09", denyCode: "Client.UnauthorizedOperation",
		denyMsg: "You are not authorized to perform this operation. User: $actorArn is not authorized to perform: $action on resource: arn:aws:ec2:$region:$account:* because no identity-based policy allows the $action action. Encoded authorization failure message: $encoded"},
	"iam":                  {version: "1.08", global: true, host: "iam.amazonaws.com", denyCode: "AccessDenied", denyMsg: userDenied},
	"sts":                  {version: "1.08", denyCode: "AccessDenied", denyMsg: userDenied},
	"signin":               {version: "1.08", global: true, host: "signin.aws.amazon.com", denyMsg: "Failed authentication"},
	"s3":                   {version: "1.09", host: "s3.$region.amazonaws.com", denyCode: "AccessDenied", denyMsg: "Access Denied", shortID: true, extra: s3Extra},
	"kms":                  {version: "1.08", denyCode: "AccessDeniedException", denyMsg: userDenied},
	"cloudtrail":           {version: "1.09", denyCode: "AccessDeniedException", denyMsg: userDenied},
	"monitoring":           {version: "1.08", denyCode: "AccessDenied", denyMsg: userDenied},
	"logs":                 {version: "1.08", denyCode: "AccessDeniedException", denyMsg: userDenied},
	"ssm":                  {version: "1.08", denyCode: "AccessDeniedException", denyMsg: userDenied},
	"secretsmanager":       {version: "1.08", denyCode: "AccessDenied", denyMsg: userDenied},
	"lambda":               {version: "1.08", denyCode: "AccessDenied", denyMsg: userDenied},
	"rds":                  {version: "1.08", denyCode: "AccessDenied", denyMsg: userDenied},
	"dynamodb":             {version: "1.08", denyCode: "AccessDenied", denyMsg: userDenied},
	"ecr":                  {version: "1.08", host: "api.ecr.$region.amazonaws.com", denyCode: "AccessDeniedException", denyMsg: userDenied},
	"autoscaling":          {version: "1.08", denyCode: "AccessDenied", denyMsg: userDenied},
	"elasticloadbalancing": {version: "1.08", denyCode: "AccessDenied", denyMsg: userDenied},
	"cloudformation":       {version: "1.08", denyCode: "AccessDenied", denyMsg: userDenied},
	"guardduty":            {version: "1.08", denyCode: "AccessDeniedException", denyMsg: userDenied},
	"config":               {version: "1.08", denyCode: "AccessDeniedException", denyMsg: userDenied},
	"account":              {version: "1.08", global: true, host: "account.us-east-1.amazonaws.com", denyCode: "AccessDeniedException", denyMsg: userDenied},
}

// api is one kind of call. Calls with a weight are the background reads (read-only);
// the others are writes that only scenarios make, and reads (read) that only scenarios
// make. A name may end in #variant: another shape of the same call (a request that
// makes something public, or keeps it private), named apart in plans.
type api struct {
	name      string // service:eventName[#variant]
	weight    int
	read      bool   // read-only though without a weight: only scenarios make it
	data      bool   // an S3 object-level (data) event
	noDenyMsg bool   // a refused call has no errorMessage (a failed MFA check)
	eventType string // when not AwsApiCall
	req       string
	resp      string
	extra     string // additionalEventData
	resources string
	details   string // serviceEventDetails
}

const (
	bucketHost    = `"bucketName":"$bucket","Host":"$bucket.s3.$region.amazonaws.com"`
	bucketRes     = `[{"accountId":"$account","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::$bucket"}]`
	objectRes     = `[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::$bucket/$objectKey"},{"accountId":"$account","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::$bucket"}]`
	keyRes        = `[{"accountId":"$account","type":"AWS::KMS::Key","ARN":"arn:aws:kms:$region:$account:key/$kmsKey"}]`
	ec2OK         = `{"requestId":"$requestId","_return":true}`
	sgPermissions = `"ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":$port,"toPort":$port,"groups":{},"ipRanges":{"items":[{"cidrIp":"$cidr"}]},"ipv6Ranges":{},"prefixListIds":{}}]}`
)

var apis = []api{
	// Background reads.
	{name: "ec2:DescribeInstances", weight: 12, req: `{"instancesSet":{},"filterSet":{}}`},
	{name: "ec2:DescribeInstanceStatus", weight: 4, req: `{"instancesSet":{},"filterSet":{},"includeAllInstances":false}`},
	{name: "ec2:DescribeSecurityGroups", weight: 5, req: `{"securityGroupSet":{},"securityGroupIdSet":{},"filterSet":{}}`},
	{name: "ec2:DescribeVpcs", weight: 3, req: `{"vpcSet":{},"filterSet":{}}`},
	{name: "ec2:DescribeSubnets", weight: 3, req: `{"subnetSet":{},"filterSet":{"items":[{"name":"vpc-id","valueSet":{"items":[{"value":"$vpcId"}]}}]}}`},
	{name: "ec2:DescribeVolumes", weight: 3, req: `{"volumeSet":{},"filterSet":{}}`},
	{name: "ec2:DescribeAddresses", weight: 2, req: `{"publicIpsSet":{},"allocationIdsSet":{},"filterSet":{}}`},
	{name: "ec2:DescribeNetworkAcls", weight: 1, req: `{"networkAclIdSet":{},"filterSet":{}}`},
	{name: "ec2:DescribeRegions", weight: 2, req: `{"regionSet":{},"allRegions":false}`},
	{name: "ec2:DescribeImages", weight: 2, req: `{"imagesSet":{"items":[{"imageId":"$imageId"}]},"filterSet":{}}`},
	{name: "iam:ListUsers", weight: 3},
	{name: "iam:GetUser", weight: 3, req: `{"userName":"$iamUser"}`},
	{name: "iam:ListAccessKeys", weight: 2, req: `{"userName":"$iamUser"}`},
	{name: "iam:ListAttachedUserPolicies", weight: 2, req: `{"userName":"$iamUser"}`},
	{name: "iam:ListMFADevices", weight: 1, req: `{"userName":"$iamUser"}`},
	{name: "iam:ListRoles", weight: 2},
	{name: "iam:GetRole", weight: 2, req: `{"roleName":"$iamRole"}`},
	{name: "iam:ListPolicies", weight: 2, req: `{"scope":"Local","onlyAttached":false}`},
	{name: "iam:GetAccountSummary", weight: 1},
	{name: "sts:GetCallerIdentity", weight: 6},
	{name: "s3:ListBuckets", weight: 4, req: `{"Host":"s3.$region.amazonaws.com"}`},
	{name: "s3:GetBucketAcl", weight: 3, req: `{` + bucketHost + `,"acl":""}`, resources: bucketRes},
	{name: "s3:GetBucketPolicy", weight: 2, req: `{` + bucketHost + `,"policy":""}`, resources: bucketRes},
	{name: "s3:GetBucketLocation", weight: 3, req: `{` + bucketHost + `,"location":""}`, resources: bucketRes},
	{name: "s3:GetBucketVersioning", weight: 1, req: `{` + bucketHost + `,"versioning":""}`, resources: bucketRes},
	{name: "s3:GetBucketEncryption", weight: 1, req: `{` + bucketHost + `,"encryption":""}`, resources: bucketRes},
	{name: "s3:GetBucketPublicAccessBlock", weight: 1, req: `{` + bucketHost + `,"publicAccessBlock":""}`, resources: bucketRes},
	{name: "kms:Decrypt", weight: 8, req: `{"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}`, resources: keyRes},
	{name: "kms:GenerateDataKey", weight: 4, req: `{"keyId":"alias/$kmsAlias","keySpec":"AES_256"}`, resources: keyRes},
	{name: "kms:DescribeKey", weight: 2, req: `{"keyId":"$kmsKey"}`, resources: keyRes},
	{name: "kms:ListAliases", weight: 1},
	{name: "cloudtrail:DescribeTrails", weight: 1, req: `{"trailNameList":[],"includeShadowTrails":true}`},
	{name: "cloudtrail:GetTrailStatus", weight: 1, req: `{"name":"$trailArn"}`},
	{name: "cloudtrail:LookupEvents", weight: 1, req: `{"maxResults":50,"lookupAttributes":[{"attributeKey":"ReadOnly","attributeValue":"false"}]}`},
	{name: "monitoring:DescribeAlarms", weight: 4, req: `{"maxRecords":100}`},
	{name: "monitoring:ListMetrics", weight: 3, req: `{"namespace":"AWS/EC2"}`},
	{name: "logs:DescribeLogGroups", weight: 3, req: `{"logGroupNamePrefix":"/aws/lambda/"}`},
	{name: "ssm:GetParameter", weight: 5, req: `{"name":"$ssmParam","withDecryption":true}`},
	{name: "ssm:DescribeInstanceInformation", weight: 2, req: `{"maxResults":50}`},
	{name: "secretsmanager:GetSecretValue", weight: 3, req: `{"secretId":"$secretId"}`},
	{name: "lambda:ListFunctions20150331", weight: 2},
	{name: "lambda:GetFunction20150331v2", weight: 1, req: `{"functionName":"$functionName"}`},
	{name: "rds:DescribeDBInstances", weight: 2},
	{name: "dynamodb:DescribeTable", weight: 2, req: `{"tableName":"$tableName"}`},
	{name: "ecr:GetAuthorizationToken", weight: 2},
	{name: "autoscaling:DescribeAutoScalingGroups", weight: 2},
	{name: "elasticloadbalancing:DescribeLoadBalancers", weight: 2},
	{name: "cloudformation:DescribeStacks", weight: 2, req: `{"stackName":"$stackName"}`},

	// Sign-in, and the MFA step of a console sign-in (a refused code has no errorMessage).
	{name: "signin:ConsoleLogin", eventType: "AwsConsoleSignIn", resp: `{"ConsoleLogin":"$loginResult"}`,
		extra: `{"LoginTo":"https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_$loginState","MobileVersion":"No"$mfaIdentifier,"MFAUsed":"$mfaUsed"}`},
	{name: "signin:CheckMfa", eventType: "AwsConsoleSignIn", noDenyMsg: true, resp: `{"CheckMfa":"$loginResult"}`, extra: `{"MfaType":"Virtual MFA"}`},

	// IAM changes.
	{name: "iam:CreateUser", req: `{"userName":"$iamUser"}`,
		resp: `{"user":{"path":"/","userName":"$iamUser","userId":"$userId","arn":"arn:aws:iam::$account:user/$iamUser","createDate":"$iamDate"}}`},
	{name: "iam:DeleteUser", req: `{"userName":"$iamUser"}`},
	{name: "iam:CreateLoginProfile", req: `{"userName":"$iamUser","passwordResetRequired":true}`,
		resp: `{"loginProfile":{"userName":"$iamUser","createDate":"$iamDate","passwordResetRequired":true}}`},
	{name: "iam:AttachUserPolicy", req: `{"userName":"$iamUser","policyArn":"$managedPolicy"}`},
	{name: "iam:CreateAccessKey", req: `{"userName":"$iamUser"}`,
		resp: `{"accessKey":{"userName":"$iamUser","accessKeyId":"$newKeyId","status":"Active","createDate":"$iamDate"}}`},
	{name: "iam:DeleteAccessKey", req: `{"userName":"$iamUser","accessKeyId":"$newKeyId"}`},
	{name: "iam:CreateGroup", req: `{"groupName":"$iamGroup"}`,
		resp: `{"group":{"path":"/","groupName":"$iamGroup","groupId":"$groupId","arn":"arn:aws:iam::$account:group/$iamGroup","createDate":"$iamDate"}}`},
	{name: "iam:DeleteGroup", req: `{"groupName":"$iamGroup"}`},
	{name: "iam:AddUserToGroup", req: `{"groupName":"$iamGroup","userName":"$iamUser"}`},
	{name: "iam:RemoveUserFromGroup", req: `{"groupName":"$iamGroup","userName":"$iamUser"}`},
	{name: "iam:CreatePolicy", req: `{"policyName":"$policyName","policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:ListBucket\"],\"Resource\":\"*\"}]}"}`,
		resp: `{"policy":{"policyName":"$policyName","policyId":"$policyId","arn":"arn:aws:iam::$account:policy/$policyName","path":"/","defaultVersionId":"v1","attachmentCount":0,"permissionsBoundaryUsageCount":0,"isAttachable":true,"createDate":"$iamDate","updateDate":"$iamDate"}}`},
	{name: "iam:DeletePolicy", req: `{"policyArn":"arn:aws:iam::$account:policy/$policyName"}`},
	{name: "iam:CreateRole", req: `{"roleName":"$iamRole","assumeRolePolicyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"lambda.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}"}`,
		resp: `{"role":{"path":"/","roleName":"$iamRole","roleId":"$roleId","arn":"arn:aws:iam::$account:role/$iamRole","createDate":"$iamDate","assumeRolePolicyDocument":"%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22lambda.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D"}}`},
	{name: "iam:AttachRolePolicy", req: `{"roleName":"$iamRole","policyArn":"$managedPolicy"}`},
	{name: "iam:DetachRolePolicy", req: `{"roleName":"$iamRole","policyArn":"$managedPolicy"}`},
	{name: "iam:DeleteRole", req: `{"roleName":"$iamRole"}`},
	// Credentials: a key of one's own (root's has no user name) and a key rotated, a
	// password reset by someone else, an MFA device taken away.
	{name: "iam:CreateAccessKey#root", resp: `{"accessKey":{"accessKeyId":"$newKeyId","status":"Active","createDate":"$iamDate"}}`},
	{name: "iam:UpdateAccessKey", req: `{"userName":"$iamUser","accessKeyId":"$oldKeyId","status":"Inactive"}`},
	{name: "iam:DeleteAccessKey#old", req: `{"userName":"$iamUser","accessKeyId":"$oldKeyId"}`},
	{name: "iam:UpdateLoginProfile", req: `{"userName":"$iamUser","passwordResetRequired":true}`},
	{name: "iam:DeactivateMFADevice", req: `{"userName":"$iamUser","serialNumber":"arn:aws:iam::$account:mfa/$iamUser"}`},
	{name: "iam:DeleteVirtualMFADevice", req: `{"serialNumber":"arn:aws:iam::$account:mfa/$iamUser"}`},
	// Policies: inline (IAM records the document URL-encoded), trust, the password policy;
	// an identity provider.
	{name: "iam:PutRolePolicy", req: `{"roleName":"$iamRole","policyName":"$inlinePolicyName","policyDocument":"$inlinePolicy"}`},
	{name: "iam:UpdateAssumeRolePolicy", req: `{"roleName":"$iamRole","policyDocument":"$trustPolicy"}`},
	{name: "iam:UpdateAccountPasswordPolicy", req: `{"minimumPasswordLength":14,"requireSymbols":true,"requireNumbers":true,"requireUppercaseCharacters":true,"requireLowercaseCharacters":true,"allowUsersToChangePassword":true,"maxPasswordAge":90,"passwordReusePrevention":24}`},
	{name: "iam:CreateSAMLProvider", req: `{"sAMLMetadataDocument":"$samlMetadata","name":"$samlName"}`,
		resp: `{"sAMLProviderArn":"arn:aws:iam::$account:saml-provider/$samlName"}`},

	// STS.
	{name: "sts:AssumeRole", req: `{"roleArn":"$roleArn","roleSessionName":"$roleSession","durationSeconds":3600}`,
		resp:      `{"credentials":{"accessKeyId":"$sessionKey","expiration":"$expiration"},"assumedRoleUser":{"assumedRoleId":"$targetRoleId:$roleSession","arn":"arn:aws:sts::$account:assumed-role/$targetRole/$roleSession"}}`,
		resources: `[{"accountId":"$account","type":"AWS::IAM::Role","ARN":"$roleArn"}]`},

	// EC2 changes.
	{name: "ec2:RunInstances",
		req:  `{"instancesSet":{"items":[{"imageId":"$imageId","minCount":$instanceCount,"maxCount":$instanceCount}]},"instanceType":"$instanceType","blockDeviceMapping":{},"monitoring":{"enabled":false},"disableApiTermination":false,"disableApiStop":false,"clientToken":"$clientToken","subnetId":"$subnetId","groupSet":{"items":[{"groupId":"$sgId"}]},"tagSpecificationSet":{"items":[{"resourceType":"instance","tags":[{"key":"Name","value":"$instanceName"}]}]}}`,
		resp: `{"requestId":"$requestId","reservationId":"$reservationId","ownerId":"$account","groupSet":{},"instancesSet":{"items":[$launched]}}`},
	{name: "ec2:TerminateInstances", req: `{"instancesSet":{"items":[$terminate]}}`,
		resp: `{"requestId":"$requestId","instancesSet":{"items":[$terminated]}}`},
	{name: "ec2:CreateSecurityGroup", req: `{"groupName":"$sgName","groupDescription":"$sgName security group","vpcId":"$vpcId"}`,
		resp: `{"requestId":"$requestId","_return":true,"groupId":"$sgId","securityGroupArn":"arn:aws:ec2:$region:$account:security-group/$sgId"}`},
	{name: "ec2:AuthorizeSecurityGroupIngress", req: `{"groupId":"$sgId",` + sgPermissions + `}`,
		resp: `{"requestId":"$requestId","_return":true,"securityGroupRuleSet":{"items":[{"groupOwnerId":"$account","groupId":"$sgId","securityGroupRuleId":"$sgRuleId","isEgress":false,"ipProtocol":"tcp","fromPort":$port,"toPort":$port,"cidrIpv4":"$cidr"}]}}`},
	{name: "ec2:RevokeSecurityGroupIngress", req: `{"groupId":"$sgId",` + sgPermissions + `}`, resp: ec2OK},
	{name: "ec2:DeleteSecurityGroup", req: `{"groupId":"$sgId"}`, resp: `{"requestId":"$requestId","_return":true,"groupId":"$sgId"}`},
	{name: "ec2:CreateNetworkAcl", req: `{"vpcId":"$vpcId"}`,
		resp: `{"requestId":"$requestId","networkAcl":{"networkAclId":"$aclId","vpcId":"$vpcId","default":false,"entrySet":{"items":[{"ruleNumber":32767,"protocol":"-1","ruleAction":"deny","egress":true,"cidrBlock":"0.0.0.0/0"},{"ruleNumber":32767,"protocol":"-1","ruleAction":"deny","egress":false,"cidrBlock":"0.0.0.0/0"}]},"associationSet":{},"tagSet":{},"ownerId":"$account"}}`},
	{name: "ec2:CreateNetworkAclEntry", req: `{"networkAclId":"$aclId","ruleNumber":$aclRule,"egress":$aclEgress,"ruleAction":"allow","icmpTypeCode":{},"portRange":$aclPorts,"aclProtocol":"$aclProtocol",$aclCidr}`, resp: ec2OK},
	{name: "ec2:DeleteNetworkAcl", req: `{"networkAclId":"$aclId"}`, resp: ec2OK},
	{name: "ec2:AllocateAddress", req: `{"domain":"vpc"}`,
		resp: `{"requestId":"$requestId","publicIp":"$elasticIp","domain":"vpc","allocationId":"$allocationId","publicIpv4Pool":"amazon","networkBorderGroup":"$region"}`},
	{name: "ec2:AssociateAddress", req: `{"allocationId":"$allocationId","instanceId":"$instanceId","allowReassociation":false}`,
		resp: `{"requestId":"$requestId","_return":true,"associationId":"$associationId"}`},
	{name: "ec2:DisassociateAddress", req: `{"associationId":"$associationId"}`, resp: ec2OK},
	{name: "ec2:ReleaseAddress", req: `{"allocationId":"$allocationId"}`, resp: ec2OK},
	// An instance stopped, changed and started again: its type, or its user data.
	{name: "ec2:StopInstances", req: `{"instancesSet":{"items":[{"instanceId":"$instanceId"}]},"force":false}`,
		resp: `{"requestId":"$requestId","instancesSet":{"items":[{"instanceId":"$instanceId","currentState":{"code":64,"name":"stopping"},"previousState":{"code":16,"name":"running"}}]}}`},
	{name: "ec2:StartInstances", req: `{"instancesSet":{"items":[{"instanceId":"$instanceId"}]}}`,
		resp: `{"requestId":"$requestId","instancesSet":{"items":[{"instanceId":"$instanceId","currentState":{"code":0,"name":"pending"},"previousState":{"code":80,"name":"stopped"}}]}}`},
	{name: "ec2:ModifyInstanceAttribute", req: `{"instanceId":"$instanceId","instanceType":{"value":"$newInstanceType"}}`, resp: ec2OK},
	{name: "ec2:ModifyInstanceAttribute#userData", req: `{"instanceId":"$instanceId","userData":"<sensitiveDataRemoved>"}`, resp: ec2OK},
	// Snapshots and AMIs shared: with another account, or ($shareWith {"group":"all"}) everyone.
	{name: "ec2:DescribeSnapshots", read: true, req: `{"snapshotSet":{},"ownersSet":{"items":[{"owner":"self"}]},"sharedUsersSet":{},"filterSet":{}}`},
	{name: "ec2:ModifySnapshotAttribute", req: `{"snapshotId":"$snapshotId","createVolumePermission":{"add":{"items":[$shareWith]}},"attributeType":"CREATE_VOLUME_PERMISSION"}`, resp: ec2OK},
	{name: "ec2:ModifyImageAttribute", req: `{"imageId":"$imageId","launchPermission":{"add":{"items":[$shareWith]}},"attributeType":"launchPermission"}`, resp: ec2OK},
	// VPC flow logs.
	{name: "ec2:DescribeFlowLogs", read: true, req: `{"DescribeFlowLogsRequest":""}`},
	{name: "ec2:DeleteFlowLogs", req: `{"DeleteFlowLogsRequest":{"FlowLogId":{"tag":1,"content":"$flowLogId"}}}`,
		resp: `{"DeleteFlowLogsResponse":{"xmlns":"http://ec2.amazonaws.com/doc/2016-11-15/","requestId":"$requestId","unsuccessful":""}}`},

	// RDS: an instance resized, or made publicly accessible ($dbChange); the response shows
	// the instance before the change applies.
	{name: "rds:ModifyDBInstance", req: `{"dBInstanceIdentifier":"$dbInstance",$dbChange,"applyImmediately":true}`,
		resp: `{"dBInstanceIdentifier":"$dbInstance","dBInstanceClass":"db.t3.medium","engine":"postgres","dBInstanceStatus":"available","masterUsername":"app","dBName":"app","endpoint":{"address":"$dbInstance.$dbHost.$region.rds.amazonaws.com","port":5432,"hostedZoneId":"Z2R2ITUGPM61AM"},"allocatedStorage":100,"multiAZ":false,"engineVersion":"16.3","publiclyAccessible":false,"storageType":"gp3","storageEncrypted":true,"dBInstanceArn":"arn:aws:rds:$region:$account:db:$dbInstance","deletionProtection":true,"pendingModifiedValues":{}}`},

	// Lambda: code replaced, an invocation permission ($lambdaPrincipal "*": anyone's), a
	// function URL ($urlAuth NONE: without authentication).
	{name: "lambda:UpdateFunctionCode20150331v2", req: `{"functionName":"$functionName","publish":true,"dryRun":false}`,
		resp: `{"functionName":"$functionName","functionArn":"arn:aws:lambda:$region:$account:function:$functionName","runtime":"python3.12","role":"arn:aws:iam::$account:role/etl-exec","handler":"app.handler","codeSize":$codeSize,"description":"","timeout":60,"memorySize":512,"lastModified":"$lambdaTime","codeSha256":"$codeSha","version":"$functionVersion","tracingConfig":{"mode":"PassThrough"},"revisionId":"$clientToken","state":"Active","lastUpdateStatus":"InProgress","packageType":"Zip","architectures":["x86_64"],"ephemeralStorage":{"size":512}}`},
	{name: "lambda:AddPermission20150331v2", req: `{"functionName":"$functionName","statementId":"$statementId","action":"lambda:InvokeFunction","principal":"$lambdaPrincipal"$permissionSource}`,
		resp: `{"statement":"$permissionStatement"}`},
	{name: "lambda:CreateFunctionUrlConfig20211031", req: `{"functionName":"$functionName","authType":"$urlAuth"}`,
		resp: `{"functionUrl":"https://$urlId.lambda-url.$region.on.aws/","functionArn":"arn:aws:lambda:$region:$account:function:$functionName","authType":"$urlAuth","creationTime":"$lambdaTime"}`},

	// Secrets listed (the values are read by secretsmanager:GetSecretValue above).
	{name: "secretsmanager:ListSecrets", read: true, req: `{"maxResults":100}`},

	// GuardDuty, AWS Config and the account's regions.
	{name: "guardduty:ListDetectors", read: true},
	{name: "guardduty:DeleteDetector", req: `{"detectorId":"$detectorId"}`},
	{name: "guardduty:UpdateDetector", req: `{"detectorId":"$detectorId","enable":false}`},
	{name: "guardduty:UpdateDetector#frequency", req: `{"detectorId":"$detectorId","enable":true,"findingPublishingFrequency":"ONE_HOUR"}`},
	{name: "config:DescribeConfigurationRecorders", read: true},
	{name: "config:StopConfigurationRecorder", req: `{"configurationRecorderName":"default"}`},
	{name: "account:ListRegions", read: true, req: `{"MaxResults":50,"RegionOptStatusContains":["DISABLED"]}`},
	{name: "account:EnableRegion", req: `{"RegionName":"$optInRegion"}`},

	// S3 changes; object-level calls are data events.
	{name: "s3:CreateBucket", req: `{"CreateBucketConfiguration":{"LocationConstraint":"$region","xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"},` + bucketHost + `}`, resources: bucketRes},
	{name: "s3:DeleteBucket", req: `{` + bucketHost + `}`, resources: bucketRes},
	{name: "s3:PutBucketAcl", req: `{` + bucketHost + `,"acl":""$bucketAcl}`, resources: bucketRes},
	{name: "s3:PutBucketPolicy", req: `{` + bucketHost + `,"policy":"","bucketPolicy":$bucketPolicy}`, resources: bucketRes},
	{name: "s3:PutBucketPublicAccessBlock", req: `{` + bucketHost + `,"publicAccessBlock":"","PublicAccessBlockConfiguration":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","RestrictPublicBuckets":$blockPolicy,"BlockPublicPolicy":$blockPolicy,"BlockPublicAcls":$blockAcls,"IgnorePublicAcls":$blockAcls}}`, resources: bucketRes},
	{name: "s3:DeleteBucketPublicAccessBlock", req: `{` + bucketHost + `,"publicAccessBlock":""}`, resources: bucketRes},
	{name: "s3:PutObject", data: true, req: `{` + bucketHost + `,"key":"$objectKey"$objectAcl}`,
		resp:  `{"x-amz-server-side-encryption":"AES256"}`,
		extra: `{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":$objectSize,"SSEApplied":"Default_SSE_S3","AuthenticationMethod":"AuthHeader","x-amz-id-2":"$amzId2","bytesTransferredOut":0}`, resources: objectRes},
	{name: "s3:CopyObject", data: true, req: `{` + bucketHost + `,"key":"$objectKey","x-amz-copy-source":"$copySource"$objectAcl}`,
		resp:  `{"x-amz-server-side-encryption":"AES256"}`,
		extra: `{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"SSEApplied":"Default_SSE_S3","AuthenticationMethod":"AuthHeader","x-amz-id-2":"$amzId2","bytesTransferredOut":$objectSize}`, resources: objectRes},
	{name: "s3:CreateMultipartUpload", data: true, req: `{` + bucketHost + `,"uploads":"","key":"$objectKey"$objectAcl}`,
		resp: `{"x-amz-server-side-encryption":"AES256"}`, resources: objectRes},
	{name: "s3:UploadPart", data: true, req: `{` + bucketHost + `,"partNumber":"$partNumber","uploadId":"$uploadId","key":"$objectKey"}`,
		resp:  `{"x-amz-server-side-encryption":"AES256"}`,
		extra: `{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":8388608,"SSEApplied":"Default_SSE_S3","AuthenticationMethod":"AuthHeader","x-amz-id-2":"$amzId2","bytesTransferredOut":0}`, resources: objectRes},
	{name: "s3:CompleteMultipartUpload", data: true, req: `{` + bucketHost + `,"uploadId":"$uploadId","key":"$objectKey"}`,
		resp: `{"x-amz-server-side-encryption":"AES256"}`, resources: objectRes},
	{name: "s3:PutObjectAcl", data: true, req: `{` + bucketHost + `,"key":"$objectKey","acl":""$objectAclChange}`, resources: objectRes},
	{name: "s3:DeleteObject", data: true, req: `{` + bucketHost + `,"key":"$objectKey"}`, resources: objectRes},
	{name: "s3:DeleteObjects", data: true, req: `{` + bucketHost + `,"delete":{"Quiet":"true","Object":[$deletedKeys],"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"}}`,
		resources: `[{"type":"AWS::S3::Object","ARNPrefix":"arn:aws:s3:::$bucket/"},{"accountId":"$account","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::$bucket"}]`},
	// A bucket's protection: versioning ($versioning Enabled or Suspended), default encryption.
	{name: "s3:PutBucketVersioning", req: `{` + bucketHost + `,"versioning":"","VersioningConfiguration":{"Status":"$versioning","xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"}}`, resources: bucketRes},
	{name: "s3:DeleteBucketEncryption", req: `{` + bucketHost + `,"encryption":""}`, resources: bucketRes},

	// KMS and CloudTrail changes.
	{name: "kms:CreateKey", req: `{"description":"$kmsAlias key","keyUsage":"ENCRYPT_DECRYPT","keySpec":"SYMMETRIC_DEFAULT","origin":"AWS_KMS","bypassPolicyLockoutSafetyCheck":false}`,
		resp:      `{"keyMetadata":{"aWSAccountId":"$account","keyId":"$kmsKey","arn":"arn:aws:kms:$region:$account:key/$kmsKey","creationDate":"$iamDate","enabled":true,"description":"$kmsAlias key","keyUsage":"ENCRYPT_DECRYPT","keyState":"Enabled","origin":"AWS_KMS","keyManager":"CUSTOMER","customerMasterKeySpec":"SYMMETRIC_DEFAULT","keySpec":"SYMMETRIC_DEFAULT","encryptionAlgorithms":["SYMMETRIC_DEFAULT"],"multiRegion":false}}`,
		resources: keyRes},
	{name: "kms:CreateAlias", req: `{"aliasName":"alias/$kmsAlias","targetKeyId":"$kmsKey"}`,
		resources: `[{"accountId":"$account","type":"AWS::KMS::Key","ARN":"arn:aws:kms:$region:$account:alias/$kmsAlias"},{"accountId":"$account","type":"AWS::KMS::Key","ARN":"arn:aws:kms:$region:$account:key/$kmsKey"}]`},
	{name: "kms:ScheduleKeyDeletion", req: `{"keyId":"$kmsKey","pendingWindowInDays":7}`,
		resp:      `{"keyId":"arn:aws:kms:$region:$account:key/$kmsKey","deletionDate":"$deletionDate","keyState":"PendingDeletion","pendingWindowInDays":7}`,
		resources: keyRes},
	{name: "kms:RotateKey", eventType: "AwsServiceEvent", resources: keyRes, details: `{"keyId":"$kmsKey"}`},
	{name: "kms:DisableKey", req: `{"keyId":"$kmsKey"}`, resources: keyRes},
	{name: "cloudtrail:StopLogging", req: `{"name":"$trailArn"}`},
	{name: "cloudtrail:StartLogging", req: `{"name":"$trailArn"}`},
	{name: "cloudtrail:DeleteTrail", req: `{"name":"$trailArn"}`},
	{name: "cloudtrail:UpdateTrail", req: `{"name":"$trailArn","isMultiRegionTrail":false,"enableLogFileValidation":false}`,
		resp: `{"name":"management-events","s3BucketName":"$trailBucket","includeGlobalServiceEvents":true,"isMultiRegionTrail":false,"trailARN":"$trailArn","logFileValidationEnabled":false,"isOrganizationTrail":false}`},
	{name: "cloudtrail:GetEventSelectors", read: true, req: `{"trailName":"$trailArn"}`},
	// Event selectors: management events and S3 data events ($eventSelectors; an attacker's
	// drop the management events).
	{name: "cloudtrail:PutEventSelectors", req: `{"trailName":"$trailArn","eventSelectors":[$eventSelectors]}`,
		resp: `{"trailARN":"$trailArn","eventSelectors":[$eventSelectors]}`},
}

// launchedItem is one instance of a RunInstances response; the response lists one for each
// instance launched.
var launchedItem = compile(`{"instanceId":"$instanceId","imageId":"$imageId","instanceState":{"code":0,"name":"pending"},"privateDnsName":"$privateDns","amiLaunchIndex":$launchIndex,"productCodes":{},"instanceType":"$instanceType","launchTime":$epochMs,"placement":{"availabilityZone":"$zone","tenancy":"default"},"monitoring":{"state":"disabled"},"subnetId":"$subnetId","vpcId":"$vpcId","privateIpAddress":"$privateIp","sourceDestCheck":true,"groupSet":{"items":[{"groupId":"$sgId","groupName":"$sgName"}]},"architecture":"x86_64","rootDeviceType":"ebs","rootDeviceName":"/dev/xvda","blockDeviceMapping":{},"virtualizationType":"hvm","hypervisor":"xen","networkInterfaceSet":{"items":[{"networkInterfaceId":"$eniId","subnetId":"$subnetId","vpcId":"$vpcId","ownerId":"$account","status":"in-use","privateIpAddress":"$privateIp"}]},"ebsOptimized":false}`)

// op is a compiled api.
type op struct {
	svc                                  *service
	source, event, eventType             string
	readOnly, data, noDenyMsg            bool
	weight                               int
	req, resp, extra, resources, details tmpl
	host, denyMsg                        tmpl
}

// scenario is a run of calls one principal makes, such as signing in and looking around, or
// creating a user and deleting it minutes later. plan lists the steps, comma-separated:
//
//	[odds%] [delay] [xN] [@where] [!]call
//
// call is service:eventName[#variant], or "read" for a background read; delay is a range
// after the previous step such as 20-90s or 1-3m; odds is the chance the step happens
// (always when absent); xN (or xN-M, a number drawn from the range) repeats the call, each
// time after the delay, with a new object key and secret name; @abroad makes the call from
// the scene's second address, in another country, @near from its third, in its country
// (another address the principal uses, if it has one), @hop in the next region of all (one after the other); ! refuses the call
// (access denied, or a wrong password at sign-in).
type scenario struct {
	name     string
	weight   int
	required bool // every run long enough has it at least once
	// daily scenarios are played once every 24 hours of the span, at one time of day a run
	// draws; a crowd is played by many principals of one account within a quarter of an
	// hour (see crowdSize), so that its hour stands out of the outlier band (mean ± 3σ of
	// the 10 hours before) of the sign-in panels and the detector's outlier rules.
	daily, crowd bool
	// rare scenarios are played once every 24 hours of the span too, but at a time of day
	// drawn out of the whole day: a day of records has each once, a shorter span only those
	// whose time falls in it (see rareDensity for sparse runs). They are the incidents and
	// the deliberate near misses of the detection rules.
	rare bool
	// party is the number of principals of one account, each another, that play a daily
	// or rare scenario together within a quarter of an hour.
	party   int
	actor   tag
	console bool              // the calls are made in the console
	cli     bool              // the calls are made with an access key, never in the console
	foreign bool              // from hostile networks
	office  bool              // from the account's office address
	agent   string            // user agent of the API calls (a tool's), instead of the principal's
	vars    map[string]string // preset placeholders; a value "$x" takes placeholder x's value
	plan    string
	steps   []step
}

type step struct {
	op       *op // nil: a background read
	min, max time.Duration
	odds     int
	fail     bool
	// times is how often the step is played: between repeat and repeatMax (0: once).
	repeat, repeatMax int
	from              string // where the call comes from: "" (the scene's address), "abroad" or "near"
	hop               bool   // in the next region of regionNames
}

// Fragments of S3 requests that make a bucket or object public, or keep it private.
const (
	publicObject    = `,"x-amz-acl":"public-read"`
	publicReadGrant = `,"x-amz-grant-read":"uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""`
	ownerFullACL    = `,"x-amz-acl":"bucket-owner-full-control"`
)

// What the incidents of the detection rules set, and the tools they use.
var (
	adminAccess    = "arn:aws:iam::aws:policy/AdministratorAccess"
	readOnlyAccess = "arn:aws:iam::aws:policy/ReadOnlyAccess"
	// allAccess grants every action on every resource.
	allAccess = iamEncoded(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	// openTrust lets anyone assume the role.
	openTrust = jsonText(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`)
	// noManagementEvents are event selectors that record no management events.
	noManagementEvents = `{"readWriteType":"All","includeManagementEvents":false,"dataResources":[],"excludeManagementEventSources":[]}`

	pacuAgent       = "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.6.15-amd64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51 Pacu/1.5.3"
	truffleHogAgent = "TruffleHog aws-sdk-go/1.55.5 (go1.22.5; linux; amd64)"
)

var scenarios = []scenario{
	{name: "read", weight: 600, actor: anyone, plan: "read"},
	{name: "cli-burst", weight: 60, actor: anyone, plan: "read, 1-20s read, 60% 1-30s read, 30% 1-30s read"},
	{name: "service-assume-role", weight: 60, required: true, actor: awsService, plan: "sts:AssumeRole"},
	{name: "assume-role", weight: 12, actor: human | automation, plan: "sts:AssumeRole"},
	{name: "console-session", weight: 20, required: true, actor: withMFA, console: true,
		plan: "signin:ConsoleLogin, 5-40s read, 70% 5-90s read, 50% 5-90s read, 30% 10-120s read, 20% 10-120s read"},
	{name: "login-without-mfa", weight: 6, required: true, actor: noMFA, console: true,
		plan: "signin:ConsoleLogin, 5-40s read, 50% 5-90s read, 30% 10-120s read"},
	{name: "failed-login", weight: 3, required: true, actor: human, console: true,
		plan: "!signin:ConsoleLogin, 50% 5-40s !signin:ConsoleLogin, 10-60s signin:ConsoleLogin, 5-60s read"},
	{name: "brute-force", weight: 1, required: true, actor: human, console: true, foreign: true,
		plan: "!signin:ConsoleLogin, 2-20s !signin:ConsoleLogin, 2-20s !signin:ConsoleLogin, 60% 2-20s !signin:ConsoleLogin, 40% 2-20s !signin:ConsoleLogin"},
	// Bursts of sign-ins: everybody signs in for an incident bridge or the start of a
	// release, and a password spray from one foreign address against many user names.
	{name: "login-burst", daily: true, crowd: true, actor: withMFA | noMFA, console: true,
		plan: "signin:ConsoleLogin, 5-40s read, 5-90s read, 60% 5-90s read"},
	{name: "password-spray", daily: true, crowd: true, actor: human | hidden, console: true, foreign: true,
		plan: "!signin:ConsoleLogin, 30% 2-20s !signin:ConsoleLogin"},
	{name: "hidden-user-name", weight: 1, required: true, actor: hidden, console: true,
		plan: "!signin:ConsoleLogin, 40% 5-60s !signin:ConsoleLogin"},
	{name: "root-login", weight: 1, required: true, actor: root, console: true,
		plan: "signin:ConsoleLogin, 10-60s read, 50% 10-120s read"},
	{name: "access-denied", weight: 6, required: true, actor: restricted,
		plan: "!ec2:DescribeInstances, 2-30s !iam:ListUsers, 60% 2-30s !ec2:RunInstances, 60% 2-30s !iam:CreateUser, 50% 2-30s !s3:GetBucketPolicy, 40% 2-30s !kms:Decrypt, 30% 2-30s !ec2:AuthorizeSecurityGroupIngress"},
	// A developer's leaked access key tried from abroad: who am I, then what may I do.
	{name: "leaked-key", weight: 1, required: true, actor: human, cli: true, foreign: true,
		plan: "sts:GetCallerIdentity, 5-60s !iam:ListUsers, 2-20s !ec2:DescribeInstances, 60% 2-20s !secretsmanager:GetSecretValue, 50% 2-20s !iam:CreateUser, 40% 2-20s !ec2:RunInstances"},
	{name: "short-lived-user", weight: 3, required: true, actor: admin, vars: map[string]string{"iamUser": "$newUser"},
		plan: "iam:CreateUser, 20-90s iam:CreateAccessKey, 1-3m iam:DeleteAccessKey, 30-120s iam:DeleteUser"},
	{name: "new-user", weight: 2, required: true, actor: admin, vars: map[string]string{"iamUser": "$newUser"},
		plan: "iam:CreateUser, 10-60s iam:CreateLoginProfile, 10-60s iam:AttachUserPolicy, 50% 10-90s iam:CreateAccessKey"},
	{name: "short-lived-group", weight: 1, required: true, actor: admin, vars: map[string]string{"iamGroup": "$newGroup"},
		plan: "iam:CreateGroup, 20-120s iam:AddUserToGroup, 1-4m iam:RemoveUserFromGroup, 10-60s iam:DeleteGroup"},
	{name: "short-lived-policy", weight: 1, required: true, actor: admin, plan: "iam:CreatePolicy, 2-8m iam:DeletePolicy"},
	{name: "new-policy", weight: 1, actor: admin, plan: "iam:CreatePolicy"},
	{name: "role-lifecycle", weight: 2, required: true, actor: admin, vars: map[string]string{"iamRole": "$newRole"},
		plan: "iam:CreateRole, 5-30s iam:AttachRolePolicy, 5-25m iam:DetachRolePolicy, 5-30s iam:DeleteRole"},
	{name: "instances", weight: 5, required: true, actor: human | automation, plan: "ec2:RunInstances, 70% 5-40m ec2:TerminateInstances"},
	{name: "instance-fleet", weight: 1, required: true, actor: human | automation, vars: map[string]string{"instanceCount": "3"},
		plan: "ec2:RunInstances, 1-3m ec2:DescribeInstanceStatus, 50% 1-5m ec2:DescribeInstances, 10-50m ec2:TerminateInstances"},
	{name: "autoscaling", weight: 3, required: true, actor: linked, plan: "ec2:RunInstances, 10-40m ec2:TerminateInstances"},
	{name: "security-group", weight: 3, actor: admin | automation,
		plan: "ec2:CreateSecurityGroup, 2-30s ec2:AuthorizeSecurityGroupIngress, 40% 5-20m ec2:RevokeSecurityGroupIngress"},
	{name: "temporary-security-group", weight: 2, required: true, actor: admin | automation,
		plan: "ec2:CreateSecurityGroup, 2-30s ec2:AuthorizeSecurityGroupIngress, 5-40m ec2:DeleteSecurityGroup"},
	{name: "open-ingress", weight: 1, required: true, actor: human | admin, vars: map[string]string{"cidr": "0.0.0.0/0", "port": "22"},
		plan: "ec2:AuthorizeSecurityGroupIngress"},
	{name: "network-acl", weight: 3, actor: admin | automation,
		plan: "ec2:CreateNetworkAcl, 5-60s ec2:CreateNetworkAclEntry, 5-60s ec2:CreateNetworkAclEntry, 60% 5-60s ec2:CreateNetworkAclEntry, 40% 5-60s ec2:CreateNetworkAclEntry"},
	{name: "temporary-network-acl", weight: 1, required: true, actor: admin | automation,
		plan: "ec2:CreateNetworkAcl, 5-60s ec2:CreateNetworkAclEntry, 5-60s ec2:CreateNetworkAclEntry, 10-40m ec2:DeleteNetworkAcl"},
	// Someone opens a network ACL to all traffic in and out, to rule it out while debugging.
	{name: "allow-all-acl", daily: true, actor: admin, vars: map[string]string{"aclProtocol": "-1", "aclCidr": allIPv4, "aclEgress": "both"},
		plan: "ec2:CreateNetworkAclEntry, 5-60s ec2:CreateNetworkAclEntry"},
	{name: "allow-all-acl-ipv6", daily: true, actor: admin | automation, vars: map[string]string{"aclProtocol": "-1", "aclCidr": allIPv6},
		plan: "ec2:CreateNetworkAclEntry"},
	{name: "elastic-ip", weight: 2, required: true, actor: human | automation,
		plan: "ec2:AllocateAddress, 10-120s ec2:AssociateAddress, 5-30m ec2:DisassociateAddress, 5-60s ec2:ReleaseAddress"},
	{name: "elastic-ip-kept", weight: 1, actor: human | automation, plan: "ec2:AllocateAddress, 10-120s ec2:AssociateAddress"},
	{name: "public-bucket", weight: 1, required: true, actor: human, vars: map[string]string{"bucket": "$newBucket", "aclPublic": "true", "objectAcl": publicObject},
		plan: "s3:CreateBucket, 10-60s s3:DeleteBucketPublicAccessBlock, 10-120s s3:PutBucketAcl, 30-300s s3:PutObject, 50% 5-60s s3:PutObject"},
	{name: "public-bucket-canned-acl", weight: 1, required: true, actor: human | admin, vars: map[string]string{"blockAcls": "false", "bucketAcl": publicObject},
		plan: "s3:GetBucketAcl, 5-60s s3:PutBucketPublicAccessBlock, 10-120s s3:PutBucketAcl, 5-30s s3:GetBucketAcl"},
	{name: "bucket-lifecycle", weight: 2, required: true, actor: human | automation, vars: map[string]string{"bucket": "$newBucket", "objectAcl": ""},
		plan: "s3:CreateBucket, 10-60s s3:PutBucketPublicAccessBlock, 1-5m s3:PutObject, 5-20m s3:DeleteObject, 10-60s s3:DeleteBucket"},
	{name: "bucket-acl", weight: 1, required: true, actor: human | admin, vars: map[string]string{"aclPublic": "false"}, plan: "s3:GetBucketAcl, 5-60s s3:PutBucketAcl"},
	{name: "bucket-policy", weight: 1, required: true, actor: admin | automation, plan: "s3:GetBucketPolicy, 5-90s s3:PutBucketPolicy"},
	{name: "public-bucket-policy", weight: 1, required: true, actor: human | admin, vars: map[string]string{"blockPolicy": "false", "bucketPolicy": "$publicPolicy"},
		plan: "s3:GetBucketPolicy, 5-60s s3:GetBucketPublicAccessBlock, 10-60s s3:PutBucketPublicAccessBlock, 10-120s s3:PutBucketPolicy, 5-30s s3:GetBucketPolicy"},
	{name: "public-object", weight: 1, required: true, actor: human | automation, vars: map[string]string{"objectAcl": publicObject}, plan: "s3:PutObject"},
	{name: "public-object-grant", weight: 1, required: true, actor: human | automation, vars: map[string]string{"objectAcl": publicReadGrant}, plan: "s3:PutObject"},
	{name: "public-copy", weight: 1, required: true, actor: human, vars: map[string]string{"objectAcl": publicObject}, plan: "s3:CopyObject"},
	{name: "public-multipart-upload", weight: 1, required: true, actor: human | automation, vars: map[string]string{"objectAcl": publicObject},
		plan: "s3:CreateMultipartUpload, 1-20s s3:UploadPart, 50% 1-20s s3:UploadPart, 1-20s s3:CompleteMultipartUpload"},
	{name: "public-object-acl", weight: 1, required: true, actor: human, vars: map[string]string{"objectAcl": "", "objectAclChange": publicObject},
		plan: "s3:PutObject, 1-30m s3:PutObjectAcl"},
	{name: "public-object-acl-grant", weight: 1, required: true, actor: human | admin, vars: map[string]string{"objectAcl": "", "objectAclChange": "$objectGrant"},
		plan: "s3:PutObject, 1-30m s3:PutObjectAcl"},
	{name: "object-owner-acl", weight: 1, required: true, actor: automation, vars: map[string]string{"objectAcl": "", "objectAclChange": ownerFullACL},
		plan: "s3:PutObject, 2-30s s3:PutObjectAcl"},
	{name: "objects", weight: 16, actor: automation, vars: map[string]string{"objectAcl": ""}, plan: "s3:PutObject, 50% 1-10m s3:DeleteObject"},
	{name: "copies", weight: 1, actor: automation, vars: map[string]string{"objectAcl": ""}, plan: "s3:CopyObject"},
	{name: "multipart-upload", weight: 1, actor: automation, vars: map[string]string{"objectAcl": ""},
		plan: "s3:CreateMultipartUpload, 1-20s s3:UploadPart, 1-20s s3:UploadPart, 60% 1-20s s3:UploadPart, 1-20s s3:CompleteMultipartUpload"},
	{name: "kms-key", weight: 1, required: true, actor: admin, vars: map[string]string{"kmsKey": "$newKmsKey", "kmsAlias": "$newKmsAlias"},
		plan: "kms:CreateKey, 5-30s kms:CreateAlias, 30% 10-40m kms:ScheduleKeyDeletion"},
	{name: "kms-rotation", weight: 1, required: true, actor: awsService, plan: "kms:RotateKey"},
	{name: "trail-stopped", weight: 1, required: true, actor: admin, plan: "cloudtrail:StopLogging, 1-10m cloudtrail:StartLogging"},

	// The incidents the detection rules are for, and beside them near misses that come close
	// to a rule without meeting it (rules_test.go lists them), each once a day.
	//
	// Sign-in: a password guessed (ten failures or more within ten minutes, then in),
	// and nine failures of someone who then remembers it (the near misses of sign-in rules
	// are played by the people who sign in least, so that their other sign-ins seldom push
	// them over); unknown names tried from one
	// address; one password used from three addresses and two countries within the hour, and
	// one person on two devices; MFA codes guessed, and one mistyped; root's password
	// guessed, and forgotten four times; four colleagues mistyping theirs at the office.
	{name: "password-guessed", rare: true, actor: noMFA, console: true, foreign: true,
		plan: "!signin:ConsoleLogin, x9-13 10-45s !signin:ConsoleLogin, 60% 2-15m signin:ConsoleLogin, 5-40s read, 50% 5-90s read"},
	{name: "forgotten-password", rare: true, actor: occasional, console: true,
		plan: "!signin:ConsoleLogin, x8 20-60s !signin:ConsoleLogin, 1-5m signin:ConsoleLogin, 5-40s read"},
	{name: "unknown-names", rare: true, actor: hidden, console: true, foreign: true,
		plan: "!signin:ConsoleLogin, x8 5-40s !signin:ConsoleLogin"},
	{name: "shared-password", rare: true, actor: human, console: true,
		plan: "signin:ConsoleLogin, 5-40s read, 5-20m @near signin:ConsoleLogin, 5-40s @near read, 5-20m @abroad signin:ConsoleLogin, 5-40s @abroad read"},
	{name: "second-device", rare: true, actor: occasional, console: true,
		plan: "signin:ConsoleLogin, 5-40s read, 10-40m @near signin:ConsoleLogin, 5-60s @near read"},
	{name: "mfa-guessing", rare: true, actor: withMFA, console: true, foreign: true,
		plan: "!signin:CheckMfa, 15-90s !signin:CheckMfa, 50% 15-90s !signin:CheckMfa"},
	{name: "mfa-typo", rare: true, actor: withMFA, console: true,
		plan: "!signin:CheckMfa, 10-40s signin:CheckMfa, 1-3s signin:ConsoleLogin, 5-40s read, 50% 5-90s read"},
	{name: "root-password-guessing", rare: true, actor: root, console: true, foreign: true,
		plan: "!signin:ConsoleLogin, x4-6 10-60s !signin:ConsoleLogin"},
	{name: "root-password-forgotten", rare: true, actor: root, console: true,
		plan: "!signin:ConsoleLogin, x3 20-90s !signin:ConsoleLogin, 1-5m signin:ConsoleLogin, 10-60s read"},
	{name: "office-typos", rare: true, party: 4, actor: human, console: true, office: true,
		plan: "!signin:ConsoleLogin, 10-60s signin:ConsoleLogin, 5-40s read"},

	// The root user changing the password policy, and creating an access key of its own.
	{name: "root-changes", rare: true, actor: root, console: true,
		plan: "signin:ConsoleLogin, 10-60s read, 20-120s iam:UpdateAccountPasswordPolicy, 10-90s read"},
	{name: "root-access-key", rare: true, actor: root, console: true,
		plan: "signin:ConsoleLogin, 10-60s read, 30-180s iam:CreateAccessKey#root, 10-60s read"},

	// Keys in the wrong hands: a stolen key probing what it may do with an attack tool, and
	// one checked by a secret scanner; a job retrying, twelve times, a call it may not make.
	{name: "pacu-enumeration", rare: true, actor: human, cli: true, foreign: true, agent: pacuAgent,
		plan: "sts:GetCallerIdentity, 5-30s iam:GetUser, x18-26 1-15s !read, 40% x2-4 1-10s read"},
	{name: "key-verified", rare: true, actor: human, cli: true, foreign: true, agent: truffleHogAgent, plan: "sts:GetCallerIdentity"},
	{name: "denied-retries", rare: true, actor: automation, cli: true,
		plan: "!s3:GetBucketPolicy, x11 20-50s !s3:GetBucketPolicy"},

	// IAM: AdministratorAccess attached to a colleague, and ReadOnlyAccess; a policy granting
	// everything put on a role by a stolen administrator key, and a workload's policy; a
	// password reset, a key rotated by its owner, an MFA device removed for someone who lost
	// it; a role's trust opened to anyone, and to the organization; an identity provider.
	{name: "admin-granted", rare: true, actor: admin, vars: map[string]string{"iamUser": "$otherUser", "managedPolicy": adminAccess},
		plan: "iam:ListAttachedUserPolicies, 10-60s iam:AttachUserPolicy, 5-30s iam:ListAttachedUserPolicies"},
	{name: "read-only-granted", rare: true, actor: admin, vars: map[string]string{"iamUser": "$otherUser", "managedPolicy": readOnlyAccess},
		plan: "iam:ListAttachedUserPolicies, 10-60s iam:AttachUserPolicy"},
	{name: "inline-admin-policy", rare: true, actor: admin, cli: true, foreign: true, vars: map[string]string{"inlinePolicy": allAccess},
		plan: "iam:ListRoles, 10-60s iam:GetRole, 10-60s iam:PutRolePolicy"},
	{name: "inline-policy", rare: true, actor: admin, plan: "iam:GetRole, 5-30s iam:PutRolePolicy"},
	{name: "password-reset", rare: true, actor: admin, vars: map[string]string{"iamUser": "$otherUser"},
		plan: "iam:GetUser, 10-60s iam:UpdateLoginProfile"},
	{name: "key-rotation", rare: true, actor: human, cli: true, vars: map[string]string{"iamUser": "$callerName"},
		plan: "iam:ListAccessKeys, 5-30s iam:CreateAccessKey, 1-5m iam:UpdateAccessKey, 10-30m iam:DeleteAccessKey#old"},
	{name: "mfa-reset", rare: true, actor: admin, vars: map[string]string{"iamUser": "$otherUser"},
		plan: "iam:ListMFADevices, 10-60s iam:DeactivateMFADevice, 2-10s iam:DeleteVirtualMFADevice"},
	{name: "role-backdoor", rare: true, actor: admin, cli: true, foreign: true, vars: map[string]string{"trustPolicy": openTrust},
		plan: "iam:ListRoles, 10-60s iam:GetRole, 10-90s iam:UpdateAssumeRolePolicy"},
	{name: "org-trust", rare: true, actor: admin, plan: "iam:GetRole, 10-90s iam:UpdateAssumeRolePolicy"},
	{name: "saml-provider", rare: true, actor: admin, plan: "iam:CreateSAMLProvider"},

	// Defenses taken down by a stolen administrator key covering its tracks (GuardDuty, AWS
	// Config, flow logs, the trail); GuardDuty suspended, and its findings sent hourly; event
	// selectors dropping management events, and adding a bucket's data events.
	{name: "defense-evasion", rare: true, actor: admin, cli: true, foreign: true,
		plan: "sts:GetCallerIdentity, 10-60s guardduty:ListDetectors, 5-30s guardduty:DeleteDetector, 20-90s config:DescribeConfigurationRecorders, " +
			"5-30s config:StopConfigurationRecorder, 20-90s ec2:DescribeFlowLogs, 5-30s ec2:DeleteFlowLogs, 20-90s cloudtrail:DescribeTrails, 5-30s cloudtrail:DeleteTrail"},
	{name: "guardduty-suspended", rare: true, actor: admin, plan: "guardduty:ListDetectors, 5-60s guardduty:UpdateDetector"},
	{name: "guardduty-frequency", rare: true, actor: admin, plan: "guardduty:ListDetectors, 5-60s guardduty:UpdateDetector#frequency"},
	{name: "trail-weakened", rare: true, actor: admin, vars: map[string]string{"eventSelectors": noManagementEvents},
		plan: "cloudtrail:GetEventSelectors, 10-60s cloudtrail:PutEventSelectors, 40% 1-5m cloudtrail:UpdateTrail"},
	{name: "data-events-added", rare: true, actor: admin, plan: "cloudtrail:GetEventSelectors, 10-60s cloudtrail:PutEventSelectors"},

	// Exposure: a database made publicly accessible, and one resized; a snapshot and an AMI
	// shared with everyone, and a snapshot with a partner's account; a security group opened
	// to the private network.
	{name: "rds-public", rare: true, actor: human | admin, vars: map[string]string{"dbChange": `"publiclyAccessible":true`},
		plan: "rds:DescribeDBInstances, 10-60s rds:ModifyDBInstance"},
	{name: "rds-resize", rare: true, actor: admin, plan: "rds:DescribeDBInstances, 10-60s rds:ModifyDBInstance"},
	{name: "snapshot-public", rare: true, actor: human | admin, vars: map[string]string{"shareWith": `{"group":"all"}`},
		plan: "ec2:DescribeSnapshots, 10-90s ec2:ModifySnapshotAttribute"},
	{name: "snapshot-shared", rare: true, actor: admin, plan: "ec2:DescribeSnapshots, 10-90s ec2:ModifySnapshotAttribute"},
	{name: "ami-public", rare: true, actor: human | automation, vars: map[string]string{"shareWith": `{"group":"all"}`},
		plan: "ec2:DescribeImages, 10-90s ec2:ModifyImageAttribute"},
	{name: "private-ingress", rare: true, actor: admin | automation, vars: map[string]string{"cidr": "10.0.0.0/8", "port": "5432"},
		plan: "ec2:DescribeSecurityGroups, 5-60s ec2:AuthorizeSecurityGroupIngress"},

	// Data: a KMS key disabled; a bucket's versioning suspended, its encryption removed and
	// its objects deleted one by one with a stolen key; versioning turned on; a cleanup job
	// deleting forty objects in one batch.
	{name: "kms-key-disabled", rare: true, actor: admin, plan: "kms:DescribeKey, 10-60s kms:DisableKey"},
	{name: "bucket-wiped", rare: true, actor: human | admin, cli: true, foreign: true, vars: map[string]string{"versioning": "Suspended"},
		plan: "s3:GetBucketVersioning, 10-60s s3:PutBucketVersioning, 2-10m s3:DeleteBucketEncryption, 1-5m s3:GetBucketLocation, x55-70 5-40s s3:DeleteObject"},
	{name: "versioning-enabled", rare: true, actor: admin | automation, plan: "s3:GetBucketVersioning, 5-60s s3:PutBucketVersioning"},
	{name: "cleanup-batch", rare: true, actor: automation, vars: map[string]string{"deleteCount": "40"}, plan: "s3:DeleteObjects"},

	// Code planted: an instance's user data replaced, and an instance resized; a function's
	// code replaced, opened to everyone and given a URL without authentication, and a
	// function triggered by its bucket.
	{name: "user-data-replaced", rare: true, actor: human | admin, cli: true, foreign: true,
		plan: "ec2:DescribeInstances, 10-60s ec2:StopInstances, 1-3m ec2:ModifyInstanceAttribute#userData, 10-60s ec2:StartInstances"},
	{name: "instance-resized", rare: true, actor: admin | automation,
		plan: "ec2:StopInstances, 1-3m ec2:ModifyInstanceAttribute, 10-60s ec2:StartInstances"},
	{name: "lambda-backdoor", rare: true, actor: human | admin, cli: true, foreign: true, vars: map[string]string{"lambdaPrincipal": "*", "urlAuth": "NONE"},
		plan: "lambda:ListFunctions20150331, 10-60s lambda:GetFunction20150331v2, 20-120s lambda:UpdateFunctionCode20150331v2, " +
			"20-120s lambda:AddPermission20150331v2, 10-60s lambda:CreateFunctionUrlConfig20211031"},
	{name: "lambda-trigger", rare: true, actor: admin | automation,
		plan: "lambda:GetFunction20150331v2, 10-60s lambda:AddPermission20150331v2, 30% 1-5m lambda:CreateFunctionUrlConfig20211031"},

	// Secrets read in bulk with a stolen key, and a service reading its own at start; a
	// region enabled.
	{name: "secrets-harvest", rare: true, actor: human | automation, cli: true, foreign: true,
		plan: "sts:GetCallerIdentity, 10-60s secretsmanager:ListSecrets, x20-28 2-20s secretsmanager:GetSecretValue"},
	{name: "service-start", rare: true, actor: automation, plan: "secretsmanager:GetSecretValue, x9-11 1-5s secretsmanager:GetSecretValue"},
	{name: "region-enabled", rare: true, actor: admin, plan: "account:ListRegions, 10-60s account:EnableRegion"},
}

var (
	ops   = map[string]*op{}
	reads []*op // background reads, with their weights summed in readWeight
	// readWeight and scenarioWeight are the summed weights of reads and scenarios.
	readWeight, scenarioWeight int
)

func init() {
	for _, a := range apis {
		svcName, event, _ := strings.Cut(a.name, ":")
		event, _, _ = strings.Cut(event, "#")
		s, ok := services[svcName]
		if !ok {
			panic("generate: unknown service in " + a.name)
		}
		host := s.host
		if host == "" {
			host = svcName + ".$region.amazonaws.com"
		}
		extra := a.extra
		if extra == "" {
			extra = s.extra
		}
		o := &op{svc: s, source: svcName + ".amazonaws.com", event: event, eventType: a.eventType,
			readOnly: a.weight > 0 || a.read, data: a.data, noDenyMsg: a.noDenyMsg, weight: a.weight,
			req: compile(a.req), resp: compile(a.resp), extra: compile(extra), resources: compile(a.resources),
			details: compile(a.details), host: compile(host), denyMsg: compile(s.denyMsg)}
		if o.eventType == "" {
			o.eventType = "AwsApiCall"
		}
		ops[a.name] = o
		if a.weight > 0 {
			reads = append(reads, o)
			readWeight += a.weight
		}
	}
	for i := range scenarios {
		sc := &scenarios[i]
		steps, err := parsePlan(sc.plan)
		if err != nil {
			panic(fmt.Sprintf("generate: scenario %s: %v", sc.name, err))
		}
		sc.steps = steps
		scenarioWeight += sc.weight
		for _, st := range steps {
			odds := 100.0
			if st.odds > 0 {
				odds = float64(st.odds)
			}
			w := float64(sc.weight) * odds / 100
			if st.repeat > 0 {
				w *= float64(st.repeat+st.repeatMax) / 2
			}
			stepWeight += w
			if st.op == ops["signin:ConsoleLogin"] {
				signInWeight[btoi(st.fail)] += w
			}
		}
	}
}

// stepWeight and signInWeight are the records and the successful and failed sign-ins the
// scenarios chosen by weight make, each scenario's expected steps times its weight: the
// share of sign-ins among the records, whose rate per hour sizes the crowds.
var (
	stepWeight   float64
	signInWeight [2]float64
)

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parsePlan(plan string) ([]step, error) {
	var steps []step
	for i, item := range strings.Split(plan, ",") {
		var st step
		fields := strings.Fields(item)
		if len(fields) == 0 {
			return nil, fmt.Errorf("empty step %d", i+1)
		}
		call := fields[len(fields)-1]
		for _, f := range fields[:len(fields)-1] {
			var err error
			switch {
			case strings.HasSuffix(f, "%"):
				st.odds, err = strconv.Atoi(strings.TrimSuffix(f, "%"))
			case f == "@abroad" || f == "@near":
				st.from = f[1:]
			case f == "@hop":
				st.hop = true
			case strings.HasPrefix(f, "x"):
				st.repeat, st.repeatMax, err = parseTimes(f[1:])
			default:
				st.min, st.max, err = parseDelay(f)
			}
			if err != nil {
				return nil, fmt.Errorf("step %q: %w", item, err)
			}
		}
		call, st.fail = strings.CutPrefix(call, "!")
		if call != "read" {
			if st.op = ops[call]; st.op == nil {
				return nil, fmt.Errorf("unknown call %q", call)
			}
		}
		if i == 0 && (st.odds != 0 || st.max != 0 || st.repeat != 0) {
			return nil, fmt.Errorf("the first step %q must have neither odds, delay nor repeat", item)
		}
		if st.repeat != 0 && st.max == 0 {
			return nil, fmt.Errorf("step %q repeats without a delay", item)
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// parseTimes parses the count of a repeated step: 12 or 10-14.
func parseTimes(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || x < 2 || x > y {
		return 0, 0, fmt.Errorf("bad repeat %q: want xN or xN-M, N at least 2", "x"+s)
	}
	return x, y, nil
}

// parseDelay parses a range such as 20-90s or 1-3m.
func parseDelay(s string) (lo, hi time.Duration, err error) {
	unit := time.Second
	if n, ok := strings.CutSuffix(s, "m"); ok {
		s, unit = n, time.Minute
	} else if s, ok = strings.CutSuffix(s, "s"); !ok {
		return 0, 0, fmt.Errorf("delay %q has no unit s or m", s)
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("delay %q is not a range", s)
	}
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || x > y {
		return 0, 0, fmt.Errorf("bad delay range %q", s)
	}
	return time.Duration(x) * unit, time.Duration(y) * unit, nil
}
