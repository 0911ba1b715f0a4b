package detector

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/rules"
)

// seedWait bounds how long a starting detector waits for ClickHouse to seed its rules.
const seedWait = 30 * time.Second

// seedReach is how far back the accounts a rule has watched are looked up.
const seedReach = 30 * 24 * time.Hour

// seed rebuilds, from the events stored in ClickHouse, the memory of the rules that reach
// further back than a replay: the outliers' bands and the baselines' values. Without
// ClickHouse (none answers within seedWait, or its events table is not there yet) the
// rules start without it, and judge each account once they have watched it long enough.
func seed(ctx context.Context, cfg config.Config, engine *rules.Engine, log *slog.Logger) {
	seeders := engine.Seeders()
	if len(seeders) == 0 || cfg.ClickHouseAddr == "" {
		return
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, seedWait)
	defer cancel()
	conn, err := chstore.Connect(wctx, chstore.OptionsOf(cfg), log)
	if err != nil {
		log.Warn("rules with a long memory start without their past: ClickHouse did not answer; they judge an account once they have watched it long enough",
			"clickhouse", cfg.ClickHouseAddr, "err", err)
		return
	}
	defer conn.Close()
	n, err := Seed(ctx, conn, cfg.ClickHouseDatabase+".events", seeders, time.Now())
	if err != nil {
		log.Warn("rules with a long memory start without their past", "err", err)
		return
	}
	log.Info("rules seeded from the stored events", "rules", len(seeders), "rows", n, "took", time.Since(start).Round(time.Millisecond))
}

// Seed hands each seeder its past as of now from table (a database-qualified events table)
// and tells it the accounts the table holds within seedReach; it returns the rows read.
func Seed(ctx context.Context, conn driver.Conn, table string, seeders []rules.Seeder, now time.Time) (int, error) {
	type account struct {
		id    string
		first time.Time
	}
	var accounts []account
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT account_id, min(event_time) FROM %s FINAL WHERE event_time >= toDateTime(%d) GROUP BY account_id",
		table, now.Add(-seedReach).Unix()))
	if err != nil {
		return 0, fmt.Errorf("read the accounts of %s: %w", table, err)
	}
	for rows.Next() {
		var a account
		if err := rows.Scan(&a.id, &a.first); err != nil {
			rows.Close()
			return 0, err
		}
		accounts = append(accounts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range seeders {
		rows, err := conn.Query(ctx, s.SeedSQL(table, now))
		if err != nil {
			return n, fmt.Errorf("seed rule %s: %w", s.Info().ID, err)
		}
		for rows.Next() {
			var (
				acct, key, value string
				t                time.Time
				count            uint64
			)
			if err := rows.Scan(&acct, &key, &value, &t, &count); err != nil {
				rows.Close()
				return n, fmt.Errorf("seed rule %s: %w", s.Info().ID, err)
			}
			s.Restore(acct, key, value, t, count)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, fmt.Errorf("seed rule %s: %w", s.Info().ID, err)
		}
		for _, a := range accounts {
			s.Watched(a.id, a.first)
		}
	}
	return n, nil
}
