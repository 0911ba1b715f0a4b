package awstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// CloudTrail's JSON 1.1 protocol: POST / with Content-Type application/x-amz-json-1.1, the
// operation in X-Amz-Target (the SDKs send CloudTrail_20131101.<Operation>; the API reference
// shows com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Operation>; both are
// accepted), a JSON body, errors as {"__type": code, "message": ...}.

const (
	cloudTrailTarget     = "CloudTrail_20131101."
	cloudTrailLongTarget = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
	jsonContentType      = "application/x-amz-json-1.1"
)

var cloudTrailProtocol = protocol{
	action: func(r *http.Request, _ []byte) string {
		t := r.Header.Get("X-Amz-Target")
		if a, ok := strings.CutPrefix(t, cloudTrailLongTarget); ok {
			return a
		}
		if a, ok := strings.CutPrefix(t, cloudTrailTarget); ok {
			return a
		}
		return ""
	},
	handle:        handleCloudTrail,
	errorResponse: jsonError,
	authError: func(kind authFailure, msg string) apiError {
		code := map[authFailure]string{
			authMissing:    "MissingAuthenticationTokenException",
			authUnknownKey: "UnrecognizedClientException",
			authSignature:  "InvalidSignatureException",
			authExpired:    "ExpiredTokenException",
		}[kind]
		return apiError{status: http.StatusBadRequest, code: code, message: msg}
	},
}

func jsonError(e apiError, _ string) (int, []byte, map[string]string) {
	b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
	return e.status, b, map[string]string{"Content-Type": jsonContentType, "X-Amzn-ErrorType": e.code}
}

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

// decodeMembers decodes a JSON object whose member names must be among known, exactly as
// spelled (Go's encoding/json would match them regardless of case, which AWS does not).
func decodeMembers(body []byte, known ...string) (map[string]json.RawMessage, *apiError) {
	m := map[string]json.RawMessage{}
	if len(body) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, badRequest("SerializationException", "body is not a JSON object: %v", err)
	}
	for k := range m {
		if !slices.Contains(known, k) {
			return nil, badRequest("SerializationException", "unknown member %q", k)
		}
	}
	return m, nil
}

func handleCloudTrail(s *Server, r *http.Request, req *request) (int, []byte, map[string]string, *apiError) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return 0, nil, nil, badRequest("UnknownOperationException", "%s %s: the JSON protocol is POST /", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != jsonContentType {
		return 0, nil, nil, badRequest("SerializationException", "Content-Type %q, want %s", ct, jsonContentType)
	}
	account := req.caller.account
	if !s.enabled(account, req.region) {
		// What CloudTrail answers in a region the account has not enabled.
		return 0, nil, nil, badRequest("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	var out any
	switch req.action {
	case "DescribeTrails":
		m, e := decodeMembers(req.body, "trailNameList", "includeShadowTrails")
		if e != nil {
			return 0, nil, nil, e
		}
		var names []string
		shadows := true // the API's default
		if v, ok := m["trailNameList"]; ok && json.Unmarshal(v, &names) != nil {
			return 0, nil, nil, badRequest("SerializationException", "trailNameList is not a list of strings")
		}
		if v, ok := m["includeShadowTrails"]; ok && json.Unmarshal(v, &shadows) != nil {
			return 0, nil, nil, badRequest("SerializationException", "includeShadowTrails is not a boolean")
		}
		list := []map[string]any{}
		for _, t := range s.visibleTrails(account, req.region, shadows) {
			if len(names) > 0 && !slices.Contains(names, t.ARN()) && !(t.HomeRegion == req.region && slices.Contains(names, t.Name)) {
				continue
			}
			list = append(list, describeTrail(t))
		}
		out = map[string]any{"trailList": list}
	case "GetTrailStatus":
		m, e := decodeMembers(req.body, "Name")
		if e != nil {
			return 0, nil, nil, e
		}
		var name string
		if v, ok := m["Name"]; !ok || json.Unmarshal(v, &name) != nil || name == "" {
			return 0, nil, nil, badRequest("InvalidTrailNameException", "Name is required")
		}
		t, ok := s.findTrail(account, req.region, name)
		if !ok {
			return 0, nil, nil, badRequest("TrailNotFoundException", "Unknown trail: %s for the user: %s", name, account)
		}
		st := map[string]any{"IsLogging": t.Logging}
		if t.Logging {
			st["StartLoggingTime"] = 1.7e9
			st["LatestDeliveryTime"] = float64(s.now().Unix())
		}
		out = st
	default:
		return 0, nil, nil, badRequest("UnknownOperationException", "unknown operation %q", r.Header.Get("X-Amz-Target"))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return 0, nil, nil, &apiError{status: http.StatusInternalServerError, code: "InternalFailure", message: err.Error()}
	}
	return http.StatusOK, b, map[string]string{"Content-Type": jsonContentType}, nil
}

// visibleTrails returns the trails DescribeTrails lists for account in region, by ARN: the
// trails whose home region it is and, with shadows, the multi-region trails of other home
// regions (their shadow trails). s.mu is held.
func (s *Server) visibleTrails(account, region string, shadows bool) []Trail {
	var out []Trail
	for _, t := range s.trails {
		if t.Account != account {
			continue
		}
		if t.HomeRegion == region || shadows && t.MultiRegion {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b Trail) int { return strings.Compare(a.ARN(), b.ARN()) })
	return out
}

// findTrail returns the trail GetTrailStatus means by name in region: a trail of the region
// by name or ARN, or a multi-region trail of another home region by ARN. s.mu is held.
func (s *Server) findTrail(account, region, name string) (Trail, bool) {
	for _, t := range s.visibleTrails(account, region, true) {
		if t.ARN() == name || t.HomeRegion == region && t.Name == name {
			return t, true
		}
	}
	return Trail{}, false
}

// describeTrail is a trail as DescribeTrails returns it.
func describeTrail(t Trail) map[string]any {
	m := map[string]any{
		"Name":                       t.Name,
		"S3BucketName":               t.Bucket,
		"IncludeGlobalServiceEvents": true,
		"IsMultiRegionTrail":         t.MultiRegion,
		"HomeRegion":                 t.HomeRegion,
		"TrailARN":                   t.ARN(),
		"LogFileValidationEnabled":   true,
		"HasCustomEventSelectors":    false,
		"HasInsightSelectors":        false,
		"IsOrganizationTrail":        t.Organization,
	}
	if t.Prefix != "" {
		m["S3KeyPrefix"] = t.Prefix
	}
	if t.SNSTopicARN != "" {
		m["SnsTopicARN"] = t.SNSTopicARN
		m["SnsTopicName"] = t.SNSTopicARN[strings.LastIndex(t.SNSTopicARN, ":")+1:]
	}
	if t.KMSKeyID != "" {
		m["KmsKeyId"] = t.KMSKeyID
	}
	return m
}
