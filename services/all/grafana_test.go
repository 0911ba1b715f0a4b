package all

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/trailstream/trailstream/pkg/metrics"
)

const (
	dashboardFile = "../../deploy/grafana/trailstream.json"
	provisioning  = "../../deploy/grafana/provisioning"
	prometheusYML = "../../deploy/prometheus/prometheus.yml"
	composeFile   = "../../docker-compose.yml"
)

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = []string{"job", "instance"}

// dashboard is what the test reads of a Grafana dashboard's JSON model.
type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource json.RawMessage          `json:"datasource"`
	GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or an object with a query
	Datasource json.RawMessage `json:"datasource"`
}

// query returns the PromQL of a query variable.
func (v variable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct{ Query string }
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// expression is one PromQL expression of the dashboard and where it is.
type expression struct{ where, expr string }

// expressions returns every PromQL expression of d: every target of every panel, rows'
// panels included, and every query variable's (label_values(expr, label) as expr with
// label grouped by).
func (d dashboard) expressions() []expression {
	var out []expression
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, expression{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			out = append(out, expression{fmt.Sprintf("variable %s", v.Name), v.query()})
		}
	}
	return out
}

// promql is what a PromQL expression uses: the series it selects, with the labels each
// selector matches on, and the labels it groups by (by, without, on, ignoring).
type promql struct {
	series   map[string][]string // series name → labels of its matchers
	grouping []string
}

var (
	labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
	// keywords are PromQL's words that are not series names.
	keywords = map[string]bool{
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
		"limitk": true, "limit_ratio": true, "bool": true, "offset": true, "and": true, "or": true,
		"unless": true, "group_left": true, "group_right": true, "inf": true, "nan": true,
	}
	groupers = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true}
)

// parsePromQL reads the series names and labels of expr. It knows the PromQL the dashboard
// is written in (selectors, functions, aggregations with by, ranges, numbers, operators)
// and the Grafana variables in ranges and strings; what it does not know is an error.
func parsePromQL(expr string) (promql, error) {
	q := promql{series: map[string][]string{}}
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		expr = m[1]
		q.grouping = append(q.grouping, m[2])
	}
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	skipSpace := func(i int) int {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n') {
			i++
		}
		return i
	}
	ident := func(i int) (string, int) {
		j := i
		for j < len(expr) && isIdent(expr[j], j == i) {
			j++
		}
		return expr[i:j], j
	}
	str := func(i int) (int, error) { // i at the opening quote; returns the index after the closing one
		q := expr[i]
		for j := i + 1; j < len(expr); j++ {
			if expr[j] == '\\' {
				j++
				continue
			}
			if expr[j] == q {
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at %d", i)
	}
	last := "" // the series name just read, for the selector that may follow
	depth := 0 // of parentheses
	for i := 0; i < len(expr); {
		c := expr[i]
		switch c {
		case '(':
			depth++
		case ')':
			if depth--; depth < 0 {
				return q, fmt.Errorf("unbalanced ) at %d", i)
			}
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '(' || c == ')' || c == ',' || strings.IndexByte("+-*/%^=!<>", c) >= 0:
			if c != ' ' && c != '\t' && c != '\n' {
				last = ""
			}
			i++
		case c == '"' || c == '\'' || c == '`':
			j, err := str(i)
			if err != nil {
				return q, err
			}
			i, last = j, ""
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return q, fmt.Errorf("unterminated range at %d", i)
			}
			i, last = i+j+1, ""
		case c == '{':
			if last == "" {
				return q, fmt.Errorf("a selector without a series name at %d", i)
			}
			i++
			for {
				i = skipSpace(i)
				if i >= len(expr) {
					return q, fmt.Errorf("unterminated selector")
				}
				if expr[i] == '}' {
					i++
					break
				}
				if expr[i] == ',' {
					i++
					continue
				}
				name, j := ident(i)
				if name == "" {
					return q, fmt.Errorf("bad matcher at %d", i)
				}
				q.series[last] = append(q.series[last], name)
				j = skipSpace(j)
				for j < len(expr) && strings.IndexByte("=!~", expr[j]) >= 0 {
					j++
				}
				j = skipSpace(j)
				if j >= len(expr) || expr[j] != '"' && expr[j] != '\'' && expr[j] != '`' {
					return q, fmt.Errorf("matcher %s without a value", name)
				}
				if i, _ = str(j); i == 0 {
					return q, fmt.Errorf("unterminated matcher %s", name)
				}
			}
			last = ""
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (expr[i] >= '0' && expr[i] <= '9' || expr[i] == '.' || expr[i] == 'e') {
				i++
			}
			last = ""
		case c == '$':
			return q, fmt.Errorf("a variable outside a range or a string at %d", i)
		case isIdent(c, true):
			name, j := ident(i)
			next := skipSpace(j)
			switch {
			case groupers[name]:
				if next >= len(expr) || expr[next] != '(' {
					return q, fmt.Errorf("%s without a list of labels", name)
				}
				end := strings.IndexByte(expr[next:], ')')
				if end < 0 {
					return q, fmt.Errorf("unterminated %s list", name)
				}
				for _, l := range strings.Split(expr[next+1:next+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						q.grouping = append(q.grouping, l)
					}
				}
				i, last = next+end+1, ""
			case keywords[name] || next < len(expr) && expr[next] == '(':
				i, last = j, "" // an aggregation, a function or an operator
			default:
				if _, ok := q.series[name]; !ok {
					q.series[name] = nil
				}
				i, last = j, name
			}
		default:
			return q, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	if depth != 0 {
		return q, fmt.Errorf("unbalanced (")
	}
	if len(q.series) == 0 {
		return q, fmt.Errorf("no series")
	}
	return q, nil
}

func TestParsePromQL(t *testing.T) {
	for _, tc := range []struct {
		expr     string
		series   map[string][]string
		grouping []string
	}{
		{`sum by (stage) (rate(trailstream_stage_records_in_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))`,
			map[string][]string{"trailstream_stage_records_in_total": {"job", "instance"}}, []string{"stage"}},
		{`histogram_quantile(0.99, sum by (le, table) (rate(x_bucket{a="}"}[5m])))`,
			map[string][]string{"x_bucket": {"a"}}, []string{"le", "table"}},
		{`60 * sum without (instance) (rate(a_total[1m])) / on (job) b`,
			map[string][]string{"a_total": nil, "b": nil}, []string{"instance", "job"}},
		{`label_values(go_goroutines{job=~"$job"}, instance)`,
			map[string][]string{"go_goroutines": {"job"}}, []string{"instance"}},
	} {
		q, err := parsePromQL(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if fmt.Sprint(q.series) != fmt.Sprint(tc.series) || !slices.Equal(q.grouping, tc.grouping) {
			t.Errorf("%s: series %v grouping %q, want %v %q", tc.expr, q.series, q.grouping, tc.series, tc.grouping)
		}
	}
	for _, bad := range []string{`{__name__="x"}`, `rate(x[5m]`, `x)`, `x{a=}`, `sum by stage (x)`, `$job`, ``} {
		if _, err := parsePromQL(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestGrafanaDashboard holds deploy/grafana/trailstream.json to the metrics: every series each
// panel's and variable's PromQL selects is in a scrape of trailstream all after real work
// (a family whose series appear only once something failed, such as S3 errors, is held to
// its definition, the one the endpoint would show), and every label a selector matches on
// or an expression groups by is a label of its series.
func TestGrafanaDashboard(t *testing.T) {
	d := readDashboard(t)
	checkDashboardModel(t, d)
	p := runPipeline(t)
	defer p.stop(t)

	scraped := map[string]map[string]bool{} // series name → its labels
	for _, sm := range p.after.Samples {
		if scraped[sm.Name] == nil {
			scraped[sm.Name] = map[string]bool{}
		}
		for l := range sm.Labels {
			scraped[sm.Name][l] = true
		}
	}
	defined := map[string]map[string]bool{} // series of the families registered, → labels
	for _, f := range metrics.Registered() {
		names := []string{f.Name}
		if f.Type == "histogram" {
			names = []string{f.Name + "_bucket", f.Name + "_sum", f.Name + "_count"}
		}
		for _, n := range names {
			defined[n] = map[string]bool{}
			for _, l := range f.Labels {
				defined[n][l] = true
			}
			if strings.HasSuffix(n, "_bucket") {
				defined[n]["le"] = true
			}
		}
	}
	// Every histogram defined shows its three series once observed: the scrape holds them.
	for name, typ := range p.after.Types {
		if typ == "histogram" && strings.HasPrefix(name, "trailstream_") {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if scraped[name+s] == nil {
					t.Errorf("the scrape declares the histogram %s and has no %s series", name, name+s)
				}
			}
		}
	}
	var fromScrape, fromDefinition []string
	exprs := d.expressions()
	if len(exprs) < 20 {
		t.Fatalf("%d PromQL expressions in the dashboard; it has more panels than that", len(exprs))
	}
	for _, e := range exprs {
		q, err := parsePromQL(e.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", e.where, e.expr, err)
			continue
		}
		labelsOf := map[string]map[string]bool{}
		for name := range q.series {
			switch {
			case scraped[name] != nil:
				labelsOf[name] = scraped[name]
				fromScrape = append(fromScrape, name)
			case defined[name] != nil:
				labelsOf[name] = defined[name]
				fromDefinition = append(fromDefinition, name)
			default:
				t.Errorf("%s: %s is not in the scrape of trailstream all, nor a series of a family it registers", e.where, name)
			}
		}
		has := func(name, label string) bool {
			return slices.Contains(targetLabels, label) || labelsOf[name][label] || labelsOf[name] == nil // the name's error is reported
		}
		for name, labels := range q.series {
			for _, l := range labels {
				if !has(name, l) {
					t.Errorf("%s: the selector of %s matches on %s, which it does not have", e.where, name, l)
				}
			}
		}
		for _, l := range q.grouping {
			for name := range q.series {
				if !has(name, l) {
					t.Errorf("%s: grouped by %s, which %s does not have", e.where, l, name)
				}
			}
		}
	}
	slices.Sort(fromDefinition)
	t.Logf("%d series checked in the scrape, %d (no sample without a failure) against their definitions: %s",
		len(slices.Compact(slices.Sorted(slices.Values(fromScrape)))), len(slices.Compact(fromDefinition)), strings.Join(slices.Compact(fromDefinition), ", "))
}

// TestDashboardPromQL has Prometheus' own parser read every expression of the dashboard, as
// recording rules given to promtool check rules (Grafana's variables replaced by values),
// where promtool is installed (Debian's prometheus package has it); parsePromQL reads them
// in any case, for TestGrafanaDashboard.
func TestDashboardPromQL(t *testing.T) {
	d := readDashboard(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	vars := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*", "$instance", ".*")
	for i, e := range d.expressions() {
		expr := e.expr
		if m := labelValues.FindStringSubmatch(expr); m != nil {
			expr = m[1]
		}
		if _, err := parsePromQL(e.expr); err != nil {
			t.Errorf("%s: %v", e.where, err)
		}
		q, _ := json.Marshal(vars.Replace(expr)) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:expression_%d\n        expr: %s\n", i, q)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed: the expressions were read by parsePromQL only")
		return
	}
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules of the dashboard's expressions: %v\n%s", err, out)
	}
}

// checkDashboardModel checks the dashboard's structure: the current JSON model, the
// variables every query uses, the rows, unique panel IDs, panels that do not overlap, and
// every panel and target on the ${datasource} variable.
func checkDashboardModel(t *testing.T, d dashboard) {
	t.Helper()
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want 39 or later", d.SchemaVersion)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		t.Errorf("no datasource variable of type datasource for prometheus: %+v", v)
	}
	for _, name := range []string{"job", "instance"} {
		if v, ok := vars[name]; !ok || v.Type != "query" || !onDatasource(v.Datasource) {
			t.Errorf("no %s query variable on ${datasource}", name)
		}
	}
	want := []string{"Throughput per stage", "Lag", "Errors", "Latency", "State", "Process"}
	var rows []string
	ids := map[int]bool{}
	cells := map[[2]int]string{} // the grid's cells a panel takes (24 wide)
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("panel %q: gridPos %+v is not within the 24 columns", p.Title, g)
			}
			for x := g.X; x < g.X+g.W; x++ {
				for y := g.Y; y < g.Y+g.H; y++ {
					if other, ok := cells[[2]int{x, y}]; ok {
						t.Errorf("panel %q overlaps %q at column %d, row %d", p.Title, other, x, y)
						return
					}
					cells[[2]int{x, y}] = p.Title
				}
			}
			if p.Type == "row" {
				rows = append(rows, p.Title)
				walk(p.Panels)
				continue
			}
			if !onDatasource(p.Datasource) {
				t.Errorf("panel %q is not on ${datasource}: %s", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if !onDatasource(tg.Datasource) {
					t.Errorf("panel %q target %s is not on ${datasource}", p.Title, tg.RefID)
				}
				for _, v := range []string{"$job", "$instance"} {
					if !strings.Contains(tg.Expr, v) {
						t.Errorf("panel %q target %s does not filter by %s: %s", p.Title, tg.RefID, v, tg.Expr)
					}
				}
			}
		}
	}
	walk(d.Panels)
	if !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
}

func onDatasource(raw json.RawMessage) bool {
	var ds struct{ Type, UID string }
	return json.Unmarshal(raw, &ds) == nil && ds.Type == "prometheus" && ds.UID == "${datasource}"
}

// composeService is what the test reads of a service of docker-compose.yml.
type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []string          `yaml:"secrets"`
}

func readCompose(t *testing.T) map[string]composeService {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return c.Services
}

// mounts returns a service's bind mounts of repository paths: container path → the path
// relative to the repository root.
func (s composeService) mounts() map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], "./") {
			out[parts[1]] = path.Clean(parts[0])
		}
	}
	return out
}

// TestObservabilityKit checks the files that make Prometheus and Grafana of docker-compose
// work together, which cannot be started here: prometheus.yml scrapes exactly the metrics
// port of every trailstream service of compose, each listening on the compose network;
// Grafana's data source is that Prometheus and its dashboard provider loads the dashboard
// file compose mounts; Grafana's admin password is no default of the repository.
func TestObservabilityKit(t *testing.T) {
	services := readCompose(t)

	// The trailstream services and their metrics ports.
	want := map[string]bool{}
	for name, s := range services {
		if s.Image != "trailstream:local" || len(s.Command) == 0 {
			continue
		}
		addr := s.Environment["TRAILSTREAM_METRICS_ADDR"]
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("compose %s: TRAILSTREAM_METRICS_ADDR %q: %v", name, addr, err)
			continue
		}
		if host != "0.0.0.0" && host != "" {
			t.Errorf("compose %s: metrics on %s, which Prometheus in another container cannot reach", name, addr)
		}
		want[name+":"+port] = true
	}
	for _, svc := range []string{"fetcher", "normalizer", "detector", "sink", "console"} {
		if !slices.ContainsFunc(sorted(want), func(k string) bool { return strings.HasPrefix(k, svc+":") }) {
			t.Errorf("compose: no trailstream service %s with a metrics address", svc)
		}
	}

	// Prometheus: its config is the one compose mounts, and scrapes those ports.
	prom, ok := services["prometheus"]
	if !ok {
		t.Fatal("compose has no prometheus service")
	}
	if got := prom.mounts()["/etc/prometheus/prometheus.yml"]; got != "deploy/prometheus/prometheus.yml" {
		t.Errorf("compose mounts %q as Prometheus' config, want deploy/prometheus/prometheus.yml", got)
	}
	b, err := os.ReadFile(prometheusYML)
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		ScrapeConfigs []struct {
			JobName     string `yaml:"job_name"`
			MetricsPath string `yaml:"metrics_path"`
			DNS         []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
			Static []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &pc); err != nil {
		t.Fatalf("%s: %v", prometheusYML, err)
	}
	got := map[string]bool{}
	for _, sc := range pc.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s scrapes %s, the endpoint serves /metrics", sc.JobName, sc.MetricsPath)
		}
		var targets []string
		for _, d := range sc.DNS {
			if d.Type != "A" {
				t.Errorf("job %s: DNS lookup of type %q; Docker's DNS answers A", sc.JobName, d.Type)
			}
			for _, n := range d.Names {
				targets = append(targets, fmt.Sprintf("%s:%d", n, d.Port))
			}
		}
		for _, s := range sc.Static {
			targets = append(targets, s.Targets...)
		}
		for _, tg := range targets {
			if got[tg] {
				t.Errorf("%s scraped twice", tg)
			}
			got[tg] = true
			if host, _, _ := net.SplitHostPort(tg); host != sc.JobName {
				t.Errorf("job %s scrapes %s: name each job for its service, the dashboard's job variable shows it", sc.JobName, tg)
			}
		}
	}
	if a, b := sorted(got), sorted(want); !slices.Equal(a, b) {
		t.Errorf("prometheus.yml scrapes %q; the trailstream services of compose serve metrics on %q", a, b)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "config", "--syntax-only", prometheusYML).CombinedOutput(); err != nil {
			t.Errorf("promtool check config: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool is not installed: prometheus.yml checked by the fields above only")
	}

	// Grafana: provisioned from the repository's files, on that Prometheus.
	g, ok := services["grafana"]
	if !ok {
		t.Fatal("compose has no grafana service")
	}
	mounts := g.mounts()
	if mounts["/etc/grafana/provisioning"] != "deploy/grafana/provisioning" {
		t.Errorf("compose mounts %q as Grafana's provisioning, want deploy/grafana/provisioning", mounts["/etc/grafana/provisioning"])
	}
	var dashboardAt string // where the dashboard file is in the container
	for in, from := range mounts {
		if from == "deploy/grafana/trailstream.json" {
			dashboardAt = in
		}
	}
	if dashboardAt == "" {
		t.Error("compose does not mount deploy/grafana/trailstream.json in Grafana")
	}
	promPort := ""
	for _, p := range prom.Ports {
		parts := strings.Split(p, ":")
		promPort = parts[len(parts)-1]
	}
	type datasource struct {
		Type string `yaml:"type"`
		URL  string `yaml:"url"`
	}
	var sources []datasource
	for _, f := range yamlFiles(t, filepath.Join(provisioning, "datasources")) {
		var ds struct {
			Datasources []datasource `yaml:"datasources"`
		}
		unmarshalFile(t, f, &ds)
		sources = append(sources, ds.Datasources...)
	}
	if len(sources) != 1 || sources[0].Type != "prometheus" || sources[0].URL != "http://prometheus:"+promPort {
		t.Errorf("provisioned data sources %+v, want one, prometheus at http://prometheus:%s", sources, promPort)
	}
	var loaded bool
	for _, f := range yamlFiles(t, filepath.Join(provisioning, "dashboards")) {
		var dp struct {
			Providers []struct {
				Type    string `yaml:"type"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		unmarshalFile(t, f, &dp)
		for _, p := range dp.Providers {
			if p.Type == "file" && dashboardAt != "" && (p.Options.Path == dashboardAt || p.Options.Path == path.Dir(dashboardAt)) {
				loaded = true
			}
		}
	}
	if !loaded {
		t.Errorf("no dashboard provider of deploy/grafana/provisioning/dashboards loads %s, where compose mounts the dashboard", dashboardAt)
	}
	for k, v := range g.Environment {
		if k == "GF_SECURITY_ADMIN_PASSWORD" {
			t.Errorf("compose sets Grafana's admin password %q: read it from a secret (GF_SECURITY_ADMIN_PASSWORD__FILE)", v)
		}
	}
	if f := g.Environment["GF_SECURITY_ADMIN_PASSWORD__FILE"]; f != "" && !slices.Contains(g.Secrets, strings.TrimPrefix(f, "/run/secrets/")) {
		t.Errorf("Grafana reads its admin password from %s, which is not one of its secrets %q", f, g.Secrets)
	}
	if g.Environment["GF_AUTH_ANONYMOUS_ENABLED"] == "true" && g.Environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] != "Viewer" {
		t.Errorf("anonymous visitors of Grafana are %q, not viewers", g.Environment["GF_AUTH_ANONYMOUS_ORG_ROLE"])
	}
	for _, name := range []string{"prometheus", "grafana"} {
		image := services[name].Image
		if _, tag, ok := strings.Cut(image, ":"); !ok || tag == "latest" {
			t.Errorf("compose %s: image %q is not pinned to a release", name, image)
		}
	}
}

func sorted(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no provisioning file in %s (%v)", dir, err)
	}
	return files
}

func unmarshalFile(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
