#!/usr/bin/env bash
# normalize.sh compares, as whole processes, `trailstream normalize --format avro` with the
# yardstick bench/jsonmap (encoding/json into map[string]any) on the same generated
# CloudTrail records (`make bench-normalize`). Settings: BENCH_EVENTS (200000), RUNS (3).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
events=${BENCH_EVENTS:-200000}
runs=${RUNS:-3}
dir="$repo/.local/bench"
input="$dir/records.jsonl"
mkdir -p "$dir"
cd "$repo"
go build -o bin/trailstream ./services/trailstream
go build -o "$dir/jsonmap" ./bench/jsonmap
bin/trailstream generate --events "$events" --seed 1 --out "$input" --log-level warn

# shellcheck source=best.sh
source "$repo/bench/best.sh"

norm=$(best bin/trailstream normalize --format avro --log-level warn "$input")
yard=$(best "$dir/jsonmap" "$input")
awk -v n="$events" -v a="$norm" -v y="$yard" 'BEGIN {
	printf "trailstream normalize --format avro: %.2f s, %.0f records/s\n", a, n / a
	printf "encoding/json into map[string]any:  %.2f s, %.0f records/s\n", y, n / y
	printf "normalize is %.2fx the speed of the plain decode\n", y / a
}'
