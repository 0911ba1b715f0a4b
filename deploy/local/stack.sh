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
#   deploy/local/stack.sh down     stop what this script started (the test cluster too)
#   deploy/local/stack.sh status   show each part; exits non-zero when one is down
#   deploy/local/stack.sh browser  install Debian's chromium (the console's tests need it)
#   deploy/local/stack.sh cluster  install ZooKeeper if missing and start the test cluster
#                                  (safe to run again; the main ClickHouse is left as it is)
#   deploy/local/stack.sh cluster-down  stop the test cluster
#
# The test cluster of --clickhouse-cluster (services/migrate's cluster tests): one ZooKeeper
# (Debian's package) on 127.0.0.1:12181 and two more ClickHouse servers, cluster
# trailstream_test of 2 shards of 1 replica, data and configuration in
# .local/clickhouse-cluster/{zookeeper,1,2}:
#   node 1: HTTP 18123, native 19000, interserver 19009, macros shard 01, replica node1
#   node 2: HTTP 18124, native 19001, interserver 19010, macros shard 02, replica node2
#
# Settings (environment): CLUSTER_ZOOKEEPER_PORT (12181), CLUSTER_HTTP_PORTS (18123 18124),
# CLUSTER_TCP_PORTS (19000 19001; the cluster tests read it too), CLUSTER_INTERSERVER_PORTS
# (19009 19010), CLICKHOUSE_HTTP_PORT (8123), CLICKHOUSE_TCP_PORT (9000),
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
	# The test cluster is started by 'cluster' only: reported, not counted as down.
	local n
	for n in 1 2; do
		if answers "http://127.0.0.1:${cl_http[$((n - 1))]}/ping"; then
			printf '%-11s up    %s\n' "cluster-$n" "http://127.0.0.1:${cl_http[$((n - 1))]}, native 127.0.0.1:${cl_tcp[$((n - 1))]} ($(owner "$cl_dir/$n/clickhouse.pid" "$cl_dir/$n/config.xml"))"
		else
			printf '%-11s -     not running (deploy/local/stack.sh cluster starts it)\n' "cluster-$n"
		fi
	done
	if zk_answers; then
		printf '%-11s up    %s\n' zookeeper "127.0.0.1:$zk_port ($(owner "$zk_pid" "$zk_match"))"
	else
		printf '%-11s -     not running (deploy/local/stack.sh cluster starts it)\n' zookeeper
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

# The test cluster (see the top of this file).
cl_dir="$state/clickhouse-cluster"
cl_name=trailstream_test
zk_port=${CLUSTER_ZOOKEEPER_PORT:-12181}
zk_dir="$cl_dir/zookeeper"
zk_pid="$zk_dir/zookeeper.pid"
zk_match="$zk_dir/zoo.cfg"
read -r -a cl_http <<<"${CLUSTER_HTTP_PORTS:-18123 18124}"
read -r -a cl_tcp <<<"${CLUSTER_TCP_PORTS:-19000 19001}"
read -r -a cl_inter <<<"${CLUSTER_INTERSERVER_PORTS:-19009 19010}"

# zk_answers: true when the ZooKeeper answers its srvr command.
zk_answers() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$zk_port; printf srvr >&3; cat <&3" 2>/dev/null | grep -q '^Mode:'
}

zookeeper_up() {
	[[ -f /usr/share/java/zookeeper.jar ]] || apt_install zookeeper
	[[ -f /usr/share/java/zookeeper.jar ]] || die "zookeeper: /usr/share/java/zookeeper.jar is still missing after apt-get install zookeeper"
	command -v java >/dev/null || die "zookeeper needs Java: 'apt-get install -y default-jre-headless', then run this again"
	if zk_answers; then
		say "zookeeper: answering on 127.0.0.1:$zk_port (reused)"
		return 0
	fi
	mkdir -p "$zk_dir/data"
	printf '%s\n' "tickTime=2000" "dataDir=$zk_dir/data" "clientPort=$zk_port" "clientPortAddress=127.0.0.1" \
		"admin.enableServer=false" "4lw.commands.whitelist=srvr,ruok" "maxClientCnxns=100" \
		"autopurge.snapRetainCount=3" "autopurge.purgeInterval=1" >"$zk_dir/zoo.cfg"
	if running "$zk_pid" "$zk_match" >/dev/null; then
		say "zookeeper: started earlier (pid $(<"$zk_pid")) but not answering yet; waiting"
	else
		say "zookeeper: starting on 127.0.0.1:$zk_port, data in $zk_dir"
		setsid nohup java -Xms32m -Xmx128m -XX:+UseSerialGC -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar \
			org.apache.zookeeper.server.ZooKeeperServerMain "$zk_dir/zoo.cfg" \
			</dev/null >"$zk_dir/zookeeper.log" 2>&1 &
		echo $! >"$zk_pid"
	fi
	local i
	for ((i = 0; i < 60; i++)); do
		zk_answers && break
		kill -0 "$(<"$zk_pid")" 2>/dev/null || break
		sleep 0.5
	done
	if ! zk_answers; then
		tail -n 20 "$zk_dir/zookeeper.log" >&2 || true
		die "zookeeper did not answer on 127.0.0.1:$zk_port within 30 s. Look at $zk_dir/zookeeper.log; a port in use ('ss -ltnp') is the usual cause: set CLUSTER_ZOOKEEPER_PORT, then run 'deploy/local/stack.sh cluster' again"
	fi
	say "zookeeper: answering on 127.0.0.1:$zk_port"
}

# node_config N: the configuration of cluster node N (1 or 2), lean on memory: small caches,
# few background threads, query log off.
node_config() {
	local n=$1 dir="$cl_dir/$1" i shards=""
	for i in 0 1; do
		shards+="<shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>${cl_tcp[$i]}</port></replica></shard>"
	done
	cat <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/error.log</errorlog><size>10M</size><count>2</count></logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>${cl_http[$((n - 1))]}</http_port>
    <tcp_port>${cl_tcp[$((n - 1))]}</tcp_port>
    <interserver_http_port>${cl_inter[$((n - 1))]}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$cl_dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <max_connections>256</max_connections>
    <max_concurrent_queries>50</max_concurrent_queries>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <builtin_dictionaries_reload_interval>0</builtin_dictionaries_reload_interval>
    <merge_tree><max_suspicious_broken_parts>5</max_suspicious_broken_parts></merge_tree>
    <remote_servers><$cl_name>$shards</$cl_name></remote_servers>
    <zookeeper><node><host>127.0.0.1</host><port>$zk_port</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>
    <macros><shard>0$n</shard><replica>node$n</replica></macros>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
XML
}

# cluster_users: Debian's users.xml with the setting cluster mode needs in the default
# profile: subqueries of Distributed tables in a query of one run GLOBAL (ClickHouse 18.16
# takes no text setting from a query). Written only when it changes.
cluster_users() {
	local new
	[[ -r /etc/clickhouse-server/users.xml ]] || die "clickhouse: /etc/clickhouse-server/users.xml is missing; reinstall clickhouse-server"
	new=$(sed '0,/<default>/s##<default>\n            <distributed_product_mode>global</distributed_product_mode>#' /etc/clickhouse-server/users.xml)
	if [[ ! -f $cl_dir/users.xml || $(<"$cl_dir/users.xml") != "$new" ]]; then
		printf '%s\n' "$new" >"$cl_dir/users.xml"
	fi
}

# node_up N: starts cluster node N unless it answers already with the same configuration.
node_up() {
	local n=$1 dir="$cl_dir/$1" url="http://127.0.0.1:${cl_http[$(($1 - 1))]}" new pid
	mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
	new=$(node_config "$n")
	local changed=
	if [[ ! -f $dir/config.xml || $(<"$dir/config.xml") != "$new" ]]; then
		printf '%s\n' "$new" >"$dir/config.xml"
		changed=1
	fi
	if answers "$url/ping"; then
		if pid=$(running "$dir/clickhouse.pid" "$dir/config.xml"); then
			if [[ -z $changed ]]; then
				say "cluster node $n: answering at $url (reused)"
				return 0
			fi
			say "cluster node $n: configuration changed; restarting"
			stop "cluster node $n" "$dir/clickhouse.pid" "$dir/config.xml"
		else
			die "cluster node $n: something not started by stack.sh answers at $url; stop it or set CLUSTER_HTTP_PORTS"
		fi
	fi
	if ! running "$dir/clickhouse.pid" "$dir/config.xml" >/dev/null; then
		say "cluster node $n: starting, data in $dir"
		setsid nohup /usr/sbin/clickhouse-server --config-file="$dir/config.xml" \
			</dev/null >"$dir/log/stdout.log" 2>&1 &
		echo $! >"$dir/clickhouse.pid"
	fi
}

# node_wait N: waits until cluster node N answers and sees ZooKeeper.
node_wait() {
	local n=$1 dir="$cl_dir/$1" url="http://127.0.0.1:${cl_http[$(($1 - 1))]}" i
	if ! wait_for "$url/ping" 60 "$(<"$dir/clickhouse.pid")"; then
		tail -n 20 "$dir/log/error.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
		die "cluster node $n exited or did not answer $url/ping within 60 s. Look at $dir/log/error.log; a port in use (${cl_http[$((n - 1))]}, ${cl_tcp[$((n - 1))]}, ${cl_inter[$((n - 1))]}: 'ss -ltnp') is the usual cause. Stop whatever holds it or set CLUSTER_*_PORTS, then run 'deploy/local/stack.sh cluster' again"
	fi
	for ((i = 0; i < 40; i++)); do
		curl -fsS --max-time 5 "$url/?query=SELECT%20count()%20FROM%20system.zookeeper%20WHERE%20path%3D'/'" >/dev/null 2>&1 && break
		sleep 0.5
	done
	curl -fsS --max-time 5 "$url/?query=SELECT%20count()%20FROM%20system.zookeeper%20WHERE%20path%3D'/'" >/dev/null ||
		die "cluster node $n answers but cannot reach ZooKeeper on 127.0.0.1:$zk_port; look at $dir/log/error.log"
	say "cluster node $n: answering at $url, native 127.0.0.1:${cl_tcp[$((n - 1))]}, shard 0$n"
}

cluster_up() {
	local start=$SECONDS
	[[ -x /usr/sbin/clickhouse-server ]] || apt_install clickhouse-server clickhouse-client
	[[ -x /usr/sbin/clickhouse-server ]] || die "clickhouse: /usr/sbin/clickhouse-server is still missing after apt-get install clickhouse-server"
	zookeeper_up
	mkdir -p "$cl_dir"
	cluster_users
	node_up 1
	node_up 2
	node_wait 1
	node_wait 2
	say "cluster: $cl_name (2 shards x 1 replica) on native 127.0.0.1:${cl_tcp[0]} and 127.0.0.1:${cl_tcp[1]}, ZooKeeper 127.0.0.1:$zk_port, ready in $((SECONDS - start)) s"
}

cluster_down() {
	stop "cluster node 2" "$cl_dir/2/clickhouse.pid" "$cl_dir/2/config.xml"
	stop "cluster node 1" "$cl_dir/1/clickhouse.pid" "$cl_dir/1/config.xml"
	stop zookeeper "$zk_pid" "$zk_match"
}

case ${1:-} in
up)
	clickhouse_up
	fauxqs_up
	say "up: ClickHouse $ch_url (native 127.0.0.1:$ch_tcp_port, TLS 127.0.0.1:$ch_tls_port), S3/SQS $fq_url"
	;;
down)
	cluster_down
	stop fauxqs "$fq_pid" "$fq_match"
	stop clickhouse "$ch_pid" "$ch_match"
	;;
status) status ;;
browser) browser ;;
cluster) cluster_up ;;
cluster-down) cluster_down ;;
*)
	echo "usage: $0 up|down|status|browser|cluster|cluster-down" >&2
	exit 2
	;;
esac
