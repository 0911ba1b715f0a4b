package config

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"default", "", nil, "127.0.0.1:9092"},
		{"environment", "k1:9092", nil, "k1:9092"},
		{"flag wins over environment", "k1:9092", []string{"--kafka-brokers", "k2:9092"}, "k2:9092"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("TRAILSTREAM_KAFKA_BROKERS", tt.env)
			}
			c := Default()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.Register(fs, Kafka)
			if err := Parse(fs, tt.args); err != nil {
				t.Fatal(err)
			}
			if c.KafkaBrokers != tt.want {
				t.Fatalf("KafkaBrokers = %q, want %q", c.KafkaBrokers, tt.want)
			}
		})
	}
}

func TestBadEnvironmentValue(t *testing.T) {
	t.Setenv("TRAILSTREAM_BATCH_SIZE", "many")
	c := Default()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.Register(fs, Batch)
	if err := Parse(fs, nil); err == nil {
		t.Fatal("a non-numeric TRAILSTREAM_BATCH_SIZE was accepted")
	}
}

func TestBrokers(t *testing.T) {
	c := Config{KafkaBrokers: " a:1, ,b:2 "}
	if got := c.Brokers(); len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Fatalf("Brokers() = %q", got)
	}
	if got := (&Config{}).Brokers(); got != nil {
		t.Fatalf("Brokers() of empty = %q", got)
	}
}

func TestHomeCountryList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"US", []string{"US"}, false},
		{" us, CA ,us,", []string{"US", "CA"}, false},
		{"", nil, false},
		{"USA", nil, true},
		{"U1", nil, true},
	}
	for _, tt := range tests {
		c := Config{HomeCountries: tt.in}
		got, err := c.HomeCountryList()
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("HomeCountryList(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestMetricsAddr(t *testing.T) {
	tests := []struct {
		name string
		env  *string
		args []string
		want string
	}{
		{"default", nil, nil, "127.0.0.1:9100"},
		{"environment", ptr("0.0.0.0:9200"), nil, "0.0.0.0:9200"},
		{"environment empty: no endpoint", ptr(""), nil, ""},
		{"flag", ptr("0.0.0.0:9200"), []string{"--metrics-addr", "127.0.0.1:9300"}, "127.0.0.1:9300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != nil {
				t.Setenv("TRAILSTREAM_METRICS_ADDR", *tt.env)
			}
			c := Default()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.Register(fs, Metrics)
			if err := Parse(fs, tt.args); err != nil {
				t.Fatal(err)
			}
			if c.MetricsAddr != tt.want {
				t.Fatalf("MetricsAddr = %q, want %q", c.MetricsAddr, tt.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
