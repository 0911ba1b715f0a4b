//go:build faults

package faults

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/s3event"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// partitions of every topic, as the services create them by default.
const partitions = 6

// services are the targets of the pipeline, each run as a process of its own.
var services = []string{"fetcher", "normalizer", "detector", "sink"}

// world is one scenario's private pipeline: an embedded broker, a database, bucket and
// queue on the local stack, consumer groups of its own, the suite's proxies between the
// services and those servers, and the services as processes of the binary.
type world struct {
	t        testing.TB
	cfg      config.Config // the scenario's resources, with the real server addresses
	broker   *kafkautil.Embedded
	kafka    *testenv.Proxy // in front of the broker, which advertises it
	ch       *testenv.Proxy // in front of ClickHouse
	s3       *s3Proxy       // in front of the S3/SQS emulator
	aws      *awsutil.Clients
	queueURL string
	db       driver.Conn   // the suite's own connection to ClickHouse, not through the proxy
	kc       *kafka.Client // the suite's own Kafka client, not through the proxy
	direct   func(ctx context.Context, network, addr string) (net.Conn, error)
	dir      string // service logs
	env      []string

	mu     sync.Mutex
	procs  []*proc
	starts map[string]int
}

// proc is one service process.
type proc struct {
	svc     string
	n       int // of the service's processes in this world, from 1
	cmd     *exec.Cmd
	log     string
	done    chan struct{}
	err     error
	stopped atomic.Bool // the suite killed or stopped it
}

func (p *proc) name() string { return fmt.Sprintf("%s-%d", p.svc, p.n) }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// newWorld builds a world; env adds TRAILSTREAM_ settings of the scenario.
func newWorld(t testing.TB, env ...string) *world {
	t.Helper()
	c := config.Default()
	c.ClickHouseDatabase = testenv.Name("ts_faults_")
	c.Bucket = testenv.Name("ts-faults-")
	c.Queue = testenv.Name("ts-faults-")
	c.GroupPrefix = testenv.Name("ts-faults-")
	w := &world{t: t, cfg: c, starts: map[string]int{}}
	// A Kafka client connects to the addresses the broker advertises, not only to the one it
	// bootstraps from: the broker advertises the proxy's, so every connection goes through it.
	w.kafka = testenv.NewProxy(t, "")
	b, err := kafkautil.StartEmbedded(0, partitions, kafkautil.Advertise(w.kafka.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	w.broker = b
	w.kafka.SetTarget(b.ListenAddr())
	w.direct = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, b.ListenAddr())
	}
	w.kc = &kafka.Client{Addr: kafka.TCP(b.ListenAddr()), Timeout: 5 * time.Second, Transport: &kafka.Transport{Dial: w.direct}}
	w.db = testenv.ClickHouse(t, c)
	w.aws, w.queueURL = testenv.AWS(t, c)
	w.ch = testenv.NewProxy(t, c.ClickHouseAddr)
	w.s3 = newS3Proxy(t, c.AWSEndpoint)
	w.dir = t.TempDir()
	if outDir != "" {
		w.dir = filepath.Join(outDir, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(w.dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRAILSTREAM_") {
			w.env = append(w.env, kv)
		}
	}
	w.env = append(w.env,
		"TRAILSTREAM_ENVIRONMENT=faults",
		"TRAILSTREAM_LOG_LEVEL=info",
		"TRAILSTREAM_AWS_REGION="+c.AWSRegion,
		"TRAILSTREAM_AWS_ENDPOINT="+w.s3.url(),
		"TRAILSTREAM_SQS_QUEUE="+c.Queue,
		"TRAILSTREAM_SQS_VISIBILITY_TIMEOUT=10s", // a killed fetcher's notification is back within 10 s
		"TRAILSTREAM_SQS_WAIT_TIME=1s",
		"TRAILSTREAM_S3_BUCKET="+c.Bucket,
		"TRAILSTREAM_KAFKA_BROKERS="+w.kafka.Addr(),
		"TRAILSTREAM_KAFKA_GROUP_PREFIX="+c.GroupPrefix,
		fmt.Sprintf("TRAILSTREAM_KAFKA_PARTITIONS=%d", partitions),
		"TRAILSTREAM_CLICKHOUSE_ADDR="+w.ch.Addr(),
		"TRAILSTREAM_CLICKHOUSE_DATABASE="+c.ClickHouseDatabase,
		"TRAILSTREAM_BATCH_WAIT=200ms",
		"TRAILSTREAM_METRICS_ADDR=127.0.0.1:0", // every process an endpoint of its own
	)
	w.env = append(w.env, env...)
	t.Cleanup(w.stopAll) // runs first: the services stop before the servers go
	return w
}

// start starts a process of svc.
func (w *world) start(svc string) *proc {
	w.mu.Lock()
	w.starts[svc]++
	p := &proc{svc: svc, n: w.starts[svc], done: make(chan struct{})}
	w.mu.Unlock()
	p.log = filepath.Join(w.dir, p.name()+".log")
	f, err := os.Create(p.log)
	if err != nil {
		w.t.Fatal(err)
	}
	p.cmd = exec.Command(binary, svc)
	p.cmd.Env = w.env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		w.t.Fatalf("start %s: %v", p.name(), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	w.mu.Lock()
	w.procs = append(w.procs, p)
	w.mu.Unlock()
	return p
}

// startAll starts one process of every service.
func (w *world) startAll() {
	for _, s := range services {
		w.start(s)
	}
}

// running returns the latest process of svc, which must be running.
func (w *world) running(svc string) *proc {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.procs) - 1; i >= 0; i-- {
		if p := w.procs[i]; p.svc == svc && !p.exited() {
			return p
		}
	}
	w.t.Fatalf("no %s is running", svc)
	return nil
}

// kill sends SIGKILL to p and waits until it is gone.
func (w *world) kill(p *proc) {
	p.stopped.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// restart kills the running svc with SIGKILL and starts it again at once.
func (w *world) restart(svc string) {
	w.kill(w.running(svc))
	w.start(svc)
}

// stopAll stops every process as an orchestrator would: SIGTERM, SIGKILL after 20 s.
func (w *world) stopAll() {
	w.mu.Lock()
	procs := slices.Clone(w.procs)
	w.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			p.stopped.Store(true)
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			w.t.Errorf("%s did not stop within 20 s of SIGTERM; killed", p.name())
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
}

// crashed returns the processes that ended without the suite stopping them.
func (w *world) crashed() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, p := range w.procs {
		if p.exited() && !p.stopped.Load() {
			out = append(out, fmt.Sprintf("%s exited by itself (%v)", p.name(), p.err))
		}
	}
	return out
}

// logs returns the last lines of every process's log.
func (w *world) logs(lines int) string {
	w.mu.Lock()
	procs := slices.Clone(w.procs)
	w.mu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "\n--- last %d lines of %s (%s):\n", lines, p.name(), p.log)
		for _, l := range tail(p.log, lines) {
			b.WriteString("    " + l + "\n")
		}
	}
	return b.String()
}

// tail returns the last n lines of the file, each cut to 600 bytes.
func tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	const window = 256 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(st.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	ls = ls[max(0, len(ls)-n):]
	for i, l := range ls {
		if len(l) > 600 {
			ls[i] = l[:600] + "…"
		}
	}
	return ls
}

// put stores every object of in in the bucket.
func (w *world) put(in *input) {
	w.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(in.objects))
	sem := make(chan struct{}, 8)
	for _, o := range in.objects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := w.aws.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(w.cfg.Bucket), Key: aws.String(o.key),
				Body: bytes.NewReader(o.body), ContentLength: aws.Int64(int64(len(o.body)))})
			if err != nil {
				errs <- fmt.Errorf("put s3://%s/%s: %w", w.cfg.Bucket, o.key, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		w.t.Fatal(err)
	}
}

// notify sends the notification S3 sends for o.
func (w *world) notify(o object) error {
	sum := md5.Sum(o.body)
	return w.send(string(s3event.ObjectCreated(w.cfg.AWSRegion, w.cfg.Bucket, o.key, int64(len(o.body)), hex.EncodeToString(sum[:]), time.Now())))
}

func (w *world) send(body string) error {
	_, err := w.aws.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL), MessageBody: aws.String(body)})
	if err != nil {
		return fmt.Errorf("send to %s: %w", w.queueURL, err)
	}
	return nil
}

// feed sends the notifications of objects (each times times) and in.notes, spread evenly
// over the given duration, from a goroutine; the channel is closed once all are sent.
func (w *world) feed(in *input, objects []object, over time.Duration, times int) <-chan struct{} {
	done := make(chan struct{})
	var bodies []func() error
	for _, o := range objects {
		for range times {
			bodies = append(bodies, func() error { return w.notify(o) })
		}
	}
	for _, n := range in.notes {
		bodies = append(bodies, func() error { return w.send(n) })
	}
	go func() {
		defer close(done)
		step := over / time.Duration(max(1, len(bodies)))
		next := time.Now()
		for _, send := range bodies {
			time.Sleep(time.Until(next))
			if err := send(); err != nil {
				w.t.Errorf("notify: %v", err)
				return
			}
			next = next.Add(step)
		}
	}()
	return done
}

// ends returns the end offset of every partition of topic (zeros while it does not exist).
func (w *world) ends(topic string) []int64 {
	out := make([]int64, partitions)
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range reqs {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	resp, err := w.kc.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return out
	}
	for _, po := range resp.Topics[topic] {
		if po.Error == nil && po.Partition < partitions {
			out[po.Partition] = po.LastOffset
		}
	}
	return out
}

// published returns how many of ids some message of topic holds (as bytes of its value):
// for missing detections, whether the detector published them and the sink lost them.
func (w *world) published(topic string, ids []string) int {
	found := map[string]bool{}
	w.eachValue(topic, func(v []byte) {
		for _, id := range ids {
			if bytes.Contains(v, []byte(id)) {
				found[id] = true
			}
		}
	})
	return len(found)
}

// size returns how many messages topic holds.
func (w *world) size(topic string) int64 {
	var n int64
	for _, e := range w.ends(topic) {
		n += e
	}
	return n
}

// committed returns the offset group committed on every partition of topic (zero where it
// committed none).
func (w *world) committed(group, topic string) []int64 {
	out := make([]int64, partitions)
	ps := make([]int, partitions)
	for p := range ps {
		ps[p] = p
	}
	resp, err := w.kc.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		return out
	}
	for _, p := range resp.Topics[topic] {
		if p.Partition < partitions && p.CommittedOffset > 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out
}

// consumer is a consumer group of the pipeline that must read its topic to the end. The
// detector is not one: it commits no further than the oldest event its rules hold.
type consumer struct{ group, topic string }

func (w *world) consumers() []consumer {
	c := w.cfg
	return []consumer{
		{c.GroupPrefix + "-normalizer", c.TopicRaw},
		{c.GroupPrefix + "-sink-events", c.TopicEvents},
		{c.GroupPrefix + "-sink-detections", c.TopicDetections},
	}
}

// behind describes the partitions a consumer has not read to the end, and the groups of the
// pipeline that are rebalancing or have no member; empty when there are none.
func (w *world) behind() []string {
	var out []string
	for _, c := range w.consumers() {
		ends, done := w.ends(c.topic), w.committed(c.group, c.topic)
		for p := range partitions {
			if done[p] < ends[p] {
				out = append(out, fmt.Sprintf("%s: %s/%d at %d of %d", c.group, c.topic, p, done[p], ends[p]))
			}
		}
	}
	resp, err := w.kc.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: w.groups()})
	if err != nil {
		return append(out, "describe groups: "+err.Error())
	}
	for _, g := range resp.Groups {
		if g.GroupState != "Stable" || len(g.Members) == 0 {
			out = append(out, fmt.Sprintf("%s: %s with %d members", g.GroupID, g.GroupState, len(g.Members)))
		}
	}
	return out
}

// groups are the consumer groups of the pipeline.
func (w *world) groups() []string {
	var out []string
	for _, c := range w.consumers() {
		out = append(out, c.group)
	}
	return append(out, w.cfg.GroupPrefix+"-detector")
}

// members describes the members of the pipeline's groups and their partitions.
func (w *world) members() string {
	resp, err := w.kc.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: w.groups()})
	if err != nil {
		return "describe groups: " + err.Error()
	}
	var b strings.Builder
	for _, g := range resp.Groups {
		fmt.Fprintf(&b, "\n    %s %s:", g.GroupID, g.GroupState)
		for _, m := range g.Members {
			var ps []int
			for _, a := range m.MemberAssignments.Topics {
				ps = append(ps, a.Partitions...)
			}
			sort.Ints(ps)
			fmt.Fprintf(&b, " %s@%s%v", m.MemberID[max(0, len(m.MemberID)-8):], m.ClientHost, ps)
		}
	}
	return b.String()
}

// joining reports whether group is preparing a rebalance with more members than one: a
// member has joined and waits in JoinGroup for the others.
func (w *world) joining(group string) bool {
	resp, err := w.kc.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(resp.Groups) != 1 {
		return false
	}
	g := resp.Groups[0]
	return g.GroupState == "PreparingRebalance" && len(g.Members) > 1
}

// queueDepth returns the notifications in the queue, visible or being handled.
func (w *world) queueDepth() int {
	return testenv.QueueDepth(w.t, w.aws, w.queueURL)
}

// counts are the row counts of the scenario's tables.
type counts struct {
	rows, distinct, detections uint64 // count(), uniqExact(event_id), count() of detections
}

func (w *world) counts() (counts, error) {
	var c counts
	db := w.cfg.ClickHouseDatabase
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.db.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM "+db+".events").Scan(&c.rows, &c.distinct); err != nil {
		return c, err
	}
	if err := w.db.QueryRow(ctx, "SELECT count() FROM "+db+".detections").Scan(&c.detections); err != nil {
		return c, err
	}
	return c, nil
}

// waitUntil checks cond every 10 ms until it holds (true) or timeout passes (false): for
// cheap conditions that must be caught the moment they hold.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	return pollEvery(10*time.Millisecond, timeout, cond)
}

// poll checks cond every 250 ms until it holds (true) or timeout passes (false).
func poll(timeout time.Duration, cond func() bool) bool {
	return pollEvery(250*time.Millisecond, timeout, cond)
}

func pollEvery(every, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// settling says when a scenario's pipeline has settled.
type settling struct {
	want       int             // distinct good records expected
	detections map[string]bool // expected detection IDs; nil when unknown (the clean run)
	queueLeft  int             // notifications that may stay in the queue (bad ones)
	faultEnd   time.Time
	limit      time.Duration // longest wait after faultEnd
	// idle is how long nothing may change before a pipeline that has not what s expects
	// counts as settled (default idleDefault); complete, when set, must hold as well for it
	// to count as settled sooner.
	idle     time.Duration
	complete func() bool
}

// outcome is what a scenario's pipeline produced once it settled.
type outcome struct {
	settled     bool
	waited      time.Duration // from the fault's end until settled
	lastArrival time.Time     // of the last row, events or detections
	rows        uint64        // count() of events, duplicates included
	final       uint64        // count() of events FINAL
	events      map[string]int
	detections  map[string]string // detection ID → rule ID
	behind      []string
	members     string
	queue       int
}

// quiet is how long nothing may change before a pipeline that has what it should counts as
// settled; idleDefault is the same for one that does not (records lost), detectorIdle for
// one that has every record but not every detection, and quietUnknown for the clean run,
// whose detections are not known beforehand.
const (
	quiet        = 2 * time.Second
	quietUnknown = 5 * time.Second
	idleDefault  = 10 * time.Second
	detectorIdle = 30 * time.Second
)

// settle waits until the pipeline has settled: every consumer read its topic to the end,
// the queue holds no more than s.queueLeft, and the rows stopped changing, for a short
// while once they are what s expects or for longer when they are not. It gives up at
// s.faultEnd + s.limit.
func (w *world) settle(s settling) outcome {
	var (
		o          outcome
		last       counts
		lastChange = time.Now()
	)
	deadline := s.faultEnd.Add(s.limit)
	if s.idle == 0 {
		s.idle = idleDefault
	}
	for {
		now := time.Now()
		c, err := w.counts()
		if err != nil {
			w.t.Logf("count rows: %v", err)
		} else if c != last {
			last, lastChange, o.lastArrival = c, now, now
		}
		still := now.Sub(lastChange)
		if still >= quiet {
			caughtUp := len(w.behind()) == 0 && w.queueDepth() <= s.queueLeft
			records := last.distinct >= uint64(s.want)
			detected := s.detections == nil && still >= quietUnknown || s.detections != nil && w.distinctDetections() >= len(s.detections)
			complete := records && detected && (s.complete == nil || s.complete())
			// With every record in but detections missing, a detector may still be reading
			// its events again: its commits hold back, so caughtUp cannot see it, and a
			// restarted one waits for its schema registry with backoff (tries up to 12.5 s apart)
			// before it joins its group. Wait longer before calling that settled.
			idle := s.idle
			if records && !detected {
				idle = max(idle, detectorIdle)
			}
			if caughtUp && (complete || still >= idle) {
				o.settled = true
				break
			}
		}
		if now.After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	o.waited = time.Since(s.faultEnd)
	o.behind = w.behind()
	o.members = w.members()
	o.queue = w.queueDepth()
	w.final(&o)
	return o
}

// distinctDetections counts the stored detections of the short-lived rule, the one whose
// detections the input makes independent of arrival order.
func (w *world) distinctDetections() int {
	var n uint64
	_ = w.db.QueryRow(context.Background(), "SELECT uniqExact(detection_id) FROM "+w.cfg.ClickHouseDatabase+".detections WHERE rule_id = '"+shortLived+"'").Scan(&n)
	return int(n)
}

// final reads the tables.
func (w *world) final(o *outcome) {
	db := w.cfg.ClickHouseDatabase
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			w.t.Fatalf("read %s: %v", db, err)
		}
	}
	must(w.db.QueryRow(ctx, "SELECT count() FROM "+db+".events FINAL").Scan(&o.final))
	o.events = map[string]int{}
	rows, err := w.db.Query(ctx, "SELECT event_id, count() FROM "+db+".events GROUP BY event_id")
	must(err)
	for rows.Next() {
		var id string
		var n uint64
		must(rows.Scan(&id, &n))
		o.events[id] = int(n)
		o.rows += n
	}
	must(rows.Err())
	rows.Close()
	o.detections = map[string]string{}
	rows, err = w.db.Query(ctx, "SELECT detection_id, rule_id FROM "+db+".detections FINAL")
	must(err)
	for rows.Next() {
		var id, rule string
		must(rows.Scan(&id, &rule))
		o.detections[id] = rule
	}
	must(rows.Err())
	rows.Close()
}

// recovery is the time from the fault's end until the last row arrived.
func (o outcome) recovery(faultEnd time.Time) time.Duration {
	return max(0, o.lastArrival.Sub(faultEnd))
}

// deadLetters reads every entry of the dead-letter topic.
func (w *world) deadLetters() []deadLetter {
	var out []deadLetter
	w.eachValue(w.cfg.TopicDeadLetter, func(v []byte) { out = append(out, parseDeadLetter(v)) })
	return out
}

// eachValue hands fn the value of every message of topic, partition by partition.
func (w *world) eachValue(topic string, fn func([]byte)) {
	w.t.Helper()
	for p, end := range w.ends(topic) {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{w.broker.ListenAddr()}, Topic: topic, Partition: p,
			Dialer: &kafka.Dialer{DialFunc: w.direct, Timeout: 5 * time.Second}, MaxBytes: 64 << 20, MaxWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				w.t.Errorf("read %s/%d: %v", topic, p, err)
				break
			}
			fn(m.Value)
			if m.Offset+1 >= end {
				break
			}
		}
		cancel()
		r.Close()
	}
}
