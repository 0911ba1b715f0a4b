// Package schemas embeds the public contract of trailstream: the Avro schemas of the
// Kafka topics and the ClickHouse migrations. The files beside this one are the source
// of truth; other teams read them directly.
package schemas

import "embed"

// Event is the Avro schema of messages on the cloudtrail.events topic.
//
//go:embed cloudtrail_event.avsc
var Event string

// Detection is the Avro schema of messages on the cloudtrail.detections topic.
//
//go:embed detection.avsc
var Detection string

// ClickHouse holds the ClickHouse migrations, clickhouse/NNNN_name.sql, applied in order.
//
//go:embed clickhouse/*.sql
var ClickHouse embed.FS

// History holds every earlier version of the schemas above, history/<name>.<n>.avsc, oldest
// first. A version only ever appends fields with defaults to the one before it, so readers
// holding any version can read messages written with any other.
//
//go:embed history/*.avsc
var History embed.FS
