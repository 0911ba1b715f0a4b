package console

import (
	"net/http/httptest"
	"testing"
)

func TestWriteCSV(t *testing.T) {
	cols := []column{str("user", "User"), num("logins", "Logins"), str("note", "Note"), {Name: "outlier", Label: "Outlier", Type: "bool"}}
	rows := [][]any{
		{"=HYPERLINK(\"http://x\")", uint64(3), "a, \"b\"", true},
		{"-alice", 1.5, "+1", false},
		{"@bob", int64(-2), "", false},
	}
	w := httptest.NewRecorder()
	writeCSV(w, "p.csv", cols, rows)
	// Text a spreadsheet would run as a formula is written with a leading quote.
	want := "user,logins,note,outlier\n" +
		"\"'=HYPERLINK(\"\"http://x\"\")\",3,\"a, \"\"b\"\"\",true\n" +
		"'-alice,1.5,'+1,false\n" +
		"'@bob,-2,,false\n"
	if got := w.Body.String(); got != want {
		t.Errorf("CSV:\n got  %q\n want %q", got, want)
	}
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="p.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
}

func TestWriteCSVLists(t *testing.T) {
	cols := []column{{Name: "actors", Label: "Actors", Type: "list"}, {Name: "tags", Label: "Tags", Type: "list"}}
	w := httptest.NewRecorder()
	writeCSV(w, "d.csv", cols, [][]any{{[]string{"alice", "bob"}, []string{}}, {[]string{"=cmd()", "x"}, []string{"attack.t1098"}}})
	// A list is its values joined; one a spreadsheet would run as a formula starts with '.
	want := "actors,tags\n\"alice, bob\",\n\"'=cmd(), x\",attack.t1098\n"
	if got := w.Body.String(); got != want {
		t.Errorf("CSV:\n got  %q\n want %q", got, want)
	}
}
