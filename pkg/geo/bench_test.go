package geo_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/trailstream/trailstream/pkg/geo"
)

// publicAddrs returns n random addresses that l geolocates, drawn with a fixed seed: IPv4
// from the whole space, IPv6 from 2000::/4, where almost all allocations are.
func publicAddrs(tb testing.TB, l *geo.Locator, n int, ipv6 bool) []string {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var out []string
	for len(out) < n {
		var a netip.Addr
		if ipv6 {
			var b [16]byte
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			b[0] = 0x20 | b[0]&0x0f
			a = netip.AddrFrom16(b)
		} else {
			a = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		}
		if _, ok := l.Lookup(a.String()); ok {
			out = append(out, a.String())
		}
	}
	return out
}

// BenchmarkLookup measures Lookup as the normalizer calls it, once per record, on public
// IPv4 and IPv6 addresses, on AWS service names, and with a city database.
func BenchmarkLookup(b *testing.B) {
	embedded := newLocator(b, "")
	withCity := newLocator(b, writeCityDB(b, "GeoIP2-City", cityFixtures))
	for _, bc := range []struct {
		name  string
		l     *geo.Locator
		addrs []string
	}{
		{"embedded/ipv4", embedded, publicAddrs(b, embedded, 4096, false)},
		{"embedded/ipv6", embedded, publicAddrs(b, embedded, 4096, true)},
		{"embedded/service-name", embedded, []string{"ec2.amazonaws.com", "AWS Internal", "s3.amazonaws.com", "sts.amazonaws.com"}},
		{"city-db/hit", withCity, []string{"81.2.69.142", "8.8.8.8", "2001:200::1", "193.0.6.139"}},
		{"city-db/fallback", withCity, publicAddrs(b, embedded, 4096, false)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				bc.l.Lookup(bc.addrs[n%len(bc.addrs)])
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}
