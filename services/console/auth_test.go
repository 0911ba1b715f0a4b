package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/crypto/bcrypt"

	"github.com/trailstream/trailstream/pkg/auth"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
)

// Passwords of the secured console's users.
const (
	alicePassword = "alice's password, long enough"
	bobPassword   = "bob's password, long enough"
)

// securedConsole is a console with users over a private database: alice is an admin, bob
// a viewer.
type securedConsole struct {
	url  string
	conn driver.Conn
	db   string
}

func newSecuredConsole(t *testing.T, sec *console.Security) securedConsole {
	t.Helper()
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	if sec == nil {
		sec = &console.Security{}
	}
	if sec.Users == nil {
		sec.Users = testUsers(t)
	}
	return securedConsole{url: httpServer(t, console.Handler(conn, c.ClickHouseDatabase, console.Options{Security: sec})), conn: conn, db: c.ClickHouseDatabase}
}

func testUsers(t *testing.T) *auth.Users {
	t.Helper()
	var b strings.Builder
	for _, u := range []struct{ name, password, role string }{{"alice", alicePassword, "admin"}, {"bob", bobPassword, "viewer"}} {
		h, err := bcrypt.GenerateFromPassword([]byte(u.password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s:%s\n", u.name, h, u.role)
	}
	users, err := auth.ParseUsers(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// noRedirects is a client that returns redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}

// login signs in through the login form and returns the answer and the session cookie.
func (s securedConsole) login(t *testing.T, user, password, next string) (*http.Response, *http.Cookie) {
	t.Helper()
	form := url.Values{"user": {user}, "password": {password}, "next": {next}}
	res, err := noRedirects.PostForm(s.url+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "trailstream_session" && c.Value != "" {
			return res, c
		}
	}
	return res, nil
}

// session signs in and returns the session cookie; the test fails if it cannot.
func (s securedConsole) session(t *testing.T, user, password string) *http.Cookie {
	t.Helper()
	res, c := s.login(t, user, password, "/")
	if c == nil {
		t.Fatalf("sign in as %s: %s, no session cookie", user, res.Status)
	}
	return c
}

// request sends method path with body and credentials: a session cookie, or a bearer token.
func (s securedConsole) request(t *testing.T, method, path, body string, cookie *http.Cookie, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// token creates an API token of role as alice and returns it.
func (s securedConsole) token(t *testing.T, admin *http.Cookie, name, role string) (id, token string) {
	t.Helper()
	res, b := s.request(t, http.MethodPost, "/api/tokens", fmt.Sprintf(`{"name":%q,"role":%q}`, name, role), admin, "")
	var ans struct{ ID, Token string }
	if err := json.Unmarshal([]byte(b), &ans); err != nil || res.StatusCode != http.StatusCreated || ans.Token == "" {
		t.Fatalf("POST /api/tokens: %s %s", res.Status, b)
	}
	return ans.ID, ans.Token
}

// auditActions returns the actions of the audit log, oldest first, as "user action outcome".
func (s securedConsole) auditActions(t *testing.T) []string {
	t.Helper()
	a := auth.NewAudit(s.conn, s.db, nil)
	es, err := a.Recent(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, strings.TrimSpace(es[i].User+" "+es[i].Action+" "+es[i].Outcome))
	}
	return out
}

// routePath is a request path for a route pattern: path values filled in.
func routePath(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = http.MethodGet, pattern
	}
	path = strings.ReplaceAll(path, "{$}", "")
	path = strings.ReplaceAll(path, "/d/{id}", "/d/overview")
	path = strings.ReplaceAll(path, "{id}", "nope")
	if path == "/static/" {
		path = "/static/app.css"
	}
	return method, path
}

// TestRoutesByRole walks every route of the console with no credentials, as a viewer and as
// an admin, with a session and with a token: each gets in exactly when its role allows.
func TestRoutesByRole(t *testing.T) {
	// The matrix posts the empty sign-in form from one address many times: no lockout here.
	lenient := auth.NewThrottle()
	lenient.Limit = 1 << 20
	s := newSecuredConsole(t, &console.Security{Throttle: lenient})
	admin := s.session(t, "alice", alicePassword)
	_, adminToken := s.token(t, admin, "matrix admin", "admin")
	_, viewerToken := s.token(t, admin, "matrix viewer", "viewer")
	type who struct {
		name  string
		role  auth.Role
		creds func() (*http.Cookie, string)
	}
	whos := []who{
		{"nobody", auth.Public, func() (*http.Cookie, string) { return nil, "" }},
		{"a wrong token", auth.Public, func() (*http.Cookie, string) { return nil, auth.TokenPrefix + "nope" }},
		{"a forged cookie", auth.Public, func() (*http.Cookie, string) { return &http.Cookie{Name: "trailstream_session", Value: "forged"}, "" }},
		{"viewer session", auth.Viewer, func() (*http.Cookie, string) { return s.session(t, "bob", bobPassword), "" }},
		{"viewer token", auth.Viewer, func() (*http.Cookie, string) { return nil, viewerToken }},
		{"admin session", auth.Admin, func() (*http.Cookie, string) { return s.session(t, "alice", alicePassword), "" }},
		{"admin token", auth.Admin, func() (*http.Cookie, string) { return nil, adminToken }},
	}
	routes := console.Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		method, path := routePath(rt.Pattern)
		methods := []string{method}
		if rt.Pattern == "/api/admin-users" {
			methods = []string{http.MethodGet, http.MethodPut}
		}
		for _, m := range methods {
			for _, w := range whos {
				t.Run(m+" "+path+" "+w.name, func(t *testing.T) {
					cookie, token := w.creds()
					body := ""
					if m == http.MethodPut {
						body = "alice\n"
					}
					res, b := s.request(t, m, path, body, cookie, token)
					denied := res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden ||
						(res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/login?"))
					switch {
					case rt.Role == auth.Public:
						// The sign-in form answers 401 to its empty form.
						if res.StatusCode == http.StatusUnauthorized && path != "/login" || res.StatusCode == http.StatusForbidden || res.StatusCode >= 500 {
							t.Fatalf("a public route refused %s: %s %.200s", w.name, res.Status, b)
						}
					case w.role == auth.Public:
						api := strings.HasPrefix(path, "/api/") || path == "/metrics"
						if api && (res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "") {
							t.Fatalf("API route without credentials: %s %.200s, want 401 with WWW-Authenticate", res.Status, b)
						}
						if !api && (res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next="+url.QueryEscape(path)) {
							t.Fatalf("page without credentials: %s Location %q, want a redirect to the login page", res.Status, res.Header.Get("Location"))
						}
					case w.role < rt.Role:
						if res.StatusCode != http.StatusForbidden {
							t.Fatalf("%s on an %v route: %s %.200s, want 403", w.name, rt.Role, res.Status, b)
						}
					default:
						if denied {
							t.Fatalf("%s refused: %s %.200s", w.name, res.Status, b)
						}
						if res.StatusCode >= 500 {
							t.Fatalf("%s: %s %.200s", w.name, res.Status, b)
						}
					}
				})
			}
		}
	}
}

func TestLoginLockoutLogout(t *testing.T) {
	now := time.Now()
	th := auth.NewThrottle()
	th.Now = func() time.Time { return now }
	s := newSecuredConsole(t, &console.Security{Throttle: th})

	// A page without a session goes to the login page, which returns there.
	res, _ := s.request(t, http.MethodGet, "/d/user-monitoring?range=24h", "", nil, "")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fd%2Fuser-monitoring%3Frange%3D24h" {
		t.Fatalf("GET a page: %s to %q", res.Status, res.Header.Get("Location"))
	}
	res, page := s.request(t, http.MethodGet, "/login?next=%2Fd%2Fuser-monitoring", "", nil, "")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `name="next" value="/d/user-monitoring"`) {
		t.Fatalf("login page: %s\n%s", res.Status, page)
	}
	res, cookie := s.login(t, "alice", alicePassword, "/d/user-monitoring")
	if cookie == nil || res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/d/user-monitoring" {
		t.Fatalf("sign in: %s to %q", res.Status, res.Header.Get("Location"))
	}
	if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" || cookie.MaxAge <= 0 {
		t.Fatalf("session cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/, a lifetime", cookie)
	}
	if res, b := s.request(t, http.MethodGet, "/api/me", "", cookie, ""); res.StatusCode != 200 || !strings.Contains(b, `"user":"alice"`) || !strings.Contains(b, `"role":"admin"`) {
		t.Fatalf("/api/me: %s %s", res.Status, b)
	}
	// Another site is never the next page.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		if res, _ := s.login(t, "bob", bobPassword, next); res.Header.Get("Location") != "/" {
			t.Errorf("next=%q: sent to %q, want /", next, res.Header.Get("Location"))
		}
	}

	// Logout ends the session: the cookie no longer works, even if a client kept it.
	if res, _ := s.request(t, http.MethodPost, "/logout", "", cookie, ""); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", res.Status)
	}
	if res, _ := s.request(t, http.MethodGet, "/api/me", "", cookie, ""); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/api/me after logout: %s, want 401", res.Status)
	}

	// Wrong passwords: 401 each, then a lockout that the right password does not pass.
	for i := range th.Limit {
		res, c := s.login(t, "alice", "guess "+fmt.Sprint(i), "/")
		want := http.StatusUnauthorized
		if c != nil || res.StatusCode != want {
			t.Fatalf("wrong password %d: %s, cookie %v; want %d and none", i+1, res.Status, c, want)
		}
	}
	res, c := s.login(t, "alice", alicePassword, "/")
	if c != nil || res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("right password while locked: %s, cookie %v; want 429 with Retry-After", res.Status, c)
	}
	// The lockout ends.
	now = now.Add(th.Lockout + time.Second)
	if _, c := s.login(t, "alice", alicePassword, "/"); c == nil {
		t.Fatal("no sign-in after the lockout ended")
	}

	want := []string{"alice login ok", "bob login ok", "bob login ok", "bob login ok", "bob login ok", "alice logout ok"}
	for range th.Limit {
		want = append(want, "alice login-failed denied")
	}
	want = append(want, "alice login-locked denied", "alice login ok")
	if got := s.auditActions(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("audit log:\n%q\nwant\n%q", got, want)
	}
}

func TestSessionExpiry(t *testing.T) {
	s := newSecuredConsole(t, &console.Security{SessionTTL: 2 * time.Second})
	cookie := s.session(t, "bob", bobPassword)
	if res, _ := s.request(t, http.MethodGet, "/api/me", "", cookie, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("a fresh session: %s", res.Status)
	}
	time.Sleep(2500 * time.Millisecond)
	if res, _ := s.request(t, http.MethodGet, "/api/me", "", cookie, ""); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an expired session: %s, want 401", res.Status)
	}
}

func TestTokenLifecycle(t *testing.T) {
	s := newSecuredConsole(t, nil)
	admin := s.session(t, "alice", alicePassword)
	viewer := s.session(t, "bob", bobPassword)
	if res, _ := s.request(t, http.MethodPost, "/api/tokens", `{"name":"x","role":"admin"}`, viewer, ""); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer creating a token: %s, want 403", res.Status)
	}
	for _, bad := range []string{`{"name":"","role":"admin"}`, `{"name":"x","role":"root"}`, `{"name":"x","role":"admin","expires":"-1h"}`, `{"name":"a\u001bb","role":"admin"}`, `nope`, `{"name":"x","role":"admin","extra":1}`} {
		if res, b := s.request(t, http.MethodPost, "/api/tokens", bad, admin, ""); res.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /api/tokens %s: %s %s, want 400", bad, res.Status, b)
		}
	}
	if res, _ := s.request(t, http.MethodPost, "/api/tokens", `{"name":"`+strings.Repeat("x", 8<<10)+`","role":"admin"}`, admin, ""); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized token request: %s, want 413", res.Status)
	}
	id, upload := s.token(t, admin, "admin-users upload", "admin")
	_, read := s.token(t, admin, "dashboards", "viewer")

	// The admin token uploads admin_users.csv with curl, as the page says.
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("this test runs curl: %v", err)
	}
	out, err := exec.Command(curl, "-sS", "--fail-with-body", "-T", "testdata/admin_users.csv", "-H", "Authorization: Bearer "+upload, s.url+"/api/admin-users").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != `{"admin_users":4}` {
		t.Fatalf("curl -T admin_users.csv with the token: %v %s", err, out)
	}
	if out, err := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", "testdata/admin_users.csv", s.url+"/api/admin-users").CombinedOutput(); err != nil || string(out) != "401" {
		t.Fatalf("curl -T admin_users.csv without a token: %v %s, want 401", err, out)
	}
	// The viewer token reads, and may not upload.
	if res, b := s.request(t, http.MethodGet, "/api/events?range=24h", "", nil, read); res.StatusCode != http.StatusOK {
		t.Fatalf("viewer token GET /api/events: %s %s", res.Status, b)
	}
	if res, _ := s.request(t, http.MethodPut, "/api/admin-users", "mallory\n", nil, read); res.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer token PUT /api/admin-users: %s, want 403", res.Status)
	}
	// A session cookie's value is no bearer token, nor a token a cookie.
	if res, _ := s.request(t, http.MethodGet, "/api/me", "", nil, admin.Value); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a session secret as a bearer token: %s, want 401", res.Status)
	}
	if res, _ := s.request(t, http.MethodGet, "/api/me", "", &http.Cookie{Name: "trailstream_session", Value: upload}, ""); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token as the session cookie: %s, want 401", res.Status)
	}
	// The list shows the tokens, never their secrets.
	res, list := s.request(t, http.MethodGet, "/api/tokens", "", admin, "")
	if res.StatusCode != http.StatusOK || !strings.Contains(list, `"name":"admin-users upload"`) || strings.Contains(list, upload) || strings.Contains(list, read) ||
		strings.Contains(list, auth.Hash(upload)) {
		t.Fatalf("GET /api/tokens: %s %s", res.Status, list)
	}
	// Revoked, it is refused.
	if res, b := s.request(t, http.MethodDelete, "/api/tokens/"+id, "", admin, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE the token: %s %s", res.Status, b)
	}
	if res, _ := s.request(t, http.MethodGet, "/api/me", "", nil, upload); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %s, want 401", res.Status)
	}
	if res, _ := s.request(t, http.MethodDelete, "/api/tokens/"+id+"x", "", admin, ""); res.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE an unknown token: %s, want 404", res.Status)
	}
	var got []string
	for _, a := range s.auditActions(t) {
		if strings.Contains(a, "token") || strings.Contains(a, "admin-users") || strings.Contains(a, "forbidden") {
			got = append(got, a)
		}
	}
	want := []string{"bob forbidden denied", "alice token-create ok", "alice token-create ok", "alice admin-users-upload ok", "alice forbidden denied", "alice token-revoke ok"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("audit log:\n%q\nwant\n%q", got, want)
	}
	// The audit log is an admin's.
	if res, b := s.request(t, http.MethodGet, "/api/audit?limit=5", "", admin, ""); res.StatusCode != http.StatusOK || !strings.Contains(b, `"action":"token-revoke"`) {
		t.Fatalf("GET /api/audit: %s %s", res.Status, b)
	}
	if res, b := s.request(t, http.MethodGet, "/audit", "", admin, ""); res.StatusCode != http.StatusOK || !strings.Contains(b, "token-revoke") || !strings.Contains(b, "admin-users upload") {
		t.Fatalf("GET /audit: %s %s", res.Status, b)
	}
}

// TestForeignHost replays the DNS-rebinding attack: a page of another site whose name now
// points at the console posts to it with its own Host and a matching Origin.
func TestForeignHost(t *testing.T) {
	a := newAdminConsole(t)
	if res, _ := a.do(t, http.MethodPut, strings.NewReader("alice\n"), nil); res.StatusCode != http.StatusOK {
		t.Fatalf("upload: %s", res.Status)
	}
	u, _ := url.Parse(a.url)
	for _, host := range []string{"evil.example", "evil.example:" + u.Port(), "127.0.0.1.evil.example", "localhost.", "0x7f.0.0.1"} {
		req, _ := http.NewRequest(http.MethodPut, a.url, strings.NewReader("mallory\n"))
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("PUT with Host %s: %s, want 421", host, res.Status)
		}
	}
	if got := a.stored(t); !reflect.DeepEqual(got, []string{"alice"}) {
		t.Fatalf("admin users after the attack: %q", got)
	}
	// The configured names, and loopback ones by default, are answered.
	for _, host := range []string{"127.0.0.1:" + u.Port(), "localhost:" + u.Port(), "LOCALHOST", "[::1]:" + u.Port()} {
		req, _ := http.NewRequest(http.MethodGet, a.url, nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET with Host %s: %s", host, res.Status)
		}
	}
	h := console.Handler(a.conn, a.db, console.Options{Hosts: []string{"trail.example.org"}})
	for host, want := range map[string]int{"trail.example.org": 200, "trail.example.org:443": 200, "127.0.0.1": 421} {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("--console-hosts trail.example.org, Host %s: %d, want %d", host, rec.Code, want)
		}
	}
}
