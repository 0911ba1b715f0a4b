package kafkautil

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

// BenchmarkConsumerMetrics measures what the consume loop's metrics cost a batch of 5,000
// messages of 6 partitions: the lag of each partition.
func BenchmarkConsumerMetrics(b *testing.B) {
	batch := make([]kafka.Message, 5000)
	for i := range batch {
		batch[i] = kafka.Message{Partition: i % 6, Offset: int64(i / 6), HighWaterMark: 10000}
	}
	m := newConsumerMetrics("bench", "bench")
	for b.Loop() {
		m.handled(batch)
	}
}
