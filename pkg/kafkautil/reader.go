package kafkautil

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// NewReader returns a consumer-group reader of topic. Offsets are committed explicitly
// (see ConsumeBatches); a new group starts from the oldest message.
func NewReader(brokers []string, group, topic string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:        brokers,
		GroupID:        group,
		Topic:          topic,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        100 * time.Millisecond,
		StartOffset:    kafka.FirstOffset,
		CommitInterval: 0,
	})
}
