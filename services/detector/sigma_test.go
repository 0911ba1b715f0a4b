package detector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// sigmaRule is a Sigma rule written for the test: eventName is name.
func sigmaRule(id, name string) string {
	return fmt.Sprintf(`title: %[2]s seen
id: %[1]s
status: test
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventSource: iam.amazonaws.com
    eventName: %[2]s
  condition: selection
level: medium
`, id, name)
}

// TestSigmaReload runs the detector with a folder of Sigma rules, adds a rule to the folder
// and sends the process SIGHUP: the new rule runs on the next events, the first one still
// runs, and the built-in rules kept their state across the reload (the user's creation,
// seen before it, and its deletion after it make a short-lived-iam-object detection).
func TestSigmaReload(t *testing.T) {
	c := testenv.Config(t)
	brokers := testenv.Cluster(t, c)
	ctx := context.Background()
	if err := kafkautil.EnsureTopics(ctx, brokers, c.Partitions, c.TopicEvents, c.TopicDetections, c.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const created, deleted = "0e5c6a9e-0000-4000-8000-00000000000a", "0e5c6a9e-0000-4000-8000-00000000000b"
	if err := os.WriteFile(filepath.Join(dir, "created.yml"), []byte(sigmaRule(created, "CreateUser")), 0o644); err != nil {
		t.Fatal(err)
	}
	c.SigmaRules = []string{dir}
	create, del := userEvents(t, c.Environment)
	stop := start(t, c)
	defer stop()

	w := kafkautil.NewWriter(brokers, c.TopicEvents)
	defer w.Close()
	if err := w.WriteMessages(ctx, event(t, create)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	read := func(n int) {
		t.Helper()
		seen = map[string]int{}
		for _, m := range testenv.ReadTopic(t, brokers, c.TopicDetections, n, 30*time.Second) {
			d, err := model.DecodeDetection(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			seen[d.RuleID]++
		}
	}
	read(1)
	if seen["sigma:"+created] != 1 {
		t.Fatalf("detections %v, want the Sigma rule's of the creation", seen)
	}

	if err := os.WriteFile(filepath.Join(dir, "deleted.yml"), []byte(sigmaRule(deleted, "DeleteUser")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the signal is taken before the next batch
	if err := w.WriteMessages(ctx, event(t, del)); err != nil {
		t.Fatal(err)
	}
	read(3) // the topic from its start: the creation's, then the deletion's two
	if seen["sigma:"+created] != 1 || seen["sigma:"+deleted] != 1 || seen["short-lived-iam-object"] != 1 {
		t.Fatalf("detections %v, want the new Sigma rule's of the deletion and the short-lived user", seen)
	}
}
