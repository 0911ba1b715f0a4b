// Package geo geolocates the public source IP addresses of CloudTrail records: country
// (ISO 3166-1 alpha-2 code and English name), city and coordinates.
//
// Two sources answer, both local, nothing is downloaded at run time:
//
//   - a country database embedded in the binary (DB-IP's IP to Country Lite, converted by
//     internal/gen; see README.md for its version and licence), which knows the country
//     only: Latitude and Longitude are then a representative point of the country (about
//     its geographic centre, or its main city for a few small territories), enough to plot
//     it on a world map;
//   - optionally a MaxMind-format city database (GeoLite2-City or GeoIP2-City .mmdb) that
//     the user gives, whose answer is preferred when it has one.
//
// Only public unicast addresses are geolocated. Lookup answers false for AWS service names
// ("ec2.amazonaws.com", "AWS Internal"), anything else that is not an IP address, and for
// private, loopback, link-local, shared (CGNAT), multicast, documentation, benchmarking and
// other special-purpose or reserved ranges, IPv4 and IPv6 alike.
package geo

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Attribution is the credit the embedded country data's licence (CC BY 4.0) asks for; a
// page that shows locations from it should display it, linked to https://db-ip.com.
const Attribution = "IP Geolocation by DB-IP"

// Location is where an IP address is. CountryCode is an ISO 3166-1 alpha-2 code (DB-IP
// also uses XK for Kosovo). City is empty when only the country is known.
type Location struct {
	CountryCode string
	CountryName string
	City        string
	Latitude    float64
	Longitude   float64
}

// Locator answers Lookup from the embedded country data and, when it was given one, a
// MaxMind city database. It is safe for concurrent use.
type Locator struct {
	countries *countryDB
	city      *maxminddb.Reader // nil without a city database
}

// New returns a Locator. With cityDB "" it uses the embedded country data alone; otherwise
// cityDB is the path of a MaxMind DB file (GeoLite2-City or GeoIP2-City format, a Country
// database works too) that Lookup consults first. Close releases it.
func New(cityDB string) (*Locator, error) {
	countries, err := embedded()
	if err != nil {
		return nil, fmt.Errorf("geo: embedded country data: %w", err)
	}
	l := &Locator{countries: countries}
	if cityDB != "" {
		if l.city, err = openCityDB(cityDB); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Lookup returns the location of ip, a textual IPv4 or IPv6 address, and whether it has
// one; with false the Location is zero. It answers false for anything that is not a public
// IP address and for public addresses neither source knows. An address the city database
// has with a country wins, with its city, coordinates and country (coordinates missing
// from its record are the country's representative point, and the name is the embedded
// table's for a code it knows, so that one code has one name); otherwise the embedded
// country data answers. An IPv4-mapped IPv6 address is looked up as IPv4, a 6to4 address
// (2002::/16) as the IPv4 address it embeds. It does not allocate on the embedded path.
func (l *Locator) Lookup(ip string) (Location, bool) {
	if !addressChars(ip) {
		return Location{}, false
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return Location{}, false
	}
	addr, ok := public(addr)
	if !ok {
		return Location{}, false
	}
	if l.city != nil {
		if loc, ok := l.lookupCity(addr); ok {
			return loc, true
		}
	}
	return l.countries.lookup(addr)
}

// Close closes the city database, if any. The Locator must not be used afterwards.
func (l *Locator) Close() error {
	if l.city == nil {
		return nil
	}
	if err := l.city.Close(); err != nil {
		return fmt.Errorf("geo: closing city database: %w", err)
	}
	return nil
}

// addressChars reports whether s has only the characters of an IP address without a zone
// (hex digits, dots, colons): it turns away service names such as "ec2.amazonaws.com"
// without the allocation of a parse error, and zoned addresses, which are scoped, so never
// public.
func addressChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == '.' || c == ':') {
			return false
		}
	}
	return s != ""
}
