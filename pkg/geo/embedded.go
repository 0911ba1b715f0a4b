package geo

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/trailstream/trailstream/pkg/geo/internal/rangedb"
)

// ipcountry is the IP-to-country table, written by internal/gen.
//
//go:embed data/ipcountry.bin.gz
var ipcountry []byte

// countriesTSV holds code, English name, latitude and longitude per country, written by
// internal/gen.
//
//go:embed data/countries.tsv
var countriesTSV string

// countryDB is the decoded embedded data, shared by every Locator.
type countryDB struct {
	table  *rangedb.Table
	locs   []Location          // by table index; locs[0] is unused (no country)
	byCode map[string]Location // every country of countries.tsv
}

// embedded decodes the embedded data once per process, on the first New: about 45 ms and
// 7.5 MB of memory.
var embedded = sync.OnceValues(func() (*countryDB, error) {
	byCode, err := parseCountries(countriesTSV)
	if err != nil {
		return nil, err
	}
	t, err := rangedb.Read(bytes.NewReader(ipcountry))
	if err != nil {
		return nil, err
	}
	db := &countryDB{table: t, locs: make([]Location, len(t.Codes)+1), byCode: byCode}
	for i, code := range t.Codes {
		loc, ok := byCode[code]
		if !ok {
			return nil, fmt.Errorf("country %q of the ranges is not in countries.tsv", code)
		}
		db.locs[i+1] = loc
	}
	return db, nil
})

// lookup answers from the embedded table; addr is public and unmapped.
func (db *countryDB) lookup(addr netip.Addr) (Location, bool) {
	i := db.table.Lookup(addr)
	if i == 0 {
		return Location{}, false
	}
	return db.locs[i], true
}

// parseCountries reads "code<TAB>name<TAB>latitude<TAB>longitude" lines; lines starting
// with # are comments.
func parseCountries(tsv string) (map[string]Location, error) {
	byCode := make(map[string]Location)
	for n, line := range strings.Split(strings.TrimSuffix(tsv, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 || len(f[0]) != 2 || f[1] == "" {
			return nil, fmt.Errorf("countries.tsv:%d: bad line %q", n+1, line)
		}
		lat, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return nil, fmt.Errorf("countries.tsv:%d: latitude: %w", n+1, err)
		}
		lon, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			return nil, fmt.Errorf("countries.tsv:%d: longitude: %w", n+1, err)
		}
		byCode[f[0]] = Location{CountryCode: f[0], CountryName: f[1], Latitude: lat, Longitude: lon}
	}
	return byCode, nil
}
