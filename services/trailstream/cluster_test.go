package main

import (
	"flag"
	"testing"

	"github.com/trailstream/trailstream/pkg/config"
)

// TestClusterOption: every target that migrates ClickHouse takes --clickhouse-cluster, empty
// (one server) by default, and TRAILSTREAM_CLICKHOUSE_CLUSTER sets it.
func TestClusterOption(t *testing.T) {
	for _, name := range []string{"fetcher", "sink", "console", "migrate", "import", "all"} {
		f := flagsOf(t, name).Lookup("clickhouse-cluster")
		if f == nil {
			t.Errorf("%s: no --clickhouse-cluster", name)
			continue
		}
		if f.DefValue != "" {
			t.Errorf("%s: --clickhouse-cluster defaults to %q, want empty", name, f.DefValue)
		}
	}
	t.Setenv("TRAILSTREAM_CLICKHOUSE_CLUSTER", "prod_cluster")
	for _, tg := range targets {
		if tg.name != "migrate" {
			continue
		}
		fs := flag.NewFlagSet(tg.name, flag.ContinueOnError)
		c := config.Default()
		tg.setup(fs, &c)
		if err := config.Parse(fs, nil); err != nil {
			t.Fatal(err)
		}
		if c.ClickHouseCluster != "prod_cluster" {
			t.Errorf("TRAILSTREAM_CLICKHOUSE_CLUSTER=prod_cluster gave cluster %q", c.ClickHouseCluster)
		}
	}
}
