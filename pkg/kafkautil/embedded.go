package kafkautil

import (
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-memory Kafka-protocol broker (franz-go's kfake) for demos, single-machine
// trials and tests. Nothing it holds survives the process.
type Embedded struct {
	cluster *kfake.Cluster
	listen  string // the address the broker listens on
}

// EmbeddedOption changes how StartEmbedded sets the broker up.
type EmbeddedOption func(*embeddedOptions)

type embeddedOptions struct {
	advertise string
}

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
	e := &Embedded{}
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
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(listen),
		kfake.DefaultNumPartitions(partitions),
		kfake.AllowAutoTopicCreation(),
	)
	if err != nil {
		return nil, fmt.Errorf("start embedded Kafka on 127.0.0.1:%d: %w", port, err)
	}
	e.cluster = c
	return e, nil
}

// Brokers returns the addresses to bootstrap from: the advertised ones.
func (e *Embedded) Brokers() []string { return e.cluster.ListenAddrs() }

// ListenAddr returns the address the broker listens on, which differs from Brokers when it
// advertises another.
func (e *Embedded) ListenAddr() string { return e.listen }

// Close stops the broker.
func (e *Embedded) Close() { e.cluster.Close() }

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
