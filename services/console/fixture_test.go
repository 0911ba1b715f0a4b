package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
)

// fixtureEvent is one line of testdata/events.jsonl; Minute is relative to the anchor hour.
type fixtureEvent struct {
	ID          string `json:"id"`
	Minute      int    `json:"minute"`
	Source      string `json:"source"`
	Name        string `json:"name"`
	Action      string `json:"action"`
	Outcome     string `json:"outcome"`
	User        string `json:"user"`
	IP          string `json:"ip"`
	Env         string `json:"env"`
	Redelivered bool   `json:"redelivered"` // inserted a second time, as a redelivery would
	// The normalizer's fields the panels read: sign-in result, hidden user name, and the
	// location of a public source IP (as pkg/geo's embedded data places it).
	LoginResult string  `json:"login_result"`
	Hidden      bool    `json:"hidden"`
	Country     string  `json:"country"`
	CountryName string  `json:"country_name"`
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
}

// fixture is a console over a private database holding testdata/events.jsonl.
type fixture struct {
	conn   driver.Conn
	db     string
	anchor time.Time // the hour the fixture's minutes count from: three hours ago
	srv    *httptest.Server
}

// newFixture loads the fixture events into a private database and serves the console on it.
// Merges are stopped so the redelivered rows stay duplicates and only FINAL removes them.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	f := &fixture{conn: conn, db: c.ClickHouseDatabase, anchor: time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)}
	ctx := context.Background()
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES "+f.db+".events"); err != nil {
		t.Fatal(err)
	}
	events := readFixture(t)
	var again []fixtureEvent
	for _, e := range events {
		if e.Redelivered {
			again = append(again, e)
		}
	}
	f.insert(t, events)
	f.insert(t, again)
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+f.db+".events").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if want := len(events) + len(again); stored != uint64(want) {
		t.Fatalf("the events table holds %d rows, want %d with the duplicates", stored, want)
	}
	f.srv = httptest.NewServer(console.Handler(conn, f.db))
	t.Cleanup(f.srv.Close)
	return f
}

func readFixture(t *testing.T) []fixtureEvent {
	t.Helper()
	file, err := os.Open("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var out []fixtureEvent
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var e fixtureEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("testdata/events.jsonl: %v", err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// insert writes events in one batch, as the sink does.
func (f *fixture) insert(t *testing.T, events []fixtureEvent) {
	t.Helper()
	ctx := context.Background()
	b, err := f.conn.PrepareBatch(ctx, "INSERT INTO "+f.db+".events (event_id, event_time, event_version, event_source, event_name, event_type, aws_region, account_id, source_ip, user_name, outcome, action, environment, "+
		"login_result, user_name_hidden, country_code, country_name, latitude, longitude)")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		at := f.anchor.Add(time.Duration(e.Minute) * time.Minute)
		if err := b.Append(e.ID, at, "1.08", e.Source, e.Name, "AwsApiCall", "us-east-1", "123456789012", e.IP, e.User, e.Outcome, e.Action, e.Env,
			e.LoginResult, e.Hidden, e.Country, e.CountryName, e.Lat, e.Lon); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// at returns the fixture time h hours after the anchor, as the API writes times.
func (f *fixture) at(h int) string {
	return f.anchor.Add(time.Duration(h) * time.Hour).Format(time.RFC3339)
}
