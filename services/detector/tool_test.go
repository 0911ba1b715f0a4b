package detector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/trailstream/trailstream/pkg/config"
)

// stoppedTrails returns n records, each stopping a trail: every one a detection of
// cloudtrail-logging-stopped.
func stoppedTrails(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"eventVersion":"1.08","eventTime":"2026-11-20T10:%02d:%02dZ","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",`+
			`"awsRegion":"us-east-1","eventID":"stop-%05d","recipientAccountId":"123456789012",`+
			`"userIdentity":{"type":"IAMUser","accountId":"123456789012","userName":"mallory"},"requestParameters":{"name":"trail-%d"}}`+"\n",
			i/60%60, i%60, i, i)
	}
	return b.Bytes()
}

func TestToolKeepsInputOrder(t *testing.T) {
	for _, n := range []int{0, 1, toolBatch - 1, toolBatch, 10*toolBatch + 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Tool(context.Background(), config.Default(), nil, bytes.NewReader(stoppedTrails(n)), &out, &errOut)
			if err != nil {
				t.Fatalf("Tool: %v; stderr:\n%s", err, errOut.String())
			}
			var got []string
			for line := range strings.Lines(out.String()) {
				var d struct {
					RuleID   string   `json:"rule_id"`
					EventIDs []string `json:"event_ids"`
				}
				if err := json.Unmarshal([]byte(line), &d); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				if d.RuleID == "cloudtrail-logging-stopped" {
					got = append(got, d.EventIDs...)
				}
			}
			if len(got) != n {
				t.Fatalf("%d detections of the %d stopped trails", len(got), n)
			}
			for i, id := range got {
				if want := fmt.Sprintf("stop-%05d", i); id != want {
					t.Fatalf("detection %d is of %s, want %s: the input order is lost", i, id, want)
				}
			}
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

var errBrokenPipe = errors.New("broken pipe")

func (failingWriter) Write([]byte) (int, error) { return 0, errBrokenPipe }

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestToolStopsWhenOutputFails(t *testing.T) {
	input := stoppedTrails(20000)
	in := &countingReader{r: bytes.NewReader(input)}
	err := Tool(context.Background(), config.Default(), nil, in, failingWriter{}, io.Discard)
	if !errors.Is(err, errBrokenPipe) {
		t.Fatalf("Tool = %v, want the write's error", err)
	}
	if in.n > len(input)/2 {
		t.Fatalf("Tool read %d of %d bytes after its output failed: it should stop", in.n, len(input))
	}
}
