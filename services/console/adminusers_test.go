package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
)

// adminConsole is a console over a private, empty database.
type adminConsole struct {
	conn driver.Conn
	db   string
	url  string // of /api/admin-users
}

func newAdminConsole(t *testing.T) adminConsole {
	t.Helper()
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	return adminConsole{conn: conn, db: c.ClickHouseDatabase, url: httpServer(t, console.Handler(conn, c.ClickHouseDatabase, console.Options{})) + "/api/admin-users"}
}

// adminAnswer is the JSON of /api/admin-users: a count after an upload, the list after a GET.
type adminAnswer struct {
	Count int
	List  []string
	Error string
}

// do sends a request with body to the admin-users API and decodes its JSON answer.
func (a adminConsole) do(t *testing.T, method string, body io.Reader, header http.Header) (*http.Response, adminAnswer) {
	t.Helper()
	req, err := http.NewRequest(method, a.url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, a.url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return res, adminAnswer{Error: string(b)}
	}
	var ans adminAnswer
	_ = json.Unmarshal(raw["error"], &ans.Error)
	if err := json.Unmarshal(raw["admin_users"], &ans.Count); err != nil {
		_ = json.Unmarshal(raw["admin_users"], &ans.List)
	}
	return res, ans
}

// stored returns the admin users in force in ClickHouse, sorted.
func (a adminConsole) stored(t *testing.T) []string {
	t.Helper()
	names, err := admins.Current(context.Background(), a.conn, a.db)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return append([]string{}, names...)
}

// unsized hides a body's length, so the request is sent chunked without Content-Length.
type unsized struct{ io.Reader }

func TestAdminUsersAPI(t *testing.T) {
	a := newAdminConsole(t)
	sumo := []string{"athomas", "dtaylor", "landerson", "rjackson"}
	big := strings.Repeat("someone\n", 1<<20/8+1)
	// The steps run in order; each says what the list in force is after it.
	steps := []struct {
		name   string
		method string
		body   io.Reader
		header http.Header
		status int
		count  int    // names stored, for a 200 answer to an upload
		says   string // in the error of a refused request
		after  []string
	}{
		{"nothing uploaded yet", http.MethodGet, nil, nil, http.StatusOK, 0, "", []string{}},
		{"PUT, as curl -T sends it", http.MethodPut, strings.NewReader("dtaylor\nlanderson\nathomas\nrjackson\n"), nil, http.StatusOK, 4, "", sumo},
		{"POST replaces, repeats dropped", http.MethodPost, strings.NewReader("user_name\r\nalice\r\nAlice\r\n# on call\r\nbob\r\n"),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, http.StatusOK, 2, "", []string{"alice", "bob"}},
		{"bad CSV", http.MethodPut, strings.NewReader("carol\nalice smith\n"), nil, http.StatusBadRequest, 0, "line 2", []string{"alice", "bob"}},
		{"too large", http.MethodPut, strings.NewReader(big), nil, http.StatusRequestEntityTooLarge, 0, "larger", []string{"alice", "bob"}},
		{"too large, chunked", http.MethodPost, unsized{strings.NewReader(big)}, nil, http.StatusRequestEntityTooLarge, 0, "larger", []string{"alice", "bob"}},
		{"DELETE", http.MethodDelete, nil, nil, http.StatusMethodNotAllowed, 0, "GET lists", []string{"alice", "bob"}},
		{"PATCH", http.MethodPatch, strings.NewReader("carol\n"), nil, http.StatusMethodNotAllowed, 0, "PUT or POST", []string{"alice", "bob"}},
		{"from another web site", http.MethodPost, strings.NewReader("mallory\n"),
			http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://attacker.example"}}, http.StatusForbidden, 0, "", []string{"alice", "bob"}},
		{"from another origin, older browser", http.MethodPost, strings.NewReader("mallory\n"),
			http.Header{"Origin": {"https://attacker.example"}}, http.StatusForbidden, 0, "", []string{"alice", "bob"}},
		{"from the console's own page", http.MethodPost, strings.NewReader("carol\n"),
			http.Header{"Sec-Fetch-Site": {"same-origin"}}, http.StatusOK, 1, "", []string{"carol"}},
		{"empty upload clears", http.MethodPut, strings.NewReader(""), nil, http.StatusOK, 0, "", []string{}},
		{"an upload after clearing", http.MethodPut, strings.NewReader("dave\n"), nil, http.StatusOK, 1, "", []string{"dave"}},
	}
	for _, st := range steps {
		res, ans := a.do(t, st.method, st.body, st.header)
		if res.StatusCode != st.status {
			t.Fatalf("%s: status %d (%+v), want %d", st.name, res.StatusCode, ans, st.status)
		}
		switch {
		case st.status == http.StatusOK && st.method == http.MethodGet:
			if !reflect.DeepEqual(ans.List, st.after) {
				t.Errorf("%s: GET lists %q, want %q", st.name, ans.List, st.after)
			}
		case st.status == http.StatusOK:
			if ans.Count != st.count {
				t.Errorf("%s: answer says %d admin users stored, want %d", st.name, ans.Count, st.count)
			}
		case !strings.Contains(ans.Error, st.says):
			t.Errorf("%s: error %q does not say %q", st.name, ans.Error, st.says)
		}
		if st.status == http.StatusMethodNotAllowed && res.Header.Get("Allow") != "GET, HEAD, PUT, POST" {
			t.Errorf("%s: Allow %q", st.name, res.Header.Get("Allow"))
		}
		if got := a.stored(t); !reflect.DeepEqual(got, st.after) {
			t.Errorf("%s: ClickHouse holds the admin users %q, want %q", st.name, got, st.after)
		}
		if _, ans := a.do(t, http.MethodGet, nil, nil); !reflect.DeepEqual(ans.List, st.after) {
			t.Errorf("%s: then GET lists %q, want %q", st.name, ans.List, st.after)
		}
	}
}

// TestAdminUsersCurl uploads testdata/admin_users.csv with the curl commands the console's
// page and the Sumo Logic instructions give.
func TestAdminUsersCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("this test runs curl, which the local stack needs too: install it (apt-get install curl): %v", err)
	}
	a := newAdminConsole(t)
	want := []string{"athomas", "dtaylor", "landerson", "rjackson"}
	for _, args := range [][]string{
		{"-T", "testdata/admin_users.csv", a.url},
		{"-X", "POST", "-T", "testdata/admin_users.csv", a.url},
		{"--data-binary", "@testdata/admin_users.csv", a.url},
	} {
		if res, _ := a.do(t, http.MethodPut, strings.NewReader(""), nil); res.StatusCode != http.StatusOK {
			t.Fatalf("clear the list: %s", res.Status)
		}
		out, err := exec.Command(curl, append([]string{"-sS", "--fail-with-body"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		if got := strings.TrimSpace(string(out)); got != `{"admin_users":4}` {
			t.Errorf("curl %s answered %s", strings.Join(args, " "), got)
		}
		if got := a.stored(t); !reflect.DeepEqual(got, want) {
			t.Errorf("after curl %s ClickHouse holds %q, want %q", strings.Join(args, " "), got, want)
		}
	}
}
