// Package consoletest checks the console's dashboards in a real headless Chromium, for the
// console's own tests and for end-to-end tests of the whole pipeline.
package consoletest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/trailstream/trailstream/pkg/geo"
)

// OverviewPanels are the IDs of the Overview dashboard's panels.
var OverviewPanels = []string{
	"overview-geo",
	"overview-created-resources",
	"overview-deleted-resources",
	"overview-top-users",
	"overview-failed-logins",
	"overview-network-security-events",
}

// Dashboards are the console's dashboards, by path, and the IDs of their panels.
var Dashboards = []struct {
	Path   string
	Panels []string
}{
	{"/d/overview", OverviewPanels},
	{"/d/user-monitoring", []string{"users-geo", "users-admin-activity-over-time", "users-admin-top-activities", "users-top-users",
		"users-instances-by-user", "users-admin-recent-activity"}},
	{"/d/network-security", []string{"netsec-authz-failures-geo", "netsec-authz-failures-recent", "netsec-authz-failures-over-time",
		"netsec-events-over-time", "netsec-sg-nacl-changes", "netsec-nacl-allow-all", "netsec-created-deleted", "netsec-short-lived"}},
	{"/d/operations", []string{"ops-action-events", "ops-services-over-time", "ops-regions-over-time", "ops-eip-recent",
		"ops-created-over-time", "ops-deleted-over-time"}},
	{"/d/console-logins", []string{"logins-geo", "logins-by-user", "logins-over-time", "logins-multiple-ip", "logins-outside-country",
		"logins-outlier-success", "logins-time-compare", "logins-outlier-failure", "logins-without-mfa"}},
	{"/d/s3-public", []string{"s3-new-public-objects", "s3-new-public-objects-over-time", "s3-new-public-objects-table",
		"s3-public-buckets", "s3-public-buckets-over-time", "s3-public-buckets-table", "s3-modified-public-objects",
		"s3-modified-public-objects-over-time", "s3-modified-public-objects-table"}},
}

// DetectionsPanels are the IDs of the detections page's (/detections) panels, which are
// not among the dashboards'.
var DetectionsPanels = []string{"detections-over-time", "detections-by-rule", "detections-list"}

const loadTimeout = 60 * time.Second

// PanelState is what the page shows for one panel.
type PanelState struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	State string `json:"state"`
	Marks int    `json:"marks"` // the data marks the chart holds (slices, bars, points, markers), the table's rows, 1 for a single value
	Drawn int    `json:"drawn"` // what is on the page: 1 for an ECharts canvas, else the table rows or the single value
	Text  string `json:"text"`
}

// readPanels lists every panel of the page once none is loading any more.
const readPanels = `(() => {
	const cards = [...document.querySelectorAll("[data-panel]")];
	if (cards.length === 0 || cards.some(c => c.dataset.state === "loading")) return null;
	return cards.map(c => ({
		id: c.dataset.panel,
		kind: c.dataset.kind,
		state: c.dataset.state,
		marks: Number(c.dataset.marks || 0),
		drawn: c.querySelectorAll(".body .chart[_echarts_instance_] canvas, .body table tbody tr:not([hidden]), .body .single").length,
		text: c.querySelector(".body").innerText.slice(0, 300),
	}));
})()`

// geoCreditURL is where the licence of pkg/geo's data asks pages showing locations to link.
const geoCreditURL = "https://db-ip.com"

// attribution reads the text of the page's link to geoCreditURL, "" without one.
const attribution = `document.querySelector('a[href="` + geoCreditURL + `"]')?.textContent ?? ""`

// AssertOverviewRendered opens the Overview dashboard at baseURL in headless Chromium and
// fails t unless all six panels finished with data-state="ready" and drew their data
// (charts with data marks, table rows, the single value), the page credits the
// geolocation data (geo.Attribution linked to DB-IP, as its licence asks), the browser
// logged no error and the page requested nothing from another origin. baseURL is the
// console's root ("http://127.0.0.1:8080"); it may carry a query selecting the time range
// and environment ("http://127.0.0.1:8080/?range=168h"). A full-page screenshot is written
// to t.ArtifactDir() as overview.png.
func AssertOverviewRendered(t testing.TB, baseURL string) {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("console URL %q: %v", baseURL, err)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	b := NewBrowser(t, u.Scheme+"://"+u.Host)
	panels := b.Open(u.RequestURI())
	b.Screenshot("overview")

	credit, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](attribution))
	if err != nil {
		t.Fatalf("read the footer of %s: %v", u, err)
	}
	if credit != geo.Attribution {
		t.Errorf("the page shows locations and its link to %s says %q, want %q", geoCreditURL, credit, geo.Attribution)
	}
	CheckPanels(t, u.String(), panels, OverviewPanels)
	b.CheckClean()
}

// CheckPanels fails t unless every panel of want is among panels, ready, with data drawn.
func CheckPanels(t testing.TB, page string, panels []PanelState, want []string) {
	t.Helper()
	byID := map[string]PanelState{}
	for _, p := range panels {
		byID[p.ID] = p
	}
	if len(panels) != len(want) {
		t.Errorf("%s has %d panels, want %d (%v)", page, len(panels), len(want), want)
	}
	for _, id := range want {
		p, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("panel %s is not on the page %s", id, page)
		case p.State != "ready":
			t.Errorf("%s: panel %s: data-state=%q, want \"ready\"; it shows: %s", page, id, p.State, oneLine(p.Text))
		case p.Marks == 0 || p.Drawn == 0:
			t.Errorf("%s: panel %s (%s) is ready but drew %d data marks, %d elements; it shows: %s", page, id, p.Kind, p.Marks, p.Drawn, oneLine(p.Text))
		}
	}
}

// Browser is a headless Chromium tab on one console that records what a page of it must
// never do: log an error, throw an uncaught exception, or request anything from another
// origin (such requests are also refused).
type Browser struct {
	t testing.TB
	*tab
}

// tab is the browser's state that every Browser of it shares.
type tab struct {
	ctx    context.Context
	origin string

	mu       sync.Mutex
	others   []string // origins besides origin the tab may request (Allow)
	problems []string
}

// For returns the same tab reporting to t, for a subtest.
func (b *Browser) For(t testing.TB) *Browser {
	return &Browser{t: t, tab: b.tab}
}

// NewBrowser starts Chromium for the console at origin ("http://127.0.0.1:8080") with a
// 1280 × 900 viewport; it stops when t ends.
func NewBrowser(t testing.TB, origin string) *Browser {
	t.Helper()
	ctx, _ := browser(t)
	b := &Browser{t: t, tab: &tab{ctx: ctx, origin: strings.TrimSuffix(origin, "/")}}
	messages := chromedp.Console(ctx)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}); err != nil {
		t.Fatalf("intercept the browser's requests: %v", err)
	}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.problem(fmt.Sprintf("the browser logged %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
			}
		}
	}()
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			u := ev.Request.URL
			if b.allowed(u) {
				chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			b.problem("the page requested another origin: " + u)
			chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	}()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("set the viewport: %v", err)
	}
	return b
}

// Context is the tab's context, for running chromedp actions on it.
func (b *Browser) Context() context.Context { return b.ctx }

// Origin is the console's origin.
func (b *Browser) Origin() string { return b.origin }

// Allow lets the tab also load pages of origin, such as a single sign-on issuer's.
func (b *Browser) Allow(origin string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.others = append(b.others, strings.TrimSuffix(origin, "/"))
}

// allowed reports whether the tab may request u: the console's origin or an allowed one.
func (b *tab) allowed(u string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range append([]string{b.origin}, b.others...) {
		if u == o || strings.HasPrefix(u, o+"/") {
			return true
		}
	}
	return false
}

func (b *tab) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// CheckClean fails the test for each error the browser logged and each request it made to
// another origin so far, and forgets them.
func (b *Browser) CheckClean() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("%s", p)
	}
	b.problems = nil
}

// Forgive forgets the problems recorded so far that contain substr and returns how many
// there were: for a step that makes the page log an error on purpose, as Chromium does
// for every answer of status 400 or more that a page fetches.
func (b *Browser) Forgive(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept, n := b.problems[:0], 0
	for _, p := range b.problems {
		if strings.Contains(p, substr) {
			n++
			continue
		}
		kept = append(kept, p)
	}
	b.problems = kept
	return n
}

// Open navigates to path (with its query) and returns the panels once none is loading.
func (b *Browser) Open(path string) []PanelState {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(b.origin+path)); err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	return b.Panels()
}

// Panels waits until no panel of the page is loading and returns them all; it fails the
// test when the page says its assets were not built.
func (b *Browser) Panels() []PanelState {
	b.t.Helper()
	built, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!!document.querySelector('script[type=module][src="/static/app.js"]')`))
	if err != nil {
		b.t.Fatalf("read the page: %v", err)
	}
	if !built {
		b.t.Fatalf("the console's pages say its browser assets are not built: run `make assets` (or `make build`) before the tests")
	}
	panels, err := chromedp.Run(b.ctx, chromedp.Poll[[]PanelState](readPanels,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(loadTimeout)))
	if err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s did not finish loading its panels within %v: %v", loc, loadTimeout, err)
	}
	return panels
}

// Screenshot writes a full-page screenshot of the tab as name.png into t.ArtifactDir(),
// and into $CONSOLE_SCREENSHOTS when that is set, and returns the first path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{b.t.ArtifactDir()}
	if d := os.Getenv("CONSOLE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.t.Fatalf("CONSOLE_SCREENSHOTS: %v", err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			b.t.Fatalf("write screenshot: %v", err)
		}
	}
	shot := filepath.Join(dirs[0], name+".png")
	b.t.Logf("screenshot: %s", shot)
	return shot
}

// browser starts a headless Chromium with a fresh profile and returns a tab's context, or
// fails t saying how to install Chromium. The browser stops with cancel or when t ends.
func browser(t testing.TB) (context.Context, context.CancelFunc) {
	t.Helper()
	exe, err := findChromium()
	if err != nil {
		t.Fatalf("%v: install it with `deploy/local/stack.sh browser`", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*loadTimeout)
	if err := chromedp.Do(ctx); err != nil {
		cancelTime()
		cancelTab()
		cancelAlloc()
		t.Fatalf("start Chromium %s: %v", exe, err)
	}
	cancel := func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	}
	t.Cleanup(cancel)
	return ctx, cancel
}

// findChromium returns the path of a Chromium or Chrome binary.
func findChromium() (string, error) {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("the browser test needs Chromium and found none (looked for /usr/bin/chromium, chromium, chromium-browser, google-chrome)")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
