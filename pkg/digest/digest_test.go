package digest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseFixtures reads digests written by hand after the AWS documentation's examples:
// an hour with three files, an hour without any (null event times) and a trail's first
// digest (null previous fields), the first also as stored (gzip).
func TestParseFixtures(t *testing.T) {
	hour := Digest{
		AccountID:            "210987654321",
		Start:                at("2026-11-21T09:05:12Z"),
		End:                  at("2026-11-21T10:05:12Z"),
		Bucket:               "acme-cloudtrail-logs",
		Key:                  "AWSLogs/210987654321/CloudTrail-Digest/eu-west-1/2026/11/21/210987654321_CloudTrail-Digest_eu-west-1_management-events_us-east-1_20261121T100512Z.json.gz",
		Oldest:               at("2026-11-21T09:12:03Z"),
		Newest:               at("2026-11-21T09:58:30Z"),
		PublicKeyFingerprint: "0fb67959764513312b1125597ddef16f",
		SignatureAlgorithm:   "SHA256withRSA",
		Previous: Previous{
			Bucket:        "acme-cloudtrail-logs",
			Key:           "AWSLogs/210987654321/CloudTrail-Digest/eu-west-1/2026/11/21/210987654321_CloudTrail-Digest_eu-west-1_management-events_us-east-1_20261121T090512Z.json.gz",
			Hash:          "6d806582d3285b65c638f5005dd88dfcaf0c4873c21ed95e207f5fee8037b44a",
			HashAlgorithm: "SHA-256",
		},
		Files: []LogFile{
			{
				Bucket:        "acme-cloudtrail-logs",
				Key:           "AWSLogs/210987654321/CloudTrail/eu-west-1/2026/11/21/210987654321_CloudTrail_eu-west-1_20261121T0915Z_Hq3ZfL0pWn7Ck2Xa.json.gz",
				Hash:          "f7fb440edd803ed1af01b479dd922cd1b41fa52775614748cb9de551d537f50a",
				HashAlgorithm: "SHA-256",
				Oldest:        at("2026-11-21T09:12:03Z"),
				Newest:        at("2026-11-21T09:14:47Z"),
			},
			{
				Bucket:        "acme-cloudtrail-logs",
				Key:           "AWSLogs/210987654321/CloudTrail/eu-west-1/2026/11/21/210987654321_CloudTrail_eu-west-1_20261121T0940Z_b7RkT2mQx9LcV4Ne.json.gz",
				Hash:          "377fe28a9b0bba241ce8cc63d2306e10c410fd55d0818b782472ae9f3c7ca81c",
				HashAlgorithm: "SHA-256",
				Oldest:        at("2026-11-21T09:31:20Z"),
				Newest:        at("2026-11-21T09:36:55Z"),
			},
			{
				Bucket:        "acme-cloudtrail-logs",
				Key:           "AWSLogs/210987654321/CloudTrail/eu-west-1/2026/11/21/210987654321_CloudTrail_eu-west-1_20261121T1001Z_Zp8Wd3Yh6Ks1Jf0U.json.gz",
				Hash:          "da7d44cd08609c1466aaaf585ef1178ac4315b5c03c560fbc685ff1e31db1a52",
				HashAlgorithm: "SHA-256",
				Oldest:        at("2026-11-21T09:55:02Z"),
				Newest:        at("2026-11-21T09:58:30Z"),
			},
		},
	}
	tests := []struct {
		file string
		want Digest
		// signature is the start of previousDigestSignature, which is too long to spell.
		signature string
	}{
		{"digest.json", hour, "31fe58d2e8f616467f8e5cd16caecdfaeec4fe6d"},
		{"digest.json.gz", hour, "31fe58d2e8f616467f8e5cd16caecdfaeec4fe6d"},
		{"empty.json", Digest{
			AccountID: "210987654321",
			Start:     at("2026-11-21T03:05:12Z"),
			End:       at("2026-11-21T04:05:12Z"),
			Bucket:    "acme-cloudtrail-logs",
			Key:       "AWSLogs/210987654321/CloudTrail-Digest/ap-southeast-2/2026/11/21/210987654321_CloudTrail-Digest_ap-southeast-2_management-events_us-east-1_20261121T040512Z.json.gz",
			Previous: Previous{
				Bucket:        "acme-cloudtrail-logs",
				Key:           "AWSLogs/210987654321/CloudTrail-Digest/ap-southeast-2/2026/11/21/210987654321_CloudTrail-Digest_ap-southeast-2_management-events_us-east-1_20261121T030512Z.json.gz",
				HashAlgorithm: "SHA-256",
			},
			SignatureAlgorithm: "SHA256withRSA",
			Files:              []LogFile{},
		}, ""},
		{"starting.json", Digest{
			AccountID:          "123456789012",
			Start:              at("2026-11-20T22:47:09Z"),
			End:                at("2026-11-20T23:47:09Z"),
			Bucket:             "org-trail-archive",
			Key:                "audit/AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail-Digest/us-east-1/2026/11/20/123456789012_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20261120T234709Z.json.gz",
			Oldest:             at("2026-11-20T23:36:44Z"),
			Newest:             at("2026-11-20T23:41:17Z"),
			SignatureAlgorithm: "SHA256withRSA",
			Files: []LogFile{{
				Bucket:        "org-trail-archive",
				Key:           "audit/AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/us-east-1/2026/11/20/123456789012_CloudTrail_us-east-1_20261120T2345Z_Ab12Cd34Ef56Gh78.json.gz",
				Hash:          "69d798f18fe177345530522eb213f31b4d4b862a350505f4753430458e2bae1e",
				HashAlgorithm: "SHA-256",
				Oldest:        at("2026-11-20T23:36:44Z"),
				Newest:        at("2026-11-20T23:41:17Z"),
			}},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(bytes.NewReader(readFixture(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got.Previous.Signature, tt.signature) || tt.signature != "" && len(got.Previous.Signature) != 512 {
				t.Errorf("previousDigestSignature %.40s… (%d hex digits), want %s… (512)", got.Previous.Signature, len(got.Previous.Signature), tt.signature)
			}
			// The fingerprints and signatures not spelled out above are compared by length.
			want := tt.want
			if want.PublicKeyFingerprint == "" && len(got.PublicKeyFingerprint) == 32 {
				want.PublicKeyFingerprint = got.PublicKeyFingerprint
			}
			if want.Previous.Hash == "" && want.Previous.Key != "" && len(got.Previous.Hash) == 64 {
				want.Previous.Hash = got.Previous.Hash
			}
			want.Previous.Signature = got.Previous.Signature
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("Parse(%s):\n got %+v\nwant %+v", tt.file, *got, want)
			}
		})
	}
}

// TestParseRejects checks that what is not a digest is an error, and that the error names
// what is wrong.
func TestParseRejects(t *testing.T) {
	valid := string(readFixture(t, "starting.json"))
	edit := func(old, new string) string {
		if !strings.Contains(valid, old) {
			panic("fixture lacks " + old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	tests := []struct {
		name, in, want string
	}{
		{"empty input", "", "not a digest file's JSON object"},
		{"not JSON", "hello", "not a digest file's JSON object"},
		{"an array", "[]", "not a digest file's JSON object"},
		{"a log file", `{"Records":[]}`, "required field awsAccountId is missing"},
		{"two objects", valid + valid, "data after the JSON object"},
		{"no account", edit(`"awsAccountId":"123456789012",`, ""), "required field awsAccountId is missing"},
		{"null account", edit(`"awsAccountId":"123456789012"`, `"awsAccountId":null`), "required field awsAccountId is missing"},
		{"no start", edit(`"digestStartTime":"2026-11-20T22:47:09Z",`, ""), "required field digestStartTime is missing"},
		{"null end", edit(`"digestEndTime":"2026-11-20T23:47:09Z"`, `"digestEndTime":null`), "required field digestEndTime is missing"},
		{"no bucket", edit(`"digestS3Bucket":"org-trail-archive",`, ""), "required field digestS3Bucket is missing"},
		{"no key", edit(`"digestS3Object":`, `"other":`), "required field digestS3Object is missing"},
		{"no logFiles", edit(`"logFiles":`, `"files":`), "required field logFiles is missing"},
		{"null logFiles", valid[:strings.Index(valid, `"logFiles":`)] + `"logFiles":null}`, "required field logFiles is missing"},
		{"time not RFC 3339", edit(`"2026-11-20T22:47:09Z"`, `"2026-11-20 22:47:09"`), `digestStartTime "2026-11-20 22:47:09" is not an RFC 3339 time`},
		{"account a number", edit(`"awsAccountId":"123456789012"`, `"awsAccountId":123456789012`), "not a digest file's JSON object"},
		{"log file without hash", edit(`"hashValue":"69d798f18fe177345530522eb213f31b4d4b862a350505f4753430458e2bae1e",`, ""),
			"logFiles[0]: required field hashValue is missing"},
		{"log file without key", edit(`"s3Object":`, `"key":`), "logFiles[0]: required field s3Object is missing"},
		{"log file without bucket", edit(`"s3Bucket":"org-trail-archive",`, ""), "logFiles[0]: required field s3Bucket is missing"},
		{"log file without hash algorithm", edit(`"hashAlgorithm":"SHA-256",`, ""), "logFiles[0]: required field hashAlgorithm is missing"},
		{"log file time", edit(`"newestEventTime":"2026-11-20T23:41:17Z","oldestEventTime":"2026-11-20T23:36:44Z"}`, `"newestEventTime":"yesterday","oldestEventTime":"2026-11-20T23:36:44Z"}`),
			`newestEventTime "yesterday" is not an RFC 3339 time`},
		{"truncated gzip", string(readFixture(t, "digest.json.gz")[:200]), "unexpected EOF"},
		{"gzip magic, then garbage", "\x1f\x8bnot gzip at all", "digest: gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", d)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestParseSizeLimit checks that Parse stops at its limit, compressed or not, and says
// why, while a digest at the limit is read. The limit is made 8 KiB for the test.
func TestParseSizeLimit(t *testing.T) {
	if maxSize != 64<<20 {
		t.Fatalf("the limit is %d bytes, want 64 MiB", maxSize)
	}
	if got := sizeText(MaxSize); got != "64 MiB" {
		t.Errorf("the limit reads %q in errors, want 64 MiB", got)
	}
	const limit = 8 << 10
	maxSize = limit
	t.Cleanup(func() { maxSize = MaxSize })
	valid := readFixture(t, "starting.json")
	// pad fills a digest to n bytes with spaces before its closing brace: still valid JSON.
	pad := func(n int) []byte {
		b := make([]byte, 0, n)
		b = append(b, valid[:len(valid)-2]...) // without "}\n"
		b = append(b, bytes.Repeat([]byte{' '}, n-len(valid)+1)...)
		return append(b, '}')
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name   string
		in     io.Reader
		tooBig bool
	}{
		{"plain, at the limit", bytes.NewReader(pad(limit)), false},
		{"plain, a byte over", bytes.NewReader(pad(limit + 1)), true},
		{"gzip, decompressing past the limit", bytes.NewReader(gz(pad(limit + 1))), true},
		{"gzip, at the limit", bytes.NewReader(gz(pad(limit))), false},
		// Compressed bytes past the limit, decompressing to a valid digest: it is followed
		// by empty gzip members without end.
		{"gzip, compressed past the limit", io.MultiReader(bytes.NewReader(gz(valid)), &cycle{b: gz(nil)}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.in)
			if tt.tooBig {
				if err == nil || !strings.Contains(err.Error(), "larger than 8192 bytes") {
					t.Fatalf("Parse: %v, want an error saying it is larger than 8192 bytes", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.AccountID != "123456789012" || len(d.Files) != 1 {
				t.Errorf("read %+v", d)
			}
		})
	}
}

// cycle repeats b without end.
type cycle struct {
	b []byte
	i int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], c.b[c.i:])
		n += m
		c.i = (c.i + m) % len(c.b)
	}
	return n, nil
}

// TestWriteAWSFieldNames writes the fixtures back and compares the JSON with the
// hand-written files: the same names, values and nulls, in AWS's order.
func TestWriteAWSFieldNames(t *testing.T) {
	for _, file := range []string{"digest.json", "empty.json", "starting.json"} {
		t.Run(file, func(t *testing.T) {
			fixture := readFixture(t, file)
			d, err := Parse(bytes.NewReader(fixture))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Write(&buf, *d); err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(&buf)
			if err != nil {
				t.Fatalf("Write did not write gzip: %v", err)
			}
			written, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(fixture, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(written, &got); err != nil {
				t.Fatalf("Write wrote invalid JSON: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Write wrote\n%s\nwant the fields of %s", written, file)
			}
			if keys, wantKeys := topKeys(t, written), topKeys(t, fixture); !reflect.DeepEqual(keys, wantKeys) {
				t.Errorf("fields in order %v, want %v", keys, wantKeys)
			}
			m, err := Marshal(*d)
			if err != nil || !bytes.Equal(m, written) {
				t.Errorf("Marshal differs from what Write compresses (%v)", err)
			}
		})
	}
}

// topKeys returns the keys of a JSON object in the order written.
func topKeys(t testing.TB, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestWriteRejectsIncomplete(t *testing.T) {
	ok := Digest{AccountID: "111122223333", Start: at("2026-01-01T00:00:00Z"), End: at("2026-01-01T01:00:00Z"),
		Bucket: "b", Key: "k"}
	file := LogFile{Bucket: "b", Key: "f", Hash: "00", HashAlgorithm: HashSHA256}
	tests := []struct {
		name   string
		change func(d *Digest)
		ok     bool
	}{
		{"complete", func(d *Digest) {}, true},
		{"with a file", func(d *Digest) { d.Files = []LogFile{file} }, true},
		{"no account", func(d *Digest) { d.AccountID = "" }, false},
		{"no bucket", func(d *Digest) { d.Bucket = "" }, false},
		{"no key", func(d *Digest) { d.Key = "" }, false},
		{"no start", func(d *Digest) { d.Start = time.Time{} }, false},
		{"no end", func(d *Digest) { d.End = time.Time{} }, false},
		{"file without hash", func(d *Digest) { f := file; f.Hash = ""; d.Files = []LogFile{f} }, false},
		{"file without hash algorithm", func(d *Digest) { f := file; f.HashAlgorithm = ""; d.Files = []LogFile{f} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ok
			tt.change(&d)
			var buf bytes.Buffer
			err := Write(&buf, d)
			if (err == nil) != tt.ok {
				t.Fatalf("Write: %v, want success %v", err, tt.ok)
			}
			if err != nil {
				return
			}
			back, err := Parse(&buf)
			if err != nil {
				t.Fatalf("Parse of what Write wrote: %v", err)
			}
			if !reflect.DeepEqual(*back, func() Digest {
				if d.Files == nil {
					d.Files = []LogFile{}
				}
				return d
			}()) {
				t.Errorf("read back %+v, wrote %+v", *back, d)
			}
		})
	}
}

// TestHashLogFile checks the hash against sha256sum of the fixture log file's JSON, the
// hash its digest lists, whether the file is read compressed or not.
func TestHashLogFile(t *testing.T) {
	const want = "f7fb440edd803ed1af01b479dd922cd1b41fa52775614748cb9de551d537f50a" // sha256sum testdata/log_file.json
	for _, file := range []string{"log_file.json.gz", "log_file.json"} {
		t.Run(file, func(t *testing.T) {
			got, err := HashLogFile(bytes.NewReader(readFixture(t, file)))
			if err != nil || got != want {
				t.Errorf("HashLogFile = %s, %v; want %s", got, err, want)
			}
		})
	}
	d, err := Parse(bytes.NewReader(readFixture(t, "digest.json")))
	if err != nil {
		t.Fatal(err)
	}
	if d.Files[0].Hash != want {
		t.Errorf("the digest lists hash %s for the fixture's file, want %s", d.Files[0].Hash, want)
	}
	if _, err := HashLogFile(strings.NewReader("\x1f\x8b garbage")); err == nil {
		t.Error("HashLogFile accepted a broken gzip stream")
	}
	if _, err := HashLogFile(iotestErr{}); !errors.Is(err, errBroken) {
		t.Errorf("HashLogFile on a failing reader: %v, want it wrapped", err)
	}
}

var errBroken = errors.New("broken")

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errBroken }

func FuzzParse(f *testing.F) {
	for _, name := range []string{"digest.json", "digest.json.gz", "empty.json", "starting.json"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte(`{"awsAccountId":"1","digestStartTime":"2026-01-01T00:00:00Z","digestEndTime":"2026-01-01T01:00:00Z","digestS3Bucket":"b","digestS3Object":"k","logFiles":[]}`))
	f.Add([]byte("\x1f\x8b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(bytes.NewReader(data))
		if err != nil {
			if d != nil {
				t.Fatal("Parse returned a digest with an error")
			}
			return
		}
		// What Parse accepts has its required fields, and writes and reads back the same.
		if d.AccountID == "" || d.Bucket == "" || d.Key == "" || d.Start.IsZero() || d.End.IsZero() || d.Files == nil {
			t.Fatalf("Parse accepted a digest without a required field: %+v", d)
		}
		var buf bytes.Buffer
		if err := Write(&buf, *d); err != nil {
			t.Fatalf("Write of a parsed digest: %v", err)
		}
		back, err := Parse(&buf)
		if err != nil {
			t.Fatalf("Parse of Write's output: %v", err)
		}
		// Times keep whole seconds only.
		trunc := func(d *Digest) {
			for _, p := range []*time.Time{&d.Start, &d.End, &d.Oldest, &d.Newest} {
				*p = p.Truncate(time.Second)
			}
			for i := range d.Files {
				d.Files[i].Oldest = d.Files[i].Oldest.Truncate(time.Second)
				d.Files[i].Newest = d.Files[i].Newest.Truncate(time.Second)
			}
		}
		trunc(d)
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("round trip changed the digest:\n%+v\n%+v", d, back)
		}
	})
}
