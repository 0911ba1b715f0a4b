package all

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
	"github.com/trailstream/trailstream/services/detector"
	"github.com/trailstream/trailstream/services/fetcher"
	"github.com/trailstream/trailstream/services/normalizer"
	"github.com/trailstream/trailstream/services/sink"
)

// TestServicesWaitForDependencies starts each service while one server it needs is away (its
// address answers nothing): the service must wait instead of exiting, and start working
// once the server is there (a proxy to the real one starts listening on that address).
func TestServicesWaitForDependencies(t *testing.T) {
	tests := []struct {
		service string
		run     func(context.Context, config.Config) error
		away    string // "kafka" or "clickhouse"
		// ready reports whether the service has done its start-up work.
		ready func(t *testing.T, c config.Config, kafkaAddr string) bool
	}{
		{"sink", sink.Run, "clickhouse", tablesExist},
		{"sink", sink.Run, "kafka", topicsExist("cloudtrail.events", "cloudtrail.detections")},
		{"console", console.Run, "clickhouse", consoleAnswers},
		{"normalizer", normalizer.Run, "kafka", topicsExist("cloudtrail.raw", "cloudtrail.events")},
		{"detector", detector.Run, "kafka", topicsExist("cloudtrail.events", "cloudtrail.detections")},
		{"fetcher", fetcher.Run, "kafka", topicsExist("cloudtrail.raw", "cloudtrail.deadletter")},
	}
	for _, tt := range tests {
		t.Run(tt.service+" without "+tt.away, func(t *testing.T) {
			c := testenv.Config(t)
			c.ConsoleAddr = testenv.FreeAddr(t)
			c.AdminUsers = "testdata/no_admins.csv" // the normalizer reads no list from ClickHouse
			testenv.AWS(t, c)
			kafkaAddr := c.KafkaBrokers
			away := testenv.FreeAddr(t)
			target := ""
			switch tt.away {
			case "kafka":
				target, c.KafkaBrokers = c.KafkaBrokers, away
			case "clickhouse":
				target, c.ClickHouseAddr = c.ClickHouseAddr, away
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tt.run(ctx, c) }()
			defer func() {
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("Run after the stop: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Error("Run did not return within 30 s of the stop")
				}
			}()
			select {
			case err := <-done:
				done <- err
				t.Fatalf("%s exited while %s was away: %v", tt.service, tt.away, err)
			case <-time.After(2 * time.Second):
			}
			if tt.ready(t, c, kafkaAddr) {
				t.Fatalf("%s was ready while %s was away", tt.service, tt.away)
			}
			testenv.ProxyAt(t, away, target)
			deadline := time.Now().Add(45 * time.Second)
			for !tt.ready(t, c, kafkaAddr) {
				if time.Now().After(deadline) {
					t.Fatalf("%s not ready 45 s after %s came", tt.service, tt.away)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

func tablesExist(t *testing.T, c config.Config, _ string) bool {
	conn, err := chstore.Open(context.Background(), chstore.Options{Addr: testenv.Config(t).ClickHouseAddr, User: c.ClickHouseUser, Password: c.ClickHousePassword})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ? AND name IN ('events', 'detections')", c.ClickHouseDatabase).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 2 {
		t.Cleanup(func() { _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+c.ClickHouseDatabase) })
	}
	return n == 2
}

func topicsExist(topics ...string) func(*testing.T, config.Config, string) bool {
	return func(t *testing.T, _ config.Config, kafkaAddr string) bool {
		conn, err := kafka.Dial("tcp", kafkaAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		parts, err := conn.ReadPartitions()
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, p := range parts {
			have[p.Topic] = true
		}
		for _, topic := range topics {
			if !have[topic] {
				return false
			}
		}
		return true
	}
}

func consoleAnswers(t *testing.T, c config.Config, _ string) bool {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + c.ConsoleAddr + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
