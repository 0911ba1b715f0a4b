package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/pkg/rules/ruletest"
	"github.com/trailstream/trailstream/pkg/rules/sigma"
	"github.com/trailstream/trailstream/services/detector"
)

// rulesList is `trailstream rules list`: one line per rule the rules config enables: id,
// severity, source, tags and the first sentence of its description.
func rulesList(c config.Config, stdout io.Writer) error {
	rs, err := detector.Rules(c)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RULE\tSEVERITY\tSOURCE\tTAGS\tDESCRIPTION")
	for _, r := range rs {
		m := r.Info()
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Severity, m.Source, strings.Join(m.Tags, ","), firstSentence(m.Description))
	}
	return w.Flush()
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// rulesTest is `trailstream rules test [PATH ...]`: it runs the rule test files at the
// paths (files or folders), or the built-in rules' own cases when there are none, prints a
// PASS or FAIL line per case and a last line "N passed, N failed", and fails when a case
// failed.
func rulesTest(_ context.Context, c config.Config, paths []string, rule string, failuresOnly bool, stdout io.Writer) error {
	var (
		cases []ruletest.Case
		err   error
	)
	if len(paths) == 0 {
		cases, err = ruletest.Load(rules.Cases, rules.CasesDir)
	} else {
		cases, err = ruletest.LoadFiles(paths...)
	}
	if err != nil {
		return err
	}
	// A case's rules: the built-in ones and the Sigma rules of --sigma-rules, with the
	// case's rules config.
	newRules := func(rc *rules.Config) ([]rules.Rule, error) {
		builtin, err := rules.New(rc)
		if err != nil {
			return nil, err
		}
		sig, _, err := detector.SigmaRules(c, rc, slog.New(slog.DiscardHandler))
		return append(builtin, sig...), err
	}
	if failed := ruletest.Report(stdout, ruletest.Run(cases, newRules, ruletest.Options{Rule: rule}), failuresOnly); failed > 0 {
		return fmt.Errorf("%d rule test cases failed", failed)
	}
	return nil
}

// rulesCheck is `trailstream rules check PATH ...`: it loads the Sigma rules at the paths (and
// --sigma-rules) and prints the report: a line per rule that did not load (file:line: rule:
// reason) and a summary. It fails when a CloudTrail rule did not load.
func rulesCheck(c config.Config, paths []string, stdout io.Writer) error {
	paths = append(paths, c.SigmaRules...)
	if len(paths) == 0 {
		return errors.New("rules check: no folder or file of Sigma rules given")
	}
	rc, err := detector.RulesConfig(c)
	if err != nil {
		return err
	}
	_, rep, err := sigma.Load(paths, detector.SigmaOptions(c, rc))
	if err != nil {
		return err
	}
	if err := rep.Write(stdout); err != nil {
		return err
	}
	if rep.Failed() {
		return fmt.Errorf("%d problems in the Sigma rules", len(rep.Problems))
	}
	return nil
}
