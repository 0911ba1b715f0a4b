//go:build faults

package faults

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// expectation is what must have become of a scenario's input.
type expectation struct {
	in *input
	// detections are the detection IDs expected, from the clean run of the same input or
	// written down; nil when there is nothing to compare with (the clean run itself).
	detections map[string]bool
	// rule, when set, limits the comparison of detections to that rule's.
	rule     string
	faultEnd time.Time
	// extra are checks of the scenario's own; each returns the problems it found.
	extra []func(o outcome) []string
}

// row is one line of the result table.
type row struct {
	fault       string
	recordsIn   int
	good        int
	final       uint64
	distinct    int
	redelivered int
	twice       int
	lost        int
	detections  string
	recovery    string
	ok          bool
}

var results struct {
	sync.Mutex
	rows []row
}

// verify checks o against e, records the scenario's row and fails the test with what went
// wrong and the end of every service's log.
func (w *world) verify(fault string, o outcome, e expectation) {
	w.t.Helper()
	var problems []string
	want := map[string]bool{}
	for _, id := range e.in.ids {
		want[id] = true
	}
	var lost []string
	for id := range want {
		if o.events[id] == 0 {
			lost = append(lost, id)
		}
	}
	var unexpected []string
	arrived := 0
	for id := range o.events {
		switch {
		case want[id]:
			arrived++
		case e.in.optional[id]:
			arrived++
		default:
			unexpected = append(unexpected, id)
		}
	}
	if !o.settled {
		problems = append(problems, fmt.Sprintf("the pipeline did not settle within %s after the fault ended", o.waited.Round(time.Second)))
	}
	if len(lost) > 0 {
		problems = append(problems, fmt.Sprintf("lost %d of %d good records: %s", len(lost), len(want), w.where(e.in, lost)))
	}
	if len(unexpected) > 0 {
		sort.Strings(unexpected)
		problems = append(problems, fmt.Sprintf("%d event IDs in ClickHouse that the input does not have, e.g. %s",
			len(unexpected), strings.Join(unexpected[:min(5, len(unexpected))], ", ")))
	}
	twice := int(o.final) - len(o.events)
	if twice != 0 {
		problems = append(problems, fmt.Sprintf("counted twice: SELECT count() FROM events FINAL is %d, but %d distinct event IDs arrived",
			o.final, len(o.events)))
	}
	dets := "-"
	if e.detections != nil {
		got := map[string]bool{}
		for id, rule := range o.detections {
			if e.rule == "" || rule == e.rule {
				got[id] = true
			}
		}
		var missing, extra []string
		for id := range e.detections {
			if !got[id] {
				missing = append(missing, id)
			}
		}
		for id := range got {
			if !e.detections[id] {
				extra = append(extra, id)
			}
		}
		dets = fmt.Sprintf("%d of %d", len(got)-len(extra), len(e.detections))
		if len(extra) > 0 {
			dets += fmt.Sprintf(" +%d", len(extra))
		}
		if len(missing) > 0 || len(extra) > 0 {
			problems = append(problems, fmt.Sprintf("detections differ from the clean run: %d expected, %d got; missing %v (%d of them in %s: stored by the sink no more), not expected %v",
				len(e.detections), len(got), first(missing, 5), w.published(w.cfg.TopicDetections, missing), w.cfg.TopicDetections, first(extra, 5)))
		}
	} else if fault == cleanName {
		dets = fmt.Sprintf("%d (the baseline)", len(o.detections))
	} else {
		problems = append(problems, "no detections to compare with: the clean run failed")
	}
	for _, check := range e.extra {
		problems = append(problems, check(o)...)
	}
	problems = append(problems, w.crashed()...)
	r := row{fault: fault, recordsIn: e.in.records, good: len(want), final: o.final, distinct: len(o.events),
		redelivered: int(o.rows) - len(o.events), twice: max(0, int(o.final)-arrived), lost: len(lost),
		detections: dets, recovery: fmt.Sprintf("%.1f", o.recovery(e.faultEnd).Seconds()), ok: len(problems) == 0}
	if !o.settled {
		r.recovery = "> " + fmt.Sprintf("%.0f", o.waited.Seconds())
	}
	results.Lock()
	results.rows = append(results.rows, r)
	results.Unlock()
	w.t.Logf("%s: %d records in, %d good, rows %d (FINAL %d, distinct %d), lost %d, detections %s, recovery %s s",
		fault, r.recordsIn, r.good, o.rows, o.final, r.distinct, r.lost, dets, r.recovery)
	if len(problems) > 0 {
		w.t.Errorf("%s:\n  - %s\n  consumers behind: %v\n  queue: %d notifications\n  groups:%s%s",
			fault, strings.Join(problems, "\n  - "), o.behind, o.queue, o.members, w.logs(15))
	}
}

func first(xs []string, n int) []string {
	sort.Strings(xs)
	return xs[:min(n, len(xs))]
}

// where names the files the given event IDs are in, with how many of each.
func (w *world) where(in *input, ids []string) string {
	lost := map[string]bool{}
	for _, id := range ids {
		lost[id] = true
	}
	var parts []string
	for _, o := range in.objects {
		n := 0
		for _, id := range o.ids {
			if lost[id] {
				n++
			}
		}
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d in %s", n, len(o.ids), filepath.Base(o.key)))
		}
	}
	return fmt.Sprintf("%s (e.g. %s)", strings.Join(parts, ", "), strings.Join(first(ids, 3), ", "))
}

// deadLetter is an entry of the dead-letter topic, read as README.md documents it.
type deadLetter struct {
	Stage           string `json:"stage"`
	Reason          string `json:"reason"`
	Bucket          string `json:"bucket"`
	Key             string `json:"key"`
	RecordIndex     *int   `json:"record_index"`
	MessageID       string `json:"message_id"`
	SourceTopic     string `json:"source_topic"`
	Payload         string `json:"payload"`
	PayloadEncoding string `json:"payload_encoding"`
	raw             string
}

func parseDeadLetter(b []byte) deadLetter {
	var d deadLetter
	if err := json.Unmarshal(b, &d); err != nil {
		d.Reason = "not JSON: " + err.Error()
	}
	if d.PayloadEncoding == "base64" {
		if p, err := base64.StdEncoding.DecodeString(d.Payload); err == nil {
			d.Payload = string(p)
		}
	}
	d.raw = string(b)
	if len(d.raw) > 300 {
		d.raw = d.raw[:300] + "…"
	}
	return d
}

// printResults writes the result table.
func printResults(w io.Writer) {
	results.Lock()
	defer results.Unlock()
	fmt.Fprintln(w, "| fault | records in | good | rows FINAL | uniqExact | redelivered rows | counted twice | lost | detections vs clean | recovery s | result |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
	rows := slices.Clone(results.rows)
	order := map[string]int{}
	for i, s := range scenarioOrder {
		order[s] = i
	}
	sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].fault] < order[rows[j].fault] })
	for _, r := range rows {
		result := "ok"
		if !r.ok {
			result = "FAIL"
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %d | %s | %s | %s |\n", r.fault, r.recordsIn, r.good, r.final,
			r.distinct, r.redelivered, r.twice, r.lost, r.detections, r.recovery, result)
	}
}

// writeResults prints the table and writes it to $FAULTS_OUT/faults.md when that is set.
func writeResults() {
	fmt.Println()
	printResults(os.Stdout)
	if outDir == "" {
		return
	}
	f, err := os.Create(filepath.Join(outDir, "faults.md"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "# Fault suite, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	printResults(f)
}
