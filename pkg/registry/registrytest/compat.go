package registrytest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// backward checks that a reader holding schema reader can read data written with schema
// writer, by the Avro specification's schema resolution rules. It returns "" when it can,
// else why not.
func backward(reader, writer string) string {
	var r, w any
	if err := json.Unmarshal([]byte(reader), &r); err != nil {
		return "reader schema: " + err.Error()
	}
	if err := json.Unmarshal([]byte(writer), &w); err != nil {
		return "writer schema: " + err.Error()
	}
	c := resolver{rNames: map[string]map[string]any{}, wNames: map[string]map[string]any{}, seen: map[[2]string]bool{}}
	c.collect(r, "", c.rNames)
	c.collect(w, "", c.wNames)
	return c.reads(r, w, "", "", "")
}

type resolver struct {
	rNames, wNames map[string]map[string]any // full name → named type
	seen           map[[2]string]bool        // record pairs being checked, for recursive types
}

// fullName is the full name of a named type declared in namespace ns.
func fullName(m map[string]any, ns string) (string, string) {
	name, _ := m["name"].(string)
	if n, ok := m["namespace"].(string); ok && !strings.Contains(name, ".") {
		ns = n
	}
	if strings.Contains(name, ".") {
		return name, name[:strings.LastIndex(name, ".")]
	}
	if ns == "" {
		return name, ""
	}
	return ns + "." + name, ns
}

// collect records the named types of schema s.
func (c *resolver) collect(s any, ns string, names map[string]map[string]any) {
	switch t := s.(type) {
	case []any:
		for _, b := range t {
			c.collect(b, ns, names)
		}
	case map[string]any:
		switch t["type"] {
		case "record", "error", "enum", "fixed":
			full, inner := fullName(t, ns)
			names[full] = t
			if fields, ok := t["fields"].([]any); ok {
				for _, f := range fields {
					if fm, ok := f.(map[string]any); ok {
						c.collect(fm["type"], inner, names)
					}
				}
			}
		case "array":
			c.collect(t["items"], ns, names)
		case "map":
			c.collect(t["values"], ns, names)
		default:
			if _, ok := t["type"].(map[string]any); ok {
				c.collect(t["type"], ns, names)
			}
			if _, ok := t["type"].([]any); ok {
				c.collect(t["type"], ns, names)
			}
		}
	}
}

var primitives = []string{"null", "boolean", "int", "long", "float", "double", "bytes", "string"}

// deref turns a schema into its map form, looking up named references; ns is the enclosing
// namespace.
func deref(s any, ns string, names map[string]map[string]any) (any, string) {
	switch t := s.(type) {
	case string:
		if slices.Contains(primitives, t) {
			return map[string]any{"type": t}, ns
		}
		if n, ok := names[t]; ok {
			_, inner := fullName(n, "")
			return n, inner
		}
		if n, ok := names[ns+"."+t]; ok {
			_, inner := fullName(n, ns)
			return n, inner
		}
		return map[string]any{"type": "unknown:" + t}, ns
	case map[string]any:
		if inner, ok := t["type"].(map[string]any); ok {
			return deref(inner, ns, names)
		}
		if inner, ok := t["type"].([]any); ok {
			return inner, ns
		}
		if name, ok := t["type"].(string); ok && !slices.Contains(primitives, name) &&
			!slices.Contains([]string{"record", "error", "enum", "fixed", "array", "map"}, name) {
			return deref(name, ns, names)
		}
		return t, ns
	}
	return s, ns
}

// promotes reports whether a writer primitive w is read as reader primitive r.
func promotes(w, r string) bool {
	if w == r {
		return true
	}
	switch w {
	case "int":
		return r == "long" || r == "float" || r == "double"
	case "long":
		return r == "float" || r == "double"
	case "float":
		return r == "double"
	case "string":
		return r == "bytes"
	case "bytes":
		return r == "string"
	}
	return false
}

// reads reports "" when reader schema r reads data of writer schema w; at names the place.
func (c *resolver) reads(r, w any, rns, wns, at string) string {
	r, rns = deref(r, rns, c.rNames)
	w, wns = deref(w, wns, c.wNames)
	if wu, ok := w.([]any); ok {
		for _, b := range wu {
			if msg := c.reads(r, b, rns, wns, at); msg != "" {
				return msg
			}
		}
		return ""
	}
	if ru, ok := r.([]any); ok {
		for _, b := range ru {
			if c.reads(b, w, rns, wns, at) == "" {
				return ""
			}
		}
		return fmt.Sprintf("%s: no branch of the reader's union reads the writer's %s", place(at), typeOf(w))
	}
	rm, wm := r.(map[string]any), w.(map[string]any)
	rt, wt := typeOf(rm), typeOf(wm)
	if slices.Contains(primitives, wt) || slices.Contains(primitives, rt) {
		if !promotes(wt, rt) {
			return fmt.Sprintf("%s: the reader's %s cannot read the writer's %s", place(at), rt, wt)
		}
		return ""
	}
	if rt != wt {
		return fmt.Sprintf("%s: the reader's %s cannot read the writer's %s", place(at), rt, wt)
	}
	switch rt {
	case "array":
		return c.reads(rm["items"], wm["items"], rns, wns, at+"[]")
	case "map":
		return c.reads(rm["values"], wm["values"], rns, wns, at+"{}")
	case "fixed":
		if rm["size"] != wm["size"] || rm["name"] != wm["name"] {
			return fmt.Sprintf("%s: fixed %v of size %v cannot read fixed %v of size %v", place(at), rm["name"], rm["size"], wm["name"], wm["size"])
		}
	case "enum":
		if rm["name"] != wm["name"] {
			return fmt.Sprintf("%s: enum %v cannot read enum %v", place(at), rm["name"], wm["name"])
		}
		if _, ok := rm["default"]; ok {
			return ""
		}
		rs, _ := rm["symbols"].([]any)
		ws, _ := wm["symbols"].([]any)
		for _, s := range ws {
			if !slices.Contains(rs, s) {
				return fmt.Sprintf("%s: the reader's enum %v lacks the writer's symbol %v and has no default", place(at), rm["name"], s)
			}
		}
	case "record", "error":
		rn, _ := fullName(rm, rns)
		wn, _ := fullName(wm, wns)
		if short(rn) != short(wn) && !aliased(rm, wn) {
			return fmt.Sprintf("%s: record %s cannot read record %s", place(at), rn, wn)
		}
		key := [2]string{rn, wn}
		if c.seen[key] {
			return ""
		}
		c.seen[key] = true
		_, rInner := fullName(rm, rns)
		_, wInner := fullName(wm, wns)
		wFields := map[string]map[string]any{}
		for _, f := range list(wm["fields"]) {
			wFields[f["name"].(string)] = f
		}
		for _, f := range list(rm["fields"]) {
			name, _ := f["name"].(string)
			wf, ok := wFields[name]
			if !ok {
				for _, a := range strs(f["aliases"]) {
					if wf, ok = wFields[a]; ok {
						break
					}
				}
			}
			if !ok {
				if _, has := f["default"]; !has {
					return fmt.Sprintf("field %s.%s: added without a default, so data written without it cannot be read", rn, name)
				}
				continue
			}
			if msg := c.reads(f["type"], wf["type"], rInner, wInner, at+"."+name); msg != "" {
				return msg
			}
		}
	}
	return ""
}

func typeOf(s any) string {
	if m, ok := s.(map[string]any); ok {
		t, _ := m["type"].(string)
		return t
	}
	return "union"
}

func place(at string) string {
	if at == "" {
		return "the top-level schema"
	}
	return "field " + strings.TrimPrefix(at, ".")
}

func short(full string) string { return full[strings.LastIndex(full, ".")+1:] }

func aliased(m map[string]any, name string) bool {
	for _, a := range strs(m["aliases"]) {
		if a == name || a == short(name) {
			return true
		}
	}
	return false
}

func list(v any) []map[string]any {
	var out []map[string]any
	a, _ := v.([]any)
	for _, e := range a {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func strs(v any) []string {
	var out []string
	a, _ := v.([]any)
	for _, e := range a {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
