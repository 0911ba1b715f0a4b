package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/auth"
)

// maxTokenRequest bounds the body of POST /api/tokens.
const maxTokenRequest = 4 << 10

// tokenRequest is the body of POST /api/tokens.
type tokenRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Expires string `json:"expires"` // a Go duration (720h) or "" for never
}

// createToken serves POST /api/tokens: a new API token, shown once.
func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTokenRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a token request is at most %d bytes", maxTokenRequest))
			return
		}
		writeError(w, http.StatusBadRequest, `want a JSON object: {"name": "...", "role": "viewer" or "admin", "expires": "720h" or ""}`)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if err := auth.CheckName(req.Name); err != nil {
		writeError(w, http.StatusBadRequest, "token name: "+strings.TrimPrefix(err.Error(), "user name "))
		return
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ttl time.Duration
	if req.Expires != "" {
		if ttl, err = time.ParseDuration(req.Expires); err != nil || ttl <= 0 || ttl > 5*365*24*time.Hour {
			writeError(w, http.StatusBadRequest, "expires: a duration such as 720h, at most five years, or empty for never")
			return
		}
	}
	ctx, release := writeContext(r)
	defer release()
	c, secret, err := s.creds.Issue(ctx, auth.KindToken, req.Name, principalOf(r).User, role, "token", ttl)
	if err != nil {
		slog.Error("console: token not created", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the token could not be stored now; try again")
		return
	}
	s.record(r, "token-create", c.ID, auth.OK, fmt.Sprintf("name=%s role=%s", c.Name, c.RoleName))
	writeJSON(w, http.StatusCreated, map[string]any{"token": secret, "id": c.ID, "name": c.Name, "role": c.RoleName,
		"created_at": c.CreatedAt, "expires_at": c.ExpiresAt,
		"note": "the token is shown only now: keep it; send it as Authorization: Bearer <token>"})
}

// listTokens serves GET /api/tokens: every token, without its secret.
func (s *server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.creds.Tokens(r.Context())
	if err != nil {
		slog.Error("console: tokens not listed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the tokens could not be read now; try again")
		return
	}
	if ts == nil {
		ts = []*auth.Credential{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
}

// revokeToken serves DELETE /api/tokens/{id}.
func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, release := writeContext(r)
	defer release()
	c, err := s.creds.RevokeToken(ctx, id)
	switch {
	case errors.Is(err, auth.ErrNoToken):
		writeError(w, http.StatusNotFound, "no such token; GET /api/tokens lists them")
		return
	case err != nil:
		slog.Error("console: token not revoked", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the token could not be revoked now; try again")
		return
	}
	s.record(r, "token-revoke", c.ID, auth.OK, "name="+c.Name)
	writeJSON(w, http.StatusOK, map[string]any{"id": c.ID, "revoked": true})
}

// maxAuditEntries bounds GET /api/audit.
const maxAuditEntries = 1000

// auditAPI serves GET /api/audit?limit=N: the newest entries of the audit log.
func (s *server) auditAPI(w http.ResponseWriter, r *http.Request) {
	limit := 200
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditEntries {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: a number from 1 to %d", maxAuditEntries))
			return
		}
		limit = n
	}
	es, err := s.audit.Recent(r.Context(), limit)
	if err != nil {
		slog.Error("console: audit log not read", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the audit log could not be read now; try again")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}
