package chstore

import (
	"strings"
	"testing"
)

// TestClusterTranslation gives migrations and the statements cluster mode must run for
// them, written out by hand.
func TestClusterTranslation(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   [][]string // migrations, each its statements
		want [][]string
		err  string // part of the error, when the translation must fail
	}{{
		name: "database",
		in:   [][]string{{"CREATE DATABASE IF NOT EXISTS db"}},
		want: [][]string{{"CREATE DATABASE IF NOT EXISTS db ON CLUSTER c"}},
	}, {
		name: "ReplacingMergeTree without a version, partitioned",
		in:   [][]string{{"CREATE TABLE IF NOT EXISTS db.events (\n    event_id String,\n    event_time DateTime\n) ENGINE = ReplacingMergeTree()\nPARTITION BY toYYYYMM(event_time)\nORDER BY (account_id, event_time, event_id)"}},
		want: [][]string{{
			"CREATE TABLE IF NOT EXISTS db.events_local ON CLUSTER c (\n    event_id String,\n    event_time DateTime\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/events_local', '{replica}')\nPARTITION BY toYYYYMM(event_time)\nORDER BY (account_id, event_time, event_id)",
			"CREATE TABLE IF NOT EXISTS db.events ON CLUSTER c AS db.events_local ENGINE = Distributed(c, db, events_local, cityHash64(event_id))",
		}},
	}, {
		name: "ReplacingMergeTree with a version; column types and comments with parentheses",
		in:   [][]string{{"CREATE TABLE IF NOT EXISTS db.sources (\n    id String,  -- stable (a comment)\n    tags Array(String),\n    version UInt64\n) ENGINE = ReplacingMergeTree(version)\nORDER BY id"}},
		want: [][]string{{
			"CREATE TABLE IF NOT EXISTS db.sources_local ON CLUSTER c (\n    id String,  -- stable (a comment)\n    tags Array(String),\n    version UInt64\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/sources_local', '{replica}', version)\nORDER BY id",
			"CREATE TABLE IF NOT EXISTS db.sources ON CLUSTER c AS db.sources_local ENGINE = Distributed(c, db, sources_local, cityHash64(id))",
		}},
	}, {
		name: "MergeTree with and without parentheses",
		in: [][]string{{
			"CREATE TABLE IF NOT EXISTS db.admin_users (upload_id UInt64, user_name String) ENGINE = MergeTree() ORDER BY (upload_id, user_name)",
			"CREATE TABLE IF NOT EXISTS db.audit_log (time DateTime) ENGINE = MergeTree\nPARTITION BY toYYYYMM(time)\nORDER BY (time, nanos)",
		}},
		want: [][]string{{
			"CREATE TABLE IF NOT EXISTS db.admin_users_local ON CLUSTER c (upload_id UInt64, user_name String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/admin_users_local', '{replica}') ORDER BY (upload_id, user_name)",
			"CREATE TABLE IF NOT EXISTS db.admin_users ON CLUSTER c AS db.admin_users_local ENGINE = Distributed(c, db, admin_users_local, cityHash64(user_name))",
			"CREATE TABLE IF NOT EXISTS db.audit_log_local ON CLUSTER c (time DateTime) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/audit_log_local', '{replica}')\nPARTITION BY toYYYYMM(time)\nORDER BY (time, nanos)",
			"CREATE TABLE IF NOT EXISTS db.audit_log ON CLUSTER c AS db.audit_log_local ENGINE = Distributed(c, db, audit_log_local, rand())",
		}},
	}, {
		name: "ADD COLUMN in a later migration: the local table altered, the Distributed one renewed once",
		in: [][]string{
			{"CREATE TABLE IF NOT EXISTS db.events (event_id String) ENGINE = ReplacingMergeTree() ORDER BY event_id"},
			{"ALTER TABLE db.events ADD COLUMN role_name String DEFAULT ''", "ALTER TABLE db.events ADD COLUMN tags Array(String) DEFAULT []"},
		},
		want: [][]string{{
			"CREATE TABLE IF NOT EXISTS db.events_local ON CLUSTER c (event_id String) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/events_local', '{replica}') ORDER BY event_id",
			"CREATE TABLE IF NOT EXISTS db.events ON CLUSTER c AS db.events_local ENGINE = Distributed(c, db, events_local, cityHash64(event_id))",
		}, {
			"ALTER TABLE db.events_local ON CLUSTER c ADD COLUMN role_name String DEFAULT ''",
			"ALTER TABLE db.events_local ON CLUSTER c ADD COLUMN tags Array(String) DEFAULT []",
			"DROP TABLE IF EXISTS db.events ON CLUSTER c",
			"CREATE TABLE IF NOT EXISTS db.events ON CLUSTER c AS db.events_local ENGINE = Distributed(c, db, events_local, cityHash64(event_id))",
		}},
	}, {
		name: "a partition dropped: the local table, nothing renewed",
		in: [][]string{
			{"CREATE TABLE db.events (event_id String) ENGINE = ReplacingMergeTree() ORDER BY event_id", "ALTER TABLE db.events DROP PARTITION 201901"},
		},
		want: [][]string{{
			"CREATE TABLE db.events_local ON CLUSTER c (event_id String) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/events_local', '{replica}') ORDER BY event_id",
			"CREATE TABLE db.events ON CLUSTER c AS db.events_local ENGINE = Distributed(c, db, events_local, cityHash64(event_id))",
			"ALTER TABLE db.events_local ON CLUSTER c DROP PARTITION 201901",
		}},
	}, {
		name: "other engines and views: on every server as they are",
		in: [][]string{{
			"CREATE TABLE IF NOT EXISTS db.scratch (x String) ENGINE = Memory",
			"ALTER TABLE db.scratch ADD COLUMN y String",
			"CREATE VIEW IF NOT EXISTS db.recent AS SELECT * FROM db.events WHERE event_time > now() - 3600",
			"DROP TABLE IF EXISTS db.scratch",
		}},
		want: [][]string{{
			"CREATE TABLE IF NOT EXISTS db.scratch ON CLUSTER c (x String) ENGINE = Memory",
			"ALTER TABLE db.scratch ON CLUSTER c ADD COLUMN y String",
			"CREATE VIEW IF NOT EXISTS db.recent ON CLUSTER c AS SELECT * FROM db.events WHERE event_time > now() - 3600",
			"DROP TABLE IF EXISTS db.scratch ON CLUSTER c",
		}},
	}, {
		name: "a distributed table dropped: both",
		in: [][]string{
			{"CREATE TABLE IF NOT EXISTS db.files (bucket String, key String) ENGINE = ReplacingMergeTree() ORDER BY (bucket, key)"},
			{"DROP TABLE IF EXISTS db.files"},
		},
		want: [][]string{{
			"CREATE TABLE IF NOT EXISTS db.files_local ON CLUSTER c (bucket String, key String) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/files_local', '{replica}') ORDER BY (bucket, key)",
			"CREATE TABLE IF NOT EXISTS db.files ON CLUSTER c AS db.files_local ENGINE = Distributed(c, db, files_local, cityHash64(bucket, key))",
		}, {
			"DROP TABLE IF EXISTS db.files ON CLUSTER c",
			"DROP TABLE IF EXISTS db.files_local ON CLUSTER c",
		}},
	}, {
		name: "a column added, then the table dropped in the same migration: nothing renewed",
		in: [][]string{{
			"CREATE TABLE db.files (bucket String, key String) ENGINE = ReplacingMergeTree() ORDER BY (bucket, key)",
			"ALTER TABLE db.files ADD COLUMN x String",
			"DROP TABLE db.files",
		}},
		want: [][]string{{
			"CREATE TABLE db.files_local ON CLUSTER c (bucket String, key String) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/files_local', '{replica}') ORDER BY (bucket, key)",
			"CREATE TABLE db.files ON CLUSTER c AS db.files_local ENGINE = Distributed(c, db, files_local, cityHash64(bucket, key))",
			"ALTER TABLE db.files_local ON CLUSTER c ADD COLUMN x String",
			"DROP TABLE db.files ON CLUSTER c",
			"DROP TABLE db.files_local ON CLUSTER c",
		}},
	}, {
		name: "a MergeTree table without a sharding key",
		in:   [][]string{{"CREATE TABLE db.unknown (x String) ENGINE = MergeTree() ORDER BY x"}},
		err:  "no sharding key",
	}, {
		name: "an engine already replicated",
		in:   [][]string{{"CREATE TABLE db.events (x String) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY x"}},
		err:  "already",
	}, {
		name: "a materialized view",
		in:   [][]string{{"CREATE MATERIALIZED VIEW db.mv ENGINE = Memory AS SELECT 1"}},
		err:  "materialized views",
	}, {
		name: "a statement of another kind",
		in:   [][]string{{"INSERT INTO db.events (x) SELECT 1"}},
		err:  "does not know",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newClusterDDL("db", "c")
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, m := range tc.in {
				out, err := c.migration(m)
				if err != nil {
					if tc.err == "" || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("error %v, want one with %q", err, tc.err)
					}
					return
				}
				got = append(got, out)
			}
			if tc.err != "" {
				t.Fatalf("translated to %q, want an error with %q", got, tc.err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d migrations, want %d: %q", len(got), len(tc.want), got)
			}
			for i := range got {
				if strings.Join(got[i], "\n;\n") != strings.Join(tc.want[i], "\n;\n") {
					t.Errorf("migration %d:\n got %q\nwant %q", i+1, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestClusterMigrations translates every migration there is, each statement ON CLUSTER and
// no MergeTree-family table left without its replicated local table.
func TestClusterMigrations(t *testing.T) {
	migs, err := ClusterMigrations("somedb", "somecluster")
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := Migrations("somedb")
	if len(migs) != len(plain) {
		t.Fatalf("%d migrations, want %d", len(migs), len(plain))
	}
	for _, m := range migs {
		for _, s := range m.Statements {
			if !strings.Contains(s, " ON CLUSTER somecluster") {
				t.Errorf("migration %d: not ON CLUSTER: %s", m.Version, s)
			}
			if strings.Contains(s, "MergeTree") && !strings.Contains(s, "ENGINE = Replicated") {
				t.Errorf("migration %d: a MergeTree table not replicated: %s", m.Version, s)
			}
			if strings.HasPrefix(s, "ALTER TABLE somedb.events ") || strings.HasPrefix(s, "ALTER TABLE somedb.detections ") {
				t.Errorf("migration %d: ALTER of a Distributed table (18.16 refuses it ON CLUSTER): %s", m.Version, s)
			}
		}
	}
	if _, err := ClusterMigrations("somedb", "bad name"); err == nil {
		t.Fatal("a cluster name with a space was accepted")
	}
}
