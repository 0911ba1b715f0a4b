package kafkautil

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-memory Kafka-protocol broker (franz-go's kfake) for demos, single-machine
// trials and tests. Nothing it holds survives the process.
type Embedded struct {
	cluster *kfake.Cluster
}

// StartEmbedded starts a one-broker in-memory cluster on 127.0.0.1:port (0 picks a free
// port) whose topics are created with the given number of partitions.
func StartEmbedded(port, partitions int) (*Embedded, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DefaultNumPartitions(partitions),
		kfake.AllowAutoTopicCreation(),
	)
	if err != nil {
		return nil, fmt.Errorf("start embedded Kafka on 127.0.0.1:%d: %w", port, err)
	}
	return &Embedded{cluster: c}, nil
}

// Brokers returns the addresses to bootstrap from.
func (e *Embedded) Brokers() []string { return e.cluster.ListenAddrs() }

// Close stops the broker.
func (e *Embedded) Close() { e.cluster.Close() }
