package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/registry"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/services/detector"
	"github.com/trailstream/trailstream/services/normalizer"
	"github.com/trailstream/trailstream/services/sink"
)

// insertTimeout bounds one insert of a batch into ClickHouse.
const insertTimeout = 2 * time.Minute

// batchIdle is how long a batch of events waits for more after the last came.
const batchIdle = 10 * time.Millisecond

// direct is the collect.Raw of --direct: it normalizes records with the normalizer
// service's code, runs the detection rules over the events, and inserts events and
// detections into ClickHouse with the sink's code. A Write returns once its records are
// stored, so that a file is in the ledger only after its events are in ClickHouse.
//
// The events of every file being read are gathered into one batch, which one goroutine
// stores while the next gathers: when it is done with one, it takes the next once it is
// due — it holds --batch-size events, or every file being read waits for it, or no events
// came for batchIdle, or it began --batch-wait ago — and inserts it --batch-size events at
// a time. The slower ClickHouse answers, the larger the batches.
//
// A record that cannot be normalized is handed back as rejected, so that the reader sends
// it to the dead letters with its file and place, and counts it in the file's ledger row.
type direct struct {
	norm   *normalize.Normalizer
	closeN func()
	conn   driver.Conn
	db     string
	size   int
	wait   time.Duration
	idle   time.Duration
	engine *rules.Engine // nil: no detection; used by the storing goroutine only
	log    *slog.Logger
	// serde encodes the events and detections handed to the sink's inserts. It is the one
	// without a registry: these messages never leave the process, so they keep the
	// single-object encoding and ask no registry.
	serde *registry.Serde

	deadMu sync.Mutex
	deadW  io.Writer
	deadF  *os.File // --dead-letters, to close

	mu  sync.Mutex
	cur *pending // being gathered
	// active is how many files are being read: when each of them waits for the batch
	// being gathered, nothing more comes for it.
	active atomic.Int64
	wake   chan struct{} // tells the storing goroutine that something changed
	stop   chan struct{}
	done   sync.WaitGroup

	offset     int64 // of the next event the rules see
	events     atomic.Int64
	detections atomic.Int64
}

// pending is a batch being gathered, then stored.
type pending struct {
	msgs    []kafka.Message // Avro events
	events  []*model.Event
	waiters int64     // the Writes waiting for it
	begun   time.Time // when its first events came
	last    time.Time // when its last events came
	stored  chan struct{}
	err     error
}

func newDirect(ctx context.Context, cfg config.Config, o Options, conn driver.Conn, out io.Writer, log *slog.Logger) (*direct, error) {
	d := &direct{conn: conn, db: cfg.ClickHouseDatabase, size: max(cfg.BatchSize, 1), wait: cfg.BatchWait, idle: batchIdle, log: log,
		deadW: out, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if o.Detect {
		rs, err := detector.Rules(cfg)
		if err != nil {
			return nil, err
		}
		d.engine = rules.NewEngine(rs)
	}
	if o.DeadLetters != "" && o.DeadLetters != "-" {
		f, err := os.OpenFile(o.DeadLetters, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--dead-letters: %w", err)
		}
		d.deadW, d.deadF = f, f
	}
	n, closeN, err := normalizer.New(ctx, cfg, false, log)
	if err != nil {
		d.close()
		return nil, err
	}
	d.norm, d.closeN = n, closeN
	if cfg.AdminUsers == "" { // the list uploaded to the console, as the normalizer service has it
		names, err := admins.Current(ctx, conn, cfg.ClickHouseDatabase)
		if err != nil {
			d.close()
			return nil, err
		}
		list := new(admins.List)
		list.Set(names)
		n.Admins = list
		log.Info("admin users loaded from ClickHouse", "count", list.Len())
	}
	d.done.Add(1)
	go d.storing()
	return d, nil
}

// close stops the storing goroutine, once every Write returned, and closes what newDirect
// opened.
func (d *direct) close() {
	close(d.stop)
	d.done.Wait()
	if d.closeN != nil {
		d.closeN()
	}
	if d.deadF != nil {
		if err := d.deadF.Close(); err != nil {
			d.log.Error("dead letters file not closed", "err", err)
		}
	}
}

// Write normalizes msgs, raw records as the reader produces them, and returns once their
// events are stored, with the records that cannot be normalized as rejected.
func (d *direct) Write(ctx context.Context, msgs ...kafka.Message) ([]kafkautil.Rejected, error) {
	var rejected []kafkautil.Rejected
	out := make([]kafka.Message, 0, len(msgs))
	events := make([]*model.Event, 0, len(msgs))
	for i, m := range msgs {
		e, err := d.norm.Normalize(m.Value)
		var v []byte
		if err == nil {
			v, err = d.serde.EncodeEvent(nil, e)
		}
		if err != nil {
			rejected = append(rejected, kafkautil.Rejected{Index: i, Err: fmt.Errorf("normalize: %w", err)})
			continue
		}
		out = append(out, kafka.Message{Key: []byte(e.AccountID), Value: v, Headers: m.Headers})
		events = append(events, e)
	}
	if len(out) == 0 {
		return rejected, nil
	}
	return rejected, d.add(ctx, out, events)
}

// add puts events in the batch being gathered and waits until the batch is stored.
func (d *direct) add(ctx context.Context, msgs []kafka.Message, events []*model.Event) error {
	now := time.Now()
	d.mu.Lock()
	p := d.cur
	if p == nil {
		p = &pending{stored: make(chan struct{}), begun: now}
		d.cur = p
	}
	p.msgs = append(p.msgs, msgs...)
	p.events = append(p.events, events...)
	p.waiters++
	p.last = now
	d.mu.Unlock()
	d.signal()
	select {
	case <-p.stored:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *direct) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// begin counts a file being read, end one read.
func (d *direct) begin() { d.active.Add(1) }

func (d *direct) end() {
	d.active.Add(-1)
	d.signal()
}

// storing stores the batches, one after the other, each once it is due, until stop.
func (d *direct) storing() {
	defer d.done.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		p, in := d.cur, time.Duration(-1)
		if p != nil {
			if in = d.due(p, time.Now()); in <= 0 {
				d.cur = nil
			}
		}
		d.mu.Unlock()
		if p != nil && in <= 0 {
			// The insert belongs to no one caller: it ends by its own timeout.
			ctx, cancel := context.WithTimeout(context.Background(), insertTimeout)
			p.err = d.store(ctx, p)
			chstore.CancelLater(cancel)
			close(p.stored)
			continue
		}
		if in > 0 {
			timer.Reset(in)
		}
		select {
		case <-d.wake:
		case <-timer.C:
		case <-d.stop:
			return
		}
		timer.Stop()
	}
}

// due returns 0 when p is to be stored now, else how long until it is at the latest.
func (d *direct) due(p *pending, now time.Time) time.Duration {
	if len(p.msgs) >= d.size || p.waiters >= d.active.Load() {
		return 0
	}
	return max(min(p.last.Add(d.idle).Sub(now), p.begun.Add(d.wait).Sub(now)), 0)
}

// store hands the events of p to the rules, then inserts them, --batch-size at a time, and
// the detections the rules made.
func (d *direct) store(ctx context.Context, p *pending) error {
	var found []kafka.Message
	if d.engine != nil {
		for i, e := range p.events {
			for _, det := range d.engine.Observe(e, rules.Position{Offset: d.offset}) {
				v, err := d.serde.EncodeDetection(nil, &det)
				if err != nil { // a programming error: the detection does not fit its schema
					d.log.Error("detection dropped", "rule", det.RuleID, "detection_id", det.DetectionID, "err", err)
					continue
				}
				found = append(found, kafka.Message{Key: []byte(det.AccountID), Value: v, Headers: p.msgs[i].Headers})
			}
			d.offset++
		}
	}
	start := time.Now()
	var dead []deadletter.Entry
	for msgs := range slices.Chunk(p.msgs, d.size) {
		bad, err := sink.InsertEvents(ctx, d.conn, d.db, msgs)
		if err != nil {
			return err
		}
		d.events.Add(int64(len(msgs) - len(bad)))
		dead = append(dead, bad...)
	}
	if len(found) > 0 {
		bad, err := sink.InsertDetections(ctx, d.conn, d.db, found)
		if err != nil {
			return err
		}
		dead = append(dead, bad...)
		d.detections.Add(int64(len(found) - len(bad)))
	}
	d.log.Debug("events stored", "events", len(p.msgs), "detections", len(found), "gathered", start.Sub(p.begun).String(),
		"took", time.Since(start).String())
	return d.writeDead(ctx, dead)
}

// writeDead writes dead letters, one JSON object a line, to --dead-letters or stderr.
func (d *direct) writeDead(_ context.Context, entries []deadletter.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	var buf []byte
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	d.deadMu.Lock()
	defer d.deadMu.Unlock()
	if _, err := d.deadW.Write(buf); err != nil {
		return fmt.Errorf("write dead letters: %w", err)
	}
	return nil
}
