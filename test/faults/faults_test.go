//go:build faults

package faults

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// The scenarios, in the order of the result table.
const (
	cleanName      = "clean run"
	killFetcher    = "kill -9 fetcher in a file of 20,000+ records"
	killNormalizer = "kill -9 normalizer mid-stream"
	killDetector   = "kill -9 detector mid-stream"
	killSink       = "kill -9 sink mid-stream"
	repeatedKills  = "8 kills, every service in turn, 3 s apart"
	clickhouseDown = "ClickHouse unreachable 60 s"
	s3Faults       = "S3 GETs 5xx 12 s, then stalled 15 s"
	brokerDown     = "Kafka broker unreachable 30 s"
	threeTimes     = "every notification delivered 3 times"
	twoFetchers    = "two fetchers on one queue"
	largeRecords   = "records of 5-20 KB in files of 1,000"
	badInputs      = "bad input"
	deadConsumers  = "kill -9 sink 4 times 18 s apart"
	deadJoiner     = "kill -9 sink again while it waits to join"
)

var scenarioOrder = []string{cleanName, killFetcher, killNormalizer, killDetector, killSink, repeatedKills,
	clickhouseDown, s3Faults, brokerDown, threeTimes, twoFetchers, largeRecords, badInputs, deadConsumers, deadJoiner,
	registryDown}

// settleLimit is how long after a fault's end a scenario's pipeline may take to settle.
const settleLimit = 90 * time.Second

// drive starts a scenario's services, puts its input in and injects its fault. It returns
// when the fault is over, with the time it ended and what went wrong with the fault itself
// (a kill that came too late to land mid-stream is no test).
type drive func(t *testing.T, w *world, in *input) (faultEnd time.Time, problems []string)

// TestFaults runs the clean scenario, then every fault on a world of its own, two at a time;
// each fault compares its detections with those of the clean run of the same input.
func TestFaults(t *testing.T) {
	std := standardInput()
	var clean map[string]bool
	t.Run("clean", func(t *testing.T) {
		o := runScenario(t, cleanName, std, nil, func(t *testing.T, w *world, in *input) (time.Time, []string) {
			w.startAll()
			w.put(in)
			<-w.feed(in, in.objects, 0, 1)
			return time.Now(), nil
		})
		if !t.Failed() {
			clean = map[string]bool{}
			for id, rule := range o.detections {
				if rule == shortLived {
					clean[id] = true
				}
			}
			if len(clean) == 0 {
				t.Errorf("the clean run completed no detection: the input has short-lived IAM objects")
			}
		}
	})
	t.Run("faults", func(t *testing.T) {
		// The longest first: two run at a time.
		for _, c := range []struct {
			name, fault string
			feed        time.Duration   // the input arrives over this long
			kills       []time.Duration // between the start, or the last kill, and each kill of the sink
			joining     bool            // each kill after the first waits until the restarted sink waits in JoinGroup
		}{
			{"dead-consumers", deadConsumers, 70 * time.Second, []time.Duration{10 * time.Second, 18 * time.Second, 18 * time.Second, 18 * time.Second}, false},
			// The restarted sink waits in JoinGroup until the broker drops the dead one, one
			// session timeout after its last heartbeat: killed then, it dies in JoinGroup.
			{"dead-joiner", deadJoiner, 20 * time.Second, []time.Duration{5 * time.Second, 0}, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				testDeadConsumers(t, c.fault, std, clean, c.feed, c.kills, c.joining)
			})
		}
		for _, c := range []struct {
			name, fault string
			drive       drive
		}{
			{"clickhouse-down", clickhouseDown, cut(func(w *world) *testenv.Proxy { return w.ch }, 60*time.Second)},
			{"broker-down", brokerDown, cut(func(w *world) *testenv.Proxy { return w.kafka }, 30*time.Second)},
			{"s3-faults", s3Faults, s3Trouble},
			{"repeated-kills", repeatedKills, repeated},
			{"kill-fetcher", killFetcher, killInFile},
			{"kill-normalizer", killNormalizer, killMidStream("normalizer")},
			{"kill-detector", killDetector, killMidStream("detector")},
			{"kill-sink", killSink, killMidStream("sink")},
			{"three-times", threeTimes, func(t *testing.T, w *world, in *input) (time.Time, []string) {
				w.startAll()
				w.put(in)
				<-w.feed(in, in.objects, 0, 3)
				return time.Now(), nil
			}},
			{"two-fetchers", twoFetchers, func(t *testing.T, w *world, in *input) (time.Time, []string) {
				w.startAll()
				w.start("fetcher")
				w.put(in)
				<-w.feed(in, in.objects, 0, 1)
				return time.Now(), nil
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				runScenario(t, c.fault, std, clean, c.drive)
			})
		}
		t.Run("large-records", func(t *testing.T) {
			t.Parallel()
			in := largeInput()
			runScenario(t, largeRecords, in, map[string]bool{}, func(t *testing.T, w *world, in *input) (time.Time, []string) {
				w.startAll()
				w.put(in)
				<-w.feed(in, in.objects, 0, 1)
				return time.Now(), nil
			}, shortLived)
		})
		t.Run("bad-input", func(t *testing.T) { t.Parallel(); testBadInput(t) })
	})
}

// shortLived is the rule whose detections every scenario compares with the clean run's: the
// input leaves out what would make them depend on the order events arrive in. The other
// rules' detections do depend on it (which event a dedup keeps, which events make up a
// threshold's window), and faults change the order, so they are not compared.
const shortLived = "short-lived-iam-object"

// runScenario runs one scenario on a fresh world and verifies it. want are the expected
// detections (nil for the clean run); rule, when given, is the rule whose detections are
// compared (default shortLived).
func runScenario(t *testing.T, fault string, in *input, want map[string]bool, d drive, rule ...string) outcome {
	w := newWorld(t)
	end, problems := d(t, w, in)
	o := w.settle(settling{want: len(in.ids), detections: want, faultEnd: end, limit: settleLimit})
	e := expectation{in: in, detections: want, faultEnd: end,
		extra: []func(outcome) []string{func(outcome) []string { return problems }}}
	e.rule = shortLived
	if len(rule) > 0 {
		e.rule = rule[0]
	}
	w.verify(fault, o, e)
	return o
}

// killInFile kills the fetcher while it produces the records of the input's largest file,
// then restarts it and sends the other notifications. The restarted fetcher gets the
// notification again once its visibility timeout ends and reads the file again.
func killInFile(t *testing.T, w *world, in *input) (time.Time, []string) {
	w.startAll()
	w.put(in)
	big := in.largest()
	if err := w.notify(in.objects[big]); err != nil {
		t.Fatal(err)
	}
	n := int64(len(in.objects[big].ids))
	if n < 20000 {
		t.Fatalf("the largest file of the input has %d records, not 20,000 or more", n)
	}
	raw := w.cfg.TopicRaw
	if !waitUntil(60*time.Second, func() bool { return w.size(raw) >= n/10 }) {
		return time.Now(), []string{fmt.Sprintf("the fetcher did not produce %d records of the large file within 60 s", n/10)}
	}
	w.kill(w.running("fetcher"))
	at := w.size(raw)
	w.start("fetcher")
	end := time.Now()
	var problems []string
	if at >= n {
		problems = append(problems, fmt.Sprintf("the fetcher had produced all %d records of the file when it was killed: no fault", n))
	}
	t.Logf("fetcher killed after producing %d of the file's %d records", at, n)
	rest := append(in.objects[:big:big], in.objects[big+1:]...)
	<-w.feed(in, rest, 0, 1)
	return end, problems
}

// killMidStream kills svc while the input streams through it, and restarts it.
func killMidStream(svc string) drive {
	return func(t *testing.T, w *world, in *input) (time.Time, []string) {
		w.startAll()
		w.put(in)
		total := int64(len(in.ids))
		// How far the stream got: the events written, or for the sink the rows.
		progress := func() int64 { return w.size(w.cfg.TopicEvents) }
		from := total / 5
		switch svc {
		case "detector":
			from = total / 2 // the detector reads behind the normalizer
		case "sink":
			// What the sink has read, not the rows stored: on a backlog one insert spans
			// many batches (--insert-rows), and its rows appear only once it ended.
			addr := w.metricsAddr(w.running("sink"))
			progress = func() int64 {
				return int64(metricstest.Read(t, addr).Sum("trailstream_stage_records_in_total", "stage", "sink"))
			}
		}
		<-w.feed(in, in.objects, 0, 1)
		if !waitUntil(60*time.Second, func() bool { return progress() >= from }) {
			return time.Now(), []string{fmt.Sprintf("the stream did not reach %d records within 60 s", from)}
		}
		w.kill(w.running(svc))
		if svc == "sink" {
			progress = func() int64 {
				c, _ := w.counts()
				return int64(c.rows)
			}
		}
		at := progress()
		w.start(svc)
		t.Logf("%s killed at %d of %d records", svc, at, total)
		if at >= total {
			return time.Now(), []string{fmt.Sprintf("all %d records had passed when %s was killed: no fault", total, svc)}
		}
		return time.Now(), nil
	}
}

// repeated kills every service in turn, eight kills 3 s apart, each restarted at once,
// while the input arrives over 20 s.
func repeated(t *testing.T, w *world, in *input) (time.Time, []string) {
	w.startAll()
	w.put(in)
	fed := w.feed(in, in.objects, 20*time.Second, 1)
	for i := range 8 {
		time.Sleep(3 * time.Second)
		w.restart(services[i%len(services)])
	}
	end := time.Now()
	<-fed
	return end, nil
}

// cut makes a server unreachable for d while the input arrives: the proxy in front of it
// cuts every connection and refuses new ones.
func cut(proxy func(*world) *testenv.Proxy, d time.Duration) drive {
	return func(t *testing.T, w *world, in *input) (time.Time, []string) {
		w.startAll()
		w.put(in)
		fed := w.feed(in, in.objects, 10*time.Second, 1)
		time.Sleep(2 * time.Second)
		p := proxy(w)
		p.Cut()
		time.Sleep(d)
		c, _ := w.counts()
		p.Restore()
		end := time.Now()
		<-fed
		if int(c.distinct) >= len(in.ids) {
			return end, []string{"every record was in ClickHouse before the server came back: no fault"}
		}
		return end, nil
	}
}

// s3Trouble makes S3 answer object GETs with 500 and 503 for 12 s, then not at all (until
// the client gives up) for 15 s, while the input arrives.
func s3Trouble(t *testing.T, w *world, in *input) (time.Time, []string) {
	w.startAll()
	w.put(in)
	w.s3.set(s3Errors)
	fed := w.feed(in, in.objects, 8*time.Second, 1)
	time.Sleep(12 * time.Second)
	w.s3.set(s3Stall)
	time.Sleep(15 * time.Second)
	w.s3.set(s3Pass)
	end := time.Now()
	<-fed
	var problems []string
	if w.s3.errors.Load() == 0 || w.s3.stalls.Load() == 0 {
		problems = append(problems, fmt.Sprintf("S3 failed %d GETs and stalled %d: the fault did not hit both ways", w.s3.errors.Load(), w.s3.stalls.Load()))
	}
	t.Logf("S3 failed %d GETs with 5xx and stalled %d", w.s3.errors.Load(), w.s3.stalls.Load())
	return end, problems
}

// deadConsumerBound is how soon after the last restart every partition must be read to
// its end again. A sink killed with kill -9 leaves a member that no longer heartbeats: the
// broker drops it one session timeout (10 s, pkg/kafkautil/reader.go) after its last
// heartbeat, and the live sink's readers rejoin within their heartbeat interval (1 s). A
// member killed while it waited in JoinGroup has no session timer in the embedded broker;
// its reaper removes it once it has been silent for the session timeout plus the rebalance
// timeout plus kafka-go's 5 s request timeout (25 s), checking every second. With a few
// seconds for the rejoin, the fetch and the commit that is 30 s; 40 s leaves a margin. With
// kafka-go's defaults (30 s session and rebalance timeouts) and no reaper, a dead member
// kept 3 of 6 partitions for minutes.
const deadConsumerBound = 40 * time.Second

// testDeadConsumers kills the sink after each of the given pauses, restarting it at once,
// while the input arrives over feed, and checks that every partition is read to its end
// again soon after the last restart, then that nothing was lost or counted twice.
func testDeadConsumers(t *testing.T, fault string, in *input, clean map[string]bool, feed time.Duration, kills []time.Duration, joining bool) {
	w := newWorld(t)
	w.startAll()
	w.put(in)
	fed := w.feed(in, in.objects, feed, 1)
	var problems []string
	group := w.cfg.GroupPrefix + "-sink-events"
	for i, d := range kills {
		time.Sleep(d)
		if joining && i > 0 && !poll(20*time.Second, func() bool { return w.joining(group) }) {
			problems = append(problems, "the restarted sink did not join "+group+" within 20 s: "+w.members())
		}
		w.restart("sink")
	}
	end := time.Now()
	<-fed
	if poll(deadConsumerBound, func() bool {
		c, err := w.counts()
		return err == nil && int(c.distinct) >= len(in.ids) && len(w.behind()) == 0
	}) {
		t.Logf("every partition read to its end %.1f s after the last restart", time.Since(end).Seconds())
	} else {
		problems = append(problems, fmt.Sprintf("partitions not read to their end %s after the last restart: %s; groups:%s",
			deadConsumerBound, strings.Join(w.behind(), "; "), w.members()))
	}
	o := w.settle(settling{want: len(in.ids), detections: clean, faultEnd: end, limit: settleLimit})
	for p, n := range w.ends(w.cfg.TopicEvents) {
		if n == 0 {
			problems = append(problems, fmt.Sprintf("no event in partition %d of %s: the input does not test every partition", p, w.cfg.TopicEvents))
		}
	}
	e := expectation{in: in, detections: clean, rule: shortLived, faultEnd: end, extra: []func(outcome) []string{func(outcome) []string { return problems }}}
	w.verify(fault, o, e)
}

// testBadInput puts bad input between good records: every good record must arrive, and
// every bad item must be on the dead-letter topic with its file, unless delivering it is
// also a documented outcome (then it is delivered once or dead-lettered, never lost).
func testBadInput(t *testing.T) {
	in, bad, pair := badInput(t)
	// A notification that cannot be parsed is dead-lettered once SQS handed it out this often.
	w := newWorld(t, "TRAILSTREAM_MAX_RECEIVE_COUNT=2")
	w.startAll()
	w.put(in)
	<-w.feed(in, in.objects, 0, 1)
	end := time.Now()
	// The bad notifications come back after the visibility timeout (10 s) until their second
	// receive: settled means their dead letters are there, or 35 s without a change.
	noted := func() bool {
		n := 0
		for _, d := range w.deadLetters() {
			if d.Key == "" && slices.Contains(in.notes, d.Payload) {
				n++
			}
		}
		return n >= len(in.notes)
	}
	o := w.settle(settling{want: len(in.ids), detections: map[string]bool{pair: true}, queueLeft: len(in.notes), faultEnd: end,
		limit: settleLimit, idle: 35 * time.Second, complete: noted})
	// A record without eventID may be kept under an ID derived from its bytes.
	optional := maps.Clone(in.optional)
	derived := w.eventIDsWith(noEventIDMarker)
	for _, id := range derived {
		optional[id] = true
	}
	in2 := *in
	in2.optional = optional
	letters := w.deadLetters()
	check := func(outcome) []string {
		var problems []string
		used := make([]bool, len(letters))
		for _, b := range bad {
			var found []deadLetter
			for i, d := range letters {
				if b.key != "" && d.Key == b.key || b.key == "" && d.Key == "" && d.Payload == b.note {
					found = append(found, d)
					used[i] = true
				}
			}
			delivered := b.id != "" && o.events[b.id] > 0
			if b.what == "a record without eventID" {
				delivered = len(derived) > 0
			}
			switch {
			case delivered && !b.deliverable:
				problems = append(problems, fmt.Sprintf("%s: stored in ClickHouse", b.what))
			case len(found) == 0 && !delivered:
				problems = append(problems, fmt.Sprintf("%s: neither on the dead-letter topic (with bucket %s and key %s) nor delivered", b.what, w.cfg.Bucket, b.key))
			}
			for _, d := range found {
				if b.key != "" && d.Bucket != w.cfg.Bucket {
					problems = append(problems, fmt.Sprintf("%s: dead letter names bucket %q, not %q: %s", b.what, d.Bucket, w.cfg.Bucket, d.raw))
				}
				if b.index >= 0 && d.RecordIndex != nil && *d.RecordIndex != b.index {
					problems = append(problems, fmt.Sprintf("%s: dead letter says record_index %d, not %d: %s", b.what, *d.RecordIndex, b.index, d.raw))
				}
			}
			t.Logf("%s: %d dead letters, delivered %v", b.what, len(found), delivered)
		}
		for i, d := range letters {
			if !used[i] {
				problems = append(problems, "a dead letter for no bad item (good input dead-lettered, or its file or notification not named): "+d.raw)
			}
		}
		if len(derived) > 1 {
			problems = append(problems, fmt.Sprintf("the record without eventID is in ClickHouse under %d IDs: %v", len(derived), derived))
		}
		return problems
	}
	w.verify(badInputs, o, expectation{in: &in2, detections: map[string]bool{pair: true}, rule: shortLived, faultEnd: end,
		extra: []func(outcome) []string{check}})
}

// eventIDsWith returns the IDs of the events whose raw record contains s.
func (w *world) eventIDsWith(s string) []string {
	rows, err := w.db.Query(context.Background(), "SELECT DISTINCT event_id FROM "+w.cfg.ClickHouseDatabase+".events WHERE position(raw, ?) > 0", s)
	if err != nil {
		w.t.Fatalf("look for %q: %v", s, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}
