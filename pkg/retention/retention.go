package retention

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Table is a table kept to the retention: its name and the DateTime column it is
// partitioned by (PARTITION BY toYYYYMM(column)), which its TTL counts from too.
type Table struct {
	Name   string
	Column string
}

// Tables are the tables the retention applies to (schemas/clickhouse/0001_init.sql).
var Tables = []Table{
	{Name: "events", Column: "event_time"},
	{Name: "detections", Column: "first_time"},
}

// Interval is how often Run applies the retention after the first time, at its start.
const Interval = time.Hour

// Change is one change Enforce made: a monthly partition dropped, or a table's TTL set or
// removed.
type Change struct {
	Table string
	// Partition is the partition dropped (YYYYMM), or empty.
	Partition string
	// TTL is the TTL expression set, or empty; Removed is true when the TTL was removed.
	TTL     string
	Removed bool
}

// Server is what Enforce needs to know of a ClickHouse server.
type Server struct {
	Version string
	// TTL: the server has table TTLs (19.6 and later).
	TTL bool
	// Cluster is the ClickHouse cluster the tables are on (--clickhouse-cluster), empty for
	// this server alone. On a cluster the rows are in the replicated local tables
	// (<table>_local, chstore.LocalTable), whose partitions are dropped and TTL set ON CLUSTER.
	Cluster string
}

// local returns the table holding t's rows on srv, and the ON CLUSTER clause of the
// statements changing it ("" on a single server).
func (srv Server) local(t Table) (table, onCluster string) {
	if srv.Cluster == "" {
		return t.Name, ""
	}
	return t.Name + localSuffix, " ON CLUSTER " + srv.Cluster
}

// localSuffix is chstore.LocalSuffix, which this package cannot import (chstore imports it
// through config).
const localSuffix = "_local"

// Probe asks the server its version and whether it has TTL.
func Probe(ctx context.Context, conn driver.Conn) (Server, error) {
	var v string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return Server{}, fmt.Errorf("ask the ClickHouse version: %w", err)
	}
	return Server{Version: v, TTL: HasTTL(v)}, nil
}

// HasTTL reports whether a server of version v (such as 18.16.1 or 24.8.4.13) has table TTL,
// which ClickHouse has from 19.6 on.
func HasTTL(v string) bool {
	f := strings.SplitN(v, ".", 3)
	if len(f) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(f[0])
	minor, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 19 || major == 19 && minor >= 6
}

// Enforce applies the retention keep (0: for ever) to db's Tables once, as of now, and
// returns the changes it made, each also logged.
//
// Without TTL it drops every monthly partition whose newest possible row is older than now
// minus keep: those before the month, in the server's time zone (which toYYYYMM uses), of
// that cutoff. The partition the cutoff falls in, which may hold rows inside the
// retention, is kept. Dropping a partition another sink dropped first does nothing, so
// several sinks may enforce at once. With keep 0 nothing is dropped.
//
// With TTL it sets each table's TTL to its column plus keep in whole days when the table
// does not have that TTL already, and removes a TTL when keep is 0.
func Enforce(ctx context.Context, conn driver.Conn, srv Server, db string, keep time.Duration, now time.Time, log *slog.Logger) ([]Change, error) {
	var out []Change
	for _, t := range Tables {
		var ch []Change
		var err error
		if srv.TTL {
			ch, err = setTTL(ctx, conn, srv, db, t, keep, log)
		} else {
			ch, err = dropPartitions(ctx, conn, srv, db, t, keep, now, log)
		}
		out = append(out, ch...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// monthID is a partition ID of PARTITION BY toYYYYMM(...).
var monthID = regexp.MustCompile(`^[0-9]{6}$`)

// dropPartitions drops t's monthly partitions wholly older than now minus keep.
func dropPartitions(ctx context.Context, conn driver.Conn, srv Server, db string, t Table, keep time.Duration, now time.Time, log *slog.Logger) ([]Change, error) {
	if keep <= 0 {
		return nil, nil
	}
	cutoff := now.Add(-keep).Unix()
	if cutoff < 0 {
		return nil, nil // before the epoch: no DateTime is older
	}
	// The server's month of the cutoff: toYYYYMM counts months in the server's time zone.
	var first uint32
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT toYYYYMM(toDateTime(%d))", cutoff)).Scan(&first); err != nil {
		return nil, fmt.Errorf("month of the retention cutoff: %w", err)
	}
	table, onCluster := srv.local(t)
	parts := "system.parts"
	if srv.Cluster != "" {
		parts = "cluster('" + srv.Cluster + "', system, parts)" // the parts of every shard
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT partition_id FROM "+parts+" WHERE database = ? AND table = ? AND active ORDER BY partition_id", db, table)
	if err != nil {
		return nil, fmt.Errorf("list the partitions of %s.%s: %w", db, t.Name, err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list the partitions of %s.%s: %w", db, t.Name, err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the partitions of %s.%s: %w", db, t.Name, err)
	}
	var out []Change
	for _, id := range ids {
		if !monthID.MatchString(id) {
			continue // not a month: never ours to drop
		}
		m, _ := strconv.ParseUint(id, 10, 32)
		if uint32(m) >= first {
			continue
		}
		// The partition's value is the UInt32 toYYYYMM returned; a partition already
		// dropped (by another sink) is dropped again without an error.
		if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s%s DROP PARTITION %s", db, table, onCluster, id)); err != nil {
			return out, fmt.Errorf("drop partition %s of %s.%s: %w", id, db, t.Name, err)
		}
		log.Info("retention: dropped a month", "table", db+"."+t.Name, "partition", id, "retention", Format(keep),
			"kept_from", fmt.Sprintf("%06d", first))
		out = append(out, Change{Table: t.Name, Partition: id})
	}
	return out, nil
}

// TTLExpr is the TTL expression of table t for keep, as current servers print it in
// system.tables' create_table_query.
func TTLExpr(t Table, keep time.Duration) string {
	return fmt.Sprintf("%s + toIntervalDay(%d)", t.Column, Days(keep))
}

// tableTTL finds the table TTL in a create_table_query: after the engine, up to SETTINGS.
var tableTTL = regexp.MustCompile(`\bTTL\s+(.+?)(?:\s+SETTINGS\s|$)`)

// CurrentTTL returns the table TTL expression of a create_table_query, or "".
func CurrentTTL(createQuery string) string {
	i := strings.Index(createQuery, "ENGINE =")
	if i < 0 {
		return ""
	}
	m := tableTTL.FindStringSubmatch(createQuery[i:])
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m[1])
}

// setTTL gives t the TTL of keep when it has another (or none), or removes it for keep 0.
func setTTL(ctx context.Context, conn driver.Conn, srv Server, db string, t Table, keep time.Duration, log *slog.Logger) ([]Change, error) {
	table, onCluster := srv.local(t)
	var create string
	if err := conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = ? AND name = ?", db, table).Scan(&create); err != nil {
		return nil, fmt.Errorf("read the definition of %s.%s: %w", db, t.Name, err)
	}
	current := CurrentTTL(create)
	if keep <= 0 {
		if current == "" {
			return nil, nil
		}
		if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s%s REMOVE TTL", db, table, onCluster)); err != nil {
			return nil, fmt.Errorf("remove the TTL of %s.%s: %w", db, t.Name, err)
		}
		log.Info("retention: TTL removed, rows kept for ever", "table", db+"."+t.Name, "was", current)
		return []Change{{Table: t.Name, Removed: true}}, nil
	}
	want := TTLExpr(t, keep)
	if current == want {
		return nil, nil
	}
	if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s%s MODIFY TTL %s + INTERVAL %d DAY", db, table, onCluster, t.Column, Days(keep))); err != nil {
		return nil, fmt.Errorf("set the TTL of %s.%s: %w", db, t.Name, err)
	}
	log.Info("retention: TTL set", "table", db+"."+t.Name, "ttl", want, "was", current)
	return []Change{{Table: t.Name, TTL: want}}, nil
}

// Run enforces keep on db (on cluster, when not empty) at once and then every interval
// until ctx is cancelled, when it returns nil. A round that fails is logged and the next
// one tries again: loading goes on.
func Run(ctx context.Context, conn driver.Conn, db, cluster string, keep, interval time.Duration, log *slog.Logger) error {
	log = log.With("retention", Format(keep))
	if keep > 0 {
		log.Info("retention: events and detections older than the retention are dropped, now and every interval", "database", db, "interval", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := round(ctx, conn, db, cluster, keep, log); err != nil && ctx.Err() == nil {
			log.Warn("retention: not applied, tried again later", "in", interval, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func round(ctx context.Context, conn driver.Conn, db, cluster string, keep time.Duration, log *slog.Logger) error {
	srv, err := Probe(ctx, conn)
	if err != nil {
		return err
	}
	srv.Cluster = cluster
	_, err = Enforce(ctx, conn, srv, db, keep, time.Now(), log)
	return err
}
