package retention

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string // a part of the error, "" for none
	}{
		{"", 0, ""},
		{"0", 0, ""},
		{" 0 ", 0, ""},
		{"0d", 0, ""},
		{"400d", 400 * 24 * time.Hour, ""},
		{"13w", 91 * 24 * time.Hour, ""},
		{"8760h", 365 * 24 * time.Hour, ""},
		{"24h", 24 * time.Hour, ""},
		{"1d", 24 * time.Hour, ""},
		{"36500d", 36500 * 24 * time.Hour, ""},
		{"5214w", 36498 * 24 * time.Hour, ""},
		{"36501d", 0, "longer than 36500 days"},
		{"5215w", 0, "longer than 36500 days"},
		{"99999999999999999999d", 0, "longer than 36500 days"},
		{"36h", 0, "not a whole number of days"},
		{"1h", 0, "not a whole number of days"},
		{"400", 0, `unit "0" is not h, d or w`},
		{"1y", 0, `unit "y" is not h, d or w`},
		{"400D", 0, `unit "D"`},
		{"d", 0, "want a number and a unit"},
		{"-400d", 0, "not a whole number"},
		{"+400d", 0, "not a whole number"},
		{"4.5d", 0, "not a whole number"},
		{"400 d", 0, "not a whole number"},
		{"1d12h", 0, "not a whole number"},
		{"forever", 0, `unit "r"`},
	} {
		got, err := Parse(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Parse(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0"},
		{-time.Hour, "0"},
		{400 * 24 * time.Hour, "400d"},
		{91 * 24 * time.Hour, "13w"},
		{365 * 24 * time.Hour, "365d"},
		{36 * time.Hour, "36h"},
		{90 * time.Minute, "2h"},
	} {
		if got := Format(tc.in); got != tc.want {
			t.Errorf("Format(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDays(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want int64
	}{
		{24 * time.Hour, 1},
		{400 * 24 * time.Hour, 400},
		{25 * time.Hour, 2},
		{time.Second, 1},
	} {
		if got := Days(tc.in); got != tc.want {
			t.Errorf("Days(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestPeriodFlag: the flag.Value reads what Parse reads and prints the default of -h.
func TestPeriodFlag(t *testing.T) {
	var p Period
	if p.String() != "0" {
		t.Fatalf("zero Period prints %q, want 0", p.String())
	}
	if err := p.Set("13w"); err != nil || p.Duration() != 91*24*time.Hour || p.String() != "13w" {
		t.Fatalf("Set(13w): %v, %v, %q", err, p.Duration(), p.String())
	}
	if err := p.Set("2y"); err == nil || p.Duration() != 91*24*time.Hour {
		t.Fatalf("Set(2y) = %v and changed the period to %v; want an error and 13w kept", err, p.Duration())
	}
	if (*Period)(nil).String() != "0" {
		t.Fatal("nil Period does not print 0")
	}
}

// FuzzParse: Parse never panics; what it accepts is whole days within MaxDays, and Format
// of it parses back to the same period.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "0", "400d", "13w", "8760h", "36h", "36501d", "-1d", "1d12h", "99999999999999999999w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("Parse(%q) returned %v with its error", s, d)
			}
			return
		}
		if d < 0 || d%Day != 0 || d > MaxDays*Day {
			t.Fatalf("Parse(%q) = %v: not whole days from 0 to %d", s, d, MaxDays)
		}
		back, err := Parse(Format(d))
		if err != nil || back != d {
			t.Fatalf("Parse(Format(%v) = %q) = %v, %v", d, Format(d), back, err)
		}
	})
}
