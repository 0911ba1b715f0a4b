// Package migrate is the tool that creates or upgrades trailstream's ClickHouse schema.
package migrate

import (
	"context"
	"log/slog"

	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
)

// Run applies the migrations the configured database has not had yet.
func Run(ctx context.Context, cfg config.Config) error {
	conn, err := chstore.ConnectMigrated(ctx, chstore.OptionsOf(cfg), cfg.ClickHouseDatabase, slog.Default())
	if err != nil {
		return err
	}
	defer conn.Close()
	slog.Info("ClickHouse schema is up to date", "database", cfg.ClickHouseDatabase)
	return nil
}
