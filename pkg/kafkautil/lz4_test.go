package kafkautil_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"

	_ "github.com/trailstream/trailstream/pkg/kafkautil" // installs its lz4 codec
)

// TestLz4Frames: the lz4 codec kafka-go uses once kafkautil is loaded writes frames without
// a content checksum, in 64 KiB blocks, every time (its writers are pooled), which read back
// as written, with kafka-go's reader and with the lz4 package's own.
func TestLz4Frames(t *testing.T) {
	codec := compress.Lz4.Codec()
	var data []byte
	for i := range 20000 {
		data = fmt.Appendf(data, `{"eventID":"%d","eventName":"ListUsers"},`, i) // 800 KB, a dozen blocks
	}
	for i := range 3 {
		var frame bytes.Buffer
		w := codec.NewWriter(&frame)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b := frame.Bytes()
		if len(b) < 7 || !bytes.Equal(b[:4], []byte{0x04, 0x22, 0x4d, 0x18}) {
			t.Fatalf("frame %d starts % x, want the lz4 frame magic", i, b[:min(len(b), 7)])
		}
		if flg := b[4]; flg&0x04 != 0 || flg&0x10 != 0 {
			t.Errorf("frame %d: flags %08b, want no content checksum (bit 2) and no block checksums (bit 4)", i, flg)
		}
		if bd := b[5] >> 4 & 0x07; bd != 4 {
			t.Errorf("frame %d: block size code %d, want 4 (64 KiB)", i, bd)
		}
		if len(b) >= len(data)/2 {
			t.Errorf("frame %d: %d bytes for %d, want it compressed", i, len(b), len(data))
		}
		r := codec.NewReader(bytes.NewReader(b))
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("frame %d read back with kafka-go's reader: %d bytes, %v; want the %d written", i, len(got), err, len(data))
		}
		if got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(b))); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("frame %d read back with the lz4 package's reader: %d bytes, %v", i, len(got), err)
		}
	}
}

// BenchmarkLz4 compresses and reads back a record batch of 1 MiB of CloudTrail-like JSON
// with kafka-go's own lz4 codec and with the one kafkautil installs.
func BenchmarkLz4(b *testing.B) {
	var data []byte
	for i := 0; len(data) < 1<<20; i++ {
		data = fmt.Appendf(data, `{"eventVersion":"1.08","eventID":"%08d-1111-2222-3333","eventName":"ListUsers","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.%d","userAgent":"aws-cli/2.15.0"},`, i, i%250)
	}
	for _, c := range []struct {
		name  string
		codec compress.Codec
	}{{"kafka-go", &compress.Lz4Codec}, {"kafkautil", compress.Lz4.Codec()}} {
		b.Run(c.name, func(b *testing.B) {
			var frame bytes.Buffer
			out := make([]byte, 0, len(data))
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				frame.Reset()
				w := c.codec.NewWriter(&frame)
				if _, err := w.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				r := c.codec.NewReader(bytes.NewReader(frame.Bytes()))
				buf := bytes.NewBuffer(out[:0])
				if _, err := buf.ReadFrom(r); err != nil || buf.Len() != len(data) {
					b.Fatalf("read back %d bytes, %v", buf.Len(), err)
				}
				r.Close()
			}
		})
	}
}
