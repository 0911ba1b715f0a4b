package all

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console/consoletest"
)

// TestDashboardsOnGeneratedData runs the demo's load through every service: a day of
// generated CloudTrail files goes in through S3 and SQS, the generated accounts' admin list
// is uploaded after the events are stored, and each of the six dashboards, opened in
// headless Chromium at its panels' default windows, draws data in every panel without a
// browser error or a request to another origin; so does the detections page. Screenshots go to the test's artifact
// directory (go test -artifacts).
func TestDashboardsOnGeneratedData(t *testing.T) {
	c := testenv.Config(t)
	c.ConsoleAddr = testenv.FreeAddr(t)
	conn := testenv.ClickHouse(t, c)
	testenv.AWS(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const events = 20000 // the demo's
	admins := filepath.Join(t.TempDir(), "admin_users.csv")
	if err := generate.Run(ctx, c, generate.Options{Events: events, Span: 24 * time.Hour, Seed: 13, AdminUsersOut: admins}); err != nil {
		t.Fatalf("generate: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	start := time.Now()
	// Loaded: every record through the normalizer and committed by the sink.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		raw := testenv.TopicSize(t, testenv.Cluster(t, c), c.TopicRaw)
		evs := testenv.TopicSize(t, testenv.Cluster(t, c), c.TopicEvents)
		sunk := testenv.Committed(t, testenv.Cluster(t, c), c.GroupPrefix+"-sink-events", c.TopicEvents)
		if raw == events && evs == events && sunk == events {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not loaded within 3 minutes: raw %d, events %d, loaded %d of %d", raw, evs, sunk, events)
		}
	}
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+c.ClickHouseDatabase+".events FINAL").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != events {
		t.Fatalf("%d events in ClickHouse, want the %d generated", stored, events)
	}
	t.Logf("%d generated events from S3 to ClickHouse in %s", events, time.Since(start).Round(time.Millisecond))

	base := "http://" + c.ConsoleAddr
	adminRows := func() int {
		resp, err := http.Get(base + "/api/panels/users-admin-top-activities")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a struct{ Rows [][]any }
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("users-admin-top-activities: %s, %v", resp.Status, err)
		}
		return len(a.Rows)
	}
	if n := adminRows(); n != 0 {
		t.Fatalf("users-admin-top-activities has %d rows before an admin list was uploaded, want none", n)
	}
	list, err := os.ReadFile(admins)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, base+"/api/admin-users", strings.NewReader(string(list)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload %s: %s", admins, resp.Status)
	}
	if n := adminRows(); n == 0 {
		t.Fatal("users-admin-top-activities has no rows after the admin list was uploaded")
	}

	b := consoletest.NewBrowser(t, base)
	for _, d := range consoletest.Dashboards {
		panels := b.Open(d.Path)
		b.Screenshot("generated-" + strings.TrimPrefix(d.Path, "/d/"))
		consoletest.CheckPanels(t, d.Path, panels, d.Panels)
		b.CheckClean()
	}
	// The detections the rules made of the same day.
	panels := b.Open("/detections")
	b.Screenshot("generated-detections")
	consoletest.CheckPanels(t, "/detections", panels, consoletest.DetectionsPanels)
	b.CheckClean()

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
