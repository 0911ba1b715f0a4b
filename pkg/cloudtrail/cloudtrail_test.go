package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func TestRecords(t *testing.T) {
	sample, err := os.ReadFile("testdata/console_login_failure.json")
	sample = bytes.TrimSpace(sample)
	if err != nil {
		t.Fatal(err)
	}
	file := `{"Records":[` + string(sample) + `,{"eventID":"b"}]}`
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error
	}{
		{name: "plain", in: file, want: []string{string(sample), `{"eventID":"b"}`}},
		{name: "gzip", in: gz(file), want: []string{string(sample), `{"eventID":"b"}`}},
		{name: "other keys around Records", in: `{"x":[1,{"y":2}],"Records":[{"eventID":"a"}],"z":null}`, want: []string{`{"eventID":"a"}`}},
		{name: "empty Records", in: `{"Records":[]}`, want: nil},
		{name: "no Records", in: `{"foo":1}`, wantErr: ErrNotCloudTrail},
		{name: "array at top", in: `[{"eventID":"a"}]`, wantErr: ErrNotCloudTrail},
		{name: "record not an object", in: `{"Records":[1]}`, wantErr: errAny},
		{name: "truncated", in: `{"Records":[{"eventID":"a"},{"event`, want: []string{`{"eventID":"a"}`}, wantErr: errAny},
		{name: "corrupt gzip", in: gz(file)[:40], wantErr: errAny},
		{name: "not JSON", in: "hello world", wantErr: errAny},
		{name: "empty", in: "", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := Records(strings.NewReader(tt.in), func(r []byte) error { got = append(got, string(r)); return nil })
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("records\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestRecordsStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Records(strings.NewReader(`{"Records":[{},{},{}]}`), func([]byte) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err = %v after %d records", err, n)
	}
}

func TestLines(t *testing.T) {
	var got []string
	err := Lines(strings.NewReader("{\"a\":1}\n\n  {\"b\":2}  \n"), func(r []byte) error { got = append(got, string(r)); return nil })
	if err != nil || strings.Join(got, "|") != `{"a":1}|{"b":2}` {
		t.Fatalf("got %q, %v", got, err)
	}
}

func FuzzRecords(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventID":"a"}]}`))
	f.Add([]byte(gz(`{"Records":[{"eventID":"a"},{}]}`)))
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = Records(bytes.NewReader(in), func(r []byte) error {
			if !json.Valid(r) {
				t.Fatalf("record is not valid JSON: %q", r)
			}
			return nil
		})
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
		if err := Records(bytes.NewReader(file), func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
