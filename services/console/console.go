// Package console serves trailstream's web console: the six CloudTrail dashboards of the
// events stored in ClickHouse, drawn in the browser from a JSON API, an events search with
// drill-down, the admin-users upload, the sources page (collection's scheduler and status),
// and a health endpoint.
//
// Routes:
//
//	GET /, /d/{dashboard}   a dashboard (overview, user-monitoring, network-security, operations,
//	                        console-logins, s3-public) with the filters in the query
//	GET /detections         the detections page: detections over time, by rule, and the list
//	GET /sources            the sources page: collection's scheduler and status (see sources.go)
//	GET /events             the events search page (?detection_id=ID: that detection's events)
//	GET /api/dashboards     the dashboards and their panels: id, title, kind, columns, window;
//	                        and the detections page's panels
//	GET /api/panels         every panel of the dashboards with its dashboard
//	GET /api/panels/{id}    one panel's rows for the time range and filters (?format=csv: CSV)
//	GET /api/events         a page of the matching events, newest first (limit, offset)
//	GET /api/detections/summary  how many detections match, by severity (the Overview's figure)
//	GET /api/detections/{id}     one detection, every field, its context as an object; 404 if unknown
//	GET /api/events.jsonl   the matching events' raw records as JSON lines (at most 100,000)
//	GET /api/admin-users    the admin users in force: {"admin_users": ["alice", ...]}
//	PUT /api/admin-users    replace them with admin_users.csv (curl -T admin_users.csv URL);
//	                        POST does the same: {"admin_users": N}
//	GET /api/sources        every source with its collection status (?days=N or from, to: the
//	                        completeness days, UTC, 7 by default)
//	GET /api/sources/{id}   one source, every backfill day and up to 1000 missing files
//	POST /api/sources       add a source (JSON or a form): name, bucket, prefix, region, role_arn,
//	                        external_id, environment, queue, enabled; 201, 400 with the reason
//	POST /api/sources/{id}/enable, /disable   switch a source on or off
//	DELETE /api/sources/{id}  remove a source added on the console (409 for the others)
//	GET /metrics            Prometheus: the collection's figures per source (missing and expected
//	                        files of the last 7 days, lag, files today, backfill), the process's
//	GET /healthz            200 "ok" when ClickHouse answers, 503 with the reason otherwise
//
// The time is range (15m, 1h, 3h, 6h, 12h, 24h, 7d, 30d or a Go duration, ending now) or
// from and to (RFC 3339); with neither, each panel shows its default window. Every other
// query parameter is an exact-match filter on an events column from a fixed list
// (environment, account_id, aws_region, user_name, event_name, source_ip, ...), its value
// bound as a ClickHouse parameter. The detections page also takes the detections' own
// columns (severity, rule_id, ...; see detectionFilterDefs), and an events filter there
// selects the detections with an event that matches it.
//
// Limits. A time range is at most 92 days long, lies between 1971 and 2100, and ends at most
// a day after now; the events search pages up to 500 events at a time and no deeper than
// offset 10,000; events.jsonl holds at most 100,000 records; a panel answers at most
// 10,000 rows (more set "truncated"), the detections list 500; /api/sources covers at most
// 31 days; a filter value is at most 1024 bytes; request bodies are capped (admin_users.csv
// 1 MiB, a source 64 KiB, a token request 4 KiB, the login form 8 KiB) and a larger one is
// 413 saying the cap. Every refusal is 400 with the limit. At most 8 ClickHouse queries
// run at once for the pages and the API; a request that finds no free slot within 3
// seconds is 503 with Retry-After, and every query has its timeout (30 s; 2 minutes for
// events.jsonl), which ClickHouse is told too (max_execution_time). An error of the
// console's own (a query that failed, ClickHouse unreachable) is logged with a reference,
// and the answer says only that and the reference: 500, or 503 with Retry-After when
// ClickHouse cannot be reached, 504 when a query ran out of time.
//
// Every asset is embedded in the binary; the page makes no request outside the console.
// Browsers' cross-origin PUT, POST and DELETE requests are refused, so no other web site can
// change the admin users or the sources through a visitor's browser.
package console

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/csv"
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
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/auth"
	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/sources"
)

// web holds the page template and the static assets. static/vendor (Apache ECharts and the
// world map) is built by `make assets` from the pinned npm packages and is not committed; a
// binary built without it serves pages that say how to build it.
//
//go:embed web/index.html web/sources.html web/login.html web/audit.html web/header.html web/static
var web embed.FS

var (
	page            = template.Must(template.ParseFS(web, "web/index.html", "web/header.html"))
	sourcesTemplate = template.Must(template.ParseFS(web, "web/sources.html", "web/header.html"))
	auditTemplate   = template.Must(template.ParseFS(web, "web/audit.html", "web/header.html"))
)

// builtMarker is the file the asset build writes last.
const builtMarker = "web/static/vendor/manifest.json"

// notBuilt is what the pages of a binary without the built assets show.
const notBuilt = "The console's charts are not built into this binary: run `make build` in the repository " +
	"(it installs the pinned npm packages in services/console/web and copies them into the binary), then start it again."

// assetsBuilt reports whether the binary embeds the built browser assets.
func assetsBuilt() bool {
	_, err := fs.Stat(web, builtMarker)
	return err == nil
}

const (
	queryTimeout    = 30 * time.Second
	shutdownTimeout = 10 * time.Second
)

var databaseName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Options are the console's settings beyond its database.
type Options struct {
	// HomeCountries are the ISO 3166-1 alpha-2 codes of the countries whose console
	// sign-ins logins-outside-country leaves out; none: every country is abroad.
	HomeCountries []string
	// CompletenessGrace is how long after its digest was read a file the digest lists may
	// be absent from the ledger before the sources page counts it missing
	// (--completeness-grace); 0: config.Default's, 30 minutes.
	CompletenessGrace time.Duration
	// Security is who may use the console; nil: an open console.
	Security *Security
	// Hosts are the names the Host header may carry (--console-hosts); nil: the loopback
	// names.
	Hosts []string

	now func() time.Time // the clock of the sources page; time.Now when nil (see WithClock in the tests)
}

// Run serves the console on cfg.ConsoleAddr until ctx is cancelled, then shuts the server
// down gracefully and returns nil. Its metrics (request durations by route) and health are
// served on --metrics-addr too; it is ready when ClickHouse answers.
func Run(ctx context.Context, cfg config.Config) error {
	return metrics.Serve(ctx, cfg.MetricsAddr, "console", []*metrics.Group{metrics.Console},
		func(ctx context.Context, p *metrics.Part) error { return run(ctx, cfg, p) })
}

func run(ctx context.Context, cfg config.Config, p *metrics.Part) error {
	if !databaseName.MatchString(cfg.ClickHouseDatabase) {
		return fmt.Errorf("console: ClickHouse database name %q: use letters, digits and _", cfg.ClickHouseDatabase)
	}
	home, err := cfg.HomeCountryList()
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	chCheck := chstore.NewReadyCheck(chstore.OptionsOf(cfg))
	defer chCheck.Close()
	p.Check("clickhouse", chCheck.Check)
	conn, err := chstore.Connect(ctx, chstore.OptionsOf(cfg), slog.Default().With("service", "console"))
	if err != nil {
		return backoff.Stopped(ctx, fmt.Errorf("console: %w", err))
	}
	defer conn.Close()
	sec, err := NewSecurity(ctx, cfg.ConsoleAuth)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if sec.open() && !loopback(cfg.ConsoleAddr) {
		return fmt.Errorf("console: --console-addr %s is not a loopback address, and the console has no users: "+
			"add one with `trailstream users add NAME --role admin --console-users FILE` and give --console-users FILE, or set --oidc-issuer", cfg.ConsoleAddr)
	}
	a := cfg.ConsoleAuth
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return errors.New("console: give both --console-tls-cert and --console-tls-key")
	}
	var tlsConfig *tls.Config
	if a.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(a.TLSCert, a.TLSKey)
		if err != nil {
			return fmt.Errorf("console: --console-tls-cert: %w", err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	}
	ln, err := net.Listen("tcp", cfg.ConsoleAddr)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	srv := &http.Server{
		Handler: Handler(conn, cfg.ClickHouseDatabase, Options{HomeCountries: home, CompletenessGrace: cfg.CompletenessGrace,
			Security: sec, Hosts: a.Hosts}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      queryTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if sec.open() {
		slog.Warn(openWarning, "addr", ln.Addr().String())
	} else if tlsConfig == nil && !loopback(cfg.ConsoleAddr) {
		slog.Warn("the console serves plain HTTP on a network address: its session cookies are Secure, so browsers sign in only through an HTTPS proxy in front of it; or give --console-tls-cert and --console-tls-key")
	}
	slog.Info("console listening", "url", scheme+"://"+ln.Addr().String()+"/", "database", cfg.ClickHouseDatabase, "home_countries", home,
		"users", sec.Users.Len(), "single_sign_on", sec.OIDC != nil, "hosts", a.Hosts)
	p.Ready()
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
func Handler(conn driver.Conn, db string, o Options) http.Handler {
	if !databaseName.MatchString(db) {
		return secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "console misconfigured: the ClickHouse database name is not valid (letters, digits and _ only)", http.StatusServiceUnavailable)
		}))
	}
	grace := o.CompletenessGrace
	if grace <= 0 {
		grace = config.Default().CompletenessGrace
	}
	clock := o.now
	if clock == nil {
		clock = time.Now
	}
	s := &server{conn: conn, db: db, store: newStore(conn, db, o.HomeCountries), sources: sources.NewStore(conn, db), grace: grace, now: clock}
	throttle := o.Security.throttle()
	s.sec, s.throttle = o.Security, throttle
	s.creds, s.audit = auth.NewCredentials(conn, db), auth.NewAudit(conn, db, slog.Default().With("service", "console"))
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Pattern, metrics.Route(rt.Pattern, s.require(rt.Role, rt.handler)))
	}
	hosts := o.Hosts
	if hosts == nil {
		hosts = config.Default().ConsoleAuth.Hosts
	}
	return secure(checkHost(hosts, http.NewCrossOriginProtection().Handler(s.authenticate(mux))))
}

// Route is one route of the console and the role it needs.
type Route struct {
	Pattern string
	Role    auth.Role
	handler http.Handler
}

// routes are every route of the console, each with the role it needs: a viewer reads the
// dashboards, events and detections; an admin also uploads, manages sources and tokens and
// reads the audit log.
func (s *server) routes() []Route {
	static, _ := fs.Sub(web, "web/static")
	f := func(pattern string, role auth.Role, h http.HandlerFunc) Route { return Route{pattern, role, h} }
	return []Route{
		f("GET /{$}", auth.Viewer, func(w http.ResponseWriter, r *http.Request) { s.dashboard(w, r, dashboards[0]) }),
		f("GET /d/{id}", auth.Viewer, func(w http.ResponseWriter, r *http.Request) {
			i := slices.IndexFunc(dashboards, func(d dashboard) bool { return d.ID == r.PathValue("id") })
			if i < 0 {
				http.NotFound(w, r)
				return
			}
			s.dashboard(w, r, dashboards[i])
		}),
		f("GET /detections", auth.Viewer, s.detectionsPage),
		f("GET /events", auth.Viewer, s.eventsPage),
		f("GET /sources", auth.Admin, s.sourcesPage),
		f("GET /audit", auth.Admin, s.auditPage),
		{"GET /metrics", auth.Viewer, s.metricsHandler()},
		f("GET /healthz", auth.Public, s.healthz),
		f("GET /login", auth.Public, s.loginForm),
		f("POST /login", auth.Public, s.login),
		f("POST /logout", auth.Public, s.logout),
		f("GET /auth/oidc/login", auth.Public, s.oidcLogin),
		f("GET /auth/oidc/callback", auth.Public, s.oidcCallback),
		f("GET /api/me", auth.Viewer, s.me),
		f("GET /api/dashboards", auth.Viewer, s.listDashboards),
		f("GET /api/panels", auth.Viewer, s.listPanels),
		f("GET /api/panels/{id}", auth.Viewer, s.panel),
		f("GET /api/events", auth.Viewer, s.events),
		f("GET /api/events.jsonl", auth.Viewer, s.eventsJSONL),
		f("GET /api/detections/summary", auth.Viewer, s.summary),
		f("GET /api/detections/{id}", auth.Viewer, s.detectionAPI),
		f(adminUsersPath, auth.Admin, s.adminUsers),
		f("GET /api/sources", auth.Admin, s.sourcesAPI),
		f("POST /api/sources", auth.Admin, s.addSource),
		f("GET /api/sources/{id}", auth.Admin, s.sourceAPI),
		f("POST /api/sources/{id}/enable", auth.Admin, s.setEnabled(true)),
		f("POST /api/sources/{id}/disable", auth.Admin, s.setEnabled(false)),
		f("DELETE /api/sources/{id}", auth.Admin, s.removeSource),
		f("GET /api/tokens", auth.Admin, s.listTokens),
		f("POST /api/tokens", auth.Admin, s.createToken),
		f("DELETE /api/tokens/{id}", auth.Admin, s.revokeToken),
		f("GET /api/audit", auth.Admin, s.auditAPI),
		{"GET /static/", auth.Public, staticFiles("/static/", static)},
	}
}

// secure sets the headers every response carries: the page loads only its own assets.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

type server struct {
	sec      *Security
	throttle *auth.Throttle
	creds    *auth.Credentials
	audit    *auth.Audit
	conn     driver.Conn
	db       string
	store    *store
	sources  *sources.Store
	grace    time.Duration // --completeness-grace
	now      func() time.Time
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.conn.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "ClickHouse does not answer (reference %s in the console's log)\n", logFailure(r, "health check", err))
		return
	}
	fmt.Fprintln(w, "ok")
}

// panelInfo is a panel as /api/dashboards and /api/panels list it.
type panelInfo struct {
	ID          string            `json:"id"`
	Dashboard   string            `json:"dashboard,omitempty"`
	Title       string            `json:"title"`
	Kind        string            `json:"kind"`
	Columns     []column          `json:"columns"`
	Window      string            `json:"window"`
	Description string            `json:"description"`
	Drill       map[string]string `json:"drill,omitempty"`
}

func (p panel) info() panelInfo {
	return panelInfo{ID: p.ID, Title: p.Title, Kind: p.Kind, Columns: p.Columns, Window: windowName(p.Window),
		Description: p.Description, Drill: p.Drill}
}

// windowName writes a default window as the range parameter names it: 24h, 3h, 90m.
func windowName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.String()
}

// dashboardInfo is a dashboard as /api/dashboards lists it.
type dashboardInfo struct {
	ID          string      `json:"id"`
	Path        string      `json:"path"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Panels      []panelInfo `json:"panels"`
}

func (s *server) listDashboards(w http.ResponseWriter, r *http.Request) {
	list := make([]dashboardInfo, len(dashboards))
	for i, d := range dashboards {
		list[i] = dashboardInfo{ID: d.ID, Path: "/d/" + d.ID, Title: d.Title, Description: d.Description, Panels: []panelInfo{}}
		for _, p := range panels {
			if p.Dashboard == d.ID {
				list[i].Panels = append(list[i].Panels, p.info())
			}
		}
	}
	det := dashboardInfo{ID: detectionsInfo.ID, Path: "/" + detectionsInfo.ID, Title: detectionsInfo.Title, Description: detectionsInfo.Description}
	for _, p := range detectionPanels {
		det.Panels = append(det.Panels, p.info())
	}
	writeJSON(w, http.StatusOK, map[string]any{"dashboards": list, "detections": det})
}

func (s *server) listPanels(w http.ResponseWriter, r *http.Request) {
	list := make([]panelInfo, len(panels))
	for i, p := range panels {
		list[i] = p.info()
		list[i].Dashboard = p.Dashboard
	}
	writeJSON(w, http.StatusOK, map[string]any{"panels": list})
}

func (s *server) panel(w http.ResponseWriter, r *http.Request) {
	p, ok := findPanel(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no panel %s; GET /api/dashboards lists them", quote(r.PathValue("id"))))
		return
	}
	q := r.URL.Query()
	parse := parseSelection
	if p.Table == "detections" {
		parse = parseDetectionSelection
	}
	sel, err := parse(q, time.Now(), p.Window, "format")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format: want json or csv, not %s", quote(format)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	data, err := s.store.query(ctx, p, sel)
	if err != nil {
		internalError(w, r, "the panel could not be read", err)
		return
	}
	if format == "csv" {
		writeCSV(w, p.ID+".csv", data.Columns, data.Rows)
		return
	}
	writeJSON(w, http.StatusOK, data)
}

// writeCSV writes rows as CSV under a header of the column names, as a download. A text
// cell that a spreadsheet would run as a formula (starting with =, +, -, @, tab or carriage
// return) is prefixed with ', as CloudTrail fields are written by whoever calls AWS.
func writeCSV(w http.ResponseWriter, filename string, cols []column, rows [][]any) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	rec := make([]string, len(cols))
	for i, c := range cols {
		rec[i] = c.Name
	}
	cw.Write(rec)
	for _, r := range rows {
		for i, v := range r {
			switch v := v.(type) {
			case float64:
				rec[i] = strconv.FormatFloat(v, 'f', -1, 64)
			case string:
				if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) && cols[i].Type == "string" {
					v = "'" + v
				}
				rec[i] = v
			case []string:
				s := strings.Join(v, ", ")
				if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
					s = "'" + s
				}
				rec[i] = s
			default:
				rec[i] = fmt.Sprint(v)
			}
		}
		cw.Write(rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		slog.Warn("write CSV answer", "err", err)
	}
}

// rangeOption is one entry of the time-range selector.
type rangeOption struct{ Value, Label string }

var rangeOptions = []rangeOption{
	{"", "Panel defaults"}, {"15m", "Last 15 minutes"}, {"1h", "Last hour"}, {"3h", "Last 3 hours"}, {"6h", "Last 6 hours"},
	{"12h", "Last 12 hours"}, {"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"},
}

// dashboardPage is what the page template shows.
type dashboardPage struct {
	Title, Description string
	Page               string // the dashboard's ID, "detections" or "events"
	Header             pageHeader
	Cards              []card
	Ranges             []rangeOption
	Range              string // selected range value, "custom" for from/to, "" for the panels' defaults
	Environments       []string
	Environment        string // selected environment, "" for every one
	SelectFilters      []selectFilter
	TextFilters        []filterInput
	RuleIDs            []string         // the rule filter's suggestions
	Detection          *detectionRecord // the detection whose events the events search shows
	Figure             bool             // the page shows the "detections in window" figure
	Problem            string           // why the page cannot show what was asked, if it cannot
	Built              bool             // the binary embeds the built browser assets
	NotBuilt           string           // what to do when it does not
	AdminUsers         string           // how many admin users are in force, "unknown" if unreadable
	UploadURL          string           // where admin_users.csv is uploaded to; "" for a viewer
	Signed             bool             // the console has users: an upload needs a token
	Attribution        string           // credit for the geolocation data, when a panel shows locations
}

// navLink is one entry of the navigation bar.
type navLink struct {
	Path, Title string
	Active      bool
}

// card is one panel of a page as the template writes it; the page's script reads its
// data attributes.
type card struct {
	ID, Title, Kind, Window, Description string
	Drill                                string // the panel's Drill as JSON
	DrillPage, Palette                   string
	EventsLink                           bool // the menu links to the panel's events
}

// filterInput is one free-text filter of the filter bar; List names its suggestions'
// datalist.
type filterInput struct{ Name, Label, Value, List string }

// selectFilter is a filter of the filter bar chosen from a list.
type selectFilter struct {
	Name, Label, Any, Value string
	Options                 []rangeOption
}

// detectionTextFilters are the free-text filters of the detections page's filter bar.
var detectionTextFilters = []filterInput{{Name: "account_id", Label: "Account"}, {Name: "rule_id", Label: "Rule", List: "rule-ids"}}

// filterInputs are the filter bar's free-text filters, by API name.
var filterInputs = []filterInput{
	{Name: "account_id", Label: "Account"}, {Name: "aws_region", Label: "Region"},
	{Name: "user_name", Label: "User"}, {Name: "event_name", Label: "Event"},
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request, d dashboard) {
	var ps []panel
	for _, p := range panels {
		if p.Dashboard == d.ID {
			ps = append(ps, p)
		}
	}
	s.render(w, r, d.ID, d.Title, d.Description, ps)
}

// eventsPage is the events search: the page's table reads /api/events with the page's query.
func (s *server) eventsPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "events", "Events", "The events matching the filters, newest first, with their raw records; any column is a filter (/events?user_name=alice&event_name=ConsoleLogin).",
		[]panel{{ID: "events", Kind: "events", Title: "Matching events", Geolocated: true}})
}

// severityOptions are the severity filter's choices, the most alarming first.
func severityOptions() []rangeOption {
	out := make([]rangeOption, len(severities))
	for i, s := range severities {
		out[len(severities)-1-i] = rangeOption{Value: s, Label: strings.ToUpper(s[:1]) + s[1:]}
	}
	return out
}

// pageHeader is the top of every page: the navigation bar and who is signed in.
type pageHeader struct {
	Nav     []navLink
	Session *sessionView
}

// sessionView is who is signed in, as the header shows it.
type sessionView struct {
	User, Role, Method string
	Signed             bool // a session that can sign out
}

// header is the top of the page id for r's principal: the dashboards, the detections, the
// events search, and for admins the sources and the audit log.
func header(r *http.Request, id string) pageHeader {
	var nav []navLink
	for _, d := range dashboards {
		nav = append(nav, navLink{Path: "/d/" + d.ID, Title: d.Title, Active: d.ID == id})
	}
	nav = append(nav, navLink{Path: "/" + detectionsInfo.ID, Title: detectionsInfo.Title, Active: id == detectionsInfo.ID})
	p := principalOf(r)
	if p != nil && p.Role >= auth.Admin {
		nav = append(nav, navLink{Path: "/" + sourcesInfo.ID, Title: sourcesInfo.Title, Active: id == sourcesInfo.ID})
	}
	nav = append(nav, navLink{Path: "/events", Title: "Events", Active: id == "events"})
	if p != nil && p.Role >= auth.Admin {
		nav = append(nav, navLink{Path: "/audit", Title: "Audit", Active: id == "audit"})
	}
	h := pageHeader{Nav: nav}
	if p != nil {
		h.Session = &sessionView{User: p.User, Role: p.Role.String(), Method: p.Method, Signed: p.secret != ""}
	}
	return h
}

func (s *server) render(w http.ResponseWriter, r *http.Request, id, title, description string, ps []panel) {
	q := r.URL.Query()
	pg := dashboardPage{
		Title:       title,
		Description: description,
		Page:        id,
		Ranges:      rangeOptions,
		Range:       q.Get("range"),
		Environment: q.Get("environment"),
		Built:       assetsBuilt(),
		NotBuilt:    notBuilt,
	}
	if !pg.Built {
		pg.Problem = notBuilt
	}
	pg.Header = header(r, id)
	texts := filterInputs
	if id == detectionsInfo.ID {
		texts = detectionTextFilters
		sev := selectFilter{Name: "severity", Label: "Severity", Any: "Any severity", Value: q.Get("severity"), Options: severityOptions()}
		if sev.Value != "" && !slices.ContainsFunc(sev.Options, func(o rangeOption) bool { return o.Value == sev.Value }) {
			sev.Options = append(sev.Options, rangeOption{sev.Value, sev.Value})
		}
		pg.SelectFilters = append(pg.SelectFilters, sev)
	}
	for _, f := range texts {
		f.Value = q.Get(f.Name)
		pg.TextFilters = append(pg.TextFilters, f)
	}
	pg.Figure = id == dashboards[0].ID
	for _, p := range ps {
		if p.Geolocated {
			pg.Attribution = geo.Attribution
		}
		c := card{ID: p.ID, Title: p.Title, Kind: p.Kind, Description: p.Description, Drill: "{}",
			DrillPage: p.DrillPage, Palette: p.Palette, EventsLink: p.Table == "" && p.Kind != "events"}
		if p.Window > 0 {
			c.Window = windowName(p.Window)
		}
		if len(p.Drill) > 0 {
			b, err := json.Marshal(p.Drill)
			if err != nil {
				slog.Error("render dashboard", "panel", p.ID, "err", err)
			}
			c.Drill = string(b)
		}
		pg.Cards = append(pg.Cards, c)
	}
	switch {
	case q.Get("from") != "":
		pg.Range = "custom"
	case !slices.ContainsFunc(rangeOptions, func(o rangeOption) bool { return o.Value == pg.Range }):
		pg.Ranges = append(append([]rangeOption(nil), rangeOptions...), rangeOption{pg.Range, "Last " + pg.Range})
	}
	if pg.Environment == "all" {
		pg.Environment = ""
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	switch id {
	case detectionsInfo.ID:
		if _, err := parseDetectionSelection(q, time.Now(), detectionsWindow, "refresh"); err != nil && pg.Built {
			pg.Problem = err.Error()
		}
		ids, err := s.store.ruleIDs(ctx)
		if err != nil {
			slog.Error("detections page", "err", err)
		}
		pg.RuleIDs = ids
	default:
		extra := []string{"panel", "limit", "offset", "refresh"}
		if id == "events" {
			extra = append(extra, "detection_id")
		}
		if _, err := parseSelection(q, time.Now(), eventsWindow, extra...); err != nil && pg.Built {
			pg.Problem = err.Error()
		}
	}
	if did := q.Get("detection_id"); did != "" && id == "events" {
		d, err := s.store.detection(ctx, did)
		switch {
		case err != nil:
			slog.Error("events page", "err", err)
		case d == nil:
			pg.Problem = strings.TrimSpace(pg.Problem + fmt.Sprintf(" There is no detection %s: its events cannot be shown.", quote(did)))
		default:
			pg.Detection = d
		}
	}
	envs, err := s.store.environments(ctx)
	if err != nil {
		pg.Problem = strings.TrimSpace(pg.Problem + " " + failureText(r, "The environments could not be read", err))
	}
	pg.Environments = envs
	if pg.Environment != "" && !slices.Contains(envs, pg.Environment) {
		pg.Environments = append(pg.Environments, pg.Environment)
	}
	if p := principalOf(r); p != nil && p.Role >= auth.Admin {
		pg.AdminUsers = "unknown"
		if names, err := admins.Current(ctx, s.conn, s.db); err != nil {
			slog.Error("dashboard", "err", err)
		} else {
			pg.AdminUsers = strconv.Itoa(len(names))
		}
		pg.UploadURL, pg.Signed = uploadURL(r), p.Method != "open"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := page.Execute(w, pg); err != nil {
		slog.Error("render dashboard", "err", err)
	}
}

// environments returns the distinct environment labels of the stored events.
func (s *store) environments(ctx context.Context) ([]string, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT environment FROM "+s.db+".events WHERE environment != '' ORDER BY environment LIMIT 200")
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	defer rows.Close()
	var envs []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("list environments: %w", err)
		}
		envs = append(envs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	return envs, nil
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
