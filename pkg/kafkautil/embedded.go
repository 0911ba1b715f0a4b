package kafkautil

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trailstream/trailstream/pkg/config"
)

// Embedded is an in-memory Kafka-protocol broker (franz-go's kfake) for demos, single-machine
// trials and tests. Nothing it holds survives the process.
type Embedded struct {
	cluster *kfake.Cluster
	listen  string // the address the broker listens on
	stop    context.CancelFunc
	done    chan struct{}
}

// segmentBytes is the size of the embedded broker's log segments.
const segmentBytes = 1 << 20

// EmbeddedOption changes how StartEmbedded sets the broker up.
type EmbeddedOption func(*embeddedOptions)

type embeddedOptions struct {
	advertise string
	tls       *tls.Config
	users     []config.SASL
}

// ServeTLS makes the broker serve TLS only, with c: its certificate, and, to ask clients
// for theirs, ClientAuth and ClientCAs.
func ServeTLS(c *tls.Config) EmbeddedOption {
	return func(o *embeddedOptions) { o.tls = c }
}

// RequireSASL makes the broker accept only clients that sign in as one of users, each with
// its mechanism (plain, scram-sha-256 or scram-sha-512, as --kafka-sasl-mechanism), user
// and password. Every user may do everything (there are no ACLs).
func RequireSASL(users ...config.SASL) EmbeddedOption {
	return func(o *embeddedOptions) { o.users = append(o.users, users...) }
}

// kfakeMechanisms are kfake's names of the mechanisms of --kafka-sasl-mechanism.
var kfakeMechanisms = map[string]string{"plain": "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512"}

// Advertise makes the broker give clients addr (host:port) as its address instead of the
// one it listens on. A Kafka client bootstraps from the addresses it is given but then
// connects to those the broker advertises in its metadata and coordinator answers, so this
// is what puts a proxy at addr between every client and the broker (ListenAddr says where
// the proxy forwards to).
func Advertise(addr string) EmbeddedOption {
	return func(o *embeddedOptions) { o.advertise = addr }
}

// StartEmbedded starts a one-broker in-memory cluster on 127.0.0.1:port (0 picks a free
// port) whose topics are created with the given number of partitions.
func StartEmbedded(port, partitions int, opts ...EmbeddedOption) (*Embedded, error) {
	var o embeddedOptions
	for _, opt := range opts {
		opt(&o)
	}
	e := &Embedded{done: make(chan struct{})}
	// kfake advertises whatever its listener's Addr says (broker.hostport in cluster.go), so
	// a listener that reports the advertised address is all it takes.
	listen := func(network, address string) (net.Listener, error) {
		ln, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		e.listen = ln.Addr().String()
		if o.advertise == "" {
			return ln, nil
		}
		return advertisedListener{Listener: ln, addr: hostPort(o.advertise)}, nil
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(listen),
		kfake.DefaultNumPartitions(partitions),
		kfake.AllowAutoTopicCreation(),
		// kfake appends each partition's batches to an in-memory segment that grows by
		// copying; segments of 1 MiB keep that copying small (at the default 100 MiB it took a
		// quarter of trailstream all's CPU).
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(segmentBytes)}),
	}
	// The reaper talks to the broker like any client: with TLS and SASL, it signs in as a
	// user of its own whose password and client certificate never leave the process.
	reach := Plain()
	if o.tls != nil {
		serverTLS, clientTLS, err := reaperTLS(o.tls)
		if err != nil {
			return nil, fmt.Errorf("start embedded Kafka on 127.0.0.1:%d: %w", port, err)
		}
		kopts = append(kopts, kfake.TLS(serverTLS))
		reach.TLS = clientTLS
	}
	if len(o.users) > 0 {
		kopts = append(kopts, kfake.EnableSASL())
		for _, u := range o.users {
			m, ok := kfakeMechanisms[u.Mechanism]
			if !ok || u.User == "" || u.Password == "" {
				return nil, fmt.Errorf("start embedded Kafka: SASL user %q: want a mechanism (plain, scram-sha-256, scram-sha-512), a user and a password", u.User)
			}
			kopts = append(kopts, kfake.Superuser(m, u.User, u.Password))
		}
		user, pass := "embedded-reaper-"+randomHex(8), randomHex(24)
		kopts = append(kopts, kfake.Superuser("PLAIN", user, pass))
		reach.SASL = plain.Mechanism{Username: user, Password: pass}
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded Kafka on 127.0.0.1:%d: %w", port, err)
	}
	e.cluster = c
	ctx, stop := context.WithCancel(context.Background())
	e.stop = stop
	r := newReaper(c, e.listen, reach)
	go func() {
		defer close(e.done)
		r.run(ctx)
	}()
	return e, nil
}

// Brokers returns the addresses to bootstrap from: the advertised ones.
func (e *Embedded) Brokers() []string { return e.cluster.ListenAddrs() }

// ListenAddr returns the address the broker listens on, which differs from Brokers when it
// advertises another.
func (e *Embedded) ListenAddr() string { return e.listen }

// Close stops the broker.
func (e *Embedded) Close() {
	e.stop()
	<-e.done
	e.cluster.Close()
}

// advertisedListener is a listener that reports another address as its own.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

// hostPort is a TCP address as host:port.
type hostPort string

func (a hostPort) Network() string { return "tcp" }
func (a hostPort) String() string  { return string(a) }

// reaperTLS returns the broker's TLS configuration with, when it asks clients for
// certificates, the reaper's own self-signed one accepted too, and the reaper's client
// configuration: its certificate, and the broker's certificate pinned (it dials the
// broker's own listener, by address).
func reaperTLS(server *tls.Config) (*tls.Config, *tls.Config, error) {
	server = server.Clone()
	client := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	if len(server.Certificates) > 0 && len(server.Certificates[0].Certificate) > 0 {
		leaf := server.Certificates[0].Certificate[0]
		client.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return errors.New("the embedded broker answered with a certificate not its own")
			}
			return nil
		}
	}
	if server.ClientAuth >= tls.VerifyClientCertIfGiven {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "embedded-reaper"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			BasicConstraintsValid: true, IsCA: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, nil, err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, err
		}
		pool := x509.NewCertPool()
		if server.ClientCAs != nil {
			pool = server.ClientCAs.Clone()
		}
		pool.AddCert(cert)
		server.ClientCAs = pool
		client.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}
	}
	return server, client, nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// A reaper removes the consumer-group members that kfake keeps although they are gone.
//
// kfake (groups.go of github.com/twmb/franz-go/pkg/kfake at the version in go.mod) starts a
// member's session timer only once an answer to it was delivered: group.reply calls
// updateHeartbeat only when creq.reply succeeded, and a member that joins for the first time
// has no timer while it waits in JoinGroup (addMemberAndRebalance → stopPending stops the only
// one). A member whose process dies while it waits for its first JoinGroup answer (kill -9
// during a rebalance, or a client that gave up waiting and joined again under a new member
// ID) is therefore kept with no timer at all when the rebalance completes, and the leader
// assigns it partitions. The one other guard, the pending-sync timer that drops members that
// never send SyncGroup, is stopped as soon as the leader syncs (completeLeaderSync →
// clearPendingSync). The dead member then holds its partitions, which nobody reads, until
// some later rebalance happens to sweep it: with sinks killed 18 s apart this left 3 of 6
// partitions unread for minutes. A real Kafka coordinator schedules every member's session
// expiry when a join completes, delivered or not, and expires pending syncs in the Stable
// state too. No kfake option changes this (session-timeout bounds only bound what clients
// may ask for), so the reaper does what the coordinator should: it watches, through kfake's
// Control hook, every group request that names a member, and a member listed in a group but
// heard from for longer than its session timeout plus its rebalance timeout (plus the
// client's request timeout) is made to leave the group. A live member is never silent that
// long: it waits in JoinGroup at most its rebalance timeout, then syncs and heartbeats
// within its session timeout.
//
// kfake also restarts the rebalance timer on every membership change while a group is
// preparing a rebalance (group.rebalance: "Always reset the timer"), where Kafka keeps the
// first deadline: while members keep joining less than a rebalance timeout apart, the
// rebalance does not complete. That only delays, and ends once the joins stop.
type reaper struct {
	cluster *kfake.Cluster
	client  *kafka.Client
	log     *slog.Logger

	mu     sync.Mutex
	groups map[string]*watchedGroup
}

type watchedGroup struct {
	silence time.Duration        // longest a live member of the group goes unheard
	heard   map[string]time.Time // member ID → when a request last named it, or it was first listed
}

// reapTick is how often the reaper looks at the groups.
const reapTick = time.Second

func newReaper(c *kfake.Cluster, listen string, reach Cluster) *reaper {
	reach.Brokers = []string{listen}
	t := reach.Transport()
	t.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return reach.dial(ctx, network, listen) // never through a proxy
	}
	r := &reaper{
		cluster: c,
		client:  &kafka.Client{Addr: kafka.TCP(listen), Timeout: 5 * time.Second, Transport: t},
		log:     slog.Default().With("component", "embedded-kafka"),
		groups:  make(map[string]*watchedGroup),
	}
	for _, k := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.OffsetCommit} {
		c.ControlKey(int16(k), r.observe)
	}
	return r
}

// observe notes the member a group request names; it never handles the request.
func (r *reaper) observe(req kmsg.Request) (kmsg.Response, error, bool) {
	var group, member string
	var silence time.Duration
	switch q := req.(type) {
	case *kmsg.JoinGroupRequest:
		group, member = q.Group, q.MemberID
		rebalance := q.RebalanceTimeoutMillis
		if rebalance <= 0 { // JoinGroup v0 has none: the session timeout serves
			rebalance = q.SessionTimeoutMillis
		}
		silence = time.Duration(q.SessionTimeoutMillis+rebalance)*time.Millisecond + clientTimeout
	case *kmsg.SyncGroupRequest:
		group, member = q.Group, q.MemberID
	case *kmsg.HeartbeatRequest:
		group, member = q.Group, q.MemberID
	case *kmsg.OffsetCommitRequest:
		group, member = q.Group, q.MemberID
	default:
		return nil, nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.groups[group]
	if g == nil {
		if silence == 0 { // not a classic group of a client we saw join
			return nil, nil, false
		}
		g = &watchedGroup{heard: make(map[string]time.Time)}
		r.groups[group] = g
	}
	g.silence = max(g.silence, silence)
	if member != "" {
		g.heard[member] = time.Now()
	}
	return nil, nil, false
}

// clientTimeout is the request timeout of kafka-go's consumer group, which it adds to the
// rebalance timeout while it waits for a JoinGroup answer.
const clientTimeout = 5 * time.Second

// run reaps every reapTick until ctx is done.
func (r *reaper) run(ctx context.Context) {
	tick := time.NewTicker(reapTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, gone := range r.silent(time.Now()) {
			r.leave(ctx, gone)
		}
	}
}

type member struct {
	group, id string
	silent    time.Duration
	assigned  int
}

// silent returns the members listed in their group and unheard for longer than the group's
// silence; it forgets the members no longer listed.
func (r *reaper) silent(now time.Time) []member {
	r.mu.Lock()
	names := make([]string, 0, len(r.groups))
	for name := range r.groups {
		names = append(names, name)
	}
	r.mu.Unlock()
	var out []member
	for _, name := range names {
		info := r.cluster.GroupInfo(name) // not under r.mu: observe runs on the cluster loop
		r.mu.Lock()
		g := r.groups[name]
		listed := make(map[string]bool)
		if info != nil {
			for _, m := range info.Members {
				listed[m.MemberID] = true
				last, ok := g.heard[m.MemberID]
				if !ok {
					g.heard[m.MemberID] = now
					continue
				}
				if d := now.Sub(last); d > g.silence {
					out = append(out, member{group: name, id: m.MemberID, silent: d, assigned: m.NumAssigned()})
				}
			}
		}
		for id := range g.heard {
			if !listed[id] {
				delete(g.heard, id)
			}
		}
		r.mu.Unlock()
	}
	return out
}

// leave makes m leave its group, which rebalances the group without it.
func (r *reaper) leave(ctx context.Context, m member) {
	_, err := r.client.LeaveGroup(ctx, &kafka.LeaveGroupRequest{GroupID: m.group, Members: []kafka.LeaveGroupRequestMember{{ID: m.id}}})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("a silent group member could not be removed; trying again", "group", m.group, "member", m.id, "err", err)
		}
		return
	}
	r.log.Warn("removed a group member silent for longer than its session and rebalance timeouts: its client is gone",
		"group", m.group, "member", m.id, "silent", m.silent.Round(time.Millisecond).String(), "partitions", m.assigned)
	r.mu.Lock()
	if g := r.groups[m.group]; g != nil {
		delete(g.heard, m.id)
	}
	r.mu.Unlock()
}

// Trim keeps the broker's memory to what its consumers still need: every interval until ctx
// ends, in each topic of consumers, it drops the messages that every consumer group listed
// for the topic has committed past (in each partition, up to the lowest of their committed
// offsets). A partition that one of the groups has not committed in keeps all it holds. A
// consumer not listed may find the messages it has not read gone.
//
// Each topic of capped, which no group of trailstream's reads (the dead letters, kept for
// people and their tools), keeps its newest messages up to about that many bytes; the
// oldest beyond are dropped, as a broker's retention.bytes would.
func (e *Embedded) Trim(ctx context.Context, interval time.Duration, consumers map[string][]string, capped map[string]int64, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for topic, groups := range consumers {
			for partition, offset := range e.consumed(topic, groups) {
				e.deleteBefore(topic, partition, offset, log)
			}
		}
		for topic, limit := range capped {
			for partition, offset := range e.overLimit(topic, limit) {
				if e.deleteBefore(topic, partition, offset, log) {
					log.Warn("embedded broker: dropped the oldest messages of a topic beyond its size limit; give --kafka-brokers to keep them",
						"topic", topic, "partition", partition, "first_offset_kept", offset, "limit_bytes", limit)
				}
			}
		}
	}
}

// deleteBefore drops the messages of a partition before offset and reports whether it did.
func (e *Embedded) deleteBefore(topic string, partition int32, offset int64, log *slog.Logger) bool {
	if err := e.cluster.DeleteRecords(topic, partition, offset); err != nil {
		log.Debug("embedded broker: trimming a partition failed", "topic", topic, "partition", partition, "offset", offset, "err", err)
		return false
	}
	return true
}

// overLimit returns, for each partition of topic that holds more than its share of limit
// bytes, the offset from which it keeps about that share: as many of its oldest messages
// are dropped as their average size says.
func (e *Embedded) overLimit(topic string, limit int64) map[int32]int64 {
	ps := e.cluster.PartitionInfos(topic)
	out := map[int32]int64{}
	for _, p := range ps {
		share, n := limit/int64(len(ps)), p.HighWatermark-p.LogStartOffset
		if p.NumBytes <= share || n <= 0 {
			continue
		}
		size := max(p.NumBytes/n, 1)
		out[p.Partition] = p.LogStartOffset + min((p.NumBytes-share+size-1)/size, n)
	}
	return out
}

// consumed returns, for each partition of topic that every one of groups has committed in,
// the lowest offset they committed: where the messages still needed start.
func (e *Embedded) consumed(topic string, groups []string) map[int32]int64 {
	var low map[int32]int64
	for _, g := range groups {
		var commits map[int32]kfake.GroupCommit
		if info := e.cluster.GroupInfo(g); info != nil {
			commits = info.Commits[topic]
		}
		if low == nil {
			low = make(map[int32]int64, len(commits))
			for p, c := range commits {
				low[p] = c.Offset
			}
			continue
		}
		for p := range low {
			c, ok := commits[p]
			if !ok {
				delete(low, p)
				continue
			}
			low[p] = min(low[p], c.Offset)
		}
	}
	for p, off := range low {
		if off <= 0 {
			delete(low, p)
		}
	}
	return low
}

// LogStart returns the first offset the broker still holds of each partition of topic.
func (e *Embedded) LogStart(topic string) map[int32]int64 {
	out := map[int32]int64{}
	for _, p := range e.cluster.PartitionInfos(topic) {
		out[p.Partition] = p.LogStartOffset
	}
	return out
}

// Held returns the bytes of the message batches the broker holds in topics.
func (e *Embedded) Held(topics ...string) int64 {
	var n int64
	for _, t := range topics {
		for _, p := range e.cluster.PartitionInfos(t) {
			n += p.NumBytes
		}
	}
	return n
}

// WaitBelow returns a wait for a producer that must not outrun the broker's memory: it
// returns at once while the broker holds less than limit bytes of topics, and otherwise
// once it does (consumers committed, Trim dropped), or with ctx's error.
func (e *Embedded) WaitBelow(limit int64, topics ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		for e.Held(topics...) >= limit {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		return nil
	}
}
