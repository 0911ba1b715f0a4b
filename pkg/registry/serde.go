package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/schemas"
)

// Compatibility is the level trailstream sets on its subjects: a consumer holding the
// newest schema reads every message written with the one before.
const Compatibility = "BACKWARD"

// Subject is the subject of a topic's message values (the registry's TopicNameStrategy).
func Subject(topic string) string { return topic + "-value" }

// Serde encodes events and detections for Kafka and decodes them, in the framing the
// settings ask for. A nil *Serde is the one without a registry: it writes the single-object
// encoding and reads it, and refuses messages in the wire format, which it cannot resolve.
//
// Producers call RegisterEvents or RegisterDetections once before writing; consumers call
// Resolve on each batch before decoding it. Encoding and decoding never ask the registry:
// what they need was fetched by those calls and is kept.
type Serde struct {
	client *Client
	log    *slog.Logger

	event, detection atomic.Pointer[[HeaderLen]byte] // header written; nil until registered

	mu  sync.RWMutex
	ids map[uint32]resolved
}

// resolved is what a schema ID was found to be: the fingerprint of its schema, or why it
// cannot be read.
type resolved struct {
	fp  uint64
	err error
}

// Open returns the Serde of cfg: nil when no --schema-registry-url is set.
func Open(cfg config.Config, log *slog.Logger) (*Serde, error) {
	if cfg.SchemaRegistryURL == "" {
		return nil, nil
	}
	c, err := NewClient(cfg.SchemaRegistryURL, cfg.SchemaRegistryUser, cfg.SchemaRegistryPassword)
	if err != nil {
		return nil, err
	}
	return New(c, log), nil
}

// New returns the Serde that writes the wire format with the schema IDs c hands out.
func New(c *Client, log *slog.Logger) *Serde {
	return &Serde{client: c, log: log.With("schema_registry", c.base), ids: map[uint32]resolved{}}
}

// Client returns the registry client, nil for the Serde without a registry.
func (s *Serde) Client() *Client {
	if s == nil {
		return nil
	}
	return s.client
}

// RegisterEvents registers the event schema under topic's subject with BACKWARD
// compatibility, trying again with backoff while the registry does not answer; from then
// on EncodeEvent writes the wire format with its ID. It fails when ctx ends first or the
// registry refuses the schema. Once registered, calling it again does nothing. Nothing for
// the Serde without a registry.
func (s *Serde) RegisterEvents(ctx context.Context, topic string) error {
	if s == nil {
		return nil
	}
	return s.register(ctx, topic, schemas.Event, model.EventFingerprint(), &s.event)
}

// RegisterDetections is RegisterEvents for the detection schema and EncodeDetection.
func (s *Serde) RegisterDetections(ctx context.Context, topic string) error {
	if s == nil {
		return nil
	}
	return s.register(ctx, topic, schemas.Detection, model.DetectionFingerprint(), &s.detection)
}

// register registers schema, whose fingerprint is fp, and stores the header that names its ID.
func (s *Serde) register(ctx context.Context, topic, schema string, fp uint64, header *atomic.Pointer[[HeaderLen]byte]) error {
	if header.Load() != nil {
		return nil
	}
	subject := Subject(topic)
	var id int
	err := backoff.Retry(ctx, s.log, "register schema "+subject, backoff.Default, func(ctx context.Context) error {
		err := s.client.SetCompatibility(ctx, subject, Compatibility)
		if err == nil {
			id, err = s.client.Register(ctx, subject, schema)
		}
		if err != nil && !Transient(err) {
			return backoff.Permanent(err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("register the schema of %s: %w", topic, err)
	}
	h := Header(uint32(id))
	header.Store(&h)
	s.mu.Lock()
	s.ids[uint32(id)] = resolved{fp: fp}
	s.mu.Unlock()
	s.log.Info("schema registered", "subject", subject, "id", id, "compatibility", Compatibility)
	return nil
}

// Check is the readiness check of the registry: whether it answers. Nil for the Serde
// without a registry.
func (s *Serde) Check(ctx context.Context) error {
	if s == nil {
		return nil
	}
	return s.client.Ping(ctx)
}

var errNotRegistered = errors.New("schema registry: the schema was not registered before writing (RegisterEvents/RegisterDetections)")

// EncodeEvent appends e to buf: in the wire format with the registered schema ID, or
// single-object encoded for the Serde without a registry. It allocates nothing when buf has
// room.
func (s *Serde) EncodeEvent(buf []byte, e *model.Event) ([]byte, error) {
	if s == nil {
		return model.EncodeEvent(buf, e)
	}
	h := s.event.Load()
	if h == nil {
		return nil, errNotRegistered
	}
	return model.EncodeEventAfter(buf, h[:], e)
}

// EncodeDetection is EncodeEvent for a detection.
func (s *Serde) EncodeDetection(buf []byte, d *model.Detection) ([]byte, error) {
	if s == nil {
		return model.EncodeDetection(buf, d)
	}
	h := s.detection.Load()
	if h == nil {
		return nil, errNotRegistered
	}
	return model.EncodeDetectionAfter(buf, h[:], d)
}

// Resolve fetches the schema of every ID that msgs in the wire format carry and the Serde
// does not know yet, trying again with backoff while the registry does not answer: it
// returns nil once each is known, or ctx's error. An ID the registry does not have, or of
// a schema that is none of trailstream's, is kept as such: decoding its messages fails.
func (s *Serde) Resolve(ctx context.Context, msgs []kafka.Message) error {
	if s == nil {
		return nil
	}
	var last uint32
	for i := range msgs {
		id, _, err := Split(msgs[i].Value)
		if err != nil || id == last {
			continue
		}
		last = id
		s.mu.RLock()
		_, ok := s.ids[id]
		s.mu.RUnlock()
		if ok {
			continue
		}
		if err := s.fetch(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Serde) fetch(ctx context.Context, id uint32) error {
	var r resolved
	err := backoff.Retry(ctx, s.log, fmt.Sprintf("fetch schema %d", id), backoff.Default, func(ctx context.Context) error {
		schema, err := s.client.SchemaByID(ctx, int(id))
		switch {
		case err == nil:
			r = fingerprint(id, schema)
		case Transient(err):
			return err
		default:
			r = resolved{err: fmt.Errorf("schema ID %d: %w", id, err)}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("schema registry: resolving schema ID %d: %w", id, err)
	}
	s.mu.Lock()
	s.ids[id] = r
	s.mu.Unlock()
	return nil
}

// fingerprint returns the fingerprint of a schema the registry answered for id: the Rabin
// fingerprint of its canonical form, as the single-object header carries.
func fingerprint(id uint32, schema string) resolved {
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		return resolved{err: fmt.Errorf("schema ID %d does not compile as Avro: %w", id, err)}
	}
	return resolved{fp: codec.Rabin}
}

// lookup returns the fingerprint of a message in the wire format, with the datum.
func (s *Serde) lookup(msg []byte) (uint64, []byte, error) {
	id, datum, err := Split(msg)
	if err != nil {
		return 0, nil, err
	}
	if s == nil {
		return 0, nil, fmt.Errorf("message in the Confluent wire format (schema ID %d), and no --schema-registry-url to resolve it", id)
	}
	s.mu.RLock()
	r, ok := s.ids[id]
	s.mu.RUnlock()
	switch {
	case !ok:
		return 0, nil, fmt.Errorf("schema ID %d was not resolved (Resolve) before decoding", id)
	case r.err != nil:
		return 0, nil, r.err
	}
	return r.fp, datum, nil
}

// DecodeEvent decodes an event in either framing: single-object encoded, or in the wire
// format with a schema ID that Resolve fetched. earlier reports an event written with an
// earlier version of the schema (model.EarlierEvent). An ID whose schema is not a version
// of the event schema fails, naming the ID and its fingerprint.
func (s *Serde) DecodeEvent(msg []byte) (e *model.Event, earlier bool, err error) {
	if !Framed(msg) {
		e, err = model.DecodeEvent(msg)
		return e, err == nil && model.EarlierEvent(msg), err
	}
	fp, datum, err := s.lookup(msg)
	if err != nil {
		return nil, false, fmt.Errorf("decode event: %w", err)
	}
	if !model.KnownEventSchema(fp) {
		return nil, false, fmt.Errorf("decode event: schema ID %d (fingerprint %016x) is no version of the event schema", id(msg), fp)
	}
	e, err = model.DecodeEventDatum(fp, datum, HeaderLen)
	return e, err == nil && model.EarlierEventSchema(fp), err
}

// DecodeDetection is DecodeEvent for a detection.
func (s *Serde) DecodeDetection(msg []byte) (*model.Detection, error) {
	if !Framed(msg) {
		return model.DecodeDetection(msg)
	}
	fp, datum, err := s.lookup(msg)
	if err != nil {
		return nil, fmt.Errorf("decode detection: %w", err)
	}
	if !model.KnownDetectionSchema(fp) {
		return nil, fmt.Errorf("decode detection: schema ID %d (fingerprint %016x) is no version of the detection schema", id(msg), fp)
	}
	return model.DecodeDetectionDatum(fp, datum, HeaderLen)
}

func id(msg []byte) uint32 {
	i, _, _ := Split(msg)
	return i
}
