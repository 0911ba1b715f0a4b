// Package console serves trailstream's web console: the dashboards of the CloudTrail events
// stored in ClickHouse, drawn in the browser from a JSON API, the admin-users upload, and a
// health endpoint.
//
// Routes:
//
//	GET /                  the Overview dashboard (?range=24h or ?from=&to=, &environment=)
//	GET /api/panels        the panels: id, dashboard, title, kind, columns
//	GET /api/panels/{id}   one panel's rows for range or from/to, and environment
//	GET /api/admin-users   the admin users in force: {"admin_users": ["alice", ...]}
//	PUT /api/admin-users   replace them with admin_users.csv (curl -T admin_users.csv URL);
//	                       POST does the same: {"admin_users": N}
//	GET /healthz           200 "ok" when ClickHouse answers, 503 with the reason otherwise
//
// Every asset is embedded in the binary; the page makes no request outside the console.
// Browsers' cross-origin PUT and POST requests are refused, so no other web site can change
// the admin users through a visitor's browser.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/geo"
)

//go:embed web
var web embed.FS

var page = template.Must(template.ParseFS(web, "web/index.html"))

const (
	queryTimeout    = 30 * time.Second
	shutdownTimeout = 10 * time.Second
)

var databaseName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Run serves the console on cfg.ConsoleAddr until ctx is cancelled, then shuts the server
// down gracefully and returns nil.
func Run(ctx context.Context, cfg config.Config) error {
	if !databaseName.MatchString(cfg.ClickHouseDatabase) {
		return fmt.Errorf("console: ClickHouse database name %q: use letters, digits and _", cfg.ClickHouseDatabase)
	}
	conn, err := chstore.Connect(ctx, cfg.ClickHouseAddr, cfg.ClickHouseUser, cfg.ClickHousePassword, slog.Default().With("service", "console"))
	if err != nil {
		return backoff.Stopped(ctx, fmt.Errorf("console: %w", err))
	}
	defer conn.Close()
	ln, err := net.Listen("tcp", cfg.ConsoleAddr)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	srv := &http.Server{
		Handler:           Handler(conn, cfg.ClickHouseDatabase),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      queryTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	slog.Info("console listening", "url", "http://"+ln.Addr().String()+"/", "database", cfg.ClickHouseDatabase)
	select {
	case err := <-served:
		return fmt.Errorf("console: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("console: shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// Handler returns the console's routes reading database db through conn, for mounting
// without a listener. If db is not a valid database name, every route answers 503 saying so.
func Handler(conn driver.Conn, db string) http.Handler {
	if !databaseName.MatchString(db) {
		return secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, fmt.Sprintf("console misconfigured: ClickHouse database name %q: use letters, digits and _", db), http.StatusServiceUnavailable)
		}))
	}
	s := &server{conn: conn, db: db, store: newStore(conn, db)}
	static, _ := fs.Sub(web, "web")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.dashboard)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/panels", s.listPanels)
	mux.HandleFunc("GET /api/panels/{id}", s.panel)
	mux.HandleFunc(adminUsersPath, s.adminUsers)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return secure(http.NewCrossOriginProtection().Handler(mux))
}

// secure sets the headers every response carries: the page loads only its own assets.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

type server struct {
	conn  driver.Conn
	db    string
	store *store
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.conn.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "ClickHouse does not answer: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
}

// panelInfo is a panel as /api/panels lists it.
type panelInfo struct {
	ID        string   `json:"id"`
	Dashboard string   `json:"dashboard"`
	Title     string   `json:"title"`
	Kind      string   `json:"kind"`
	Columns   []column `json:"columns"`
}

func (s *server) listPanels(w http.ResponseWriter, r *http.Request) {
	list := make([]panelInfo, len(panels))
	for i, p := range panels {
		list[i] = panelInfo{ID: p.ID, Dashboard: p.Dashboard, Title: p.Title, Kind: p.Kind, Columns: p.Columns}
	}
	writeJSON(w, http.StatusOK, map[string]any{"panels": list})
}

func (s *server) panel(w http.ResponseWriter, r *http.Request) {
	p, ok := findPanel(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no panel %q; GET /api/panels lists them", r.PathValue("id")))
		return
	}
	sel, err := parseSelection(r.URL.Query(), time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	data, err := s.store.query(ctx, p, sel)
	if err != nil {
		slog.Error("panel query failed", "panel", p.ID, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, data)
}

// rangeOption is one entry of the time-range selector.
type rangeOption struct{ Value, Label string }

var rangeOptions = []rangeOption{
	{"1h", "Last hour"}, {"3h", "Last 3 hours"}, {"24h", "Last 24 hours"}, {"168h", "Last 7 days"},
}

// dashboardPage is what the dashboard template shows.
type dashboardPage struct {
	Title, Description string
	Panels             []panel
	Ranges             []rangeOption
	Range              string // selected range value, "custom" for from/to
	Environments       []string
	Environment        string // selected environment, "all" for every one
	Problem            string // why the page cannot show what was asked, if it cannot
	AdminUsers         string // how many admin users are in force, "unknown" if unreadable
	UploadURL          string // where admin_users.csv is uploaded to
	Attribution        string // credit for the geolocation data, when a panel shows locations
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg := dashboardPage{
		Title:       "AWS CloudTrail - Overview",
		Description: "Your AWS users, resources, network and security events: top users, failed logins, user locations, and resource creation and deletion.",
		Ranges:      rangeOptions,
		Range:       q.Get("range"),
		Environment: q.Get("environment"),
	}
	for _, p := range panels {
		if p.Dashboard == "overview" {
			pg.Panels = append(pg.Panels, p)
			if p.Geolocated {
				pg.Attribution = geo.Attribution
			}
		}
	}
	switch {
	case q.Get("from") != "":
		pg.Range = "custom"
	case pg.Range == "":
		pg.Range = "24h"
	case !slices.ContainsFunc(rangeOptions, func(o rangeOption) bool { return o.Value == pg.Range }):
		pg.Ranges = append(append([]rangeOption(nil), rangeOptions...), rangeOption{pg.Range, "Last " + pg.Range})
	}
	if pg.Environment == "" {
		pg.Environment = "all"
	}
	if _, err := parseSelection(q, time.Now()); err != nil {
		pg.Problem = err.Error()
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	envs, err := s.store.environments(ctx)
	if err != nil {
		slog.Error("dashboard", "err", err)
		pg.Problem = "ClickHouse did not answer: " + err.Error()
	}
	pg.Environments = envs
	if pg.Environment != "all" && !slices.Contains(envs, pg.Environment) {
		pg.Environments = append(pg.Environments, pg.Environment)
	}
	pg.AdminUsers = "unknown"
	if names, err := admins.Current(ctx, s.conn, s.db); err != nil {
		slog.Error("dashboard", "err", err)
	} else {
		pg.AdminUsers = strconv.Itoa(len(names))
	}
	pg.UploadURL = uploadURL(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := page.Execute(w, pg); err != nil {
		slog.Error("render dashboard", "err", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Warn("write JSON answer", "err", err)
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
