package rules

import (
	"fmt"
	"time"
)

// Seed is how a rule whose memory reaches further back than a replay (an outlier's band, a
// baseline's values) rebuilds it at start from the stored events: the SQL condition on the
// events table that picks the events the rule's Select picks, and the SQL expressions of
// its key and value. Each rule that has one is tested against ClickHouse to agree with its
// Go code.
type Seed struct {
	Where string // e.g. "event_name = 'ConsoleLogin' AND login_result = 'success'"
	Key   string // "" for the account itself
	Value string // a Baseline's value
}

// Seeder is a rule that can be seeded from the events table.
type Seeder interface {
	Rule
	// SeedSQL returns the query that reads the rule's past from table (a database-qualified
	// events table), as of now. Its rows are (account_id String, key String, value String,
	// time DateTime, count UInt64).
	SeedSQL(table string, now time.Time) string
	// Restore takes one row of that query.
	Restore(account, key, value string, t time.Time, count uint64)
	// Watched tells the rule it has watched account since first (the earliest stored event
	// of the account within its reach), so it judges the account at once.
	Watched(account string, first time.Time)
}

func seedKey(expr string) string {
	if expr == "" {
		return "''"
	}
	return "toString(" + expr + ")"
}

func sqlTime(t time.Time) string {
	return fmt.Sprintf("toDateTime(%d)", t.Unix())
}

// SeedSQL implements Seeder: the count of the History slices before now and the current
// one, per account, key and slice.
func (r *Outlier) SeedSQL(table string, now time.Time) string {
	r.init()
	if r.Seed == nil {
		return ""
	}
	secs := int64(r.Slice / time.Second)
	from := time.Unix(0, (r.slice(now)-int64(r.History)-1)*int64(r.Slice))
	return fmt.Sprintf(`SELECT account_id, %s AS key, '' AS value, toDateTime(intDiv(toUInt32(event_time), %d) * %d) AS time, count() AS count
FROM %s FINAL WHERE event_time >= %s AND event_time <= %s AND (%s)
GROUP BY account_id, key, time`, seedKey(r.Seed.Key), secs, secs, table, sqlTime(from), sqlTime(now), r.Seed.Where)
}

// Restore implements Seeder.
func (r *Outlier) Restore(account, key, _ string, t time.Time, count uint64) {
	r.init()
	c := r.state.put(acctKey{account, key}, t)
	if c.slices == nil {
		c.slices, c.sample, c.fired = make(map[int64]int), make(map[int64][]Hit), make(map[int64]bool)
	}
	if c.seeded == nil {
		c.seeded = make(map[int64]int)
	}
	c.seeded[r.slice(t)] += int(count)
}

// Watched implements Seeder.
func (r *Outlier) Watched(account string, first time.Time) {
	r.init()
	if s, ok := r.watched[account]; !ok || r.slice(first) < s {
		r.watched[account] = r.slice(first)
	}
}

// SeedSQL implements Seeder: the last time each value was seen within Period before now.
func (r *Baseline) SeedSQL(table string, now time.Time) string {
	r.init()
	if r.Seed == nil {
		return ""
	}
	return fmt.Sprintf(`SELECT account_id, %s AS key, toString(%s) AS value, max(event_time) AS time, count() AS count
FROM %s FINAL WHERE event_time >= %s AND event_time <= %s AND (%s)
GROUP BY account_id, key, value`, seedKey(r.Seed.Key), r.Seed.Value, table, sqlTime(now.Add(-r.Period)), sqlTime(now), r.Seed.Where)
}

// Restore implements Seeder.
func (r *Baseline) Restore(account, key, value string, t time.Time, _ uint64) {
	r.init()
	if value == "" {
		return
	}
	k := acctKey{account, key + "\x00" + value}
	if p := r.seen.get(k); p != nil && !t.After(*p) {
		return
	}
	*r.seen.put(k, t) = t
}

// Watched implements Seeder.
func (r *Baseline) Watched(account string, first time.Time) {
	r.init()
	if w, ok := r.watched[account]; !ok || first.Before(w) {
		r.watched[account] = first
	}
}
