// Package chstore connects to ClickHouse and keeps trailstream's schema there up to date
// with the versioned migrations in schemas/clickhouse.
package chstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/backoff"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/schemas"
)

// Options say how to reach ClickHouse: the native-protocol address, the user and its
// password, and TLS (the server's secure native port, 9440 by default).
type Options struct {
	Addr, User, Password string
	TLS                  config.TLS
	// Cluster is the ClickHouse cluster the tables are on (--clickhouse-cluster), empty for
	// a single server. Inserts then wait until every shard has its rows
	// (clusterSettings), so that what the sink acknowledges is stored.
	Cluster string
}

// OptionsOf returns the ClickHouse options of the configuration: --clickhouse-addr,
// --clickhouse-user, --clickhouse-password (or -file), --clickhouse-tls* and
// --clickhouse-cluster.
func OptionsOf(cfg config.Config) Options {
	return Options{Addr: cfg.ClickHouseAddr, User: cfg.ClickHouseUser, Password: cfg.ClickHousePassword, TLS: cfg.ClickHouseTLS, Cluster: cfg.ClickHouseCluster}
}

// String describes where o connects for logs and errors: the address, TLS or not, and the
// user. It never includes the password.
func (o Options) String() string {
	mode := "plaintext"
	if o.TLS.On() {
		mode = "TLS"
	}
	return fmt.Sprintf("%s (%s, user %q)", o.Addr, mode, o.User)
}

// LogValue logs the options as String does, without the password.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// Open connects to the ClickHouse server o names and checks that it answers.
func Open(ctx context.Context, o Options) (driver.Conn, error) {
	conn, err := open(o, 0)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, explain(o, err)
	}
	return conn, nil
}

// open returns a client of the server o names, which connects when first used, with at most
// maxConns connections (0: clickhouse-go's default).
func open(o Options, maxConns int) (driver.Conn, error) {
	tc, err := o.TLS.Config()
	if err != nil {
		return nil, backoff.Permanent(fmt.Errorf("connect to ClickHouse %s: %w", o.Addr, err))
	}
	var settings clickhouse.Settings
	if o.Cluster != "" {
		settings = clusterSettings
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Settings:     settings,
		Addr:         []string{o.Addr},
		Auth:         clickhouse.Auth{Database: "default", Username: o.User, Password: o.Password},
		TLS:          tc,
		DialTimeout:  5 * time.Second,
		MaxOpenConns: maxConns,
		MaxIdleConns: maxConns,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to ClickHouse %s: %w", o, err)
	}
	return conn, nil
}

// clusterSettings are the settings of every query in cluster mode: an insert into a
// Distributed table returns once every shard stored its rows, not once they are queued on
// this server to be sent later. (ClickHouse 18.16 takes only numbers as settings of a
// query, so distributed_product_mode is the servers' to set: see checkProductMode.)
var clusterSettings = clickhouse.Settings{"insert_distributed_sync": 1}

// explain says what a failed first contact means when it is not passing: a refused
// password or certificate.
func explain(o Options, err error) error {
	var ex *clickhouse.Exception
	switch {
	case errors.As(err, &ex) && (ex.Code == codeWrongPassword || ex.Code == codeUnknownUser || ex.Code == codeAuthFailed):
		return backoff.Permanent(fmt.Errorf("connect to ClickHouse %s: the server refused the user or its password (check --clickhouse-user and --clickhouse-password-file): %w", o, err))
	case config.TLSRefused(err):
		return backoff.Permanent(fmt.Errorf("connect to ClickHouse %s: TLS failed (check --clickhouse-tls-ca, and that the address is the server's secure native port): %w", o, err))
	}
	return fmt.Errorf("connect to ClickHouse %s: %w", o, err)
}

// ClickHouse's error codes for a sign-in it refused: wrong password (193 before 20.x), unknown
// user (192), and the code of current releases for either (516, AUTHENTICATION_FAILED).
const (
	codeUnknownUser   = 192
	codeWrongPassword = 193
	codeAuthFailed    = 516
)

// Connect is Open for a service: while ClickHouse does not answer it waits, saying so, and
// tries again with back-off until ctx ends; an answer refusing the connection (a wrong
// password, a certificate that does not verify) ends it at once.
func Connect(ctx context.Context, o Options, log *slog.Logger) (driver.Conn, error) {
	var conn driver.Conn
	err := backoff.Retry(ctx, log, "connect to ClickHouse at "+o.String(), backoff.Start, func(ctx context.Context) error {
		var err error
		conn, err = Open(ctx, o)
		return classify(err)
	})
	return conn, err
}

// ConnectMigrated is Connect followed by MigrateCluster of db on o.Cluster (none: the one
// server), which is tried again as long as it fails for a passing reason (the connection
// dropped).
func ConnectMigrated(ctx context.Context, o Options, db string, log *slog.Logger) (driver.Conn, error) {
	conn, err := Connect(ctx, o, log)
	if err != nil {
		return nil, err
	}
	err = backoff.Retry(ctx, log, "migrate ClickHouse database "+db, backoff.Start, func(ctx context.Context) error {
		return classify(MigrateCluster(ctx, conn, db, o.Cluster, log))
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// classify marks an error ClickHouse answered with (an exception: bad credentials, bad SQL)
// as permanent; a connection that failed or dropped may pass.
func classify(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return backoff.Permanent(err)
	}
	return err
}

// Migration is one versioned schema change.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations in version order, for database db.
func Migrations(db string) ([]Migration, error) {
	entries, err := fs.ReadDir(schemas.ClickHouse, "clickhouse")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(schemas.ClickHouse, "clickhouse/"+e.Name())
		if err != nil {
			return nil, err
		}
		v, _ := strconv.Atoi(m[1])
		out = append(out, Migration{Version: v, Name: m[2], Statements: split(strings.ReplaceAll(string(b), "{database}", db))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// split cuts a migration into statements at semicolons that end a line, dropping comments.
func split(sql string) []string {
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			if s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"); s != "" {
				stmts = append(stmts, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, s)
	}
	return stmts
}

// columnExists tells an ADD COLUMN that failed because an interrupted earlier run of the
// same migration added the column already (ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS).
func columnExists(stmt string, err error) bool {
	var ex *clickhouse.Exception
	return strings.Contains(stmt, " ADD COLUMN ") && errors.As(err, &ex) && ex.Code == codeDuplicateColumn
}

// codeDuplicateColumn is ClickHouse's error code for "column with this name already exists".
const codeDuplicateColumn = 44

// Migrate creates database db if needed and applies the migrations it has not had yet. Every
// statement is idempotent, so two processes migrating at once do no harm.
func Migrate(ctx context.Context, conn driver.Conn, db string, log *slog.Logger) error {
	return MigrateCluster(ctx, conn, db, "", log)
}

// MigrateCluster is Migrate on the ClickHouse cluster named cluster (see ClusterMigrations),
// or on the server conn talks to when cluster is empty. On a cluster it then checks that
// the public tables are Distributed: a database made without cluster mode is not turned
// into one.
func MigrateCluster(ctx context.Context, conn driver.Conn, db, cluster string, log *slog.Logger) error {
	if !identifier.MatchString(db) {
		return backoff.Permanent(fmt.Errorf("ClickHouse database name %q: use letters, digits and _", db))
	}
	prelude := []string{
		"CREATE DATABASE IF NOT EXISTS " + db,
		"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version",
	}
	var migs []Migration
	var err error
	if cluster == "" {
		migs, err = Migrations(db)
	} else {
		var c *clusterDDL
		if c, err = newClusterDDL(db, cluster); err == nil {
			prelude, err = c.migration(prelude)
		}
		if err == nil {
			migs, err = ClusterMigrations(db, cluster)
		}
	}
	if err != nil {
		return backoff.Permanent(err)
	}
	for _, stmt := range prelude {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("migrate %s: %w", db, err)
		}
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM "+db+".schema_migrations")
	if err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read applied migrations: %w", err)
		}
		applied[int(v)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}
	for _, m := range migs {
		if applied[m.Version] {
			continue
		}
		for _, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil && !columnExists(stmt, err) {
				return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied_at)")
		if err != nil {
			return fmt.Errorf("record migration %04d: %w", m.Version, err)
		}
		if err := b.Append(uint32(m.Version), m.Name, time.Now()); err != nil {
			return fmt.Errorf("record migration %04d: %w", m.Version, err)
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("record migration %04d: %w", m.Version, err)
		}
		log.Info("applied ClickHouse migration", "database", db, "version", m.Version, "name", m.Name, "cluster", cluster)
	}
	if cluster != "" {
		if err := checkDistributed(ctx, conn, db, cluster); err != nil {
			return err
		}
		checkProductMode(ctx, conn, log)
	}
	return nil
}

// checkProductMode warns when the user's profile refuses queries of a Distributed table
// with a subquery of another (the console's "event_id IN (SELECT ... FROM detections)"):
// cluster mode needs distributed_product_mode 'global', which runs such a subquery once,
// over every shard, and sends its result to the shards (GLOBAL IN, GLOBAL JOIN). ClickHouse
// 18.16 takes no text setting from a query, so it is set in the servers' users.xml.
func checkProductMode(ctx context.Context, conn driver.Conn, log *slog.Logger) {
	var mode string
	if err := conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = 'distributed_product_mode'").Scan(&mode); err != nil {
		log.Warn("ClickHouse cluster mode: cannot read distributed_product_mode", "error", err)
		return
	}
	if mode != "global" && mode != "allow" {
		log.Warn("ClickHouse cluster mode: the profile of this user has distributed_product_mode '"+mode+"', so the console's queries with subqueries of other tables fail; set <distributed_product_mode>global</distributed_product_mode> in the user's profile (users.xml) on every server",
			"distributed_product_mode", mode)
	}
}

// checkDistributed fails when a table of ShardingKeys in db is not Distributed on the
// server conn talks to: the database was made by a migration without cluster mode, whose
// CREATE TABLE IF NOT EXISTS left the single-server table in place.
func checkDistributed(ctx context.Context, conn driver.Conn, db, cluster string) error {
	rows, err := conn.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = ?", db)
	if err != nil {
		return fmt.Errorf("read the tables of %s: %w", db, err)
	}
	defer rows.Close()
	var wrong []string
	for rows.Next() {
		var name, eng string
		if err := rows.Scan(&name, &eng); err != nil {
			return fmt.Errorf("read the tables of %s: %w", db, err)
		}
		if _, ours := ShardingKeys[name]; ours && eng != "Distributed" {
			wrong = append(wrong, name+" ("+eng+")")
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the tables of %s: %w", db, err)
	}
	if len(wrong) > 0 {
		sort.Strings(wrong)
		return backoff.Permanent(fmt.Errorf("ClickHouse database %s was created without --clickhouse-cluster: tables %s are not Distributed over cluster %s; copy it into a database made in cluster mode (INSERT INTO new.t SELECT * FROM old.t) or run without --clickhouse-cluster", db, strings.Join(wrong, ", "), cluster))
	}
	return nil
}

// CancelLater cancels the context of a batch insert a moment after the insert returned,
// instead of at once. clickhouse-go's batch watches its context from a goroutine that may
// still see it cancelled after the send ended, and then closes the connection, which is
// back in the pool by then: the next query on it fails with "use of closed network
// connection". Use it as defer chstore.CancelLater(cancel).
func CancelLater(cancel context.CancelFunc) {
	time.AfterFunc(time.Second, cancel)
}
