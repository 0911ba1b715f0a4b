package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/chromedp/chromedp"

	"github.com/trailstream/trailstream/pkg/auth"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
	"github.com/trailstream/trailstream/services/console/consoletest"
	"github.com/trailstream/trailstream/services/console/oidctest"
)

const (
	ssoClientID     = "trailstream-console"
	ssoClientSecret = "sso client secret, long and random"
)

// ssoAlice is the issuer's usual user: an admin by her groups.
var ssoAlice = oidctest.User{Subject: "00u1alice", Claims: map[string]any{
	"preferred_username": "alice", "email": "alice@example.com", "groups": []string{"engineering", "trailstream-admins"}}}

// ssoConsole is a console whose only sign-in is single sign-on through a test issuer.
type ssoConsole struct {
	url  string
	conn driver.Conn
	db   string
	iss  *oidctest.Issuer
}

// startIssuer starts a test issuer of the console's client, signing in ssoAlice unless cfg
// names a user.
func startIssuer(t *testing.T, cfg oidctest.Config) *oidctest.Issuer {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID, cfg.ClientSecret = ssoClientID, ssoClientSecret
	}
	if cfg.User.Subject == "" {
		cfg.User = ssoAlice
	}
	iss, err := oidctest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	return iss
}

// ssoAuth is the console's settings for iss, the defaults' claim mapping (groups:
// trailstream-admins, trailstream-viewers).
func ssoAuth(iss *oidctest.Issuer) config.ConsoleAuth {
	a := config.Default().ConsoleAuth
	a.OIDCIssuer, a.OIDCClientID, a.OIDCClientSecret = iss.URL, ssoClientID, ssoClientSecret
	return a
}

// newSSOConsole serves a console over a private database with single sign-on set up from a
// by console.NewSecurity, as Run does.
func newSSOConsole(t *testing.T, iss *oidctest.Issuer, a config.ConsoleAuth) *ssoConsole {
	t.Helper()
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	s := &ssoConsole{conn: conn, db: c.ClickHouseDatabase, iss: iss}
	s.url = httpServer(t, s.handler(t, a))
	return s
}

func (s *ssoConsole) handler(t *testing.T, a config.ConsoleAuth) http.Handler {
	t.Helper()
	sec, err := console.NewSecurity(context.Background(), a)
	if err != nil {
		t.Fatalf("NewSecurity: %v", err)
	}
	if sec.OIDC == nil {
		t.Fatal("NewSecurity set up no single sign-on")
	}
	return console.Handler(s.conn, s.db, console.Options{Security: sec})
}

// browserClient is a client with a cookie jar that follows redirects, as a browser does.
// Go's jar, like browsers, treats loopback as a secure origin: it keeps the console's
// Secure cookies over http://127.0.0.1 and sends them back there (and not to a host that
// is not loopback over plain HTTP).
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// stepper returns a client sharing c's jar that hands back redirects instead of following
// them.
func stepper(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, Timeout: c.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// fetch GETs u with c and returns the answer with its body read.
func fetch(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return res, string(b)
}

// toIssuer starts single sign-on on the console with next and returns the issuer's
// authorization URL it redirects to, checking the sign-in cookie it sets.
func (s *ssoConsole) toIssuer(t *testing.T, c *http.Client, next string) string {
	t.Helper()
	res, _ := fetch(t, stepper(c), s.url+"/auth/oidc/login?next="+url.QueryEscape(next))
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.iss.URL+oidctest.AuthorizePath+"?") {
		t.Fatalf("/auth/oidc/login: %s to %q, want 302 to the issuer's authorization endpoint", res.Status, loc)
	}
	var flow *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == "trailstream_oidc" {
			flow = k
		}
	}
	switch {
	case flow == nil || flow.Value == "":
		t.Fatalf("/auth/oidc/login set no sign-in cookie: %v", res.Header["Set-Cookie"])
	case !flow.HttpOnly || !flow.Secure || flow.SameSite != http.SameSiteLaxMode || flow.Path != "/auth/oidc/" || flow.MaxAge <= 0 || flow.MaxAge > 600:
		t.Fatalf("the sign-in cookie is %q, want HttpOnly, Secure, SameSite=Lax, Path=/auth/oidc/, at most 10 minutes", res.Header.Get("Set-Cookie"))
	case strings.Contains(flow.Value, next) && next != "/":
		t.Fatalf("the sign-in cookie shows what it holds: %q", flow.Value)
	}
	return loc
}

// toCallback has the issuer sign in and returns the console's callback URL it sends back to.
func (s *ssoConsole) toCallback(t *testing.T, c *http.Client, authorizeURL string) string {
	t.Helper()
	res, body := fetch(t, stepper(c), authorizeURL)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.url+"/auth/oidc/callback?") {
		t.Fatalf("the issuer answered %s to %q (%s), want 302 to the console's callback", res.Status, loc, body)
	}
	return loc
}

// me returns who the console says c is signed in as, "" when it answers 401.
func (s *ssoConsole) me(t *testing.T, c *http.Client) map[string]string {
	t.Helper()
	res, body := fetch(t, stepper(c), s.url+"/api/me")
	if res.StatusCode == http.StatusUnauthorized {
		return nil
	}
	var me map[string]string
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &me) != nil {
		t.Fatalf("/api/me: %s %s", res.Status, body)
	}
	return me
}

// lastAudit returns the newest entry of the audit log.
func (s *ssoConsole) lastAudit(t *testing.T) auth.Entry {
	t.Helper()
	es, err := auth.NewAudit(s.conn, s.db, nil).Recent(context.Background(), 1)
	if err != nil || len(es) == 0 {
		t.Fatalf("audit log: %v, %d entries", err, len(es))
	}
	return es[0]
}

// TestOIDCSignIn signs in through the test issuer with a client that follows redirects and
// keeps cookies: as an admin, as a viewer, with the role claim nested, from an issuer that
// takes the client's secret only in the form, and back to the page asked for (a path of
// the console only).
func TestOIDCSignIn(t *testing.T) {
	iss := startIssuer(t, oidctest.Config{})
	s := newSSOConsole(t, iss, ssoAuth(iss))

	c := browserClient(t)
	if me := s.me(t, c); me != nil {
		t.Fatalf("before signing in /api/me says %v", me)
	}
	var hops []string
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		hops = append(hops, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path)
		return nil
	}
	res, body := fetch(t, c, s.url+"/auth/oidc/login?next="+url.QueryEscape("/d/operations?range=24h"))
	want := []string{iss.URL + "/authorize", s.url + "/auth/oidc/callback", s.url + "/d/operations"}
	if strings.Join(hops, " ") != strings.Join(want, " ") {
		t.Errorf("the sign-in went %v, want %v", hops, want)
	}
	if res.StatusCode != http.StatusOK || res.Request.URL.RequestURI() != "/d/operations?range=24h" || !strings.Contains(body, `data-page="operations"`) {
		t.Fatalf("the sign-in landed on %s: %s, want the Operations dashboard", res.Request.URL, res.Status)
	}
	if me := s.me(t, c); me["user"] != "alice" || me["role"] != "admin" || me["method"] != "oidc" {
		t.Fatalf("signed in through the issuer, /api/me says %v; want alice, admin, oidc", me)
	}
	if e := s.lastAudit(t); e.User != "alice" || e.Role != "admin" || e.Action != "login" || e.Outcome != auth.OK || e.Detail != "oidc" {
		t.Errorf("the audit log's last entry is %+v, want alice's oidc login as admin", e)
	}
	// The authorization request: PKCE with S256, the nonce, scope openid, the built
	// callback URL.
	q := iss.LastAuthorization()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("nonce")) < 32 || len(q.Get("state")) < 32 ||
		!strings.Contains(" "+q.Get("scope")+" ", " openid ") || q.Get("redirect_uri") != s.url+"/auth/oidc/callback" || q.Get("client_id") != ssoClientID {
		t.Errorf("the authorization request: %v", q)
	}
	// An admin may read the audit log.
	if res, _ := fetch(t, stepper(c), s.url+"/api/audit"); res.StatusCode != http.StatusOK {
		t.Errorf("alice, admin by single sign-on, GET /api/audit: %s", res.Status)
	}

	// A viewer: the claim a single string.
	iss.SetUser(oidctest.User{Subject: "00u2bob", Claims: map[string]any{"email": "bob@example.com", "groups": "trailstream-viewers"}})
	v := browserClient(t)
	if res, _ := fetch(t, v, s.url+"/auth/oidc/login?next=/events"); res.StatusCode != http.StatusOK || res.Request.URL.Path != "/events" {
		t.Fatalf("bob's sign-in landed on %s: %s", res.Request.URL, res.Status)
	}
	if me := s.me(t, v); me["user"] != "bob@example.com" || me["role"] != "viewer" || me["method"] != "oidc" {
		t.Fatalf("bob signed in, /api/me says %v; want bob@example.com (his email: no preferred_username), viewer, oidc", me)
	}
	if res, _ := fetch(t, stepper(v), s.url+"/api/audit"); res.StatusCode != http.StatusForbidden {
		t.Errorf("bob, viewer, GET /api/audit: %s, want 403", res.Status)
	}

	// Both values: admin. No name but the subject (the email is said to be unverified):
	// the subject. Another site as next: the console's home.
	iss.SetUser(oidctest.User{Subject: "00u3carol", Claims: map[string]any{"email": "carol@example.com", "email_verified": false,
		"groups": []string{"trailstream-viewers", "trailstream-admins"}}})
	w := browserClient(t)
	if res, _ := fetch(t, w, s.url+"/auth/oidc/login?next="+url.QueryEscape("//evil.example/steal")); res.Request.URL.String() != s.url+"/" {
		t.Errorf("a sign-in with next=//evil.example/steal landed on %s, want %s/", res.Request.URL, s.url)
	}
	if me := s.me(t, w); me["user"] != "00u3carol" || me["role"] != "admin" {
		t.Errorf("carol signed in, /api/me says %v; want 00u3carol, admin", me)
	}

	// A role claim nested in an object, as Keycloak's realm_access.roles, from an issuer
	// that takes the client's secret in the form only.
	post := startIssuer(t, oidctest.Config{AuthMethods: []string{"client_secret_post"}, User: oidctest.User{Subject: "00u4dave",
		Claims: map[string]any{"preferred_username": "dave", "realm_access": map[string]any{"roles": []string{"ops", "console-admin"}}}}})
	a := ssoAuth(post)
	a.OIDCRoleClaim, a.OIDCAdminValues, a.OIDCViewerValues = "realm_access.roles", []string{"console-admin"}, []string{"console-viewer"}
	p := newSSOConsole(t, post, a)
	d := browserClient(t)
	if res, body := fetch(t, d, p.url+"/auth/oidc/login"); res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
		t.Fatalf("dave's sign-in landed on %s: %s %.300s", res.Request.URL, res.Status, body)
	}
	if me := p.me(t, d); me["user"] != "dave" || me["role"] != "admin" {
		t.Errorf("dave signed in, /api/me says %v; want dave, admin", me)
	}
	if n := post.Counts(); n.Token != 1 || n.Issued != 1 {
		t.Errorf("the issuer answered %d token requests and issued %d tokens, want 1 and 1 (the secret sent the one way it takes)", n.Token, n.Issued)
	}
}

// TestOIDCRefusals refuses each misbehaviour of the issuer, a user without a role, a forged
// or replayed callback and a missing or altered sign-in cookie: the login page says why in
// plain words, nobody is signed in, and the audit log says what happened.
func TestOIDCRefusals(t *testing.T) {
	iss := startIssuer(t, oidctest.Config{})
	s := newSSOConsole(t, iss, ssoAuth(iss))

	cases := []struct {
		name    string
		user    *oidctest.User
		faults  oidctest.Faults
		forge   func(t *testing.T, c *http.Client, callback string) string // changes the callback request
		status  int
		problem string
		detail  string // what the audit entry's detail starts with
		user0   string // the audit entry's user
		exchang bool   // the code was exchanged
	}{
		{name: "wrong audience", faults: oidctest.Faults{WrongAudience: true}, status: 401, problem: "could not be verified",
			detail: `oidc: ID token invalid: expected audience "trailstream-console"`, exchang: true},
		{name: "expired", faults: oidctest.Faults{Expired: true}, status: 401, problem: "could not be verified",
			detail: "oidc: ID token invalid: token is expired", exchang: true},
		{name: "wrong nonce", faults: oidctest.Faults{WrongNonce: true}, status: 401, problem: "could not be verified",
			detail: "oidc: ID token invalid: nonce mismatch", exchang: true},
		{name: "unknown signing key", faults: oidctest.Faults{UnknownKey: true}, status: 401, problem: "could not be verified",
			detail: "oidc: ID token invalid: failed to verify signature", exchang: true},
		{name: "no role claim", faults: oidctest.Faults{NoRoleClaim: true}, status: 403, problem: "no role on this console",
			detail: "oidc: no role: the ID token has no groups claim", user0: "alice", exchang: true},
		{name: "neither role", user: &oidctest.User{Subject: "00u9eve", Claims: map[string]any{"preferred_username": "eve", "groups": []string{"engineering", "trailstream-admins-old"}}},
			status: 403, problem: "no role on this console",
			detail: "oidc: no role: the groups claim holds none of the admin or viewer values: engineering, trailstream-admins-old", user0: "eve", exchang: true},
		{name: "role claim of numbers", user: &oidctest.User{Subject: "00u9eve", Claims: map[string]any{"preferred_username": "eve", "groups": []int{1, 2}}},
			status: 403, problem: "no role on this console", detail: "oidc: no role: the groups claim is not a string or a list of strings", user0: "eve", exchang: true},
		{name: "user name with a control character", user: &oidctest.User{Subject: "00u9mal", Claims: map[string]any{"preferred_username": "mal\x1b[31mlory", "groups": "trailstream-admins"}},
			status: 403, problem: "no user name this console can use", detail: "oidc: user name refused (subject 00u9mal)", exchang: true},
		{name: "issuer refused", faults: oidctest.Faults{AuthorizationError: "access_denied"}, status: 401, problem: "refused the sign-in",
			detail: "oidc: the issuer answered access_denied"},
		{name: "state mismatch", status: 400, problem: "start it again", detail: "oidc: state mismatch",
			forge: func(t *testing.T, c *http.Client, cb string) string {
				u, _ := url.Parse(cb)
				q := u.Query()
				q.Set("state", "an attacker's state")
				u.RawQuery = q.Encode()
				return u.String()
			}},
		{name: "no state", status: 400, problem: "start it again", detail: "oidc: state mismatch",
			forge: func(t *testing.T, c *http.Client, cb string) string {
				u, _ := url.Parse(cb)
				q := u.Query()
				q.Del("state")
				u.RawQuery = q.Encode()
				return u.String()
			}},
		{name: "no sign-in cookie (a callback made for another browser)", status: 400, problem: "start it again",
			detail: "oidc: no sign-in in progress: no state cookie",
			forge: func(t *testing.T, c *http.Client, cb string) string {
				jar, _ := cookiejar.New(nil)
				c.Jar = jar
				return cb
			}},
		{name: "altered sign-in cookie", status: 400, problem: "start it again", detail: "oidc: no sign-in in progress: state cookie refused",
			forge: func(t *testing.T, c *http.Client, cb string) string {
				u, _ := url.Parse(cb)
				for _, k := range c.Jar.Cookies(u) {
					if k.Name == "trailstream_oidc" {
						b := []byte(k.Value)
						b[len(b)/2] ^= 1
						jar, _ := cookiejar.New(nil)
						jar.SetCookies(u, []*http.Cookie{{Name: k.Name, Value: string(b), Path: "/auth/oidc/"}})
						c.Jar = jar
						return cb
					}
				}
				t.Fatal("no sign-in cookie in the jar")
				return ""
			}},
		{name: "no code", status: 400, problem: "start it again", detail: "oidc: no code in the callback",
			forge: func(t *testing.T, c *http.Client, cb string) string {
				u, _ := url.Parse(cb)
				q := u.Query()
				q.Del("code")
				u.RawQuery = q.Encode()
				return u.String()
			}},
		{name: "unknown code", status: 401, problem: "refused the sign-in", detail: "oidc: the token endpoint refused the code: invalid_grant", exchang: true,
			forge: func(t *testing.T, c *http.Client, cb string) string {
				u, _ := url.Parse(cb)
				q := u.Query()
				q.Set("code", "a code of the attacker's")
				u.RawQuery = q.Encode()
				return u.String()
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user := ssoAlice
			if tc.user != nil {
				user = *tc.user
			}
			iss.SetUser(user)
			iss.SetFaults(tc.faults)
			defer iss.SetFaults(oidctest.Faults{})
			c := browserClient(t)
			cb := s.toCallback(t, c, s.toIssuer(t, c, "/detections"))
			if tc.forge != nil {
				cb = tc.forge(t, c, cb)
			}
			before := iss.Counts().Token
			res, body := fetch(t, stepper(c), cb)
			if res.StatusCode != tc.status || !strings.Contains(body, `id="login-problem"`) || !strings.Contains(body, tc.problem) {
				t.Errorf("the callback answered %s, want %d and the login page saying %q:\n%.2000s", res.Status, tc.status, tc.problem, body)
			}
			for _, k := range res.Cookies() {
				if k.Name == "trailstream_session" && k.Value != "" {
					t.Errorf("a refused sign-in set a session cookie")
				}
			}
			if strings.Contains(body, iss.URL) || strings.Contains(body, "oidc:") {
				t.Errorf("the refusal shows internal details:\n%.2000s", body)
			}
			if me := s.me(t, c); me != nil {
				t.Errorf("after a refused sign-in /api/me says %v", me)
			}
			if got := iss.Counts().Token - before; (got > 0) != tc.exchang {
				t.Errorf("the console sent %d token requests, want the code exchanged: %v", got, tc.exchang)
			}
			e := s.lastAudit(t)
			if e.Action != "login-failed" || e.Outcome != auth.Denied || !strings.HasPrefix(e.Detail, tc.detail) || e.User != tc.user0 || e.Remote != "127.0.0.1" {
				t.Errorf("the audit log's last entry is %+v, want login-failed, denied, user %q, from 127.0.0.1, detail %q...", e, tc.user0, tc.detail)
			}
		})
	}

	// A callback replayed after its sign-in: the cookie is gone; with the cookie put back,
	// the issuer refuses its code, which served once.
	c := browserClient(t)
	cb := s.toCallback(t, c, s.toIssuer(t, c, "/"))
	u, _ := url.Parse(cb)
	flow := c.Jar.Cookies(u)
	if res, _ := fetch(t, stepper(c), cb); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("a good callback answered %s, want 303", res.Status)
	}
	if res, body := fetch(t, stepper(c), cb); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "start it again") {
		t.Errorf("the callback replayed: %s, want 400", res.Status)
	}
	if e := s.lastAudit(t); !strings.HasPrefix(e.Detail, "oidc: no sign-in in progress: no state cookie") {
		t.Errorf("the replay's audit entry: %+v", e)
	}
	again := browserClient(t)
	again.Jar.SetCookies(u, flow)
	if res, _ := fetch(t, stepper(again), cb); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the callback replayed with its cookie: %s, want 401", res.Status)
	}
	if e := s.lastAudit(t); e.Detail != "oidc: the token endpoint refused the code: invalid_grant" {
		t.Errorf("the replay with its cookie's audit entry: %+v", e)
	}
	if me := s.me(t, again); me != nil {
		t.Errorf("a replayed callback signed in: %v", me)
	}
}

// TestOIDCIssuerDown: an issuer that stops answering between the authorization and the
// token exchange is a failure of the provider, said so, and audited as failed.
func TestOIDCIssuerDown(t *testing.T) {
	iss := startIssuer(t, oidctest.Config{})
	s := newSSOConsole(t, iss, ssoAuth(iss))
	c := browserClient(t)
	cb := s.toCallback(t, c, s.toIssuer(t, c, "/"))
	iss.Close()
	res, body := fetch(t, stepper(c), cb)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "could not be reached") || strings.Contains(body, iss.URL) {
		t.Errorf("the callback with the issuer down: %s\n%.1000s", res.Status, body)
	}
	if e := s.lastAudit(t); e.Action != "login-failed" || e.Outcome != auth.Failed || e.Detail != "oidc: the token endpoint did not answer" {
		t.Errorf("the audit entry: %+v", e)
	}
}

// TestOIDCTwoConsoles starts the sign-in on one console and ends it on another of the same
// client (behind a load balancer that is not sticky): the second reads the first's cookie.
func TestOIDCTwoConsoles(t *testing.T) {
	iss := startIssuer(t, oidctest.Config{})
	first := newSSOConsole(t, iss, ssoAuth(iss))
	second := httptest.NewUnstartedServer(nil)
	t.Cleanup(second.Close)
	a := ssoAuth(iss)
	a.OIDCRedirectURL = "http://" + second.Listener.Addr().String() + "/auth/oidc/callback"
	second.Config.Handler = first.handler(t, a)
	second.Start()
	// The first console also sends the issuer to the second's callback.
	first.url = httpServer(t, first.handler(t, a))
	c := browserClient(t)
	authorizeURL := first.toIssuer(t, c, "/sources")
	res, body := fetch(t, stepper(c), authorizeURL)
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, second.URL+"/auth/oidc/callback?") {
		t.Fatalf("the issuer sent the browser to %q (%s), want the second console's callback", loc, body)
	}
	res, _ = fetch(t, c, res.Header.Get("Location"))
	if res.StatusCode != http.StatusOK || res.Request.URL.String() != second.URL+"/sources" {
		t.Fatalf("the second console's callback landed on %s: %s", res.Request.URL, res.Status)
	}
	if me := (&ssoConsole{url: second.URL}).me(t, c); me["user"] != "alice" || me["role"] != "admin" {
		t.Errorf("signed in on the second console as %v", me)
	}
}

// TestOIDCStart: NewOIDC refuses settings that cannot work and an issuer it cannot ask,
// each with an error naming the setting or the issuer.
func TestOIDCStart(t *testing.T) {
	iss := startIssuer(t, oidctest.Config{})
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return "http://" + ln.Addr().String()
	}()
	// An issuer that takes connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	cases := []struct {
		name   string
		change func(*config.ConsoleAuth)
		want   []string
	}{
		{"issuer not listening", func(a *config.ConsoleAuth) { a.OIDCIssuer = closed }, []string{"--oidc-issuer " + closed, "could not be read", "connection refused"}},
		{"issuer silent", func(a *config.ConsoleAuth) { a.OIDCIssuer = "http://" + silent.Addr().String() },
			[]string{"--oidc-issuer http://" + silent.Addr().String(), "could not be read", "deadline exceeded"}},
		{"issuer by another name", func(a *config.ConsoleAuth) { a.OIDCIssuer = strings.Replace(iss.URL, "127.0.0.1", "localhost", 1) },
			[]string{"the issuer calls itself " + iss.URL}},
		{"plain http off loopback", func(a *config.ConsoleAuth) { a.OIDCIssuer = "http://sso.example.com" }, []string{"--oidc-issuer http://sso.example.com", "https"}},
		{"not a URL", func(a *config.ConsoleAuth) { a.OIDCIssuer = "sso.example.com" }, []string{`--oidc-issuer "sso.example.com"`}},
		{"no client", func(a *config.ConsoleAuth) { a.OIDCClientID = "" }, []string{"needs --oidc-client-id"}},
		{"no role claim", func(a *config.ConsoleAuth) { a.OIDCRoleClaim = "" }, []string{"--oidc-role-claim is empty"}},
		{"no values", func(a *config.ConsoleAuth) { a.OIDCAdminValues, a.OIDCViewerValues = nil, nil }, []string{"both empty"}},
		{"redirect elsewhere", func(a *config.ConsoleAuth) { a.OIDCRedirectURL = "https://console.example.com/callback" }, []string{"--oidc-redirect-url", "/auth/oidc/callback"}},
		{"redirect to another host", func(a *config.ConsoleAuth) { a.OIDCRedirectURL = "https://console.example.com/auth/oidc/callback" },
			[]string{"console.example.com is not among --console-hosts"}},
	}
	for _, tc := range cases {
		a := ssoAuth(iss)
		tc.change(&a)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		_, err := console.NewSecurity(ctx, a)
		cancel()
		if err == nil {
			t.Errorf("%s: NewSecurity took it", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), ssoClientSecret) {
			t.Errorf("%s: the error shows the client secret: %v", tc.name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", tc.name, d)
		}
	}
	before := iss.Counts().Discovery
	a := ssoAuth(iss)
	a.OIDCRedirectURL = "https://localhost/auth/oidc/callback"
	if _, err := console.NewSecurity(context.Background(), a); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
	if n := iss.Counts().Discovery - before; n != 1 {
		t.Errorf("NewSecurity asked the issuer's configuration %d times, want once", n)
	}
}

// TestOIDCInBrowser signs in with the login page's single sign-on button in Chromium, the
// console on localhost and the issuer on 127.0.0.1 (another site), over plain HTTP on
// loopback: the Secure sign-in cookie comes back to the callback after the issuer's
// redirect, and the browser lands on the Overview dashboard with its panels drawn. (That
// the cookie is SameSite=Lax is checked by the other tests; Chromium decides SameSite by
// the site that started the navigation, not the issuer that redirected it, so this test
// would pass with Strict too.)
func TestOIDCInBrowser(t *testing.T) {
	f := newFixture(t)
	iss := startIssuer(t, oidctest.Config{})
	sec, err := console.NewSecurity(context.Background(), ssoAuth(iss))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(console.Handler(f.conn, f.db, console.Options{HomeCountries: []string{"US"}, Security: sec}))
	t.Cleanup(srv.Close)
	origin := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	b := consoletest.NewBrowser(t, origin)
	b.Allow(iss.URL)
	ctx := b.Context()
	// at waits until the page's path and query are want; a navigation under way destroys
	// the context an evaluation runs in, so it asks again.
	at := func(want string) {
		t.Helper()
		var loc string
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.origin === "`+origin+`" && (location.pathname + location.search) === "`+want+`" && document.readyState === "complete"`)); err == nil && ok {
				return
			}
			loc, _ = chromedp.Run(ctx, chromedp.Location())
		}
		t.Fatalf("the browser is at %s, want %s%s", loc, origin, want)
	}
	text := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/d/overview")); err != nil {
		t.Fatal(err)
	}
	at("/login?next=%2Fd%2Foverview")
	if sso := text(`document.getElementById("sso")?.textContent ?? ""`); sso != "Sign in with single sign-on" {
		t.Fatalf("the login page's single sign-on button says %q", sso)
	}
	if err := chromedp.Do(ctx, chromedp.Click("#sso")); err != nil {
		t.Fatal(err)
	}
	at("/d/overview")
	if who := text(`document.querySelector("#session .who")?.textContent ?? ""`); !strings.Contains(who, "alice") || !strings.Contains(who, "admin") {
		t.Fatalf("signed in by single sign-on, the header shows %q, want alice, admin", who)
	}
	if c := text(`document.cookie`); strings.Contains(c, "trailstream_") {
		t.Fatalf("the page's script reads the console's cookies: %q", c)
	}
	consoletest.CheckPanels(t, "/d/overview", b.Panels(), consoletest.OverviewPanels)
	b.Screenshot("oidc-overview")
	if n := iss.Counts(); n.Authorize != 1 || n.Issued != 1 {
		t.Errorf("the issuer answered %d authorizations and issued %d ID tokens, want 1 and 1", n.Authorize, n.Issued)
	}
	b.CheckClean()
}
