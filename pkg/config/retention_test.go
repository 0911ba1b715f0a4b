package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRetention: --retention and TRAILSTREAM_RETENTION, for ever by default, a bad value
// refused naming the variable.
func TestRetention(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want time.Duration
		err  string
	}{
		{"default: for ever", "", nil, 0, ""},
		{"flag", "", []string{"--retention", "400d"}, 400 * 24 * time.Hour, ""},
		{"environment", "13w", nil, 91 * 24 * time.Hour, ""},
		{"flag wins over environment", "13w", []string{"--retention=8760h"}, 365 * 24 * time.Hour, ""},
		{"empty flag: for ever", "13w", []string{"--retention="}, 0, ""},
		{"bad flag", "", []string{"--retention", "1y"}, 0, `invalid value "1y" for flag -retention`},
		{"bad environment", "36h", nil, 0, `TRAILSTREAM_RETENTION="36h"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("TRAILSTREAM_RETENTION", tc.env)
			}
			c := Default()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.Register(fs, Retention)
			err := Parse(fs, tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Retention.Duration(); got != tc.want {
				t.Fatalf("Retention = %v, want %v", got, tc.want)
			}
		})
	}
}
