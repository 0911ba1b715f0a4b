package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaRegistry: --schema-registry-url, -user and -password(-file) and their
// environment variables; the password twice is refused.
func TestSchemaRegistry(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name            string
		env             map[string]string
		args            []string
		url, user, pass string
		err             string
	}{
		{"default: none", nil, nil, "", "", "", ""},
		{"flags", nil, []string{"--schema-registry-url", "http://127.0.0.1:8081", "--schema-registry-user", "trail", "--schema-registry-password-file", pwFile},
			"http://127.0.0.1:8081", "trail", "s3cret", ""},
		{"environment", map[string]string{"TRAILSTREAM_SCHEMA_REGISTRY_URL": "https://registry:8081", "TRAILSTREAM_SCHEMA_REGISTRY_USER": "u",
			"TRAILSTREAM_SCHEMA_REGISTRY_PASSWORD_FILE": pwFile}, nil, "https://registry:8081", "u", "s3cret", ""},
		{"password twice", nil, []string{"--schema-registry-password", "a", "--schema-registry-password-file", pwFile}, "", "", "", "schema-registry-password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c := Default()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.Register(fs, SchemaRegistry)
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
			if c.SchemaRegistryURL != tc.url || c.SchemaRegistryUser != tc.user || c.SchemaRegistryPassword != tc.pass {
				t.Fatalf("got %q %q %q, want %q %q %q", c.SchemaRegistryURL, c.SchemaRegistryUser, c.SchemaRegistryPassword, tc.url, tc.user, tc.pass)
			}
		})
	}
}
