package chstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/metrics"
)

// Send sends the batch insert b into table (database.table) and records it: the rows
// inserted and how long the insert took, or that it failed (the metrics name the table
// without its database).
func Send(b driver.Batch, table string) error { return SendRows(b, table, b.Rows()) }

// SendRows is Send for an insert whose rows were sent in blocks (Flush) before: rows is how
// many it holds in all.
func SendRows(b driver.Batch, table string, rows int) error {
	name := tableName(table)
	start := time.Now()
	if err := b.Send(); err != nil {
		metrics.InsertErrors.WithLabelValues(name).Inc()
		return err
	}
	metrics.InsertSeconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
	metrics.RowsInserted.WithLabelValues(name).Add(float64(rows))
	return nil
}

// InsertFailed records an insert into table that failed before it was sent (prepared or
// filled).
func InsertFailed(table string) {
	metrics.InsertErrors.WithLabelValues(tableName(table)).Inc()
}

// tableName returns table without its database.
func tableName(table string) string {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		return table[i+1:]
	}
	return table
}

// ReadyCheck is a readiness check of the server o names (a metrics.CheckFunc): a ping on
// a connection of its own, opened at the first check and kept. Close releases it.
type ReadyCheck struct {
	o Options

	mu   sync.Mutex
	conn driver.Conn
}

// NewReadyCheck returns the readiness check of the server o names.
func NewReadyCheck(o Options) *ReadyCheck { return &ReadyCheck{o: o} }

// Check pings the server.
func (c *ReadyCheck) Check(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		conn, err := open(c.o, 1)
		if err != nil {
			return err
		}
		c.conn = conn
	}
	if err := c.conn.Ping(ctx); err != nil {
		return explain(c.o, err)
	}
	return nil
}

// Close closes the check's connection.
func (c *ReadyCheck) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	if err != nil {
		return fmt.Errorf("close the readiness connection to ClickHouse %s: %w", c.o, err)
	}
	return nil
}
