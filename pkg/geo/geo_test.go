package geo_test

import (
	"errors"
	"io/fs"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/trailstream/trailstream/pkg/geo"
)

// newLocator opens a Locator and closes it when the test ends.
func newLocator(t testing.TB, cityDB string) *geo.Locator {
	t.Helper()
	l, err := geo.New(cityDB)
	if err != nil {
		t.Fatalf("New(%q): %v", cityDB, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// Addresses of organisations and national networks whose country is not in doubt.
var knownPublic = []struct {
	ip, country, name string
}{
	{"193.0.6.139", "NL", "Netherlands"},        // RIPE NCC, Amsterdam
	{"133.11.0.1", "JP", "Japan"},               // University of Tokyo
	{"130.149.7.201", "DE", "Germany"},          // TU Berlin
	{"200.160.2.3", "BR", "Brazil"},             // NIC.br
	{"77.88.8.8", "RU", "Russia"},               // Yandex DNS
	{"129.132.0.1", "CH", "Switzerland"},        // ETH Zurich
	{"139.130.4.5", "AU", "Australia"},          // Telstra
	{"212.58.244.1", "GB", "United Kingdom"},    // BBC
	{"164.100.0.1", "IN", "India"},              // National Informatics Centre
	{"148.204.0.1", "MX", "Mexico"},             // Instituto Politécnico Nacional
	{"8.8.8.8", "US", "United States"},          // Google Public DNS
	{"2001:200::1", "JP", "Japan"},              // WIDE project
	{"2001:67c:2e8::1", "NL", "Netherlands"},    // RIPE NCC
	{"2001:da8::1", "CN", "China"},              // CERNET
	{"2001:638::1", "DE", "Germany"},            // DFN
	{"2a02:6b8::1", "RU", "Russia"},             // Yandex
	{"2001:12ff::1", "BR", "Brazil"},            // NIC.br
	{"2001:620::1", "CH", "Switzerland"},        // SWITCH
	{"2001:630::1", "GB", "United Kingdom"},     // Jisc (JANET)
	{"2001:388::1", "AU", "Australia"},          // AARNet
	{"::ffff:193.0.6.139", "NL", "Netherlands"}, // IPv4-mapped
	{"2002:c100:68b::1", "NL", "Netherlands"},   // 6to4 of 193.0.6.139
}

func TestLookupKnownPublic(t *testing.T) {
	l := newLocator(t, "")
	for _, tc := range knownPublic {
		t.Run(tc.ip, func(t *testing.T) {
			loc, ok := l.Lookup(tc.ip)
			if !ok {
				t.Fatalf("Lookup(%q) = false, want %s", tc.ip, tc.country)
			}
			if loc.CountryCode != tc.country || loc.CountryName != tc.name || loc.City != "" {
				t.Errorf("Lookup(%q) = %+v, want %s %q and no city", tc.ip, loc, tc.country, tc.name)
			}
			if loc.Latitude == 0 && loc.Longitude == 0 {
				t.Errorf("Lookup(%q) has no coordinates: %+v", tc.ip, loc)
			}
		})
	}
}

// Representative points must lie in or near the country: checked here against rough boxes.
func TestLookupCoordinates(t *testing.T) {
	l := newLocator(t, "")
	for _, tc := range []struct {
		ip                             string
		minLat, maxLat, minLon, maxLon float64
	}{
		{"193.0.6.139", 50.7, 53.6, 3.3, 7.3},       // Netherlands
		{"130.149.7.201", 47.2, 55.1, 5.8, 15.1},    // Germany
		{"8.8.8.8", 24.5, 49.4, -125, -66.9},        // contiguous United States
		{"139.130.4.5", -43.7, -10.6, 113.1, 153.7}, // Australia
		{"2001:200::1", 24, 45.6, 122.9, 145.9},     // Japan
	} {
		loc, ok := l.Lookup(tc.ip)
		if !ok || loc.Latitude < tc.minLat || loc.Latitude > tc.maxLat || loc.Longitude < tc.minLon || loc.Longitude > tc.maxLon {
			t.Errorf("Lookup(%q) = %+v, %v; want a point in lat [%v,%v] lon [%v,%v]", tc.ip, loc, ok, tc.minLat, tc.maxLat, tc.minLon, tc.maxLon)
		}
	}
}

// Addresses and strings that are not public IP addresses.
var notPublic = []string{
	// AWS service names and other non-addresses CloudTrail puts in sourceIPAddress
	"ec2.amazonaws.com", "AWS Internal", "lambda.amazonaws.com",
	// garbage
	"", " ", "not an ip", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4/24", " 8.8.8.8", "8.8.8.8 ",
	"::g", "2001:db8::1::2", "08.8.8.8", "[2001:200::1]", "8.8.8.8:443", "\x00",
	// IPv4 special-purpose ranges
	"0.0.0.0", "0.1.2.3", // this network
	"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254", "192.168.1.1", // private
	"100.64.0.1", "100.127.255.254", // shared (CGNAT)
	"127.0.0.1", "127.255.255.254", // loopback
	"169.254.169.254",                            // link-local (instance metadata)
	"192.0.0.8",                                  // IETF protocol assignments
	"192.0.2.1", "198.51.100.7", "203.0.113.200", // documentation
	"192.88.99.1",              // 6to4 relay anycast
	"198.18.0.1", "198.19.1.1", // benchmarking
	"224.0.0.1", "239.255.255.250", // multicast
	"240.0.0.1", "255.255.255.255", // reserved, broadcast
	// IPv6 special-purpose ranges
	"::", "::1", // unspecified, loopback
	"::ffff:10.0.0.1", "::ffff:127.0.0.1", // IPv4-mapped private and loopback
	"64:ff9b::808:808",             // NAT64
	"100::1",                       // discard
	"fc00::1", "fd12:3456:789a::1", // unique local
	"fe80::1", "fe80::1%eth0", "febf::1", // link-local
	"ff02::1", "ff0e::101", // multicast
	"2001::1", "2001:0:4136:e378::1", // Teredo
	"2001:2::1", "2001:10::1", // benchmarking, ORCHID
	"2001:db8::1", "2001:db8:ffff::1", "3fff::1", // documentation
	"2002:0a00:0001::1", "2002:c000:0201::1", // 6to4 of private and documentation addresses
	"4000::1", "e000::1", // outside global unicast
	"2001:200::1%eth0", // zoned
}

// The embedded data has no ranges for most special-purpose addresses; a city database that
// answers for every address shows that Lookup turns them away before asking any source.
func TestLookupNotPublic(t *testing.T) {
	everywhere := writeDB(t, mmdbwriter.Options{DatabaseType: "GeoIP2-City", IncludeReservedNetworks: true, DisableIPv4Aliasing: true},
		[]cityFixture{{"::/0", mmdbtype.Map{"country": country("US", "United States")}}})
	for name, l := range map[string]*geo.Locator{"embedded": newLocator(t, ""), "answers everything": newLocator(t, everywhere)} {
		t.Run(name, func(t *testing.T) {
			for _, ip := range notPublic {
				if loc, ok := l.Lookup(ip); ok || loc != (geo.Location{}) {
					t.Errorf("Lookup(%q) = %+v, %v; want a zero Location, false", ip, loc, ok)
				}
			}
			if _, ok := l.Lookup("193.0.6.139"); !ok {
				t.Error("Lookup of a public address = false, want true")
			}
		})
	}
}

// cityFixture is one network of the test city database.
type cityFixture struct {
	network string
	record  mmdbtype.Map
}

func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(en + " (de)")}
}

func country(code, name string) mmdbtype.Map {
	return mmdbtype.Map{"iso_code": mmdbtype.String(code), "names": names(name)}
}

func location(lat, lon float64) mmdbtype.Map {
	return mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon), "accuracy_radius": mmdbtype.Uint16(20)}
}

var cityFixtures = []cityFixture{
	{"81.2.69.0/24", mmdbtype.Map{"city": mmdbtype.Map{"names": names("London")}, "country": country("GB", "United Kingdom"), "location": location(51.5142, -0.0931)}},
	// Disagrees with the embedded data (US): the city database must win.
	{"8.8.8.0/24", mmdbtype.Map{"city": mmdbtype.Map{"names": names("Frankfurt am Main")}, "country": country("DE", "Deutschland"), "location": location(50.1188, 8.6843)}},
	// Only a registered country: its code, the embedded name and representative point.
	{"193.0.6.0/24", mmdbtype.Map{"registered_country": country("NL", "The Netherlands")}},
	// A code the embedded table does not know keeps the database's name.
	{"198.41.0.0/24", mmdbtype.Map{"country": country("EU", "Europe"), "location": location(50, 10)}},
	// No country at all: the embedded data answers.
	{"133.11.0.0/16", mmdbtype.Map{"city": mmdbtype.Map{"names": names("Nowhere")}}},
	{"2001:200::/32", mmdbtype.Map{"city": mmdbtype.Map{"names": names("Tokyo")}, "country": country("JP", "Japan"), "location": location(35.6893, 139.6899)}},
	// Private: must stay unanswered even though the database has it.
	{"10.0.0.0/8", mmdbtype.Map{"city": mmdbtype.Map{"names": names("Intranet")}, "country": country("US", "United States"), "location": location(40, -100)}},
}

// writeCityDB writes a database of the fixtures in the format databaseType names and
// returns its path.
func writeCityDB(t testing.TB, databaseType string, fixtures []cityFixture) string {
	t.Helper()
	return writeDB(t, mmdbwriter.Options{DatabaseType: databaseType, IncludeReservedNetworks: true, Languages: []string{"en", "de"}}, fixtures)
}

func writeDB(t testing.TB, opts mmdbwriter.Options, fixtures []cityFixture) string {
	t.Helper()
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		_, network, err := net.ParseCIDR(f.network)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(network, f.record); err != nil {
			t.Fatalf("insert %s: %v", f.network, err)
		}
	}
	path := filepath.Join(t.TempDir(), "city.mmdb")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(file); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLookupCityDB(t *testing.T) {
	l := newLocator(t, writeCityDB(t, "GeoIP2-City", cityFixtures))
	embedded := newLocator(t, "")
	nl, _ := embedded.Lookup("193.0.6.139")

	for _, tc := range []struct {
		ip   string
		want geo.Location
	}{
		{"81.2.69.142", geo.Location{CountryCode: "GB", CountryName: "United Kingdom", City: "London", Latitude: 51.5142, Longitude: -0.0931}},
		{"8.8.8.8", geo.Location{CountryCode: "DE", CountryName: "Germany", City: "Frankfurt am Main", Latitude: 50.1188, Longitude: 8.6843}},
		{"::ffff:8.8.8.8", geo.Location{CountryCode: "DE", CountryName: "Germany", City: "Frankfurt am Main", Latitude: 50.1188, Longitude: 8.6843}},
		{"193.0.6.139", geo.Location{CountryCode: "NL", CountryName: "Netherlands", Latitude: nl.Latitude, Longitude: nl.Longitude}},
		{"198.41.0.4", geo.Location{CountryCode: "EU", CountryName: "Europe", Latitude: 50, Longitude: 10}},
		{"2001:200:dff:fff1::1", geo.Location{CountryCode: "JP", CountryName: "Japan", City: "Tokyo", Latitude: 35.6893, Longitude: 139.6899}},
	} {
		if got, ok := l.Lookup(tc.ip); !ok || got != tc.want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v from the city database", tc.ip, got, ok, tc.want)
		}
	}

	// Addresses the city database lacks, or has without a country, fall back.
	for _, ip := range []string{"133.11.0.1", "130.149.7.201", "2001:da8::1", "77.88.8.8"} {
		want, _ := embedded.Lookup(ip)
		if got, ok := l.Lookup(ip); !ok || got != want || got.City != "" {
			t.Errorf("Lookup(%q) = %+v, %v; want the embedded answer %+v", ip, got, ok, want)
		}
	}

	for _, ip := range []string{"10.1.2.3", "ec2.amazonaws.com", "192.0.2.1"} {
		if got, ok := l.Lookup(ip); ok {
			t.Errorf("Lookup(%q) = %+v, true; want false", ip, got)
		}
	}
}

// A Country database (no city, no location) is accepted and fills coordinates.
func TestLookupCountryDB(t *testing.T) {
	l := newLocator(t, writeCityDB(t, "GeoLite2-Country", []cityFixture{
		{"81.2.69.0/24", mmdbtype.Map{"country": country("GB", "United Kingdom")}},
	}))
	gb, _ := newLocator(t, "").Lookup("212.58.244.1")
	if got, ok := l.Lookup("81.2.69.1"); !ok || got != gb {
		t.Errorf("Lookup = %+v, %v; want %+v", got, ok, gb)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	asn := writeCityDB(t, "GeoLite2-ASN", []cityFixture{{"81.2.69.0/24", mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(20712)}}})
	city, err := os.ReadFile(writeCityDB(t, "GeoIP2-City", cityFixtures))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path string
		notExist   bool
	}{
		{"missing", filepath.Join(dir, "no-such.mmdb"), true},
		{"directory", dir, false},
		{"empty", write("empty.mmdb", nil), false},
		{"not an mmdb", write("text.mmdb", []byte(strings.Repeat("this is not a MaxMind database\n", 100))), false},
		{"truncated", write("truncated.mmdb", city[:len(city)/2]), false},
		{"wrong type", asn, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := geo.New(tc.path)
			if err == nil {
				l.Close()
				t.Fatalf("New(%q) succeeded, want an error", tc.path)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file %s", err, tc.path)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tc.notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, got, tc.notExist)
			}
		})
	}
}

func TestCloseWithoutCityDB(t *testing.T) {
	l, err := geo.New("")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func FuzzLookup(f *testing.F) {
	for _, tc := range knownPublic {
		f.Add(tc.ip)
	}
	for _, s := range notPublic {
		f.Add(s)
	}
	embedded := newLocator(f, "")
	withCity := newLocator(f, writeCityDB(f, "GeoIP2-City", cityFixtures))
	f.Fuzz(func(t *testing.T, ip string) {
		for _, l := range []*geo.Locator{embedded, withCity} {
			loc, ok := l.Lookup(ip)
			if !ok {
				if loc != (geo.Location{}) {
					t.Fatalf("Lookup(%q) = %+v, false; want a zero Location", ip, loc)
				}
				continue
			}
			if len(loc.CountryCode) != 2 || loc.CountryName == "" {
				t.Fatalf("Lookup(%q) = %+v: bad country", ip, loc)
			}
			if math.Abs(loc.Latitude) > 90 || math.Abs(loc.Longitude) > 180 {
				t.Fatalf("Lookup(%q) = %+v: coordinates out of range", ip, loc)
			}
		}
	})
}
