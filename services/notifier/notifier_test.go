package notifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestDelivery runs the notifier against a webhook that fails its first tries (500 twice,
// 429 with Retry-After: 1, dropped connections) before it accepts: every detection arrives
// once, in the order of its account's partition, with its headers and as JSON; the 429's
// Retry-After is waited for; a message that is no detection is dead-lettered; the offsets
// are committed and the ledger topic, compacted, has one record per detection.
func TestDelivery(t *testing.T) {
	script := []func(w http.ResponseWriter){
		status(500), status(500),
		func(w http.ResponseWriter) { w.Header().Set("Retry-After", "1"); w.WriteHeader(429) },
		// net/http sends a request with an Idempotency-Key again by itself when a kept-alive
		// connection is dropped, but not when a new one is: the second drop is the notifier's.
		drop, drop,
	}
	hook := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n < len(script) {
			script[n](w)
			return true
		}
		return false
	})
	c := setup(t, hook.URL)
	var dets []*model.Detection
	for i := range 6 {
		dets = append(dets, detection(fmt.Sprintf("d%d", i), []string{"111111111111", "222222222222"}[i%2], "high"))
	}
	stop := start(t, c)
	defer stop()
	publish(t, c, dets...)
	publishRaw(t, c, kafka.Message{Key: []byte("111111111111"), Value: []byte("not a detection")})

	hook.waitAccepted(t, len(dets))
	waitCommitted(t, c, 7)
	stop()

	reqs := hook.requests()
	if len(reqs) != len(dets)+len(script) {
		t.Errorf("%d requests, want %d: one per detection and the %d that failed", len(reqs), len(dets)+len(script), len(script))
	}
	if gap := reqs[3].at.Sub(reqs[2].at); gap < 900*time.Millisecond {
		t.Errorf("tried again %s after a 429 with Retry-After: 1", gap)
	}
	if gap := reqs[5].at.Sub(reqs[4].at); gap < 500*time.Millisecond {
		t.Errorf("tried again %s after a dropped connection, not after a back-off", gap)
	}
	byID := map[string]*model.Detection{}
	for _, d := range dets {
		byID[d.DetectionID] = d
	}
	for _, r := range reqs {
		d := byID[r.id]
		if d == nil {
			t.Fatalf("request with Idempotency-Key %q, no detection's ID", r.id)
		}
		if got := r.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type %q", got)
		}
		if want := d.AppendJSON(nil); string(r.body) != string(want) {
			t.Errorf("body\n got %s\nwant %s", r.body, want)
		}
	}
	checkOnceInOrder(t, hook.accepted(), dets)

	dl := testenv.DeadLetters(t, c, 1, 20*time.Second)
	if dl[0].Stage != "notifier" || dl[0].Payload != "not a detection" || dl[0].SourceTopic != c.TopicDetections {
		t.Errorf("dead letter %+v, want the message, from the notifier", dl[0])
	}
	led := ledgerRecords(t, c, len(dets))
	for _, d := range dets {
		v, ok := led[WebhookID(hook.URL)+"/"+d.DetectionID]
		if !ok || v.Status != 200 || time.Since(v.DeliveredAt) > time.Minute {
			t.Errorf("ledger record of %s: %+v (present %v), want status 200 and the time of delivery", d.DetectionID, v, ok)
		}
	}
	if got := topicConfig(t, c.Brokers(), c.TopicNotifications, "cleanup.policy"); got != "compact,delete" {
		t.Errorf("ledger topic cleanup.policy %q, want compact,delete", got)
	}
	if got := topicConfig(t, c.Brokers(), c.TopicNotifications, "retention.ms"); got != "691200000" { // 8 days
		t.Errorf("ledger topic retention.ms %q, want 691200000", got)
	}
}

// TestRestart stops the notifier after some deliveries, publishes more and one already
// delivered again (as a restarted detector does), and starts it again: every detection
// arrives once. A notifier of a new consumer group, which reads every detection again, sends
// nothing: the ledger has them all.
func TestRestart(t *testing.T) {
	hook := newReceiver(t, nil)
	c := setup(t, hook.URL)
	first := []*model.Detection{detection("a", "111111111111", "high"), detection("b", "111111111111", "critical"), detection("c", "222222222222", "medium")}
	stop := start(t, c)
	publish(t, c, first...)
	hook.waitAccepted(t, 3)
	waitCommitted(t, c, 3)
	stop()

	later := []*model.Detection{detection("d", "111111111111", "high"), detection("e", "222222222222", "high")}
	again := *first[0] // the same detection_id, detected again
	again.DetectedAt = time.Now()
	publish(t, c, later[0], &again, later[1])
	stop = start(t, c)
	hook.waitAccepted(t, 5)
	waitCommitted(t, c, 6)
	stop()
	all := append(first, later...)
	checkOnceInOrder(t, hook.accepted(), all)

	c.GroupPrefix = testenv.Name("ts-test-fresh-")
	stop = start(t, c)
	waitCommitted(t, c, 6)
	stop()
	if n := len(hook.requests()); n != 5 {
		t.Fatalf("%d requests after a new group read everything again, want the 5 of before", n)
	}
}

// TestStopFinishesDelivery cancels the notifier while a webhook has yet to answer, before
// which nothing is committed: Run returns only after the answer came and its ledger record
// was written, sends nothing more, and its successor does not send that detection again.
func TestStopFinishesDelivery(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	hook := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 0 {
			close(arrived)
			<-release
		}
		return false
	})
	var once sync.Once
	answer := func() { once.Do(func() { close(release) }) }
	c := setup(t, hook.URL)
	dets := []*model.Detection{detection("a", "111111111111", "high"), detection("b", "111111111111", "high")}
	stop := start(t, c)
	t.Cleanup(answer) // before the notifier stops and the server closes, which wait for the request
	publish(t, c, dets...)
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("no request within 20s")
	}
	time.Sleep(300 * time.Millisecond) // a commit would have landed
	if n := testenv.Committed(t, testenv.Cluster(t, c), c.GroupPrefix+"-notifier", c.TopicDetections); n != 0 {
		t.Fatalf("%d offsets committed while the webhook had yet to answer", n)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		stop()
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-stopped:
		t.Fatal("Run returned before the request under way was answered")
	default:
	}
	answer()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return once the request was answered")
	}
	if n := len(hook.requests()); n != 1 {
		t.Fatalf("%d requests, want the one under way at the stop", n)
	}
	if n := testenv.TopicSize(t, testenv.Cluster(t, c), c.TopicNotifications); n != 1 {
		t.Fatalf("%d ledger records after the stop, want the one of the delivery under way", n)
	}

	stop = start(t, c)
	hook.waitAccepted(t, 2)
	waitCommitted(t, c, 2)
	stop()
	checkOnceInOrder(t, hook.accepted(), dets)
}

// TestRefusingWebhook gives the notifier two webhooks, one of which answers 400 to
// everything: the other gets every detection, the refusing one each detection once, and
// the offsets are committed.
func TestRefusingWebhook(t *testing.T) {
	good := newReceiver(t, nil)
	bad := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, `{"error":"invalid_payload"}`, http.StatusBadRequest)
		return true
	})
	c := setup(t, good.URL, bad.URL)
	var dets []*model.Detection
	for i := range 4 {
		dets = append(dets, detection(fmt.Sprintf("d%d", i), "111111111111", "high"))
	}
	stop := start(t, c)
	defer stop()
	publish(t, c, dets...)
	good.waitAccepted(t, len(dets))
	waitCommitted(t, c, int64(len(dets)))
	time.Sleep(300 * time.Millisecond) // a retry of a refusal would have come
	stop()
	checkOnceInOrder(t, good.accepted(), dets)
	refused := bad.requests()
	if len(refused) != len(dets) {
		t.Fatalf("the refusing webhook got %d requests, want %d: each detection once", len(refused), len(dets))
	}
	for i, r := range refused {
		if r.id != dets[i].DetectionID {
			t.Errorf("refusing webhook's request %d is of %s, want %s", i, r.id, dets[i].DetectionID)
		}
	}
	led := ledgerRecords(t, c, 2*len(dets))
	for _, d := range dets {
		if v := led[WebhookID(bad.URL)+"/"+d.DetectionID]; v.Status != 400 {
			t.Errorf("ledger record of the refusal of %s: status %d, want 400", d.DetectionID, v.Status)
		}
	}
}

// TestMinSeverity sends only the detections of at least --alert-min-severity (and those of a
// severity it does not know), and commits them all.
func TestMinSeverity(t *testing.T) {
	hook := newReceiver(t, nil)
	c := setup(t, hook.URL)
	c.AlertMinSeverity = "high"
	var dets, want []*model.Detection
	for _, sev := range []string{"info", "low", "medium", "high", "critical", "HIGH", "unheard-of"} {
		d := detection(sev, "111111111111", sev)
		dets = append(dets, d)
		if sev == "high" || sev == "critical" || sev == "HIGH" || sev == "unheard-of" {
			want = append(want, d)
		}
	}
	stop := start(t, c)
	defer stop()
	publish(t, c, dets...)
	waitCommitted(t, c, int64(len(dets)))
	stop()
	checkOnceInOrder(t, hook.accepted(), want)
}

// TestSlackFormat sends a detection with --alert-format slack: the body is {"text": ...}
// naming the severity, rule, title, account, resource and actors.
func TestSlackFormat(t *testing.T) {
	hook := newReceiver(t, nil)
	c := setup(t, hook.URL)
	c.AlertFormat = "slack"
	d := detection("slack", "111111111111", "critical")
	stop := start(t, c)
	defer stop()
	publish(t, c, d)
	hook.waitAccepted(t, 1)
	stop()
	r := hook.requests()[0]
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	text, ok := body["text"].(string)
	if !ok || len(body) != 1 {
		t.Fatalf("body %s, want {\"text\": \"...\"} alone", r.body)
	}
	for _, s := range []string{"CRITICAL", d.RuleID, d.Title, d.AccountID, d.ResourceName, "alice"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
}

// setup returns the settings of a test: an embedded broker of its own, its topics created,
// the webhooks given.
func setup(t *testing.T, webhooks ...string) config.Config {
	t.Helper()
	c := testenv.Config(t)
	c.AlertWebhooks = webhooks
	if err := kafkautil.EnsureTopics(context.Background(), testenv.Cluster(t, c), c.Partitions, c.TopicDetections, c.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	return c
}

// start runs a notifier until the returned stop is called, or the test ends; stop waits for
// it to return nil.
func start(t *testing.T, c config.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v after cancellation, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// detection returns a detection of account named name, with an ID made from it.
func detection(name, account, severity string) *model.Detection {
	sum := sha256.Sum256([]byte(name))
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &model.Detection{
		DetectionID: hex.EncodeToString(sum[:]), RuleID: "short-lived-iam-object", Severity: severity,
		Title: fmt.Sprintf("IAM user %q created and deleted within 2m0s", name), AccountID: account, Environment: "test",
		ResourceType: "iam-user", ResourceName: name, EventIDs: []string{name + "-create", name + "-delete"},
		Actors: []string{"alice", "bob"}, FirstTime: now.Add(-2 * time.Minute), LastTime: now, DetectedAt: now,
	}
}

// publish writes dets to the detections topic, keyed by account as the detector does.
func publish(t *testing.T, c config.Config, dets ...*model.Detection) {
	t.Helper()
	msgs := make([]kafka.Message, len(dets))
	for i, d := range dets {
		v, err := model.EncodeDetection(nil, d)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = kafka.Message{Key: []byte(d.AccountID), Value: v}
	}
	publishRaw(t, c, msgs...)
}

func publishRaw(t *testing.T, c config.Config, msgs ...kafka.Message) {
	t.Helper()
	w := kafkautil.NewWriter(testenv.Cluster(t, c), c.TopicDetections)
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// waitCommitted waits until the notifier's group has committed offsets of the detections
// summing to want.
func waitCommitted(t *testing.T, c config.Config, want int64) {
	t.Helper()
	group := c.GroupPrefix + "-notifier"
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := testenv.Committed(t, testenv.Cluster(t, c), group, c.TopicDetections)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s committed %d of %s within 20s, want %d", group, got, c.TopicDetections, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkOnceInOrder checks that got, the detection IDs a webhook accepted, holds each of want
// once, and those of one account in their order.
func checkOnceInOrder(t *testing.T, got []string, want []*model.Detection) {
	t.Helper()
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	for _, d := range want {
		if count[d.DetectionID] != 1 {
			t.Errorf("detection %s accepted %d times, want once", d.ResourceName, count[d.DetectionID])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d detections accepted, want %d", len(got), len(want))
	}
	pos := map[string]int{}
	for i, id := range got {
		pos[id] = i
	}
	last := map[string]int{}
	for _, d := range want {
		p, ok := pos[d.DetectionID]
		if !ok {
			continue
		}
		if prev, seen := last[d.AccountID]; seen && p < prev {
			t.Errorf("detection %s of account %s arrived before the one published before it", d.ResourceName, d.AccountID)
		}
		last[d.AccountID] = p
	}
}

// ledgerRecords reads n records of the ledger topic.
func ledgerRecords(t *testing.T, c config.Config, n int) map[string]ledgerValue {
	t.Helper()
	out := map[string]ledgerValue{}
	for _, m := range testenv.ReadTopic(t, testenv.Cluster(t, c), c.TopicNotifications, n, 20*time.Second) {
		var v ledgerValue
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("ledger record %s: %v", m.Value, err)
		}
		out[string(m.Key)] = v
	}
	return out
}

// topicConfig returns the value of a configuration entry of topic.
func topicConfig(t *testing.T, brokers []string, topic, name string) string {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(brokers...)}
	resp, err := cl.DescribeConfigs(context.Background(), &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue
			}
		}
	}
	return ""
}

// receiver is a webhook of the tests. It records every request and answers it with respond,
// given the request's place among all (from 0); 200 when respond is nil or returns false.
type receiver struct {
	*httptest.Server
	respond func(n int, w http.ResponseWriter, r *http.Request) bool

	mu   sync.Mutex
	reqs []request
}

type request struct {
	id     string // its Idempotency-Key
	body   []byte
	header http.Header
	at     time.Time
	ok     bool // answered 2xx
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request) bool) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, request{id: r.Header.Get("Idempotency-Key"), body: body, header: r.Header.Clone(), at: time.Now()})
	rc.mu.Unlock()
	if rc.respond != nil && rc.respond(n, w, r) {
		return
	}
	w.WriteHeader(http.StatusOK)
	rc.mu.Lock()
	rc.reqs[n].ok = true
	rc.mu.Unlock()
}

// requests returns every request so far.
func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// accepted returns the detection IDs of the requests answered 2xx, in the order they came.
func (rc *receiver) accepted() []string {
	var out []string
	for _, r := range rc.requests() {
		if r.ok {
			out = append(out, r.id)
		}
	}
	return out
}

// waitAccepted waits until n requests were answered 2xx.
func (rc *receiver) waitAccepted(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.accepted()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d detections accepted within 20s", len(rc.accepted()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// status answers with code.
func status(code int) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code) }
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}
