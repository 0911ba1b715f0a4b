#!/usr/bin/env bash
# demo.sh runs trailstream on one machine (`make demo` calls it after building bin/trailstream):
# the local stack, every service in one process (`trailstream all`, embedded in-memory Kafka),
# 20,000 synthetic CloudTrail records of the last 24 hours, with their digests and Insights,
# stored in the bucket unnotified and read by the fetcher's backfill through the whole pipeline
# (one file the digests list is missing, as the sources page shows), the generated accounts'
# admin list uploaded to the console, then the console until Ctrl-C. The console has one user,
# the admin "demo", with a new random password each run: both are printed at the end.
#
# Settings (environment): DEMO_EVENTS (20000), DEMO_SPAN (24h: the records fall in the span
# before now), TRAILSTREAM_CONSOLE_ADDR (127.0.0.1:8080), and every other TRAILSTREAM_*
# variable the binary reads.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="$repo/bin/trailstream"
state=${TRAILSTREAM_LOCAL_DIR:-$repo/.local}
log="$state/trailstream-all.log"
events=${DEMO_EVENTS:-20000}
span=${DEMO_SPAN:-24h}
console="http://${TRAILSTREAM_CONSOLE_ADDR:-127.0.0.1:8080}"

say() { printf 'demo: %s\n' "$*"; }
die() {
	printf 'demo: ERROR: %s\n' "$*" >&2
	exit 1
}

[[ -x $bin ]] || die "$bin is missing: run 'make build' (or 'make demo', which builds it)"

"$here/stack.sh" up

if curl -fsS --max-time 2 -o /dev/null "$console/healthz" 2>/dev/null; then
	die "something already answers $console/healthz; stop it (or set TRAILSTREAM_CONSOLE_ADDR to a free address), then run the demo again"
fi

# Short receives, so that Ctrl-C stops the fetcher within two seconds.
export TRAILSTREAM_SQS_WAIT_TIME=${TRAILSTREAM_SQS_WAIT_TIME:-2s}
# The collection's proof and safety net on a demo's time scale: a file a digest lists is
# missing after 2 minutes (30 in production), and the bucket is scanned every minute (5).
export TRAILSTREAM_COMPLETENESS_GRACE=${TRAILSTREAM_COMPLETENESS_GRACE:-2m}
export TRAILSTREAM_SCAN_INTERVAL=${TRAILSTREAM_SCAN_INTERVAL:-1m}

# The day of CloudTrail files is in the bucket before trailstream starts, as in a new
# deployment, without notifications: the fetcher finds them by backfill (on a later run of the
# demo, by its next scan). One file the digests list is never written: the sources page shows
# it missing, and a collection-gap detection reports it.
say "storing $events synthetic CloudTrail records of the last $span in the bucket, for the backfill"
admins="$state/admin_users.csv"
"$bin" generate --events "$events" --span "$span" --insights --no-notify --undelivered 1 --admin-users-out "$admins" --log-level warn

mkdir -p "$state"
# The console's one user: the admin "demo", with a password made now.
users="$state/console-users"
password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 20)
"$bin" users add demo --role admin --console-users "$users" --password-file <(printf '%s\n' "$password") --log-level warn 2>/dev/null ||
	die "could not write the console's users file $users"
export TRAILSTREAM_CONSOLE_USERS="$users"

say "starting 'trailstream all', log in $log"
"$bin" all </dev/null >"$log" 2>&1 &
pid=$!

# stop_all stops 'trailstream all' cleanly: SIGTERM, then waits for it to finish.
stop_all() {
	if kill -0 "$pid" 2>/dev/null; then
		say "stopping 'trailstream all' (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ((i = 0; i < 120; i++)); do
	curl -fsS --max-time 2 -o /dev/null "$console/healthz" 2>/dev/null && break
	if ! kill -0 "$pid" 2>/dev/null; then
		tail -n 30 "$log" >&2 || true
		die "'trailstream all' exited before its console answered; its log is $log"
	fi
	sleep 0.5
done
curl -fsS --max-time 2 -o /dev/null "$console/healthz" 2>/dev/null ||
	die "$console/healthz did not answer within 60 s; look at $log"

# Signed in as demo: the session cookie for the API calls below.
session=$(curl -fsS --max-time 10 -o /dev/null -D - --data-urlencode user=demo --data-urlencode "password=$password" "$console/login" |
	sed -n 's/^[Ss]et-[Cc]ookie: trailstream_session=\([^;]*\).*/\1/p')
[[ -n $session ]] || die "could not sign in to the console as demo; look at $log"
cookie="Cookie: trailstream_session=$session"

# The backfill reads the stored day: wait for it (two minutes at most) before saying so.
for ((i = 0; i < 120; i++)); do
	state_now=$(curl -fsS --max-time 5 -H "$cookie" "$console/api/sources/default" 2>/dev/null | sed -n 's/.*"backfill":{"state":"\([a-z]*\)".*/\1/p')
	[[ $state_now == done ]] && break
	sleep 1
done
say "backfill: ${state_now:-not started} (the sources page shows its progress)"

# The administrator panels read the latest uploaded list when they are drawn, so the
# generated accounts' administrators count for the events already stored too.
curl -fsS --max-time 10 -o /dev/null -H "$cookie" -T "$admins" "$console/api/admin-users" ||
	die "the console did not take the admin list $admins ($console/api/admin-users); look at $log"
say "uploaded the admin list $admins to $console/api/admin-users"

echo "Console: $console/"
echo "Sign in as: demo, password: $password (in $users, bcrypt-hashed; trailstream users add changes it)"
echo "Sources (backfill, scans, completeness): $console/sources"
say "pipeline log: $log; press Ctrl-C to stop"
status=0
wait "$pid" || status=$?
trap - EXIT
die "'trailstream all' stopped by itself (exit status $status); its log is $log"
