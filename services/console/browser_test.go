package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trailstream/trailstream/services/console/consoletest"
)

func TestOverviewInBrowser(t *testing.T) {
	f := newFixture(t)
	consoletest.AssertOverviewRendered(t, f.srv.URL)
}

// TestDashboardsInBrowser opens the six dashboards on the fixtures of all of them: every
// panel draws its data, the browser logs no error and asks no other origin for anything.
func TestDashboardsInBrowser(t *testing.T) {
	f := loadFixture(t, "overview.jsonl", "users.jsonl", "netsec.jsonl", "ops.jsonl", "logins.jsonl", "s3.jsonl")
	b := consoletest.NewBrowser(t, f.srv.URL)
	window := f.day().Encode()
	for _, d := range consoletest.Dashboards {
		panels := b.Open(d.Path + "?" + window)
		b.Screenshot(strings.TrimPrefix(d.Path, "/d/"))
		consoletest.CheckPanels(t, d.Path, panels, d.Panels)
		b.CheckClean()
	}
	// A phone's width: the grid becomes one column and every panel still draws.
	if err := chromedp.Do(b.Context(), chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	consoletest.CheckPanels(t, "/d/overview on a phone", b.Open("/d/overview?"+window), consoletest.OverviewPanels)
	b.Screenshot("overview-phone")
	b.CheckClean()
}

// eventsPage is what the events search shows.
type eventsPage struct {
	Path   string              `json:"path"`
	Query  map[string][]string `json:"query"`
	Total  string              `json:"total"`
	Users  []string            `json:"users"`
	Events []string            `json:"events"`
}

const readEvents = `(() => {
	const cols = [...document.querySelectorAll("[data-panel=events] thead th")].map(th => th.textContent);
	const col = name => [...document.querySelectorAll("[data-panel=events] tbody tr.event")].map(tr => tr.children[cols.indexOf(name)].textContent);
	const q = {};
	for (const [k, v] of new URLSearchParams(location.search)) (q[k] = q[k] || []).push(v);
	return {path: location.pathname, query: q, total: document.querySelector("[data-panel=events] .total")?.textContent ?? "",
		users: col("User"), events: col("Event")};
})()`

// clickChart clicks the middle of the element of a panel's chart that locate returns the
// data coordinates of, as a person would with the mouse.
func clickChart(t *testing.T, b *consoletest.Browser, panel, locate string) {
	t.Helper()
	js := `(() => {
		const box = document.querySelector('[data-panel="` + panel + `"] .chart');
		box.scrollIntoView({block: "center"});
		const c = box.chart, opt = c.getOption();
		const [x, y] = (` + locate + `)(c, opt);
		const r = box.getBoundingClientRect();
		return [r.left + x, r.top + y];
	})()`
	xy, err := chromedp.Run(b.Context(), chromedp.Evaluate[[]float64](js))
	if err != nil {
		t.Fatalf("locate the element of %s to click: %v", panel, err)
	}
	if err := chromedp.Do(b.Context(), chromedp.MouseClickXY(xy[0], xy[1])); err != nil {
		t.Fatal(err)
	}
}

// openedEvents waits for the events search to show its rows.
func openedEvents(t *testing.T, b *consoletest.Browser) eventsPage {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		loc, err := chromedp.Run(b.Context(), chromedp.Location())
		if u, perr := url.Parse(loc); err == nil && perr == nil && u.Path == "/events" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the click did not open /events; the page is %s (%v)", loc, err)
		}
	}
	panels := b.Panels()
	if len(panels) != 1 || panels[0].State != "ready" {
		t.Fatalf("the events search shows %+v, want its table ready", panels)
	}
	p, err := chromedp.Run(b.Context(), chromedp.Evaluate[eventsPage](readEvents))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDrillDownInBrowser(t *testing.T) {
	f := newFixture(t)
	b := consoletest.NewBrowser(t, f.srv.URL)
	window := f.day()

	t.Run("column", func(t *testing.T) {
		b := b.For(t)
		b.Open("/d/overview?" + window.Encode())
		// The first column of Top 10 Users is alice's 6 events.
		clickChart(t, b, "overview-top-users", `(c, opt) => c.convertToPixel({seriesIndex: 0}, [0, opt.series[0].data[0].value / 2])`)
		p := openedEvents(t, b)
		want := map[string][]string{"panel": {"overview-top-users"}, "user_name": {"alice"}, "from": window["from"], "to": window["to"]}
		for k, v := range want {
			if strings.Join(p.Query[k], ",") != strings.Join(v, ",") {
				t.Errorf("the drill-down's %s is %v, want %v (URL query %v)", k, p.Query[k], v, p.Query)
			}
		}
		if p.Total != "1–6 of 6 events" || len(p.Users) != 6 || strings.Join(p.Users, ",") != "alice,alice,alice,alice,alice,alice" {
			t.Errorf("the events of alice's column: %q, users %v; want 1–6 of 6 events, all alice's", p.Total, p.Users)
		}
		b.CheckClean()
	})

	t.Run("map marker", func(t *testing.T) {
		b := b.For(t)
		b.Open("/d/overview?" + window.Encode())
		// Tokyo's marker: 1 event.
		clickChart(t, b, "overview-geo", `(c, opt) => c.convertToPixel({seriesIndex: 0}, opt.series[0].data.find(d => d.name.startsWith("Tokyo")).value.slice(0, 2))`)
		p := openedEvents(t, b)
		if got := strings.Join(p.Query["country_code"], ",") + " " + strings.Join(p.Query["city"], ","); got != "JP Tokyo" {
			t.Errorf("the drill-down of Tokyo filters country and city %q, want \"JP Tokyo\"", got)
		}
		if p.Total != "1–1 of 1 events" {
			t.Errorf("Tokyo's events: %q, want 1–1 of 1 events", p.Total)
		}
		b.CheckClean()
	})

	t.Run("events search", func(t *testing.T) {
		b := b.For(t)
		b.Open("/events?" + with(window, "user_name", "alice").Encode())
		// A value of a column is a filter: the first row's event name narrows the search
		// without a reload.
		if err := chromedp.Do(b.Context(),
			script(`window.sameDocument = true`),
			chromedp.Click(`[data-panel=events] tbody tr.event button.filter-value[data-filter=event_name]`),
		); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(b.Context(), chromedp.Poll[bool](`new URLSearchParams(location.search).has("event_name") || null`,
			chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Fatalf("a click on an event name did not add it to the URL: %v", err)
		}
		p := openedEvents(t, b)
		same, _ := chromedp.Run(b.Context(), chromedp.Evaluate[bool](`window.sameDocument === true`))
		if !same {
			t.Errorf("filtering by a value reloaded the page")
		}
		name := p.Query["event_name"]
		if len(name) != 1 || len(p.Events) == 0 {
			t.Fatalf("after the click: query %v, events %v", p.Query, p.Events)
		}
		for i := range p.Events {
			if p.Events[i] != name[0] || p.Users[i] != "alice" {
				t.Errorf("row %d: %s by %s, want %s by alice", i, p.Events[i], p.Users[i], name[0])
			}
		}
		// A row opens its raw record; the download link carries the filters.
		if err := chromedp.Do(b.Context(), chromedp.Click(`[data-panel=events] tbody tr.event td.time`)); err != nil {
			t.Fatal(err)
		}
		raw, err := chromedp.Run(b.Context(), chromedp.Evaluate[string](`document.querySelector("[data-panel=events] tr.record:not([hidden]) pre")?.textContent ?? ""`))
		if err != nil || !strings.Contains(raw, `"eventName": "`+name[0]+`"`) {
			t.Errorf("the expanded record (%v) is %q, want the raw record of a %s", err, raw, name[0])
		}
		b.Screenshot("events")
		href, err := chromedp.Run(b.Context(), chromedp.Evaluate[string](`document.querySelector("[data-panel=events] a.download").getAttribute("href")`))
		u, perr := url.Parse(href)
		if err != nil || perr != nil || u.Path != "/api/events.jsonl" || u.Query().Get("user_name") != "alice" || u.Query().Get("event_name") != name[0] {
			t.Errorf("the download link is %q (%v), want /api/events.jsonl with user_name=alice and event_name=%s", href, err, name[0])
		}
		b.CheckClean()
	})

	t.Run("table row", func(t *testing.T) {
		n := loadFixture(t, "netsec.jsonl")
		nb := consoletest.NewBrowser(t, n.srv.URL)
		nb.Open("/d/network-security")
		// The newest authorization failure: dave's Decrypt, denied.
		if err := chromedp.Do(nb.Context(), chromedp.Click(`[data-panel="netsec-authz-failures-recent"] tbody tr`)); err != nil {
			t.Fatal(err)
		}
		p := openedEvents(t, nb)
		want := map[string]string{"panel": "netsec-authz-failures-recent", "user_name": "dave", "event_name": "Decrypt",
			"error_code": "AccessDeniedException", "source_ip": "91.198.174.192", "from": n.at(-90),
			"to": n.hour.Add(-90*time.Minute + time.Second).Format(time.RFC3339)}
		for k, v := range want {
			if strings.Join(p.Query[k], ",") != v {
				t.Errorf("the drill-down's %s is %v, want %s", k, p.Query[k], v)
			}
		}
		if p.Total != "1–1 of 1 events" || strings.Join(p.Users, ",") != "dave" || strings.Join(p.Events, ",") != "Decrypt" {
			t.Errorf("the events of the row: %q %v %v, want dave's one Decrypt", p.Total, p.Users, p.Events)
		}
		nb.CheckClean()
	})
}

// script runs JavaScript in the page for its effect.
func script(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](js)(ctx, t)
		return err
	})
}

// controls reads the filter bar.
const controls = `(() => {
	const f = document.getElementById("selection").elements;
	return Object.fromEntries(["range", "from", "to", "environment", "account_id", "aws_region", "user_name", "event_name", "refresh"].map(n => [n, f[n].value]));
})()`

func TestFiltersInURL(t *testing.T) {
	f := newFixture(t)
	b := consoletest.NewBrowser(t, f.srv.URL)
	b.Open("/d/overview")
	ctx := b.Context()
	choose := func(id, value string) chromedp.Action[chromedp.Void] {
		return script(`(() => { const e = document.getElementById("` + id + `"); e.value = "` + value + `"; e.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`)
	}
	if err := chromedp.Do(ctx,
		script(`window.sameDocument = true`),
		choose("range", "7d"),
		chromedp.SendKeys("#user_name", "alice\r"),
		choose("environment", "prod"),
		choose("refresh", "1m"),
	); err != nil {
		t.Fatal(err)
	}
	const wantQuery = "?range=7d&environment=prod&user_name=alice&refresh=1m"
	search, err := chromedp.Run(ctx, chromedp.Poll[string](`location.search === "`+wantQuery+`" ? location.search : null`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("the URL after setting the filters is %s, want the query %s", loc, wantQuery)
	}
	same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameDocument === true`))
	if !same {
		t.Errorf("changing the filters reloaded the page")
	}
	// The panels were drawn again for alice alone: one column, her 6 events.
	panels := b.Panels()
	for _, p := range panels {
		if p.ID == "overview-top-users" && (p.State != "ready" || p.Marks != 1) {
			t.Errorf("Top 10 Users for user_name=alice: %s with %d columns, want ready with 1", p.State, p.Marks)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	b.Panels()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](controls))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"range": "7d", "environment": "prod", "user_name": "alice", "refresh": "1m", "account_id": "", "event_name": ""} {
		if got[k] != v {
			t.Errorf("after a reload of %s the control %s shows %q, want %q", search, k, got[k], v)
		}
	}

	// A custom range: from and to in the URL, and back in the controls after a reload. The
	// browser runs in this machine's time zone.
	day := time.Now().Add(-48 * time.Hour).Truncate(time.Hour).Add(7 * time.Second)
	from, to := day.Format("2006-01-02T15:04:05"), day.Add(26*time.Hour+5*time.Second).Format("2006-01-02T15:04:05")
	if err := chromedp.Do(ctx,
		choose("range", "custom"),
		choose("from", from),
		choose("to", to),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`new URLSearchParams(location.search).has("to") || null`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Fatalf("a custom range did not reach the URL: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	b.Panels()
	got, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]string](controls))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"range": "custom", "from": from, "to": to, "user_name": "alice", "refresh": "1m"} {
		if got[k] != v {
			t.Errorf("after a reload with a custom range the control %s shows %q, want %q", k, got[k], v)
		}
	}
	b.CheckClean()
}
