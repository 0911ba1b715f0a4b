package chstore

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/trailstream/trailstream/pkg/backoff"
)

// LocalSuffix ends the name of the replicated table on each shard that holds the rows of a
// public table in cluster mode: events_local behind the Distributed table events.
const LocalSuffix = "_local"

// LocalTable is the name of the replicated local table of public table name in cluster mode.
func LocalTable(name string) string { return name + LocalSuffix }

// ShardingKeys is the sharding key of each MergeTree-family table the migrations create,
// used by its Distributed table in cluster mode. A ReplacingMergeTree table is sharded by a
// hash of the columns that identify a row (its ORDER BY, or the id column in it), so that
// every copy of a row lands on the same shard and FINAL, which merges on each shard
// alone, still counts it once. A table missing here cannot be translated: cluster mode
// refuses to guess.
var ShardingKeys = map[string]string{
	"schema_migrations": "version",
	"events":            "cityHash64(event_id)",
	"detections":        "cityHash64(detection_id)",
	"admin_users":       "cityHash64(user_name)",
	"sources":           "cityHash64(id)",
	"files":             "cityHash64(bucket, key)",
	"checkpoints":       "cityHash64(source, kind, prefix)",
	"source_state":      "cityHash64(source)",
	"digest_files":      "cityHash64(bucket, key)",
	"credentials":       "cityHash64(hash)",
	"audit_log":         "rand()", // no dedup: spread evenly
}

// identifier is what database, table and cluster names must look like: they go into SQL
// unquoted.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// clusterDDL translates migration statements of a single server into their cluster form
// on one cluster. It remembers which tables it made distributed, so an ALTER of a later
// migration finds the local table.
type clusterDDL struct {
	db, cluster string
	// distributed: public table name -> sharding key, for the tables made Distributed.
	distributed map[string]string
}

func newClusterDDL(db, cluster string) (*clusterDDL, error) {
	if !identifier.MatchString(cluster) {
		return nil, backoff.Permanent(fmt.Errorf("ClickHouse cluster name %q: use letters, digits and _", cluster))
	}
	return &clusterDDL{db: db, cluster: cluster, distributed: map[string]string{}}, nil
}

var (
	createDatabase = regexp.MustCompile(`(?is)^CREATE\s+DATABASE\s+(IF\s+NOT\s+EXISTS\s+)?([A-Za-z0-9_]+)$`)
	createTable    = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)(\s*\(.*)$`)
	// engine is the ENGINE clause after a column list: the engine's name and its arguments.
	engine        = regexp.MustCompile(`(?is)\)\s*ENGINE\s*=\s*([A-Za-z0-9_]+)(\s*\(([^()]*)\))?`)
	createView    = regexp.MustCompile(`(?is)^CREATE\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?([A-Za-z0-9_]+\.[A-Za-z0-9_]+)(\s.*)$`)
	createMatView = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\b`)
	alterTable    = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\s+(.*)$`)
	columnChange  = regexp.MustCompile(`(?i)\b(ADD|DROP|MODIFY|RENAME)\s+COLUMN\b`)
	dropTable     = regexp.MustCompile(`(?is)^DROP\s+TABLE\s+(IF\s+EXISTS\s+)?([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)$`)
)

// migration translates the statements of one migration, in order. A Distributed table
// whose columns a statement changed is made anew at the end (see renew).
func (c *clusterDDL) migration(stmts []string) ([]string, error) {
	var out []string
	renewed := map[string]bool{}
	for _, s := range stmts {
		t, changed, err := c.statement(s)
		if err != nil {
			return nil, err
		}
		out = append(out, t...)
		if changed != "" {
			renewed[changed] = true
		}
	}
	names := make([]string, 0, len(renewed))
	for n := range renewed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := c.distributed[n]; ok { // not when the migration dropped it after
			out = append(out, c.renew(n)...)
		}
	}
	return out, nil
}

// statement translates one statement. changed names the Distributed table whose local
// table's columns it changes, which must then be renewed.
func (c *clusterDDL) statement(s string) (out []string, changed string, err error) {
	on := " ON CLUSTER " + c.cluster
	s = strings.TrimSpace(s)
	switch {
	case createDatabase.MatchString(s):
		return []string{s + on}, "", nil

	case createTable.MatchString(s):
		m := createTable.FindStringSubmatch(s)
		ifNot, db, name, body := m[1], m[2], m[3], m[4]
		all := engine.FindAllStringSubmatchIndex(body, -1)
		if len(all) == 0 {
			return nil, "", fmt.Errorf("cluster mode: table %s.%s: no ENGINE clause understood (engine arguments in parentheses are not)", db, name)
		}
		e := all[len(all)-1]
		eng := body[e[2]:e[3]]
		if !strings.HasSuffix(eng, "MergeTree") {
			// Memory, Log, Buffer and the like hold what each server is given: made on
			// every server, as they are.
			return []string{"CREATE TABLE " + ifNot + db + "." + name + on + body}, "", nil
		}
		if strings.HasPrefix(eng, "Replicated") {
			return nil, "", fmt.Errorf("cluster mode: table %s.%s is %s already: migrations name the plain engine, which cluster mode replicates", db, name, eng)
		}
		key, ok := ShardingKeys[name]
		if !ok {
			return nil, "", fmt.Errorf("cluster mode: table %s.%s has no sharding key: add one to chstore.ShardingKeys", db, name)
		}
		local := LocalTable(name)
		args := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", db, local)
		if e[6] >= 0 {
			if a := strings.TrimSpace(body[e[6]:e[7]]); a != "" {
				args += ", " + a
			}
		}
		localBody := body[:e[0]] + ") ENGINE = Replicated" + eng + "(" + args + ")" + body[e[1]:]
		c.distributed[name] = key
		return []string{
			"CREATE TABLE " + ifNot + db + "." + local + on + localBody,
			"CREATE TABLE " + ifNot + db + "." + name + on + " AS " + db + "." + local + " ENGINE = " + c.distributedEngine(db, local, key),
		}, "", nil

	case createMatView.MatchString(s):
		return nil, "", fmt.Errorf("cluster mode does not translate materialized views (it would have to fill a local table from the local source table on every shard): write its cluster form into the migration by hand: %.60s", s)

	case createView.MatchString(s):
		// A view reads the public (Distributed) tables, so it reads every shard from
		// every server.
		m := createView.FindStringSubmatch(s)
		return []string{"CREATE VIEW " + m[1] + m[2] + on + m[3]}, "", nil

	case alterTable.MatchString(s):
		m := alterTable.FindStringSubmatch(s)
		db, name, ops := m[1], m[2], m[3]
		if _, ok := c.distributed[name]; !ok {
			return []string{"ALTER TABLE " + db + "." + name + on + " " + ops}, "", nil
		}
		if columnChange.MatchString(ops) {
			changed = name
		}
		return []string{"ALTER TABLE " + db + "." + LocalTable(name) + on + " " + ops}, changed, nil

	case dropTable.MatchString(s):
		m := dropTable.FindStringSubmatch(s)
		ifExists, db, name := m[1], m[2], m[3]
		if _, ok := c.distributed[name]; !ok {
			return []string{"DROP TABLE " + ifExists + db + "." + name + on}, "", nil
		}
		delete(c.distributed, name)
		return []string{
			"DROP TABLE " + ifExists + db + "." + name + on,
			"DROP TABLE " + ifExists + db + "." + LocalTable(name) + on,
		}, "", nil
	}
	return nil, "", fmt.Errorf("cluster mode does not know how to run this statement on a cluster: %.60s", s)
}

func (c *clusterDDL) distributedEngine(db, local, key string) string {
	return fmt.Sprintf("Distributed(%s, %s, %s, %s)", c.cluster, db, local, key)
}

// renew makes the Distributed table name anew, with the columns its local table has now.
// ClickHouse 18.16 refuses ALTER ... ON CLUSTER of a table that is not replicated in a
// cluster whose shards say internal_replication, as a cluster of replicated tables must;
// and it does not move a Distributed table's folder on RENAME, so a new table swapped in
// under the name would keep the folder of its first name, which DROP DATABASE then trips
// on. So the table is dropped and created again: between the two, which take a moment,
// queries and inserts of it fail (the sink tries a failed insert again). A Distributed
// table holds no rows of its own, only inserts not yet sent to the shards, which our
// inserts never leave (insert_distributed_sync). Both steps can be repeated after an
// interruption.
func (c *clusterDDL) renew(name string) []string {
	on := " ON CLUSTER " + c.cluster
	db, local := c.db, LocalTable(name)
	return []string{
		"DROP TABLE IF EXISTS " + db + "." + name + on,
		"CREATE TABLE IF NOT EXISTS " + db + "." + name + on + " AS " + db + "." + local + " ENGINE = " + c.distributedEngine(db, local, c.distributed[name]),
	}
}

// ClusterMigrations returns the migrations of Migrations(db) translated for cluster:
// every statement ON CLUSTER, each MergeTree-family table T made a Replicated table
// T_local on every shard (ZooKeeper path /clickhouse/tables/{shard}/<db>/T_local, replica
// {replica}: the servers' macros) and T a Distributed table over them, sharded by
// ShardingKeys; ALTERs of T change T_local, after which T is made anew with its columns (see renew).
func ClusterMigrations(db, cluster string) ([]Migration, error) {
	migs, err := Migrations(db)
	if err != nil {
		return nil, err
	}
	c, err := newClusterDDL(db, cluster)
	if err != nil {
		return nil, err
	}
	for i, m := range migs {
		if migs[i].Statements, err = c.migration(m.Statements); err != nil {
			return nil, backoff.Permanent(fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err))
		}
	}
	return migs, nil
}
