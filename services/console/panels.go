package console

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// panel is one dashboard panel: what it shows and the query behind it. Adding a panel or a
// whole dashboard is adding rows to the panels table below.
type panel struct {
	ID        string   `json:"id"`
	Dashboard string   `json:"dashboard"`
	Title     string   `json:"title"`
	Kind      string   `json:"kind"` // pie, bar (time series), column, single or table
	Columns   []column `json:"columns"`
	// Geolocated panels show where source addresses are; a page with one credits the
	// geolocation data (geo.Attribution).
	Geolocated bool `json:"-"`
	// SQL returns the columns in order. It reads {events} (the events table with FINAL)
	// and restricts it with {filter} (time range and environment, bound as parameters).
	SQL string `json:"-"`
}

// column describes one column of a panel's rows.
type column struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Type  string `json:"type"` // string, number or time (RFC 3339, UTC)
	// Hidden columns are in the rows for API users (a map's coordinates) but not drawn.
	Hidden bool `json:"hidden,omitempty"`
}

var eventsColumn = column{Name: "events", Label: "Events", Type: "number"}

// panels lists every panel the console serves, dashboard by dashboard.
var panels = []panel{
	{
		ID: "overview-geo", Dashboard: "overview", Title: "Geo Location of All Users", Kind: "table", Geolocated: true,
		Columns: []column{
			{Name: "country_code", Label: "Code", Type: "string"}, {Name: "country_name", Label: "Country", Type: "string"},
			eventsColumn, {Name: "users", Label: "Users", Type: "number"},
			{Name: "latitude", Label: "Latitude", Type: "number", Hidden: true},
			{Name: "longitude", Label: "Longitude", Type: "number", Hidden: true},
		},
		SQL: `SELECT country_code, any(country_name) AS country_name, count() AS events,
			uniqExactIf(user_name, user_name != '') AS users, any(latitude) AS latitude, any(longitude) AS longitude
			FROM {events} WHERE {filter} AND country_code != ''
			GROUP BY country_code ORDER BY events DESC, country_code LIMIT 300`,
	},
	{
		ID: "overview-created-resources", Dashboard: "overview", Title: "Created Resources", Kind: "pie",
		Columns: []column{{Name: "event_name", Label: "Event", Type: "string"}, eventsColumn},
		SQL: `SELECT event_name, count() AS events FROM {events} WHERE {filter} AND action = 'create'
			GROUP BY event_name ORDER BY events DESC, event_name LIMIT 50`,
	},
	{
		ID: "overview-deleted-resources", Dashboard: "overview", Title: "Deleted Resources Over Time", Kind: "bar",
		Columns: []column{{Name: "hour", Label: "Hour", Type: "time"}, {Name: "events", Label: "Deleted", Type: "number"}},
		SQL: `SELECT toStartOfHour(event_time, 'UTC') AS hour, count() AS events
			FROM {events} WHERE {filter} AND action = 'delete' GROUP BY hour ORDER BY hour`,
	},
	{
		ID: "overview-top-users", Dashboard: "overview", Title: "Top 10 Users", Kind: "column",
		Columns: []column{{Name: "user_name", Label: "User", Type: "string"}, eventsColumn},
		SQL: `SELECT user_name, count() AS events FROM {events} WHERE {filter} AND user_name != ''
			GROUP BY user_name ORDER BY events DESC, user_name LIMIT 10`,
	},
	{
		ID: "overview-failed-logins", Dashboard: "overview", Title: "Failed Logins", Kind: "single",
		Columns: []column{{Name: "failures", Label: "Failed logins", Type: "number"}},
		SQL: `SELECT count() AS failures FROM {events}
			WHERE {filter} AND event_name = 'ConsoleLogin' AND outcome = 'failure'`, // also right for rows older than login_result,
	},
	{
		ID: "overview-network-security-events", Dashboard: "overview", Title: "Created and Deleted Network and Security Events", Kind: "pie",
		Columns: []column{{Name: "event_name", Label: "Event", Type: "string"}, eventsColumn},
		SQL: `SELECT event_name, count() AS events FROM {events}
			WHERE {filter} AND match(event_name, 'Security|Network') AND action IN ('create', 'delete')
			GROUP BY event_name ORDER BY events DESC, event_name LIMIT 50`,
	},
}

// filter restricts events to [from, to) and to one environment, or all when it is empty.
// Its parameters are bound in the order from, to, environment, environment.
const filter = `event_time >= ? AND event_time < ? AND (? = '' OR environment = ?)`

// findPanel returns the panel with the given ID.
func findPanel(id string) (panel, bool) {
	for _, p := range panels {
		if p.ID == id {
			return p, true
		}
	}
	return panel{}, false
}

// selection is what a panel is asked to show: a time range and an environment.
type selection struct {
	From, To    time.Time
	Environment string // empty for all environments
}

// panelData is the JSON answer for one panel.
type panelData struct {
	panel
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Environment string    `json:"environment"`
	Rows        [][]any   `json:"rows"`
}

// store runs the panel queries against one ClickHouse database.
type store struct {
	conn   driver.Conn
	events string // the events table of the configured database, read with FINAL
}

func newStore(conn driver.Conn, db string) *store {
	return &store{conn: conn, events: db + ".events FINAL"}
}

// query runs p's query for sel and returns its rows, times as RFC 3339 UTC strings.
func (s *store) query(ctx context.Context, p panel, sel selection) (panelData, error) {
	sql := strings.NewReplacer("{events}", s.events, "{filter}", filter).Replace(p.SQL)
	rows, err := s.conn.Query(ctx, sql, sel.From.UTC(), sel.To.UTC(), sel.Environment, sel.Environment)
	if err != nil {
		return panelData{}, fmt.Errorf("panel %s: %w", p.ID, err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	if len(types) != len(p.Columns) {
		return panelData{}, fmt.Errorf("panel %s: query returns %d columns, the panel has %d", p.ID, len(types), len(p.Columns))
	}
	out := panelData{panel: p, From: sel.From.UTC(), To: sel.To.UTC(), Environment: sel.Environment, Rows: [][]any{}}
	if out.Environment == "" {
		out.Environment = "all"
	}
	for rows.Next() {
		dest := make([]any, len(types))
		for i, t := range types {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return panelData{}, fmt.Errorf("panel %s: %w", p.ID, err)
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			v := reflect.ValueOf(d).Elem().Interface()
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format(time.RFC3339)
			}
			row[i] = v
		}
		out.Rows = append(out.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return panelData{}, fmt.Errorf("panel %s: %w", p.ID, err)
	}
	return out, nil
}

// environments returns the distinct environment labels of the stored events.
func (s *store) environments(ctx context.Context) ([]string, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT environment FROM "+s.events+
		" WHERE environment != '' ORDER BY environment LIMIT 200")
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
