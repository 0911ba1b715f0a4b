package rules

import "embed"

// Cases are the built-in rules' test cases (`trailstream rules test` with no path runs
// them): testdata/cases/<rule_id>.yml, in the format of package ruletest.
//
//go:embed testdata/cases
var Cases embed.FS

// CasesDir is the folder of Cases that holds the files.
const CasesDir = "testdata/cases"
