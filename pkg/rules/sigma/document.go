package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// document is one YAML document of a rule file: a Sigma rule or a correlation rule.
type document struct {
	file string
	line int // of the document's first key
	root *yaml.Node

	title, id, name, status, level, description string
	tags, fields                                []string
	logsource                                   map[string]string
	detection, correlation                      *yaml.Node
	generate                                    bool

	issues []issue
}

// key names the document in references and problems: its id, else its name.
func (d *document) key() string {
	if d.id != "" {
		return d.id
	}
	return d.name
}

// splitDocuments cuts a rule file into its YAML documents at the lines that start one
// (---), so that one broken document leaves the others readable. It returns each
// document's text and the line it starts on.
func splitDocuments(b []byte) (docs [][]byte, lines []int) {
	start, startLine, line := 0, 1, 1
	for i := 0; i <= len(b); {
		end := bytes.IndexByte(b[i:], '\n')
		next := len(b) + 1
		if end >= 0 {
			end += i
			next = end + 1
		} else {
			end = len(b)
		}
		if isSeparator(b[i:end]) {
			docs, lines = append(docs, b[start:i]), append(lines, startLine)
			start, startLine = min(next, len(b)), line+1
		}
		i, line = next, line+1
	}
	docs, lines = append(docs, b[start:]), append(lines, startLine)
	return docs, lines
}

func isSeparator(l []byte) bool {
	l = bytes.TrimRight(l, " \t\r")
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	rest := bytes.TrimLeft(l[3:], " \t")
	return len(rest) == 0 || rest[0] == '#'
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserErrors are the messages of the YAML parser (not its scanner), whose line the
// decoder gives counted from 0.
var parserErrors = []string{"did not find expected ',' or", "did not find expected key", "did not find expected node content",
	"did not find expected '-' indicator", "did not find expected <document start>", "found undefined tag handle"}

// yamlIssue is the issue of a YAML error in a document that starts on line start.
func yamlIssue(err error, start int) issue {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return issue{line: start, reason: "not YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	l, _ := strconv.Atoi(m[1])
	msg = m[2]
	if slices.ContainsFunc(parserErrors, func(p string) bool { return strings.HasPrefix(msg, p) }) {
		l++
	}
	return issue{line: start + l - 1, reason: "not YAML: " + msg}
}

// parseFile reads the documents of one rule file. A document that is not YAML is an
// issue of its own; the others are read.
func parseFile(file string, b []byte) (docs []*document, issues []issue) {
	chunks, starts := splitDocuments(b)
	for i, chunk := range chunks {
		dec := yaml.NewDecoder(bytes.NewReader(chunk))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				is := yamlIssue(err, starts[i])
				// The decoder's lines are approximate: keep them within the document.
				last := starts[i] + max(bytes.Count(bytes.TrimRight(chunk, "\n"), []byte("\n")), 0)
				is.line = min(max(is.line, starts[i]), last)
				issues = append(issues, is)
				break
			}
			shift(&n, starts[i]-1)
			if len(n.Content) == 0 {
				continue
			}
			root := resolve(n.Content[0])
			if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
				continue // an empty document
			}
			docs = append(docs, readDocument(file, root))
		}
	}
	return docs, issues
}

// shift moves the lines of n and its descendants by d.
func shift(n *yaml.Node, d int) {
	if n.Line > 0 {
		n.Line += d
	}
	for _, c := range n.Content {
		shift(c, d)
	}
}

// readDocument reads the attributes of a document.
func readDocument(file string, root *yaml.Node) *document {
	d := &document{file: file, line: root.Line, root: root}
	if root.Kind != yaml.MappingNode {
		d.issues = append(d.issues, issuef(root, "a rule is a map of attributes (title, logsource, detection, ...)"))
		return d
	}
	d.issues = append(d.issues, duplicates(root)...)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		switch k.Value {
		case "title":
			d.title = d.str(k, v)
		case "id":
			d.id = d.str(k, v)
		case "name":
			d.name = d.str(k, v)
		case "status":
			d.status = d.str(k, v)
		case "level":
			d.level = d.str(k, v)
		case "description":
			d.description = d.str(k, v)
		case "tags":
			d.tags = d.strs(k, v)
		case "fields":
			d.fields = d.strs(k, v)
		case "logsource":
			d.logsource = map[string]string{}
			if v.Kind != yaml.MappingNode {
				d.issues = append(d.issues, issuef(v, "logsource is a map (product, service, category)"))
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				d.logsource[v.Content[j].Value] = resolve(v.Content[j+1]).Value
			}
		case "detection":
			d.detection = v
		case "correlation":
			d.correlation = v
		case "generate":
			d.generate = d.boolean(k, v)
		case "action":
			d.issues = append(d.issues, issuef(k, "action: %s (a Sigma v1 rule collection) is not supported; write one rule per document", v.Value))
		}
	}
	if d.correlation != nil {
		// generate may also be written inside the correlation section.
		if c := d.correlation; c.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(c.Content); i += 2 {
				if c.Content[i].Value == "generate" {
					d.generate = d.boolean(c.Content[i], resolve(c.Content[i+1]))
				}
			}
		}
	}
	return d
}

func (d *document) str(k, v *yaml.Node) string {
	if v.Kind != yaml.ScalarNode {
		d.issues = append(d.issues, issuef(v, "%s is a string", k.Value))
		return ""
	}
	if v.ShortTag() == "!!null" {
		return ""
	}
	return strings.TrimSpace(v.Value)
}

func (d *document) strs(k, v *yaml.Node) []string {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.ShortTag() == "!!null" {
			return nil
		}
		return []string{v.Value}
	case yaml.SequenceNode:
		var out []string
		for _, it := range v.Content {
			it = resolve(it)
			if it.Kind != yaml.ScalarNode {
				d.issues = append(d.issues, issuef(it, "%s is a list of strings", k.Value))
				continue
			}
			out = append(out, it.Value)
		}
		return out
	}
	d.issues = append(d.issues, issuef(v, "%s is a list of strings", k.Value))
	return nil
}

func (d *document) boolean(k, v *yaml.Node) bool {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		d.issues = append(d.issues, issuef(v, "%s is true or false", k.Value))
	}
	return b
}

// duplicates returns an issue for each key of the map m that comes again.
func duplicates(m *yaml.Node) []issue {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	var issues []issue
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if first, ok := seen[k.Value]; ok {
			issues = append(issues, issuef(k, "key %q comes twice (first on line %d)", k.Value, first))
			continue
		}
		seen[k.Value] = k.Line
	}
	return issues
}

// cloudTrail reports whether the rule reads AWS CloudTrail.
func (d *document) cloudTrail() bool {
	return strings.EqualFold(d.logsource["product"], "aws") && strings.EqualFold(d.logsource["service"], "cloudtrail")
}

// severity returns the rule's level as a trailstream severity; medium when it has none.
func (d *document) severity() (string, error) {
	switch strings.ToLower(d.level) {
	case "":
		return "medium", nil
	case "informational":
		return "info", nil
	case "low", "medium", "high", "critical":
		return strings.ToLower(d.level), nil
	}
	return "", fmt.Errorf("level %q is none of informational, low, medium, high, critical", d.level)
}

// attr returns the key node of the document's attribute name, for the line of a problem.
func (d *document) attr(name string) *yaml.Node {
	if d.root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(d.root.Content); i += 2 {
			if d.root.Content[i].Value == name {
				return d.root.Content[i]
			}
		}
	}
	return d.root
}
