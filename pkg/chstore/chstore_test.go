package chstore_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/testenv"
)

func TestMigrations(t *testing.T) {
	migs, err := chstore.Migrations("somedb")
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) == 0 || migs[0].Version != 1 {
		t.Fatalf("migrations %+v", migs)
	}
	for _, m := range migs {
		for _, s := range m.Statements {
			if strings.Contains(s, "{database}") || !strings.Contains(s, "somedb.") {
				t.Errorf("migration %d statement not bound to the database: %s", m.Version, s)
			}
		}
	}
}

// TestMigrateTwice applies the migrations on a real ClickHouse, then again: the second run
// must change nothing.
func TestMigrateTwice(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c) // migrates once
	ctx := context.Background()
	if err := chstore.Migrate(ctx, conn, c.ClickHouseDatabase, slog.Default()); err != nil {
		t.Fatal(err)
	}
	var applied uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+c.ClickHouseDatabase+".schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	migs, _ := chstore.Migrations(c.ClickHouseDatabase)
	if applied != uint64(len(migs)) {
		t.Fatalf("%d migrations recorded, want %d", applied, len(migs))
	}
	for _, table := range []string{"events", "detections"} {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", c.ClickHouseDatabase, table).Scan(&n); err != nil || n != 1 {
			t.Fatalf("table %s: %d, %v", table, n, err)
		}
	}
	// A migration interrupted after some of its statements ran is applied again without
	// failing: forget every migration and run them all once more.
	if err := conn.Exec(ctx, "DROP TABLE "+c.ClickHouseDatabase+".schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if err := chstore.Migrate(ctx, conn, c.ClickHouseDatabase, slog.Default()); err != nil {
		t.Fatalf("migrations applied over an already migrated database: %v", err)
	}
	if err := chstore.Migrate(ctx, conn, "bad-name; DROP", slog.Default()); err == nil {
		t.Fatal("a database name with SQL in it was accepted")
	}
}
