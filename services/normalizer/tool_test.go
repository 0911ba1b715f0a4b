package normalizer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
)

// corpusDir holds the realistic CloudTrail records of the event model's golden tests.
const corpusDir = "../../pkg/normalize/testdata/corpus"

// records reads records of the corpus, each compacted to one line as CloudTrail writes it.
func records(t *testing.T, names ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join(corpusDir, n+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// trailFile is a CloudTrail log file holding recs.
func trailFile(recs [][]byte) []byte {
	return append(append([]byte(`{"Records":[`), bytes.Join(recs, []byte(","))...), "]}"...)
}

// jsonLines is recs one a line.
func jsonLines(recs [][]byte) []byte {
	return append(bytes.Join(recs, []byte("\n")), '\n')
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// toolConfig is the configuration of the tests: environment "tool-test" and alice as the
// one administrator, from a CSV file as users give it.
func toolConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.Environment = "tool-test"
	cfg.AdminUsers = write(t, t.TempDir(), "admin_users.csv", []byte("user_name\nalice\n"))
	return cfg
}

// expected normalizes recs as the tool should: with cfg's environment and administrators
// and the embedded country data.
func expected(t *testing.T, cfg config.Config, recs [][]byte) []*model.Event {
	t.Helper()
	loc, err := geo.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer loc.Close()
	list := new(admins.List)
	if err := list.LoadFile(cfg.AdminUsers); err != nil {
		t.Fatal(err)
	}
	n := &normalize.Normalizer{Environment: cfg.Environment, Geo: loc, Admins: list}
	var out []*model.Event
	for _, r := range recs {
		e, err := n.Normalize(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestTool(t *testing.T) {
	cfg := toolConfig(t)
	dir := t.TempDir()
	first := records(t, "login_console_success_mfa", "iam_create_user", "ec2_run_instances", "sumo_console_login_failure")
	second := records(t, "login_console_success_no_mfa", "s3_put_bucket_policy_public", "identity_aws_service_assume_role")
	trail := write(t, dir, "111122223333_CloudTrail_eu-west-1_20261120T1000Z_a1b2.json", trailFile(first))
	trailGz := write(t, dir, "111122223333_CloudTrail_eu-west-1_20261120T1005Z_c3d4.json.gz", gzipped(t, trailFile(first)))
	linesGz := write(t, dir, "more.jsonl.gz", gzipped(t, jsonLines(second)))
	tests := []struct {
		name  string
		files []string
		stdin []byte
		want  [][]byte
	}{
		{name: "CloudTrail file", files: []string{trail}, want: first},
		{name: "gzipped CloudTrail file", files: []string{trailGz}, want: first},
		{name: "JSON lines on stdin", stdin: jsonLines(second), want: second},
		{name: "CloudTrail file on stdin, named -", files: []string{"-"}, stdin: trailFile(first), want: first},
		{name: "gzipped JSON lines", files: []string{linesGz}, want: second},
		{name: "two files at once", files: []string{trailGz, linesGz}, want: append(slices.Clone(first), second...)},
	}
	for _, tt := range tests {
		want := expected(t, cfg, tt.want)
		t.Run(tt.name+", json", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := Tool(context.Background(), cfg, "json", tt.files, bytes.NewReader(tt.stdin), &stdout, &stderr); err != nil {
				t.Fatalf("Tool: %v; stderr: %s", err, stderr.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
			lines := strings.SplitAfter(stdout.String(), "\n")
			if last := lines[len(lines)-1]; last != "" {
				t.Fatalf("output does not end in a newline: %q", last)
			}
			lines = lines[:len(lines)-1]
			if len(lines) != len(want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), stdout.String())
			}
			fields := slices.Sorted(slices.Values(model.EventFields()))
			for i, line := range lines {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal([]byte(line), &obj); err != nil {
					t.Fatalf("line %d is not a JSON object: %v", i+1, err)
				}
				keys := slices.Sorted(func(yield func(string) bool) {
					for k := range obj {
						if !yield(k) {
							return
						}
					}
				})
				if !slices.Equal(keys, fields) {
					t.Errorf("line %d has keys %v, want the event fields %v", i+1, keys, fields)
				}
				if w := string(want[i].AppendJSON(nil)) + "\n"; line != w {
					t.Errorf("line %d:\n got %s\nwant %s", i+1, line, w)
				}
			}
		})
		t.Run(tt.name+", avro", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := Tool(context.Background(), cfg, "avro", tt.files, bytes.NewReader(tt.stdin), &stdout, &stderr); err != nil {
				t.Fatalf("Tool: %v; stderr: %s", err, stderr.String())
			}
			// The messages are back to back; each is as long as its encoding.
			out := stdout.Bytes()
			for i, e := range want {
				msg, err := model.EncodeEvent(nil, e)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) < len(msg) || !bytes.Equal(out[:len(msg)], msg) {
					t.Fatalf("message %d (%s) is not the event's encoding", i+1, e.EventID)
				}
				got, err := model.DecodeEvent(out[:len(msg)])
				if err != nil {
					t.Fatalf("message %d: %v", i+1, err)
				}
				if g, w := got.AppendJSON(nil), e.AppendJSON(nil); !bytes.Equal(g, w) {
					t.Errorf("message %d decodes to\n%s\nwant\n%s", i+1, g, w)
				}
				out = out[len(msg):]
			}
			if len(out) > 0 {
				t.Errorf("%d bytes after the last message", len(out))
			}
		})
	}
}

// TestToolEnrichment checks the fields the tool's configuration gives: environment,
// administrators from the CSV file, and geolocation from the embedded data.
func TestToolEnrichment(t *testing.T) {
	cfg := toolConfig(t)
	in := jsonLines(records(t, "login_console_success_mfa", "login_console_success_no_mfa", "s3_get_object_private_ip_vpc_endpoint"))
	var stdout, stderr bytes.Buffer
	if err := Tool(context.Background(), cfg, "json", nil, bytes.NewReader(in), &stdout, &stderr); err != nil {
		t.Fatalf("Tool: %v; stderr: %s", err, stderr.String())
	}
	type event struct {
		UserName    string `json:"user_name"`
		Environment string `json:"environment"`
		IsAdmin     bool   `json:"is_admin"`
		CountryCode string `json:"country_code"`
	}
	want := []event{
		{"alice", "tool-test", true, "GB"},
		{"bob", "tool-test", false, "SE"},
		{"i-0a1b2c3d4e5f60718", "tool-test", false, ""},
	}
	dec := json.NewDecoder(&stdout)
	for i, w := range want {
		var got event
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("event %d: %v", i+1, err)
		}
		if got != w {
			t.Errorf("event %d: %+v, want %+v", i+1, got, w)
		}
	}
}

// TestToolBadRecords checks that a record that cannot be read or normalized is reported on
// stderr with its file, place and reason, that a file that stops part-way is reported with
// where it stopped, that the good records around them are still written, and that the tool
// then fails.
func TestToolBadRecords(t *testing.T) {
	cfg := toolConfig(t)
	dir := t.TempDir()
	good := records(t, "iam_create_user", "iam_delete_user", "ec2_create_security_group", "login_console_success_mfa", "iam_create_role")
	lines := write(t, dir, "bad.jsonl", jsonLines([][]byte{
		good[0],
		[]byte(`not json`),
		[]byte(`{"eventID":"e-3","eventTime":"tomorrow"}`),
		[]byte(`{"eventID":"e-4","eventTime":"yesterday"}`),
		good[1],
	}))
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	trailRecs := [][]byte{[]byte(`{"eventID":"t-1","eventTime":"never"}`), []byte(`["not","an","object"]`), []byte(deep), good[2]}
	trail := write(t, dir, "trail.json", trailFile(trailRecs))
	offset := func(i int) int { return len(`{"Records":[`) + len(bytes.Join(trailRecs[:i], []byte(","))) + min(i, 1) }
	whole := trailFile(good[3:5])
	cut := len(whole) - 100 // in the second record
	truncated := write(t, dir, "truncated.json", whole[:cut])
	truncatedGz := write(t, dir, "truncated.json.gz", gzipped(t, whole[:cut]))
	tests := []struct {
		name      string
		files     []string
		want      [][]byte // the records whose events are written
		wantLines []string // on stderr, after the file's name and ": "
		wantErr   []string // in the error
	}{
		{
			name:  "JSON lines",
			files: []string{lines},
			want:  [][]byte{good[0], good[1]},
			wantLines: []string{
				lines + ": line 2: unreadable: not a JSON object",
				lines + `: line 3: CloudTrail record e-3: eventTime "tomorrow"`,
				lines + `: line 4: CloudTrail record e-4: eventTime "yesterday"`,
			},
			wantErr: []string{"3 records could not be read or normalized"},
		},
		{
			name:  "CloudTrail file",
			files: []string{trail},
			want:  [][]byte{good[2]},
			wantLines: []string{
				fmt.Sprintf(`%s: record 1 (index 0, byte %d): CloudTrail record t-1: eventTime "never"`, trail, offset(0)),
				fmt.Sprintf(`%s: record 2 (index 1, byte %d): unreadable: not a JSON object`, trail, offset(1)),
				fmt.Sprintf(`%s: record 3 (index 2, byte %d): unreadable: nested deeper than 1000 levels`, trail, offset(2)),
			},
			wantErr: []string{"3 records could not be read or normalized"},
		},
		{
			name:      "truncated CloudTrail file",
			files:     []string{truncated},
			want:      [][]byte{good[3]},
			wantLines: []string{fmt.Sprintf("%s: reading stopped at byte %d, in record 2 (index 1): unexpected EOF", truncated, cut)},
			wantErr:   []string{truncated, "unexpected EOF"},
		},
		{
			name:      "truncated gzipped CloudTrail file",
			files:     []string{truncatedGz},
			want:      [][]byte{good[3]},
			wantLines: []string{fmt.Sprintf("%s: reading stopped at byte %d, in record 2 (index 1): unexpected EOF", truncatedGz, cut)},
			wantErr:   []string{truncatedGz},
		},
		{
			name:  "all of them",
			files: []string{lines, truncatedGz, trail},
			want:  [][]byte{good[0], good[1], good[3], good[2]},
			wantLines: []string{
				lines + ": line 2: ", lines + ": line 3: ", lines + ": line 4: ",
				truncatedGz + ": reading stopped at byte",
				trail + ": record 1 (", trail + ": record 2 (", trail + ": record 3 (",
			},
			wantErr: []string{"6 records could not be read or normalized", truncatedGz},
		},
	}
	for _, tt := range tests {
		for _, format := range []string{"json", "avro"} {
			t.Run(tt.name+", "+format, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := Tool(context.Background(), cfg, format, tt.files, nil, &stdout, &stderr)
				if err == nil {
					t.Fatal("Tool returned no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				got := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
				if len(got) != len(tt.wantLines) {
					t.Errorf("stderr has %d lines, want %d:\n%s", len(got), len(tt.wantLines), stderr.String())
				}
				for i, w := range tt.wantLines {
					if i < len(got) && !strings.HasPrefix(got[i], w) {
						t.Errorf("stderr line %d:\n%s\nwant it to begin\n%s", i+1, got[i], w)
					}
				}
				var want []byte
				for _, e := range expected(t, cfg, tt.want) {
					if format == "json" {
						want = append(e.AppendJSON(want), '\n')
					} else if want, err = model.EncodeEvent(want, e); err != nil {
						t.Fatal(err)
					}
				}
				if !bytes.Equal(stdout.Bytes(), want) {
					t.Errorf("stdout is not the %d good records' events:\n%.300q", len(tt.want), stdout.String())
				}
			})
		}
	}
}

// TestToolTruncatedGzipStream cuts a gzipped CloudTrail file's compressed bytes at several
// points: every record that is whole in what gunzips before the cut is normalized, and the
// place where reading stopped is reported.
func TestToolTruncatedGzipStream(t *testing.T) {
	cfg := toolConfig(t)
	dir := t.TempDir()
	some := records(t, "iam_create_user", "iam_delete_user", "ec2_create_security_group", "login_console_success_mfa")
	var recs [][]byte
	for i := range 200 {
		r := some[i%len(some)]
		recs = append(recs, bytes.Replace(r, []byte(`"eventID":"`), fmt.Appendf(nil, `"eventID":"%d-`, i), 1))
	}
	whole := trailFile(recs)
	gz := gzipped(t, whole)
	for _, cut := range []int{len(gz) / 4, len(gz) / 2, len(gz) - 20, len(gz) - 4} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			name := write(t, dir, fmt.Sprintf("cut%d.json.gz", cut), gz[:cut])
			zr, err := gzip.NewReader(bytes.NewReader(gz[:cut]))
			if err != nil {
				t.Fatal(err)
			}
			prefix, _ := io.ReadAll(zr) // what gunzip gives before the cut
			n := 0
			for end := len(`{"Records":[`); n < len(recs) && end+len(recs[n]) <= len(prefix); n++ {
				end += len(recs[n]) + 1
			}
			var stdout, stderr bytes.Buffer
			err = Tool(context.Background(), cfg, "json", []string{name}, nil, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("Tool returned %v, want an error naming the file", err)
			}
			if got := strings.Count(stdout.String(), "\n"); got != n {
				t.Errorf("%d events written, want the %d records whole before the cut", got, n)
			}
			want := fmt.Sprintf("%s: reading stopped at byte %d, in record %d (index %d): ", name, len(prefix), n+1, n)
			if !strings.HasPrefix(stderr.String(), want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr:\n%s\nwant one line beginning\n%s", stderr.String(), want)
			}
		})
	}
}

func TestToolErrors(t *testing.T) {
	cfg := toolConfig(t)
	dir := t.TempDir()
	good := write(t, dir, "good.json", trailFile(records(t, "iam_create_user")))
	missing := filepath.Join(dir, "no-such-file.json.gz")
	truncated := write(t, dir, "truncated.json", trailFile(records(t, "iam_create_user", "iam_delete_user"))[:900])
	tests := []struct {
		name    string
		format  string
		files   []string
		wantErr []string // all in the error
	}{
		{"unknown format", "csv", []string{good}, []string{"csv", "json", "avro"}},
		{"missing file", "json", []string{missing}, []string{missing}},
		{"missing second file", "json", []string{good, missing}, []string{missing}},
		{"truncated CloudTrail file", "avro", []string{truncated}, []string{truncated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Tool(context.Background(), cfg, tt.format, tt.files, strings.NewReader(""), &stdout, &stderr)
			if err == nil {
				t.Fatal("Tool returned no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if tt.format == "csv" && stdout.Len() > 0 {
				t.Errorf("unknown format wrote %d bytes", stdout.Len())
			}
		})
	}
}

// TestToolGoesOnAfterABadFile checks that a missing file neither stops the files after it
// nor loses the events of those before it.
func TestToolGoesOnAfterABadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	if err := os.WriteFile(good, []byte(`{"eventID":"a","eventTime":"2026-11-21T10:00:00Z"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := Tool(context.Background(), config.Default(), "json", []string{good, filepath.Join(dir, "missing.json"), good}, nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("Tool = %v, want an error naming missing.json", err)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 2 {
		t.Fatalf("%d events written, want the 2 of the readable files:\n%s", n, stdout.String())
	}
	if !strings.Contains(stderr.String(), "missing.json") {
		t.Fatalf("stderr does not name the missing file: %s", stderr.String())
	}
}

// TestToolReadsPrettyRecords reads records written over several lines each, as the Sumo
// document shows its sample.
func TestToolReadsPrettyRecords(t *testing.T) {
	sample, err := os.ReadFile("testdata/console_login_failure.json")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	in := bytes.NewReader(append(append(sample, '\n'), sample...))
	if err := Tool(context.Background(), config.Default(), "json", nil, in, &stdout, &stderr); err != nil {
		t.Fatalf("Tool: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"login_result":"failure"`) {
		t.Fatalf("want 2 events, got:\n%s", stdout.String())
	}
}
