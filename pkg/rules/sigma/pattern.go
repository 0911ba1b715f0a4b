package sigma

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// A Sigma string value is text with two wildcards, * (any run of characters, also none)
// and ? (exactly one character), and the backslash as their escape: \* and \? are the
// characters themselves, \\ is one backslash, and a backslash before anything else is a
// backslash.

// tokKind is what one token of a Sigma string is.
type tokKind uint8

const (
	tokLit  tokKind = iota // literal text
	tokStar                // *
	tokOne                 // ?
)

type token struct {
	kind tokKind
	lit  string
}

// parseValue splits a Sigma string into literal runs and wildcards; consecutive stars
// are one.
func parseValue(s string) []token {
	var out []token
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, token{kind: tokLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
				lit.WriteByte(s[i+1])
				i++
			} else {
				lit.WriteByte('\\')
			}
		case '*':
			flush()
			if n := len(out); n == 0 || out[n-1].kind != tokStar {
				out = append(out, token{kind: tokStar})
			}
		case '?':
			flush()
			out = append(out, token{kind: tokOne})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}

// plainValue returns the text s stands for when it has no wildcards.
func plainValue(s string) (string, bool) {
	var b strings.Builder
	for _, t := range parseValue(s) {
		if t.kind != tokLit {
			return "", false
		}
		b.WriteString(t.lit)
	}
	return b.String(), true
}

// canonical returns s with every literal backslash escaped, so that a wildcard appended to
// it stays a wildcard: C:\dir\ with a * after it would read as a literal star.
func canonical(s string) string {
	var b strings.Builder
	for _, t := range parseValue(s) {
		switch t.kind {
		case tokLit:
			b.WriteString(escapeValue(t.lit))
		case tokStar:
			b.WriteByte('*')
		case tokOne:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// escapeValue returns the Sigma string that stands for the text s: its wildcards and
// backslashes escaped.
func escapeValue(s string) string {
	if !strings.ContainsAny(s, `*?\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '*' || c == '?' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// glob is a compiled Sigma string: segments of literals and ? between the stars, matched
// case-insensitively (Unicode simple folding, as strings.EqualFold) unless cased.
type glob struct {
	segs        [][]token // no stars
	runes       []int     // the characters each segment matches
	first, last bool      // the pattern starts (ends) with a segment, not a star
	cased       bool
	exact       string // the whole pattern when it is a literal
	isExact     bool
}

// compileGlob compiles the Sigma string s.
func compileGlob(s string, cased bool) *glob {
	toks := parseValue(s)
	g := &glob{cased: cased, first: true, last: true}
	if len(toks) == 0 {
		g.isExact = true
		return g
	}
	if len(toks) == 1 && toks[0].kind == tokLit {
		g.isExact, g.exact = true, toks[0].lit
		return g
	}
	g.first = toks[0].kind != tokStar
	g.last = toks[len(toks)-1].kind != tokStar
	var seg []token
	end := func() {
		if len(seg) > 0 {
			n := 0
			for _, t := range seg {
				if t.kind == tokOne {
					n++
				} else {
					n += utf8.RuneCountInString(t.lit)
				}
			}
			g.segs = append(g.segs, seg)
			g.runes = append(g.runes, n)
			seg = nil
		}
	}
	for _, t := range toks {
		if t.kind == tokStar {
			end()
			continue
		}
		seg = append(seg, t)
	}
	end()
	return g
}

// match reports whether s matches the pattern.
func (g *glob) match(s string) bool {
	if g.isExact {
		if g.cased {
			return s == g.exact
		}
		return strings.EqualFold(s, g.exact)
	}
	segs, runes := g.segs, g.runes
	pos := 0
	if g.first {
		n, ok := g.at(s, segs[0])
		if !ok {
			return false
		}
		if len(segs) == 1 && g.last {
			return n == len(s)
		}
		pos, segs, runes = n, segs[1:], runes[1:]
	}
	var last []token
	lastRunes := 0
	if g.last && len(segs) > 0 {
		last, lastRunes = segs[len(segs)-1], runes[len(runes)-1]
		segs = segs[:len(segs)-1]
	}
	for _, seg := range segs {
		end, ok := g.find(s, pos, seg)
		if !ok {
			return false
		}
		pos = end
	}
	if last == nil {
		return true
	}
	// The last segment ends the string: it matches its last lastRunes characters.
	p := len(s)
	for range lastRunes {
		if p <= pos {
			return false
		}
		_, w := utf8.DecodeLastRuneInString(s[:p])
		p -= w
	}
	if p < pos {
		return false
	}
	n, ok := g.at(s[p:], last)
	return ok && p+n == len(s)
}

// at matches seg at the start of s and returns the bytes it took.
func (g *glob) at(s string, seg []token) (int, bool) {
	i := 0
	for _, t := range seg {
		if t.kind == tokOne {
			if i >= len(s) {
				return 0, false
			}
			_, w := utf8.DecodeRuneInString(s[i:])
			i += w
			continue
		}
		var n int
		var ok bool
		if g.cased {
			n, ok = len(t.lit), strings.HasPrefix(s[i:], t.lit)
		} else {
			n, ok = prefixFold(s[i:], t.lit)
		}
		if !ok {
			return 0, false
		}
		i += n
	}
	return i, true
}

// find returns the end of the leftmost match of seg in s at or after from. Leftmost is
// enough: a later segment can only gain from an earlier end.
func (g *glob) find(s string, from int, seg []token) (int, bool) {
	lead := ""
	if seg[0].kind == tokLit {
		lead = seg[0].lit
	}
	for i := from; i <= len(s); {
		if lead != "" { // jump to the next place the leading literal occurs
			var j int
			if g.cased {
				j = strings.Index(s[i:], lead)
			} else {
				j = indexFold(s[i:], lead)
			}
			if j < 0 {
				return 0, false
			}
			i += j
		}
		if n, ok := g.at(s[i:], seg); ok {
			return i + n, true
		}
		if i == len(s) {
			break
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return 0, false
}

// prefixFold reports whether s starts with p under simple case folding, and how many bytes
// of s that prefix takes.
func prefixFold(s, p string) (int, bool) {
	i, j := 0, 0
	for j < len(p) {
		if i >= len(s) {
			return 0, false
		}
		c, d := s[i], p[j]
		if c < utf8.RuneSelf && d < utf8.RuneSelf {
			if c != d && lowerASCII(c) != lowerASCII(d) {
				return 0, false
			}
			i++
			j++
			continue
		}
		r1, n1 := utf8.DecodeRuneInString(s[i:])
		r2, n2 := utf8.DecodeRuneInString(p[j:])
		if !equalRuneFold(r1, r2) {
			return 0, false
		}
		i += n1
		j += n2
	}
	return i, true
}

// indexFold returns the byte offset of the first place p occurs in s under simple case
// folding, -1 when it does not.
func indexFold(s, p string) int {
	if p == "" {
		return 0
	}
	c0 := p[0]
	if c0 >= utf8.RuneSelf {
		for i := 0; i < len(s); {
			if _, ok := prefixFold(s[i:], p); ok {
				return i
			}
			_, w := utf8.DecodeRuneInString(s[i:])
			i += w
		}
		return -1
	}
	// An ASCII byte folds only to its other case; of the other characters only the Kelvin
	// sign and the long s fold to ASCII letters (k and s).
	l0, u0 := lowerASCII(c0), c0
	if 'a' <= c0 && c0 <= 'z' {
		u0 = c0 - 'a' + 'A'
	}
	special := l0 == 'k' || l0 == 's'
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == l0 || c == u0 {
				if _, ok := prefixFold(s[i:], p); ok {
					return i
				}
			}
			i++
			continue
		}
		if special {
			if _, ok := prefixFold(s[i:], p); ok {
				return i
			}
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return -1
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalRuneFold reports whether a and b are equal under simple case folding.
func equalRuneFold(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}
