//go:build faults

package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	binary string // the trailstream binary under test, built by TestMain
	outDir string // $FAULTS_OUT: where the table and the service logs are kept; empty: nowhere
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "trailstream-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "find the module: %v\n", err)
		return 1
	}
	binary = filepath.Join(dir, "trailstream")
	build := exec.Command("go", "build", "-o", binary, "./services/trailstream")
	build.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build trailstream: %v\n", err)
		return 1
	}
	if outDir = os.Getenv("FAULTS_OUT"); outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	code := m.Run()
	writeResults()
	return code
}
