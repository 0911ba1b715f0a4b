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
	// SQL returns the columns in order. It reads {events} (the events table with FINAL)
	// and restricts it with {filter} (time range and environment, bound as parameters).
	SQL string `json:"-"`
}

// column describes one column of a panel's rows.
type column struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Type  string `json:"type"` // string, number or time (RFC 3339, UTC)
}

// publicIP holds for a source_ip that is an IPv4 or IPv6 address outside the private,
// loopback, link-local, carrier-grade NAT, multicast and reserved ranges. It leaves out
// the AWS service names (ec2.amazonaws.com, AWS Internal) CloudTrail puts there.
const publicIP = `((match(source_ip, '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$')
	AND NOT match(source_ip, '^(0|10|127|22[4-9]|2[3-5][0-9])\\.|^169\\.254\\.|^172\\.(1[6-9]|2[0-9]|3[01])\\.|^192\\.168\\.|^100\\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\\.'))
	OR (match(source_ip, '^[0-9A-Fa-f:.]+$') AND position(source_ip, ':') > 0
	AND NOT match(lower(source_ip), '^(::1$|::$|f[cd]|fe[89ab]|ff)')))`

var eventsColumn = column{"events", "Events", "number"}

// panels lists every panel the console serves, dashboard by dashboard.
var panels = []panel{
	{
		ID: "overview-geo", Dashboard: "overview", Title: "Geo Location of All Users", Kind: "table",
		Columns: []column{{"source_ip", "Source IP", "string"}, eventsColumn, {"users", "Users", "number"}},
		SQL: `SELECT source_ip, count() AS events, uniqExactIf(user_name, user_name != '') AS users
			FROM {events} WHERE {filter} AND ` + publicIP + `
			GROUP BY source_ip ORDER BY events DESC, source_ip LIMIT 100`,
	},
	{
		ID: "overview-created-resources", Dashboard: "overview", Title: "Created Resources", Kind: "pie",
		Columns: []column{{"event_name", "Event", "string"}, eventsColumn},
		SQL: `SELECT event_name, count() AS events FROM {events} WHERE {filter} AND action = 'create'
			GROUP BY event_name ORDER BY events DESC, event_name LIMIT 50`,
	},
	{
		ID: "overview-deleted-resources", Dashboard: "overview", Title: "Deleted Resources Over Time", Kind: "bar",
		Columns: []column{{"hour", "Hour", "time"}, {"events", "Deleted", "number"}},
		SQL: `SELECT toStartOfHour(event_time, 'UTC') AS hour, count() AS events
			FROM {events} WHERE {filter} AND action = 'delete' GROUP BY hour ORDER BY hour`,
	},
	{
		ID: "overview-top-users", Dashboard: "overview", Title: "Top 10 Users", Kind: "column",
		Columns: []column{{"user_name", "User", "string"}, eventsColumn},
		SQL: `SELECT user_name, count() AS events FROM {events} WHERE {filter} AND user_name != ''
			GROUP BY user_name ORDER BY events DESC, user_name LIMIT 10`,
	},
	{
		ID: "overview-failed-logins", Dashboard: "overview", Title: "Failed Logins", Kind: "single",
		Columns: []column{{"failures", "Failed logins", "number"}},
		SQL: `SELECT count() AS failures FROM {events}
			WHERE {filter} AND event_name = 'ConsoleLogin' AND outcome = 'failure'`,
	},
	{
		ID: "overview-network-security-events", Dashboard: "overview", Title: "Created and Deleted Network and Security Events", Kind: "pie",
		Columns: []column{{"event_name", "Event", "string"}, eventsColumn},
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
