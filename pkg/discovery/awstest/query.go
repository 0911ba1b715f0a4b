package awstest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The query protocols of EC2 and STS: a form-encoded body (or URL query) with Action and
// Version, answered in XML. EC2's errors are <Response><Errors><Error>; STS's (awsQuery) are
// <ErrorResponse><Error>.

func queryValues(r *http.Request, body []byte) url.Values {
	if r.Method == http.MethodPost {
		v, err := url.ParseQuery(string(body))
		if err == nil {
			return v
		}
		return url.Values{}
	}
	return r.URL.Query()
}

func queryAction(r *http.Request, body []byte) string { return queryValues(r, body).Get("Action") }

func xmlBody(v any) []byte {
	b, err := xml.Marshal(v)
	if err != nil {
		panic(err) // the types below always marshal
	}
	return append([]byte(xml.Header), b...)
}

var xmlHeader = map[string]string{"Content-Type": "text/xml;charset=UTF-8"}

// checkQuery checks the method, content type and API version of a query request.
func checkQuery(r *http.Request, v url.Values, version string) *apiError {
	if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return badRequest("InvalidParameterValue", "Content-Type %q is not application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	}
	if got := v.Get("Version"); got != version {
		return badRequest("InvalidParameterValue", "Version %q, want %s", got, version)
	}
	return nil
}

// EC2

const ec2Version = "2016-11-15"

var ec2Protocol = protocol{
	action: queryAction,
	handle: handleEC2,
	errorResponse: func(e apiError, rid string) (int, []byte, map[string]string) {
		type xmlError struct {
			Code    string
			Message string
		}
		return e.status, xmlBody(struct {
			XMLName   xml.Name   `xml:"Response"`
			Errors    []xmlError `xml:"Errors>Error"`
			RequestID string     `xml:"RequestID"`
		}{Errors: []xmlError{{e.code, e.message}}, RequestID: rid}), xmlHeader
	},
	authError: func(kind authFailure, msg string) apiError {
		if kind == authExpired {
			return apiError{status: http.StatusBadRequest, code: "RequestExpired", message: msg}
		}
		return apiError{status: http.StatusUnauthorized, code: "AuthFailure", message: "AWS was not able to validate the provided access credentials: " + msg}
	},
}

func handleEC2(s *Server, r *http.Request, req *request) (int, []byte, map[string]string, *apiError) {
	v := queryValues(r, req.body)
	if e := checkQuery(r, v, ec2Version); e != nil {
		return 0, nil, nil, e
	}
	account := req.caller.account
	if !s.enabled(account, req.region) {
		return 0, nil, nil, &apiError{status: http.StatusUnauthorized, code: "AuthFailure", message: "AWS was not able to validate the provided access credentials"}
	}
	if req.action != "DescribeRegions" {
		return 0, nil, nil, badRequest("InvalidAction", "The action %s is not valid for this web service.", req.action)
	}
	all := false
	if a := v.Get("AllRegions"); a != "" {
		var err error
		if all, err = strconv.ParseBool(a); err != nil {
			return 0, nil, nil, badRequest("InvalidParameterValue", "AllRegions %q is not a boolean", a)
		}
	}
	names := listParam(v, "RegionName")
	filters := map[string][]string{}
	for i := 1; v.Has(fmt.Sprintf("Filter.%d.Name", i)); i++ {
		name := v.Get(fmt.Sprintf("Filter.%d.Name", i))
		if name != "opt-in-status" && name != "region-name" && name != "endpoint" {
			return 0, nil, nil, badRequest("InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		filters[name] = listParam(v, fmt.Sprintf("Filter.%d.Value", i))
	}
	type item struct {
		RegionName     string `xml:"regionName"`
		RegionEndpoint string `xml:"regionEndpoint"`
		OptInStatus    string `xml:"optInStatus"`
	}
	var items []item
	for _, n := range names {
		if s.optIn(account, n) == "" {
			return 0, nil, nil, badRequest("InvalidParameterValue", "Invalid region: %s", n)
		}
	}
	for _, name := range s.order {
		st := s.optIn(account, name)
		if st == "" || !all && len(names) == 0 && !s.enabled(account, name) {
			continue
		}
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		it := item{RegionName: name, RegionEndpoint: "ec2." + name + ".amazonaws.com", OptInStatus: st}
		if f, ok := filters["opt-in-status"]; ok && !slices.Contains(f, st) {
			continue
		}
		if f, ok := filters["region-name"]; ok && !slices.Contains(f, name) {
			continue
		}
		if f, ok := filters["endpoint"]; ok && !slices.Contains(f, it.RegionEndpoint) {
			continue
		}
		items = append(items, it)
	}
	return http.StatusOK, xmlBody(struct {
		XMLName   xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeRegionsResponse"`
		RequestID string   `xml:"requestId"`
		Items     []item   `xml:"regionInfo>item"`
	}{RequestID: "ec2-" + req.region, Items: items}), xmlHeader, nil
}

// listParam returns the members of a query list parameter: name.1, name.2, ...
func listParam(v url.Values, name string) []string {
	var out []string
	for i := 1; v.Has(fmt.Sprintf("%s.%d", name, i)); i++ {
		out = append(out, v.Get(fmt.Sprintf("%s.%d", name, i)))
	}
	return out
}

// STS

const stsVersion = "2011-06-15"

var stsProtocol = protocol{
	action: queryAction,
	handle: handleSTS,
	errorResponse: func(e apiError, rid string) (int, []byte, map[string]string) {
		typ := "Sender"
		if e.status >= 500 {
			typ = "Receiver"
		}
		type xmlError struct {
			Type    string
			Code    string
			Message string
		}
		return e.status, xmlBody(struct {
			XMLName   xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
			Error     xmlError
			RequestID string `xml:"RequestId"`
		}{Error: xmlError{typ, e.code, e.message}, RequestID: rid}), xmlHeader
	},
	authError: func(kind authFailure, msg string) apiError {
		switch kind {
		case authMissing:
			return apiError{status: http.StatusForbidden, code: "MissingAuthenticationToken", message: msg}
		case authSignature:
			return apiError{status: http.StatusForbidden, code: "SignatureDoesNotMatch", message: msg}
		case authExpired:
			return apiError{status: http.StatusBadRequest, code: "ExpiredToken", message: msg}
		}
		return apiError{status: http.StatusForbidden, code: "InvalidClientTokenId", message: msg}
	},
}

var (
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`) // and 2 to 1224 characters
	roleARNRE     = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$`)
)

func handleSTS(s *Server, r *http.Request, req *request) (int, []byte, map[string]string, *apiError) {
	v := queryValues(r, req.body)
	if e := checkQuery(r, v, stsVersion); e != nil {
		return 0, nil, nil, e
	}
	if req.action != "AssumeRole" {
		return 0, nil, nil, badRequest("InvalidAction", "Could not find operation %s for version %s", req.action, stsVersion)
	}
	caller := req.caller
	if !s.enabled(caller.account, req.region) {
		return 0, nil, nil, &apiError{status: http.StatusForbidden, code: "RegionDisabledException",
			message: "STS is not activated in this region for account:" + caller.account}
	}
	roleARN, session, extID := v.Get("RoleArn"), v.Get("RoleSessionName"), v.Get("ExternalId")
	m := roleARNRE.FindStringSubmatch(roleARN)
	if m == nil {
		return 0, nil, nil, badRequest("ValidationError", "%s is invalid", roleARN)
	}
	if !sessionNameRE.MatchString(session) {
		return 0, nil, nil, badRequest("ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint", session)
	}
	if v.Has("ExternalId") && (len(extID) < 2 || len(extID) > 1224 || !externalIDRE.MatchString(extID)) {
		return 0, nil, nil, badRequest("ValidationError", "1 validation error detected: Value at 'externalId' failed to satisfy constraint")
	}
	duration := 3600
	if d := v.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			return 0, nil, nil, badRequest("ValidationError", "DurationSeconds %q is not between 900 and 43200", d)
		}
		duration = n
	}
	role, ok := s.roles[roleARN]
	denied := !ok || role.externalID != "" && extID != role.externalID ||
		len(role.trusted) > 0 && !slices.Contains(role.trusted, caller.account) && !slices.Contains(role.trusted, caller.principal)
	if denied {
		return 0, nil, nil, &apiError{status: http.StatusForbidden, code: "AccessDenied",
			message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.principal, roleARN)}
	}
	account, roleName := m[1], m[2]
	k := &key{
		Key:       Key{ID: "ASIA" + randomID(16), Secret: randomID(40), Token: randomID(96)},
		account:   account,
		principal: fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, roleName, session),
		expires:   s.now().Add(time.Duration(duration) * time.Second).Truncate(time.Second),
	}
	s.keys[k.ID] = k
	type credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      string
	}
	type assumedRoleUser struct {
		Arn           string
		AssumedRoleID string `xml:"AssumedRoleId"`
	}
	type result struct {
		Credentials      credentials
		AssumedRoleUser  assumedRoleUser
		PackedPolicySize int
	}
	return http.StatusOK, xmlBody(struct {
		XMLName   xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleResponse"`
		Result    result   `xml:"AssumeRoleResult"`
		RequestID string   `xml:"ResponseMetadata>RequestId"`
	}{
		Result: result{
			Credentials:     credentials{k.ID, k.Secret, k.Token, k.expires.UTC().Format(time.RFC3339)},
			AssumedRoleUser: assumedRoleUser{k.principal, "AROA" + randomID(16) + ":" + session},
		},
		RequestID: "sts-" + k.ID,
	}), xmlHeader, nil
}
