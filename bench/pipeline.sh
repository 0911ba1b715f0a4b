#!/usr/bin/env bash
# pipeline.sh measures trailstream end to end on this machine (`make bench-pipeline`):
#   throughput: N generated records are queued in S3/SQS first, then `trailstream all` starts and
#               the clock runs until all N rows are in ClickHouse;
#   latency:    with the pipeline idle, one small file is notified and the clock runs until its
#               rows are in ClickHouse.
#   ratio:      the same rows, read back from ClickHouse as TabSeparated, are inserted by
#               clickhouse-client alone into a copy of the table, timed three times once the
#               server has merged what the pipeline wrote; the pipeline's rate over the median
#               of clickhouse-client's is the figure to compare across runs (both vary with
#               this shared machine, the ratio less).
# It uses a database, bucket and queue of its own (the database is dropped at the end) and the local stack (deploy/local/stack.sh). The notifications are the only path: the
# bucket is new and backfill is off, so each record is read once.
# Settings (environment): BENCH_EVENTS (200000), BENCH_LATENCY_EVENTS (100).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$repo/bin/trailstream"
events=${BENCH_EVENTS:-200000}
small=${BENCH_LATENCY_EVENTS:-100}
db="bench_$(date +%s)"
bucket="bench-$(date +%s)"
log="$repo/.local/bench-pipeline.log"
ch="http://127.0.0.1:8123/"

export TRAILSTREAM_CLICKHOUSE_DATABASE=$db
export TRAILSTREAM_CONSOLE_ADDR=127.0.0.1:18080
export TRAILSTREAM_LOG_LEVEL=${TRAILSTREAM_LOG_LEVEL:-warn}
export TRAILSTREAM_S3_BUCKET=$bucket TRAILSTREAM_SQS_QUEUE=$bucket TRAILSTREAM_BACKFILL_SINCE=-1s

rows() { curl -fsS "$ch" --data-binary "SELECT count() FROM $db.events FINAL" 2>/dev/null || echo 0; }
# stored: the rows of the events' active parts, duplicates included: a query of the parts'
# metadata, so that polling takes from the pipeline next to nothing of the server's CPU (a
# count FINAL, five times a second, reads the table's keys each time); rows confirms.
stored() { curl -fsS "$ch" --data-binary "SELECT sum(rows) FROM system.parts WHERE database = '$db' AND table = 'events' AND active" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
# cpu PID: the CPU seconds (user and system) the process used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat"; }

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

chpid=$(pgrep -o -f clickhouse-server || true)
ch_cpu0=$([[ -n $chpid ]] && cpu "$chpid" || echo 0)
t0=$(now)
until [[ $(stored) -ge $events && $(rows) -ge $events ]]; do
	kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; echo "trailstream all stopped; log: $log" >&2; exit 1; }
	sleep 0.2
done
t1=$(now)
pipeline_cpu=$(cpu "$pid")
pipeline_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
awk -v n="$events" -v s="$pipeline_s" 'BEGIN { printf "throughput: %d records in %.1f s = %.0f records/s (S3 to ClickHouse, trailstream all)\n", n, s, n / s }'
ch_cpu=$([[ -n $chpid ]] && awk -v a="$ch_cpu0" -v b="$(cpu "$chpid")" 'BEGIN { printf "%.1f", b - a }' || echo "?")
echo "CPU: trailstream all ${pipeline_cpu} s, clickhouse-server ${ch_cpu} s (of $(nproc) cores)"
# Each insert writes one part of level 0; merged, they stay listed (inactive) for minutes.
echo "ClickHouse inserts by table: $(curl -fsS "$ch" --data-binary "SELECT arrayStringConcat(groupArray(concat(table, ' ', toString(n))), ', ') FROM (SELECT table, countIf(level = 0) AS n FROM system.parts WHERE database = '$db' AND table != 'schema_migrations' GROUP BY table ORDER BY n DESC)")"
awk '/^VmHWM/ { printf "trailstream all: peak RSS %.0f MiB (the embedded broker included, which holds in memory what the consumers have not all committed)\n", $2 / 1024 }' "/proc/$pid/status"

rows_file="$repo/.local/bench-pipeline-rows.tsv"
curl -fsS "$ch" --data-binary "SELECT * FROM $db.events FINAL FORMAT TabSeparated" >"$rows_file"
# The server is still merging the pipeline's parts when it has them all: clickhouse-client is
# timed on a quiet server (no merge of the database left, 60 s at most), three times into a
# new copy of the table each, and its median rate is the one compared (one run varies twice
# over with what the server is doing).
for _ in $(seq 300); do
	[[ $(curl -fsS "$ch" --data-binary "SELECT count() FROM system.merges WHERE database = '$db'" 2>/dev/null || echo 0) == 0 ]] && break
	sleep 0.2
done
client_runs=()
for i in 1 2 3; do
	curl -fsS "$ch" --data-binary "CREATE TABLE $db.events_client$i AS $db.events" >/dev/null
	ch_cpu0=$([[ -n $chpid ]] && cpu "$chpid" || echo 0)
	t0=$(now)
	clickhouse-client --query "INSERT INTO $db.events_client$i FORMAT TabSeparated" <"$rows_file"
	t1=$(now)
	ch_cpu=$([[ -n $chpid ]] && awk -v a="$ch_cpu0" -v b="$(cpu "$chpid")" 'BEGIN { printf "%.1f", b - a }' || echo "?")
	client_runs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $ch_cpu")
	curl -fsS "$ch" --data-binary "DROP TABLE $db.events_client$i" >/dev/null
done
rm -f "$rows_file"
read -r client_s ch_cpu < <(printf '%s\n' "${client_runs[@]}" | sort -g | sed -n 2p)
awk -v n="$events" -v s="$client_s" -v cpu="$ch_cpu" -v all="$(printf '%s\n' "${client_runs[@]}" | awk '{ printf "%s%.1f", sep, $1; sep = ", " }')" \
	'BEGIN { printf "clickhouse-client: the same %d rows (TabSeparated) into a copy of the table in %.1f s = %.0f rows/s (clickhouse-server CPU %s s; the median of three runs: %s s)\n", n, s, n / s, cpu, all }'
awk -v p="$pipeline_s" -v c="$client_s" 'BEGIN { printf "ratio: %.2f (pipeline records/s over clickhouse-client rows/s; goal 0.6)\n", c / p }'

sleep 2
total=$((events + small))
t0=$(now)
"$bin" generate --events "$small" --start -5m >/dev/null
until [[ $(rows) -ge $total ]]; do sleep 0.05; done
t1=$(now)
awk -v a="$t0" -v b="$t1" -v n="$small" 'BEGIN { s = b - a; printf "latency: %.2f s from writing and notifying %d records to all of them in ClickHouse\n", s, n }'
