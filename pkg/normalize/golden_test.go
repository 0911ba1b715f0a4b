package normalize

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/geo"
)

// update rewrites the goldens: go test ./pkg/normalize -run TestGolden -update. Read every
// changed golden before committing it: the goldens are the specification of the event model.
var update = flag.Bool("update", false, "rewrite testdata/golden from the normalizer's output")

const (
	corpusDir = "testdata/corpus"
	goldenDir = "testdata/golden"
)

// goldenNormalizer is the normalizer the goldens are made with: environment "test", the
// embedded country data, and alice as the one administrator.
func goldenNormalizer(t testing.TB) *Normalizer {
	t.Helper()
	loc, err := geo.New("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loc.Close() })
	list := new(admins.List)
	list.Set([]string{"alice"})
	return &Normalizer{Environment: "test", Geo: loc, Admins: list}
}

// render is the golden form of a normalized record: the event as AppendJSON writes it, with
// raw replaced by "<raw>", indented by two spaces.
func render(t testing.TB, n *Normalizer, raw []byte) []byte {
	t.Helper()
	e, err := n.Normalize(raw)
	if err != nil {
		t.Fatal(err)
	}
	if e.Raw != string(raw) {
		t.Fatal("raw is not the record as read")
	}
	e.Raw = "<raw>"
	var out bytes.Buffer
	if err := json.Indent(&out, e.AppendJSON(nil), "", "  "); err != nil {
		t.Fatalf("AppendJSON wrote invalid JSON: %v", err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestGolden normalizes every record of the corpus and compares the event with its golden.
func TestGolden(t *testing.T) {
	n := goldenNormalizer(t)
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s (%v)", corpusDir, err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, n, raw)
			golden := filepath.Join(goldenDir, name)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestGolden -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden:\n%s", file, lineDiff(want, got))
			}
		})
	}
}

// TestGoldenPairs checks that every corpus record has a golden and every golden a record.
func TestGoldenPairs(t *testing.T) {
	corpus, golden := jsonNames(t, corpusDir), jsonNames(t, goldenDir)
	for _, c := range corpus {
		if _, found := slices.BinarySearch(golden, c); !found {
			t.Errorf("%s/%s has no golden (go test -run TestGolden -update writes it)", corpusDir, c)
		}
	}
	for _, g := range golden {
		if _, found := slices.BinarySearch(corpus, g); !found {
			t.Errorf("%s/%s has no record in %s", goldenDir, g, corpusDir)
		}
	}
}

// jsonNames returns the sorted names of the .json files in dir.
func jsonNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// lineDiff shows how got differs from want, line by line: "-" for a line of want that got
// lacks, "+" for a line got adds (a longest-common-subsequence diff; goldens are short).
func lineDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	// lcs[i][j] is the length of the longest common subsequence of w[i:] and g[j:].
	lcs := make([][]int, len(w)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			i, j = i+1, j+1
		case j < len(g) && (i == len(w) || lcs[i][j+1] >= lcs[i+1][j]):
			b.WriteString("+" + g[j] + "\n")
			j++
		default:
			b.WriteString("-" + w[i] + "\n")
			i++
		}
	}
	return b.String()
}
