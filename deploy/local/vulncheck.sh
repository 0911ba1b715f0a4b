#!/usr/bin/env bash
# vulncheck.sh checks trailstream's dependencies for known vulnerabilities, offline:
#
#   go   govulncheck (pinned below) over ./... against a local copy of the Go vulnerability
#        database, built from the reports in the module golang.org/x/vulndb (pinned below) with
#        that module's own cmd/indexdb, in the format govulncheck reads with -db file://
#        (index/db.json, index/modules.json, ID/<id>.json). The database is built once per pin
#        and kept in .local/vulncheck/. It fails when a vulnerability is reachable from the
#        code (govulncheck's call-graph findings, its exit status 3); vulnerabilities only in
#        imported packages or required modules are printed, not failed on. The standard library
#        is the one of the Go toolchain in use: go.mod's toolchain line, also where the
#        machine's GOTOOLCHAIN=local would ignore it (GOTOOLCHAIN set in the environment wins).
#   npm  npm audit of the console's front-end packages (services/console/web/package-lock.json)
#        against the npm registry's advisory endpoint; it fails on a vulnerability of severity
#        NPM_AUDIT_LEVEL (moderate) or above. When the registry does not answer that endpoint
#        the check says NOT CHECKED and why, lists the locked packages, and passes, unless
#        NPM_AUDIT_REQUIRED=1.
#
#   deploy/local/vulncheck.sh [go|npm|all]   (default all; make vulncheck runs it, make test too)
#
# Settings (environment): TRAILSTREAM_LOCAL_DIR (.local), NPM_AUDIT_LEVEL (moderate),
# NPM_AUDIT_REQUIRED (0), GOTOOLCHAIN (go.mod's toolchain line).
set -euo pipefail

# The pins. To move them: the newest x/vuln and x/vulndb versions the module proxy serves
# (go list -m -versions golang.org/x/vuln; go list -m golang.org/x/vulndb@latest).
govulncheck_version=v1.9.0
vulndb_version=v0.0.0-20261105234957-e22db6528018

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${TRAILSTREAM_LOCAL_DIR:-$repo/.local}/vulncheck
npm_level=${NPM_AUDIT_LEVEL:-moderate}
npm_required=${NPM_AUDIT_REQUIRED:-0}
web="$repo/services/console/web"

say() { printf 'vulncheck: %s\n' "$*"; }
die() {
	printf 'vulncheck: ERROR: %s\n' "$*" >&2
	exit 2
}

cd "$repo"

# The toolchain: go.mod's toolchain line unless GOTOOLCHAIN is set. govulncheck must be built
# by the toolchain whose standard library it reads, so its binary is kept per Go version.
if [[ -z ${GOTOOLCHAIN:-} ]]; then
	toolchain=$(sed -n 's/^toolchain //p' go.mod)
	if [[ -n $toolchain ]]; then export GOTOOLCHAIN=$toolchain; fi
fi

# vulndb_dir prints the folder of the database built from the pinned x/vulndb, building it when
# it is not there yet.
vulndb_dir() {
	local db="$state/vulndb-$vulndb_version"
	if [[ -f $db/complete ]]; then
		printf '%s\n' "$db"
		return
	fi
	say "building the vulnerability database from golang.org/x/vulndb@$vulndb_version (once)" >&2
	local info src sum bin tmp
	# go mod download checks the module against go.sum's checksum database, as any module.
	info=$(go mod download -json "golang.org/x/vulndb@$vulndb_version") || die "go mod download golang.org/x/vulndb@$vulndb_version failed"
	src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")
	sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$info")
	[[ -d $src/data/osv ]] || die "golang.org/x/vulndb@$vulndb_version has no data/osv folder (in '$src')"
	bin="$state/tools/indexdb-$vulndb_version"
	if [[ ! -x $bin/indexdb ]]; then
		mkdir -p "$bin"
		GOBIN=$bin go install "golang.org/x/vulndb/cmd/indexdb@$vulndb_version" >&2 || die "go install golang.org/x/vulndb/cmd/indexdb@$vulndb_version failed"
	fi
	tmp="$db.tmp"
	rm -rf "$tmp"
	"$bin/indexdb" -vulns "$src/data/osv" -out "$tmp" >&2 || die "indexdb could not build the database from $src/data/osv"
	local want got
	want=$(find "$src/data/osv" -maxdepth 1 -name '*.json' | wc -l)
	got=$(find "$tmp/ID" -maxdepth 1 -name '*.json' | wc -l)
	[[ -s $tmp/index/db.json && -s $tmp/index/modules.json && $want -gt 0 && $want == "$got" ]] ||
		die "the database built in $tmp is incomplete ($got of $want reports)"
	printf 'golang.org/x/vulndb %s %s\n%s reports\n' "$vulndb_version" "$sum" "$got" >"$tmp/complete"
	rm -rf "$db"
	mv "$tmp" "$db"
	# Databases and indexdb builds of other pins are no longer used.
	find "$state" -maxdepth 1 -name 'vulndb-*' ! -name "vulndb-$vulndb_version" -exec rm -rf {} +
	find "$state/tools" -maxdepth 1 -name 'indexdb-*' ! -name "indexdb-$vulndb_version" -exec rm -rf {} +
	printf '%s\n' "$db"
}

check_go() {
	local goversion bin db reports status
	goversion=$(go env GOVERSION) || die "go env GOVERSION failed (GOTOOLCHAIN=${GOTOOLCHAIN:-unset})"
	bin="$state/tools/govulncheck-$govulncheck_version-$goversion"
	if [[ ! -x $bin/govulncheck ]]; then
		say "installing govulncheck $govulncheck_version with $goversion"
		mkdir -p "$bin"
		GOBIN=$bin go install "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version" || die "go install golang.org/x/vuln/cmd/govulncheck@$govulncheck_version failed"
	fi
	find "$state/tools" -maxdepth 1 -name 'govulncheck-*' ! -name "govulncheck-$govulncheck_version-*" -exec rm -rf {} +
	db=$(vulndb_dir) || exit 2
	reports=$(sed -n 's/ reports$//p' "$db/complete")
	say "go: govulncheck $govulncheck_version, $goversion (GOTOOLCHAIN=${GOTOOLCHAIN:-unset}), database golang.org/x/vulndb@$vulndb_version ($reports reports, $db)"
	status=0
	"$bin/govulncheck" -db "file://$db" -show verbose ./... || status=$?
	case $status in
	0) say "go: PASS: no known vulnerability is reachable from the code" ;;
	3)
		say "go: FAIL: the vulnerabilities above are reachable from the code: upgrade the module (go get MODULE@VERSION) or the toolchain (go.mod's toolchain line)"
		return 1
		;;
	*) die "govulncheck failed (exit status $status)" ;;
	esac
}

check_npm() {
	command -v npm >/dev/null || die "npm audit needs Node.js and npm: apt-get install -y nodejs npm"
	local report status=0
	say "npm: npm audit --audit-level=$npm_level of ${web#"$repo/"}/package-lock.json"
	# npm exits 1 both for findings and for an endpoint that does not answer; the JSON tells.
	report=$(cd "$web" && npm audit --json --audit-level="$npm_level" 2>/dev/null) || true
	REPORT=$report LEVEL=$npm_level LOCK="$web/package-lock.json" node --input-type=module -e '
		import { readFileSync } from "node:fs";
		const levels = ["info", "low", "moderate", "high", "critical"];
		let r;
		try { r = JSON.parse(process.env.REPORT); } catch { r = { message: "npm audit printed no JSON report" }; }
		if (!r.metadata || !r.metadata.vulnerabilities) {
			const lock = JSON.parse(readFileSync(process.env.LOCK, "utf8"));
			const pkgs = Object.entries(lock.packages || {}).filter(([p]) => p !== "")
				.map(([p, v]) => `${p.replace(/^.*node_modules\//, "")}@${v.version}${v.integrity ? "" : " (no integrity hash)"}`);
			console.log(`vulncheck: npm: NOT CHECKED: the registry did not answer the audit: ${r.message || JSON.stringify(r.error)}`);
			console.log(`vulncheck: npm: the ${pkgs.length} locked packages (npm ci checks each against its integrity hash): ${pkgs.join(", ")}`);
			process.exit(4);
		}
		const counts = r.metadata.vulnerabilities;
		for (const [name, v] of Object.entries(r.vulnerabilities || {})) {
			const via = v.via.map(x => typeof x === "string" ? `via ${x}` : `${x.title} (${x.url})`).join("; ");
			const fix = v.fixAvailable === true ? "fix: npm audit fix" : v.fixAvailable ? `fix: ${v.fixAvailable.name}@${v.fixAvailable.version}` : "no fix";
			console.log(`vulncheck: npm: ${v.severity}: ${name} ${v.range}: ${via}; ${fix}`);
		}
		const total = r.metadata.dependencies && r.metadata.dependencies.total;
		console.log(`vulncheck: npm: ${total ? total + " packages, " : ""}` + levels.map(l => `${counts[l] || 0} ${l}`).join(", "));
		const failing = levels.slice(levels.indexOf(process.env.LEVEL)).reduce((n, l) => n + (counts[l] || 0), 0);
		process.exit(failing > 0 ? 1 : 0);
	' || status=$?
	case $status in
	0) say "npm: PASS: no vulnerability of severity $npm_level or above" ;;
	1)
		say "npm: FAIL: vulnerabilities of severity $npm_level or above: upgrade the package in package.json and npm install --package-lock-only"
		return 1
		;;
	4)
		if [[ $npm_required == 1 ]]; then
			say "npm: FAIL: NPM_AUDIT_REQUIRED=1 and the audit could not run"
			return 1
		fi
		;;
	*) die "npm audit failed (exit status $status)" ;;
	esac
}

what=${1:-all}
mkdir -p "$state/tools"
failed=()
case $what in
go) check_go || failed+=(go) ;;
npm) check_npm || failed+=(npm) ;;
all)
	check_go || failed+=(go)
	check_npm || failed+=(npm)
	;;
*) die "usage: vulncheck.sh [go|npm|all]" ;;
esac
if ((${#failed[@]})); then
	say "FAIL: ${failed[*]}"
	exit 1
fi
say "PASS: $what"
