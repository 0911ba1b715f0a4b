package oidctest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/trailstream/trailstream/services/console/oidctest"
)

const (
	clientID     = "console"
	clientSecret = "s3cret/with+odd=chars"
	redirectURI  = "http://127.0.0.1:1/auth/oidc/callback"
	// verifier is a code_verifier of RFC 7636's appendix B; challenge is its S256.
	verifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// noRedirects is a client that hands back redirects instead of following them.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

func start(t *testing.T, cfg oidctest.Config) *oidctest.Issuer {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID, cfg.ClientSecret = clientID, clientSecret
	}
	if cfg.User.Subject == "" {
		cfg.User = oidctest.User{Subject: "u-1", Claims: map[string]any{"preferred_username": "alice", "groups": []string{"admins"}}}
	}
	iss, err := oidctest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	return iss
}

// authParams are a valid authorization request's parameters.
func authParams() url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {"openid profile"}, "state": {"st-1"}, "nonce": {"n-1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
}

// authorize sends an authorization request and returns the answer.
func authorize(t *testing.T, iss *oidctest.Issuer, q url.Values) *http.Response {
	t.Helper()
	res, err := noRedirects.Get(iss.URL + oidctest.AuthorizePath + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// code runs a valid authorization request and returns the code it redirects back with.
func code(t *testing.T, iss *oidctest.Issuer) string {
	t.Helper()
	res := authorize(t, iss, authParams())
	back := redirectedTo(t, res)
	if back.Query().Get("state") != "st-1" || back.Query().Get("code") == "" {
		t.Fatalf("redirected back to %s, want a code and state st-1", back)
	}
	return back.Query().Get("code")
}

func redirectedTo(t *testing.T, res *http.Response) *url.URL {
	t.Helper()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorization answered %s, want 302", res.Status)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type tokenAnswer struct {
	status      int
	IDToken     string `json:"id_token"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
}

// exchange posts form to the token endpoint, with the client's credentials in HTTP Basic
// when basic is set.
func exchange(t *testing.T, iss *oidctest.Issuer, form url.Values, basic bool) tokenAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, iss.URL+oidctest.TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var a tokenAnswer
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
		t.Fatalf("token answer: %v", err)
	}
	a.status = res.StatusCode
	return a
}

func tokenForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
}

// keySet fetches the issuer's discovery document and the key set it names.
func keySet(t *testing.T, iss *oidctest.Issuer) jose.JSONWebKeySet {
	t.Helper()
	var meta map[string]any
	getJSON(t, iss.URL+"/.well-known/openid-configuration", &meta)
	for k, want := range map[string]string{"issuer": iss.URL, "authorization_endpoint": iss.URL + "/authorize",
		"token_endpoint": iss.URL + "/token", "jwks_uri": iss.URL + "/keys"} {
		if meta[k] != want {
			t.Errorf("discovery %s = %v, want %s", k, meta[k], want)
		}
	}
	var set jose.JSONWebKeySet
	getJSON(t, meta["jwks_uri"].(string), &set)
	if len(set.Keys) != 1 || set.Keys[0].Algorithm != "RS256" || set.Keys[0].KeyID == "" || !set.Keys[0].IsPublic() {
		t.Fatalf("key set %+v, want one public RS256 key with a kid", set.Keys)
	}
	return set
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	res, err := noRedirects.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// claims verifies raw's RS256 signature with set and returns its claims.
func claims(t *testing.T, set jose.JSONWebKeySet, raw string) (map[string]any, error) {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	payload, err := jws.Verify(set.Keys[0])
	if err != nil {
		return nil, err
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c, nil
}

func TestDiscoveryAndSignIn(t *testing.T) {
	iss := start(t, oidctest.Config{})
	set := keySet(t, iss)
	for _, basic := range []bool{true, false} {
		form := tokenForm(code(t, iss))
		if !basic {
			form.Set("client_id", clientID)
			form.Set("client_secret", clientSecret)
		}
		a := exchange(t, iss, form, basic)
		if a.status != http.StatusOK || a.IDToken == "" || a.AccessToken == "" || a.TokenType != "Bearer" {
			t.Fatalf("basic %v: token answer %d %+v, want 200 with tokens", basic, a.status, a)
		}
		c, err := claims(t, set, a.IDToken)
		if err != nil {
			t.Fatalf("basic %v: the ID token does not verify with the published key: %v", basic, err)
		}
		now := float64(time.Now().Unix())
		if c["iss"] != iss.URL || c["aud"] != clientID || c["sub"] != "u-1" || c["nonce"] != "n-1" || c["preferred_username"] != "alice" {
			t.Errorf("basic %v: claims %v", basic, c)
		}
		if g, ok := c["groups"].([]any); !ok || len(g) != 1 || g[0] != "admins" {
			t.Errorf("basic %v: groups %v, want [admins]", basic, c["groups"])
		}
		if exp, iat := c["exp"].(float64), c["iat"].(float64); exp < now+200 || exp > now+400 || iat < now-5 || iat > now+5 {
			t.Errorf("basic %v: iat %v exp %v, want now and in 5 minutes (now %v)", basic, iat, exp, now)
		}
	}
	if n := iss.Counts(); n.Authorize != 2 || n.Token != 2 || n.Issued != 2 {
		t.Errorf("counts %+v, want 2 authorizations, 2 token requests, 2 tokens", n)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	iss := start(t, oidctest.Config{RedirectURIs: []string{redirectURI}})
	// A wrong client or redirect URI is never redirected to.
	for name, change := range map[string][2]string{
		"unknown client":            {"client_id", "other"},
		"unregistered redirect URI": {"redirect_uri", "http://127.0.0.1:2/auth/oidc/callback"},
		"relative redirect URI":     {"redirect_uri", "/auth/oidc/callback"},
	} {
		q := authParams()
		q.Set(change[0], change[1])
		if res := authorize(t, iss, q); res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
			t.Errorf("%s: %s, Location %q; want 400 without a redirect", name, res.Status, res.Header.Get("Location"))
		}
	}
	// Other errors go back to the client with the state.
	for name, tc := range map[string]struct {
		drop, set, value, want string
	}{
		"no PKCE":          {drop: "code_challenge", want: "invalid_request"},
		"plain PKCE":       {set: "code_challenge_method", value: "plain", want: "invalid_request"},
		"no openid scope":  {set: "scope", value: "profile", want: "invalid_scope"},
		"implicit flow":    {set: "response_type", value: "id_token", want: "unsupported_response_type"},
		"configured error": {want: "access_denied"},
	} {
		q := authParams()
		if tc.drop != "" {
			q.Del(tc.drop)
		}
		if tc.set != "" {
			q.Set(tc.set, tc.value)
		}
		iss.SetFaults(oidctest.Faults{AuthorizationError: map[bool]string{true: "access_denied"}[name == "configured error"]})
		back := redirectedTo(t, authorize(t, iss, q))
		if back.Query().Get("error") != tc.want || back.Query().Get("state") != "st-1" || back.Query().Get("code") != "" {
			t.Errorf("%s: redirected back to %s, want error=%s with state st-1 and no code", name, back, tc.want)
		}
	}
}

func TestTokenRefusals(t *testing.T) {
	iss := start(t, oidctest.Config{})
	cases := []struct {
		name   string
		change func(url.Values)
		basic  bool
		status int
		want   string
	}{
		{"wrong secret in the form", func(f url.Values) { f.Set("client_id", clientID); f.Set("client_secret", "wrong") }, false, 401, "invalid_client"},
		{"no client authentication", func(f url.Values) { f.Set("client_id", clientID) }, false, 401, "invalid_client"},
		{"wrong verifier", func(f url.Values) { f.Set("code_verifier", strings.Repeat("a", 43)) }, true, 400, "invalid_grant"},
		{"no verifier", func(f url.Values) { f.Del("code_verifier") }, true, 400, "invalid_grant"},
		{"other redirect URI", func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:2/cb") }, true, 400, "invalid_grant"},
		{"unknown code", func(f url.Values) { f.Set("code", "nope") }, true, 400, "invalid_grant"},
		{"other grant type", func(f url.Values) { f.Set("grant_type", "password") }, true, 400, "unsupported_grant_type"},
	}
	for _, tc := range cases {
		f := tokenForm(code(t, iss))
		tc.change(f)
		if a := exchange(t, iss, f, tc.basic); a.status != tc.status || a.Error != tc.want || a.IDToken != "" {
			t.Errorf("%s: %d %q, want %d %q and no token", tc.name, a.status, a.Error, tc.status, tc.want)
		}
	}

	// A code is good once, even when the first exchange failed on its verifier.
	c := code(t, iss)
	if a := exchange(t, iss, tokenForm(c), true); a.status != http.StatusOK {
		t.Fatalf("first exchange: %d %s", a.status, a.Error)
	}
	if a := exchange(t, iss, tokenForm(c), true); a.status != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("second exchange of a code: %d %q, want 400 invalid_grant", a.status, a.Error)
	}
	c = code(t, iss)
	bad := tokenForm(c)
	bad.Set("code_verifier", strings.Repeat("b", 43))
	exchange(t, iss, bad, true)
	if a := exchange(t, iss, tokenForm(c), true); a.status != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("a code after a failed exchange: %d %q, want 400 invalid_grant", a.status, a.Error)
	}

	// A client restricted to one method may not use the other.
	post := start(t, oidctest.Config{AuthMethods: []string{"client_secret_post"}})
	if a := exchange(t, post, tokenForm(code(t, post)), true); a.status != http.StatusUnauthorized || a.Error != "invalid_client" {
		t.Errorf("basic auth on a client_secret_post client: %d %q, want 401 invalid_client", a.status, a.Error)
	}
}

func TestFaults(t *testing.T) {
	iss := start(t, oidctest.Config{})
	set := keySet(t, iss)
	token := func(f oidctest.Faults) (map[string]any, error) {
		t.Helper()
		iss.SetFaults(f)
		a := exchange(t, iss, tokenForm(code(t, iss)), true)
		if a.status != http.StatusOK {
			t.Fatalf("%+v: token answer %d %s", f, a.status, a.Error)
		}
		return claims(t, set, a.IDToken)
	}
	now := float64(time.Now().Unix())
	for name, tc := range map[string]struct {
		f     oidctest.Faults
		check func(map[string]any) bool
	}{
		"wrong audience": {oidctest.Faults{WrongAudience: true}, func(c map[string]any) bool { return c["aud"] != clientID && c["aud"] != nil }},
		"expired":        {oidctest.Faults{Expired: true}, func(c map[string]any) bool { return c["exp"].(float64) < now }},
		"wrong nonce":    {oidctest.Faults{WrongNonce: true}, func(c map[string]any) bool { return c["nonce"] != "n-1" && c["nonce"] != nil }},
		"no role claim": {oidctest.Faults{NoRoleClaim: true}, func(c map[string]any) bool {
			_, has := c["groups"]
			return !has && c["preferred_username"] == "alice"
		}},
	} {
		c, err := token(tc.f)
		if err != nil {
			t.Errorf("%s: the ID token does not verify: %v", name, err)
			continue
		}
		if !tc.check(c) {
			t.Errorf("%s: claims %v", name, c)
		}
	}
	if _, err := token(oidctest.Faults{UnknownKey: true}); err == nil {
		t.Error("unknown key: the ID token verifies with the published key")
	}
	if _, err := token(oidctest.Faults{}); err != nil {
		t.Errorf("after the faults: %v", err)
	}
}

// TestChallenge checks the test's own PKCE pair against RFC 7636's formula.
func TestChallenge(t *testing.T) {
	sum := sha256.Sum256([]byte(verifier))
	if got := base64.RawURLEncoding.EncodeToString(sum[:]); got != challenge {
		t.Fatalf("S256(%s) = %s, want %s (RFC 7636 appendix B)", verifier, got, challenge)
	}
}
