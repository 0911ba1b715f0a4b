package geo

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// cityRecord is the part of a GeoIP2/GeoLite2 City (or Country) record Lookup uses.
// Decoding names into structs rather than maps reads only the English name.
type cityRecord struct {
	City struct {
		Names englishName `maxminddb:"names"`
	} `maxminddb:"city"`
	Country           mmdbCountry `maxminddb:"country"`
	RegisteredCountry mmdbCountry `maxminddb:"registered_country"`
	Location          struct {
		Latitude  float64 `maxminddb:"latitude"`
		Longitude float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

type mmdbCountry struct {
	ISOCode string      `maxminddb:"iso_code"`
	Names   englishName `maxminddb:"names"`
}

type englishName struct {
	English string `maxminddb:"en"`
}

// openCityDB opens a MaxMind DB file and checks that its records are City or Country ones.
func openCityDB(path string) (*maxminddb.Reader, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geo: opening city database %s: %w", path, err)
	}
	if t := strings.ToLower(r.Metadata.DatabaseType); !strings.Contains(t, "city") && !strings.Contains(t, "country") {
		r.Close()
		return nil, fmt.Errorf("geo: city database %s is of type %q, want a City or Country database", path, r.Metadata.DatabaseType)
	}
	return r, nil
}

// lookupCity answers from the city database: false when it has no record for addr, the
// record has no country, or the record cannot be decoded, so that the embedded data
// answers instead. The country name is the embedded table's for a code it knows, so that
// one code always has one name; coordinates the record lacks (0,0) are the country's
// representative point.
func (l *Locator) lookupCity(addr netip.Addr) (Location, bool) {
	res := l.city.Lookup(addr)
	if !res.Found() {
		return Location{}, false
	}
	var rec cityRecord
	if err := res.Decode(&rec); err != nil {
		return Location{}, false
	}
	country := rec.Country
	if country.ISOCode == "" {
		country = rec.RegisteredCountry
	}
	if country.ISOCode == "" {
		return Location{}, false
	}
	loc := Location{
		CountryCode: country.ISOCode,
		CountryName: country.Names.English,
		City:        rec.City.Names.English,
		Latitude:    rec.Location.Latitude,
		Longitude:   rec.Location.Longitude,
	}
	if known, ok := l.countries.byCode[country.ISOCode]; ok {
		loc.CountryName = known.CountryName
		if loc.Latitude == 0 && loc.Longitude == 0 {
			loc.Latitude, loc.Longitude = known.Latitude, known.Longitude
		}
	}
	return loc, true
}
