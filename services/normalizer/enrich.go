package normalizer

import (
	"context"
	"log/slog"
	"time"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/normalize"
)

// newNormalizer builds the normalizer of cfg: geolocation from the embedded country data
// (and the city database when one is given), administrators from the CSV file, else (when
// followTable) from the list uploaded to ClickHouse, followed in the background until ctx
// ends. close releases what it opened.
func newNormalizer(ctx context.Context, cfg config.Config, followTable bool, log *slog.Logger) (n *normalize.Normalizer, close func(), err error) {
	loc, err := geo.New(cfg.GeoIPCityDB)
	if err != nil {
		return nil, nil, err
	}
	list := new(admins.List)
	switch {
	case cfg.AdminUsers != "":
		if err := list.LoadFile(cfg.AdminUsers); err != nil {
			loc.Close()
			return nil, nil, err
		}
		log.Info("admin users loaded", "file", cfg.AdminUsers, "count", list.Len())
	case followTable:
		go followAdmins(ctx, cfg, list, log)
	}
	return &normalize.Normalizer{Environment: cfg.Environment, Geo: loc, Admins: list}, func() { loc.Close() }, nil
}

// followAdmins keeps list equal to the latest upload in ClickHouse. ClickHouse being away
// is no reason to stop normalizing: the list is then empty or the last one read.
func followAdmins(ctx context.Context, cfg config.Config, list *admins.List, log *slog.Logger) {
	for ctx.Err() == nil {
		conn, err := chstore.Open(ctx, chstore.OptionsOf(cfg))
		if err != nil {
			log.Warn("admin users: ClickHouse not reachable, trying again", "err", err, "in", cfg.AdminUsersRefresh)
			select {
			case <-ctx.Done():
			case <-time.After(cfg.AdminUsersRefresh):
			}
			continue
		}
		list.Follow(ctx, conn, cfg.ClickHouseDatabase, cfg.AdminUsersRefresh, log)
		conn.Close()
	}
}
