// Package oidctest is an OpenID Connect issuer for tests of single sign-on: an HTTP server on
// 127.0.0.1 that speaks the protocol a relying party sees (discovery, the key set, the
// authorization code flow with PKCE, the token endpoint) and signs in a configured user at
// once, without a sign-in page. It can be told to misbehave the ways a relying party must
// refuse: an ID token for another audience, expired, with another nonce, signed with a key
// it does not publish, or without the role claim.
//
// It implements, of OpenID Connect Core 1.0 and Discovery 1.0 and of RFC 6749 and RFC 7636:
//
//   - GET /.well-known/openid-configuration: the issuer's metadata;
//   - GET /keys: the JSON Web Key Set, one RSA key generated at start;
//   - GET /authorize: response_type=code with client_id, redirect_uri, scope (with openid),
//     state, nonce and code_challenge (code_challenge_method S256, required); it redirects
//     back with code and state, or with error and state (see Faults.AuthorizationError);
//   - POST /token: grant_type=authorization_code, the client authenticated by HTTP Basic
//     (client_secret_basic) or in the form (client_secret_post), the code used once, issued
//     to this client for this redirect_uri, and code_verifier matching the challenge;
//     it answers an access token and an RS256-signed ID token.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Config is the issuer's one client and its user.
type Config struct {
	// ClientID and ClientSecret are the client's credentials; an empty secret makes a
	// public client, which authenticates by its client_id alone (and PKCE).
	ClientID, ClientSecret string
	// RedirectURIs are the client's registered redirect URIs; none: any http or https URL.
	RedirectURIs []string
	// AuthMethods are the ways the client may authenticate at the token endpoint, of
	// client_secret_basic and client_secret_post; none: both. Discovery lists them.
	AuthMethods []string
	// RoleClaim is the claim Faults.NoRoleClaim leaves out; "": groups.
	RoleClaim string
	// User is who the authorization endpoint signs in.
	User User
	// TokenTTL is how long an ID token is valid; 0: 5 minutes.
	TokenTTL time.Duration
}

// User is the user the issuer signs in: the subject and the claims its ID tokens carry
// beside the standard ones (preferred_username, email, groups, ...).
type User struct {
	Subject string
	Claims  map[string]any
}

// Faults are the ways the issuer misbehaves, for tests of a relying party's checks.
type Faults struct {
	// WrongAudience issues ID tokens for another client.
	WrongAudience bool
	// Expired issues ID tokens that are out of date when issued: iat ten minutes ago,
	// exp a minute ago.
	Expired bool
	// WrongNonce puts another nonce than the authorization request's in the ID token.
	WrongNonce bool
	// UnknownKey signs ID tokens with a key the key set does not hold.
	UnknownKey bool
	// NoRoleClaim leaves Config.RoleClaim out of the ID token.
	NoRoleClaim bool
	// AuthorizationError makes the authorization endpoint redirect back with this error
	// (access_denied, ...) instead of a code.
	AuthorizationError string
}

// Issuer is a running test issuer.
type Issuer struct {
	// URL is the issuer identifier, http://127.0.0.1:PORT, as the ID tokens' iss says.
	URL string

	srv   *http.Server
	ln    net.Listener
	key   *rsa.PrivateKey
	keyID string
	// rogue signs the ID tokens of Faults.UnknownKey; the key set does not publish it.
	rogue   *rsa.PrivateKey
	rogueID string

	mu      sync.Mutex
	cfg     Config
	faults  Faults
	grants  map[string]*grant
	counts  Counts
	lastReq url.Values // the last authorization request's parameters
}

// Counts are the requests the issuer answered, by endpoint.
type Counts struct {
	Discovery, Keys, Authorize, Token int
	// Issued is the ID tokens issued.
	Issued int
}

// grant is an authorization code and what it was issued for.
type grant struct {
	clientID, redirectURI, challenge, nonce string
	expires                                 time.Time
	used                                    bool
}

// codeTTL is how long an authorization code may wait for its exchange.
const codeTTL = time.Minute

// New starts an issuer on a free port of 127.0.0.1. Close stops it.
func New(cfg Config) (*Issuer, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("oidctest: Config.ClientID is empty")
	}
	for _, m := range cfg.AuthMethods {
		if m != "client_secret_basic" && m != "client_secret_post" {
			return nil, fmt.Errorf("oidctest: auth method %q: want client_secret_basic or client_secret_post", m)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("oidctest: %w", err)
	}
	iss := &Issuer{URL: "http://" + ln.Addr().String(), ln: ln, cfg: cfg, grants: map[string]*grant{}}
	if iss.key, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
		iss.rogue, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("oidctest: generate keys: %w", err)
	}
	iss.keyID, iss.rogueID = randomString(8), randomString(8)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", iss.discovery)
	mux.HandleFunc("GET /keys", iss.keys)
	mux.HandleFunc("GET /authorize", iss.authorize)
	mux.HandleFunc("POST /token", iss.token)
	iss.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go iss.srv.Serve(ln)
	return iss, nil
}

// Close stops the issuer.
func (iss *Issuer) Close() { iss.srv.Close() }

// SetUser changes who the issuer signs in from now on.
func (iss *Issuer) SetUser(u User) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.cfg.User = u
}

// SetFaults changes how the issuer misbehaves from now on; Faults{} behaves.
func (iss *Issuer) SetFaults(f Faults) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.faults = f
}

// Counts returns the requests answered so far.
func (iss *Issuer) Counts() Counts {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.counts
}

// LastAuthorization returns the parameters of the last authorization request, nil before
// the first.
func (iss *Issuer) LastAuthorization() url.Values {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return maps.Clone(iss.lastReq)
}

// Endpoints of the issuer, below URL.
const (
	AuthorizePath = "/authorize"
	TokenPath     = "/token"
	KeysPath      = "/keys"
)

func (iss *Issuer) authMethods() []string {
	if len(iss.cfg.AuthMethods) == 0 {
		return []string{"client_secret_basic", "client_secret_post"}
	}
	return iss.cfg.AuthMethods
}

func (iss *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	iss.mu.Lock()
	iss.counts.Discovery++
	methods := iss.authMethods()
	iss.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss.URL,
		"authorization_endpoint":                iss.URL + AuthorizePath,
		"token_endpoint":                        iss.URL + TokenPath,
		"jwks_uri":                              iss.URL + KeysPath,
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
		"token_endpoint_auth_methods_supported": methods,
		"code_challenge_methods_supported":      []string{"S256"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "nonce", "preferred_username", "email", "groups"},
	})
}

func (iss *Issuer) keys(w http.ResponseWriter, r *http.Request) {
	iss.mu.Lock()
	iss.counts.Keys++
	iss.mu.Unlock()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &iss.key.PublicKey, KeyID: iss.keyID, Algorithm: string(jose.RS256), Use: "sig"}}}
	writeJSON(w, http.StatusOK, set)
}

// authorize serves the authorization endpoint. A request whose client or redirect URI is
// wrong gets a page saying so, never a redirect (RFC 6749 4.1.2.1); other errors go back
// to the client.
func (iss *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.counts.Authorize++
	iss.lastReq = q
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	if clientID != iss.cfg.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(redirectURI)
	switch {
	case err != nil || (back.Scheme != "http" && back.Scheme != "https") || back.Host == "" || back.Fragment != "":
		http.Error(w, "redirect_uri is not an absolute http or https URL", http.StatusBadRequest)
		return
	case len(iss.cfg.RedirectURIs) > 0 && !slices.Contains(iss.cfg.RedirectURIs, redirectURI):
		http.Error(w, "redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	reply := func(v url.Values) {
		v.Set("state", q.Get("state"))
		bq := back.Query()
		for k, vs := range v {
			if vs[0] != "" {
				bq[k] = vs
			}
		}
		back.RawQuery = bq.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
	problem := func(code, why string) { reply(url.Values{"error": {code}, "error_description": {why}}) }
	scopes := strings.Fields(q.Get("scope"))
	switch {
	case q.Get("response_type") != "code":
		problem("unsupported_response_type", "only response_type=code")
	case !slices.Contains(scopes, "openid"):
		problem("invalid_scope", "scope must hold openid")
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		problem("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
	case iss.faults.AuthorizationError != "":
		problem(iss.faults.AuthorizationError, "the test issuer was told to refuse")
	default:
		code := randomString(32)
		iss.grants[code] = &grant{clientID: clientID, redirectURI: redirectURI, challenge: q.Get("code_challenge"),
			nonce: q.Get("nonce"), expires: time.Now().Add(codeTTL)}
		reply(url.Values{"code": {code}})
	}
}

// verifierSyntax is RFC 7636's code_verifier.
var verifierSyntax = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// tokenError answers an error of the token endpoint (RFC 6749 5.2).
func tokenError(w http.ResponseWriter, status int, code, why string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": why})
}

func (iss *Issuer) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "the form could not be read")
		return
	}
	f := r.PostForm
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.counts.Token++
	w.Header().Set("Cache-Control", "no-store")

	// The client: by HTTP Basic, whose parts are form-encoded (RFC 6749 2.3.1), or in the
	// form; not both.
	id, secret, basic := r.BasicAuth()
	method := "client_secret_post"
	if basic {
		method = "client_secret_basic"
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || f.Has("client_secret") {
			tokenError(w, http.StatusBadRequest, "invalid_request", "malformed client authentication, or given twice")
			return
		}
		if f.Has("client_id") && f.Get("client_id") != id {
			tokenError(w, http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client")
			return
		}
	} else {
		id, secret = f.Get("client_id"), f.Get("client_secret")
		if iss.cfg.ClientSecret == "" {
			method = "none"
		}
	}
	switch {
	case id != iss.cfg.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(iss.cfg.ClientSecret)) != 1:
		tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	case method != "none" && !slices.Contains(iss.authMethods(), method):
		tokenError(w, http.StatusUnauthorized, "invalid_client", "this client may not authenticate by "+method)
		return
	case f.Get("grant_type") != "authorization_code":
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	g := iss.grants[f.Get("code")]
	switch {
	case g == nil:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	case g.used:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code was used already")
		return
	}
	g.used = true // once, whatever becomes of this request
	verifier := f.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	switch {
	case time.Now().After(g.expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code expired")
	case g.clientID != id:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
	case f.Get("redirect_uri") != g.redirectURI:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
	case !verifierSyntax.MatchString(verifier):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier is missing or malformed")
	case subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
	default:
		idToken, err := iss.idToken(g)
		if err != nil {
			tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
			return
		}
		iss.counts.Issued++
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": randomString(32), "token_type": "Bearer", "expires_in": 3600, "id_token": idToken,
		})
	}
}

// idToken signs the ID token of g, as the faults say. iss.mu is held.
func (iss *Issuer) idToken(g *grant) (string, error) {
	now := time.Now()
	ttl := iss.cfg.TokenTTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	claims := maps.Clone(iss.cfg.User.Claims)
	if claims == nil {
		claims = map[string]any{}
	}
	if iss.faults.NoRoleClaim {
		role := iss.cfg.RoleClaim
		if role == "" {
			role = "groups"
		}
		delete(claims, role)
	}
	iat, exp := now, now.Add(ttl)
	if iss.faults.Expired {
		iat, exp = now.Add(-10*time.Minute), now.Add(-time.Minute)
	}
	aud := g.clientID
	if iss.faults.WrongAudience {
		aud = "another-client"
	}
	nonce := g.nonce
	if iss.faults.WrongNonce {
		nonce = "not-" + nonce
	}
	maps.Copy(claims, map[string]any{
		"iss": iss.URL, "sub": iss.cfg.User.Subject, "aud": aud, "azp": g.clientID,
		"iat": iat.Unix(), "exp": exp.Unix(), "auth_time": iat.Unix(),
	})
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("ID token claims: %w", err)
	}
	key, kid := iss.key, iss.keyID
	if iss.faults.UnknownKey {
		key, kid = iss.rogue, iss.rogueID
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("ID token signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return jws.CompactSerialize()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
