package all

import (
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestConsumersCommit runs the pipeline on a file and checks that every group consumers
// names for a topic has committed in it: a wrong name would keep the embedded broker from
// ever dropping that topic's messages (Trim drops only what every listed group committed).
func TestConsumersCommit(t *testing.T) {
	p := runPipeline(t)
	kc, err := kafkautil.NewCluster(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	listed := consumers(p.cfg)
	if len(listed[p.cfg.TopicDetections]) != 2 {
		t.Errorf("detections are read by %q, want the sink and the notifier (a webhook is configured)", listed[p.cfg.TopicDetections])
	}
	for topic, groups := range listed {
		for _, g := range groups {
			deadline := time.Now().Add(15 * time.Second)
			for testenv.Committed(t, kc, g, topic) == 0 {
				if time.Now().After(deadline) {
					t.Errorf("group %s has committed nothing in %s: the services' groups are named otherwise", g, topic)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}
