# trailstream's everyday commands. `make test` is what CI runs (.ci/run); it starts the local
# stack first (deploy/local/stack.sh), so it works on a fresh Debian machine with Go and Node.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

STACK := deploy/local/stack.sh
FUZZTIME ?= 20s
GO_FILES = find . -name '*.go' -not -path '*/node_modules/*' -not -path './.local/*'

# The Go toolchain every target builds and tests with: go.mod's toolchain line, a Go release
# with the standard library's security fixes, which the go command takes from the module proxy.
# Exported because a Go installed with GOTOOLCHAIN=local (this project's machines and CI)
# ignores that line; GOTOOLCHAIN set in the environment wins.
ifeq ($(origin GOTOOLCHAIN),undefined)
export GOTOOLCHAIN := $(shell sed -n 's/^toolchain //p' go.mod)
endif

# The console's browser assets: npm ci installs the packages pinned in the lock file (again
# only when it changed), build.mjs copies them into static/vendor, which the binary embeds.
WEB := services/console/web
WEB_INSTALLED := $(WEB)/node_modules/.package-lock.json
WEB_BUILT := $(WEB)/static/vendor/manifest.json

.PHONY: build assets kustomize test test-faults vulncheck demo stack-up stack-down fmt bench bench-pipeline bench-capacity bench-normalize bench-detect bench-console bench-backfill fuzz clean

## build: the console's browser assets, then the trailstream binary in bin/
build: assets
	go build -o bin/trailstream ./services/trailstream

## assets: the console's browser assets (Apache ECharts, the world map) from the pinned npm packages
assets: $(WEB_BUILT)

$(WEB_INSTALLED): $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "the console's assets need Node.js 20 or newer and npm: apt-get install -y nodejs npm"; exit 1; }
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_BUILT): $(WEB_INSTALLED) $(WEB)/build.mjs
	node $(WEB)/build.mjs

# kustomize, which the test of deploy/kubernetes (services/trailstream) runs: this version,
# built with the Go in use into .local/tools (once per version).
KUSTOMIZE_VERSION := v5.8.1
KUSTOMIZE := .local/tools/kustomize-$(KUSTOMIZE_VERSION)/kustomize

## kustomize: install the pinned kustomize into .local/tools, for the Kubernetes manifests' test
kustomize: $(KUSTOMIZE)

$(KUSTOMIZE):
	GOBIN=$(abspath $(dir $@)) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

## test: local stack up, gofmt check, the ClickHouse test cluster up (deploy/local/stack.sh cluster), browser assets built, browser installed, kustomize installed, go vet, the dependency vulnerability check, every test against the real servers, then the fault suite
test: stack-up fmt assets kustomize
	$(STACK) browser
	$(STACK) cluster
	go vet ./...
	go vet -tags faults ./test/faults
	deploy/local/vulncheck.sh
	go test -count=1 -timeout 12m ./...
	$(MAKE) --no-print-directory test-faults

## test-faults: local stack up, then the fault suite (about 6 minutes): every service as its own process, real faults, no loss, no double count
test-faults: stack-up
	go test -tags faults -count=1 -v -timeout 20m ./test/faults

## vulncheck: known vulnerabilities of the dependencies, offline: govulncheck (pinned) against a local database built from the pinned golang.org/x/vulndb (kept in .local/vulncheck), and npm audit of the console's packages; fails on a vulnerability the code reaches
vulncheck:
	deploy/local/vulncheck.sh

## demo: the whole pipeline on this machine with synthetic data; the console until Ctrl-C
demo: build
	deploy/local/demo.sh

## stack-up, stack-down: start or stop the local ClickHouse and S3/SQS emulator
stack-up:
	$(STACK) up

stack-down:
	$(STACK) down

## fmt: fails listing the Go files gofmt would change
fmt:
	@files=$$($(GO_FILES) -print0 | xargs -0 gofmt -l); \
	if [[ -n $$files ]]; then echo "gofmt needed (run 'gofmt -w' on them):"; echo "$$files"; exit 1; fi

## bench: every Go benchmark, with allocations
bench: stack-up
	go test -run '^$$' -bench . -benchmem ./...

## bench-pipeline: records/s and latency of the whole pipeline (`trailstream all`) on this machine
bench-pipeline: stack-up
	bench/pipeline.sh

## bench-capacity: what one core of each stage handles and each service's peak memory: fetcher, normalizer, detector and sink each as its own process on 200,000 generated records (BENCH_CAPACITY_EVENTS), records per CPU second and peak RSS (at most 256 MiB); then one file of 200,000 records through a fetcher (BENCH_LARGE_FILE_EVENTS), its peak RSS
bench-capacity: stack-up
	go test -tags faults -run '^$$' -bench 'BenchmarkCapacity|BenchmarkLargeFile' -benchtime 1x -timeout 30m ./test/faults

## bench-normalize: `trailstream normalize --format avro` against a plain encoding/json decode, as processes
bench-normalize:
	bench/normalize.sh

## bench-detect: `trailstream detect` (every rule) against `trailstream normalize --format avro`, as processes, on 200,000 generated records; with SIGMA_RULES=DIR also detect with those Sigma rules against detect without them
bench-detect:
	bench/detect.sh

## bench-backfill: one bucket of 2,000 generated files (400,000 records; BENCH_BACKFILL_RECORDS for another size) read through notifications and through backfill in one run: both rates, their ratio (goal 0.9 or more) and the listing time per 1,000 objects
bench-backfill: stack-up
	go test -run '^$$' -bench BenchmarkCollect -benchtime 1x -timeout 60m ./services/fetcher

## bench-console: every console panel timed at its default window and at 30 days on 10 million generated events (BENCH_CONSOLE_EVENTS for fewer; kept in database bench_console); table in bench/results/console.md
bench-console: stack-up
	go run ./bench/console

## fuzz: a short run of each fuzz target, one line per target (FUZZTIME=2m make fuzz for longer)
fuzz:
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/s3event
	go test -run '^$$' -fuzz '^FuzzRecords$$' -fuzztime $(FUZZTIME) ./pkg/cloudtrail
	go test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) ./pkg/normalize
	go test -run '^$$' -fuzz '^FuzzDecodeEvent$$' -fuzztime $(FUZZTIME) ./pkg/model
	go test -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME) ./pkg/registry
	go test -run '^$$' -fuzz '^FuzzLookup$$' -fuzztime $(FUZZTIME) ./pkg/geo
	go test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./pkg/rules
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/rules/ruletest
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/layout
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/sources
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/digest
	go test -run '^$$' -fuzz '^FuzzDecodeRegions$$' -fuzztime $(FUZZTIME) ./pkg/awsutil
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./deploy/aws
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/rules/sigma
	go test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./pkg/rules/sigma
	go test -run '^$$' -fuzz '^FuzzParseUsers$$' -fuzztime $(FUZZTIME) ./pkg/auth
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/retention

## clean: the built binary and the console's built assets (the local stack's data in .local/ is kept; stack-down stops it)
clean:
	rm -rf bin $(WEB)/static/vendor
