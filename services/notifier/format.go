package notifier

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// Severity is the rank of a detection's severity: Info < Low < Medium < High < Critical.
type Severity int

// The severities, lowest first.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{Info: "info", Low: "low", Medium: "medium", High: "high", Critical: "critical"}

// String returns the severity's name as detections spell it ("high").
func (s Severity) String() string {
	if s < Info || s > Critical {
		return "severity(" + strconv.Itoa(int(s)) + ")"
	}
	return severityNames[s]
}

// ParseSeverity returns the severity named s, in any case and with spaces around ignored.
func ParseSeverity(s string) (Severity, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for i, n := range severityNames {
		if n == name {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("severity %q is none of info, low, medium, high, critical", s)
}

// Format is how a detection is written in the body of a webhook request.
type Format int

// The formats.
const (
	// JSON is the detection as one JSON object keyed by the Avro field names
	// (model.Detection.AppendJSON).
	JSON Format = iota
	// Slack is a Slack incoming-webhook message, {"text": "..."}: a summary of a few lines.
	Slack
)

// ParseFormat returns the format named s: json or slack.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "json":
		return JSON, nil
	case "slack":
		return Slack, nil
	}
	return 0, fmt.Errorf("alert format %q is neither json nor slack", s)
}

// String returns the format's name.
func (f Format) String() string {
	if f == Slack {
		return "slack"
	}
	return "json"
}

// Body returns the request body that carries d in format f; either way it is JSON.
func (f Format) Body(d *model.Detection) []byte {
	if f == Slack {
		b, _ := json.Marshal(struct {
			Text string `json:"text"`
		}{slackText(d)}) // a struct of one string always marshals
		return b
	}
	return d.AppendJSON(nil)
}

// maxActors is how many actors a Slack summary names before it counts the rest.
const maxActors = 5

// slackText returns the summary of d in a Slack message: the severity and title, then the
// rule, account and environment, the resource, the event times and the actors, one line
// each, a line left out when it would be empty, and the detection ID to look it up by.
// Slack's control characters &, < and > are escaped as Slack asks.
func slackText(d *model.Detection) string {
	var b strings.Builder
	line := func(label, value string) {
		if value == "" {
			return
		}
		b.WriteByte('\n')
		if label != "" {
			b.WriteString(label + ": ")
		}
		b.WriteString(slackEscape(value))
	}
	b.WriteString("*[" + slackEscape(strings.ToUpper(d.Severity)) + "]* " + slackEscape(d.Title))
	line("Rule", d.RuleID)
	line("Account", strings.TrimSpace(d.AccountID+environment(d.Environment)))
	line("Resource", strings.TrimSpace(d.ResourceType+" "+d.ResourceName))
	line("Time", span(d.FirstTime, d.LastTime))
	line("Actors", actors(d.Actors))
	line("Detection", d.DetectionID)
	return b.String()
}

func environment(env string) string {
	if env == "" {
		return ""
	}
	return " (environment " + env + ")"
}

// span returns first to last in UTC, to the second; one time when they are the same.
func span(first, last time.Time) string {
	const layout = "2006-01-02 15:04:05 UTC"
	switch {
	case first.IsZero() && last.IsZero():
		return ""
	case first.Equal(last) || last.IsZero():
		return first.UTC().Format(layout)
	case first.IsZero():
		return last.UTC().Format(layout)
	}
	return first.UTC().Format(layout) + " to " + last.UTC().Format(layout)
}

// actors returns up to maxActors names and how many more there are.
func actors(names []string) string {
	if len(names) <= maxActors {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxActors], ", ") + fmt.Sprintf(" and %d more", len(names)-maxActors)
}

// slackEscape escapes the characters Slack reads as markup: &, < and >.
func slackEscape(s string) string { return slackEscaper.Replace(s) }

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
