package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// File is the --sources file:
//
//	sources:
//	  - name: prod                  # the source's id; letters, digits, . _ -
//	    bucket: acme-cloudtrail
//	    prefix: trails/prod         # the trail's S3 key prefix, if any
//	    region: eu-west-1           # the bucket's region; default --aws-region
//	    role_arn: arn:aws:iam::111122223333:role/trailstream-read
//	    external_id: 4c1d…          # with role_arn
//	    environment: prod           # default --environment
//	    queue: acme-cloudtrail-new  # SQS queue notified of new files; omit to scan only
//	    enabled: true               # default true
type File struct {
	Sources []fileSource `yaml:"sources"`
}

type fileSource struct {
	Source  `yaml:",inline"`
	Enabled *bool `yaml:"enabled"`
}

// Load reads the sources file at path.
func Load(path string) ([]Source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sources file: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("sources file %s: %w", path, err)
	}
	return s, nil
}

// Parse reads a sources file. Every source is checked; an error gives the line of the source
// it is about. A name is the source's ID, so it must be unique.
func Parse(b []byte) ([]Source, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err // yaml's errors name the line
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	lines := itemLines(&root)
	var (
		out  []Source
		errs []error
		seen = map[string]int{}
	)
	for i, fs := range f.Sources {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		s := fs.Source
		s.ID, s.Origin, s.Enabled = s.Name, OriginFile, fs.Enabled == nil || *fs.Enabled
		if err := s.Check(); err != nil {
			errs = append(errs, fmt.Errorf("line %d: source %d: %w", line, i+1, err))
			continue
		}
		if prev, dup := seen[s.ID]; dup {
			errs = append(errs, fmt.Errorf("line %d: source %q is defined again (first on line %d)", line, s.ID, prev))
			continue
		}
		seen[s.ID] = line
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// itemLines returns the line of each item of the sources list.
func itemLines(root *yaml.Node) []int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "sources" && n.Content[i+1].Kind == yaml.SequenceNode {
			var lines []int
			for _, item := range n.Content[i+1].Content {
				lines = append(lines, item.Line)
			}
			return lines
		}
	}
	return nil
}
