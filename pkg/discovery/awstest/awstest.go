// Package awstest is a test server for the AWS APIs trail discovery calls, which no emulator
// here speaks: CloudTrail's DescribeTrails and GetTrailStatus (JSON 1.1 protocol), EC2's
// DescribeRegions (EC2 query protocol) and STS's AssumeRole (query protocol), as the AWS API
// references document them. Every request must carry a valid Signature Version 4 signature
// by a key the server issued or was given; the server records who called what, so a test can
// prove which credentials reached which API. Accounts, regions, trails and roles can be
// changed while it runs. It is for tests only.
package awstest

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Opt-in states of a region, as DescribeRegions reports them.
const (
	OptInNotRequired = "opt-in-not-required"
	OptedIn          = "opted-in"
	NotOptedIn       = "not-opted-in"
)

// Trail is a trail of an account, as CloudTrail describes it.
type Trail struct {
	Account      string // the account that owns the trail (the management account of an organization trail)
	Name         string
	HomeRegion   string
	Bucket       string
	Prefix       string
	SNSTopicARN  string
	KMSKeyID     string
	MultiRegion  bool
	Organization bool
	Logging      bool
}

// ARN returns the trail's ARN.
func (t Trail) ARN() string {
	return fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", t.HomeRegion, t.Account, t.Name)
}

// Key is an access key.
type Key struct {
	ID, Secret, Token string
}

// Call is one request the server answered.
type Call struct {
	Service   string // from the signature's scope: cloudtrail, ec2, sts
	Action    string // DescribeTrails, GetTrailStatus, DescribeRegions, AssumeRole
	Region    string // from the signature's scope
	AccessKey string // the key that signed it
	Principal string // the caller's ARN, when the key was known
	Status    int    // the HTTP status of the answer
}

// Fault is an error the server answers instead of an action.
type Fault struct {
	Status  int    // HTTP status, 400 when 0
	Code    string // the error code, such as AccessDeniedException or Unavailable
	Message string
	Times   int // how many requests get it; 0 for every one
}

type key struct {
	Key
	account   string
	principal string
	expires   time.Time // zero for a long-term key
}

type role struct {
	externalID string
	trusted    []string // account IDs or principal ARNs; empty: any caller
}

type faultKey struct{ service, action, region string }

// Server is the test server. Its methods may be called while requests are served.
type Server struct {
	// URL is the server's base URL, for the SDK's service endpoint settings.
	URL string

	srv *httptest.Server

	mu      sync.Mutex
	regions map[string]map[string]string // account ("" for every account) -> region -> opt-in status
	order   []string                     // region names in the order they were added
	trails  map[string]Trail             // by ARN
	keys    map[string]*key              // by access key ID
	roles   map[string]role              // by role ARN
	faults  map[faultKey]*Fault
	calls   []Call
	nextID  int
	now     func() time.Time
}

// New starts a server on loopback, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{
		regions: map[string]map[string]string{"": {}},
		trails:  map[string]Trail{},
		keys:    map[string]*key{},
		roles:   map[string]role{},
		faults:  map[faultKey]*Fault{},
		now:     time.Now,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Env points the AWS SDK of the test process at s for CloudTrail, EC2 and STS
// (AWS_ENDPOINT_URL_CLOUDTRAIL, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_STS), gives it k as its
// credentials, and keeps it from reading the user's AWS configuration files or the instance
// metadata service. The region stays the caller's to set (AWS_REGION, or the Region of
// awsutil.Access). It uses t.Setenv, so the test cannot be parallel.
func (s *Server) Env(t testing.TB, k Key) {
	dir := t.TempDir()
	for name, v := range map[string]string{
		"AWS_ENDPOINT_URL_CLOUDTRAIL":         s.URL,
		"AWS_ENDPOINT_URL_EC2":                s.URL,
		"AWS_ENDPOINT_URL_STS":                s.URL,
		"AWS_ENDPOINT_URL":                    "",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "",
		"AWS_ACCESS_KEY_ID":                   k.ID,
		"AWS_SECRET_ACCESS_KEY":               k.Secret,
		"AWS_SESSION_TOKEN":                   k.Token,
		"AWS_PROFILE":                         "",
		"AWS_CONFIG_FILE":                     filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":         filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":           "true",
		"AWS_ROLE_ARN":                        "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":         "",
	} {
		t.Setenv(name, v)
	}
}

// AddUser creates an IAM user with a long-term access key in account and returns the key.
func (s *Server) AddUser(account, name string) Key {
	k := Key{ID: "AKIA" + randomID(16), Secret: randomID(40)}
	s.AddKey(account, "arn:aws:iam::"+account+":user/"+name, k)
	return k
}

// AddKey makes k a long-term key of principal (an ARN) in account: for fixed keys such as
// an emulator's test/test.
func (s *Server) AddKey(account, principal string, k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = &key{Key: k, account: account, principal: principal}
}

// AddRole creates the role arn (arn:aws:iam::<account>:role/<name>). AssumeRole of it needs
// externalID when that is not empty, and a caller among trusted (account IDs or principal
// ARNs) when that is not empty.
func (s *Server) AddRole(arn, externalID string, trusted ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[arn] = role{externalID: externalID, trusted: trusted}
}

// AddRegion adds a region of every account with its opt-in status, or changes its status.
func (s *Server) AddRegion(name, optInStatus string) { s.SetRegion("", name, optInStatus) }

// SetRegion sets a region's opt-in status for one account, over the status AddRegion gave
// every account.
func (s *Server) SetRegion(account, name, optInStatus string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.regions[account] == nil {
		s.regions[account] = map[string]string{}
	}
	s.regions[account][name] = optInStatus
	if !slices.Contains(s.order, name) {
		s.order = append(s.order, name)
	}
}

// RemoveRegion removes a region from every account.
func (s *Server) RemoveRegion(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.regions {
		delete(m, name)
	}
	s.order = slices.DeleteFunc(s.order, func(r string) bool { return r == name })
}

// PutTrail creates or replaces a trail and returns its ARN.
func (s *Server) PutTrail(t Trail) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trails[t.ARN()] = t
	return t.ARN()
}

// RemoveTrail deletes the trail arn.
func (s *Server) RemoveTrail(arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.trails, arn)
}

// SetLogging starts or stops the trail arn's logging.
func (s *Server) SetLogging(arn string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.trails[arn]; ok {
		t.Logging = on
		s.trails[arn] = t
	}
}

// Fail makes the server answer f to service's action ("" for every action) in region (""
// for every region) instead of carrying it out, until ClearFaults or f.Times requests.
func (s *Server) Fail(service, action, region string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Status == 0 {
		f.Status = http.StatusBadRequest
	}
	s.faults[faultKey{service, action, region}] = &f
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// Calls returns the requests answered so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ResetCalls forgets the requests answered so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// fault returns the fault for a request, counting it, or nil. s.mu is held.
func (s *Server) fault(service, action, region string) *Fault {
	for _, k := range []faultKey{{service, action, region}, {service, action, ""}, {service, "", region}, {service, "", ""}} {
		f, ok := s.faults[k]
		if !ok {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				delete(s.faults, k)
			}
		}
		return f
	}
	return nil
}

// optIn returns the region's opt-in status for account, "" when it has no such region.
// s.mu is held.
func (s *Server) optIn(account, region string) string {
	if st, ok := s.regions[account][region]; ok {
		return st
	}
	return s.regions[""][region]
}

// enabled reports whether account can use region. s.mu is held.
func (s *Server) enabled(account, region string) bool {
	st := s.optIn(account, region)
	return st == OptInNotRequired || st == OptedIn
}

// requestID returns a new request ID. s.mu is held.
func (s *Server) requestID() string {
	s.nextID++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", s.nextID)
}

// request is one request, read and authenticated.
type request struct {
	service, action, region string
	caller                  *key // nil when authentication failed
	body                    []byte
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := &request{body: body}
	auth, authErr := parseAuthorization(r.Header.Get("Authorization"))
	if authErr == nil {
		req.service, req.region = auth.service, auth.region
	} else {
		req.service = guessService(r, body)
	}
	p, ok := protocols[req.service]
	if !ok {
		http.Error(w, fmt.Sprintf("unknown service %q", req.service), http.StatusBadRequest)
		return
	}
	req.action = p.action(r, body)

	s.mu.Lock()
	defer s.mu.Unlock()
	rid := s.requestID()
	status := 0
	reply := func(st int, b []byte, header map[string]string) {
		status = st
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("X-Amzn-RequestId", rid)
		w.WriteHeader(st)
		_, _ = w.Write(b)
	}
	defer func() {
		c := Call{Service: req.service, Action: req.action, Region: req.region, Status: status}
		if authErr == nil {
			c.AccessKey = auth.accessKey
		}
		if req.caller != nil {
			c.Principal = req.caller.principal
		}
		s.calls = append(s.calls, c)
	}()
	fail := func(e apiError) { reply(p.errorResponse(e, rid)) }

	if authErr != nil {
		fail(p.authError(authMissing, authErr.Error()))
		return
	}
	if kind, msg := s.authenticate(r, body, auth); kind != authOK {
		fail(p.authError(kind, msg))
		return
	}
	req.caller = s.keys[auth.accessKey]
	if f := s.fault(req.service, req.action, req.region); f != nil {
		fail(apiError{status: f.Status, code: f.Code, message: f.Message})
		return
	}
	st, b, h, e := p.handle(s, r, req)
	if e != nil {
		fail(*e)
		return
	}
	reply(st, b, h)
}

// guessService names the service of a request without a signature, for its error's format.
func guessService(r *http.Request, body []byte) string {
	if r.Header.Get("X-Amz-Target") != "" {
		return "cloudtrail"
	}
	if strings.Contains(string(body), "Action=AssumeRole") {
		return "sts"
	}
	return "ec2"
}

// apiError is an error answer.
type apiError struct {
	status        int
	code, message string
}

// protocol is how one service reads requests and writes answers.
type protocol struct {
	action        func(r *http.Request, body []byte) string
	handle        func(s *Server, r *http.Request, req *request) (status int, body []byte, header map[string]string, err *apiError)
	errorResponse func(e apiError, requestID string) (int, []byte, map[string]string)
	authError     func(kind authFailure, msg string) apiError
}

var protocols map[string]protocol

func init() {
	protocols = map[string]protocol{
		"cloudtrail": cloudTrailProtocol,
		"ec2":        ec2Protocol,
		"sts":        stsProtocol,
	}
}

const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return string(b)
}
