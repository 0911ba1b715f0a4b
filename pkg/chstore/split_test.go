package chstore

import (
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	got := split("-- a comment; not a statement\nCREATE TABLE a (x String);\n\nCREATE TABLE b (\n  y String\n);\nSELECT 1")
	want := []string{"CREATE TABLE a (x String)", "CREATE TABLE b (\n  y String\n)", "SELECT 1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("split = %q, want %q", got, want)
	}
}
