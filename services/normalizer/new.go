package normalizer

import (
	"context"
	"log/slog"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/normalize"
)

// New returns the normalizer the normalizer service builds from cfg, for normalizing in
// another process (trailstream import --direct): the environment of --environment,
// geolocation from the embedded country data and --geoip-city-db, administrators from
// --admin-users, else, when followTable, from the list uploaded to ClickHouse, followed
// in the background until ctx ends (empty until it is first read). close releases what it
// opened.
func New(ctx context.Context, cfg config.Config, followTable bool, log *slog.Logger) (n *normalize.Normalizer, close func(), err error) {
	return newNormalizer(ctx, cfg, followTable, log)
}
