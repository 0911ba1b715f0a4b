package sigma

import (
	"strconv"
	"strings"

	"github.com/trailstream/trailstream/pkg/model"
)

// fastFields are the record's fields the normalized event carries as they are: a rule that
// tests only these never needs the raw record parsed. An empty value in the event is no
// answer (the field may be absent or empty in the record), so the record is asked then.
var fastFields = map[string]func(e *model.Event) string{
	"eventVersion":             func(e *model.Event) string { return e.EventVersion },
	"eventSource":              func(e *model.Event) string { return e.EventSource },
	"eventName":                func(e *model.Event) string { return e.EventName },
	"eventType":                func(e *model.Event) string { return e.EventType },
	"awsRegion":                func(e *model.Event) string { return e.AWSRegion },
	"sourceIPAddress":          func(e *model.Event) string { return e.SourceIP },
	"userAgent":                func(e *model.Event) string { return e.UserAgent },
	"errorCode":                func(e *model.Event) string { return e.ErrorCode },
	"errorMessage":             func(e *model.Event) string { return e.ErrorMessage },
	"userIdentity.type":        func(e *model.Event) string { return e.UserType },
	"userIdentity.arn":         func(e *model.Event) string { return e.UserARN },
	"userIdentity.principalId": func(e *model.Event) string { return e.PrincipalID },
	"userIdentity.accessKeyId": func(e *model.Event) string { return e.AccessKeyID },
	"userIdentity.accountId":   func(e *model.Event) string { return e.ActorAccountID },
	"userIdentity.invokedBy":   func(e *model.Event) string { return e.InvokedBy },
}

// find looks up path (dotted, into nested objects) in v and reports whether any value there matches one of ms, and whether there is a
// value there at all (JSON null included). An array on the way is searched element by
// element; a value that is an array or an object matches when one of its elements or
// nested values does.
func find(v any, path string, ms []matcher) (matched, seen bool) {
	for path != "" {
		switch x := v.(type) {
		case map[string]any:
			name, rest, _ := strings.Cut(path, ".")
			w, ok := x[name]
			if !ok {
				return false, false
			}
			v, path = w, rest
		case []any:
			for _, el := range x {
				m, s := find(el, path, ms)
				seen = seen || s
				if m {
					return true, true
				}
			}
			return false, seen
		default:
			return false, false
		}
	}
	return leaf(v, ms), true
}

// leaf reports whether v, or one of its elements or nested values, matches one of ms.
func leaf(v any, ms []matcher) bool {
	switch x := v.(type) {
	case []any:
		for _, el := range x {
			if leaf(el, ms) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, el := range x {
			if leaf(el, ms) {
				return true
			}
		}
		return false
	}
	for _, m := range ms {
		if m.matchValue(v) {
			return true
		}
	}
	return false
}

// first returns the first value at path in v (an array's first element that has one), nil
// when there is none.
func first(v any, path string) any {
	for path != "" {
		switch x := v.(type) {
		case map[string]any:
			name, rest, _ := strings.Cut(path, ".")
			v, path = x[name], rest
		case []any:
			for _, el := range x {
				if got := first(el, path); got != nil {
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

// scalars appends the string forms of the scalar values at path in v (every element of
// arrays, every nested value of objects) to out.
func scalars(v any, path string, out []string) []string {
	for path != "" {
		switch x := v.(type) {
		case map[string]any:
			name, rest, _ := strings.Cut(path, ".")
			w, ok := x[name]
			if !ok {
				return out
			}
			v, path = w, rest
		case []any:
			for _, el := range x {
				out = scalars(el, path, out)
			}
			return out
		default:
			return out
		}
	}
	switch x := v.(type) {
	case []any:
		for _, el := range x {
			out = scalars(el, "", out)
		}
	case map[string]any:
		for _, el := range x {
			out = scalars(el, "", out)
		}
	default:
		if s, ok := str(x); ok {
			out = append(out, s)
		}
	}
	return out
}

// str returns the string form of a scalar JSON value: strings as they are, numbers and
// booleans as JSON writes them; false for null, arrays and objects.
func str(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
