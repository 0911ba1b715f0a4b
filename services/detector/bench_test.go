package detector

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
)

// BenchmarkOutcome measures the detector's work per batch of 5,000 events, as Avro from
// cloudtrail.events: decode, the rules, encode the detections, with every built-in rule and,
// for comparison in the same run, with short-lived-iam-object alone. The events are a
// generated mix.
func BenchmarkOutcome(b *testing.B) {
	msgs := benchMessages(b)
	b.Run("every-rule", func(b *testing.B) { benchOutcome(b, msgs, rules.Default) })
	b.Run("one-rule", func(b *testing.B) {
		benchOutcome(b, msgs, func() []rules.Rule { return []rules.Rule{rules.NewShortLivedIAM(rules.ShortLivedIAMConfig{})} })
	})
}

func benchMessages(b *testing.B) []kafka.Message {
	var msgs []kafka.Message
	for r := range generate.Records(generate.Options{Events: 50_000, Seed: 1, Start: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}) {
		e, err := normalize.Normalize(r.JSON, "bench")
		if err != nil {
			b.Fatal(err)
		}
		v, err := model.EncodeEvent(nil, e)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Partition: 0, Offset: int64(len(msgs)), Key: []byte(e.AccountID), Value: v})
	}
	return msgs
}

func benchOutcome(b *testing.B, msgs []kafka.Message, newRules func() []rules.Rule) {
	const batch = 5000
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, detections := 0, 0
	var d *detector
	for b.Loop() {
		at := n % len(msgs)
		if at == 0 { // a fresh detector for every pass over the stream
			d = &detector{engine: rules.NewEngine(newRules()), log: quiet, reads: reads{limit: 2 * time.Hour, now: time.Now}}
		}
		out := d.outcome(msgs[at:min(at+batch, len(msgs))])
		d.last = nil
		d.hold(0)
		detections += len(out.detections)
		n += min(batch, len(msgs)-at)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	if n >= len(msgs) && detections == 0 {
		b.Fatal("no detections from the generated stream")
	}
}

// BenchmarkStateGauges measures what the state metric costs a batch: every rule's entries,
// with every built-in rule holding the state of 50,000 generated events.
func BenchmarkStateGauges(b *testing.B) {
	msgs := benchMessages(b)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := &detector{engine: rules.NewEngine(rules.Default()), log: quiet, reads: reads{limit: 2 * time.Hour, now: time.Now}}
	for at := 0; at < len(msgs); at += 5000 {
		d.outcome(msgs[at:min(at+5000, len(msgs))])
		d.last = nil
	}
	for b.Loop() {
		d.state.set(d.engine)
	}
}
