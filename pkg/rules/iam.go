package rules

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// The rules of this file report changes to who may do what: IAM policies, credentials of
// other users, MFA, role trust and identity providers.

func init() {
	register(Builtin{
		Meta: Meta{ID: "iam-policy-changed", Severity: "low",
			Description: "An IAM policy attached, detached, put, deleted or versioned, a permissions boundary or a " +
				"role's trust policy changed; medium when the actor is not on the admin list. Reported once per " +
				"actor per period (12 h): who is changing permissions, not every change.",
			Tags:   []string{"attack.persistence", "attack.privilege-escalation", "attack.t1098", "attack.t1098.003"},
			Events: policyChangeCalls},
		Params: map[string]any{"period": 12 * time.Hour},
		New: func(p *Params) Rule {
			return &Match{When: policyChanged, Dedup: &Dedup{Key: func(in *Input) string { return userOf(in.Event) }, Period: p.Duration("period")}}
		},
	})
	register(Builtin{
		Meta: Meta{ID: "admin-policy-attached", Severity: "high",
			Description: "The AdministratorAccess policy attached to a user, group, role or Identity Center permission " +
				"set, or a policy granting every action on every resource (\"*\" on \"*\") put, created or versioned: " +
				"full control of the account handed out.",
			Tags:   []string{"attack.privilege-escalation", "attack.persistence", "attack.t1098.003"},
			Events: slices.Sorted(maps.Keys(adminPolicyCalls))},
		New: func(*Params) Rule { return &Match{When: adminPolicy} },
	})
	register(Builtin{
		Meta: Meta{ID: "access-key-created-for-other-user", Severity: "medium",
			Description: "An access key created for an IAM user by someone else (another user, a role or root): a " +
				"classic way to keep access through another identity.",
			Tags:   []string{"attack.persistence", "attack.t1098.001"},
			Events: []string{"CreateAccessKey"}},
		New: func(*Params) Rule { return &Match{When: keyForOther} },
	})
	register(Builtin{
		Meta: Meta{ID: "login-profile-changed-for-other-user", Severity: "high",
			Description: "A console password created (CreateLoginProfile) or changed (UpdateLoginProfile) for an IAM " +
				"user by someone else: whoever set it can sign in as that user.",
			Tags:   []string{"attack.persistence", "attack.t1098.001"},
			Events: []string{"CreateLoginProfile", "UpdateLoginProfile"}},
		New: func(*Params) Rule { return &Match{When: loginProfileForOther} },
	})
	register(Builtin{
		Meta: Meta{ID: "mfa-device-deactivated", Severity: "high",
			Description: "An MFA device deactivated or a virtual MFA device deleted, leaving the identity protected by " +
				"a password or key alone; critical for root's device, or an admin's own. Once per device per hour " +
				"(the console deactivates and deletes in one go).",
			Tags:   []string{"attack.defense-evasion", "attack.persistence", "attack.t1556.006"},
			Events: []string{"DeactivateMFADevice", "DeleteVirtualMFADevice"}},
		New: func(*Params) Rule {
			return &Match{When: mfaDeactivated, Dedup: &Dedup{Key: func(in *Input) string { return in.Str("requestParameters.serialNumber") }, Period: time.Hour}}
		},
	})
	register(Builtin{
		Meta: Meta{ID: "iam-role-trust-opened", Severity: "high",
			Description: "A role created or its trust policy changed so that anyone (\"*\", not confined to the " +
				"organization) or an account outside the known accounts (known_accounts of the rules config, and the " +
				"role's own) may assume it: a backdoor that outlives any credential.",
			Tags:   []string{"attack.persistence", "attack.privilege-escalation", "attack.t1098.003", "attack.t1484.002"},
			Events: []string{"CreateRole", "UpdateAssumeRolePolicy"}},
		New: func(p *Params) Rule {
			known := p.Config.KnownAccounts
			return &Match{When: func(in *Input) (Finding, bool) { return trustOpened(in, known) }}
		},
	})
	register(Builtin{
		Meta: Meta{ID: "identity-provider-changed", Severity: "high",
			Description: "A SAML or OIDC identity provider created, changed or deleted, or the identity source of IAM " +
				"Identity Center changed: whoever controls the provider signs in as anyone who trusts it.",
			Tags:   []string{"attack.persistence", "attack.privilege-escalation", "attack.t1484.002", "attack.t1556"},
			Events: slices.Sorted(maps.Keys(idpCalls))},
		New: func(*Params) Rule { return &Match{When: idpChanged} },
	})
}

// byAWS reports whether an AWS service itself made the call (not a person through it).
func byAWS(e *model.Event) bool { return e.UserType == "AWSService" }

// policyChangeCalls are the IAM calls that change a policy.
var policyChangeCalls = []string{
	"AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy",
	"CreatePolicy", "CreatePolicyVersion",
	"DeleteGroupPolicy", "DeletePolicy", "DeletePolicyVersion", "DeleteRolePermissionsBoundary", "DeleteRolePolicy",
	"DeleteUserPermissionsBoundary", "DeleteUserPolicy",
	"DetachGroupPolicy", "DetachRolePolicy", "DetachUserPolicy",
	"PutGroupPolicy", "PutRolePermissionsBoundary", "PutRolePolicy", "PutUserPermissionsBoundary", "PutUserPolicy",
	"SetDefaultPolicyVersion", "UpdateAssumeRolePolicy",
}

// iamObject describes the IAM object of e for a title: `role "ci"`.
func iamObject(e *model.Event) string {
	if len(e.ResourceNames) == 0 {
		return "an IAM object"
	}
	kind := strings.TrimPrefix(e.ResourceType, "iam-")
	return fmt.Sprintf("%s %q", kind, e.ResourceNames[0])
}

func policyChanged(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "iam.amazonaws.com" || !okCall(e) || byAWS(e) {
		return Finding{}, false
	}
	policy := changedPolicy(in)
	f := Finding{
		Title:        fmt.Sprintf("%s changed IAM policies: %s on %s", userOf(e), e.EventName, iamObject(e)),
		ResourceType: e.ResourceType, ResourceName: firstName(e),
		Context: map[string]any{"call": e.EventName, "admin": e.IsAdmin},
	}
	if policy != "" {
		f.Context["policy"] = policy
	}
	if !e.IsAdmin {
		f.Severity = "medium"
	}
	return f, true
}

// changedPolicy names the policy a change is about: the normalized ARN of a managed
// policy's own calls, else the policy ARN, name or permissions boundary of the request.
func changedPolicy(in *Input) string {
	if e := in.Event; e.ResourceType == "iam-policy" && len(e.ResourceARNs) > 0 {
		return e.ResourceARNs[0]
	}
	return cmp.Or(in.Str("requestParameters.policyArn"), in.Str("requestParameters.policyName"),
		in.Str("requestParameters.permissionsBoundary"))
}

// firstName returns the first object name of e, "" when it has none.
func firstName(e *model.Event) string {
	if len(e.ResourceNames) == 0 {
		return ""
	}
	return e.ResourceNames[0]
}

// adminPolicyCalls are the calls that can hand out administrator access, and the request
// parameter holding the policy: an ARN for the attachments, a document for the others.
var adminPolicyCalls = map[string]string{
	"AttachUserPolicy":                   "policyArn",
	"AttachRolePolicy":                   "policyArn",
	"AttachGroupPolicy":                  "policyArn",
	"AttachManagedPolicyToPermissionSet": "managedPolicyArn",
	"PutUserPolicy":                      "policyDocument",
	"PutRolePolicy":                      "policyDocument",
	"PutGroupPolicy":                     "policyDocument",
	"CreatePolicy":                       "policyDocument",
	"CreatePolicyVersion":                "policyDocument",
	"PutInlinePolicyToPermissionSet":     "inlinePolicy",
}

// isAdministratorAccess reports whether arn is AWS's AdministratorAccess managed policy
// (in any partition).
func isAdministratorAccess(arn string) bool {
	return strings.HasPrefix(arn, "arn:") && strings.HasSuffix(arn, ":iam::aws:policy/AdministratorAccess")
}

func adminPolicy(in *Input) (Finding, bool) {
	e := in.Event
	param, ok := adminPolicyCalls[e.EventName]
	if !ok || !okCall(e) || (e.EventSource != "iam.amazonaws.com" && e.EventSource != "sso.amazonaws.com") {
		return Finding{}, false
	}
	f := Finding{ResourceType: e.ResourceType, ResourceName: firstName(e), Context: map[string]any{"call": e.EventName}}
	target := iamObject(e)
	if e.EventSource == "sso.amazonaws.com" {
		set := in.Str("requestParameters.permissionSetArn")
		f.ResourceType, f.ResourceName = "sso-permission-set", arnName(set)
		target = fmt.Sprintf("permission set %q", f.ResourceName)
	}
	v := in.Field("requestParameters." + param)
	if strings.HasSuffix(param, "Arn") {
		arn := jsonString(v)
		if !isAdministratorAccess(arn) {
			return Finding{}, false
		}
		f.Context["policy"] = arn
		f.Title = fmt.Sprintf("AdministratorAccess attached to %s by %s", target, userOf(e))
		return f, true
	}
	doc, ok := parsePolicy(v)
	if !ok || !doc.grantsAll() {
		return Finding{}, false
	}
	if name := in.Str("requestParameters.policyName"); name != "" {
		f.Context["policy"] = name
	}
	verb := map[string]string{"CreatePolicy": "created as", "CreatePolicyVersion": "made the new version of"}[e.EventName]
	if verb == "" {
		verb = "put on"
	}
	f.Title = fmt.Sprintf("a policy granting * on * %s %s by %s", verb, target, userOf(e))
	return f, true
}

// otherUser returns the IAM user a credential call acts on (the normalized target_user)
// when that is not the caller itself. A role or root acting on a named user acts on another.
func otherUser(e *model.Event) string {
	if e.TargetUser == "" || (e.UserType == "IAMUser" && e.TargetUser == e.UserName) {
		return ""
	}
	return e.TargetUser
}

func keyForOther(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "iam.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	target := otherUser(e)
	if target == "" {
		return Finding{}, false
	}
	ctx := map[string]any{"caller_type": e.UserType}
	if key := resourceOf(e, "iam-access-key"); key != "" {
		ctx["access_key_id"] = key
	}
	return Finding{
		Title:        fmt.Sprintf("access key created for IAM user %q by %s", target, userOf(e)),
		ResourceType: "iam-user", ResourceName: target, Context: ctx,
	}, true
}

func loginProfileForOther(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "iam.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	target := otherUser(e)
	if target == "" {
		return Finding{}, false
	}
	what := "created"
	if e.EventName == "UpdateLoginProfile" {
		what = "changed"
	}
	ctx := map[string]any{"call": e.EventName, "caller_type": e.UserType}
	if v, ok := in.Field("requestParameters.passwordResetRequired").(bool); ok {
		ctx["password_reset_required"] = v
	}
	return Finding{
		Title:        fmt.Sprintf("console password of IAM user %q %s by %s", target, what, userOf(e)),
		ResourceType: "iam-user", ResourceName: target, Context: ctx,
	}, true
}

// mfaOwner returns whose MFA device a call acts on: its target_user (the userName of the
// request, or an IAM user's own), "root" for root's device; "" when it cannot be told (a
// virtual device deleted by serial number).
func mfaOwner(in *Input, serial string) string {
	e := in.Event
	if e.TargetUser != "" { // the request's userName, or an IAM user's own device
		return e.TargetUser
	}
	if strings.HasSuffix(serial, ":mfa/root-account-mfa-device") || (e.UserType == "Root" && e.EventName == "DeactivateMFADevice") {
		return "root"
	}
	if e.EventName == "DeactivateMFADevice" {
		return e.UserName
	}
	return ""
}

func mfaDeactivated(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "iam.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	serial := in.Str("requestParameters.serialNumber")
	owner := mfaOwner(in, serial)
	what := "deactivated"
	if e.EventName == "DeleteVirtualMFADevice" {
		what = "deleted"
	}
	f := Finding{
		ResourceType: "iam-user", ResourceName: owner,
		Context: map[string]any{"call": e.EventName, "serial_number": serial},
	}
	switch {
	case owner == "":
		f.ResourceType, f.ResourceName = "iam-mfa-device", arnName(serial)
		f.Title = fmt.Sprintf("MFA device %q %s by %s", serial, what, userOf(e))
	case owner == "root":
		f.Severity = "critical"
		f.Title = fmt.Sprintf("root's MFA device %s by %s", what, userOf(e))
	default:
		if owner == e.UserName && e.IsAdmin {
			f.Severity = "critical"
			f.Context["admin"] = true
		}
		f.Title = fmt.Sprintf("MFA device of %q %s by %s", owner, what, userOf(e))
	}
	return f, true
}

func trustOpened(in *Input, known []string) (Finding, bool) {
	e := in.Event
	if e.EventSource != "iam.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	param := "requestParameters.policyDocument"
	if e.EventName == "CreateRole" {
		param = "requestParameters.assumeRolePolicyDocument"
	}
	doc, ok := parsePolicy(in.Field(param))
	if !ok {
		return Finding{}, false
	}
	open := doc.openTrust(e.AccountID, known)
	if len(open) == 0 {
		return Finding{}, false
	}
	role := orField(resourceOf(e, "iam-role"), in, "requestParameters.roleName")
	who := "anyone (*)"
	if open[0] != "*" {
		who = "account " + strings.Join(open, ", ") + ", outside the known accounts"
	} else if len(open) > 1 {
		who = "anyone (*) and account " + strings.Join(open[1:], ", ")
	}
	return Finding{
		Title:        fmt.Sprintf("role %q can be assumed by %s (trust set by %s)", role, who, userOf(e)),
		ResourceType: "iam-role", ResourceName: role,
		Context: map[string]any{"call": e.EventName, "trusted": open, "known_accounts": len(known)},
	}, true
}

// idpCall is a call that changes an identity provider: what it does, and the request
// parameter naming the provider (an ARN, a name or a URL).
type idpCall struct {
	what, param, typ string
}

var idpCalls = map[string]idpCall{
	"CreateSAMLProvider":                          {"SAML provider created", "name", "iam-saml-provider"},
	"UpdateSAMLProvider":                          {"SAML provider changed", "sAMLProviderArn", "iam-saml-provider"},
	"DeleteSAMLProvider":                          {"SAML provider deleted", "sAMLProviderArn", "iam-saml-provider"},
	"CreateOpenIDConnectProvider":                 {"OIDC provider created", "url", "iam-oidc-provider"},
	"UpdateOpenIDConnectProviderThumbprint":       {"OIDC provider thumbprints changed", "openIDConnectProviderArn", "iam-oidc-provider"},
	"AddClientIDToOpenIDConnectProvider":          {"OIDC provider client ID added", "openIDConnectProviderArn", "iam-oidc-provider"},
	"RemoveClientIDFromOpenIDConnectProvider":     {"OIDC provider client ID removed", "openIDConnectProviderArn", "iam-oidc-provider"},
	"DeleteOpenIDConnectProvider":                 {"OIDC provider deleted", "openIDConnectProviderArn", "iam-oidc-provider"},
	"AssociateDirectory":                          {"Identity Center identity source set to a directory", "", ""},
	"DisassociateDirectory":                       {"Identity Center directory disassociated", "", ""},
	"EnableExternalIdPConfigurationForDirectory":  {"Identity Center external identity provider enabled", "", ""},
	"UpdateExternalIdPConfigurationForDirectory":  {"Identity Center external identity provider changed", "", ""},
	"DisableExternalIdPConfigurationForDirectory": {"Identity Center external identity provider disabled", "", ""},
}

func idpChanged(in *Input) (Finding, bool) {
	e := in.Event
	call, ok := idpCalls[e.EventName]
	if !ok || !okCall(e) {
		return Finding{}, false
	}
	f := Finding{Context: map[string]any{"call": e.EventName}}
	switch e.EventSource {
	case "iam.amazonaws.com":
		if call.param == "" {
			return Finding{}, false
		}
		name := in.Str("requestParameters." + call.param)
		name = arnName(strings.TrimPrefix(name, "https://"))
		f.ResourceType, f.ResourceName = call.typ, name
		f.Title = fmt.Sprintf("%s: %q, by %s", call.what, name, userOf(e))
	case "sso.amazonaws.com", "sso-directory.amazonaws.com":
		if call.param != "" {
			return Finding{}, false
		}
		f.ResourceType, f.ResourceName = "identity-center", e.AccountID
		f.Title = fmt.Sprintf("%s by %s", call.what, userOf(e))
	default:
		return Finding{}, false
	}
	return f, true
}
