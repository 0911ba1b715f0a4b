package console

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	// maxSpan bounds a selected time range, 92 days (a quarter): the hourly charts would
	// grow unreadable beyond it, and every panel reads the whole window.
	maxSpan = 92 * 24 * time.Hour
	// maxAhead bounds how far after now a time range may end: a day, for clocks and time
	// zones that differ; nothing is stored later.
	maxAhead = 24 * time.Hour
	// maxFilterValue bounds a filter value: a user agent is the longest field people filter on.
	maxFilterValue = 1024
)

// earliest and latest bound the times a request may name: a ClickHouse DateTime holds
// 1970 to 2106, and the panels read up to a day before the window (the day-earlier
// comparison) and ten hours before it (the outlier band).
var (
	earliest = time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// presets are the time ranges of the time picker that are not Go durations.
var presets = map[string]time.Duration{"7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// filterKind says how a filter's value is compared with its column.
type filterKind int

const (
	textFilter  filterKind = iota // column = value
	boolFilter                    // a UInt8 column, value true/false (or 1/0)
	arrayFilter                   // has(column, value)
)

// filterDef is one query parameter that restricts events to an exact value: its name, the
// SQL expression it compares (a column of the events table, from this fixed list only)
// and how.
type filterDef struct {
	Name string
	Expr string
	Kind filterKind
	// Detection marks a filter on a column of the detections table (detectionFilterDefs);
	// the others compare a column of the events table.
	Detection bool
}

// filterDefs are the event filters every panel and the events search accept, by query
// parameter name. A name not in this list is refused, never spliced into SQL; the values
// are bound as parameters.
var filterDefs = func() []filterDef {
	var defs []filterDef
	for _, c := range []string{
		"environment", "account_id", "aws_region", "user_name", "event_name",
		"source_ip", "country_code", "outcome", "error_code", "event_source",
		"event_id", "event_version", "event_type", "user_agent", "user_type", "user_arn", "error_message",
		"action", "role_name", "session_name", "principal_id", "access_key_id", "actor_account_id",
		"invoked_by", "login_result", "event_category", "resource_type", "country_name", "city",
	} {
		defs = append(defs, filterDef{Name: c, Expr: c, Kind: textFilter})
	}
	for _, c := range []string{
		"mfa_used", "session_mfa", "user_name_hidden", "is_read_only", "is_network_security",
		"is_public_exposure", "is_admin", "event_id_derived",
	} {
		defs = append(defs, filterDef{Name: c, Expr: c, Kind: boolFilter})
	}
	return append(defs,
		filterDef{Name: "resource_name", Expr: "resource_names", Kind: arrayFilter},
		filterDef{Name: "resource_arn", Expr: "resource_arns", Kind: arrayFilter},
		// The resource noun of the resource panels: CreateUser → User, RunInstances → Instances.
		filterDef{Name: "noun", Expr: nounExpr, Kind: textFilter},
	)
}()

// findFilter returns the filter of defs named name, the first one when several are.
func findFilter(defs []filterDef, name string) (filterDef, bool) {
	i := slices.IndexFunc(defs, func(f filterDef) bool { return f.Name == name })
	if i < 0 {
		return filterDef{}, false
	}
	return defs[i], true
}

// condition is one filter in force: the SQL comparing its expression with a bound parameter
// named after it, and the value bound.
type condition struct {
	Name  string
	SQL   string
	Value any    // bound as @Name
	Text  string // the value as given
	// Detection: the condition compares a column of the detections table. The others
	// restrict events, and detections through their events.
	Detection bool
}

// selection is what a panel or the events search is asked to show: a time range and the
// filters in force.
type selection struct {
	From, To time.Time
	Filters  []condition
}

// filterMap returns the filters in force by name, as the answers echo them.
func (s selection) filterMap() map[string]string {
	m := make(map[string]string, len(s.Filters))
	for _, c := range s.Filters {
		m[c.Name] = c.Text
	}
	return m
}

// parseSelection reads the time range and filters of a request. The time is range (a
// preset 15m, 1h, 3h, 6h, 12h, 24h, 7d, 30d or any Go duration, ending now) or from and to
// (RFC 3339; to defaults to now); with neither it is window (the panel's default), ending now.
// Every other parameter must be a filter of filterDefs or one of extra (which the caller
// reads itself); an empty filter value, and environment=all, select everything.
func parseSelection(q url.Values, now time.Time, window time.Duration, extra ...string) (selection, error) {
	return parseSelectionIn(filterDefs, q, now, window, extra...)
}

// parseDetectionSelection reads a request for detections as parseSelection reads one for
// events: its filters are those of detectionFilterDefs, which compare the detections'
// own columns, and every events filter, which selects the detections with an event that
// matches it.
func parseDetectionSelection(q url.Values, now time.Time, window time.Duration, extra ...string) (selection, error) {
	return parseSelectionIn(detectionSelectionDefs, q, now, window, extra...)
}

// parseSelectionIn reads a request whose filters are those of defs.
func parseSelectionIn(defs []filterDef, q url.Values, now time.Time, window time.Duration, extra ...string) (selection, error) {
	now = now.UTC().Truncate(time.Second)
	var sel selection
	rng, from, to := q.Get("range"), q.Get("from"), q.Get("to")
	switch {
	case rng != "" && (from != "" || to != ""):
		return sel, errors.New("give either range or from and to, not both")
	case from != "":
		f, err := time.Parse(time.RFC3339, from)
		if err != nil {
			return sel, fmt.Errorf("from: want an RFC 3339 time like 2024-05-01T00:00:00Z, not %s", quote(from))
		}
		t := now
		if to != "" {
			if t, err = time.Parse(time.RFC3339, to); err != nil {
				return sel, fmt.Errorf("to: want an RFC 3339 time like 2024-05-02T00:00:00Z, not %s", quote(to))
			}
		}
		sel.From, sel.To = f.UTC().Truncate(time.Second), t.UTC().Truncate(time.Second)
	case to != "":
		return sel, errors.New("to needs from")
	case rng != "":
		d, ok := presets[rng]
		if !ok {
			var err error
			if d, err = time.ParseDuration(rng); err != nil {
				return sel, fmt.Errorf("range: want 15m, 1h, 3h, 6h, 12h, 24h, 7d, 30d or a duration like 90m (at most %s), not %s",
					spanName(maxSpan), quote(rng))
			}
		}
		sel.From, sel.To = now.Add(-d), now
	default:
		sel.From, sel.To = now.Add(-window), now
	}
	if !sel.From.Before(sel.To) {
		return sel, errors.New("the time range is empty: from must be before to")
	}
	if sel.From.Before(earliest) || sel.To.After(latest) {
		return sel, fmt.Errorf("the time range must lie between %s and %s", earliest.Format(time.RFC3339), latest.Format(time.RFC3339))
	}
	if span := sel.To.Sub(sel.From); span > maxSpan {
		return sel, fmt.Errorf("the time range is longer than the %s allowed (it is %s): narrow it", spanName(maxSpan), spanName(span))
	}
	if sel.To.After(now.Add(maxAhead)) {
		return sel, fmt.Errorf("to: %s is more than a day after now (%s): nothing is stored there", sel.To.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		vals := q[name]
		switch {
		case name == "range" || name == "from" || name == "to" || slices.Contains(extra, name):
			if len(vals) > 1 {
				return sel, fmt.Errorf("%s: give it once", name)
			}
			continue
		}
		def, ok := findFilter(defs, name)
		if !ok {
			return sel, fmt.Errorf("unknown parameter %s: the filters are %s", quote(name), filterNames(defs))
		}
		if len(vals) > 1 {
			return sel, fmt.Errorf("%s: give it once; a filter matches one exact value", name)
		}
		v := vals[0]
		if v == "" || name == "environment" && v == "all" {
			continue
		}
		if len(v) > maxFilterValue {
			return sel, fmt.Errorf("%s: longer than the %d bytes allowed", name, maxFilterValue)
		}
		c := condition{Name: name, Value: v, Text: v, Detection: def.Detection}
		switch def.Kind {
		case textFilter:
			c.SQL = def.Expr + " = @" + name
		case arrayFilter:
			c.SQL = "has(" + def.Expr + ", @" + name + ")"
		case boolFilter:
			switch strings.ToLower(v) {
			case "true", "1":
				c.Value = uint8(1)
			case "false", "0":
				c.Value = uint8(0)
			default:
				return sel, fmt.Errorf("%s: want true or false, not %s", name, quote(v))
			}
			c.SQL = def.Expr + " = @" + name
		}
		sel.Filters = append(sel.Filters, c)
	}
	return sel, nil
}

// spanName writes a time range's length for an answer: in days from two days up
// (92 days), else as a duration (36h0m0s).
func spanName(d time.Duration) string {
	if d >= 48*time.Hour {
		days := float64(d) / float64(24*time.Hour)
		if d%(24*time.Hour) == 0 {
			return fmt.Sprintf("%d days", int(days))
		}
		return fmt.Sprintf("%.1f days", days)
	}
	return d.String()
}

// filterNames lists the filter parameters of defs for error messages, each name once.
func filterNames(defs []filterDef) string {
	var names []string
	for _, f := range defs {
		if !slices.Contains(names, f.Name) {
			names = append(names, f.Name)
		}
	}
	return strings.Join(names, ", ")
}
