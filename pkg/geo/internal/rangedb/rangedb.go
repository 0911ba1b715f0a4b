// Package rangedb is the compact file format of the IP-to-country table embedded in
// package geo, shared by the program that writes it (geo/internal/gen) and the package that
// reads it.
//
// A table maps sorted, non-overlapping IPv4 and IPv6 ranges to countries. Each range is
// stored by its first address only: it runs up to the next range's first address, and the
// last one to the end of the address space. Index 0 marks a range with no country (a gap).
//
// The file is a gzip stream holding:
//
//	magic   "TSGEO1"
//	codes   uvarint n, then n two-letter country codes (index 1..n)
//	ipv4    uvarint n, then n × (uvarint start-previous start, byte index)
//	ipv6    uvarint n, then n × (uvarint hi-previous hi, uvarint lo, byte index)
//
// where an IPv6 start is split into its high and low 64 bits. Deltas and mostly-zero low
// halves keep the varints short, and gzip does the rest.
package rangedb

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

const magic = "TSGEO1"

// U128 is an IPv6 address as two 64-bit halves, compared high half first.
type U128 struct {
	Hi, Lo uint64
}

// Less reports whether a sorts before b.
func (a U128) Less(b U128) bool {
	return a.Hi < b.Hi || (a.Hi == b.Hi && a.Lo < b.Lo)
}

// Table is a decoded IP-to-country table. V4Start and V4Index are parallel and so are
// V6Start and V6Index; starts are strictly increasing. An index i > 0 names Codes[i-1].
type Table struct {
	Codes   []string
	V4Start []uint32
	V4Index []uint8
	V6Start []U128
	V6Index []uint8
}

// Lookup returns the country index of addr (0 when no range holds it) for an IPv4 address
// or an IPv6 address that is not IPv4-mapped; the caller unmaps. It does not allocate.
func (t *Table) Lookup(addr netip.Addr) uint8 {
	if addr.Is4() {
		b := addr.As4()
		return lookupV4(t.V4Start, t.V4Index, binary.BigEndian.Uint32(b[:]))
	}
	b := addr.As16()
	return lookupV6(t.V6Start, t.V6Index, U128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])})
}

// lookupV4 and lookupV6 are the same binary search written twice on purpose: one generic
// function taking the comparison as a callback measured about 18 % slower per lookup.

// lookupV4 finds the last start <= ip.
func lookupV4(starts []uint32, index []uint8, ip uint32) uint8 {
	lo, hi := 0, len(starts)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if starts[mid] <= ip {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0
	}
	return index[lo-1]
}

// lookupV6 finds the last start <= ip.
func lookupV6(starts []U128, index []uint8, ip U128) uint8 {
	lo, hi := 0, len(starts)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if !ip.Less(starts[mid]) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0
	}
	return index[lo-1]
}

// Validate checks what Lookup relies on: parallel slices of equal length, strictly
// increasing starts, indexes within Codes, at most 255 two-letter codes.
func (t *Table) Validate() error {
	if len(t.Codes) > 255 {
		return fmt.Errorf("%d country codes, at most 255 fit an index byte", len(t.Codes))
	}
	for i, c := range t.Codes {
		if len(c) != 2 {
			return fmt.Errorf("country code %d is %q, want two letters", i+1, c)
		}
	}
	if len(t.V4Start) != len(t.V4Index) || len(t.V6Start) != len(t.V6Index) {
		return errors.New("starts and indexes differ in length")
	}
	for i := range t.V4Start {
		if i > 0 && t.V4Start[i] <= t.V4Start[i-1] {
			return fmt.Errorf("ipv4 range %d does not start after range %d", i, i-1)
		}
		if int(t.V4Index[i]) > len(t.Codes) {
			return fmt.Errorf("ipv4 range %d has country index %d of %d", i, t.V4Index[i], len(t.Codes))
		}
	}
	for i := range t.V6Start {
		if i > 0 && !t.V6Start[i-1].Less(t.V6Start[i]) {
			return fmt.Errorf("ipv6 range %d does not start after range %d", i, i-1)
		}
		if int(t.V6Index[i]) > len(t.Codes) {
			return fmt.Errorf("ipv6 range %d has country index %d of %d", i, t.V6Index[i], len(t.Codes))
		}
	}
	return nil
}

// Write validates t and writes it to w in the format described in the package doc.
func Write(w io.Writer, t *Table) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("rangedb: %w", err)
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("rangedb: %w", err)
	}
	bw := bufio.NewWriter(zw)
	var buf [binary.MaxVarintLen64]byte
	uvarint := func(v uint64) { bw.Write(buf[:binary.PutUvarint(buf[:], v)]) }

	bw.WriteString(magic)
	uvarint(uint64(len(t.Codes)))
	for _, c := range t.Codes {
		bw.WriteString(c)
	}
	uvarint(uint64(len(t.V4Start)))
	var prev4 uint32
	for i, s := range t.V4Start {
		uvarint(uint64(s - prev4))
		bw.WriteByte(t.V4Index[i])
		prev4 = s
	}
	uvarint(uint64(len(t.V6Start)))
	var prev6 uint64
	for i, s := range t.V6Start {
		uvarint(s.Hi - prev6)
		uvarint(s.Lo)
		bw.WriteByte(t.V6Index[i])
		prev6 = s.Hi
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("rangedb: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("rangedb: %w", err)
	}
	return nil
}

// Read decodes a table written by Write and validates it.
func Read(r io.Reader) (*Table, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("rangedb: %w", err)
	}
	defer zr.Close()
	t, err := decode(bufio.NewReader(zr))
	if err != nil {
		return nil, fmt.Errorf("rangedb: %w", err)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("rangedb: %w", err)
	}
	return t, nil
}

// maxRanges bounds the counts read from a header, so that a damaged file cannot ask for
// an absurd allocation; real tables hold well under a million ranges per family.
const maxRanges = 1 << 24

func decode(br *bufio.Reader) (*Table, error) {
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("reading magic: %w", err)
	}
	if string(head) != magic {
		return nil, fmt.Errorf("bad magic %q, want %q", head, magic)
	}
	count := func(what string, limit uint64) (int, error) {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return 0, fmt.Errorf("reading %s count: %w", what, err)
		}
		if n > limit {
			return 0, fmt.Errorf("%s count %d exceeds %d", what, n, limit)
		}
		return int(n), nil
	}

	t := &Table{}
	n, err := count("country", 255)
	if err != nil {
		return nil, err
	}
	codes := make([]byte, 2*n)
	if _, err := io.ReadFull(br, codes); err != nil {
		return nil, fmt.Errorf("reading country codes: %w", err)
	}
	for i := range n {
		t.Codes = append(t.Codes, string(codes[2*i:2*i+2]))
	}

	if n, err = count("ipv4 range", maxRanges); err != nil {
		return nil, err
	}
	t.V4Start, t.V4Index = make([]uint32, n), make([]uint8, n)
	var prev4 uint64
	for i := range n {
		d, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("ipv4 range %d: %w", i, err)
		}
		if prev4+d > 1<<32-1 {
			return nil, fmt.Errorf("ipv4 range %d starts past the address space", i)
		}
		prev4 += d
		t.V4Start[i] = uint32(prev4)
		if t.V4Index[i], err = br.ReadByte(); err != nil {
			return nil, fmt.Errorf("ipv4 range %d: %w", i, err)
		}
	}

	if n, err = count("ipv6 range", maxRanges); err != nil {
		return nil, err
	}
	t.V6Start, t.V6Index = make([]U128, n), make([]uint8, n)
	var prev6 uint64
	for i := range n {
		d, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("ipv6 range %d: %w", i, err)
		}
		lo, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("ipv6 range %d: %w", i, err)
		}
		if prev6+d < prev6 {
			return nil, fmt.Errorf("ipv6 range %d starts past the address space", i)
		}
		prev6 += d
		t.V6Start[i] = U128{prev6, lo}
		if t.V6Index[i], err = br.ReadByte(); err != nil {
			return nil, fmt.Errorf("ipv6 range %d: %w", i, err)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, errors.New("trailing data after the ipv6 ranges")
	}
	return t, nil
}
