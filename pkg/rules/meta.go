package rules

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// Severities, lowest first.
var Severities = []string{"info", "low", "medium", "high", "critical"}

// SeverityRank returns the place of s in Severities, -1 for an unknown severity.
func SeverityRank(s string) int { return slices.Index(Severities, s) }

// Meta describes a rule: what rules list shows and every detection of the rule carries.
type Meta struct {
	ID          string
	Severity    string // of its detections, unless a finding says otherwise
	Description string
	Tags        []string // ATT&CK tactics and techniques, as Sigma writes them: attack.t1078.004
	Source      string   // "builtin", or the file the rule was loaded from
	// Events are the event names the rule can fire on: the engine hands it no other event.
	// Empty: every event.
	Events []string
}

// Finding is what a rule found in the events that make it up: the detection, less what the
// rule's Meta and the events give.
type Finding struct {
	Severity     string // "": the rule's
	Title        string
	ResourceType string
	ResourceName string
	Context      map[string]any // the figures behind it, rendered as the detection's JSON context
	// ContextJSON, when set, is the context already rendered (a JSON object), for rules that
	// make many detections: Context is not used then.
	ContextJSON string
}

// Hit is one event a detection is made of.
type Hit struct {
	ID      string
	User    string
	Time    time.Time
	Account string
	Env     string
	At      Position
	Value   string // what the rule counted or compared, where it has one
	Weight  int    // how many the event counts for in a Threshold (Threshold.Weight); 0 is 1
}

// hitOf returns the hit of in, with value.
func hitOf(in *Input, value string) Hit {
	e := in.Event
	return Hit{ID: e.EventID, User: userOf(e), Time: e.EventTime, Account: e.AccountID, Env: e.Environment, At: in.At, Value: value}
}

// userOf names the actor of e for a detection: the user name, else the principal.
func userOf(e *model.Event) string {
	switch {
	case e.UserName != "":
		return e.UserName
	case e.RoleName != "":
		return e.RoleName
	case e.InvokedBy != "":
		return e.InvokedBy
	}
	return e.PrincipalID
}

// detect returns the detection of rule m made of hits (in event-time order) and f. Its ID
// is made of the rule and the hits' event IDs, so the same events give the same detection.
func (m *Meta) detect(f Finding, hits []Hit, now time.Time) model.Detection {
	ids := make([]string, len(hits))
	actors := make([]string, len(hits))
	for i, h := range hits {
		ids[i], actors[i] = h.ID, h.User
	}
	sev := f.Severity
	if sev == "" {
		sev = m.Severity
	}
	ctx := "{}"
	if f.ContextJSON != "" {
		ctx = f.ContextJSON
	} else if len(f.Context) > 0 {
		if b, err := json.Marshal(f.Context); err == nil {
			ctx = string(b)
		}
	}
	source := m.Source
	if source == "" {
		source = "builtin"
	}
	return model.Detection{
		DetectionID:  DetectionID(m.ID, ids...),
		RuleID:       m.ID,
		Severity:     sev,
		Title:        f.Title,
		AccountID:    hits[0].Account,
		Environment:  hits[0].Env,
		ResourceType: f.ResourceType,
		ResourceName: f.ResourceName,
		EventIDs:     ids,
		Actors:       actors,
		FirstTime:    hits[0].Time,
		LastTime:     hits[len(hits)-1].Time,
		DetectedAt:   now.UTC(),
		Description:  m.Description,
		Tags:         slices.Clone(m.Tags),
		Source:       source,
		Context:      ctx,
	}
}
