package normalize

import "github.com/trailstream/trailstream/pkg/model"

// userCalls are the IAM calls that act on one user's credentials, policies or group
// memberships, named by requestParameters.userName; without it, the call acts on the caller.
var userCalls = map[string]bool{
	"CreateAccessKey": true, "UpdateAccessKey": true, "DeleteAccessKey": true,
	"CreateLoginProfile": true, "UpdateLoginProfile": true, "DeleteLoginProfile": true,
	"EnableMFADevice": true, "DeactivateMFADevice": true, "ResyncMFADevice": true,
	"UploadSSHPublicKey": true, "UpdateSSHPublicKey": true, "DeleteSSHPublicKey": true,
	"UploadSigningCertificate": true, "UpdateSigningCertificate": true, "DeleteSigningCertificate": true,
	"CreateServiceSpecificCredential": true, "ResetServiceSpecificCredential": true, "DeleteServiceSpecificCredential": true,
	"AttachUserPolicy": true, "DetachUserPolicy": true, "PutUserPolicy": true, "DeleteUserPolicy": true,
	"PutUserPermissionsBoundary": true, "DeleteUserPermissionsBoundary": true,
	"AddUserToGroup": true, "RemoveUserFromGroup": true, "TagUser": true, "UntagUser": true,
}

// setTarget fills the fields naming what an IAM call acts on beyond its resource: the user
// whose credentials, policies or groups change (target_user), the group of a membership
// change (target_group) and the new name of a rename (new_name).
func setTarget(e *model.Event, source string, q *request) {
	if source != "iam.amazonaws.com" {
		return
	}
	switch e.EventName {
	case "UpdateUser":
		e.NewName = q.NewUserName
	case "UpdateGroup":
		e.NewName = q.NewGroupName
	case "ChangePassword":
		e.TargetUser = e.UserName
	}
	if userCalls[e.EventName] {
		e.TargetUser = q.UserName
		if e.TargetUser == "" && e.UserType == "IAMUser" {
			e.TargetUser = e.UserName // the caller's own
		}
	}
	if e.EventName == "AddUserToGroup" || e.EventName == "RemoveUserFromGroup" {
		e.TargetGroup = q.GroupName
	}
}
