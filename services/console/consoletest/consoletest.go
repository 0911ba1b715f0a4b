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
	"testing"
	"time"

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

const loadTimeout = 60 * time.Second

// panelState is what the page shows for one panel.
type panelState struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Marks int    `json:"marks"` // drawn data marks: pie slices, bars, columns, the single value
	Rows  int    `json:"rows"`  // table rows
	Text  string `json:"text"`
}

// readPanels lists every panel of the page once none is loading any more.
const readPanels = `(() => {
	const cards = [...document.querySelectorAll("[data-panel]")];
	if (cards.length === 0 || cards.some(c => c.dataset.state === "loading")) return null;
	return cards.map(c => ({
		id: c.dataset.panel,
		state: c.dataset.state,
		marks: c.querySelectorAll("svg .mark").length,
		rows: c.querySelectorAll("table tbody tr").length,
		text: c.innerText.slice(0, 300),
	}));
})()`

// geoCreditURL is where the licence of pkg/geo's data asks pages showing locations to link.
const geoCreditURL = "https://db-ip.com"

// attribution reads the text of the page's link to geoCreditURL, "" without one.
const attribution = `document.querySelector('a[href="` + geoCreditURL + `"]')?.textContent ?? ""`

// AssertOverviewRendered opens the Overview dashboard at baseURL in headless Chromium and
// fails t unless all six panels finished with data-state="ready" and drew their data as SVG
// marks or table rows, and the page credits the geolocation data (geo.Attribution linked to
// DB-IP, as its licence asks). baseURL is the console's root ("http://127.0.0.1:8080"); it
// may carry a query selecting the time range and environment ("http://127.0.0.1:8080/?range=168h").
// A full-page screenshot is written to t.ArtifactDir() as overview.png.
func AssertOverviewRendered(t testing.TB, baseURL string) {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("console URL %q: %v", baseURL, err)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	ctx, cancel := browser(t)
	defer cancel()

	err = chromedp.Do(ctx, chromedp.EmulateViewport(1360, 900), chromedp.Navigate(u.String()))
	if err != nil {
		t.Fatalf("open the Overview dashboard at %s: %v", u, err)
	}
	panels, err := chromedp.Run(ctx, chromedp.Poll[[]panelState](readPanels,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(loadTimeout)))
	if err != nil {
		t.Fatalf("the Overview dashboard at %s did not finish loading its panels within %v: %v", u, loadTimeout, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", u, err)
	}
	shot := filepath.Join(t.ArtifactDir(), "overview.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatalf("write screenshot: %v", err)
	}
	t.Logf("screenshot of %s: %s", u, shot)

	credit, err := chromedp.Run(ctx, chromedp.Evaluate[string](attribution))
	if err != nil {
		t.Fatalf("read the footer of %s: %v", u, err)
	}
	if credit != geo.Attribution {
		t.Errorf("the page shows locations and its link to %s says %q, want %q", geoCreditURL, credit, geo.Attribution)
	}

	byID := map[string]panelState{}
	for _, p := range panels {
		byID[p.ID] = p
	}
	for _, id := range OverviewPanels {
		p, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("panel %s is not on the page %s", id, u)
		case p.State != "ready":
			t.Errorf("panel %s: data-state=%q, want \"ready\"; it shows: %s", id, p.State, oneLine(p.Text))
		case p.Marks == 0 && p.Rows == 0:
			t.Errorf("panel %s is ready but drew no SVG marks and no table rows; it shows: %s", id, oneLine(p.Text))
		}
	}
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
	ctx, cancelTime := context.WithTimeout(ctx, 2*loadTimeout)
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
