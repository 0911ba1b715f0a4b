package console

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSelection(t *testing.T) {
	now := time.Date(2024, 5, 2, 12, 30, 15, 500, time.UTC)
	sec := now.Truncate(time.Second)
	day := func(d, h int) time.Time { return time.Date(2024, 5, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		query string
		want  selection
		bad   string // what the error says, when there is one
	}{
		{"", selection{From: sec.Add(-3 * time.Hour), To: sec}, ""},
		{"range=15m", selection{From: sec.Add(-15 * time.Minute), To: sec}, ""},
		{"range=7d", selection{From: sec.Add(-7 * 24 * time.Hour), To: sec}, ""},
		{"range=30d&environment=all", selection{From: sec.Add(-30 * 24 * time.Hour), To: sec}, ""},
		{"range=90m&environment=prod", selection{From: sec.Add(-90 * time.Minute), To: sec,
			Filters: []condition{{Name: "environment", SQL: "environment = @environment", Value: "prod", Text: "prod"}}}, ""},
		{"range=&user_name=", selection{From: sec.Add(-3 * time.Hour), To: sec}, ""},
		{"from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z", selection{From: day(1, 0), To: day(2, 0)}, ""},
		{"from=2024-05-01T02:00:00%2B02:00&to=2024-05-01T06:00:00Z", selection{From: day(1, 0), To: day(1, 6)}, ""},
		{"from=2024-05-02T10:00:00Z", selection{From: day(2, 10), To: sec}, ""},
		{"from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z&user_name=o'brien&mfa_used=false&resource_name=b/k",
			selection{From: day(1, 0), To: day(2, 0), Filters: []condition{
				{Name: "mfa_used", SQL: "mfa_used = @mfa_used", Value: uint8(0), Text: "false"},
				{Name: "resource_name", SQL: "has(resource_names, @resource_name)", Value: "b/k", Text: "b/k"},
				{Name: "user_name", SQL: "user_name = @user_name", Value: "o'brien", Text: "o'brien"},
			}}, ""},
		{"from=2024-05-01", selection{}, "from"},
		{"to=2024-05-01T00:00:00Z", selection{}, "to needs from"},
		{"range=1h&to=2024-05-01T00:00:00Z", selection{}, "either"},
		{"range=1d", selection{}, "range"},
		{"range=0s", selection{}, "empty"},
		{"range=-1h", selection{}, "empty"},
		{"range=2209h", selection{}, "longer"},
		{"from=2024-05-02T00:00:00Z&to=2024-05-02T00:00:00Z", selection{}, "empty"},
		{"from=1969-12-31T00:00:00Z&to=1970-01-02T00:00:00Z", selection{}, "between"},
		{"usr_name=alice", selection{}, `unknown parameter "usr_name"`},
		{"user_name=a&user_name=b", selection{}, "once"},
		{"range=1h&range=2h", selection{}, "once"},
		{"mfa_used=maybe", selection{}, "true or false"},
		{"user_agent=" + strings.Repeat("x", 1025), selection{}, "longer than"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseSelection(q, now, 3*time.Hour)
		switch {
		case tt.bad != "" && err == nil:
			t.Errorf("%q: no error, want one saying %q", tt.query, tt.bad)
		case tt.bad != "" && !strings.Contains(err.Error(), tt.bad):
			t.Errorf("%q: error %q does not say %q", tt.query, err, tt.bad)
		case tt.bad == "" && err != nil:
			t.Errorf("%q: %v", tt.query, err)
		case tt.bad == "" && !reflect.DeepEqual(got, tt.want):
			t.Errorf("%q:\n got  %+v\n want %+v", tt.query, got, tt.want)
		}
	}
}

func TestBand(t *testing.T) {
	h := func(n int) time.Time {
		return time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Hour)
	}
	row := func(n int, v uint64) []any { return []any{h(n).Format(time.RFC3339), v} }
	// Ten hours of one each, then 5, 1 and an empty hour; the window is the last three.
	var counts [][]any
	for n := -10; n < 0; n++ {
		counts = append(counts, row(n, 1))
	}
	counts = append(counts, row(0, 5), row(1, 1))
	got, err := band(counts, h(0).Add(20*time.Minute), h(3))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{h(0).Format(time.RFC3339), 5.0, 1.0, 1.0, 1.0, true},   // mean 1, σ 0
		{h(1).Format(time.RFC3339), 1.0, 1.4, -2.2, 5.0, false}, // nine 1s and a 5: mean 1.4, σ 1.2
		{h(2).Format(time.RFC3339), 0.0, 1.4, -2.2, 5.0, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("band:\n got  %v\n want %v", got, want)
	}
}
