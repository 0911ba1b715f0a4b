package all

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestEmbeddedDropsLoadedEvents runs trailstream all on its embedded broker over a file some
// of whose events the rules hold state from (failed console logins) and checks that, once
// the events are loaded, the broker drops the events topic up to its end: its
// detector commits what it read instead of holding back for a restart to read again, which
// the broker's memory does not outlive.
func TestEmbeddedDropsLoadedEvents(t *testing.T) {
	c := testenv.Config(t)
	_, port, err := net.SplitHostPort(testenv.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	embeddedPort, _ = strconv.Atoi(port)
	t.Cleanup(func() { embeddedPort = EmbeddedPort })
	broker := "127.0.0.1:" + port
	c.KafkaBrokers = "" // the embedded broker
	c.ConsoleAddr, c.MetricsAddr = testenv.FreeAddr(t), testenv.FreeAddr(t)
	testenv.ClickHouse(t, c)
	cl, queueURL := testenv.AWS(t, c)
	file, records := trail(t)
	notice := testenv.PutObject(t, cl, c, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/111122223333_CloudTrail_us-east-1_20261121T1000Z_e.json.gz", file)

	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- Run(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("trailstream all: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("trailstream all did not stop within a minute")
		}
	})
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", 200, 60*time.Second)
	// The metrics are the process's: earlier tests of the package count in them.
	before := metricstest.Read(t, c.MetricsAddr).Sum("trailstream_clickhouse_rows_inserted_total", "table", "events")
	testenv.SendMessage(t, cl, queueURL, notice)
	metricstest.Wait(t, c.MetricsAddr, 60*time.Second, "the file's events in ClickHouse", func(s metricstest.Scrape) bool {
		return s.Sum("trailstream_clickhouse_rows_inserted_total", "table", "events")-before == float64(len(records))
	})
	if s := metricstest.Read(t, c.MetricsAddr); s.Sum("trailstream_detector_state_entries") == 0 {
		t.Fatal("no rule holds state: the file does not test holding back")
	}

	client := &kafka.Client{Addr: kafka.TCP(broker)}
	var reqs []kafka.OffsetRequest
	for p := range c.Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.TopicEvents: reqs}})
		if err != nil {
			t.Fatal(err)
		}
		var held, total int64
		for _, po := range resp.Topics[c.TopicEvents] {
			held += po.LastOffset - po.FirstOffset
			total += po.LastOffset
		}
		if total == int64(len(records)) && held == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the embedded broker still holds %d of the %d events 30 s after they were loaded", held, total)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
