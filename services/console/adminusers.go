package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/auth"
	"github.com/trailstream/trailstream/pkg/chstore"
)

const (
	adminUsersPath = "/api/admin-users"
	// maxAdminUpload bounds admin_users.csv: a million bytes is tens of thousands of names.
	maxAdminUpload = 1 << 20
)

// adminUsers serves the admin-users list: GET reads it, PUT (curl -T) and POST replace it.
func (s *server) adminUsers(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.listAdminUsers(w, r)
	case http.MethodPut, http.MethodPost:
		s.uploadAdminUsers(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf(
			"method %s not allowed: GET lists the admin users, PUT or POST uploads admin_users.csv", r.Method))
	}
}

func (s *server) listAdminUsers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	names, err := admins.Current(ctx, s.conn, s.db)
	if err != nil {
		internalError(w, r, "the admin users could not be read", err)
		return
	}
	slices.Sort(names)
	writeJSON(w, http.StatusOK, map[string][]string{"admin_users": append([]string{}, names...)})
}

// uploadAdminUsers replaces the admin users with the names of the admin_users.csv in the
// request body. An empty file clears the list.
func (s *server) uploadAdminUsers(w http.ResponseWriter, r *http.Request) {
	tooLarge := fmt.Sprintf("admin_users.csv is larger than the %d bytes allowed", maxAdminUpload)
	if r.ContentLength > maxAdminUpload {
		writeError(w, http.StatusRequestEntityTooLarge, tooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminUpload))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		writeError(w, http.StatusRequestEntityTooLarge, tooLarge)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("read admin_users.csv: %v", err))
		return
	}
	names, err := admins.Parse(bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, clip(err.Error(), 300))
		return
	}
	names = unique(names)
	ctx, release := writeContext(r)
	defer release()
	if err := admins.Store(ctx, s.conn, s.db, names); err != nil {
		internalError(w, r, "the admin users could not be stored", err)
		return
	}
	slog.Info("admin users uploaded", "count", len(names), "from", r.RemoteAddr)
	s.record(r, "admin-users-upload", "", auth.OK, fmt.Sprintf("%d names", len(names)))
	writeJSON(w, http.StatusOK, map[string]int{"admin_users": len(names)})
}

// unique returns names without repeats, compared case-insensitively as IAM user names
// are, keeping the first spelling of each.
func unique(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0]
	for _, n := range names {
		if k := strings.ToLower(n); !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	return out
}

// uploadURL is the admin-users address as the client reached the console.
func uploadURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + adminUsersPath
}

// writeContext returns the context of a handler's insert and the function to defer that
// releases it. It is not the request's context, which ends with the handler, and it is
// released a moment after the handler: see chstore.CancelLater.
func writeContext(r *http.Request) (context.Context, func()) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), queryTimeout)
	return ctx, func() { chstore.CancelLater(cancel) }
}
