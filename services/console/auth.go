package console

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/auth"
	"github.com/trailstream/trailstream/pkg/config"
)

// Security is who may use the console. Without users and single sign-on the console is
// open: every visitor is the admin "anonymous" (Run allows that on loopback only).
type Security struct {
	// Users are the local users, who sign in with a password on the login page.
	Users *auth.Users
	// OIDC is single sign-on, nil without it.
	OIDC *OIDC
	// SessionTTL is how long a sign-in lasts; 0: 12 hours.
	SessionTTL time.Duration
	// Throttle locks out repeated failed sign-ins; nil: auth.NewThrottle's.
	Throttle *auth.Throttle
}

// open reports whether the console lets everyone in.
func (sec *Security) open() bool { return sec == nil || (sec.Users.Len() == 0 && sec.OIDC == nil) }

const sessionCookie = "trailstream_session"

// principal is who a request comes from.
type principal struct {
	User   string
	Role   auth.Role
	Method string // password | oidc | token | open
	secret string // the session's, to sign out
}

type principalKey struct{}

// principalOf returns who r comes from, nil when nobody signed in.
func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

// authFailedKey marks a request whose credential could not be checked (ClickHouse did not
// answer).
type authFailedKey struct{}

// authenticate finds who r comes from: an API token (Authorization: Bearer) or a session
// cookie; on an open console, the admin "anonymous".
func (s *server) authenticate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.sec.open() {
			h.ServeHTTP(w, withPrincipal(r, &principal{User: "anonymous", Role: auth.Admin, Method: "open"}))
			return
		}
		kind, secret := auth.KindToken, auth.BearerToken(r.Header.Get("Authorization"))
		if secret == "" {
			kind = auth.KindSession
			if c, err := r.Cookie(sessionCookie); err == nil {
				secret = c.Value
			}
		}
		if secret != "" {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			c, err := s.creds.Lookup(ctx, secret)
			cancel()
			switch {
			case err != nil:
				slog.Error("console: credentials not checked", "err", err)
				r = r.WithContext(context.WithValue(r.Context(), authFailedKey{}, true))
			case c != nil && c.Kind == kind:
				p := &principal{User: c.User, Role: c.Role, Method: c.Method}
				if kind == auth.KindSession {
					p.secret = secret
				}
				r = withPrincipal(r, p)
			}
		}
		h.ServeHTTP(w, r)
	})
}

func withPrincipal(r *http.Request, p *principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// isAPI reports whether path is answered in JSON (or another format for programs), so that
// a missing sign-in is 401 rather than a redirect to the login page.
func isAPI(path string) bool { return strings.HasPrefix(path, "/api/") || path == "/metrics" }

// require lets requests of role or above through to h: without a sign-in, API routes answer
// 401 and pages redirect to the login page; a sign-in of a lower role gets 403.
func (s *server) require(role auth.Role, h http.Handler) http.Handler {
	if role == auth.Public {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		switch {
		case p == nil && r.Context().Value(authFailedKey{}) != nil:
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "the console cannot check credentials now; try again")
		case p == nil && isAPI(r.URL.Path):
			w.Header().Set("WWW-Authenticate", `Bearer realm="trailstream"`)
			writeError(w, http.StatusUnauthorized, "sign in first: send an API token (Authorization: Bearer ...) or a session cookie")
		case p == nil:
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		case p.Role < role:
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				s.record(r, "forbidden", r.Method+" "+r.URL.Path, auth.Denied, "")
			}
			writeError(w, http.StatusForbidden, fmt.Sprintf("this needs the %s role; %s is a %s", role, p.User, p.Role))
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// checkHost refuses requests whose Host header names none of hosts (421): a page of another
// site that rebinds its name to the console's address gets nothing.
func checkHost(hosts []string, h http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, n := range hosts {
		allowed[strings.ToLower(strings.Trim(n, "[]"))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hn, _, err := net.SplitHostPort(host); err == nil {
			host = hn
		}
		host = strings.ToLower(strings.Trim(host, "[]"))
		if !allowed[host] {
			writeError(w, http.StatusMisdirectedRequest, "this console does not answer to that host name (see --console-hosts)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// record writes an entry of the audit log for r's principal; the request's end does not
// cancel it.
func (s *server) record(r *http.Request, action, target, outcome, detail string) {
	e := auth.Entry{Action: action, Target: target, Outcome: outcome, Remote: remoteIP(r), Detail: detail}
	if p := principalOf(r); p != nil {
		e.User, e.Role = p.User, p.Role.String()
	}
	s.recordEntry(r, e)
}

func (s *server) recordEntry(r *http.Request, e auth.Entry) {
	if e.Remote == "" {
		e.Remote = remoteIP(r)
	}
	ctx, release := writeContext(r)
	defer release()
	if err := s.audit.Record(ctx, e); err != nil {
		slog.Error("console: audit log not written", "err", err, "action", e.Action, "user", e.User)
	}
}

// remoteIP is the client's address without its port.
func remoteIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// loginPage is what the login template shows.
type loginPage struct {
	Next    string
	User    string
	Problem string
	OIDC    bool
	Local   bool
	Open    bool
}

var loginTemplate = template.Must(template.ParseFS(web, "web/login.html", "web/header.html"))

// maxLoginForm bounds the login form's body.
const maxLoginForm = 8 << 10

// safeNext returns next when it is a path of this console, else "/": a sign-in never sends
// the browser to another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func (s *server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, http.StatusOK, loginPage{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *server) showLogin(w http.ResponseWriter, status int, pg loginPage) {
	pg.OIDC, pg.Local, pg.Open = s.sec != nil && s.sec.OIDC != nil, s.sec != nil && s.sec.Users.Len() > 0, s.sec.open()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := loginTemplate.Execute(w, pg); err != nil {
		slog.Error("render login page", "err", err)
	}
}

// login serves POST /login: a user name and password from the form.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		s.showLogin(w, bodyStatus(err), loginPage{Next: "/", Problem: bodyProblem(err, "The sign-in form could not be read.")})
		return
	}
	name, password, next := r.PostForm.Get("user"), r.PostForm.Get("password"), safeNext(r.PostForm.Get("next"))
	shown := name
	if auth.CheckName(name) != nil {
		shown = "" // not a user name: not shown back
	}
	pg := loginPage{Next: next, User: shown}
	// The audit log names only users that exist: what else is typed there may be a password.
	audited := ""
	if s.sec != nil && s.sec.Users.Has(name) {
		audited = name
	}
	if s.sec.open() || s.sec.Users.Len() == 0 {
		pg.Problem = "This console has no local users."
		s.showLogin(w, http.StatusBadRequest, pg)
		return
	}
	keys := []string{"user:" + strings.ToLower(name), "ip:" + remoteIP(r)}
	if wait := s.throttle.Locked(keys...); wait > 0 {
		s.recordEntry(r, auth.Entry{User: audited, Action: "login-locked", Outcome: auth.Denied, Detail: "password"})
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		pg.Problem = fmt.Sprintf("Too many failed sign-ins: try again in %d minutes.", int(wait.Minutes())+1)
		s.showLogin(w, http.StatusTooManyRequests, pg)
		return
	}
	user, ok := s.sec.Users.Check(name, password)
	if !ok {
		s.throttle.Fail(keys...)
		s.recordEntry(r, auth.Entry{User: audited, Action: "login-failed", Outcome: auth.Denied, Detail: "password"})
		pg.Problem = "Wrong user name or password."
		s.showLogin(w, http.StatusUnauthorized, pg)
		return
	}
	s.throttle.Succeed(keys[0])
	if err := s.startSession(w, r, user.Name, user.Role, "password"); err != nil {
		slog.Error("console: session not started", "err", err)
		pg.Problem = "The console could not sign you in now; try again."
		s.showLogin(w, http.StatusServiceUnavailable, pg)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startSession signs user in with role: a new session, its cookie, and the audit log's
// entry. method says how they proved who they are (password, oidc).
func (s *server) startSession(w http.ResponseWriter, r *http.Request, user string, role auth.Role, method string) error {
	ctx, release := writeContext(r)
	defer release()
	ttl := s.sec.SessionTTL
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	c, secret, err := s.creds.Issue(ctx, auth.KindSession, "", user, role, method, ttl)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", Expires: c.ExpiresAt, MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	s.recordEntry(r, auth.Entry{User: user, Role: role.String(), Action: "login", Outcome: auth.OK, Detail: method})
	return nil
}

// logout serves POST /logout: the session ends, here and on every console instance.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if p := principalOf(r); p != nil && p.secret != "" {
		ctx, release := writeContext(r)
		err := s.creds.Revoke(ctx, p.secret)
		release()
		if err != nil {
			slog.Error("console: session not revoked", "err", err)
			writeError(w, http.StatusServiceUnavailable, "the console could not end the session now; try again")
			return
		}
		s.record(r, "logout", "", auth.OK, "")
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// me serves GET /api/me: who is signed in.
func (s *server) me(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	writeJSON(w, http.StatusOK, map[string]string{"user": p.User, "role": p.Role.String(), "method": p.Method})
}

func (sec *Security) throttle() *auth.Throttle {
	if sec == nil || sec.Throttle == nil {
		return auth.NewThrottle()
	}
	return sec.Throttle
}

// auditPage serves GET /audit: the newest entries of the audit log and the API tokens.
func (s *server) auditPage(w http.ResponseWriter, r *http.Request) {
	pg := struct {
		Header  pageHeader
		Entries []auth.Entry
		Tokens  []*auth.Credential
		Problem string
	}{Header: header(r, "audit")}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	var err error
	if pg.Entries, err = s.audit.Recent(ctx, 200); err == nil {
		pg.Tokens, err = s.creds.Tokens(ctx)
	}
	if err != nil {
		slog.Error("console: audit page", "err", err)
		pg.Problem = "The audit log could not be read now; try again."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := auditTemplate.Execute(w, pg); err != nil {
		slog.Error("render audit page", "err", err)
	}
}

// NewSecurity returns the console's security settings of a: its users file read, its
// single sign-on set up (which asks the issuer for its configuration).
func NewSecurity(ctx context.Context, a config.ConsoleAuth) (*Security, error) {
	sec := &Security{SessionTTL: a.SessionTTL}
	if a.UsersFile != "" {
		u, err := auth.LoadUsers(a.UsersFile)
		if err != nil {
			return nil, err
		}
		if u.Len() == 0 {
			return nil, fmt.Errorf("console users %s: no user in it; add one with trailstream users add", a.UsersFile)
		}
		sec.Users = u
	}
	if a.OIDC() {
		o, err := NewOIDC(ctx, a)
		if err != nil {
			return nil, err
		}
		sec.OIDC = o
	}
	return sec, nil
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackHost(host)
}

// openWarning is what an open console says when it starts, loudly.
const openWarning = "THE CONSOLE IS OPEN: it has no users (--console-users) and no single sign-on (--oidc-issuer), so anyone who " +
	"can reach its port on this machine reads every event and changes its settings; it refuses to start on an address other than loopback"
