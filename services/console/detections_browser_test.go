package console_test

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trailstream/trailstream/services/console/consoletest"
)

// readDetections lists the detection IDs of the detections list's rows.
const readDetections = `[...document.querySelectorAll("[data-panel=detections-list] tbody tr.detection")].map(tr => tr.dataset.detection)`

// severityColours reads, for each severity, the colour of its series in Detections Over
// Time, of its bars in Detections by Rule and of its badge in the list, all as rgb(...).
const severityColours = `(() => {
	const rgb = c => { const e = document.createElement("span"); e.style.color = c; document.body.append(e); const v = getComputedStyle(e).color; e.remove(); return v; };
	const out = {};
	const over = document.querySelector('[data-panel="detections-over-time"] .chart').chart.getOption();
	for (const s of over.series) (out[s.name] = out[s.name] || {}).chart = rgb(s.color);
	const byRule = document.querySelector('[data-panel="detections-by-rule"]');
	const rows = byRule.answer.rows;
	document.querySelector('[data-panel="detections-by-rule"] .chart').chart.getOption().series[0].data.forEach((d, i) => {
		(out[rows[i][2]] = out[rows[i][2]] || {}).bar = rgb(d.itemStyle.color);
	});
	for (const b of document.querySelectorAll('[data-panel="detections-list"] tbody .sev')) (out[b.textContent] = out[b.textContent] || {}).badge = getComputedStyle(b).backgroundColor;
	return {order: over.series.map(s => s.name), colours: out};
})()`

// figure is what the Overview's detections figure shows once it has its count.
type figure struct {
	Count string `json:"count"`
	Text  string `json:"text"`
	Href  string `json:"href"`
}

func readFigure(t *testing.T, b *consoletest.Browser) figure {
	t.Helper()
	fig, err := chromedp.Run(b.Context(), chromedp.Poll[figure](`(() => {
		const f = document.getElementById("detections-figure");
		if (!f || f.dataset.state !== "ready") return null;
		return {count: f.dataset.count, text: f.innerText, href: f.getAttribute("href")};
	})()`, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		state, _ := chromedp.Run(b.Context(), chromedp.Evaluate[string](`document.getElementById("detections-figure")?.outerHTML ?? "no figure"`))
		t.Fatalf("the Overview's detections figure did not get its count: %v; it is %s", err, state)
	}
	return fig
}

// TestDetectionsInBrowser opens the detections page on the hand-written detections: every
// panel draws its data in the severities' colours, a bar filters the page in place, a row's
// arrow opens its detail and a click on the row its events; the Overview counts the
// window's detections and links to the page with the same filters.
func TestDetectionsInBrowser(t *testing.T) {
	f := loadDetections(t)
	b := consoletest.NewBrowser(t, f.srv.URL)
	ctx := b.Context()
	day := f.day()

	panels := b.Open("/detections?" + day.Encode())
	consoletest.CheckPanels(t, "/detections", panels, consoletest.DetectionsPanels)
	b.Screenshot("detections")
	b.CheckClean()
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](readDetections))
	if want := []string{"d09", "d04", "d03", "d08", "d10", "d02", "d06", "d05", "d01"}; err != nil || !reflect.DeepEqual(rows, want) {
		t.Errorf("the list shows %v (%v), want %v", rows, err, want)
	}

	t.Run("severity colours", func(t *testing.T) {
		type drawn struct{ Chart, Bar, Badge string }
		got, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
			Order   []string         `json:"order"`
			Colours map[string]drawn `json:"colours"`
		}](severityColours))
		if err != nil {
			t.Fatal(err)
		}
		// Calm at the bottom of the stack, alarming at the top.
		if want := []string{"info", "low", "medium", "high", "critical"}; !reflect.DeepEqual(got.Order, want) {
			t.Errorf("Detections Over Time stacks %v, want %v", got.Order, want)
		}
		seen := map[string]string{}
		for sev, c := range got.Colours {
			if c.Chart == "" || c.Chart != c.Badge || c.Bar != "" && c.Bar != c.Chart {
				t.Errorf("severity %s is drawn in different colours: chart %q, bar %q, badge %q", sev, c.Chart, c.Bar, c.Badge)
			}
			if other, ok := seen[c.Chart]; ok {
				t.Errorf("severities %s and %s share the colour %s", sev, other, c.Chart)
			}
			seen[c.Chart] = sev
		}
		if len(got.Colours) != 5 {
			t.Errorf("colours of %d severities, want 5: %v", len(got.Colours), got.Colours)
		}
	})

	t.Run("detail", func(t *testing.T) {
		b := b.For(t)
		if err := chromedp.Do(ctx, chromedp.Click(`[data-panel=detections-list] tr.detection[data-detection="d02"] button.expand`)); err != nil {
			t.Fatal(err)
		}
		detail, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-panel=detections-list] tr.detection[data-detection="d02"]').nextElementSibling.hidden ? "" :
			document.querySelector('[data-panel=detections-list] tr.detection[data-detection="d02"]').nextElementSibling.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Failed console logins for one user in 10 minutes.", "attack.t1110.001", "rules/local.yaml",
			`"threshold": 3`, `"window": "10m0s"`, "d02", "Show the 3 events"} {
			if !strings.Contains(detail, want) {
				t.Errorf("d02's detail lacks %q; it shows %q", want, detail)
			}
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if u, _ := url.Parse(loc); u.Path != "/detections" {
			t.Errorf("opening the detail left the page for %s", loc)
		}
		b.Screenshot("detections-detail")
		b.CheckClean()
	})

	t.Run("bar filters the page", func(t *testing.T) {
		b := b.For(t)
		if err := chromedp.Do(ctx, script(`window.sameDocument = true`)); err != nil {
			t.Fatal(err)
		}
		// The first bar: iam-policy-changed, 3 detections.
		clickChart(t, b, "detections-by-rule", `(c, opt) => c.convertToPixel({seriesIndex: 0}, [opt.series[0].data[0].value / 2, 0])`)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`new URLSearchParams(location.search).get("rule_id") === "iam-policy-changed" || null`,
			chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("a click on the bar of iam-policy-changed did not filter the page: %s", loc)
		}
		b.Panels()
		same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameDocument === true && location.pathname === "/detections"`))
		if !same {
			t.Errorf("the bar's filter reloaded the page or left it")
		}
		rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](readDetections))
		if want := []string{"d10", "d06", "d05"}; err != nil || !reflect.DeepEqual(rows, want) {
			t.Errorf("after the bar of iam-policy-changed the list shows %v (%v), want %v", rows, err, want)
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		u, _ := url.Parse(loc)
		if u.Query().Get("from") != day.Get("from") || u.Query().Get("to") != day.Get("to") {
			t.Errorf("the bar's filter changed the time range: %s", loc)
		}
		rule, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("rule_id").value`))
		if rule != "iam-policy-changed" {
			t.Errorf("the filter bar's rule shows %q, want iam-policy-changed", rule)
		}
		b.CheckClean()
	})

	t.Run("row opens its events", func(t *testing.T) {
		b := b.For(t)
		b.Open("/detections?" + day.Encode())
		if err := chromedp.Do(ctx, chromedp.Click(`[data-panel=detections-list] tr.detection[data-detection="d02"] td:nth-child(5)`)); err != nil {
			t.Fatal(err)
		}
		p := openedEvents(t, b)
		if strings.Join(p.Query["detection_id"], ",") != "d02" || len(p.Query) != 1 {
			t.Errorf("the row opened /events?%v, want detection_id=d02 alone", p.Query)
		}
		ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("[data-panel=events] tr.record .event-id code")].map(c => c.textContent)`))
		if want := []string{"x05", "x04", "x03"}; err != nil || !reflect.DeepEqual(ids, want) || p.Total != "1–3 of 3 events" ||
			strings.Join(p.Users, ",") != "carol,carol,carol" || strings.Join(p.Events, ",") != "ConsoleLogin,ConsoleLogin,ConsoleLogin" {
			t.Errorf("d02's events: %q %v %v %v (%v), want x05, x04, x03 of carol", p.Total, ids, p.Users, p.Events, err)
		}
		head, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("detection")?.innerText ?? ""`))
		if err != nil || !strings.Contains(head, "3 failed console logins of carol in 10m0s") || !strings.Contains(head, "medium") {
			t.Errorf("the events page names the detection as %q (%v)", head, err)
		}
		chip, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.chip[data-filter="detection_id"]')?.innerText ?? ""`))
		if !strings.Contains(chip, "d02") {
			t.Errorf("the detection filter's chip shows %q", chip)
		}
		b.Screenshot("detection-events")
		b.CheckClean()
	})

	t.Run("overview figure", func(t *testing.T) {
		b := b.For(t)
		b.Open("/d/overview?" + day.Encode())
		fig := readFigure(t, b)
		wantHref := "/detections?" + url.Values{"from": day["from"], "to": day["to"]}.Encode()
		if fig.Count != "9" || !strings.Contains(fig.Text, "9") || !strings.Contains(fig.Text, "detections in window") ||
			!strings.Contains(fig.Text, "1 critical") || !strings.Contains(fig.Text, "3 high") || fig.Href != wantHref {
			t.Errorf("the figure shows %+v, want 9 detections (1 critical, 3 high) linking to %s", fig, wantHref)
		}
		b.Screenshot("overview-detections")

		// The page's filters count too, and go along.
		dev := with(day, "environment", "dev")
		b.Open("/d/overview?" + dev.Encode())
		fig = readFigure(t, b)
		if u, err := url.Parse(fig.Href); fig.Count != "2" || err != nil || u.Path != "/detections" || u.Query().Get("environment") != "dev" ||
			u.Query().Get("from") != day.Get("from") {
			t.Errorf("the figure for environment=dev shows %+v, want 2 linking to /detections with environment=dev", fig)
		}
		// Changing a filter counts again without a reload.
		if err := chromedp.Do(ctx, script(`(() => { const e = document.getElementById("user_name"); e.value = "bob"; e.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("detections-figure").dataset.state === "ready" && new URLSearchParams(location.search).get("user_name") === "bob" && document.getElementById("detections-figure").dataset.count === "0" || null`,
			chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			fig := readFigure(t, b)
			t.Errorf("the figure for environment=dev and user_name=bob shows %+v, want 0", fig)
		}

		b.Open("/d/overview?" + day.Encode())
		readFigure(t, b)
		if err := chromedp.Do(ctx, chromedp.Click(`#detections-figure`)); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			loc, err := chromedp.Run(ctx, chromedp.Location())
			if u, perr := url.Parse(loc); err == nil && perr == nil && u.Path == "/detections" {
				if u.RawQuery != (url.Values{"from": day["from"], "to": day["to"]}).Encode() {
					t.Errorf("the figure opened %s, want the Overview's time range", loc)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a click on the figure did not open /detections; the page is %s (%v)", loc, err)
			}
		}
		consoletest.CheckPanels(t, "/detections from the Overview", b.Panels(), consoletest.DetectionsPanels)
		rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](readDetections))
		if err != nil || len(rows) != 9 {
			t.Errorf("the detections page opened from the figure lists %v (%v), want the 9 of the window", rows, err)
		}
		b.CheckClean()
	})

	t.Run("phone", func(t *testing.T) {
		b := b.For(t)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
			t.Fatal(err)
		}
		consoletest.CheckPanels(t, "/detections on a phone", b.Open("/detections?"+day.Encode()), consoletest.DetectionsPanels)
		b.Screenshot("detections-phone")
		b.CheckClean()
	})
}
