package ledger

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/testenv"
)

func TestRecordSeenMissing(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	l := New(conn, c.ClickHouseDatabase)
	ctx := context.Background()
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	key := func(i int) string {
		return fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/111122223333_CloudTrail_us-east-1_20261130T%04dZ_x.json.gz", i)
	}
	// 40 files recorded at once are stored in one or a few batches, and each Record returns
	// only once its entry is stored.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.Record(ctx, Entry{Source: "s", Bucket: "b", Key: key(i), Kind: "log", Account: "111122223333",
				Region: "us-east-1", Day: day, Records: 10, ReadAt: time.Now(), Path: PathScan, Outcome: OutcomeRead})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+c.ClickHouseDatabase+".files").Scan(&n); err != nil || n != 40 {
		t.Fatalf("files rows: %d, %v; want 40", n, err)
	}
	seen, err := l.Seen(ctx, "b", []string{key(39), key(3), key(41), "AWSLogs/other"})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || !seen[key(3)] || !seen[key(39)] {
		t.Fatalf("Seen = %v, want keys 3 and 39", seen)
	}
	if seen, _ := l.Seen(ctx, "other-bucket", []string{key(3)}); len(seen) != 0 {
		t.Fatalf("Seen in another bucket = %v", seen)
	}

	// A digest listing files 1, 2 and 50, read an hour ago: 50 is missing. One read just now
	// listing 51 is still within the grace.
	old := time.Now().Add(-time.Hour)
	err = l.Digest(ctx, []DigestFile{
		{Source: "s", DigestKey: "d1", Bucket: "b", Key: key(1), Hour: day, ReadAt: old},
		{Source: "s", DigestKey: "d1", Bucket: "b", Key: key(2), Hour: day, ReadAt: old},
		{Source: "s", DigestKey: "d1", Bucket: "b", Key: key(50), Account: "111122223333", Region: "us-east-1", Hour: day, ReadAt: old},
		{Source: "s", DigestKey: "d2", Bucket: "b", Key: key(51), Hour: day.Add(time.Hour), ReadAt: time.Now()},
		{Source: "other", DigestKey: "d3", Bucket: "b", Key: key(52), Hour: day, ReadAt: old},
	})
	if err != nil {
		t.Fatal(err)
	}
	missing, err := l.Missing(ctx, "s", day.Add(-24*time.Hour), 30*time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0].Key != key(50) || missing[0].Account != "111122223333" || missing[0].DigestKey != "d1" {
		t.Fatalf("Missing = %+v, want only file 50", missing)
	}
	if missing, _ := l.Missing(ctx, "s", day.Add(2*time.Hour), 30*time.Minute, 100); len(missing) != 0 {
		t.Fatalf("Missing since after the digest hours = %+v", missing)
	}

	// A file read with another content than its digest lists.
	if err := l.Record(ctx, Entry{Source: "s", Bucket: "b", Key: key(60), Kind: "log", Day: day, SHA256: "aaaa", ReadAt: time.Now(), Outcome: OutcomeRead}); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, Entry{Source: "s", Bucket: "b", Key: key(61), Kind: "log", Day: day, SHA256: "bbbb", ReadAt: time.Now(), Outcome: OutcomeRead}); err != nil {
		t.Fatal(err)
	}
	err = l.Digest(ctx, []DigestFile{
		{Source: "s", DigestKey: "d4", Bucket: "b", Key: key(60), Hour: day, SHA256: "aaaa", ReadAt: old},
		{Source: "s", DigestKey: "d4", Bucket: "b", Key: key(61), Hour: day, SHA256: "cccc", ReadAt: old},
	})
	if err != nil {
		t.Fatal(err)
	}
	changed, err := l.Changed(ctx, "s", day.Add(-24*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 1 || changed[0].Key != key(61) || changed[0].SHA256 != "cccc" {
		t.Fatalf("Changed = %+v, want file 61 only", changed)
	}
}
