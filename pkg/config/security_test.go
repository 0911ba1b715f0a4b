package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parse registers groups on a fresh flag set over c and parses args as a target does.
func parse(c *Config, args []string, groups ...Group) error {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.Register(fs, groups...)
	return Parse(fs, args)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretSources: each secret is read from its flag, its -file flag, its environment
// variable or the environment's _FILE variable, with a flag beating the environment either
// way, and a secret given twice the same way refused.
func TestSecretSources(t *testing.T) {
	file := writeFile(t, "pw", "from-file\n")
	crlf := writeFile(t, "pw-crlf", "from-crlf-file\r\n")
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{"flag", nil, []string{"--clickhouse-password", "from-flag"}, "from-flag", ""},
		{"file flag", nil, []string{"--clickhouse-password-file", file}, "from-file", ""},
		{"file with CRLF", nil, []string{"--clickhouse-password-file", crlf}, "from-crlf-file", ""},
		{"environment", map[string]string{"TRAILSTREAM_CLICKHOUSE_PASSWORD": "from-env"}, nil, "from-env", ""},
		{"environment _FILE", map[string]string{"TRAILSTREAM_CLICKHOUSE_PASSWORD_FILE": file}, nil, "from-file", ""},
		{"file flag beats the environment's value", map[string]string{"TRAILSTREAM_CLICKHOUSE_PASSWORD": "from-env"},
			[]string{"--clickhouse-password-file", file}, "from-file", ""},
		{"flag beats the environment's file", map[string]string{"TRAILSTREAM_CLICKHOUSE_PASSWORD_FILE": file},
			[]string{"--clickhouse-password", "from-flag"}, "from-flag", ""},
		{"both flags", nil, []string{"--clickhouse-password", "a", "--clickhouse-password-file", file}, "", "both given"},
		{"both variables", map[string]string{"TRAILSTREAM_CLICKHOUSE_PASSWORD": "a", "TRAILSTREAM_CLICKHOUSE_PASSWORD_FILE": file},
			nil, "", "both set"},
		{"empty file", nil, []string{"--clickhouse-password-file", writeFile(t, "empty", "\n")}, "", "is empty"},
		{"missing file", nil, []string{"--clickhouse-password-file", "/nonexistent/pw"}, "", "/nonexistent/pw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := Default()
			err := parse(&c, tt.args, ClickHouse)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ClickHousePassword != tt.want {
				t.Fatalf("password %q, want %q", c.ClickHousePassword, tt.want)
			}
		})
	}
}

// TestEverySecretHasAFile: the SASL password and the OIDC client secret take the same
// routes as the ClickHouse password.
func TestEverySecretHasAFile(t *testing.T) {
	t.Setenv("TRAILSTREAM_KAFKA_SASL_PASSWORD_FILE", writeFile(t, "sasl", "sasl-secret\n"))
	c := Default()
	if err := parse(&c, []string{"--oidc-client-secret-file", writeFile(t, "oidc", "oidc-secret")}, Kafka, Console); err != nil {
		t.Fatal(err)
	}
	if c.KafkaSASL.Password != "sasl-secret" || c.ConsoleAuth.OIDCClientSecret != "oidc-secret" {
		t.Fatalf("SASL password %q, OIDC secret %q", c.KafkaSASL.Password, c.ConsoleAuth.OIDCClientSecret)
	}
}

// TestSecretsNotShown: -h lists the secret options but never a value, whether the value
// was a default, came from a flag or from the environment; a flag's String is empty too.
func TestSecretsNotShown(t *testing.T) {
	const secret = "Sup3r-S3cret-value"
	t.Setenv("TRAILSTREAM_KAFKA_SASL_PASSWORD", secret)
	c := Default()
	c.ClickHousePassword, c.ConsoleAuth.OIDCClientSecret = secret, secret
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	c.Register(fs, ClickHouse, Kafka, Console)
	fs.Usage = func() {}
	if err := Parse(fs, []string{"--oidc-client-secret", secret}); err != nil {
		t.Fatal(err)
	}
	Usage(fs, "usage")()
	if err := Parse(fs, []string{"-h"}); err != flag.ErrHelp {
		t.Fatalf("-h: %v", err)
	}
	Usage(fs, "usage")()
	help := out.String()
	for _, name := range []string{"--clickhouse-password-file", "--kafka-sasl-password", "--oidc-client-secret-file", "TRAILSTREAM_KAFKA_SASL_PASSWORD_FILE"} {
		if !strings.Contains(help, name) {
			t.Errorf("-h lacks %s", name)
		}
	}
	if strings.Contains(help, secret) {
		t.Fatalf("-h shows the secret:\n%s", help)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if strings.Contains(f.Value.String(), secret) || strings.Contains(f.DefValue, secret) {
			t.Errorf("--%s shows the secret", f.Name)
		}
	})
	if c.KafkaSASL.Password != secret || c.ConsoleAuth.OIDCClientSecret != secret {
		t.Fatal("the secrets were not set")
	}
}

func TestSASLCheck(t *testing.T) {
	tests := []struct {
		s    SASL
		want string // in the error; empty: none
	}{
		{SASL{}, ""},
		{SASL{Mechanism: "plain", User: "u", Password: "p"}, ""},
		{SASL{Mechanism: "scram-sha-512", User: "u", Password: "p"}, ""},
		{SASL{Mechanism: "SCRAM-SHA-256", User: "u", Password: "p"}, "want one of plain, scram-sha-256, scram-sha-512"},
		{SASL{Mechanism: "plain", Password: "p"}, "--kafka-sasl-user"},
		{SASL{Mechanism: "plain", User: "u"}, "--kafka-sasl-password-file"},
		{SASL{User: "u"}, "without --kafka-sasl-mechanism"},
	}
	for _, tt := range tests {
		err := tt.s.Check()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Check(%s %s): %v, want %q", tt.s.Mechanism, tt.s.User, err, tt.want)
		}
		if err != nil && tt.s.Password != "" && strings.Contains(err.Error(), tt.s.Password+" ") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// testPKI writes a CA and a certificate it signed for 127.0.0.1 (with its key) to PEM files.
func testPKI(t *testing.T) (caFile, certFile, keyFile string, server tls.Certificate) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, kind string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	return write("ca.crt", "CERTIFICATE", caDER), write("c.crt", "CERTIFICATE", der), write("c.key", "PRIVATE KEY", pkcs8),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTLSConfig(t *testing.T) {
	caFile, certFile, keyFile, _ := testPKI(t)
	notPEM := writeFile(t, "not.pem", "hello")
	tests := []struct {
		name string
		tls  TLS
		want string // in the error; empty: none
	}{
		{"CA", TLS{CA: caFile}, ""},
		{"client certificate", TLS{Enabled: true, Cert: certFile, Key: keyFile}, ""},
		{"missing CA", TLS{CA: "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"},
		{"CA not PEM", TLS{CA: notPEM}, "no PEM certificate"},
		{"certificate without key", TLS{Cert: certFile}, "give both"},
		{"key without certificate", TLS{Key: keyFile}, "give both"},
		{"key that is not one", TLS{Cert: certFile, Key: notPEM}, "TLS client certificate"},
		{"key of another certificate", TLS{Cert: caFile, Key: keyFile}, "TLS client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.tls.Config()
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Config: %v, want an error with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c == nil || c.MinVersion != tls.VersionTLS12 || c.InsecureSkipVerify {
				t.Fatalf("config %+v", c)
			}
			if (tt.tls.CA != "") != (c.RootCAs != nil) || (tt.tls.Cert != "") != (len(c.Certificates) == 1) {
				t.Fatalf("CA pool %v, %d certificates", c.RootCAs != nil, len(c.Certificates))
			}
		})
	}
	if c, err := (TLS{}).Config(); c != nil || err != nil {
		t.Fatalf("TLS off: %v, %v; want nil, nil", c, err)
	}
	if !(TLS{ServerName: "x"}).On() || (TLS{}).On() {
		t.Fatal("On: any TLS option turns TLS on, none leaves it off")
	}
}

// TestTLSRefused tells certificate failures from passing ones against a real TLS server.
func TestTLSRefused(t *testing.T) {
	caFile, _, _, server := testPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{server}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	good, err := TLS{CA: caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	dial := func(addr string, c *tls.Config) error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
		if err == nil {
			conn.Close()
		}
		return err
	}
	wrongName := good.Clone()
	wrongName.ServerName = "elsewhere.example"
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	tests := []struct {
		name    string
		addr    string
		cfg     *tls.Config
		refused bool
	}{
		{"verified", ln.Addr().String(), good, false},
		{"unknown CA", ln.Addr().String(), &tls.Config{}, true},
		{"wrong name", ln.Addr().String(), wrongName, true},
		{"not TLS", plain.Addr().String(), good, true},
		{"connection refused", closedAddr, good, false},
	}
	for _, tt := range tests {
		err := dial(tt.addr, tt.cfg)
		if got := TLSRefused(err); got != tt.refused {
			t.Errorf("%s: TLSRefused(%v) = %v, want %v", tt.name, err, got, tt.refused)
		}
		if (err == nil) != (tt.name == "verified") {
			t.Errorf("%s: dial: %v", tt.name, err)
		}
	}
}
