package geo

import (
	"math"
	"testing"
)

// The embedded files must decode, agree with each other and be complete: a refresh that
// truncated or mangled them fails here.
func TestEmbeddedData(t *testing.T) {
	db, err := embedded()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(db.byCode); n < 245 {
		t.Errorf("%d countries, want the ~250 of ISO 3166-1", n)
	}
	for code, loc := range db.byCode {
		if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
			t.Errorf("bad country code %q", code)
		}
		if loc.CountryCode != code || loc.CountryName == "" || loc.City != "" {
			t.Errorf("%s: bad row %+v", code, loc)
		}
		if math.Abs(loc.Latitude) > 90 || math.Abs(loc.Longitude) > 180 || (loc.Latitude == 0 && loc.Longitude == 0) {
			t.Errorf("%s: bad coordinates %+v", code, loc)
		}
	}
	if n := len(db.table.V4Start); n < 100_000 {
		t.Errorf("%d IPv4 ranges, want hundreds of thousands", n)
	}
	if n := len(db.table.V6Start); n < 100_000 {
		t.Errorf("%d IPv6 ranges, want hundreds of thousands", n)
	}
	if n := len(db.table.Codes); n < 240 {
		t.Errorf("the ranges use %d countries, want about 250", n)
	}
}

func TestParseCountriesErrors(t *testing.T) {
	for _, tsv := range []string{
		"US\tUnited States\t37.09\n",
		"USA\tUnited States\t37.09\t-95.71\n",
		"US\t\t37.09\t-95.71\n",
		"US\tUnited States\tnorth\t-95.71\n",
		"US\tUnited States\t37.09\twest\n",
	} {
		if _, err := parseCountries(tsv); err == nil {
			t.Errorf("parseCountries(%q) succeeded, want an error", tsv)
		}
	}
}
