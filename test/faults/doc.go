// Package faults is trailstream's fault suite: every service runs as its own process of the
// trailstream binary, proxies of the suite's own stand between the services and the servers,
// and each scenario injects real faults (kill -9 of a service mid-stream, ClickHouse, S3 or
// the Kafka broker unreachable, a notification delivered three times, two fetchers on one
// queue, large and bad input) before it proves, in ClickHouse, that no record was lost and
// none was counted twice, and that the detections are those of a clean run.
//
// The tests are behind the build tag faults; `make test-faults` runs them against the local
// stack and prints a table of the results ($FAULTS_OUT/faults.md as well when FAULTS_OUT
// names a directory, which then also keeps every service's log).
package faults
