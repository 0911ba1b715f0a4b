//go:build faults

package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/registry/registrytest"
)

const registryDown = "schema registry down at start 15 s, and 15 s mid-run with the sink and detector killed"

// TestRegistryUnreachable runs the pipeline with --schema-registry-url while the registry
// is down: at start (the normalizer cannot register the event schema, so nothing may be
// written, framed or not), then again mid-run, when a sink and a detector restarted with
// kill -9 must resolve the schema IDs of the topics before they can decode anything. Every
// record must reach ClickHouse once, the detections must be those of a run without
// registry, no message may be dead-lettered for the outage, and the topics must hold the
// Confluent wire format.
func TestRegistryUnreachable(t *testing.T) {
	std := standardInput()
	var clean map[string]bool
	var cleanDead int64
	t.Run("clean", func(t *testing.T) {
		w := newWorld(t)
		w.startAll()
		w.put(std)
		<-w.feed(std, std.objects, 0, 1)
		o := w.settle(settling{want: len(std.ids), faultEnd: time.Now(), limit: settleLimit})
		w.verify(cleanName, o, expectation{in: std, faultEnd: time.Now(), rule: shortLived})
		clean = map[string]bool{}
		for id, rule := range o.detections {
			if rule == shortLived {
				clean[id] = true
			}
		}
		cleanDead = w.size(w.cfg.TopicDeadLetter)
	})
	if t.Failed() || len(clean) == 0 {
		t.Fatal("the clean run failed or completed no detection: nothing to compare with")
	}
	t.Run("registry-down", func(t *testing.T) {
		reg := registrytest.New()
		srv, err := registrytest.Start(reg, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := srv.Addr()
		_ = srv.Close()
		w := newWorld(t, "TRAILSTREAM_SCHEMA_REGISTRY_URL=http://"+addr)
		var problems []string
		w.startAll()
		w.put(std)
		// The input arrives over 45 s: some of it during each outage.
		fed := w.feed(std, std.objects, 45*time.Second, 1)
		time.Sleep(15 * time.Second)
		if n := w.size(w.cfg.TopicEvents); n != 0 {
			problems = append(problems, fmt.Sprintf("%d events were written while the registry was down at start", n))
		}
		if w.size(w.cfg.TopicRaw) == 0 {
			problems = append(problems, "the fetcher wrote no raw record while the registry was down: it should not wait for it")
		}
		if srv, err = registrytest.Restart(reg, addr); err != nil {
			t.Fatal(err)
		}
		total := len(std.ids)
		// Mid-stream for every consumer: 15 s of work after the registry came back (the
		// producers try again at most 10 s apart), the detector having made detections and
		// the sink loaded rows.
		time.Sleep(15 * time.Second)
		if c, _ := w.counts(); c.distinct == 0 || w.size(w.cfg.TopicDetections) == 0 {
			problems = append(problems, fmt.Sprintf("15 s after the registry came back: %d records in ClickHouse, %d detections", c.distinct, w.size(w.cfg.TopicDetections)))
		}
		_ = srv.Close()
		w.restart("sink")
		w.restart("detector")
		time.Sleep(3 * time.Second)
		before, _ := w.counts()
		time.Sleep(12 * time.Second)
		c, _ := w.counts()
		// The restarted sink cannot decode a framed message before the registry answers.
		if c.rows != before.rows && int(before.distinct) < total {
			problems = append(problems, fmt.Sprintf("rows went from %d to %d while the registry was down after the sink's restart", before.rows, c.rows))
		}
		if srv, err = registrytest.Restart(reg, addr); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		end := time.Now()
		<-fed
		if int(c.distinct) >= total {
			problems = append(problems, "every record was in ClickHouse before the registry came back mid-run: no fault")
		}
		o := w.settle(settling{want: total, detections: clean, faultEnd: end, limit: settleLimit})
		framing := func(outcome) []string {
			var out []string
			for _, topic := range []string{w.cfg.TopicEvents, w.cfg.TopicDetections} {
				if b := w.firstMessage(topic); len(b) < 5 || b[0] != 0 {
					out = append(out, fmt.Sprintf("%s does not hold the Confluent wire format: first message % x", topic, b[:min(len(b), 5)]))
				}
			}
			if n := w.size(w.cfg.TopicDeadLetter); n != cleanDead {
				out = append(out, fmt.Sprintf("%d dead letters, the clean run had %d", n, cleanDead))
			}
			if got := reg.Subjects(); len(got) != 2 {
				out = append(out, fmt.Sprintf("subjects registered: %v, want the events' and the detections'", got))
			}
			return out
		}
		w.verify(registryDown, o, expectation{in: std, detections: clean, rule: shortLived, faultEnd: end,
			extra: []func(outcome) []string{func(outcome) []string { return problems }, framing}})
	})
}

// firstMessage returns the value of the first message of topic found in its partitions.
func (w *world) firstMessage(topic string) []byte {
	for p := range partitions {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := w.kc.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: p, Offset: 0, MaxBytes: 1 << 20})
		if err == nil && resp.Error == nil && resp.Records != nil {
			if r, err := resp.Records.ReadRecord(); err == nil && r.Value != nil {
				b := make([]byte, 16)
				n, _ := r.Value.Read(b)
				cancel()
				return b[:n]
			}
		}
		cancel()
	}
	return nil
}
