package rules

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"
)

// The rules of this file report code planted where it will run: an instance's user data,
// a Lambda function's code, layers and who may call it.

func init() {
	register(Builtin{
		Meta: Meta{ID: "ec2-user-data-modified", Severity: "high",
			Description: "An instance's user data replaced (ModifyInstanceAttribute): the script runs as root at the " +
				"instance's next start, a way to run code and to keep it running.",
			Tags:   []string{"attack.execution", "attack.persistence", "attack.t1059", "attack.t1037"},
			Events: []string{"ModifyInstanceAttribute"}},
		New: func(*Params) Rule { return &Match{When: userDataModified} },
	})
	register(Builtin{
		Meta: Meta{ID: "lambda-backdoor-change", Severity: "medium",
			Description: "A Lambda function's code or layers replaced, an invocation permission (or a layer's) granted " +
				"to everyone (\"*\" with no source account, ARN or organization), or a function URL that needs no " +
				"authentication: code of someone else's choosing, or open to anyone, in the account.",
			Tags:   []string{"attack.persistence", "attack.execution", "attack.t1648"},
			Events: lambdaEventNames()},
		New: func(*Params) Rule { return &Match{When: lambdaBackdoor} },
	})
}

func userDataModified(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "ec2.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	if in.Field("requestParameters.userData") == nil && in.Str("requestParameters.attribute") != "userData" {
		return Finding{}, false
	}
	instance := in.Str("requestParameters.instanceId")
	return Finding{
		Title:        fmt.Sprintf("user data of instance %s replaced by %s", instance, userOf(e)),
		ResourceType: "ec2-instance", ResourceName: instance,
		Context: map[string]any{"region": e.AWSRegion},
	}, true
}

// lambdaCalls are the Lambda calls the rule looks at, by their API name: CloudTrail names
// them with the API version after it (UpdateFunctionCode20150331v2).
var lambdaCalls = map[string][]string{
	"UpdateFunctionCode":          {"20150331", "20150331v2"},
	"UpdateFunctionConfiguration": {"20150331", "20150331v2"},
	"AddPermission":               {"20150331", "20150331v2"},
	"AddLayerVersionPermission":   {"20181031"},
	"CreateFunctionUrlConfig":     {"20211031"},
	"UpdateFunctionUrlConfig":     {"20211031"},
}

// lambdaEventNames returns the event names of lambdaCalls: each API name bare and with its
// versions.
func lambdaEventNames() []string {
	var out []string
	for name, versions := range lambdaCalls {
		out = append(out, name)
		for _, v := range versions {
			out = append(out, name+v)
		}
	}
	return out
}

var apiVersion = regexp.MustCompile(`\d{8}(v\d+)?$`)

// lambdaAPI returns the API name of a Lambda event name, without its version.
func lambdaAPI(eventName string) string { return apiVersion.ReplaceAllString(eventName, "") }

// lambdaChange tells what a Lambda call does that the rule reports, "" for nothing.
func lambdaChange(in *Input) string {
	switch lambdaAPI(in.Event.EventName) {
	case "UpdateFunctionCode":
		return "code replaced"
	case "UpdateFunctionConfiguration":
		if layers, ok := in.Field("requestParameters.layers").([]any); ok && len(layers) > 0 {
			return "layers replaced"
		}
	case "AddPermission":
		if in.Str("requestParameters.principal") == "*" && in.Str("requestParameters.sourceArn") == "" &&
			in.Str("requestParameters.sourceAccount") == "" && in.Str("requestParameters.principalOrgID") == "" {
			return "invocation granted to everyone (*)"
		}
	case "AddLayerVersionPermission":
		if in.Str("requestParameters.principal") == "*" && in.Str("requestParameters.organizationId") == "" {
			return "layer version shared with everyone (*)"
		}
	case "CreateFunctionUrlConfig", "UpdateFunctionUrlConfig":
		if in.Str("requestParameters.authType") == "NONE" {
			return "function URL without authentication"
		}
	}
	return ""
}

// functionName returns the name of a function given by name, ARN or partial ARN
// (123456789012:function:name), without the version or alias an ARN may end with.
func functionName(s string) string {
	if _, rest, ok := strings.Cut(s, "function:"); ok {
		name, _, _ := strings.Cut(rest, ":")
		return name
	}
	return s
}

func lambdaBackdoor(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "lambda.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	what := lambdaChange(in)
	if what == "" {
		return Finding{}, false
	}
	typ, name := "lambda-function", functionName(in.Str("requestParameters.functionName"))
	if lambdaAPI(e.EventName) == "AddLayerVersionPermission" {
		typ, name = "lambda-layer", arnName(in.Str("requestParameters.layerName"))
	}
	ctx := map[string]any{"call": lambdaAPI(e.EventName), "change": what}
	if q := in.Str("requestParameters.qualifier"); q != "" {
		ctx["qualifier"] = q
	}
	return Finding{
		Title:        fmt.Sprintf("Lambda %s %q: %s, by %s", strings.TrimPrefix(typ, "lambda-"), cmp.Or(name, "?"), what, userOf(e)),
		ResourceType: typ, ResourceName: name, Context: ctx,
	}, true
}
