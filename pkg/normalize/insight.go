package normalize

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/trailstream/trailstream/pkg/model"
)

// insightEventType is the eventType of CloudTrail Insights events, and insightCategory
// their eventCategory.
const (
	insightEventType = "AwsCloudTrailInsight"
	insightCategory  = "Insight"
)

// insightDetails is the part of an Insights event's insightDetails the event reads: which
// API the unusual activity was on. The rest (state, insightType, errorCode, the statistics
// and attributions) stays in raw.
type insightDetails struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
}

// isInsight tells an Insights event: a record CloudTrail Insights wrote about unusual API
// call or error rates, not a call.
func isInsight(r *record) bool {
	return r.EventType == insightEventType || string(r.EventCategory) == `"`+insightCategory+`"`
}

// setInsight makes e the event of an Insights record: the API the activity was on is the
// event's source and name, the category is insight, and nothing in it is an actor, a call,
// an error or an outcome (the error an error-rate insight is about is its
// insightDetails.errorCode, in raw). The outcome is empty rather than success, so that no
// rule matching a successful call (StopLogging, DeleteTrail, …) takes an insight about
// that call's rate for the call. The sharedEventID, which a start and its end share, is
// its resource.
func setInsight(e *model.Event, r *record, details jsontext.Value) {
	var d insightDetails
	decodeObject(details, &d)
	e.EventSource, e.EventName = d.EventSource, d.EventName
	e.EventCategory = "insight"
	e.Action = "other"
	e.Outcome = ""
	e.SourceIP, e.UserAgent, e.ErrorCode, e.ErrorMessage = "", "", "", ""
	e.IsReadOnly = false
	e.ResourceType = "cloudtrail-insight"
	var shared string
	if len(r.SharedEventID) > 0 && r.SharedEventID.Kind() == '"' && json.Unmarshal(r.SharedEventID, &shared, lenient) == nil && shared != "" {
		e.ResourceNames = []string{shared}
	}
}
