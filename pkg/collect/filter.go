package collect

import (
	"fmt"
	"path"
	"strings"
	"sync/atomic"
)

// Filter drops records by event source and name before they reach Kafka: a pattern is
// "<source>:<name>" with shell globs (path.Match) on each side, the source written without
// ".amazonaws.com" — kms:Decrypt, s3:Get*, *:Describe*. Each pattern counts what it dropped.
// A nil Filter drops nothing.
type Filter struct {
	patterns []pattern
}

type pattern struct {
	text, source, name string
	dropped            atomic.Int64
}

// NewFilter returns the filter of patterns; nil when there are none.
func NewFilter(patterns []string) (*Filter, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	f := &Filter{patterns: make([]pattern, len(patterns))}
	for i, p := range patterns {
		src, name, ok := strings.Cut(p, ":")
		if !ok || src == "" || name == "" {
			return nil, fmt.Errorf("--exclude %q: want <event source>:<event name>, e.g. kms:Decrypt or s3:Get*", p)
		}
		src = strings.TrimSuffix(src, ".amazonaws.com")
		for _, g := range []string{src, name} {
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("--exclude %q: %w", p, err)
			}
		}
		f.patterns[i].text, f.patterns[i].source, f.patterns[i].name = p, src, name
	}
	return f, nil
}

var (
	eventSourceKey = []byte(`"eventSource"`)
	eventNameKey   = []byte(`"eventName"`)
)

// Drop reports whether the raw record rec matches a pattern, and counts it for the first
// pattern it matches. A record whose source or name cannot be read is kept.
func (f *Filter) Drop(rec []byte) bool {
	if f == nil {
		return false
	}
	src, ok := stringField(rec, eventSourceKey)
	if !ok {
		return false
	}
	name, ok := stringField(rec, eventNameKey)
	if !ok {
		return false
	}
	s := strings.TrimSuffix(string(src), ".amazonaws.com")
	for i := range f.patterns {
		p := &f.patterns[i]
		if ok, _ := path.Match(p.source, s); !ok {
			continue
		}
		if ok, _ := path.Match(p.name, string(name)); ok {
			p.dropped.Add(1)
			return true
		}
	}
	return false
}

// Counts returns how many records each pattern dropped, by pattern.
func (f *Filter) Counts() map[string]int64 {
	out := map[string]int64{}
	if f == nil {
		return out
	}
	for i := range f.patterns {
		out[f.patterns[i].text] = f.patterns[i].dropped.Load()
	}
	return out
}
