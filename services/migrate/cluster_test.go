package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/ledger"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/retention"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
	"github.com/trailstream/trailstream/services/sink"
)

// The test cluster deploy/local/stack.sh cluster starts: two servers, one shard each, on
// the native ports of CLUSTER_TCP_PORTS (as stack.sh reads it).
const testCluster = "trailstream_test"

var clusterNodes = func() []string {
	ports := strings.Fields(os.Getenv("CLUSTER_TCP_PORTS"))
	if len(ports) != 2 {
		ports = []string{"19000", "19001"}
	}
	return []string{"127.0.0.1:" + ports[0], "127.0.0.1:" + ports[1]}
}()

// clusterConfig returns a configuration of a fresh database on the test cluster, reached
// through its first node, and a connection to each node; the database is dropped from the
// cluster when the test ends.
func clusterConfig(t *testing.T) (config.Config, []driver.Conn) {
	t.Helper()
	c := config.Default()
	c.MetricsAddr = ""
	c.ClickHouseAddr = clusterNodes[0]
	c.ClickHouseCluster = testCluster
	c.ClickHouseDatabase = testenv.Name("ts_cluster_")
	ctx := context.Background()
	var conns []driver.Conn
	for _, addr := range clusterNodes {
		conn, err := chstore.Open(ctx, chstore.Options{Addr: addr, User: "default"})
		if err != nil {
			t.Fatalf("the ClickHouse test cluster is needed (node %s did not answer: %v): start it with `deploy/local/stack.sh cluster` (make test does)", addr, err)
		}
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = ?", testCluster).Scan(&n); err != nil || n != uint64(len(clusterNodes)) {
			t.Fatalf("node %s has %d hosts in cluster %s (%v), want %d: start the test cluster with `deploy/local/stack.sh cluster`", addr, n, testCluster, err, len(clusterNodes))
		}
		conns = append(conns, conn)
	}
	t.Cleanup(func() {
		if err := conns[0].Exec(context.Background(), "DROP DATABASE IF EXISTS "+c.ClickHouseDatabase+" ON CLUSTER "+testCluster); err != nil {
			t.Logf("drop %s: %v", c.ClickHouseDatabase, err)
		}
		for _, conn := range conns {
			conn.Close()
		}
	})
	return c, conns
}

// publicTables are the tables the migrations make (schemas/clickhouse) and their engines
// in cluster mode: each public table is Distributed, over a local table of this engine.
var publicTables = map[string]string{
	"schema_migrations": "ReplicatedMergeTree",
	"events":            "ReplicatedReplacingMergeTree",
	"detections":        "ReplicatedReplacingMergeTree",
	"admin_users":       "ReplicatedMergeTree",
	"sources":           "ReplicatedReplacingMergeTree",
	"files":             "ReplicatedReplacingMergeTree",
	"checkpoints":       "ReplicatedReplacingMergeTree",
	"source_state":      "ReplicatedReplacingMergeTree",
	"digest_files":      "ReplicatedReplacingMergeTree",
	"credentials":       "ReplicatedReplacingMergeTree",
	"audit_log":         "ReplicatedMergeTree",
}

// TestClusterMigrate migrates a fresh database on the two-shard test cluster with
// --clickhouse-cluster, twice and from either node, and checks every node's tables;
// inserts events with duplicates through the sink's insert path and counts each once,
// spread over both shards; then drops an old month with the retention.
func TestClusterMigrate(t *testing.T) {
	c, conns := clusterConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db := c.ClickHouseDatabase

	for i := 0; i < 2; i++ {
		if err := Run(ctx, c); err != nil {
			t.Fatalf("migrate on the cluster, run %d: %v", i+1, err)
		}
	}
	second := c
	second.ClickHouseAddr = clusterNodes[1]
	if err := Run(ctx, second); err != nil {
		t.Fatalf("migrate again through the second node: %v", err)
	}

	// A migration interrupted after some of its statements ran is applied again without
	// failing: forget every migration and run them all once more, each ALTER finding its
	// column there on every shard.
	for _, table := range []string{"schema_migrations", "schema_migrations_local"} {
		if err := conns[0].Exec(ctx, "DROP TABLE "+db+"."+table+" ON CLUSTER "+testCluster); err != nil {
			t.Fatal(err)
		}
	}
	if err := Run(ctx, c); err != nil {
		t.Fatalf("migrations applied over an already migrated cluster database: %v", err)
	}

	files, err := filepath.Glob("../../schemas/clickhouse/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files: %v %v", files, err)
	}
	for n, conn := range conns {
		engines := map[string]string{}
		rows, err := conn.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = ?", db)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, engine string
			if err := rows.Scan(&name, &engine); err != nil {
				t.Fatal(err)
			}
			engines[name] = engine
		}
		rows.Close()
		want := map[string]string{}
		for table, local := range publicTables {
			want[table] = "Distributed"
			want[table+"_local"] = local
		}
		if fmt.Sprint(engines) != fmt.Sprint(want) {
			t.Errorf("node %d: tables and engines\n got %v\nwant %v", n+1, engines, want)
		}
		// The replicas' ZooKeeper paths and names come from each server's macros.
		var path, replica string
		if err := conn.QueryRow(ctx, "SELECT zookeeper_path, replica_name FROM system.replicas WHERE database = ? AND table = 'events_local'", db).Scan(&path, &replica); err != nil {
			t.Fatalf("node %d: the replica of events_local: %v", n+1, err)
		}
		if want := fmt.Sprintf("/clickhouse/tables/0%d/%s/events_local", n+1, db); path != want || replica != fmt.Sprintf("node%d", n+1) {
			t.Errorf("node %d: events_local replicates at %s as %s, want %s as node%d", n+1, path, replica, want, n+1)
		}
		// The Distributed tables have every column their local tables have, those of the
		// later migrations' ALTERs too.
		for _, table := range []string{"events", "detections"} {
			pub, local := columns(t, conn, db, table), columns(t, conn, db, table+"_local")
			if pub != local || !strings.Contains(pub, "network_rule") && table == "events" || !strings.Contains(pub, "context") && table == "detections" {
				t.Errorf("node %d: columns of %s\n %s\nand of %s_local\n %s", n+1, table, pub, table, local)
			}
		}
	}
	var applied uint64
	if err := conns[1].QueryRow(ctx, "SELECT count() FROM "+db+".schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != uint64(len(files)) {
		t.Fatalf("schema_migrations holds %d rows, want one per migration file: %d", applied, len(files))
	}

	// Events through the sink's insert path, each event twice (in one batch and again in
	// the next), half of them in January 2019 and half in the last days.
	ins, err := chstore.Open(ctx, chstore.OptionsOf(c))
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	const events = 200
	old := time.Date(2019, 1, 15, 12, 0, 0, 0, time.UTC)
	recent := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	var batch []kafka.Message
	for i := 0; i < events; i++ {
		at := recent
		if i%2 == 0 {
			at = old
		}
		v, err := model.EncodeEvent(nil, &model.Event{EventID: fmt.Sprintf("ev-%03d", i), EventTime: at, EventName: "CreateUser",
			AccountID: fmt.Sprintf("1111222233%02d", i%7), Raw: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, kafka.Message{Value: v})
		if i%10 == 0 {
			batch = append(batch, kafka.Message{Value: v}) // a duplicate within the batch
		}
	}
	for i := 0; i < 2; i++ {
		dead, err := sink.InsertEvents(ctx, ins, db, batch)
		if err != nil || len(dead) != 0 {
			t.Fatalf("insert %d: %d dead letters, %v", i+1, len(dead), err)
		}
	}
	// Right after the inserts returned (insert_distributed_sync), through either node.
	for n, conn := range conns {
		if got := count(t, conn, "SELECT count() FROM "+db+".events FINAL"); got != events {
			t.Errorf("node %d: SELECT count() FROM events FINAL = %d, want %d", n+1, got, events)
		}
		if got := count(t, conn, "SELECT uniqExact(event_id) FROM "+db+".events"); got != events {
			t.Errorf("node %d: %d distinct event IDs, want %d", n+1, got, events)
		}
	}
	// Both shards hold rows, and every copy of an event is on one shard.
	ids := make([]map[string]bool, len(conns))
	for n, conn := range conns {
		ids[n] = eventIDs(t, conn, "SELECT DISTINCT event_id FROM "+db+".events_local")
		if len(ids[n]) < events/4 {
			t.Errorf("shard %d holds %d of %d events: not spread over the shards", n+1, len(ids[n]), events)
		}
		if got := count(t, conn, "SELECT count() FROM "+db+".events_local FINAL"); got != uint64(len(ids[n])) {
			t.Errorf("shard %d: %d rows with FINAL, %d distinct event IDs", n+1, got, len(ids[n]))
		}
	}
	for id := range ids[0] {
		if ids[1][id] {
			t.Errorf("event %s is on both shards: FINAL cannot count it once", id)
		}
	}
	if len(ids[0])+len(ids[1]) != events {
		t.Errorf("the shards hold %d + %d events, want %d", len(ids[0]), len(ids[1]), events)
	}

	// The console answers from the cluster: every panel, whose SQL has subqueries of other
	// Distributed tables (IN (SELECT ... FROM detections)), the events search and the pages.
	consoleAnswers(t, ins, db)
	ledgerAnswers(t, ins, db)

	// The retention drops January 2019 from every shard and keeps the recent month.
	srv, err := retention.Probe(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	if srv.TTL {
		t.Fatalf("the test cluster runs %s, which has TTL: this test expects partition drops (ClickHouse 18.16)", srv.Version)
	}
	srv.Cluster = testCluster
	changes, err := retention.Enforce(ctx, ins, srv, db, 400*retention.Day, time.Now(), slog.Default())
	if err != nil {
		t.Fatalf("retention on the cluster: %v", err)
	}
	if fmt.Sprint(changes) != fmt.Sprint([]retention.Change{{Table: "events", Partition: "201901"}}) {
		t.Errorf("retention changes %+v, want events' partition 201901 dropped", changes)
	}
	for n, conn := range conns {
		if got := count(t, conn, "SELECT count() FROM "+db+".events_local WHERE toYYYYMM(event_time) = 201901"); got != 0 {
			t.Errorf("shard %d still holds %d rows of January 2019", n+1, got)
		}
		if got := count(t, conn, "SELECT count() FROM "+db+".events FINAL"); got != events/2 {
			t.Errorf("node %d: %d events after the retention, want the %d recent ones", n+1, got, events/2)
		}
	}
	again, err := retention.Enforce(ctx, ins, srv, db, 400*retention.Day, time.Now(), slog.Default())
	if err != nil || len(again) != 0 {
		t.Errorf("retention again: %+v, %v; want nothing to do", again, err)
	}
}

// TestClusterSink runs the sink service with --clickhouse-cluster on a fresh database: it
// migrates the cluster itself and loads events and detections, each sent twice, from Kafka
// through the Distributed tables, every one counted once and the events on both shards.
func TestClusterSink(t *testing.T) {
	c, conns := clusterConfig(t)
	brokers := testenv.Kafka(t)
	c.KafkaBrokers = brokers[0]
	c.GroupPrefix = testenv.Name("ts-cluster-")
	c.BatchWait = 100 * time.Millisecond
	kc := testenv.Cluster(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := kafkautil.EnsureTopics(ctx, kc, 3, c.TopicEvents, c.TopicDetections); err != nil {
		t.Fatal(err)
	}
	const events, detections = 60, 10
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var em, dm []kafka.Message
	for i := 0; i < events; i++ {
		v, err := model.EncodeEvent(nil, &model.Event{EventID: fmt.Sprintf("sink-%02d", i), EventTime: at, EventName: "CreateUser", AccountID: "111122223333", Raw: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		em = append(em, kafka.Message{Key: []byte("111122223333"), Value: v}, kafka.Message{Key: []byte("111122223333"), Value: v})
	}
	for i := 0; i < detections; i++ {
		v, err := model.EncodeDetection(nil, &model.Detection{DetectionID: fmt.Sprintf("det-%02d", i), RuleID: "r", Severity: "high", AccountID: "111122223333",
			FirstTime: at, LastTime: at, DetectedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		dm = append(dm, kafka.Message{Value: v}, kafka.Message{Value: v})
	}
	ew, dw := kafkautil.NewWriter(kc, c.TopicEvents), kafkautil.NewWriter(kc, c.TopicDetections)
	defer ew.Close()
	defer dw.Close()
	if err := ew.WriteMessages(ctx, em...); err != nil {
		t.Fatal(err)
	}
	if err := dw.WriteMessages(ctx, dm...); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sink.Run(runCtx, c) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("sink: %v", err)
		}
	}()
	db := c.ClickHouseDatabase
	deadline := time.Now().Add(90 * time.Second)
	for {
		var e, d uint64
		err1 := conns[1].QueryRow(ctx, "SELECT count() FROM "+db+".events FINAL").Scan(&e)
		err2 := conns[1].QueryRow(ctx, "SELECT count() FROM "+db+".detections FINAL").Scan(&d)
		if err1 == nil && err2 == nil && e == events && d == detections {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: %d events (want %d), %d detections (want %d) through the cluster; errors %v %v", e, events, d, detections, err1, err2)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for n, conn := range conns {
		if got := count(t, conn, "SELECT count() FROM "+db+".events_local FINAL"); got == 0 || got == events {
			t.Errorf("shard %d holds %d of the %d events: not spread", n+1, got, events)
		}
	}
}

// TestClusterRefusesSingleServerDatabase: a database made without --clickhouse-cluster is
// not silently taken for a cluster one.
func TestClusterRefusesSingleServerDatabase(t *testing.T) {
	c, _ := clusterConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	single := c
	single.ClickHouseCluster = ""
	if err := Run(ctx, single); err != nil {
		t.Fatalf("migrate without cluster mode: %v", err)
	}
	err := Run(ctx, c)
	if err == nil || !strings.Contains(err.Error(), "created without --clickhouse-cluster") {
		t.Fatalf("cluster mode over a single-server database: %v, want it refused", err)
	}
	// The single-server tables of the first node are its own: dropped here, not ON CLUSTER.
	conn, err := chstore.Open(ctx, chstore.OptionsOf(single))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+c.ClickHouseDatabase); err != nil {
		t.Fatal(err)
	}
}

func columns(t *testing.T, conn driver.Conn, db, table string) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT name, type, default_expression FROM system.columns WHERE database = ? AND table = ? ORDER BY name", db, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, typ, def string
		if err := rows.Scan(&name, &typ, &def); err != nil {
			t.Fatal(err)
		}
		out = append(out, name+" "+typ+" "+def)
	}
	return strings.Join(out, ", ")
}

func count(t *testing.T, conn driver.Conn, query string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func eventIDs(t *testing.T, conn driver.Conn, query string) map[string]bool {
	t.Helper()
	rows, err := conn.Query(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	return out
}

// consoleAnswers gets every panel of the console reading db through conn, its events search,
// detections summary and pages, and fails on any answer but 200.
func consoleAnswers(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	srv := httptest.NewServer(console.Handler(conn, db, console.Options{}))
	defer srv.Close()
	get := func(path string) []byte {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("console GET %s on the cluster: %d %.300s", path, resp.StatusCode, body)
		}
		return body
	}
	var list struct {
		Panels []struct{ ID string }
	}
	if err := json.Unmarshal(get("/api/panels"), &list); err != nil || len(list.Panels) < 10 {
		t.Fatalf("the console's panels: %d, %v", len(list.Panels), err)
	}
	for _, p := range list.Panels {
		get("/api/panels/" + p.ID + "?range=30d")
	}
	for _, path := range []string{"/api/events?range=30d", "/api/detections/summary", "/api/sources", "/", "/events", "/detections", "/sources", "/audit"} {
		get(path)
	}
}

// ledgerAnswers records files and a digest listing them in the ledger of db through conn,
// and asks what the fetchers ask of it: its queries join and filter Distributed tables by
// others (NOT IN, ANY INNER JOIN), over every shard.
func ledgerAnswers(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	ctx := context.Background()
	l := ledger.New(conn, db)
	hour := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	var listed []ledger.DigestFile
	for i := 0; i < 8; i++ {
		key := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/f%d.json.gz", i)
		listed = append(listed, ledger.DigestFile{Source: "s", DigestKey: "digest", Bucket: "b", Key: key, Account: "111122223333",
			Region: "us-east-1", Hour: hour, SHA256: fmt.Sprintf("%064d", i), OldestEvent: hour, NewestEvent: hour, ReadAt: hour.Add(time.Hour)})
		if i < 4 { // f0 to f3 were read, f3 with other content than the digest says
			sum := fmt.Sprintf("%064d", i)
			if i == 3 {
				sum = fmt.Sprintf("%064d", 99)
			}
			if err := l.Record(ctx, ledger.Entry{Source: "s", Bucket: "b", Key: key, Kind: "log", Account: "111122223333", Region: "us-east-1",
				Day: hour, Records: 1, SHA256: sum, FirstEvent: hour, LastEvent: hour, ReadAt: hour, Path: ledger.PathScan, Outcome: ledger.OutcomeRead}); err != nil {
				t.Fatalf("ledger record on the cluster: %v", err)
			}
		}
	}
	if err := l.Digest(ctx, listed); err != nil {
		t.Fatalf("ledger digest on the cluster: %v", err)
	}
	missing, err := l.Missing(ctx, "s", hour.Add(-time.Hour), time.Minute, 100)
	if err != nil {
		t.Fatalf("ledger missing on the cluster: %v", err)
	}
	var keys []string
	for _, m := range missing {
		keys = append(keys, m.Key[strings.LastIndexByte(m.Key, '/')+1:])
	}
	if fmt.Sprint(keys) != "[f4.json.gz f5.json.gz f6.json.gz f7.json.gz]" {
		t.Errorf("missing files on the cluster: %v, want f4 to f7", keys)
	}
	changed, err := l.Changed(ctx, "s", hour.Add(-time.Hour), 100)
	if err != nil {
		t.Fatalf("ledger changed on the cluster: %v", err)
	}
	if len(changed) != 1 || !strings.HasSuffix(changed[0].Key, "/f3.json.gz") {
		t.Errorf("changed files on the cluster: %+v, want f3", changed)
	}
	if _, err := l.Cadence(ctx, "s", hour.Add(-time.Hour)); err != nil {
		t.Errorf("ledger cadence on the cluster: %v", err)
	}
}
