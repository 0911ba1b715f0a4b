#!/usr/bin/env bash
# stack.sh starts, stops and checks trailstream's local stack: ClickHouse (Debian's package)
# and the fauxqs S3/SQS emulator (npm), both on 127.0.0.1 only, with their data and logs in
# the git-ignored folder .local/ at the repository root. Kafka needs nothing here: tests and
# `trailstream all` run an embedded broker.
#
# ClickHouse also serves its secure native port (TLS) with a certificate of a local CA made
# here, and has a user with a password, for the tests of encrypted and authenticated
# connections:
#   .local/clickhouse/tls/ca.crt        the CA (--clickhouse-tls-ca)
#   .local/clickhouse/tls/server.{crt,key}  the server's, for localhost, 127.0.0.1 and ::1
#   .local/clickhouse/test-password     the password of user trailstream_test (--clickhouse-password-file)
#   .local/clickhouse/users.xml         Debian's users.xml plus that user
# A ClickHouse started by an older stack.sh (without them) is restarted with them.
#
#   deploy/local/stack.sh up       install what is missing, start what is not answering,
#                                  create the bucket and the queue (safe to run again)
#   deploy/local/stack.sh down     stop what this script started
#   deploy/local/stack.sh status   show each part; exits non-zero when one is down
#   deploy/local/stack.sh browser  install Debian's chromium (the console's tests need it)
#
# Settings (environment): CLICKHOUSE_HTTP_PORT (8123), CLICKHOUSE_TCP_PORT (9000),
# CLICKHOUSE_INTERSERVER_PORT (9009), CLICKHOUSE_TLS_PORT (9440), FAUXQS_PORT (4566), TRAILSTREAM_S3_BUCKET and
# TRAILSTREAM_SQS_QUEUE (trailstream-cloudtrail), TRAILSTREAM_LOCAL_DIR (.local).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${TRAILSTREAM_LOCAL_DIR:-$repo/.local}

ch_http_port=${CLICKHOUSE_HTTP_PORT:-8123}
ch_tcp_port=${CLICKHOUSE_TCP_PORT:-9000}
ch_interserver_port=${CLICKHOUSE_INTERSERVER_PORT:-9009}
ch_url="http://127.0.0.1:$ch_http_port"
ch_dir="$state/clickhouse"
ch_pid="$ch_dir/clickhouse.pid"
ch_log="$ch_dir/log/server.log"
ch_errlog="$ch_dir/log/error.log"
ch_match="--path=$ch_dir/data/" # what only our ClickHouse has on its command line
ch_tls_port=${CLICKHOUSE_TLS_PORT:-9440}
ch_tls="$ch_dir/tls"
ch_users="$ch_dir/users.xml"
ch_test_user=trailstream_test
ch_test_password="$ch_dir/test-password"
# what the command line of a ClickHouse started by this version has, and an older one lacks
ch_current="--tcp_port_secure=$ch_tls_port --users_config=$ch_users"

fq_port=${FAUXQS_PORT:-4566}
fq_url="http://127.0.0.1:$fq_port"
fq_pid="$state/fauxqs.pid"
fq_log="$state/fauxqs.log"
fq_match="$here/fauxqs.mjs"

bucket=${TRAILSTREAM_S3_BUCKET:-trailstream-cloudtrail}
queue=${TRAILSTREAM_SQS_QUEUE:-trailstream-cloudtrail}
redrive_count=10

say() { printf 'stack: %s\n' "$*"; }
die() {
	printf 'stack: ERROR: %s\n' "$*" >&2
	exit 1
}

# answers URL: true when an HTTP GET of URL succeeds within two seconds.
answers() { curl -fsS --max-time 2 -o /dev/null "$1" 2>/dev/null; }

# wait_for URL SECONDS PID: waits until URL answers; fails early when PID has exited.
wait_for() {
	local url=$1 seconds=$2 pid=$3 i
	for ((i = 0; i < seconds * 2; i++)); do
		answers "$url" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}

# running PIDFILE TEXT: prints the pid in PIDFILE when that process is alive and its command
# line contains TEXT (a reused pid is not ours).
running() {
	local pid
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -F -- "$2" >/dev/null || return 1
	echo "$pid"
}

# stop NAME PIDFILE PATTERN: stops the process this script started, TERM then KILL.
stop() {
	local name=$1 pidfile=$2 pattern=$3 pid i
	if ! pid=$(running "$pidfile" "$pattern"); then
		rm -f "$pidfile"
		say "$name: nothing this script started is running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 60; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name: pid $pid did not stop in 30 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	say "$name: stopped (pid $pid)"
}

apt_updated=
apt_install() {
	[[ $(id -u) -eq 0 ]] || die "installing $* needs root: run 'sudo apt-get install -y $*', then run this again"
	if [[ -z $apt_updated ]]; then
		say "apt-get update"
		apt-get update -q || die "apt-get update failed; check the machine's package sources and network, then run this again"
		apt_updated=1
	fi
	say "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" ||
		die "apt-get install $* failed; install them by hand ('apt-get install -y $*'), then run this again"
}

# tls_files: the CA and the server certificate of the secure native port, made when missing
# or expiring within 30 days (the server then needs a restart to load the new one).
tls_files() {
	command -v openssl >/dev/null || apt_install openssl
	command -v openssl >/dev/null || die "openssl is still missing after apt-get install openssl"
	mkdir -p "$ch_tls"
	chmod 700 "$ch_tls"
	if [[ -f $ch_tls/ca.crt && -f $ch_tls/ca.key ]] && openssl x509 -checkend 2592000 -noout -in "$ch_tls/ca.crt" >/dev/null 2>&1; then
		:
	else
		say "clickhouse: making a local CA in $ch_tls"
		openssl genrsa -out "$ch_tls/ca.key" 2048 2>/dev/null || die "openssl genrsa failed"
		openssl req -x509 -new -key "$ch_tls/ca.key" -sha256 -days 3650 -subj "/CN=trailstream local stack CA" \
			-out "$ch_tls/ca.crt" 2>/dev/null || die "openssl could not make the CA certificate"
		rm -f "$ch_tls/server.crt"
	fi
	if [[ -f $ch_tls/server.crt && -f $ch_tls/server.key ]] &&
		openssl x509 -checkend 2592000 -noout -in "$ch_tls/server.crt" >/dev/null 2>&1 &&
		openssl verify -CAfile "$ch_tls/ca.crt" "$ch_tls/server.crt" >/dev/null 2>&1; then
		return 0
	fi
	say "clickhouse: making the server certificate of the secure port (localhost, 127.0.0.1, ::1)"
	openssl genrsa -out "$ch_tls/server.key" 2048 2>/dev/null || die "openssl genrsa failed"
	openssl req -new -key "$ch_tls/server.key" -subj /CN=localhost -out "$ch_tls/server.csr" 2>/dev/null ||
		die "openssl could not make the certificate request"
	openssl x509 -req -in "$ch_tls/server.csr" -CA "$ch_tls/ca.crt" -CAkey "$ch_tls/ca.key" -CAcreateserial \
		-days 825 -sha256 -out "$ch_tls/server.crt" -extfile <(printf '%s\n' \
		'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1' 'extendedKeyUsage=serverAuth' \
		'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment') 2>/dev/null ||
		die "openssl could not sign the server certificate"
	rm -f "$ch_tls/server.csr"
	chmod 600 "$ch_tls"/*.key
}

# users_file: Debian's users.xml with the password user of the tests added; the password is
# made once and kept in $ch_test_password. Written only when it changes (ClickHouse reloads
# the file when it does).
users_file() {
	if [[ ! -s $ch_test_password ]]; then
		(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$ch_test_password")
	fi
	local hash user new
	hash=$(tr -d '\n' <"$ch_test_password" | sha256sum | cut -d' ' -f1)
	user="<$ch_test_user><password_sha256_hex>$hash</password_sha256_hex><networks><ip>::1</ip><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></$ch_test_user>"
	[[ -r /etc/clickhouse-server/users.xml ]] || die "clickhouse: /etc/clickhouse-server/users.xml is missing; reinstall clickhouse-server"
	new=$(sed "s#</users>#    $user\n    </users>#" /etc/clickhouse-server/users.xml)
	if [[ ! -f $ch_users || $(<"$ch_users") != "$new" ]]; then
		printf '%s\n' "$new" >"$ch_users"
		chmod 600 "$ch_users"
	fi
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# test_user_ok: true when ClickHouse signs the test user in with its password.
test_user_ok() {
	printf 'user = "%s:%s"\n' "$ch_test_user" "$(<"$ch_test_password")" |
		curl -fsS --max-time 5 -K - -o /dev/null "$ch_url/?query=SELECT%201" 2>/dev/null
}

clickhouse_up() {
	[[ -x /usr/sbin/clickhouse-server ]] || apt_install clickhouse-server clickhouse-client
	[[ -x /usr/sbin/clickhouse-server ]] || die "clickhouse: /usr/sbin/clickhouse-server is still missing after apt-get install clickhouse-server"
	mkdir -p "$ch_dir"/{data,tmp,user_files,format_schemas,log}
	local before
	before=$(cat "$ch_tls/server.crt" 2>/dev/null || true)
	tls_files
	users_file
	local pid
	if answers "$ch_url/ping"; then
		if pid=$(running "$ch_pid" "$ch_match"); then
			if ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -F -- "$ch_current" >/dev/null; then
				say "clickhouse: started by an older stack.sh (no TLS port, no test user); restarting it"
				stop clickhouse "$ch_pid" "$ch_match"
			elif [[ $before != "$(<"$ch_tls/server.crt")" ]]; then
				say "clickhouse: new server certificate; restarting to load it"
				stop clickhouse "$ch_pid" "$ch_match"
			else
				say "clickhouse: answering at $ch_url, TLS on 127.0.0.1:$ch_tls_port (reused)"
				return 0
			fi
		else
			say "clickhouse: answering at $ch_url (reused; not started by stack.sh, so its TLS port and test user are as its owner set them)"
			port_open "$ch_tls_port" || say "clickhouse: WARNING: nothing on 127.0.0.1:$ch_tls_port; the TLS tests will fail"
			return 0
		fi
	fi
	if running "$ch_pid" "$ch_match" >/dev/null; then
		say "clickhouse: started earlier (pid $(<"$ch_pid")) but not answering yet; waiting"
	else
		say "clickhouse: starting, data in $ch_dir"
		setsid nohup /usr/sbin/clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- \
			--path="$ch_dir/data/" --tmp_path="$ch_dir/tmp/" --user_files_path="$ch_dir/user_files/" \
			--format_schema_path="$ch_dir/format_schemas/" \
			--logger.log="$ch_log" --logger.errorlog="$ch_errlog" \
			--listen_host=127.0.0.1 --http_port="$ch_http_port" --tcp_port="$ch_tcp_port" \
			--interserver_http_port="$ch_interserver_port" \
			--tcp_port_secure="$ch_tls_port" --users_config="$ch_users" \
			--openSSL.server.certificateFile="$ch_tls/server.crt" --openSSL.server.privateKeyFile="$ch_tls/server.key" \
			--openSSL.server.dhParamsFile= \
			</dev/null >"$ch_dir/log/stdout.log" 2>&1 &
		echo $! >"$ch_pid"
	fi
	if ! wait_for "$ch_url/ping" 60 "$(<"$ch_pid")"; then
		tail -n 20 "$ch_errlog" "$ch_dir/log/stdout.log" >&2 2>/dev/null || true
		die "clickhouse-server exited or did not answer $ch_url/ping within 60 s. Look at $ch_errlog and $ch_dir/log/stdout.log; a port in use ($ch_http_port, $ch_tcp_port, $ch_interserver_port, $ch_tls_port: 'ss -ltnp') is the usual cause. Stop whatever holds it or set CLICKHOUSE_*_PORT, then run 'deploy/local/stack.sh up' again"
	fi
	port_open "$ch_tls_port" || die "clickhouse: answering at $ch_url but not on its TLS port 127.0.0.1:$ch_tls_port; look at $ch_errlog"
	local i
	for ((i = 0; i < 20; i++)); do
		test_user_ok && break
		sleep 0.5
	done
	test_user_ok || die "clickhouse: user $ch_test_user cannot sign in with the password in $ch_test_password; look at $ch_errlog"
	say "clickhouse: answering at $ch_url, native protocol on 127.0.0.1:$ch_tcp_port, TLS on 127.0.0.1:$ch_tls_port (CA $ch_tls/ca.crt), user $ch_test_user"
}

fauxqs_install() {
	command -v node >/dev/null || die "fauxqs needs Node.js 20 or newer: 'apt-get install -y nodejs npm' (or install Node from your usual source), then run this again"
	command -v npm >/dev/null || die "fauxqs needs npm: 'apt-get install -y npm', then run this again"
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	((major >= 20)) || die "fauxqs needs Node.js 20 or newer, found $(node --version); upgrade Node, then run this again"
	# npm writes node_modules/.package-lock.json on every install: older than the lock file
	# means the pinned packages changed since.
	if [[ ! -f $here/node_modules/.package-lock.json || $here/package-lock.json -nt $here/node_modules/.package-lock.json ]]; then
		say "fauxqs: npm ci in $here"
		(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) ||
			die "npm ci in $here failed; check that the npm registry is reachable, then run this again"
	fi
}

fauxqs_up() {
	if answers "$fq_url/health"; then
		say "fauxqs: answering at $fq_url (reused)"
	else
		fauxqs_install
		mkdir -p "$state"
		if running "$fq_pid" "$fq_match" >/dev/null; then
			say "fauxqs: started earlier (pid $(<"$fq_pid")) but not answering yet; waiting"
		else
			say "fauxqs: starting, log in $fq_log"
			FAUXQS_PORT=$fq_port setsid nohup node "$here/fauxqs.mjs" </dev/null >"$fq_log" 2>&1 &
			echo $! >"$fq_pid"
		fi
		if ! wait_for "$fq_url/health" 30 "$(<"$fq_pid")"; then
			tail -n 20 "$fq_log" >&2 || true
			die "fauxqs exited or did not answer $fq_url/health within 30 s. Look at $fq_log; a port in use ($fq_port: 'ss -ltnp') is the usual cause. Stop whatever holds it or set FAUXQS_PORT, then run 'deploy/local/stack.sh up' again"
		fi
		say "fauxqs: answering at $fq_url"
	fi
	# Creating an existing bucket or queue changes nothing, so this is safe to repeat.
	curl -fsS --max-time 10 -o /dev/null -X PUT "$fq_url/$bucket" ||
		die "fauxqs: creating bucket $bucket failed; look at $fq_log"
	# The queue's redrive policy moves a notification received $redrive_count times to
	# $queue-dlq: a safety net behind the fetcher, which dead-letters an unparseable
	# notification with its reason after 5 receives (--max-receive-count).
	local dlq_url dlq_arn
	dlq_url=$(sqs CreateQueue "{\"QueueName\":\"$queue-dlq\"}" | sed -n 's/.*"QueueUrl":"\([^"]*\)".*/\1/p') ||
		die "fauxqs: creating queue $queue-dlq failed; look at $fq_log"
	dlq_arn=$(sqs GetQueueAttributes "{\"QueueUrl\":\"$dlq_url\",\"AttributeNames\":[\"QueueArn\"]}" | sed -n 's/.*"QueueArn":"\([^"]*\)".*/\1/p')
	[[ -n $dlq_arn ]] || die "fauxqs: the ARN of queue $queue-dlq cannot be read; look at $fq_log"
	sqs CreateQueue "{\"QueueName\":\"$queue\"}" >/dev/null ||
		die "fauxqs: creating queue $queue failed; look at $fq_log"
	sqs SetQueueAttributes "{\"QueueUrl\":\"$(queue_url)\",\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"$dlq_arn\\\",\\\"maxReceiveCount\\\":\\\"$redrive_count\\\"}\"}}" >/dev/null ||
		die "fauxqs: setting the redrive policy of queue $queue failed; look at $fq_log"
	bucket_exists || die "fauxqs: bucket $bucket was created but cannot be listed; look at $fq_log"
	queue_exists || die "fauxqs: queue $queue was created but cannot be found; look at $fq_log"
	say "fauxqs: bucket $bucket and queue $queue ready (redrive to $queue-dlq after $redrive_count receives)"
}

# sqs ACTION JSON: one SQS call in the JSON protocol.
sqs() {
	curl -fsS --max-time 10 -X POST \
		-H 'Content-Type: application/x-amz-json-1.0' -H "X-Amz-Target: AmazonSQS.$1" \
		--data "$2" "$fq_url/"
}

bucket_exists() { curl -fsS --max-time 5 -o /dev/null "$fq_url/$bucket?max-keys=1" 2>/dev/null; }
queue_exists() { sqs GetQueueUrl "{\"QueueName\":\"$queue\"}" 2>/dev/null | grep '"QueueUrl"' >/dev/null; }
queue_url() { sqs GetQueueUrl "{\"QueueName\":\"$queue\"}" | sed -n 's/.*"QueueUrl":"\([^"]*\)".*/\1/p'; }

browser() {
	if [[ ! -x /usr/bin/chromium ]]; then
		apt_install chromium
	fi
	[[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium is still missing after apt-get install chromium"
	say "browser: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
}

# show NAME OK DETAIL: one line of status; counts the parts that are down.
down_count=0
show() {
	if [[ $2 == ok ]]; then
		printf '%-11s up    %s\n' "$1" "$3"
	else
		printf '%-11s DOWN  %s\n' "$1" "$3"
		down_count=$((down_count + 1))
	fi
}

# owner PIDFILE PATTERN: who started a part.
owner() {
	local pid
	if pid=$(running "$1" "$2"); then
		echo "started by stack.sh, pid $pid"
	else
		echo "not started by stack.sh"
	fi
}

status() {
	if answers "$ch_url/ping"; then
		show clickhouse ok "$ch_url, native 127.0.0.1:$ch_tcp_port ($(owner "$ch_pid" "$ch_match"))"
		if port_open "$ch_tls_port"; then
			show ch-tls ok "127.0.0.1:$ch_tls_port, CA $ch_tls/ca.crt"
		else
			show ch-tls down "nothing on 127.0.0.1:$ch_tls_port"
		fi
		if [[ -s $ch_test_password ]] && test_user_ok; then
			show ch-user ok "$ch_test_user, password in $ch_test_password"
		else
			show ch-user down "user $ch_test_user cannot sign in"
		fi
	else
		show clickhouse down "$ch_url/ping does not answer (log: $ch_errlog)"
	fi
	if answers "$fq_url/health"; then
		show fauxqs ok "$fq_url ($(owner "$fq_pid" "$fq_match"))"
		if bucket_exists; then show bucket ok "s3://$bucket"; else show bucket down "s3://$bucket is missing"; fi
		if queue_exists; then show queue ok "$queue"; else show queue down "queue $queue is missing"; fi
	else
		show fauxqs down "$fq_url/health does not answer (log: $fq_log)"
	fi
	if [[ -x /usr/bin/chromium ]]; then
		printf '%-11s ok    %s\n' chromium /usr/bin/chromium
	else
		printf '%-11s -     not installed (deploy/local/stack.sh browser installs it)\n' chromium
	fi
	if ((down_count > 0)); then
		say "$down_count part(s) down: run 'deploy/local/stack.sh up'"
		return 1
	fi
}

case ${1:-} in
up)
	clickhouse_up
	fauxqs_up
	say "up: ClickHouse $ch_url (native 127.0.0.1:$ch_tcp_port, TLS 127.0.0.1:$ch_tls_port), S3/SQS $fq_url"
	;;
down)
	stop fauxqs "$fq_pid" "$fq_match"
	stop clickhouse "$ch_pid" "$ch_match"
	;;
status) status ;;
browser) browser ;;
*)
	echo "usage: $0 up|down|status|browser" >&2
	exit 2
	;;
esac
