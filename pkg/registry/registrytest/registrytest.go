// Package registrytest is a schema registry for tests: the part of the Confluent Schema
// Registry's REST API that trailstream and Kafka Connect-style readers use, with a real
// BACKWARD compatibility check, kept in memory and served on loopback.
//
// Routes: POST /subjects/{s}/versions, GET /subjects, GET /subjects/{s}/versions,
// GET /subjects/{s}/versions/{v|latest}, GET /schemas/ids/{id}, GET and PUT /config and
// /config/{s}, POST /compatibility/subjects/{s}/versions/{v|latest}. Errors carry the
// documented body {"error_code", "message"}: 40401 subject not found, 40402 version not
// found, 40403 schema not found, 40408 no subject-level compatibility, 409 incompatible
// schema, 42201 invalid schema, 42202 invalid version, 42203 invalid compatibility level.
package registrytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkedin/goavro/v2"
)

// ContentType is the media type of the registry's answers.
const ContentType = "application/vnd.schemaregistry.v1+json"

var levels = []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}

// Registry is the registry's state and its http.Handler. The zero value is not usable; use
// New.
type Registry struct {
	mu       sync.Mutex
	schemas  []stored          // by ID - 1
	subjects map[string][]int  // subject → schema ID of each version, oldest first
	config   map[string]string // subject → compatibility level
	global   string            // the global compatibility level
	user     string            // basic authentication required, when not empty
	pass     string
	requests atomic.Int64
}

type stored struct {
	schema    string
	canonical string
}

// New returns an empty registry whose global compatibility is BACKWARD, the registry's
// default.
func New() *Registry {
	return &Registry{subjects: map[string][]int{}, config: map[string]string{}, global: "BACKWARD"}
}

// RequireAuth makes every request need basic authentication as user and pass.
func (r *Registry) RequireAuth(user, pass string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.pass = user, pass
}

// Requests returns how many requests the registry answered.
func (r *Registry) Requests() int64 { return r.requests.Load() }

// Schema returns the schema of id as registered, and whether there is one.
func (r *Registry) Schema(id int) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id < 1 || id > len(r.schemas) {
		return "", false
	}
	return r.schemas[id-1].schema, true
}

// Subjects returns the subjects registered, sorted.
func (r *Registry) Subjects() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subjectList()
}

func (r *Registry) subjectList() []string {
	out := make([]string, 0, len(r.subjects))
	for s := range r.subjects {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// apiError is an error answer.
type apiError struct {
	status int
	Code   int    `json:"error_code"`
	Msg    string `json:"message"`
}

func fail(status, code int, format string, args ...any) *apiError {
	return &apiError{status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP implements the API.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.user != "" {
		if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="schema-registry"`)
			reply(w, http.StatusUnauthorized, fail(401, 40101, "Unauthorized"))
			return
		}
	}
	out, err := r.route(req)
	if err != nil {
		reply(w, err.status, err)
		return
	}
	reply(w, http.StatusOK, out)
}

func (r *Registry) route(req *http.Request) (any, *apiError) {
	parts := strings.Split(strings.Trim(req.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	m := req.Method
	switch {
	case m == http.MethodGet && len(parts) == 1 && parts[0] == "subjects":
		return r.subjectList(), nil
	case m == http.MethodPost && len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions":
		return r.register(parts[1], req.Body)
	case m == http.MethodGet && len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions":
		ids, ok := r.subjects[parts[1]]
		if !ok {
			return nil, fail(404, 40401, "Subject '%s' not found.", parts[1])
		}
		versions := make([]int, len(ids))
		for i := range ids {
			versions[i] = i + 1
		}
		return versions, nil
	case m == http.MethodGet && len(parts) == 4 && parts[0] == "subjects" && parts[2] == "versions":
		v, id, err := r.version(parts[1], parts[3])
		if err != nil {
			return nil, err
		}
		return map[string]any{"subject": parts[1], "version": v, "id": id, "schema": r.schemas[id-1].schema}, nil
	case m == http.MethodGet && len(parts) == 3 && parts[0] == "schemas" && parts[1] == "ids":
		id, err := strconv.Atoi(parts[2])
		if err != nil || id < 1 || id > len(r.schemas) {
			return nil, fail(404, 40403, "Schema %s not found", parts[2])
		}
		return map[string]any{"schema": r.schemas[id-1].schema}, nil
	case len(parts) == 1 && parts[0] == "config" && m == http.MethodGet:
		return map[string]string{"compatibilityLevel": r.global}, nil
	case len(parts) == 1 && parts[0] == "config" && m == http.MethodPut:
		level, err := readLevel(req.Body)
		if err != nil {
			return nil, err
		}
		r.global = level
		return map[string]string{"compatibility": level}, nil
	case len(parts) == 2 && parts[0] == "config" && m == http.MethodGet:
		level, ok := r.config[parts[1]]
		if !ok {
			if req.URL.Query().Get("defaultToGlobal") != "true" {
				return nil, fail(404, 40408, "Subject '%s' does not have subject-level compatibility configured", parts[1])
			}
			level = r.global
		}
		return map[string]string{"compatibilityLevel": level}, nil
	case len(parts) == 2 && parts[0] == "config" && m == http.MethodPut:
		level, err := readLevel(req.Body)
		if err != nil {
			return nil, err
		}
		r.config[parts[1]] = level
		return map[string]string{"compatibility": level}, nil
	case m == http.MethodPost && len(parts) == 5 && parts[0] == "compatibility" && parts[1] == "subjects" && parts[3] == "versions":
		s, err := readSchema(req.Body)
		if err != nil {
			return nil, err
		}
		_, id, err := r.version(parts[2], parts[4])
		if err != nil {
			return nil, err
		}
		msg := backward(s.schema, r.schemas[id-1].schema)
		out := map[string]any{"is_compatible": msg == ""}
		if msg != "" && req.URL.Query().Get("verbose") == "true" {
			out["messages"] = []string{msg}
		}
		return out, nil
	}
	return nil, fail(404, 404, "HTTP 404 Not Found")
}

// version finds version v ("latest" or a number from 1) of subject.
func (r *Registry) version(subject, v string) (int, int, *apiError) {
	ids, ok := r.subjects[subject]
	if !ok {
		return 0, 0, fail(404, 40401, "Subject '%s' not found.", subject)
	}
	n := len(ids)
	if v != "latest" && v != "-1" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return 0, 0, fail(422, 42202, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
		}
		if n > len(ids) {
			return 0, 0, fail(404, 40402, "Version %d not found.", n)
		}
	}
	return n, ids[n-1], nil
}

func readLevel(body io.Reader) (string, *apiError) {
	var in struct {
		Compatibility string `json:"compatibility"`
	}
	if err := json.NewDecoder(body).Decode(&in); err != nil {
		return "", fail(422, 42203, "Invalid compatibility level: %v", err)
	}
	if !slices.Contains(levels, in.Compatibility) {
		return "", fail(422, 42203, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	return in.Compatibility, nil
}

// readSchema reads the body {"schema": "...", "schemaType": "AVRO"} and checks the schema.
func readSchema(body io.Reader) (stored, *apiError) {
	var in struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := json.NewDecoder(body).Decode(&in); err != nil {
		return stored{}, fail(422, 42201, "Invalid schema: the body is not JSON: %v", err)
	}
	if in.SchemaType != "" && in.SchemaType != "AVRO" {
		return stored{}, fail(422, 42201, "Invalid schema type %s: this registry holds Avro only", in.SchemaType)
	}
	codec, err := goavro.NewCodec(in.Schema)
	if err != nil {
		return stored{}, fail(422, 42201, "Invalid schema %s: %v", in.Schema, err)
	}
	return stored{schema: in.Schema, canonical: codec.CanonicalSchema()}, nil
}

func (r *Registry) level(subject string) string {
	if l, ok := r.config[subject]; ok {
		return l
	}
	return r.global
}

func (r *Registry) register(subject string, body io.Reader) (any, *apiError) {
	s, err := readSchema(body)
	if err != nil {
		return nil, err
	}
	ids := r.subjects[subject]
	for _, id := range ids {
		if r.schemas[id-1].canonical == s.canonical {
			return map[string]int{"id": id}, nil
		}
	}
	var against []int
	switch r.level(subject) {
	case "BACKWARD", "FULL":
		if len(ids) > 0 {
			against = ids[len(ids)-1:]
		}
	case "BACKWARD_TRANSITIVE", "FULL_TRANSITIVE":
		against = ids
	}
	for _, id := range against {
		if msg := backward(s.schema, r.schemas[id-1].schema); msg != "" {
			return nil, fail(409, 409, "Schema being registered is incompatible with an earlier schema for subject \"%s\": %s", subject, msg)
		}
	}
	id := 0
	for i, o := range r.schemas {
		if o.canonical == s.canonical {
			id = i + 1
		}
	}
	if id == 0 {
		r.schemas = append(r.schemas, s)
		id = len(r.schemas)
	}
	r.subjects[subject] = append(ids, id)
	return map[string]int{"id": id}, nil
}

// Server serves a Registry on a loopback address until Close.
type Server struct {
	Registry *Registry
	ln       net.Listener
	srv      *http.Server
	done     chan struct{}
}

// Start serves reg on addr ("127.0.0.1:0" for any free port).
func Start(reg *Registry, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{Registry: reg, ln: ln, srv: &http.Server{Handler: reg}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Addr returns the address served.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the registry's base URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Close stops serving and closes every open connection: the registry no longer answers.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// TB is the part of testing.TB that NewServer uses.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// NewServer starts an empty registry on a free loopback port, closed when the test ends.
func NewServer(t TB) *Server {
	t.Helper()
	s, err := Start(New(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Restart serves reg again on addr, where a closed Server served it, trying for up to 5 s
// while the port is not yet free.
func Restart(reg *Registry, addr string) (*Server, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := Start(reg, addr)
		if err == nil || time.Now().After(deadline) {
			return s, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
