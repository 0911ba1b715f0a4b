package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

// TestHas answers each of many lookups made at once rightly, of keys anywhere in a bucket
// and of two buckets, with a few queries instead of one a lookup.
func TestHas(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	l := New(conn, c.ClickHouseDatabase)
	var sent atomic.Int64 // lookups sent to ClickHouse
	lookup := l.lookups.Do
	l.lookups.Do = func(bucket string, keys []string) ([]bool, error) {
		sent.Add(1)
		return lookup(bucket, keys)
	}
	ctx := context.Background()
	key := func(account, i int) string {
		return fmt.Sprintf("AWSLogs/%012d/CloudTrail/us-east-1/2026/11/30/%012d_CloudTrail_us-east-1_20261130T%04dZ_x.json.gz", account, account, i)
	}
	for _, e := range []Entry{{Bucket: "b", Key: key(1, 1)}, {Bucket: "b", Key: key(9, 2)}, {Bucket: "c", Key: key(5, 3)}} {
		e.Source, e.Kind, e.Day, e.ReadAt, e.Path, e.Outcome = "s", "log", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Now(), PathNotification, OutcomeRead
		if err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	type ask struct {
		bucket, key string
		want        bool
	}
	var asks []ask
	for i := range 10 {
		asks = append(asks,
			ask{"b", key(1, 1), true}, ask{"b", key(9, 2), true}, ask{"b", key(5, 3), false}, // 5/3 is c's
			ask{"c", key(5, 3), true}, ask{"c", key(1, 1), false}, ask{"b", key(2, i), false})
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range asks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := l.Has(ctx, a.bucket, a.key)
			if err != nil || got != a.want {
				t.Errorf("Has(%s, %s) = %v, %v; want %v", a.bucket, a.key, got, err, a.want)
			}
		}()
	}
	close(start)
	wg.Wait()
	queries := sent.Load()
	if queries > 10 {
		t.Errorf("%d queries for %d lookups made at once in two buckets, want a few", queries, len(asks))
	}
	t.Logf("%d lookups, %d queries", len(asks), queries)
	// A key recorded after a lookup is found by the next.
	if err := l.Record(ctx, Entry{Source: "s", Bucket: "b", Key: key(2, 0), Kind: "log", ReadAt: time.Now(), Path: PathScan, Outcome: OutcomeRead}); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Has(ctx, "b", key(2, 0)); err != nil || !got {
		t.Errorf("Has of a key just recorded = %v, %v; want true", got, err)
	}
}
