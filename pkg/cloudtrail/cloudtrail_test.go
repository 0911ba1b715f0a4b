package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// trail is a CloudTrail file whose Records array holds elems, as they are.
func trail(elems ...string) string { return `{"Records":[` + strings.Join(elems, ",") + `]}` }

// collect reads in with Records.
func collect(in io.Reader) ([]Record, error) {
	var got []Record
	err := Records(in, func(r Record) error { got = append(got, r); return nil })
	return got, err
}

// rec is an expected Record: Data and the sentinel Err wraps (nil: readable).
type rec struct {
	index int
	data  string
	err   error
}

// stop is an expected *StopError; err is what it wraps.
type stop struct {
	offset int64
	index  int
	tail   string
	err    error
}

// check compares what Records gave with what a test wants: records (Offset checked against
// the plain input when it is given), and an error: nil, a sentinel, or a *StopError.
func check(t *testing.T, plain string, got []Record, err error, want []rec, wantErr any) {
	t.Helper()
	for i := 0; i < len(got) || i < len(want); i++ {
		if i >= len(got) {
			t.Fatalf("record %d missing: want %+v", i, want[i])
		}
		g := got[i]
		if i >= len(want) {
			t.Fatalf("record %d unexpected: index %d, %.80q, %v", i, g.Index, g.Data, g.Err)
		}
		w := want[i]
		if g.Index != w.index || string(g.Data) != w.data || (w.err == nil) != (g.Err == nil) || w.err != nil && !errors.Is(g.Err, w.err) {
			t.Errorf("record %d: index %d, %.80q, err %v\nwant index %d, %.80q, err %v", i, g.Index, g.Data, g.Err, w.index, w.data, w.err)
		}
		if plain != "" && !strings.HasPrefix(plain[g.Offset:], string(g.Data)) {
			t.Errorf("record %d: Offset %d does not point at its Data", i, g.Offset)
		}
	}
	switch w := wantErr.(type) {
	case nil:
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
	case error:
		if !errors.Is(err, w) {
			t.Fatalf("err = %v, want %v", err, w)
		}
		if errors.As(err, new(*StopError)) {
			t.Fatalf("err = %v is a StopError", err)
		}
	case stop:
		var se *StopError
		if !errors.As(err, &se) {
			t.Fatalf("err = %v, want a StopError", err)
		}
		if se.Offset != w.offset || se.Index != w.index || string(se.Tail) != w.tail || !errors.Is(se.Err, w.err) {
			t.Fatalf("StopError{Offset %d, Index %d, Tail %q, Err %v}\nwant      {Offset %d, Index %d, Tail %q, Err %v}", se.Offset, se.Index, se.Tail, se.Err, w.offset, w.index, w.tail, w.err)
		}
	}
}

func TestRecords(t *testing.T) {
	sample, err := os.ReadFile("testdata/console_login_failure.json")
	if err != nil {
		t.Fatal(err)
	}
	sample = bytes.TrimSpace(sample)
	file := trail(string(sample), `{"eventID":"b"}`)
	two := []rec{{0, string(sample), nil}, {1, `{"eventID":"b"}`, nil}}
	tricky := []string{
		`{"a":"}],{["}`,               // brackets and commas in a string
		`{"b":"say \"hi\" ]"}`,        // escaped quotes
		`{"c":"ends in \\"}`,          // an escaped backslash before the closing quote
		`{"d":"\\\"}]","e":"\\\\"}`,   // \\ then \" then brackets
		`{"f":"\u0022]\/\b\f\n\r\t"}`, // every escape
		`{"g":[{"h":[[]]},{}],"i":-1.5e+3,"j":[true,false,null],"k":0}`,
	}
	deep := strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000)
	deepArray := strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000)
	atLimit := strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat(`}`, MaxDepth)
	overLimit := `{"a":` + atLimit + `}`
	tests := []struct {
		name    string
		in      string
		want    []rec
		wantErr any // nil, a sentinel error, or a stop
	}{
		{name: "plain", in: file, want: two},
		{name: "gzip", in: gz(file), want: two},
		{name: "two gzip members", in: gz(file[:100]) + gz(file[100:]), want: two},
		{name: "white space everywhere", in: " \n{ \"Records\" :\r\n[ {\"a\":1} ,\t{ } \n] } \n", want: []rec{{0, `{"a":1}`, nil}, {1, `{ }`, nil}}},
		{name: "other keys around Records", in: `{"x":[1,{"y":2}],"Records":[{"eventID":"a"}],"z":null}`, want: []rec{{0, `{"eventID":"a"}`, nil}}},
		{name: "Records not the first key, brackets in what comes first", in: `{"digest":"]}\"[{","n":{"a":[1,{"b":"]"}]},"Records":[{"eventID":"a"}]}`, want: []rec{{0, `{"eventID":"a"}`, nil}}},
		{name: "Records spelt with escapes", in: `{"Rec\u006fr\u0064s":[{}]}`, want: []rec{{0, `{}`, nil}}},
		{name: "two Records arrays", in: `{"Records":[{"a":1}],"Records":[{"b":2}]}`, want: []rec{{0, `{"a":1}`, nil}, {1, `{"b":2}`, nil}}},
		{name: "empty Records", in: `{"Records":[]}`, want: nil},
		{name: "empty Records with space", in: `{"Records":[ ]}`, want: nil},
		{name: "strings with brackets and escapes", in: trail(tricky...), want: []rec{{0, tricky[0], nil}, {1, tricky[1], nil}, {2, tricky[2], nil}, {3, tricky[3], nil}, {4, tricky[4], nil}, {5, tricky[5], nil}}},
		{name: "duplicate names and invalid UTF-8 passed on", in: trail("{\"a\":1,\"a\":2,\"s\":\"\xff\xfe\xc3\"}"), want: []rec{{0, "{\"a\":1,\"a\":2,\"s\":\"\xff\xfe\xc3\"}", nil}}},

		// One bad element is reported alone.
		{name: "elements not objects", in: trail(`1`, `"s"`, `null`, `[{}]`, `{"a":1}`, `"]},"`), want: []rec{{0, `1`, ErrNotObject}, {1, `"s"`, ErrNotObject}, {2, `null`, ErrNotObject}, {3, `[{}]`, ErrNotObject}, {4, `{"a":1}`, nil}, {5, `"]},"`, ErrNotObject}}},
		{name: "invalid JSON in balanced brackets", in: trail(`{"a":1}`, `{"b":tru}`, `{"c":[1,2}]`, `{"d":"x`+"\t"+`y"}`, `{"e":"\x"}`, `{"f" 1}`, `{"g":01}`, `{"h":4}`), want: []rec{{0, `{"a":1}`, nil}, {1, `{"b":tru}`, ErrInvalidJSON}, {2, `{"c":[1,2}]`, ErrInvalidJSON}, {3, `{"d":"x` + "\t" + `y"}`, ErrInvalidJSON}, {4, `{"e":"\x"}`, ErrInvalidJSON}, {5, `{"f" 1}`, ErrInvalidJSON}, {6, `{"g":01}`, ErrInvalidJSON}, {7, `{"h":4}`, nil}}},
		{name: "something after an object", in: `{"Records":[{"a":1} x ,{"b":2}]}`, want: []rec{{0, `{"a":1} x`, ErrInvalidJSON}, {1, `{"b":2}`, nil}}},
		{name: "missing comma", in: `{"Records":[{"a":1}{"b":2},{"c":3}]}`, want: []rec{{0, `{"a":1}{"b":2}`, ErrInvalidJSON}, {1, `{"c":3}`, nil}}},
		{name: "missing elements", in: `{"Records":[,{"a":1},,{"b":2},]}`, want: []rec{{0, ``, ErrInvalidJSON}, {1, `{"a":1}`, nil}, {2, ``, ErrInvalidJSON}, {3, `{"b":2}`, nil}, {4, ``, ErrInvalidJSON}}},
		{name: "nested 10,000 deep", in: trail(`{"a":1}`, deep, `{"b":2}`, deepArray, `{"c":3}`), want: []rec{{0, `{"a":1}`, nil}, {1, deep, ErrTooDeep}, {2, `{"b":2}`, nil}, {3, deepArray, ErrNotObject}, {4, `{"c":3}`, nil}}},
		{name: "nested MaxDepth deep, and one more", in: trail(atLimit, overLimit), want: []rec{{0, atLimit, nil}, {1, overLimit, ErrTooDeep}}},

		// Reading stops where the boundaries are lost, after delivering what came before.
		{name: "truncated in a record", in: `{"Records":[{"eventID":"a"},{"event`, want: []rec{{0, `{"eventID":"a"}`, nil}}, wantErr: stop{35, 1, `{"event`, io.ErrUnexpectedEOF}},
		{name: "truncated in a string with an escape", in: `{"Records":[{"eventID":"a\`, wantErr: stop{26, 0, `{"eventID":"a\`, io.ErrUnexpectedEOF}},
		{name: "truncated in a bad element", in: `{"Records":[{"a":1},[1,2`, want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{24, 1, `[1,2`, io.ErrUnexpectedEOF}},
		{name: "truncated after a record", in: `{"Records":[{"a":1}`, want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{19, 1, ``, io.ErrUnexpectedEOF}},
		{name: "truncated after a comma", in: `{"Records":[{"a":1}, `, want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{21, 1, ``, io.ErrUnexpectedEOF}},
		{name: "truncated after the array", in: `{"Records":[{"a":1}]`, want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{20, 1, ``, io.ErrUnexpectedEOF}},
		{name: "truncated before Records", in: `{"eventVersion":"1.0`, wantErr: stop{20, 0, ``, io.ErrUnexpectedEOF}},
		{name: "stray closing brace", in: `{"Records":[{"a":1}},{"b":2}]}`, want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{19, 1, ``, ErrInvalidJSON}},
		{name: "stray closing brace after a bad element", in: `{"Records":[{"a":1},2}]}`, want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{21, 1, `2`, ErrInvalidJSON}},
		{name: "garbage after the array", in: `{"Records":[{"a":1}] x}`, want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{21, 1, ``, ErrInvalidJSON}},
		{name: "data after the file", in: `{"Records":[{"a":1}]} {}`, want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{22, 1, ``, ErrInvalidJSON}},
		{name: "white space after the file", in: "{\"Records\":[{\"a\":1}]}\n\n", want: []rec{{0, `{"a":1}`, nil}}},
		{name: "corrupt gzip", in: gz(file)[:40], wantErr: stop{0, 0, ``, io.ErrUnexpectedEOF}},
		{name: "gzip header cut", in: gz(file)[:5], wantErr: stop{0, 0, ``, io.ErrUnexpectedEOF}},
		{name: "gzip checksum wrong", in: gz(file)[:len(gz(file))-8] + "\x00\x00\x00\x00" + gz(file)[len(gz(file))-4:], want: two, wantErr: stop{int64(len(file)), 2, ``, gzip.ErrChecksum}},
		{name: "garbage after gzip", in: gz(file) + "garbage after the gzip stream", want: two, wantErr: stop{int64(len(file)), 2, ``, gzip.ErrHeader}},

		// Not CloudTrail at all: nothing delivered.
		{name: "no Records", in: `{"foo":1}`, wantErr: ErrNotCloudTrail},
		{name: "empty object", in: `{}`, wantErr: ErrNotCloudTrail},
		{name: "Records not an array", in: `{"Records":{"a":1}}`, wantErr: ErrNotCloudTrail},
		{name: "Records null", in: `{"Records":null}`, wantErr: ErrNotCloudTrail},
		{name: "array at top", in: `[{"eventID":"a"}]`, wantErr: ErrNotCloudTrail},
		{name: "not JSON", in: "hello world", wantErr: ErrNotCloudTrail},
		{name: "not JSON inside braces", in: "{hello world}", wantErr: ErrNotCloudTrail},
		{name: "empty", in: "", wantErr: ErrNotCloudTrail},
		{name: "only space", in: " \n", wantErr: ErrNotCloudTrail},
		{name: "gzipped not JSON", in: gz("hello world"), wantErr: ErrNotCloudTrail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(strings.NewReader(tt.in))
			plain := tt.in
			if strings.HasPrefix(plain, "\x1f\x8b") {
				plain = ""
			}
			check(t, plain, got, err, tt.want, tt.wantErr)
			// The same through a reader that hands out one byte at a time.
			got, err = collect(iotest.OneByteReader(strings.NewReader(tt.in)))
			check(t, plain, got, err, tt.want, tt.wantErr)
		})
	}
}

// TestRecordsOneBadOfMany is the fault probe's file: 1,000 records, the one at position 700
// not an object.
func TestRecordsOneBadOfMany(t *testing.T) {
	elems := make([]string, 1000)
	for i := range elems {
		elems[i] = fmt.Sprintf(`{"eventID":"e-%d","requestParameters":{"list":[%d,"]"]}}`, i, i)
	}
	elems[700] = `["not","an","object"]`
	file := trail(elems...)
	for _, in := range []string{file, gz(file)} {
		got, err := collect(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1000 {
			t.Fatalf("%d records, want 1000", len(got))
		}
		good := 0
		for i, r := range got {
			if r.Index != i {
				t.Fatalf("record %d has index %d", i, r.Index)
			}
			if r.Err == nil {
				good++
				if string(r.Data) != elems[i] {
					t.Fatalf("record %d: %q", i, r.Data)
				}
			}
		}
		if good != 999 {
			t.Fatalf("%d readable records, want 999", good)
		}
		bad := got[700]
		if !errors.Is(bad.Err, ErrNotObject) || string(bad.Data) != `["not","an","object"]` || bad.Offset != int64(strings.Index(file, `["not"`)) {
			t.Fatalf("record 700: %+v", bad)
		}
	}
}

// TestRecordsTooLong lowers the limits so that elements a few hundred bytes (and some larger
// than the scanner's buffer) count as too long.
func TestRecordsTooLong(t *testing.T) {
	defer func(r, b int) { maxRecordBytes, maxBadBytes = r, b }(maxRecordBytes, maxBadBytes)
	maxRecordBytes, maxBadBytes = 100, 10
	long := `{"a":"` + strings.Repeat("x", 200) + `"}`
	huge := `{"a":"` + strings.Repeat(`\"x]`, 100<<10) + `"}` // 400 KB, many buffers
	hugeBad := `[` + strings.Repeat(`"]",`, 100<<10) + `1]`
	atLimit := `{"a":"` + strings.Repeat("x", 92) + `"}`
	tests := []struct {
		name    string
		in      string
		want    []rec
		wantErr any
	}{
		{name: "too long", in: trail(`{"a":1}`, long, `{"b":2}`), want: []rec{{0, `{"a":1}`, nil}, {1, long[:10], ErrTooLong}, {2, `{"b":2}`, nil}}},
		{name: "at the limit", in: trail(atLimit), want: []rec{{0, atLimit, nil}}},
		{name: "one over", in: trail(`{"a":"y` + atLimit[6:]), want: []rec{{0, `{"a":"yxxx`, ErrTooLong}}},
		{name: "longer than the buffer", in: trail(huge, `{"b":2}`, hugeBad, `{"c":3}`), want: []rec{{0, huge[:10], ErrTooLong}, {1, `{"b":2}`, nil}, {2, hugeBad[:10], ErrNotObject}, {3, `{"c":3}`, nil}}},
		{name: "truncated, tail bounded", in: `{"Records":[{"a":1},` + long, want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{int64(20 + len(long)), 1, long[:10], io.ErrUnexpectedEOF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(strings.NewReader(tt.in))
			check(t, tt.in, got, err, tt.want, tt.wantErr)
			got, err = collect(strings.NewReader(gz(tt.in)))
			check(t, "", got, err, tt.want, tt.wantErr)
		})
	}
}

// TestRecordsLargeRecord reads records longer than the scanner's buffer, within the limit.
func TestRecordsLargeRecord(t *testing.T) {
	big := `{"a":"` + strings.Repeat(`x\\y\"z`, 200<<10) + `"}` // 1.4 MB
	in := trail(`{"a":1}`, big, `{"b":2}`, big)
	want := []rec{{0, `{"a":1}`, nil}, {1, big, nil}, {2, `{"b":2}`, nil}, {3, big, nil}}
	got, err := collect(strings.NewReader(in))
	check(t, in, got, err, want, nil)
	got, err = collect(iotest.HalfReader(strings.NewReader(gz(in))))
	check(t, "", got, err, want, nil)
}

// TestRecordsTruncatedGzip cuts a real gzipped CloudTrail file at several points: every
// record that is whole in what gunzips before the cut is delivered, and the StopError says
// where the JSON stopped and in which record.
func TestRecordsTruncatedGzip(t *testing.T) {
	file, err := os.ReadFile("testdata/111122223333_CloudTrail_eu-west-1_20261120T1000Z_corpus.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	whole, err := collect(bytes.NewReader(file))
	if err != nil || len(whole) != 72 {
		t.Fatalf("the whole file: %d records, %v", len(whole), err)
	}
	tests := []struct {
		cut     int   // bytes of the gzipped file kept
		records int   // delivered
		offset  int64 // where the JSON stopped
	}{
		{cut: 5, records: 0, offset: 0},  // in the gzip header
		{cut: 20, records: 0, offset: 0}, // in the first deflate block, which gunzips to nothing yet
		{cut: 1000, records: 1, offset: 2335},
		{cut: 3000, records: 11, offset: 17826},
		{cut: 7000, records: 31, offset: 48102},
		{cut: 10000, records: 46, offset: 65982},
		{cut: 13000, records: 64, offset: 90436},
		{cut: 14000, records: 69, offset: 99926},
		{cut: len(file) - 8, records: 72, offset: 102898}, // the JSON whole, the gzip trailer missing
		{cut: len(file) - 1, records: 72, offset: 102898},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.cut), func(t *testing.T) {
			in := file[:tt.cut]
			got, err := collect(bytes.NewReader(in))
			var se *StopError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a StopError", err)
			}
			if len(got) != tt.records || se.Offset != tt.offset || se.Index != tt.records {
				t.Fatalf("%d records, StopError %v; want %d records, Offset %d, Index %d", len(got), se, tt.records, tt.offset, tt.records)
			}
			for i, r := range got {
				if r.Err != nil || r.Index != i || r.Offset != whole[i].Offset || !bytes.Equal(r.Data, whole[i].Data) {
					t.Fatalf("record %d differs from the whole file's: %v", i, r.Err)
				}
			}
			// What gunzip gives before the cut is the oracle: the records that end in it,
			// and the bytes of the one it cuts.
			prefix, _ := io.ReadAll(gunzip(in))
			if int64(len(prefix)) != se.Offset {
				t.Errorf("stopped at %d, but gunzip gives %d bytes", se.Offset, len(prefix))
			}
			n := 0
			for _, r := range whole {
				if r.Offset+int64(len(r.Data)) <= int64(len(prefix)) {
					n++
				}
			}
			if n != len(got) {
				t.Errorf("%d records delivered, %d are whole in what gunzips", len(got), n)
			}
			if n < len(whole) && !bytes.HasPrefix(whole[n].Data, se.Tail) || len(se.Tail) > 0 && int64(len(prefix)) < whole[n].Offset {
				t.Errorf("Tail %.40q... is not the start of record %d", se.Tail, n)
			}
		})
	}
	// Every cut point: never a record lost that gunzip gave whole.
	for cut := 2; cut < len(file); cut += 97 {
		got, err := collect(bytes.NewReader(file[:cut]))
		var se *StopError
		if !errors.As(err, &se) || se.Index != len(got) {
			t.Fatalf("cut %d: %v after %d records", cut, err, len(got))
		}
		prefix, _ := io.ReadAll(gunzip(file[:cut]))
		n := 0
		for _, r := range whole {
			if r.Offset+int64(len(r.Data)) <= int64(len(prefix)) {
				n++
			}
		}
		if len(got) != n || se.Offset != int64(len(prefix)) {
			t.Fatalf("cut %d: %d records, stopped at %d; gunzip gives %d bytes holding %d", cut, len(got), se.Offset, len(prefix), n)
		}
	}
}

// gunzip reads what it can of a gzip stream.
func gunzip(b []byte) io.Reader {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return strings.NewReader("")
	}
	return zr
}

// TestRecordsReadError: an error of r itself is a StopError, after the records before it.
func TestRecordsReadError(t *testing.T) {
	broken := errors.New("connection reset")
	file := trail(`{"a":1}`, `{"b":2}`, `{"c":3}`)
	cut := strings.Index(file, `{"c"`) + 2
	for _, in := range []io.Reader{
		io.MultiReader(strings.NewReader(file[:cut]), iotest.ErrReader(broken)),
		iotest.DataErrReader(io.MultiReader(strings.NewReader(file[:cut]), iotest.ErrReader(broken))),
	} {
		got, err := collect(in)
		check(t, file, got, err, []rec{{0, `{"a":1}`, nil}, {1, `{"b":2}`, nil}}, stop{int64(cut), 2, `{"`, broken})
	}
	_, err := collect(iotest.ErrReader(broken))
	check(t, "", nil, err, nil, stop{0, 0, ``, broken})
}

func TestRecordsStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Records(strings.NewReader(`{"Records":[{},{},{}]}`), func(Record) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("err = %v after %d records", err, n)
	}
}

func TestLines(t *testing.T) {
	defer func(r, b int) { maxRecordBytes, maxBadBytes = r, b }(maxRecordBytes, maxBadBytes)
	maxRecordBytes, maxBadBytes = 100<<10, 10
	long := `{"a":"` + strings.Repeat("x", 200<<10) + `"}`
	broken := errors.New("connection reset")
	tests := []struct {
		name    string
		in      io.Reader
		want    []rec
		wantErr any
	}{
		{name: "lines", in: strings.NewReader("{\"a\":1}\n\n  {\"b\":2}  \r\n{}"), want: []rec{{0, `{"a":1}`, nil}, {2, `{"b":2}`, nil}, {3, `{}`, nil}}},
		{name: "bad lines", in: strings.NewReader("{\"a\":1}\nnot json\n[1]\n{\"b\":\n{\"c\":1} {}\n{\"d\":2}\n"), want: []rec{{0, `{"a":1}`, nil}, {1, `not json`, ErrNotObject}, {2, `[1]`, ErrNotObject}, {3, `{"b":`, ErrInvalidJSON}, {4, `{"c":1} {}`, ErrInvalidJSON}, {5, `{"d":2}`, nil}}},
		{name: "a line over the limit", in: strings.NewReader("{\"a\":1}\n" + long + "\n{\"b\":2}\n"), want: []rec{{0, `{"a":1}`, nil}, {1, long[:10], ErrTooLong}, {2, `{"b":2}`, nil}}},
		{name: "a line over the buffer", in: strings.NewReader(long[:90<<10] + `"}` + "\n{}"), want: []rec{{0, long[:90<<10] + `"}`, nil}, {1, `{}`, nil}}},
		{name: "read error", in: io.MultiReader(strings.NewReader("{\"a\":1}\n{\"b\""), iotest.ErrReader(broken)), want: []rec{{0, `{"a":1}`, nil}}, wantErr: stop{12, 1, `{"b"`, broken}},
		{name: "empty", in: strings.NewReader(""), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Record
			err := Lines(tt.in, func(r Record) error { got = append(got, r); return nil })
			check(t, "", got, err, tt.want, tt.wantErr)
		})
	}
}

func FuzzRecords(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventID":"a"}]}`))
	f.Add([]byte(gz(`{"Records":[{"eventID":"a"},{}]}`)))
	f.Add([]byte(`{"x":[1,{"y":"]"}],"Records":[{"a":"\\\"}"},1,{"b":[}],{"c":{}}]}`))
	f.Add([]byte(`{"Records":[{"a":1},,{"b":tru},{"c":"\u00zz"}}`))
	f.Add([]byte(`{"Records":[{"a":[[[[[[]]]]]]},{"b":-0.5e-7}] }`))
	f.Add([]byte(gz(`{"Records":[{"eventID":"a"},{"eventID":"b"}]}`)[:30]))
	f.Fuzz(func(t *testing.T, in []byte) {
		var got []Record
		err := Records(bytes.NewReader(in), func(r Record) error {
			if n := len(got); n > 0 && (r.Index != got[n-1].Index+1 || r.Offset <= got[n-1].Offset) {
				t.Fatalf("record index %d offset %d after index %d offset %d", r.Index, r.Offset, got[n-1].Index, got[n-1].Offset)
			}
			if r.Err == nil && (len(r.Data) == 0 || r.Data[0] != '{' || !json.Valid(r.Data)) {
				t.Fatalf("readable record is not a JSON object: %q", r.Data)
			}
			if r.Err != nil && len(r.Data) > maxBadBytes {
				t.Fatalf("unreadable record of %d bytes", len(r.Data))
			}
			got = append(got, r)
			return nil
		})
		plain := len(in) < 2 || in[0] != 0x1f || in[1] != 0x8b
		for _, r := range got {
			if plain && !bytes.HasPrefix(in[r.Offset:], r.Data) {
				t.Fatalf("record %d: Offset %d does not point at its Data", r.Index, r.Offset)
			}
		}
		var se *StopError
		switch {
		case errors.As(err, &se):
			if se.Index != len(got) || len(se.Tail) > maxBadBytes {
				t.Fatalf("StopError %v (Tail %d bytes) after %d records", se, len(se.Tail), len(got))
			}
			if plain && (se.Offset > int64(len(in)) || len(se.Tail) < maxBadBytes && !bytes.HasSuffix(in[:se.Offset], se.Tail)) {
				t.Fatalf("StopError at %d with Tail %q does not match the input", se.Offset, se.Tail)
			}
		case errors.Is(err, ErrNotCloudTrail):
			if len(got) > 0 {
				t.Fatalf("%v after %d records", err, len(got))
			}
		case err != nil:
			t.Fatalf("error %v is neither a StopError nor ErrNotCloudTrail", err)
		}
		// What the old reader delivered, the new one does, bar the last (which the old one
		// took before seeing what followed it) and records deeper than MaxDepth.
		var old [][]byte
		oldErr := oldRecords(bytes.NewReader(in), func(r []byte) { old = append(old, r) })
		n := len(old)
		if oldErr != nil && n > 0 {
			n--
		}
		if len(got) < n {
			t.Fatalf("%d records, the old reader gave %d (%v, then %v)", len(got), len(old), err, oldErr)
		}
		for i := range n {
			if !bytes.Equal(got[i].Data, old[i]) || got[i].Err != nil && !errors.Is(got[i].Err, ErrTooDeep) {
				t.Fatalf("record %d: %q, %v; the old reader gave %q", i, got[i].Data, got[i].Err, old[i])
			}
		}
		// Where the old reader read the file whole, so does the new one; but it reads on
		// to the end of the input, so a gzip stream cut after the JSON, a bad checksum or
		// data after the object are a StopError after the last record.
		if oldErr == nil && (len(got) != len(old) || err != nil && (se == nil || se.Index != len(old))) {
			t.Fatalf("%d records, %v; the old reader read the file whole: %d records", len(got), err, len(old))
		}
	})
}

func BenchmarkRecords(b *testing.B) {
	rec, _ := os.ReadFile("testdata/console_login_failure.json")
	var buf bytes.Buffer
	buf.WriteString(`{"Records":[`)
	const n = 1000
	for i := 0; i < n; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(rec)
	}
	buf.WriteString(`]}`)
	file := []byte(gz(buf.String()))
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Records(bytes.NewReader(file), func(Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
