package fetcher

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailstream/trailstream/pkg/awsutil"
	"github.com/trailstream/trailstream/pkg/sources"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestDeleteBatch deletes notifications through the queue's batched deletes, against the
// emulator: those handled at once go in DeleteMessageBatch calls of at most ten, and the
// queue is left with the notification not deleted. (The emulator, like SQS for a receipt
// handle that expired, never fails an entry: TestDeleteBatchFailures has those.)
func TestDeleteBatch(t *testing.T) {
	c := testenv.Config(t)
	cl, url := testenv.AWS(t, c)
	const n = 14
	for i := range n {
		testenv.SendMessage(t, cl, url, fmt.Sprintf("notification %d", i))
	}
	var msgs []sqstypes.Message
	for len(msgs) < n-1 { // one left in the queue
		out, err := cl.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
			MaxNumberOfMessages: int32(min(10, n-1-len(msgs))), VisibilityTimeout: 30})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, out.Messages...)
	}
	q := newQueue(nil, sources.Source{ID: "test"}, cl, cl.SQS, url, slog.Default(), newQueueMetrics("test"))
	var (
		mu    sync.Mutex
		sizes []int // entries of each DeleteMessageBatch
	)
	batch := q.deletes.Do
	q.deletes.Do = func(k struct{}, msgs []sqstypes.Message) ([]error, error) {
		mu.Lock()
		sizes = append(sizes, len(msgs))
		mu.Unlock()
		return batch(k, msgs)
	}
	all := msgs
	outcomes := make([]error, len(all))
	var wg sync.WaitGroup
	for i, m := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed, err := q.deletes.Call(context.Background(), struct{}{}, m)
			if err != nil {
				t.Errorf("delete of %s: the call failed: %v", aws.ToString(m.MessageId), err)
			}
			outcomes[i] = failed
		}()
	}
	wg.Wait()
	for i, m := range msgs {
		if err := outcomes[i]; err != nil {
			t.Errorf("delete of %s: %v", aws.ToString(m.MessageId), err)
		}
	}
	total := 0
	for _, n := range sizes {
		total += n
		if n > deleteBatchMax {
			t.Errorf("a DeleteMessageBatch of %d entries, want at most %d", n, deleteBatchMax)
		}
	}
	if total != len(all) || len(sizes) >= len(all) {
		t.Errorf("deletes sent in calls of %v entries, want the %d in fewer calls than notifications", sizes, len(all))
	}
	t.Logf("%d deletes in calls of %v", len(all), sizes)
	if depth := testenv.QueueDepth(t, cl, url); depth != 1 {
		t.Errorf("the queue holds %d notifications, want the 1 not received", depth)
	}
}

// TestDeleteBatchFailures: each notification of a DeleteMessageBatch learns its own outcome
// from SQS's answer (a test server of the SQS JSON protocol's DeleteMessageBatch): an entry
// SQS failed, or one its answer leaves out, fails alone; a request SQS refuses fails all.
func TestDeleteBatchFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AmazonSQS.DeleteMessageBatch" {
			http.Error(w, "unexpected "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
			return
		}
		var req struct {
			Entries []struct{ Id, ReceiptHandle string }
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		type ok struct{ Id string }
		type failed struct {
			Id, Code, Message string
			SenderFault       bool
		}
		resp := struct {
			Successful []ok
			Failed     []failed
		}{Successful: []ok{}, Failed: []failed{}}
		for _, e := range req.Entries {
			switch {
			case strings.HasPrefix(e.ReceiptHandle, "refuse"):
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"refused"}`)
				return
			case strings.HasPrefix(e.ReceiptHandle, "bad"):
				resp.Failed = append(resp.Failed, failed{Id: e.Id, Code: "ReceiptHandleIsInvalid", Message: "invalid", SenderFault: true})
			case strings.HasPrefix(e.ReceiptHandle, "lost"):
			default:
				resp.Successful = append(resp.Successful, ok{Id: e.Id})
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		json.NewEncoder(w).Encode(resp)
	}))
	defer srv.Close()
	cl, err := awsutil.New(context.Background(), "us-east-1", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := newQueue(nil, sources.Source{ID: "test"}, cl, cl.SQS, srv.URL+"/000000000000/q", slog.Default(), newQueueMetrics("test"))
	msg := func(handle string) sqstypes.Message {
		return sqstypes.Message{MessageId: aws.String(handle), ReceiptHandle: aws.String(handle)}
	}
	for _, tc := range []struct {
		name    string
		handles []string
		fail    []bool // per handle: its delete fails
	}{
		{"all deleted", []string{"a", "b", "c"}, []bool{false, false, false}},
		{"one failed", []string{"a", "bad-b", "c"}, []bool{false, true, false}},
		{"one left out of the answer", []string{"lost-a", "b"}, []bool{true, false}},
		{"refused", []string{"a", "refuse-b"}, []bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := make([]sqstypes.Message, len(tc.handles))
			for i, h := range tc.handles {
				msgs[i] = msg(h)
			}
			outcomes, err := q.deleteBatch(struct{}{}, msgs)
			for i, h := range tc.handles {
				failed := err != nil || outcomes[i] != nil
				if failed != tc.fail[i] {
					t.Errorf("delete of %s failed: %v (%v, %v), want %v", h, failed, err, outcomes, tc.fail[i])
				}
			}
		})
	}
}
