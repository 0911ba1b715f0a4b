#!/usr/bin/env bash
# detect.sh compares, as whole processes on the same generated CloudTrail records,
# `trailstream detect` (normalize, then every enabled rule) with `trailstream normalize
# --format avro` (`make bench-detect`). The goal is detect at 0.75x normalize or better.
# With SIGMA_RULES (a folder of Sigma rules, such as SigmaHQ's rules/cloud/aws/cloudtrail) it
# also times detect with them loaded: the goal is 0.9x of detect without them or better.
# Settings: BENCH_EVENTS (200000), RUNS (3), RULES_CONFIG (a rules config for detect),
# SIGMA_RULES.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
events=${BENCH_EVENTS:-200000}
runs=${RUNS:-3}
dir="$repo/.local/bench"
input="$dir/records-$events.jsonl"
mkdir -p "$dir"
cd "$repo"
go build -o bin/trailstream ./services/trailstream
[[ -s $input ]] || bin/trailstream generate --events "$events" --seed 1 --span 24h --start 2026-11-20T00:00:00Z --out "$input" --log-level warn
detect_args=(--log-level warn)
[[ -n ${RULES_CONFIG:-} ]] && detect_args+=(--rules-config "$RULES_CONFIG")

# shellcheck source=best.sh
source "$repo/bench/best.sh"

norm=$(best bin/trailstream normalize --format avro --log-level warn "$input")
det=$(best bin/trailstream detect "${detect_args[@]}" "$input")
found=$(bin/trailstream detect "${detect_args[@]}" "$input" | wc -l)
rules=$(bin/trailstream rules list "${detect_args[@]}" | tail -n +2 | wc -l)
awk -v n="$events" -v a="$norm" -v d="$det" -v f="$found" -v r="$rules" 'BEGIN {
	printf "trailstream normalize --format avro: %.2f s, %.0f records/s\n", a, n / a
	printf "trailstream detect (%d rules):       %.2f s, %.0f records/s, %d detections\n", r, d, n / d, f
	printf "detect is %.2fx the speed of normalize (goal: 0.75x or better)\n", a / d
}'

if [[ -n ${SIGMA_RULES:-} ]]; then
	sig=$(best bin/trailstream detect "${detect_args[@]}" --sigma-rules "$SIGMA_RULES" "$input")
	sfound=$(bin/trailstream detect "${detect_args[@]}" --sigma-rules "$SIGMA_RULES" "$input" | wc -l)
	srules=$(bin/trailstream rules list "${detect_args[@]}" --sigma-rules "$SIGMA_RULES" | grep -c '^sigma:' || true)
	awk -v n="$events" -v d="$det" -v s="$sig" -v f="$sfound" -v r="$srules" 'BEGIN {
		printf "trailstream detect with %d Sigma rules: %.2f s, %.0f records/s, %d detections\n", r, s, n / s, f
		printf "with the Sigma rules detect runs at %.2fx its speed without them (goal: 0.9x or better)\n", d / s
	}'
fi
