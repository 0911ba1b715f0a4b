package console

import (
	"errors"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"
)

const (
	defaultRange = 24 * time.Hour
	// maxSpan bounds a selected time range; the hourly charts would grow unreadable beyond it.
	maxSpan = 92 * 24 * time.Hour
)

// parseSelection reads the time range and environment of a request: either range (a Go
// duration ending now) or from and to (RFC 3339; to defaults to now), and environment
// ("all" or empty for every environment). With none of them it selects the last 24 hours.
func parseSelection(q url.Values, now time.Time) (selection, error) {
	now = now.UTC().Truncate(time.Second)
	var sel selection
	rng, from, to := q.Get("range"), q.Get("from"), q.Get("to")
	switch {
	case rng != "" && (from != "" || to != ""):
		return sel, errors.New("give either range or from and to, not both")
	case from != "":
		f, err := time.Parse(time.RFC3339, from)
		if err != nil {
			return sel, fmt.Errorf("from: want an RFC 3339 time like 2024-05-01T00:00:00Z: %w", err)
		}
		t := now
		if to != "" {
			if t, err = time.Parse(time.RFC3339, to); err != nil {
				return sel, fmt.Errorf("to: want an RFC 3339 time like 2024-05-02T00:00:00Z: %w", err)
			}
		}
		sel.From, sel.To = f.UTC().Truncate(time.Second), t.UTC().Truncate(time.Second)
	case to != "":
		return sel, errors.New("to needs from")
	default:
		d := defaultRange
		if rng != "" {
			var err error
			if d, err = time.ParseDuration(rng); err != nil {
				return sel, fmt.Errorf("range: want a duration like 24h: %w", err)
			}
		}
		sel.From, sel.To = now.Add(-d), now
	}
	if !sel.From.Before(sel.To) {
		return sel, errors.New("the time range is empty: from must be before to")
	}
	if sel.To.Sub(sel.From) > maxSpan {
		return sel, fmt.Errorf("the time range is longer than the %v allowed", maxSpan)
	}
	switch env := q.Get("environment"); {
	case len(env) > 200 || !utf8.ValidString(env):
		return sel, errors.New("environment: not a valid environment name")
	case env != "all":
		sel.Environment = env
	}
	return sel, nil
}
