package kafkautil

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/config"
)

// Cluster is how trailstream's clients reach a Kafka cluster: its bootstrap brokers and,
// when configured, TLS and a SASL sign-in. Every reader, writer, admin call and dial of
// trailstream goes through one (Dialer, Transport, Client), so that all of them encrypt
// and authenticate alike. The zero TLS and SASL are plaintext without sign-in. A Cluster
// is safe for concurrent use and cheap to copy.
type Cluster struct {
	Brokers []string
	// TLS is the client TLS configuration; nil: plaintext.
	TLS *tls.Config
	// SASL is the sign-in; nil: none.
	SASL sasl.Mechanism
	// Compression is the codec of the batches produced; zero: none.
	Compression kafka.Compression
}

// NewCluster returns the Cluster of the configuration: --kafka-brokers, --kafka-tls* and
// --kafka-sasl-*. It fails on settings that cannot work (an unreadable CA file, a SASL
// mechanism without a password, ...).
func NewCluster(cfg config.Config) (Cluster, error) {
	c := Cluster{Brokers: cfg.Brokers()}
	codec, ok := compressions[cfg.KafkaCompression]
	if !ok {
		return Cluster{}, backoff.Permanent(fmt.Errorf("--kafka-compression %q: use none, gzip, snappy, lz4 or zstd", cfg.KafkaCompression))
	}
	c.Compression = codec
	var err error
	if c.TLS, err = cfg.KafkaTLS.Config(); err != nil {
		return Cluster{}, fmt.Errorf("Kafka %w", err)
	}
	if c.SASL, err = Mechanism(cfg.KafkaSASL); err != nil {
		return Cluster{}, err
	}
	return c, nil
}

// compressions are the codecs of --kafka-compression; empty is none.
var compressions = map[string]kafka.Compression{
	"": 0, "none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

// Plain returns the Cluster of brokers without TLS or SASL.
func Plain(brokers ...string) Cluster { return Cluster{Brokers: brokers} }

// Mechanism returns the SASL mechanism of the settings (nil when s names none), which
// remembers the brokers where a sign-in began and did not complete, for the error that
// follows (see Cluster.Explain).
func Mechanism(s config.SASL) (sasl.Mechanism, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	var m sasl.Mechanism
	switch s.Mechanism {
	case "":
		return nil, nil
	case "plain":
		m = plain.Mechanism{Username: s.User, Password: s.Password}
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if s.Mechanism == "scram-sha-512" {
			algo = scram.SHA512
		}
		var err error
		if m, err = scram.Mechanism(algo, s.User, s.Password); err != nil {
			// xdg-go/scram refuses a user name or password that SASLprep cannot
			// prepare; say which, never what.
			return nil, fmt.Errorf("--kafka-sasl-mechanism %s: the user name or password cannot be used (SASLprep refuses it)", s.Mechanism)
		}
	}
	return &signIn{Mechanism: m, user: s.User, unfinished: map[string]bool{}}, nil
}

// String describes the cluster for logs and errors: the brokers, TLS or not, the SASL
// mechanism and user. It never includes a password.
func (c Cluster) String() string {
	var b strings.Builder
	b.WriteString(strings.Join(c.Brokers, ","))
	if c.TLS != nil {
		b.WriteString(" (TLS")
	} else {
		b.WriteString(" (plaintext")
	}
	if c.SASL != nil {
		fmt.Fprintf(&b, ", SASL %s", c.SASL.Name())
		if s, ok := c.SASL.(*signIn); ok {
			fmt.Fprintf(&b, " as %q", s.user)
		}
	}
	b.WriteString(")")
	return b.String()
}

// LogValue logs the cluster as String does, never with the password (slog's JSON handler
// would otherwise marshal the SASL mechanism's fields).
func (c Cluster) LogValue() slog.Value { return slog.StringValue(c.String()) }

// dialTimeout bounds a connection with its TLS handshake when no timeout is given.
const dialTimeout = 10 * time.Second

// Dialer returns a kafka-go Dialer of the cluster (for kafka.Conn, readers and consumer
// groups); timeout bounds a connection with its TLS handshake and sign-in (0: 10 s).
func (c Cluster) Dialer(timeout time.Duration) *kafka.Dialer {
	if timeout <= 0 {
		timeout = dialTimeout
	}
	return &kafka.Dialer{Timeout: timeout, DialFunc: c.dial, SASLMechanism: c.SASL}
}

// Transport returns a kafka-go Transport of the cluster (for writers and kafka.Client), with
// connections of its own.
func (c Cluster) Transport() *kafka.Transport {
	return &kafka.Transport{Dial: c.dial, DialTimeout: dialTimeout, SASL: c.SASL}
}

// Client returns a kafka-go Client of the cluster's brokers whose requests time out after
// timeout (0: kafka-go's default).
func (c Cluster) Client(timeout time.Duration) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: c.Transport()}
}

// dial opens a TCP connection to address and, with TLS, completes the handshake, so that a
// certificate that does not verify is an error naming the broker instead of a later read
// failing.
func (c Cluster) dial(ctx context.Context, network, address string) (net.Conn, error) {
	conn, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(ctx, network, address)
	if err != nil || c.TLS == nil {
		return conn, err
	}
	cfg := c.TLS
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(address)
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, &BrokerTLSError{Broker: address, Err: err}
	}
	return tc, nil
}

// BrokerTLSError is a TLS handshake with a broker that failed.
type BrokerTLSError struct {
	Broker string
	Err    error
}

func (e *BrokerTLSError) Error() string {
	return fmt.Sprintf("TLS handshake with Kafka broker %s: %v", e.Broker, e.Err)
}

func (e *BrokerTLSError) Unwrap() error { return e.Err }

// AuthError is a sign-in a broker refused.
type AuthError struct {
	Brokers   []string // where the sign-in began and did not complete; else the bootstrap brokers
	Mechanism string
	User      string
	Err       error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("Kafka broker %s refused the SASL %s sign-in of user %q (check --kafka-sasl-user, the password and --kafka-sasl-mechanism against the broker's users): %v",
		strings.Join(e.Brokers, ","), e.Mechanism, e.User, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// Explain turns the failures to encrypt or sign in that retrying cannot cure into
// permanent errors that say so: a refused SASL sign-in (an *AuthError naming the broker,
// the mechanism and the user) and a TLS handshake that failed on the certificates or
// against a server that does not speak TLS. Other errors come back as they were.
func (c Cluster) Explain(err error) error {
	return explain(err, c.Brokers, c.SASL)
}

// Diagnose is Explain for the errors of a Transport or Client, which hide why a broker
// could not be reached (kafka-go answers "Broker Not Available" for a request to a broker it
// could not sign in to): when err is not permanent, it connects to a bootstrap broker with
// the Dialer, which says why, and returns that when it is a refused sign-in or handshake.
func (c Cluster) Diagnose(ctx context.Context, err error) error {
	if err = c.Explain(err); err == nil || backoff.IsPermanent(err) || ctx.Err() != nil || len(c.Brokers) == 0 {
		return err
	}
	conn, derr := c.Dialer(0).DialContext(ctx, "tcp", c.Brokers[0])
	if derr != nil {
		if derr = c.Explain(derr); backoff.IsPermanent(derr) {
			return derr
		}
		return err
	}
	conn.Close()
	return err
}

func explain(err error, brokers []string, m sasl.Mechanism) error {
	if err == nil || errors.As(err, new(*AuthError)) {
		return err
	}
	if m != nil && (errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, kafka.UnsupportedSASLMechanism) || errors.Is(err, kafka.IllegalSASLState)) {
		ae := &AuthError{Brokers: brokers, Mechanism: m.Name(), Err: err}
		if s, ok := m.(*signIn); ok {
			ae.User = s.user
			if where := s.failed(); len(where) > 0 {
				ae.Brokers = where
			}
		}
		return backoff.Permanent(ae)
	}
	if config.TLSRefused(err) {
		if !errors.As(err, new(*BrokerTLSError)) {
			err = fmt.Errorf("TLS with Kafka %v: %w", brokers, err)
		}
		return backoff.Permanent(fmt.Errorf("%w (check --kafka-tls-ca, --kafka-tls-cert and that the brokers serve TLS)", err))
	}
	return err
}

// signIn is a SASL mechanism that notes, per broker, a sign-in that began and did not
// complete: a broker refusing a password closes the connection or answers an error, and
// neither names the broker in kafka-go's errors.
type signIn struct {
	sasl.Mechanism
	user string

	mu         sync.Mutex
	unfinished map[string]bool // broker address → a sign-in there began and did not complete
}

func (s *signIn) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	sm, ir, err := s.Mechanism.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	broker := "?"
	if md := sasl.MetadataFromContext(ctx); md != nil {
		broker = net.JoinHostPort(md.Host, strconv.Itoa(md.Port))
	}
	s.mu.Lock()
	s.unfinished[broker] = true
	s.mu.Unlock()
	return &signInState{StateMachine: sm, of: s, broker: broker}, ir, nil
}

// failed returns the brokers where a sign-in began and did not complete.
func (s *signIn) failed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for b := range s.unfinished {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

type signInState struct {
	sasl.StateMachine
	of     *signIn
	broker string
}

func (st *signInState) Next(ctx context.Context, challenge []byte) (bool, []byte, error) {
	done, resp, err := st.StateMachine.Next(ctx, challenge)
	if done && err == nil {
		st.of.mu.Lock()
		delete(st.of.unfinished, st.broker)
		st.of.mu.Unlock()
	}
	return done, resp, err
}
