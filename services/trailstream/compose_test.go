package main

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/config"
)

// TestComposeMatchesBinary keeps docker-compose.yml, which cannot be started here, in step
// with the binary: every service command is a target, every TRAILSTREAM_* variable is an
// option of some target, every address it configures names one of its services, and the
// Dockerfile builds this command.
func TestComposeMatchesBinary(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(b)

	options := map[string]bool{}
	names := map[string]bool{}
	for _, tg := range targets {
		names[tg.name] = true
		fs := flag.NewFlagSet(tg.name, flag.ContinueOnError)
		c := config.Default()
		tg.setup(fs, &c)
		fs.VisitAll(func(f *flag.Flag) { options[config.EnvName(f.Name)] = true })
	}
	for _, v := range regexp.MustCompile(`\bTRAILSTREAM_[A-Z0-9_]+`).FindAllString(compose, -1) {
		if !options[v] {
			t.Errorf("docker-compose.yml sets %s, which no target reads", v)
		}
	}

	commands := regexp.MustCompile(`(?m)^\s+command: \["([a-z]+)"`).FindAllStringSubmatch(compose, -1)
	if len(commands) < 5 {
		t.Fatalf("found %d service commands in docker-compose.yml, want one per service", len(commands))
	}
	for _, c := range commands {
		if !names[c[1]] {
			t.Errorf("docker-compose.yml runs target %q, which the binary does not have", c[1])
		}
	}

	_, servicesPart, ok := strings.Cut(compose, "\nservices:\n")
	if !ok {
		t.Fatal("docker-compose.yml has no services section")
	}
	services := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z][a-z0-9-]*):\s*$`).FindAllStringSubmatch(servicesPart, -1) {
		services[m[1]] = true
	}
	for _, want := range []string{"fetcher", "normalizer", "detector", "sink", "console"} {
		if !services[want] {
			t.Errorf("docker-compose.yml has no %s service", want)
		}
	}
	addresses := regexp.MustCompile(`(?m)^\s+TRAILSTREAM_(?:KAFKA_BROKERS|CLICKHOUSE_ADDR|AWS_ENDPOINT):.*$`).FindAllString(compose, -1)
	if len(addresses) != 3 {
		t.Fatalf("found %d of the 3 address settings (Kafka, ClickHouse, S3/SQS) in docker-compose.yml", len(addresses))
	}
	for _, line := range addresses {
		for _, hp := range regexp.MustCompile(`([a-z][a-z0-9-]*):\d+`).FindAllStringSubmatch(line, -1) {
			if !services[hp[1]] {
				t.Errorf("%s: %s is not a service of docker-compose.yml", strings.TrimSpace(line), hp[1])
			}
		}
	}

	// Published ports are for this host only: the console, Grafana and Prometheus have their
	// own sign-in or none, the servers the test passwords.
	for _, m := range regexp.MustCompile(`(?m)^\s+- "([^"]+)"\s*$`).FindAllStringSubmatch(servicesPart, -1) {
		if p := m[1]; regexp.MustCompile(`^[0-9:]+$`).MatchString(p) || strings.Count(p, ":") == 2 && !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("docker-compose.yml publishes %q on every interface; bind it to 127.0.0.1", p)
		}
	}
	for _, svc := range []string{"prometheus", "grafana"} {
		if !services[svc] {
			t.Errorf("docker-compose.yml has no %s service", svc)
		}
	}

	dockerfile, err := os.ReadFile("../../deploy/docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "./services/trailstream") {
		t.Error("deploy/docker/Dockerfile does not build ./services/trailstream")
	}
}
