package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The detections page (/detections) shows what the detection rules found, from the
// detections table: detections per hour by severity, counts by rule and the list, each
// detection opening its events in the events search (/events?detection_id=ID). Its panels
// are defined as the dashboards' are, so /api/panels/{id}, the CSV export, the SQL menu and
// the drill-down work the same way; they are not among the dashboards' 44.

// detectionsWindow is the time the detections page shows when the request names none.
const detectionsWindow = 24 * time.Hour

// maxDetectionsList bounds the detections list.
const maxDetectionsList = 500

// detectionsInfo is the detections page as the navigation bar and /api/dashboards name it.
var detectionsInfo = dashboard{"detections", "Detections",
	"What the detection rules found: detections per hour by severity, the rules that fired and every detection, newest first. " +
		"A row opens the events that make the detection up; its arrow shows the rule's description, the ATT&CK tags and the figures behind it."}

// severities are the detections' severities, from calm to alarming; the page colours them
// in this order everywhere.
var severities = []string{"info", "low", "medium", "high", "critical"}

// detectionFilterDefs are the filters that compare a column of the detections table. A
// detections panel also takes every events filter (filterDefs): a detection matches one
// when one of its events does. Where both have a name, the detections' own column counts.
var detectionFilterDefs = func() []filterDef {
	var defs []filterDef
	for _, c := range []string{"environment", "account_id", "severity", "rule_id", "resource_type", "resource_name", "detection_id", "source"} {
		defs = append(defs, filterDef{Name: c, Expr: c, Kind: textFilter, Detection: true})
	}
	return append(defs,
		filterDef{Name: "actor", Expr: "actors", Kind: arrayFilter, Detection: true},
		filterDef{Name: "tag", Expr: "tags", Kind: arrayFilter, Detection: true},
	)
}()

// detectionSelectionDefs are the filters of a detections panel, its own first.
var detectionSelectionDefs = append(append([]filterDef(nil), detectionFilterDefs...), filterDefs...)

// severityOrder is a severity's place among severities (1 for info to 5 for critical; 0
// for one the console does not know).
const severityOrder = `indexOf(['info', 'low', 'medium', 'high', 'critical'], severity)`

// detectionsListColumns are the columns of detections-list: what the table shows, then
// what a row's detail shows.
var detectionsListColumns = []column{
	tim("time", "Time"), str("severity", "Severity"), str("rule_id", "Rule"), str("title", "Title"),
	str("account_id", "Account"), str("environment", "Environment"), str("resource_type", "Resource type"),
	str("resource_name", "Resource"), {Name: "actors", Label: "Actors", Type: "list"}, num("events", "Events"),
	{Name: "last_time", Label: "Last event", Type: "time", Detail: true},
	{Name: "detection_id", Label: "Detection ID", Type: "string", Detail: true},
	{Name: "description", Label: "Description", Type: "string", Detail: true},
	{Name: "tags", Label: "Tags", Type: "list", Detail: true},
	{Name: "source", Label: "Source", Type: "string", Detail: true},
	{Name: "context", Label: "Context", Type: "json", Detail: true},
}

// detectionPanels are the panels of the detections page, in page order.
var detectionPanels = []panel{
	{
		ID: "detections-over-time", Dashboard: "detections", Table: "detections", Title: "Detections Over Time",
		Kind: "stacked-column", Window: detectionsWindow, Palette: "severity",
		Columns: seriesColumns("Severity", "Detections"),
		SQL: `SELECT toStartOfHour(first_time, 'UTC') AS time, severity AS series, count() AS value
FROM {detections} WHERE {dfilter} GROUP BY time, series ORDER BY time, series`,
		Description: "Detections per hour of their first event, stacked by severity (info, low, medium, high, critical). " +
			"A detection delivered more than once counts once. A click on a column shows that hour's detections of that severity.",
		Drill:     map[string]string{"time": "hour", "series": "severity"},
		DrillPage: "/detections",
	},
	{
		ID: "detections-by-rule", Dashboard: "detections", Table: "detections", Title: "Detections by Rule",
		Kind: "bar", Window: detectionsWindow, Palette: "severity",
		Columns: []column{str("name", "Rule"), num("value", "Detections"), str("top_severity", "Highest severity")},
		SQL: `SELECT rule_id AS name, count() AS value,
	['info', 'low', 'medium', 'high', 'critical'][max(` + severityOrder + `)] AS top_severity
FROM {detections} WHERE {dfilter} GROUP BY name ORDER BY value DESC, name LIMIT 100`,
		Description: "Detections by rule, the most first, each bar in the colour of the rule's highest severity in the window. " +
			"A click on a bar shows that rule's detections.",
		Drill:     map[string]string{"name": "rule_id"},
		DrillPage: "/detections",
	},
	{
		ID: "detections-list", Dashboard: "detections", Table: "detections", Title: "Detections",
		Kind: "detections", Window: detectionsWindow,
		Columns: detectionsListColumns,
		SQL: `SELECT first_time AS time, severity, rule_id, title, account_id, environment, resource_type, resource_name, actors,
	length(event_ids) AS events, last_time, detection_id, description, tags, source, context
FROM {detections} WHERE {dfilter} ORDER BY first_time DESC, detection_id LIMIT ` + fmt.Sprint(maxDetectionsList),
		Description: "Every detection whose first event lies in the window, newest first (at most 500). A row opens the events " +
			"the detection is made of; its arrow shows the rule's description, the ATT&CK tags, where the rule comes from and the " +
			"figures behind the finding (its context).",
		Drill: map[string]string{"detection_id": "detection_id"},
	},
}

// detectionsSummarySQL counts the detections by severity: the Overview's figure.
const detectionsSummarySQL = `SELECT severity, count() AS detections FROM {detections} WHERE {dfilter} GROUP BY severity ORDER BY severity`

// detectionsPage serves GET /detections.
func (s *server) detectionsPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, detectionsInfo.ID, detectionsInfo.Title, detectionsInfo.Description, detectionPanels)
}

// detectionsSummary is the answer of GET /api/detections/summary.
type detectionsSummary struct {
	From       time.Time         `json:"from"`
	To         time.Time         `json:"to"`
	Filters    map[string]string `json:"filters"`
	Total      uint64            `json:"total"`
	BySeverity map[string]uint64 `json:"by_severity"`
	SQL        string            `json:"sql"`
}

// summary serves GET /api/detections/summary: how many detections began in the time range
// (24 hours by default) and match the filters, in all and by severity, as the Overview's
// "detections in window" figure shows.
func (s *server) summary(w http.ResponseWriter, r *http.Request) {
	sel, err := parseDetectionSelection(r.URL.Query(), time.Now(), detectionsWindow)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	sql := s.store.expand(detectionsSummarySQL, "", sel)
	rows, _, err := s.store.rows(ctx, sql, s.store.args(sel), maxPanelRows)
	if err != nil {
		internalError(w, r, "the detections could not be counted", err)
		return
	}
	out := detectionsSummary{From: sel.From, To: sel.To, Filters: sel.filterMap(), BySeverity: map[string]uint64{}, SQL: sql}
	for _, row := range rows {
		sev, _ := row[0].(string)
		n, _ := row[1].(uint64)
		out.BySeverity[sev] += n
		out.Total += n
	}
	writeJSON(w, http.StatusOK, out)
}

// detectionRecord is one detection as GET /api/detections/{id} answers it: every column,
// the context as the JSON object it holds.
type detectionRecord struct {
	DetectionID  string          `json:"detection_id"`
	RuleID       string          `json:"rule_id"`
	Severity     string          `json:"severity"`
	Title        string          `json:"title"`
	AccountID    string          `json:"account_id"`
	Environment  string          `json:"environment"`
	ResourceType string          `json:"resource_type"`
	ResourceName string          `json:"resource_name"`
	EventIDs     []string        `json:"event_ids"`
	Actors       []string        `json:"actors"`
	FirstTime    time.Time       `json:"first_time"`
	LastTime     time.Time       `json:"last_time"`
	DetectedAt   time.Time       `json:"detected_at"`
	Description  string          `json:"description"`
	Tags         []string        `json:"tags"`
	Source       string          `json:"source"`
	Context      json.RawMessage `json:"context"`
	// EventsURL is the events search of the detection's events.
	EventsURL string `json:"events_url"`
}

// span returns the time range the detection's events lie in: from its first event's
// second to the end of its last event's.
func (d *detectionRecord) span() (from, to time.Time) {
	from, to = d.FirstTime, d.LastTime
	if to.Before(from) {
		from, to = to, from
	}
	return from, to.Add(time.Second)
}

// detectionSQL reads one detection; FINAL keeps one row of a detection delivered twice.
const detectionSQL = `SELECT detection_id, rule_id, severity, title, account_id, environment, resource_type, resource_name,
	event_ids, actors, first_time, last_time, detected_at, description, tags, source, context
FROM %s.detections FINAL WHERE detection_id = @detection_id LIMIT 1`

// detection returns the detection with the given ID, nil when there is none.
func (s *store) detection(ctx context.Context, id string) (*detectionRecord, error) {
	rows, err := s.conn.Query(ctx, fmt.Sprintf(detectionSQL, s.db), clickhouse.Named("detection_id", id))
	if err != nil {
		return nil, fmt.Errorf("read detection %s: %w", quote(id), err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read detection %s: %w", quote(id), err)
		}
		return nil, nil
	}
	var d detectionRecord
	var ctxText string
	if err := rows.Scan(&d.DetectionID, &d.RuleID, &d.Severity, &d.Title, &d.AccountID, &d.Environment, &d.ResourceType,
		&d.ResourceName, &d.EventIDs, &d.Actors, &d.FirstTime, &d.LastTime, &d.DetectedAt, &d.Description, &d.Tags,
		&d.Source, &ctxText); err != nil {
		return nil, fmt.Errorf("read detection %s: %w", quote(id), err)
	}
	d.FirstTime, d.LastTime, d.DetectedAt = d.FirstTime.UTC(), d.LastTime.UTC(), d.DetectedAt.UTC()
	d.Context = contextObject(ctxText)
	if d.EventIDs == nil {
		d.EventIDs = []string{}
	}
	if d.Actors == nil {
		d.Actors = []string{}
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	d.EventsURL = "/events?" + url.Values{"detection_id": {d.DetectionID}}.Encode()
	return &d, nil
}

// contextObject returns a detection's context as JSON: the object it holds, {} when it is
// empty, and the text itself as a JSON string when it holds no object (written by
// something other than trailstream's rules).
func contextObject(text string) json.RawMessage {
	var obj map[string]json.RawMessage
	switch {
	case text == "":
		return json.RawMessage("{}")
	case json.Unmarshal([]byte(text), &obj) == nil && obj != nil:
		return json.RawMessage(text)
	}
	b, _ := json.Marshal(text)
	return b
}

// detectionAPI serves GET /api/detections/{id}: the detection as JSON, 404 when there is
// no detection with that ID.
func (s *server) detectionAPI(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if len(id) > maxFilterValue {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("detection ID: longer than the %d bytes allowed", maxFilterValue))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	d, err := s.store.detection(ctx, id)
	if err != nil {
		internalError(w, r, "the detection could not be read", err)
		return
	}
	if d == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no detection %s", quote(id)))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// errNoDetection is the error of a request naming a detection that does not exist.
var errNoDetection = errors.New("no such detection")

// detectionEvents returns the condition selecting the events of the detection with the
// given ID and the time range they lie in, or an error wrapping errNoDetection.
func (s *store) detectionEvents(ctx context.Context, id string) (condition, *detectionRecord, error) {
	d, err := s.detection(ctx, id)
	if err != nil {
		return condition{}, nil, err
	}
	if d == nil {
		return condition{}, nil, fmt.Errorf("detection_id: %w: no detection %s (GET /detections lists them)", errNoDetection, quote(id))
	}
	return condition{
		Name:  "detection_id",
		SQL:   "event_id IN (SELECT arrayJoin(event_ids) FROM {detections} WHERE detection_id = @detection_id)",
		Value: id,
		Text:  id,
	}, d, nil
}

// ruleIDs returns the rule IDs of the stored detections, for the rule filter's suggestions.
func (s *store) ruleIDs(ctx context.Context) ([]string, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT rule_id FROM "+s.db+".detections WHERE rule_id != '' ORDER BY rule_id LIMIT 500")
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list rules: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return ids, nil
}
