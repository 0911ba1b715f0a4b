package geo

import (
	"encoding/binary"
	"net/netip"
)

// prefix is an address range as a base and a mask over 32 bits (IPv4) or over the high 64
// bits of an IPv6 address (every range below is /64 or wider).
type prefix[T uint32 | uint64] struct{ base, mask T }

func (p prefix[T]) contains(v T) bool { return v&p.mask == p.base }

func prefixes4(cidrs ...string) []prefix[uint32] {
	var out []prefix[uint32]
	for _, c := range cidrs {
		p := netip.MustParsePrefix(c)
		b := p.Addr().As4()
		out = append(out, prefix[uint32]{binary.BigEndian.Uint32(b[:]), ^uint32(0) << (32 - p.Bits())})
	}
	return out
}

func prefixes6(cidrs ...string) []prefix[uint64] {
	var out []prefix[uint64]
	for _, c := range cidrs {
		p := netip.MustParsePrefix(c)
		b := p.Addr().As16()
		out = append(out, prefix[uint64]{binary.BigEndian.Uint64(b[:8]), ^uint64(0) << (64 - p.Bits())})
	}
	return out
}

// notPublic4 are the IPv4 ranges that are not globally routed unicast: the IANA IPv4
// special-purpose registry's entries that are not globally reachable, plus multicast and
// the reserved class E (which holds the limited broadcast address).
var notPublic4 = prefixes4(
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private (RFC 1918)
	"100.64.0.0/10",   // shared address space, carrier-grade NAT (RFC 6598)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local
	"172.16.0.0/12",   // private (RFC 1918)
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation TEST-NET-1
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private (RFC 1918)
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation TEST-NET-2
	"203.0.113.0/24",  // documentation TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
)

// global6 is IPv6 global unicast; everything outside it (loopback, unspecified, NAT64,
// discard, unique local, link-local, multicast, ...) is not public.
var global6 = prefixes6("2000::/3")[0]

// notPublic6 are the special-purpose ranges inside global unicast.
var notPublic6 = prefixes6(
	"2001::/23",     // IETF protocol assignments: Teredo, benchmarking, ORCHID, ...
	"2001:db8::/32", // documentation
	"3fff::/20",     // documentation (RFC 9637)
)

// sixToFour is 2002::/16, whose addresses embed an IPv4 address in bits 16-47.
var sixToFour = prefixes6("2002::/16")[0]

// public returns the address to geolocate for addr and whether it is a public unicast
// address: IPv4-mapped IPv6 addresses become IPv4, 6to4 addresses the IPv4 address they
// embed. addr has no zone.
func public(addr netip.Addr) (netip.Addr, bool) {
	addr = addr.Unmap()
	if addr.Is6() {
		b := addr.As16()
		hi := binary.BigEndian.Uint64(b[:8])
		if !sixToFour.contains(hi) {
			return addr, public6(hi)
		}
		addr = netip.AddrFrom4([4]byte(b[2:6]))
	}
	b := addr.As4()
	return addr, public4(binary.BigEndian.Uint32(b[:]))
}

func public4(v uint32) bool {
	for _, p := range notPublic4 {
		if p.contains(v) {
			return false
		}
	}
	return true
}

// public6 takes the high 64 bits of an IPv6 address.
func public6(hi uint64) bool {
	if !global6.contains(hi) {
		return false
	}
	for _, p := range notPublic6 {
		if p.contains(hi) {
			return false
		}
	}
	return true
}
