package rangedb

import (
	"bytes"
	"compress/gzip"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func u128(s string) U128 {
	b := netip.MustParseAddr(s).As16()
	var u U128
	for i := range 8 {
		u.Hi = u.Hi<<8 | uint64(b[i])
		u.Lo = u.Lo<<8 | uint64(b[8+i])
	}
	return u
}

func sample() *Table {
	return &Table{
		Codes:   []string{"DE", "US"},
		V4Start: []uint32{0x01000000, 0x01000100, 0x02000000},
		V4Index: []uint8{1, 0, 2},
		V6Start: []U128{u128("2001:200::"), u128("2001:200::1:0:0:5"), u128("2001:300::"), u128("2c00::")},
		V6Index: []uint8{2, 1, 0, 1},
	}
}

func encode(t *testing.T, tb *Table) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, tb); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripAndLookup(t *testing.T) {
	got, err := Read(bytes.NewReader(encode(t, sample())))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sample()) {
		t.Fatalf("Read(Write(t)) = %+v, want %+v", got, sample())
	}
	for _, tc := range []struct {
		ip   string
		want uint8
	}{
		{"0.0.0.0", 0},
		{"0.255.255.255", 0}, // before the first range
		{"1.0.0.0", 1},
		{"1.0.0.255", 1},
		{"1.0.1.0", 0}, // a gap
		{"1.255.255.255", 0},
		{"2.0.0.0", 2},
		{"255.255.255.255", 2}, // the last range runs to the end
		{"::", 0},
		{"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", 0},
		{"2001:200::", 2},
		{"2001:200::1:0:0:4", 2},
		{"2001:200::1:0:0:5", 1}, // a range starting inside a /64
		{"2001:200::1:ffff:ffff:ffff", 1},
		{"2001:2ff:ffff:ffff:ffff:ffff:ffff:ffff", 1},
		{"2001:300::", 0},
		{"2c00::", 1},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1},
	} {
		if i := got.Lookup(netip.MustParseAddr(tc.ip)); i != tc.want {
			t.Errorf("Lookup(%s) = %d, want %d", tc.ip, i, tc.want)
		}
	}
}

func gz(payload string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(payload))
	zw.Close()
	return buf.Bytes()
}

// plain is sample() without gzip, to damage before recompressing.
func plain(t *testing.T) string {
	zr, err := gzip.NewReader(bytes.NewReader(encode(t, sample())))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestReadErrors(t *testing.T) {
	p := plain(t)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte("TSGEO1 is not compressed"), "gzip"},
		{"bad magic", gz("TSGEO9" + p[6:]), "bad magic"},
		{"empty", gz(""), "magic"},
		{"truncated", gz(p[:len(p)-3]), "ipv6 range"},
		{"trailing data", gz(p + "x"), "trailing data"},
		{"too many countries", gz("TSGEO1\xff\x0f"), "country count"},
		{"index out of range", gz("TSGEO1\x01DE\x01\x00\x05\x00"), "index 5"},
		{"unsorted", gz("TSGEO1\x01DE\x02\x05\x01\x00\x01\x00"), "does not start after"},
		{"past the ipv4 space", gz("TSGEO1\x01DE\x02\xff\xff\xff\xff\x0f\x01\x01\x01"), "past the address space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestWriteRejectsInvalid(t *testing.T) {
	for name, mutate := range map[string]func(*Table){
		"unsorted ipv4":      func(t *Table) { t.V4Start[1] = t.V4Start[0] },
		"unsorted ipv6":      func(t *Table) { t.V6Start[1] = t.V6Start[0] },
		"index out of range": func(t *Table) { t.V6Index[0] = 3 },
		"lengths differ":     func(t *Table) { t.V4Index = t.V4Index[:1] },
		"bad code":           func(t *Table) { t.Codes[0] = "DEU" },
	} {
		tb := sample()
		mutate(tb)
		if err := Write(&bytes.Buffer{}, tb); err == nil {
			t.Errorf("%s: Write succeeded, want an error", name)
		}
	}
}
