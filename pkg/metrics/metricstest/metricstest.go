// Package metricstest reads a trailstream metrics endpoint the way Prometheus does, over
// HTTP in the text exposition format, for the tests of the services that serve one.
package metricstest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/metrics"
)

// Sample is one line of an exposition: a name, its labels and its value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Scrape is what one GET /metrics answered.
type Scrape struct {
	Samples []Sample
	Types   map[string]string // family name → counter, gauge, histogram, ...
}

// Get returns the answer of GET http://addr/path: its status and body. It fails the test
// when the endpoint cannot be reached.
func Get(t testing.TB, addr, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	return res.StatusCode, string(b)
}

// Read scrapes http://addr/metrics.
func Read(t testing.TB, addr string) Scrape {
	t.Helper()
	status, body := Get(t, addr, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d %s", addr, status, body)
	}
	s, err := Parse(body)
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", addr, err)
	}
	return s
}

// Local scrapes this process's metrics.Registry, as an endpoint serves it, registering the
// groups first: for the tests of the packages that record metrics without serving them.
func Local(t testing.TB, groups ...*metrics.Group) Scrape {
	t.Helper()
	metrics.Register(groups...)
	srv := httptest.NewServer(metrics.NewEndpoint(nil).Handler())
	defer srv.Close()
	return Read(t, strings.TrimPrefix(srv.URL, "http://"))
}

// Wait scrapes addr until cond holds of the scrape, for up to timeout; it fails the test
// with what the last scrape said of what when it does not.
func Wait(t testing.TB, addr string, timeout time.Duration, what string, cond func(Scrape) bool) Scrape {
	t.Helper()
	return poll(t, timeout, what, func() Scrape { return Read(t, addr) }, cond)
}

// WaitLocal is Wait for Local, registering the groups first.
func WaitLocal(t testing.TB, timeout time.Duration, what string, cond func(Scrape) bool, groups ...*metrics.Group) Scrape {
	t.Helper()
	return poll(t, timeout, what, func() Scrape { return Local(t, groups...) }, cond)
}

func poll(t testing.TB, timeout time.Duration, what string, read func() Scrape, cond func(Scrape) bool) Scrape {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := read()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; the metrics say:\n%s", what, timeout, s.Lines("trailstream_"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Parse reads an exposition in the text format.
func Parse(text string) (Scrape, error) {
	s := Scrape{Types: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			s.Types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		sm, err := parseSample(line)
		if err != nil {
			return Scrape{}, fmt.Errorf("line %d %q: %w", n, line, err)
		}
		s.Samples = append(s.Samples, sm)
	}
	return s, sc.Err()
}

func parseSample(line string) (Sample, error) {
	sm := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return sm, fmt.Errorf("no value")
	}
	sm.Name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, ", ")
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return sm, fmt.Errorf("bad labels")
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			for {
				if line == "" {
					return sm, fmt.Errorf("unterminated label value")
				}
				c := line[0]
				line = line[1:]
				if c == '"' {
					break
				}
				if c == '\\' && line != "" {
					switch line[0] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(line[0])
					}
					line = line[1:]
					continue
				}
				val.WriteByte(c)
			}
			sm.Labels[key] = val.String()
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return sm, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return sm, err
	}
	sm.Value = v
	return sm, nil
}

// matches reports whether the sample has every label of pairs (name, value, name, value, ...).
func (sm Sample) matches(pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		if sm.Labels[pairs[i]] != pairs[i+1] {
			return false
		}
	}
	return true
}

// Sum returns the sum of the samples named name with the labels of pairs (name, value, ...):
// a counter's value, or summed over the labels not given.
func (s Scrape) Sum(name string, pairs ...string) float64 {
	var sum float64
	for _, sm := range s.Samples {
		if sm.Name == name && sm.matches(pairs) {
			sum += sm.Value
		}
	}
	return sum
}

// Has reports whether a sample named name with the labels of pairs is there.
func (s Scrape) Has(name string, pairs ...string) bool {
	for _, sm := range s.Samples {
		if sm.Name == name && sm.matches(pairs) {
			return true
		}
	}
	return false
}

// Family reports whether the scrape declares the family name (a # TYPE line).
func (s Scrape) Family(name string) bool {
	_, ok := s.Types[name]
	return ok
}

// Lines returns the samples whose names start with prefix, one a line, for messages.
func (s Scrape) Lines(prefix string) string {
	var out []string
	for _, sm := range s.Samples {
		if !strings.HasPrefix(sm.Name, prefix) {
			continue
		}
		keys := make([]string, 0, len(sm.Labels))
		for k := range sm.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ls []string
		for _, k := range keys {
			ls = append(ls, k+"="+strconv.Quote(sm.Labels[k]))
		}
		out = append(out, fmt.Sprintf("%s{%s} %g", sm.Name, strings.Join(ls, ","), sm.Value))
	}
	return strings.Join(out, "\n")
}

// WaitStatus GETs http://addr/path until it answers want, for up to timeout, and returns the
// body; it fails the test with the last answer when it does not.
func WaitStatus(t testing.TB, addr, path string, want int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		client := &http.Client{Timeout: 10 * time.Second}
		res, err := client.Get("http://" + addr + path)
		var status int
		var body string
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			status, body = res.StatusCode, string(b)
			if status == want {
				return body
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s%s: want %d within %s; last answer %d %q (%v)", addr, path, want, timeout, status, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
