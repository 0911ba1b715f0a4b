package main

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestSexagesimal(t *testing.T) {
	for _, tc := range []struct {
		in        string
		degDigits int
		want      float64
		ok        bool
	}{
		{"+6006", 2, 60.1, true},
		{"-0681636", 3, -(68 + 16.0/60 + 36.0/3600), true},
		{"+120903", 2, 12 + 9.0/60 + 3.0/3600, true},
		{"+0451", 2, 4 + 51.0/60, true},
		{"6006", 2, 0, false},
		{"+606", 2, 0, false},
		{"+60x6", 2, 0, false},
		{"", 2, 0, false},
	} {
		got, err := sexagesimal(tc.in, tc.degDigits)
		if (err == nil) != tc.ok || (tc.ok && abs(got-tc.want) > 1e-9) {
			t.Errorf("sexagesimal(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func abs(f float64) float64 { return max(f, -f) }

func TestStarts(t *testing.T) {
	a := netip.MustParseAddr
	index := func(code string) uint8 { return map[string]uint8{"DE": 1, "US": 2}[code] }
	spans := []span{
		{a("1.0.0.0"), a("1.0.0.255"), "DE"},
		{a("1.0.1.0"), a("1.0.1.255"), "DE"},       // adjacent, same country: merged
		{a("1.0.2.0"), a("1.0.2.255"), "US"},       // adjacent, other country
		{a("1.0.4.0"), a("1.0.4.255"), "US"},       // after a hole
		{a("9.0.0.0"), a("255.255.255.255"), "DE"}, // to the end: nothing after it
	}
	want := []start{
		{a("1.0.0.0"), 1},
		{a("1.0.2.0"), 2},
		{a("1.0.3.0"), 0},
		{a("1.0.4.0"), 2},
		{a("1.0.5.0"), 0},
		{a("9.0.0.0"), 1},
	}
	if got := starts(spans, index); !reflect.DeepEqual(got, want) {
		t.Errorf("starts = %v, want %v", got, want)
	}
}
