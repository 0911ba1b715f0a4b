package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/trailstream/trailstream/pkg/auth"
	"github.com/trailstream/trailstream/pkg/config"
)

// OIDC is single sign-on through an OpenID Connect issuer: the authorization code flow
// with state, nonce and PKCE (S256), the ID token verified (issuer, audience, expiry,
// signature by the issuer's published keys, nonce), and the role read from a claim.
//
// What a sign-in in progress must remember (state, nonce, PKCE verifier, the page to go
// back to) travels in a cookie encrypted and authenticated with AES-GCM, scoped to
// /auth/oidc/ and good for 10 minutes, rather than in the console's memory: an
// unauthenticated visitor can start any number of sign-ins, and a cookie costs the
// console nothing to hold, whereas a table in memory would need a bound that a flood of
// them could use to push out the sign-ins of real users. The key is derived from the
// client secret, so that every console instance of one client reads the cookies of the
// others (a load balancer need not be sticky); a public client, without a secret, gets a
// random key per process.
type OIDC struct {
	issuer      string
	verifier    *oidc.IDTokenVerifier
	oauth       oauth2.Config // without RedirectURL, which may depend on the request
	redirectURL string        // --oidc-redirect-url; empty: built from the request
	roleClaim   string
	admin       []string
	viewer      []string
	client      *http.Client // for the issuer: discovery, keys, token exchange
	aead        cipher.AEAD
	now         func() time.Time
}

const (
	// oidcCookie holds a sign-in in progress.
	oidcCookie = "trailstream_oidc"
	// oidcPath is the path of single sign-on's routes, and its cookie's.
	oidcPath         = "/auth/oidc/"
	oidcCallbackPath = oidcPath + "callback"
	// oidcFlowTTL is how long a sign-in may take at the issuer.
	oidcFlowTTL = 10 * time.Minute
	// oidcDiscoveryTimeout bounds the question to the issuer at start.
	oidcDiscoveryTimeout = 15 * time.Second
	// oidcRequestTimeout bounds each request to the issuer later: a key set, a token
	// exchange.
	oidcRequestTimeout = 15 * time.Second
)

// NewOIDC sets up single sign-on with the issuer of a: it checks the settings and asks the
// issuer for its configuration (discovery), giving up after 15 seconds or when ctx ends.
func NewOIDC(ctx context.Context, a config.ConsoleAuth) (*OIDC, error) {
	issuer := a.OIDCIssuer
	u, err := url.Parse(issuer)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("--oidc-issuer %q: want the issuer's https URL", issuer)
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return nil, fmt.Errorf("--oidc-issuer %s: an issuer must be reached over https (plain http only on loopback)", issuer)
	case a.OIDCClientID == "":
		return nil, fmt.Errorf("--oidc-issuer %s needs --oidc-client-id", issuer)
	case a.OIDCRoleClaim == "":
		return nil, errors.New("--oidc-role-claim is empty: single sign-on needs the claim that gives the role")
	case len(a.OIDCAdminValues) == 0 && len(a.OIDCViewerValues) == 0:
		return nil, errors.New("--oidc-admin-values and --oidc-viewer-values are both empty: nobody could sign in")
	}
	if a.OIDCRedirectURL != "" {
		r, err := url.Parse(a.OIDCRedirectURL)
		switch {
		case err != nil || r.Host == "" || (r.Scheme != "https" && r.Scheme != "http") || r.Path != oidcCallbackPath || r.RawQuery != "" || r.Fragment != "":
			return nil, fmt.Errorf("--oidc-redirect-url %q: want the console's callback, https://HOST%s", a.OIDCRedirectURL, oidcCallbackPath)
		case len(a.Hosts) > 0 && !slices.ContainsFunc(a.Hosts, func(h string) bool { return strings.EqualFold(strings.Trim(h, "[]"), r.Hostname()) }):
			return nil, fmt.Errorf("--oidc-redirect-url %s: its host %s is not among --console-hosts, which would refuse the callback", a.OIDCRedirectURL, r.Hostname())
		}
	}
	o := &OIDC{issuer: issuer, redirectURL: a.OIDCRedirectURL, roleClaim: a.OIDCRoleClaim,
		admin: a.OIDCAdminValues, viewer: a.OIDCViewerValues, now: time.Now}
	transport, _ := http.DefaultTransport.(*http.Transport)
	o.client = &http.Client{Timeout: oidcRequestTimeout, Transport: transport.Clone()}

	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.client), oidcDiscoveryTimeout)
	defer cancel()
	provider, err := oidc.NewProvider(dctx, issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("--oidc-issuer %s: the issuer calls itself %s; give exactly that URL", issuer, mismatch.Discovered)
		}
		return nil, fmt.Errorf("--oidc-issuer %s: the issuer's configuration (%s/.well-known/openid-configuration) could not be read: %w",
			issuer, strings.TrimSuffix(issuer, "/"), err)
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("--oidc-issuer %s: the issuer's configuration: %w", issuer, err)
	}
	endpoint := provider.Endpoint()
	// The client authenticates the way the issuer says it takes (client_secret_basic
	// when it does not say), rather than trying one and then the other.
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if a.OIDCClientSecret == "" || (len(meta.AuthMethods) > 0 && !slices.Contains(meta.AuthMethods, "client_secret_basic") &&
		slices.Contains(meta.AuthMethods, "client_secret_post")) {
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	o.oauth = oauth2.Config{ClientID: a.OIDCClientID, ClientSecret: a.OIDCClientSecret, Endpoint: endpoint,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	o.verifier = provider.VerifierContext(oidc.ClientContext(context.Background(), o.client),
		&oidc.Config{ClientID: a.OIDCClientID, Now: func() time.Time { return o.now() }})

	key := make([]byte, 32)
	if a.OIDCClientSecret != "" {
		key, err = hkdf.Key(sha256.New, []byte(a.OIDCClientSecret), []byte(issuer+"\x00"+a.OIDCClientID), "trailstream console oidc state", 32)
	} else {
		_, err = rand.Read(key)
	}
	if err != nil {
		return nil, fmt.Errorf("single sign-on: state key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("single sign-on: state key: %w", err)
	}
	if o.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("single sign-on: state key: %w", err)
	}
	return o, nil
}

// loopbackHost reports whether host names this machine only.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// oidcFlow is a sign-in in progress, what its cookie holds.
type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Redirect string `json:"r"` // the redirect_uri the authorization request named
	Next     string `json:"next"`
	Expires  int64  `json:"exp"` // Unix seconds
}

// seal encrypts f into a cookie value.
func (o *OIDC) seal(f oidcFlow) (string, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, o.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(o.aead.Seal(nonce, nonce, plain, []byte(oidcCookie))), nil
}

// open decrypts a cookie value that seal made and that has not expired.
func (o *OIDC) open(value string) (oidcFlow, error) {
	var f oidcFlow
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(b) < o.aead.NonceSize() {
		return f, errors.New("not a sign-in cookie")
	}
	plain, err := o.aead.Open(nil, b[:o.aead.NonceSize()], b[o.aead.NonceSize():], []byte(oidcCookie))
	if err != nil {
		return f, errors.New("the sign-in cookie does not decrypt (made by another key)")
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		return f, errors.New("not a sign-in cookie")
	}
	if o.now().Unix() > f.Expires {
		return f, errors.New("the sign-in took longer than 10 minutes")
	}
	return f, nil
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// redirectFor returns the callback URL for r: --oidc-redirect-url, else this console's
// callback on r's scheme and host (which checkHost restricted to --console-hosts).
func (o *OIDC) redirectFor(r *http.Request) string {
	if o.redirectURL != "" {
		return o.redirectURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + oidcCallbackPath
}

func setFlowCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: value, Path: oidcPath, MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

// oidcLogin serves GET /auth/oidc/login?next=PATH: it sends the browser to the issuer,
// which sends it back to the callback.
func (s *server) oidcLogin(w http.ResponseWriter, r *http.Request) {
	o := s.oidc()
	if o == nil {
		writeError(w, http.StatusNotFound, "this console has no single sign-on (--oidc-issuer)")
		return
	}
	f := oidcFlow{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(), Redirect: o.redirectFor(r),
		Next: safeNext(r.URL.Query().Get("next")), Expires: o.now().Add(oidcFlowTTL).Unix()}
	value, err := o.seal(f)
	if err != nil {
		slog.Error("console: single sign-on not started", "err", err)
		s.showLogin(w, http.StatusServiceUnavailable, loginPage{Next: f.Next, Problem: "Single sign-on could not start now; try again."})
		return
	}
	setFlowCookie(w, value, int(oidcFlowTTL.Seconds()))
	cfg := o.oauth
	cfg.RedirectURL = f.Redirect
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, cfg.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// oidcFailure is a refused single sign-on: what the audit log says (after "oidc: "), what
// the visitor is told, the answer's status, the outcome, and the user when known.
type oidcFailure struct {
	reason  string
	problem string
	status  int
	outcome string
	user    string
}

// oidcCallback serves GET /auth/oidc/callback: the issuer sends the browser back here with
// a code (or an error) and the state; a verified ID token with a role starts a session.
func (s *server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	o := s.oidc()
	if o == nil {
		writeError(w, http.StatusNotFound, "this console has no single sign-on (--oidc-issuer)")
		return
	}
	next := "/"
	var flow *oidcFlow
	ferr := errors.New("no state cookie: never started, expired, or already used")
	if c, err := r.Cookie(oidcCookie); err == nil {
		if f, err := o.open(c.Value); err != nil {
			ferr = fmt.Errorf("state cookie refused: %w", err)
		} else {
			flow, ferr, next = &f, nil, f.Next
		}
	}
	setFlowCookie(w, "", -1) // a sign-in's cookie serves once
	user, role, fail := o.verify(r, flow, ferr)
	if fail != nil {
		if fail.outcome == "" {
			fail.outcome = auth.Denied
		}
		s.recordEntry(r, auth.Entry{User: fail.user, Action: "login-failed", Outcome: fail.outcome, Detail: "oidc: " + fail.reason})
		s.showLogin(w, fail.status, loginPage{Next: next, Problem: fail.problem})
		return
	}
	if err := s.startSession(w, r, user, role, "oidc"); err != nil {
		slog.Error("console: session not started", "err", err)
		s.showLogin(w, http.StatusServiceUnavailable, loginPage{Next: next, Problem: "The console could not sign you in now; try again."})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// Problems shown for a refused single sign-on.
const (
	problemStartAgain = "The single sign-on did not complete: start it again."
	problemIssuer     = "The single sign-on provider could not be reached; try again later."
	problemRefused    = "The single sign-on provider refused the sign-in."
	problemToken      = "The single sign-on provider's answer could not be verified, so you are not signed in."
	problemName       = "Your single sign-on account has no user name this console can use."
	problemRole       = "You signed in, but your account has no role on this console (neither an admin nor a viewer group): ask an administrator for access."
)

// verify checks the callback r of the sign-in flow (nil, and ferr why, when its cookie was
// missing or refused): the state, the code exchanged for tokens, the ID token verified,
// then the user name and the role read from its claims.
func (o *OIDC) verify(r *http.Request, flow *oidcFlow, ferr error) (string, auth.Role, *oidcFailure) {
	q := r.URL.Query()
	if ferr != nil {
		return "", 0, &oidcFailure{reason: "no sign-in in progress: " + ferr.Error(), problem: problemStartAgain, status: http.StatusBadRequest}
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(flow.State)) != 1 {
		return "", 0, &oidcFailure{reason: "state mismatch", problem: problemStartAgain, status: http.StatusBadRequest}
	}
	if e := q.Get("error"); e != "" {
		return "", 0, &oidcFailure{reason: "the issuer answered " + printable(e, 64), problem: problemRefused, status: http.StatusUnauthorized}
	}
	code := q.Get("code")
	if code == "" {
		return "", 0, &oidcFailure{reason: "no code in the callback", problem: problemStartAgain, status: http.StatusBadRequest}
	}

	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), o.client), oidcRequestTimeout)
	defer cancel()
	cfg := o.oauth
	cfg.RedirectURL = flow.Redirect
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		var refused *oauth2.RetrieveError
		if errors.As(err, &refused) {
			slog.Warn("console: the issuer refused the code", "issuer", o.issuer, "error", refused.ErrorCode, "description", refused.ErrorDescription)
			return "", 0, &oidcFailure{reason: "the token endpoint refused the code: " + printable(refused.ErrorCode, 64),
				problem: problemRefused, status: http.StatusUnauthorized}
		}
		slog.Error("console: the issuer's token endpoint did not answer", "issuer", o.issuer, "err", err)
		return "", 0, &oidcFailure{reason: "the token endpoint did not answer", problem: problemIssuer, status: http.StatusBadGateway, outcome: auth.Failed}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", 0, &oidcFailure{reason: "no ID token in the token answer", problem: problemToken, status: http.StatusUnauthorized}
	}
	idToken, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		slog.Warn("console: ID token refused", "issuer", o.issuer, "err", err)
		return "", 0, &oidcFailure{reason: "ID token invalid: " + strings.TrimPrefix(err.Error(), "oidc: "), problem: problemToken, status: http.StatusUnauthorized}
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(flow.Nonce)) != 1 {
		return "", 0, &oidcFailure{reason: "ID token invalid: nonce mismatch", problem: problemToken, status: http.StatusUnauthorized}
	}
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return "", 0, &oidcFailure{reason: "ID token claims unreadable", problem: problemToken, status: http.StatusUnauthorized}
	}
	// A token for several audiences must say it was issued to this client (Core 3.1.3.7).
	if azp, _ := claims["azp"].(string); len(idToken.Audience) > 1 && azp != o.oauth.ClientID {
		return "", 0, &oidcFailure{reason: "ID token invalid: several audiences and azp is not this client", problem: problemToken, status: http.StatusUnauthorized}
	}
	name := userName(claims, idToken.Subject)
	if err := auth.CheckName(name); err != nil {
		return "", 0, &oidcFailure{reason: "user name refused (subject " + printable(idToken.Subject, 64) + "): " + err.Error(), problem: problemName, status: http.StatusForbidden}
	}
	role, why := o.role(claims)
	if role == auth.Public {
		return "", 0, &oidcFailure{reason: "no role: " + why, problem: problemRole, status: http.StatusForbidden, user: name}
	}
	return name, role, nil
}

// userName is the user an ID token names: preferred_username, else a verified (or not
// said to be unverified) email, else the subject.
func userName(claims map[string]any, subject string) string {
	if n, _ := claims["preferred_username"].(string); n != "" {
		return n
	}
	if e, _ := claims["email"].(string); e != "" && claims["email_verified"] != false {
		return e
	}
	return subject
}

// role is what the role claim gives: admin when it holds an admin value, else viewer
// when it holds a viewer value; else auth.Public and why.
func (o *OIDC) role(claims map[string]any) (auth.Role, string) {
	v, ok := claimAt(claims, o.roleClaim)
	if !ok {
		return auth.Public, fmt.Sprintf("the ID token has no %s claim", o.roleClaim)
	}
	var values []string
	switch v := v.(type) {
	case string:
		values = []string{v}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return auth.Public, fmt.Sprintf("the %s claim is not a string or a list of strings", o.roleClaim)
			}
			values = append(values, s)
		}
	default:
		return auth.Public, fmt.Sprintf("the %s claim is not a string or a list of strings", o.roleClaim)
	}
	has := func(want []string) bool {
		return slices.ContainsFunc(values, func(s string) bool { return slices.Contains(want, s) })
	}
	switch {
	case has(o.admin):
		return auth.Admin, ""
	case has(o.viewer):
		return auth.Viewer, ""
	}
	shown := slices.Clone(values[:min(len(values), 10)])
	for i, v := range shown {
		shown[i] = printable(v, 64)
	}
	return auth.Public, fmt.Sprintf("the %s claim holds none of the admin or viewer values: %s", o.roleClaim, strings.Join(shown, ", "))
}

// claimAt returns the claim name: a top-level claim of that name (which may hold dots, as
// namespaced claims like https://example.com/groups do), else the dotted path through
// objects (realm_access.roles).
func claimAt(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// printable returns s cut to n bytes with anything but printable ASCII replaced, for the
// audit log of values a client chose.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// oidc returns the console's single sign-on, nil without it.
func (s *server) oidc() *OIDC {
	if s.sec == nil {
		return nil
	}
	return s.sec.OIDC
}
