package normalize

import (
	"strings"

	"github.com/trailstream/trailstream/pkg/model"
)

// hiddenUser is what CloudTrail writes for a user name it will not reveal, e.g. the name
// typed in a sign-in that failed because no such user exists.
const hiddenUser = "HIDDEN_DUE_TO_SECURITY_REASONS"

// identity is CloudTrail's userIdentity.
type identity struct {
	Type             string `json:"type"`
	PrincipalID      string `json:"principalId"`
	ARN              string `json:"arn"`
	AccountID        string `json:"accountId"`
	AccessKeyID      string `json:"accessKeyId"`
	UserName         string `json:"userName"`
	InvokedBy        string `json:"invokedBy"`
	IdentityProvider string `json:"identityProvider"`
	SessionContext   struct {
		SessionIssuer struct {
			Type     string `json:"type"`
			UserName string `json:"userName"`
		} `json:"sessionIssuer"`
		Attributes struct {
			MFAAuthenticated string `json:"mfaAuthenticated"`
		} `json:"attributes"`
	} `json:"sessionContext"`
	OnBehalfOf struct {
		UserID string `json:"userId"`
	} `json:"onBehalfOf"`
}

// setIdentity fills the actor fields of e from id. additionalUser is the user name some
// sign-in events carry in additionalEventData instead (Identity Center).
func setIdentity(e *model.Event, id *identity, additionalUser string) {
	e.UserType = id.Type
	e.UserARN = id.ARN
	e.PrincipalID = id.PrincipalID
	e.AccessKeyID = id.AccessKeyID
	e.ActorAccountID = id.AccountID
	e.InvokedBy = id.InvokedBy
	e.SessionMFA = id.SessionContext.Attributes.MFAAuthenticated == "true"
	if id.UserName == hiddenUser {
		e.UserNameHidden = true
		return
	}
	switch id.Type {
	case "Root":
		e.UserName = "root"
	case "IAMUser":
		e.UserName = id.UserName
	case "AssumedRole":
		// arn:aws:sts::<account>:assumed-role/<role>/<session>
		role, session := splitAssumedRole(id.ARN)
		e.RoleName, e.SessionName = first(id.SessionContext.SessionIssuer.UserName, role), session
		e.UserName = session
	case "Role":
		e.RoleName = first(id.UserName, lastPart(id.ARN))
		e.UserName = e.RoleName
	case "FederatedUser":
		// arn:aws:sts::<account>:federated-user/<name>
		e.UserName = first(lastPart(id.ARN), id.UserName)
	case "AWSService":
		e.UserName = id.InvokedBy
	case "IdentityCenterUser":
		e.UserName = first(id.UserName, additionalUser, id.OnBehalfOf.UserID)
	case "SAMLUser", "WebIdentityUser":
		e.UserName = first(id.UserName, afterColon(id.PrincipalID))
	case "AWSAccount":
		// Another account's principal, or the account "anonymous" for unsigned S3 requests.
		e.UserName = first(id.UserName, id.PrincipalID, id.AccountID)
	default: // Directory, Unknown and types yet to come
		e.UserName = first(id.UserName, additionalUser, id.PrincipalID, id.InvokedBy)
	}
	if e.UserName == hiddenUser {
		e.UserName, e.UserNameHidden = "", true
	}
}

func splitAssumedRole(arn string) (role, session string) {
	_, path, ok := strings.Cut(arn, ":assumed-role/")
	if !ok {
		return "", lastPart(arn)
	}
	role, session, _ = strings.Cut(path, "/")
	return role, session
}

func lastPart(arn string) string {
	if arn == "" {
		return ""
	}
	return arn[strings.LastIndexByte(arn, '/')+1:]
}

func afterColon(s string) string {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// first returns the first non-empty string.
func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
