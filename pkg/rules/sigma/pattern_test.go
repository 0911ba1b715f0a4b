package sigma

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern string
		cased   bool
		value   string
		want    bool
	}{
		// Case: insensitive unless cased, with Unicode simple folding.
		{"DeleteBucket", false, "deletebucket", true},
		{"DeleteBucket", true, "deletebucket", false},
		{"DeleteBucket", true, "DeleteBucket", true},
		{"STRASSE", false, "strasse", true},
		{"straße", false, "STRASSE", false}, // ß does not fold to ss (simple folding)
		{"*k*", false, "\u212a", true},      // the Kelvin sign folds to k
		{"*s", false, "\u017f", true},       // the long s folds to s
		{"Ärger*", false, "ärgerlich", true},
		// Wildcards.
		{"*", false, "", true},
		{"*", false, "anything", true},
		{"**", false, "x", true},
		{"", false, "", true},
		{"", false, "a", false},
		{"a?c", false, "abc", true},
		{"a?c", false, "ac", false},
		{"a?c", false, "aéc", true}, // ? is one character, not one byte
		{"a??c", false, "aéc", false},
		{"a*c", false, "ac", true},
		{"a*c", false, "abbbc", true},
		{"a*c", false, "acb", false},
		{"*ab*ab", false, "xabyab", true},
		{"*ab*ab", false, "abab", true},
		{"*ab*ab", false, "aab", false},
		{"*ab*ab", false, "ab", false},
		{"a*b*c", false, "abc", true},
		{"a*b*c", false, "aXbXbXc", true},
		{"a*b*c", false, "acb", false},
		{"*.exe", false, "C:\\x\\CMD.EXE", true},
		{"?*?", false, "ab", true},
		{"?*?", false, "a", false},
		{"*a?", false, "xxab", true},
		{"*a?", false, "xxa", false},
		// Escapes: \* and \? are the characters, \\ a backslash, \ before anything else
		// a backslash.
		{`a\*b`, false, "a*b", true},
		{`a\*b`, false, "axb", false},
		{`a\?b`, false, "a?b", true},
		{`a\?b`, false, "axb", false},
		{`C:\\*`, false, `C:\Windows`, true}, // a backslash, then a wildcard
		{`C:\\*`, false, `C:Windows`, false},
		{`C:\\\*`, false, `C:\*`, true}, // a backslash and a star
		{`C:\\\*`, false, `C:\x`, false},
		{`C:\Windows\System32`, false, `C:\Windows\System32`, true},
		{`C:\\Windows`, false, `C:\Windows`, true},
		{`\\\\`, false, `\\`, true},
		{`a\\\b`, false, `a\\b`, true}, // three backslashes are two
		{`abc\`, false, `abc\`, true},
		{`*\*`, false, `x*`, true},
		{`*\*`, false, `xy`, false},
		// Cased with wildcards.
		{"Abc*", true, "abcd", false},
		{"*Abc*", true, "xAbcx", true},
		{"?bc", true, "ABC", false},
	}
	for _, tt := range tests {
		if got := compileGlob(tt.pattern, tt.cased).match(tt.value); got != tt.want {
			t.Errorf("pattern %q (cased %v) on %q: %v, want %v", tt.pattern, tt.cased, tt.value, got, tt.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	// A value ending in a backslash, wrapped by contains, keeps the wildcard a wildcard.
	g := compileGlob("*"+canonical(`C:\dir\`)+"*", false)
	for value, want := range map[string]bool{`x C:\dir\file`: true, `C:\dir*`: false, `C:\dirx`: false} {
		if got := g.match(value); got != want {
			t.Errorf("contains C:\\dir\\ on %q: %v, want %v", value, got, want)
		}
	}
	if got, want := canonical(`a\*b\c*`), `a\*b\\c*`; got != want {
		t.Errorf("canonical: %q, want %q", got, want)
	}
}

// globRegexp is the reference a pattern is checked against: the same pattern as a
// regular expression.
func globRegexp(pattern string, cased bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^(?s)")
	if !cased {
		b.WriteString("(?i)")
	}
	for _, t := range parseValue(pattern) {
		switch t.kind {
		case tokLit:
			b.WriteString(regexp.QuoteMeta(t.lit))
		case tokStar:
			b.WriteString(".*")
		case tokOne:
			b.WriteString(".")
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func TestGlobAgainstRegexp(t *testing.T) {
	values := []string{"", "a", "ab", "abc", "aab", "abab", "xabyab", "K", "k", "\u212a", "é", "É", `\`, "*", "?", "a*b", "a?b"}
	patterns := []string{"*", "a*", "*b", "*ab*", "a?b", "?", "??", "*?*", `\*`, `\?`, `\\`, "a*b*", "K", "*k", "É*", "*ab*ab"}
	for _, p := range patterns {
		for _, cased := range []bool{false, true} {
			re, g := globRegexp(p, cased), compileGlob(p, cased)
			for _, v := range values {
				if got, want := g.match(v), re.MatchString(v); got != want {
					t.Errorf("pattern %q (cased %v) on %q: %v, the regexp says %v", p, cased, v, got, want)
				}
			}
		}
	}
}

// FuzzMatch checks the compiled patterns against the same patterns as regular expressions.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"*ab*ab", "xabyab"}, {`C:\\*`, `C:\x`}, {"a?c", "aéc"}, {"*k*", "\u212a"}, {"", ""}, {"*", "x"}} {
		f.Add(s[0], s[1], false)
		f.Add(s[0], s[1], true)
	}
	f.Fuzz(func(t *testing.T, pattern, value string, cased bool) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(value) || len(pattern) > 64 {
			return
		}
		want := globRegexp(pattern, cased).MatchString(value)
		if got := compileGlob(pattern, cased).match(value); got != want {
			t.Fatalf("pattern %q (cased %v) on %q: %v, the regexp says %v", pattern, cased, value, got, want)
		}
	})
}
