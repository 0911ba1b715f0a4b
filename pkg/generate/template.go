package generate

import "strings"

// tmpl is a JSON text with $name placeholders, split once into literal and variable parts.
// Placeholder values are inserted as they are: string values sit inside quotes in the
// template, raw JSON fragments (numbers, objects) do not.
type tmpl []part

type part struct {
	lit  string
	name string // empty for the trailing literal
}

func compile(s string) tmpl {
	var t tmpl
	for s != "" {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			t = append(t, part{lit: s})
			break
		}
		j := i + 1
		for j < len(s) && isIdent(s[j]) {
			j++
		}
		t = append(t, part{lit: s[:i], name: s[i+1 : j]})
		s = s[j:]
	}
	return t
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// render appends the template with every placeholder replaced by value(name). An empty
// template renders nothing, which the record writes as JSON null.
func (t tmpl) render(dst []byte, value func(string) string) []byte {
	for _, p := range t {
		dst = append(dst, p.lit...)
		if p.name != "" {
			dst = append(dst, value(p.name)...)
		}
	}
	return dst
}
