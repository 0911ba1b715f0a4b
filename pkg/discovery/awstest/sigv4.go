package awstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// authorization is a parsed Signature Version 4 Authorization header:
// AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
// SignedHeaders=<h1;h2>, Signature=<hex>.
type authorization struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseAuthorization(h string) (authorization, error) {
	var a authorization
	if h == "" {
		return a, errors.New("missing Authorization header")
	}
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, fmt.Errorf("authorization header %q is not AWS4-HMAC-SHA256", h)
	}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, fmt.Errorf("authorization header: %q is not key=value", part)
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" || f[0] == "" || f[2] == "" || f[3] == "" {
				return a, fmt.Errorf("credential %q is not <key>/<date>/<region>/<service>/aws4_request", v)
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKey == "" || a.signature == "" || len(a.signedHeaders) == 0 {
		return a, errors.New("authorization header lacks Credential, SignedHeaders or Signature")
	}
	return a, nil
}

// authFailure is why a request was not authenticated.
type authFailure int

const (
	authOK         authFailure = iota
	authMissing                // no or malformed signature
	authUnknownKey             // the access key does not exist, or a session key's token is wrong
	authSignature              // the signature does not match
	authExpired                // the session key or the request's date expired
)

// authenticate checks the request's signature. s.mu is held.
func (s *Server) authenticate(r *http.Request, body []byte, a authorization) (authFailure, string) {
	k, ok := s.keys[a.accessKey]
	if !ok {
		return authUnknownKey, "The security token included in the request is invalid."
	}
	if r.Header.Get("X-Amz-Security-Token") != k.Token {
		return authUnknownKey, "The security token included in the request is invalid."
	}
	if !k.expires.IsZero() && s.now().After(k.expires) {
		return authExpired, "The security token included in the request is expired"
	}
	for _, h := range []string{"host", "x-amz-date"} {
		if !slices.Contains(a.signedHeaders, h) {
			return authMissing, fmt.Sprintf("signed headers lack %s", h)
		}
	}
	if k.Token != "" && !slices.Contains(a.signedHeaders, "x-amz-security-token") {
		return authMissing, "signed headers lack x-amz-security-token"
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, a.date) {
		return authMissing, fmt.Sprintf("X-Amz-Date %q does not match the credential's date %q", amzDate, a.date)
	}
	if d := s.now().Sub(t); d > 15*time.Minute || d < -15*time.Minute {
		return authExpired, "Signature expired: " + amzDate + " is not within 15 minutes of the server's time"
	}
	want := signature(k.Secret, a, canonicalRequest(r, body, a.signedHeaders), amzDate)
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return authSignature, "The request signature we calculated does not match the signature you provided."
	}
	return authOK, ""
}

// canonicalRequest is the request in Signature Version 4's canonical form.
func canonicalRequest(r *http.Request, body []byte, signed []string) string {
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.WriteString(r.Method + "\n" + path + "\n" + canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			vals := slices.Clone(r.Header.Values(h))
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		b.WriteString(h + ":" + v + "\n")
	}
	sum := sha256.Sum256(body)
	b.WriteString("\n" + strings.Join(signed, ";") + "\n" + hex.EncodeToString(sum[:]))
	return b.String()
}

func canonicalQuery(q url.Values) string {
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

// uriEncode percent-encodes every byte but the unreserved characters A-Z a-z 0-9 - _ . ~.
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signature computes the request's signature from the secret key.
func signature(secret string, a authorization, canonical, amzDate string) string {
	scope := a.date + "/" + a.region + "/" + a.service + "/aws4_request"
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("AWS4"+secret), a.date)
	k = hmacSHA256(k, a.region)
	k = hmacSHA256(k, a.service)
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}
