package notifier

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/model"
)

const (
	// requestTimeout bounds one POST, from dialling to the end of the answer's headers.
	requestTimeout = 30 * time.Second
	// maxRetryAfter is the longest wait a Retry-After header is obeyed for; a receiver
	// asking for more is tried again after this long.
	maxRetryAfter = 5 * time.Minute
	// excerptBytes is how much of a refusal's body is logged.
	excerptBytes = 512
	// drainBytes is how much more of an answer's body is read, so that its connection can
	// serve the next request; a longer body closes the connection.
	drainBytes = 64 << 10
)

// WebhookID returns the name of the webhook at rawURL in the logs and the ledger: the first
// 16 hex digits of the SHA-256 of the URL, so that a URL that carries a token is never
// written out.
func WebhookID(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return hex.EncodeToString(sum[:8])
}

// webhook is one receiver of the detections and what it was sent.
type webhook struct {
	id, url, host string

	delivered, refused, skipped atomic.Int64
	metrics                     webhookMetrics
}

// webhookMetrics are the metrics of one webhook, labelled by its WebhookID.
type webhookMetrics struct {
	delivered, refused, skipped, retries prometheus.Counter
	took                                 prometheus.Observer
}

func newWebhookMetrics(id string) webhookMetrics {
	return webhookMetrics{
		delivered: metrics.Deliveries.WithLabelValues(id, "delivered"), refused: metrics.Deliveries.WithLabelValues(id, "refused"),
		skipped: metrics.Deliveries.WithLabelValues(id, "already_sent"), retries: metrics.DeliveryRetries.WithLabelValues(id),
		took: metrics.DeliverySeconds.WithLabelValues(id),
	}
}

// parseWebhooks returns the webhooks of the configured URLs, which must be absolute http or
// https URLs; a URL given twice is one webhook. An error names a URL by its place and
// WebhookID, never by the URL itself.
func parseWebhooks(urls []string) ([]*webhook, error) {
	var out []*webhook
	seen := map[string]bool{}
	for i, raw := range urls {
		id := WebhookID(raw)
		u, err := url.Parse(raw)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the url.Error would print the URL
			}
			return nil, fmt.Errorf("--alert-webhook #%d (webhook %s) is not a URL: %w", i+1, id, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("--alert-webhook #%d (webhook %s) is not an absolute http or https URL", i+1, id)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, &webhook{id: id, url: raw, host: u.Hostname(), metrics: newWebhookMetrics(id)})
	}
	return out, nil
}

// newClient returns the HTTP client of the webhooks. It follows only the redirects that keep
// the method and body (307, 308): after a 301, 302 or 303 a client would send a GET without
// the detection, so such an answer is the answer.
func newClient() *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.Method != http.MethodPost || len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// answer is what one POST came to.
type answer struct {
	status     int           // 0 when no answer came
	err        error         // why no answer came
	retryAfter time.Duration // what a 429 or 503 asked for, 0 when nothing
	excerpt    string        // the start of the answer's body
}

// post sends body to w once. The request does not end with ctx: a request under way is
// answered, or times out (requestTimeout), so that a stop never leaves unknown whether a
// detection was delivered.
func (n *notifier) post(ctx context.Context, w *webhook, d *model.Detection, body []byte) answer {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return answer{err: withoutURL(err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", d.DetectionID)
	req.Header.Set("User-Agent", "trailstream-notifier")
	resp, err := n.client.Do(req)
	if err != nil {
		return answer{err: withoutURL(err)}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
	a := answer{status: resp.StatusCode, excerpt: excerpt(head)}
	if a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable {
		a.retryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return a
}

// withoutURL returns err without the URL that net/http puts in its errors, since a
// webhook's URL may carry a token.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// excerpt returns b as text for a log: valid UTF-8, spaces folded.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), string(utf8.RuneError))
	return strings.Join(strings.Fields(s), " ")
}

// retryable reports whether a refusal with status passes: 408, 429 and 5xx. Every other
// status that is not 2xx refuses the detection for good.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500 && status <= 599
}

// retryAfter returns the wait a Retry-After header value asks for, in seconds or as an HTTP
// date, at most maxRetryAfter; 0 when there is none, it is invalid or already past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}

// refusal is a webhook's refusal of a detection for good: a status other than 2xx, 408, 429
// and 5xx.
type refusal struct {
	status  int
	excerpt string
}

func (r *refusal) Error() string {
	return fmt.Sprintf("refused with status %d: %q", r.status, r.excerpt)
}

// deliver POSTs body, d in the configured format, to w until w accepts it (2xx: its status
// and nil) or refuses it for good (its status and a *refusal). Between tries it waits with
// back-off, and at least as long as a Retry-After asks; it returns ctx's error when ctx ends
// between tries, never during one.
func (n *notifier) deliver(ctx context.Context, w *webhook, d *model.Detection, body []byte) (int, error) {
	wait := n.retry.Initial
	start := time.Now()
	for tries := 1; ; tries++ {
		a := n.post(ctx, w, d, body)
		switch {
		case a.err == nil && a.status >= 200 && a.status <= 299:
			w.metrics.took.Observe(time.Since(start).Seconds())
			return a.status, nil
		case a.err == nil && !retryable(a.status):
			w.metrics.took.Observe(time.Since(start).Seconds())
			return a.status, &refusal{a.status, a.excerpt}
		}
		if ctx.Err() == nil {
			w.metrics.retries.Inc()
		}
		pause := max(jitter(wait), a.retryAfter)
		attrs := []any{"webhook", w.id, "detection_id", d.DetectionID, "tries", tries, "backoff", pause}
		if a.err != nil {
			attrs = append(attrs, "err", a.err)
		} else {
			attrs = append(attrs, "status", a.status, "body", a.excerpt)
		}
		n.log.Warn("deliver to webhook: failed, trying again", attrs...)
		if !backoff.Sleep(ctx, pause) {
			return 0, ctx.Err()
		}
		wait = min(wait*2, n.retry.Max)
	}
}

// jitter spreads d over [0.75 d, 1.25 d), as pkg/backoff does.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}
