#!/usr/bin/env bash
# pipeline.sh measures trailstream end to end on this machine (`make bench-pipeline`):
#   throughput: N generated records are queued in S3/SQS first, then `trailstream all` starts and
#               the clock runs until all N rows are in ClickHouse;
#   latency:    with the pipeline idle, one small file is notified and the clock runs until its
#               rows are in ClickHouse.
# It uses a database of its own (dropped at the end) and the local stack (deploy/local/stack.sh).
# Settings (environment): BENCH_EVENTS (200000), BENCH_LATENCY_EVENTS (100).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$repo/bin/trailstream"
events=${BENCH_EVENTS:-200000}
small=${BENCH_LATENCY_EVENTS:-100}
db="bench_$(date +%s)"
log="$repo/.local/bench-pipeline.log"
ch="http://127.0.0.1:8123/"

export TRAILSTREAM_CLICKHOUSE_DATABASE=$db
export TRAILSTREAM_CONSOLE_ADDR=127.0.0.1:18080
export TRAILSTREAM_LOG_LEVEL=${TRAILSTREAM_LOG_LEVEL:-warn}

rows() { curl -fsS "$ch" --data-binary "SELECT count() FROM $db.events FINAL" 2>/dev/null || echo 0; }
now() { date +%s.%N; }

"$repo/deploy/local/stack.sh" up >/dev/null
(cd "$repo" && go build -o bin/trailstream ./services/trailstream)
mkdir -p "$repo/.local"

echo "queueing $events generated records in S3/SQS ..."
"$bin" generate --events "$events" >/dev/null

"$bin" all </dev/null >"$log" 2>&1 &
pid=$!
cleanup() {
	kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	curl -fsS "$ch" --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

t0=$(now)
until [[ $(rows) -ge $events ]]; do
	kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; echo "trailstream all stopped; log: $log" >&2; exit 1; }
	sleep 0.2
done
t1=$(now)
awk -v n="$events" -v a="$t0" -v b="$t1" 'BEGIN { s = b - a; printf "throughput: %d records in %.1f s = %.0f records/s (S3 to ClickHouse, trailstream all)\n", n, s, n / s }'

sleep 2
total=$((events + small))
t0=$(now)
"$bin" generate --events "$small" --start -5m >/dev/null
until [[ $(rows) -ge $total ]]; do sleep 0.05; done
t1=$(now)
awk -v a="$t0" -v b="$t1" -v n="$small" 'BEGIN { s = b - a; printf "latency: %.2f s from writing and notifying %d records to all of them in ClickHouse\n", s, n }'
