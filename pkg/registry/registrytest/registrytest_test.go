package registrytest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const (
	v1 = `{"type":"record","name":"Thing","namespace":"t","fields":[{"name":"a","type":"string"}]}`
	// v2 adds a field with a default: readers of v2 read v1 data.
	v2 = `{"type":"record","name":"Thing","namespace":"t","fields":[{"name":"a","type":"string"},{"name":"b","type":"long","default":0}]}`
	// noDefault adds a field without a default: refused under BACKWARD.
	noDefault = `{"type":"record","name":"Thing","namespace":"t","fields":[{"name":"a","type":"string"},{"name":"c","type":"string"}]}`
	// promoted reads a as bytes and drops nothing: string → bytes is a promotion.
	promoted = `{"type":"record","name":"Thing","namespace":"t","fields":[{"name":"a","type":"bytes"}]}`
	// narrowed reads a as int: no promotion from string.
	narrowed = `{"type":"record","name":"Thing","namespace":"t","fields":[{"name":"a","type":"int"}]}`
)

// call sends a request as a registry client does and returns the status and the decoded
// JSON answer.
func call(t *testing.T, method, url, body string) (int, any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("%s %s: Content-Type %q, want %q", method, url, ct, ContentType)
	}
	var out any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v", method, url, err)
	}
	return resp.StatusCode, out
}

func schemaBody(s string) string {
	b, _ := json.Marshal(map[string]string{"schema": s})
	return string(b)
}

// TestAPI walks the documented API in order: each step's request, status and answer (as
// compact JSON) are written out here, not derived from the server.
func TestAPI(t *testing.T) {
	s := NewServer(t)
	u := s.URL()
	steps := []struct {
		method, path, body string
		status             int
		want               string
		code               float64 // error_code of an error answer
	}{
		{"GET", "/subjects", "", 200, `[]`, 0},
		{"GET", "/subjects/x-value/versions", "", 404, `{"error_code":40401,"message":"Subject 'x-value' not found."}`, 40401},
		{"GET", "/schemas/ids/1", "", 404, `{"error_code":40403,"message":"Schema 1 not found"}`, 40403},
		{"POST", "/subjects/x-value/versions", `{"schema":"{\"type\":\"recrd\"}"}`, 422, "", 42201},
		{"POST", "/subjects/x-value/versions", schemaBody(v1), 200, `{"id":1}`, 0},
		{"POST", "/subjects/x-value/versions", schemaBody(v1), 200, `{"id":1}`, 0},
		// The same schema, spaced otherwise, is the same schema.
		{"POST", "/subjects/x-value/versions", schemaBody(strings.ReplaceAll(v1, ",", ", ")), 200, `{"id":1}`, 0},
		{"PUT", "/config/x-value", `{"compatibility":"BACKWARD"}`, 200, `{"compatibility":"BACKWARD"}`, 0},
		{"PUT", "/config/x-value", `{"compatibility":"SIDEWAYS"}`, 422, "", 42203},
		{"GET", "/config/x-value", "", 200, `{"compatibilityLevel":"BACKWARD"}`, 0},
		{"GET", "/config/y-value", "", 404, "", 40408},
		{"GET", "/config/y-value?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"BACKWARD"}`, 0},
		{"GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`, 0},
		{"POST", "/compatibility/subjects/x-value/versions/latest", schemaBody(noDefault), 200, `{"is_compatible":false}`, 0},
		{"POST", "/compatibility/subjects/x-value/versions/latest", schemaBody(v2), 200, `{"is_compatible":true}`, 0},
		{"POST", "/compatibility/subjects/x-value/versions/latest", schemaBody(promoted), 200, `{"is_compatible":true}`, 0},
		{"POST", "/compatibility/subjects/x-value/versions/latest", schemaBody(narrowed), 200, `{"is_compatible":false}`, 0},
		{"POST", "/compatibility/subjects/nope/versions/latest", schemaBody(v2), 404, "", 40401},
		{"POST", "/subjects/x-value/versions", schemaBody(noDefault), 409, "", 409},
		{"POST", "/subjects/x-value/versions", schemaBody(v2), 200, `{"id":2}`, 0},
		{"GET", "/subjects/x-value/versions", "", 200, `[1,2]`, 0},
		{"GET", "/subjects/x-value/versions/1", "", 200, `{"id":1,"schema":` + quote(v1) + `,"subject":"x-value","version":1}`, 0},
		{"GET", "/subjects/x-value/versions/latest", "", 200, `{"id":2,"schema":` + quote(v2) + `,"subject":"x-value","version":2}`, 0},
		{"GET", "/subjects/x-value/versions/3", "", 404, "", 40402},
		{"GET", "/subjects/x-value/versions/zero", "", 422, "", 42202},
		{"GET", "/schemas/ids/2", "", 200, `{"schema":` + quote(v2) + `}`, 0},
		// Another subject registering a known schema gets its ID.
		{"POST", "/subjects/y-value/versions", schemaBody(v2), 200, `{"id":2}`, 0},
		{"GET", "/subjects", "", 200, `["x-value","y-value"]`, 0},
		// Without compatibility, anything goes.
		{"PUT", "/config/x-value", `{"compatibility":"NONE"}`, 200, `{"compatibility":"NONE"}`, 0},
		{"POST", "/subjects/x-value/versions", schemaBody(narrowed), 200, `{"id":3}`, 0},
	}
	for i, st := range steps {
		status, out := call(t, st.method, u+st.path, st.body)
		if status != st.status {
			t.Fatalf("step %d %s %s: status %d, want %d (answer %v)", i, st.method, st.path, status, st.status, out)
		}
		got, _ := json.Marshal(out)
		if st.want != "" && string(got) != st.want {
			t.Errorf("step %d %s %s:\n got %s\nwant %s", i, st.method, st.path, got, st.want)
		}
		if status >= 400 {
			m, ok := out.(map[string]any)
			if !ok || m["message"] == "" {
				t.Errorf("step %d: error answer %s lacks the message", i, got)
			}
			if m["error_code"] != st.code {
				t.Errorf("step %d %s %s: error_code %v, want %v", i, st.method, st.path, m["error_code"], st.code)
			}
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestAuth(t *testing.T) {
	s := NewServer(t)
	s.Registry.RequireAuth("reader", "s3cret")
	status, _ := call(t, "GET", s.URL()+"/subjects", "")
	if status != 401 {
		t.Fatalf("without credentials: status %d, want 401", status)
	}
	req, _ := http.NewRequest("GET", s.URL()+"/subjects", nil)
	req.SetBasicAuth("reader", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("with credentials: status %d, want 200", resp.StatusCode)
	}
}

// TestBackward holds the compatibility check to the schema resolution rules, one case each.
func TestBackward(t *testing.T) {
	rec := func(fields string) string {
		return `{"type":"record","name":"R","fields":[` + fields + `]}`
	}
	cases := []struct {
		name           string
		reader, writer string
		ok             bool
	}{
		{"same", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"}`), true},
		{"field removed", rec(``), rec(`{"name":"a","type":"int"}`), true},
		{"field added with default", rec(`{"name":"a","type":"int"},{"name":"b","type":"string","default":""}`), rec(`{"name":"a","type":"int"}`), true},
		{"field added without default", rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`), rec(`{"name":"a","type":"int"}`), false},
		{"int to long", rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":"int"}`), true},
		{"long to int", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"long"}`), false},
		{"float to double", rec(`{"name":"a","type":"double"}`), rec(`{"name":"a","type":"float"}`), true},
		{"logical timestamp is long", rec(`{"name":"a","type":{"type":"long","logicalType":"timestamp-millis"}}`), rec(`{"name":"a","type":"long"}`), true},
		{"widened to union", rec(`{"name":"a","type":["null","string"]}`), rec(`{"name":"a","type":"string"}`), true},
		{"union narrowed", rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":["null","string"]}`), false},
		{"array items promoted", rec(`{"name":"a","type":{"type":"array","items":"long"}}`), rec(`{"name":"a","type":{"type":"array","items":"int"}}`), true},
		{"array to map", rec(`{"name":"a","type":{"type":"map","values":"int"}}`), rec(`{"name":"a","type":{"type":"array","items":"int"}}`), false},
		{"enum symbol added", rec(`{"name":"a","type":{"type":"enum","name":"E","symbols":["X","Y"]}}`), rec(`{"name":"a","type":{"type":"enum","name":"E","symbols":["X"]}}`), true},
		{"enum symbol removed", rec(`{"name":"a","type":{"type":"enum","name":"E","symbols":["X"]}}`), rec(`{"name":"a","type":{"type":"enum","name":"E","symbols":["X","Y"]}}`), false},
		{"field renamed by alias", rec(`{"name":"b","aliases":["a"],"type":"int"}`), rec(`{"name":"a","type":"int"}`), true},
		{"nested record field without default", rec(`{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"x","type":"int"}]}}`),
			rec(`{"name":"n","type":{"type":"record","name":"N","fields":[]}}`), false},
		{"record renamed", `{"type":"record","name":"S","fields":[]}`, rec(``), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := backward(c.reader, c.writer)
			if (msg == "") != c.ok {
				t.Errorf("backward = %q, want compatible %v", msg, c.ok)
			}
		})
	}
}
