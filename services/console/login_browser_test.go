package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trailstream/trailstream/services/console/consoletest"
)

// TestLoginInBrowser signs in through the login page in Chromium, over plain HTTP on
// loopback as the demo does: the Secure, HttpOnly session cookie is kept and sent, the page
// script cannot read it, and signing out returns to the login page.
func TestLoginInBrowser(t *testing.T) {
	s := newSecuredConsole(t, nil)
	b := consoletest.NewBrowser(t, s.url)
	ctx := b.Context()
	// at waits until the page's path (and query) is want, and returns it.
	at := func(want string) {
		t.Helper()
		var loc string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			// A navigation under way destroys the context an evaluation runs in: ask again.
			if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(location.pathname + location.search) === "`+want+`" && document.readyState === "complete"`)); err == nil && ok {
				return
			}
			loc, _ = chromedp.Run(ctx, chromedp.Location())
		}
		t.Fatalf("the browser is at %s, want %s", loc, want)
	}
	text := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/d/user-monitoring")); err != nil {
		t.Fatal(err)
	}
	at("/login?next=%2Fd%2Fuser-monitoring")
	// A wrong password first: the page says so.
	if err := chromedp.Do(ctx, chromedp.SendKeys("#user", "alice"), chromedp.SendKeys("#password", "wrong password\r")); err != nil {
		t.Fatal(err)
	}
	at("/login")
	if p := text(`document.getElementById("login-problem")?.textContent ?? ""`); !strings.Contains(p, "Wrong user name or password") {
		t.Fatalf("a wrong password shows %q", p)
	}
	b.Forgive("401")
	if err := chromedp.Do(ctx, chromedp.SendKeys("#password", alicePassword+"\r")); err != nil {
		t.Fatal(err)
	}
	at("/d/user-monitoring")
	if who := text(`document.querySelector("#session .who")?.textContent ?? ""`); !strings.Contains(who, "alice") || !strings.Contains(who, "admin") {
		t.Fatalf("signed in, the header shows %q", who)
	}
	if c := text(`document.cookie`); strings.Contains(c, "trailstream_session") {
		t.Fatalf("the page's script reads the session cookie: %q", c)
	}
	b.Panels() // the dashboard's API calls go through with the cookie
	if nav := text(`[...document.querySelectorAll("header nav a")].map(a => a.textContent).join(",")`); !strings.Contains(nav, "Audit") || !strings.Contains(nav, "Sources") {
		t.Fatalf("an admin's navigation: %q", nav)
	}
	if err := chromedp.Do(ctx, chromedp.Click("#sign-out")); err != nil {
		t.Fatal(err)
	}
	at("/login")
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/detections")); err != nil {
		t.Fatal(err)
	}
	at("/login?next=%2Fdetections")
	b.CheckClean()
}
