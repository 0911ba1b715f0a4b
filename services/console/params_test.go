package console

import (
	"net/url"
	"testing"
	"time"
)

func TestParseSelection(t *testing.T) {
	now := time.Date(2024, 5, 2, 12, 30, 15, 500, time.UTC)
	day := func(d, h int) time.Time { return time.Date(2024, 5, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		query string
		want  selection
		bad   bool
	}{
		{"", selection{From: now.Truncate(time.Second).Add(-24 * time.Hour), To: now.Truncate(time.Second)}, false},
		{"range=3h&environment=all", selection{From: now.Truncate(time.Second).Add(-3 * time.Hour), To: now.Truncate(time.Second)}, false},
		{"range=168h&environment=prod", selection{From: now.Truncate(time.Second).Add(-168 * time.Hour), To: now.Truncate(time.Second), Environment: "prod"}, false},
		{"from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z", selection{From: day(1, 0), To: day(2, 0)}, false},
		{"from=2024-05-01T02:00:00%2B02:00&to=2024-05-01T06:00:00Z", selection{From: day(1, 0), To: day(1, 6)}, false},
		{"from=2024-05-02T10:00:00Z", selection{From: day(2, 10), To: now.Truncate(time.Second)}, false},
		{"from=2024-05-01", selection{}, true},
		{"to=2024-05-01T00:00:00Z", selection{}, true},
		{"range=1h&to=2024-05-01T00:00:00Z", selection{}, true},
		{"range=1d", selection{}, true},
		{"range=0s", selection{}, true},
		{"range=2209h", selection{}, true},
		{"from=2024-05-02T00:00:00Z&to=2024-05-02T00:00:00Z", selection{}, true},
		{"environment=%ff", selection{}, true},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseSelection(q, now)
		switch {
		case tt.bad && err == nil:
			t.Errorf("%q: no error, want one", tt.query)
		case !tt.bad && err != nil:
			t.Errorf("%q: %v", tt.query, err)
		case !tt.bad && got != tt.want:
			t.Errorf("%q: got %+v, want %+v", tt.query, got, tt.want)
		}
	}
}
