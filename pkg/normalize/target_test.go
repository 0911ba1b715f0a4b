package normalize

import "testing"

func TestTargets(t *testing.T) {
	tests := []struct {
		name, source, event, identity, params string
		user, group, newName                  string
	}{
		{"a key for another user", "iam.amazonaws.com", "CreateAccessKey", `{"type":"IAMUser","userName":"alice"}`, `{"userName":"bob"}`, "bob", "", ""},
		{"one's own key", "iam.amazonaws.com", "CreateAccessKey", `{"type":"IAMUser","userName":"alice"}`, `{}`, "alice", "", ""},
		{"root's own key has no user", "iam.amazonaws.com", "CreateAccessKey", `{"type":"Root"}`, `null`, "", "", ""},
		{"an assumed role acting on a user", "iam.amazonaws.com", "DeactivateMFADevice",
			`{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"}}}`, `{"userName":"carol","serialNumber":"arn:aws:iam::1:mfa/carol"}`, "carol", "", ""},
		{"a login profile", "iam.amazonaws.com", "UpdateLoginProfile", `{"type":"IAMUser","userName":"alice"}`, `{"userName":"dave","passwordResetRequired":true}`, "dave", "", ""},
		{"group membership", "iam.amazonaws.com", "AddUserToGroup", `{"type":"IAMUser","userName":"alice"}`, `{"groupName":"admins","userName":"eve"}`, "eve", "admins", ""},
		{"a user renamed", "iam.amazonaws.com", "UpdateUser", `{"type":"IAMUser","userName":"alice"}`, `{"userName":"bob","newUserName":"robert"}`, "", "", "robert"},
		{"a group renamed", "iam.amazonaws.com", "UpdateGroup", `{"type":"IAMUser","userName":"alice"}`, `{"groupName":"ops","newGroupName":"sre"}`, "", "", "sre"},
		{"one's own password", "iam.amazonaws.com", "ChangePassword", `{"type":"IAMUser","userName":"alice"}`, `null`, "alice", "", ""},
		{"another call", "iam.amazonaws.com", "CreateUser", `{"type":"IAMUser","userName":"alice"}`, `{"userName":"zed"}`, "", "", ""},
		{"another service", "s3.amazonaws.com", "CreateAccessKey", `{"type":"IAMUser","userName":"alice"}`, `{"userName":"bob"}`, "", "", ""},
	}
	n := &Normalizer{Environment: "test"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := `{"eventVersion":"1.08","eventTime":"2026-11-20T10:00:00Z","eventSource":"` + tt.source + `","eventName":"` + tt.event +
				`","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","eventID":"e-1","recipientAccountId":"123456789012",` +
				`"userIdentity":` + tt.identity + `,"requestParameters":` + tt.params + `}`
			e, err := n.Normalize([]byte(rec))
			if err != nil {
				t.Fatal(err)
			}
			if e.TargetUser != tt.user || e.TargetGroup != tt.group || e.NewName != tt.newName {
				t.Errorf("target_user %q, target_group %q, new_name %q; want %q, %q, %q", e.TargetUser, e.TargetGroup, e.NewName, tt.user, tt.group, tt.newName)
			}
		})
	}
}
