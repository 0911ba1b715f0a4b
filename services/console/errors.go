package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// An answer about a failure of the console's own (a query ClickHouse refused, a connection
// that broke) never carries the error: it can name addresses, databases, tables and the
// query. The error goes to the log with a short random reference, and the answer gives a
// generic reason and that reference, which the operator finds in the log. An answer about
// the client's own input (400, 404, 413) keeps its precise reason, quoting at most a short
// piece of what was sent (quote).

// errBusy is the error of a query that found no free slot within queryWait: the console
// runs at most maxQueries ClickHouse queries at once (see limitedConn).
var errBusy = errors.New("the console runs as many ClickHouse queries as it allows")

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "5"

// failure is how an internal error is answered.
type failure struct {
	status int
	reason string
	retry  bool // the answer carries Retry-After
}

// classify says how err is answered: 503 with Retry-After when the console is busy or
// ClickHouse cannot be reached, 504 when the query ran out of time, 500 otherwise.
func classify(err error) failure {
	switch {
	case errors.Is(err, errBusy):
		return failure{http.StatusServiceUnavailable, fmt.Sprintf("the console is running the %d ClickHouse queries it allows at once; try again in a few seconds", maxQueries), true}
	case errors.Is(err, context.DeadlineExceeded):
		return failure{http.StatusGatewayTimeout, "the query took longer than allowed; narrow the time range or the filters", false}
	case errors.Is(err, context.Canceled):
		return failure{http.StatusServiceUnavailable, "the request was cancelled", false}
	case unreachable(err):
		return failure{http.StatusServiceUnavailable, "ClickHouse cannot be reached now; try again shortly", true}
	}
	return failure{http.StatusInternalServerError, "the console could not answer; its log has the details", false}
}

// unreachable reports whether err says the connection to ClickHouse could not be made or
// broke, rather than that ClickHouse refused the query.
func unreachable(err error) bool {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return false
	}
	var op *net.OpError
	var ne net.Error
	return errors.As(err, &op) || errors.As(err, &ne) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, clickhouse.ErrConnectionClosed) || errors.Is(err, clickhouse.ErrAcquireConnTimeout)
}

// internalError answers r, which failed on the console's side while doing what (e.g. "the
// panel could not be read"): err is logged with a reference, and the answer says what, a
// generic reason and the reference.
func internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	f := classify(err)
	ref := logFailure(r, what, err)
	if f.retry {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, f.status, map[string]string{"error": what + ": " + f.reason + " (reference " + ref + ")", "reference": ref})
}

// failureText logs err as internalError does and returns what a page shows instead: what,
// the generic reason and the reference.
func failureText(r *http.Request, what string, err error) string {
	return what + ": " + classify(err).reason + " (reference " + logFailure(r, what, err) + ")."
}

// logFailure logs err, met while serving r, under a new reference and returns the
// reference, for an answer or a page to show instead of the error.
func logFailure(r *http.Request, what string, err error) string {
	ref := reference()
	level := slog.LevelError
	if errors.Is(err, errBusy) || errors.Is(err, context.Canceled) {
		level = slog.LevelWarn
	}
	slog.Log(r.Context(), level, "console: "+what, "reference", ref, "method", r.Method, "path", clip(r.URL.Path, 256), "err", err)
	return ref
}

// reference returns a short random reference for a logged error.
func reference() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// maxQuoted bounds how much of a value a 4xx answer quotes.
const maxQuoted = 64

// quote returns v as a Go string literal for an answer about the client's input: at most
// maxQuoted bytes of it (cut at a character boundary, "..." after), control characters
// and invalid UTF-8 escaped.
func quote(v string) string {
	return strconv.Quote(clip(v, maxQuoted))
}

// clip returns v cut to at most n bytes at a character boundary, "..." after when cut.
func clip(v string, n int) string {
	if len(v) <= n {
		return v
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "..."
}

// badBody answers a request whose body could not be read or made no sense: 413, saying
// the limit, when it was larger than allowed (http.MaxBytesReader), else 400 with err.
func badBody(w http.ResponseWriter, err error) {
	writeError(w, bodyStatus(err), bodyProblem(err, err.Error()))
}

// bodyStatus is the status of a body that could not be read: 413 when it was larger than
// allowed (http.MaxBytesReader), else 400.
func bodyStatus(err error) int {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// bodyProblem says why a body could not be read: the limit when it was larger than
// allowed, else otherwise.
func bodyProblem(err error, otherwise string) string {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fmt.Sprintf("the request body is larger than the %d bytes allowed", tooLarge.Limit)
	}
	return otherwise
}

// staticFiles serves the files of fsys under prefix as http.FileServerFS does, but answers
// 404, not the 500 the file server gives, for a name no file can have (invalid UTF-8, a
// path element "." or "..").
func staticFiles(prefix string, fsys fs.FS) http.Handler {
	files := http.StripPrefix(prefix, http.FileServerFS(fsys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, prefix), "/")
		if name != "" && (!utf8.ValidString(name) || !fs.ValidPath(name)) {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}
