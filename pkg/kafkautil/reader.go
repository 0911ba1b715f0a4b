package kafkautil

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// The consumer-group timings of every reader. kafka-go's defaults (session and rebalance
// timeouts 30 s, heartbeats every 3 s, 5 s before joining again after a failed join) leave
// the partitions of a reader that died without leaving (kill -9, a lost machine) unread
// for up to 30 s, and make every member that joins meanwhile wait as long.
//
// A reader leaves its group when it is closed (kafka-go's ConsumerGroup sends LeaveGroup
// on ErrGroupClosed), so a stopped service hands its partitions over at once; the timeouts
// only matter for one that vanished. kafka-go heartbeats from a goroutine of its own,
// independent of the batch being handled, so a slow ClickHouse insert or a long retry does
// not cost a reader its session, and it rejoins a rebalance on its own within a heartbeat
// interval, without waiting for the handler. 10 s is Kafka's classic default session
// timeout; a broker refuses less than its group.min.session.timeout.ms (6 s by default,
// kfake's too).
//
// The embedded broker has a defect of its own that these settings do not cure: it may keep
// a member that died while waiting for its first JoinGroup answer, with partitions, for
// good. Embedded works around it; see reaper in embedded.go.
const (
	sessionTimeout    = 10 * time.Second
	heartbeatInterval = time.Second
	rebalanceTimeout  = 10 * time.Second
	joinGroupBackoff  = time.Second
)

// NewReader returns a consumer-group reader of topic. Offsets are committed explicitly
// (see ConsumeBatches); a new group starts from the oldest message.
func NewReader(c Cluster, group, topic string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           c.Brokers,
		Dialer:            c.Dialer(0),
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           100 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0,
		SessionTimeout:    sessionTimeout,
		HeartbeatInterval: heartbeatInterval,
		RebalanceTimeout:  rebalanceTimeout,
		JoinGroupBackoff:  joinGroupBackoff,
	})
}
