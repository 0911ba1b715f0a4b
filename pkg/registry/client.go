// Package registry writes and reads Kafka messages in the Confluent wire format and talks
// to a Confluent-compatible schema registry: a REST client (register a schema, set a
// subject's compatibility, fetch a schema by ID), the framing (byte 0x00, the schema ID as
// 4 bytes big-endian, then the Avro binary datum), and Serde, the one place producers
// encode events and detections and consumers decode them, in either framing.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ContentType is the registry API's media type, of requests and answers.
const ContentType = "application/vnd.schemaregistry.v1+json"

// Error codes of the registry API that this package acts on.
const (
	CodeSubjectNotFound  = 40401
	CodeVersionNotFound  = 40402
	CodeSchemaNotFound   = 40403
	CodeIncompatible     = 409
	CodeInvalidSchema    = 42201
	CodeInvalidVersion   = 42202
	CodeInvalidLevel     = 42203
	CodeSubjectNoConfig  = 40408
	CodeBackendDatastore = 50001
)

// Error is an answer of the registry other than success: its HTTP status and the body
// {"error_code", "message"}.
type Error struct {
	Status  int    `json:"-"`
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("schema registry: %s (HTTP %d, error_code %d)", e.Message, e.Status, e.Code)
}

// Transient reports whether err may pass by itself: the registry did not answer, or
// answered that it cannot serve now (HTTP 5xx, 429). Errors of the request, such as an
// unknown schema ID or an incompatible schema, are not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, errUnreadable) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return true
}

// errUnreadable marks an answer that asking again will not change: a schema that is not
// Avro.
var errUnreadable = errors.New("schema registry: unreadable schema")

// Client calls a schema registry's REST API.
type Client struct {
	base       string
	user, pass string
	http       *http.Client
}

// NewClient returns a client of the registry at base (http or https URL); user and pass,
// when user is not empty, are sent as basic authentication.
func NewClient(base, user, pass string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("schema registry URL %q: want http:// or https:// and a host", base)
	}
	return &Client{base: strings.TrimSuffix(base, "/"), user: user, pass: pass,
		http: &http.Client{Timeout: 10 * time.Second}}, nil
}

// do sends a request with body (nil: none) marshalled as JSON and decodes the answer into
// out (nil: ignored).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", ContentType+", application/vnd.schemaregistry+json; q=0.9, application/json; q=0.5")
	if body != nil {
		req.Header.Set("Content-Type", ContentType)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("schema registry: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("schema registry: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
			if len(e.Message) > 200 {
				e.Message = e.Message[:200]
			}
		}
		if e.Code == 0 {
			e.Code = resp.StatusCode
		}
		e.Message = method + " " + path + ": " + e.Message
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("schema registry: %s %s: answer is not the JSON expected: %w", method, path, err)
	}
	return nil
}

// Register registers an Avro schema under subject and returns its ID; a schema the subject
// already has keeps its ID. A schema the subject's compatibility refuses fails with an
// *Error of code 409.
func (c *Client) Register(ctx context.Context, subject, schema string) (int, error) {
	var out struct {
		ID int `json:"id"`
	}
	err := c.do(ctx, http.MethodPost, "/subjects/"+url.PathEscape(subject)+"/versions",
		map[string]string{"schema": schema, "schemaType": "AVRO"}, &out)
	if err != nil {
		return 0, err
	}
	if out.ID <= 0 {
		return 0, fmt.Errorf("schema registry: registering under %s answered schema ID %d", subject, out.ID)
	}
	return out.ID, nil
}

// SetCompatibility sets the compatibility level of subject (BACKWARD, FULL, NONE, ...).
func (c *Client) SetCompatibility(ctx context.Context, subject, level string) error {
	var out struct {
		Compatibility string `json:"compatibility"`
	}
	return c.do(ctx, http.MethodPut, "/config/"+url.PathEscape(subject), map[string]string{"compatibility": level}, &out)
}

// Compatibility returns the compatibility level set on subject.
func (c *Client) Compatibility(ctx context.Context, subject string) (string, error) {
	var out struct {
		Level string `json:"compatibilityLevel"`
	}
	err := c.do(ctx, http.MethodGet, "/config/"+url.PathEscape(subject), nil, &out)
	return out.Level, err
}

// SchemaByID returns the schema of ID id. An ID the registry does not have fails with an
// *Error of code 40403.
func (c *Client) SchemaByID(ctx context.Context, id int) (string, error) {
	var out struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/schemas/ids/%d", id), nil, &out); err != nil {
		return "", err
	}
	if out.SchemaType != "" && out.SchemaType != "AVRO" {
		return "", fmt.Errorf("%w: schema %d is %s, not Avro", errUnreadable, id, out.SchemaType)
	}
	return out.Schema, nil
}

// Ping asks the registry for its global configuration: whether it answers at all.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/config", nil, nil)
}
