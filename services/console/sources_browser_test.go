package console_test

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trailstream/trailstream/services/console/consoletest"
)

// sourceRow is what the sources table shows of one source.
type sourceRow struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	On        bool   `json:"on"`
	Kind      string `json:"kind"`
	Bucket    string `json:"bucket"`
	Files     string `json:"files"`
	Records   string `json:"records"`
	Lag       string `json:"lag"`
	Backfill  string `json:"backfill"`
	Progress  string `json:"progress"` // the bar's value/max
	Scan      string `json:"scan"`
	Complete  string `json:"complete"`
	Missing   string `json:"missing"`    // the missing count's text, "" without one
	MissingOK bool   `json:"missing_ok"` // it is red and links to the missing keys
	Errors    string `json:"errors"`
}

// readSources reads the table once the page has drawn it.
const readSources = `(() => {
	const t = document.getElementById("sources");
	if (t.dataset.state !== "ready") return null;
	const text = (tr, cls) => tr.querySelector("." + cls).innerText.replace(/\s+/g, " ").trim();
	return [...t.querySelectorAll("tbody tr.source")].map(tr => {
		const m = tr.querySelector("a.missing-count");
		const p = tr.querySelector("td.backfill progress");
		return {
			id: tr.dataset.source, name: tr.querySelector("td.name b").textContent, on: tr.querySelector("input.switch").checked,
			kind: text(tr, "kind"), bucket: text(tr, "bucket"), files: text(tr, "files-today"), records: text(tr, "records-today"),
			lag: text(tr, "lag"), backfill: text(tr, "backfill"), progress: p ? p.value + "/" + p.max : "", scan: text(tr, "scan"),
			complete: text(tr, "completeness"), missing: m ? m.textContent : "",
			missing_ok: !!m && getComputedStyle(m).color === "rgb(200, 54, 74)" && new URL(m.href).searchParams.get("missing") === tr.dataset.source,
			errors: text(tr, "errors"),
		};
	});
})()`

func waitSources(t *testing.T, b *consoletest.Browser, until string) []sourceRow {
	t.Helper()
	rows, err := chromedp.Run(b.Context(), chromedp.Poll[[]sourceRow](`(() => { const rows = `+readSources+`; return rows && (`+until+`) ? rows : null; })()`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil {
		state, _ := chromedp.Run(b.Context(), chromedp.Evaluate[string](`document.getElementById("sources").dataset.state + ": " + document.getElementById("problem").textContent`))
		t.Fatalf("the sources table did not show %s: %v (table %s)", until, err, state)
	}
	return rows
}

// TestSourcesInBrowser opens /sources on the fixture: every source with its figures, the
// switch disables a source (in the store too), the missing count opens the missing keys, and
// the form adds a source, or says why not.
func TestSourcesInBrowser(t *testing.T) {
	f := newSourcesFixture(t, 30*time.Minute)
	b := consoletest.NewBrowser(t, f.srv.URL)
	ctx := b.Context()
	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/sources")); err != nil {
		t.Fatal(err)
	}
	rows := waitSources(t, b, "true")
	b.Screenshot("sources")
	b.CheckClean()

	byID := map[string]sourceRow{}
	var ids []string
	for _, r := range rows {
		byID[r.ID] = r
		ids = append(ids, r.ID)
	}
	if want := []string{"dev", "prod", trailID}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("the table lists %v, want %v", ids, want)
	}
	prod := byID["prod"]
	for what, ok := range map[string]bool{
		"switched on":                     prod.On,
		"kind notifications":              strings.HasPrefix(prod.Kind, "notifications prod-trail"),
		"bucket and region":               prod.Bucket == "prod-trail-logs us-east-1",
		"3 files today":                   prod.Files == "3",
		"223 records today":               prod.Records == "223",
		"lag 3 min":                       prod.Lag == "3 min",
		"backfill 120 of 180 files, 66%":  prod.Progress == "120/180" && strings.Contains(prod.Backfill, "66%") && strings.Contains(prod.Backfill, "120 / 180 files · 5,800 records") && strings.Contains(prod.Backfill, "reading"),
		"next scan in 3 min, every 5 min": strings.HasPrefix(prod.Scan, "in 3 min every 5 min"),
		"4 of 8 read":                     strings.HasPrefix(prod.Complete, "4 of 8 read"),
		"2 missing, red, linked":          prod.Missing == "2 missing" && prod.MissingOK,
		"the error and today's failures":  strings.Contains(prod.Errors, "AccessDenied") && strings.Contains(prod.Errors, "1 failed, 1 skipped today"),
	} {
		if !ok {
			t.Errorf("prod's row is not %s: %+v", what, prod)
		}
	}
	org := byID[trailID]
	if org.Name != "org-trail" || !strings.HasPrefix(org.Kind, "discovered trail") || org.Lag != "4 h" || org.Progress != "80/80" || org.Missing != "" ||
		!strings.HasPrefix(org.Complete, "1 of 1 read") {
		t.Errorf("the trail's row: %+v", org)
	}
	if dev := byID["dev"]; dev.Lag != "—" || dev.Files != "0" || !strings.Contains(dev.Backfill, "not started") || !strings.Contains(dev.Complete, "no digest read") {
		t.Errorf("dev's row: %+v", dev)
	}

	t.Run("per-day detail", func(t *testing.T) {
		b := b.For(t)
		detail, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
			const d = document.querySelector('tr[data-source="prod"] td.completeness details');
			d.open = true;
			return [...d.querySelectorAll(":scope table.mini > tbody > tr")].slice(0, 2).map(tr => tr.innerText.replace(/\s+/g, " ").trim());
		})()`))
		if want := []string{"2024-05-02 2 / 4 1 missing · 1 in grace", "2024-05-01 2 / 4 1 missing · 1 failed/skipped"}; err != nil || !reflect.DeepEqual(detail, want) {
			t.Errorf("prod's completeness by day shows %q (%v), want %q", detail, err, want)
		}
		b.CheckClean()
	})

	t.Run("missing keys", func(t *testing.T) {
		b := b.For(t)
		if err := chromedp.Do(ctx, chromedp.Click(`tr[data-source="prod"] a.missing-count`)); err != nil {
			t.Fatal(err)
		}
		keys, err := chromedp.Run(ctx, chromedp.Poll[[]string](`document.getElementById("missing-files").dataset.state === "ready" && !document.getElementById("missing").hidden ?
			[...document.querySelectorAll("#missing-files tr.missing-file td:nth-child(4)")].map(td => td.textContent) : null`,
			chromedp.WithPollingTimeout(10*time.Second)))
		if want := []string{keyP4, keyM2}; err != nil || !reflect.DeepEqual(keys, want) {
			t.Errorf("the missing keys of prod: %v (%v), want %v", keys, err, want)
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if u, _ := url.Parse(loc); u.Path != "/sources" || u.Query().Get("missing") != "prod" {
			t.Errorf("the missing keys are at %s, want /sources?missing=prod", loc)
		}
		b.Screenshot("sources-missing")
		b.CheckClean()
	})

	t.Run("switch", func(t *testing.T) {
		b := b.For(t)
		if err := chromedp.Do(ctx, chromedp.Click(`tr[data-source="prod"] input.switch`)); err != nil {
			t.Fatal(err)
		}
		rows := waitSources(t, b, `rows.some(r => r.id === "prod" && !r.on) && document.querySelector('tr[data-source="prod"]').classList.contains("disabled")`)
		for _, r := range rows {
			if r.ID == "prod" && !strings.HasPrefix(r.Scan, "disabled") {
				t.Errorf("prod disabled, its next scan shows %q", r.Scan)
			}
		}
		src, ok, err := f.store.Get(context.Background(), "prod")
		if err != nil || !ok || src.Enabled {
			t.Errorf("after the switch the store has prod %+v (%v, %v), want it disabled", src, ok, err)
		}
		if trail, _, _ := f.store.Get(context.Background(), trailID); !trail.Enabled {
			t.Error("the switch of prod disabled the trail too")
		}
		if got, _, _ := f.list(t, ""); got["prod"].Enabled {
			t.Error("the API still has prod enabled")
		}
		b.CheckClean()
	})

	t.Run("add", func(t *testing.T) {
		b := b.For(t)
		fill := func(values map[string]string) {
			t.Helper()
			for name, v := range values {
				if err := chromedp.Do(ctx, chromedp.SetValue(`#add-source input[name="`+name+`"]`, v)); err != nil {
					t.Fatal(err)
				}
			}
			if err := chromedp.Do(ctx, chromedp.Click(`#add-source button[type=submit]`)); err != nil {
				t.Fatal(err)
			}
		}
		fill(map[string]string{"name": "bad", "bucket": "Not_A_Bucket"})
		msg, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const m = document.getElementById("add-message"); return m.classList.contains("bad") ? m.textContent : null; })()`,
			chromedp.WithPollingTimeout(10*time.Second)))
		if err != nil || !strings.Contains(msg, `bucket "Not_A_Bucket" is not an S3 bucket name`) {
			t.Errorf("a bad bucket: the form says %q (%v)", msg, err)
		}
		if _, ok, _ := f.store.Get(context.Background(), "bad"); ok {
			t.Error("the source with a bad bucket was stored")
		}
		// Chromium logs the refusal (400) as an error of the page: that one is expected.
		if n := b.Forgive("status of 400"); n != 1 {
			t.Errorf("the refused source made the browser log %d errors of status 400, want 1", n)
		}

		fill(map[string]string{"name": "staging", "bucket": "staging-trail-logs", "prefix": "org", "region": "eu-central-1", "environment": "staging"})
		rows := waitSources(t, b, `rows.some(r => r.id === "staging")`)
		for _, r := range rows {
			if r.ID == "staging" && (!r.On || !strings.HasPrefix(r.Kind, "scan") || r.Bucket != "staging-trail-logs/org eu-central-1") {
				t.Errorf("the added source's row: %+v", r)
			}
		}
		src, ok, err := f.store.Get(context.Background(), "staging")
		if err != nil || !ok || src.Origin != "console" || src.Bucket != "staging-trail-logs" || src.Prefix != "org" || src.Region != "eu-central-1" ||
			src.Environment != "staging" || !src.Enabled {
			t.Errorf("the store has %+v (%v, %v)", src, ok, err)
		}
		msg, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("add-message").textContent`))
		if !strings.Contains(msg, "Added staging") {
			t.Errorf("after adding, the form says %q", msg)
		}
		b.Screenshot("sources-added")
		b.CheckClean()
	})

	t.Run("phone", func(t *testing.T) {
		b := b.For(t)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(f.srv.URL+"/sources")); err != nil {
			t.Fatal(err)
		}
		waitSources(t, b, "true")
		b.Screenshot("sources-phone")
		b.CheckClean()
	})
}
