package rules

import (
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/trailstream/trailstream/pkg/model"
)

// Input is one event as the rules see it: the normalized event, where it was read, the
// event-time clock of its account, and its raw CloudTrail record, parsed the first time a
// rule asks for a field the normalized event lacks and then shared by every rule.
type Input struct {
	Event *model.Event
	At    Position
	// Now is the event-time clock of the event's account after the event (EventClock): the
	// time windowed state is expired by.
	Now time.Time

	record map[string]any
	parsed bool
}

// NewInput returns the input of e read at at, with the clock now.
func NewInput(e *model.Event, at Position, now time.Time) *Input {
	return &Input{Event: e, At: at, Now: now}
}

// Record returns the raw record as parsed JSON (objects are map[string]any, arrays []any,
// numbers float64); nil when the raw record is not a JSON object. It is parsed at most once.
func (in *Input) Record() map[string]any {
	if !in.parsed {
		in.parsed = true
		var m map[string]any
		if json.Unmarshal([]byte(in.Event.Raw), &m) == nil {
			in.record = m
		}
	}
	return in.record
}

// Field returns the value at a dotted path of the raw record ("requestParameters.userName"),
// or nil when there is none. An array on the way is searched element by element: the first
// element that has the rest of the path gives the value.
func (in *Input) Field(path string) any {
	return lookup(in.Record(), path)
}

// Str returns the field at path as a string: strings as they are, numbers and booleans in
// their JSON form, "" for anything else or nothing.
func (in *Input) Str(path string) string {
	switch v := in.Field(path).(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func lookup(v any, path string) any {
	for path != "" && v != nil {
		name, rest, _ := strings.Cut(path, ".")
		switch x := v.(type) {
		case map[string]any:
			v, path = x[name], rest
		case []any:
			for _, el := range x {
				if got := lookup(el, path); got != nil {
					return got
				}
			}
			return nil
		default:
			return nil
		}
	}
	return v
}
