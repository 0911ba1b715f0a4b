package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/kafkautil"
)

// CA is a certificate authority made for one test: it signs server and client
// certificates, and its files are in the test's temporary folder.
type CA struct {
	t    testing.TB
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
	// File is the PEM file of the CA's certificate (for --*-tls-ca).
	File string
}

// NewCA makes a CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{t: t, cert: cert, key: key, dir: t.TempDir()}
	ca.File = ca.write("ca.crt", "CERTIFICATE", der)
	return ca
}

// Pool returns a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Server returns a server certificate for names (host names or IP addresses).
func (ca *CA) Server(names ...string) tls.Certificate {
	ca.t.Helper()
	tmpl := ca.template(names[0], x509.ExtKeyUsageServerAuth)
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return ca.sign(tmpl)
}

// ServerFiles writes a server certificate for names and its key to PEM files, for a server
// started with certificate and key files (--console-tls-cert, --console-tls-key).
func (ca *CA) ServerFiles(names ...string) (certFile, keyFile string) {
	ca.t.Helper()
	return ca.files(names[0]+".server", ca.Server(names...))
}

// files writes cert and its key to PEM files named after name.
func (ca *CA) files(name string, cert tls.Certificate) (certFile, keyFile string) {
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		ca.t.Fatal(err)
	}
	return ca.write(name+".crt", "CERTIFICATE", cert.Certificate[0]), ca.write(name+".key", "PRIVATE KEY", key)
}

// Client returns a client certificate for name and writes it with its key to PEM files, for
// --*-tls-cert and --*-tls-key.
func (ca *CA) Client(name string) (cert tls.Certificate, certFile, keyFile string) {
	ca.t.Helper()
	cert = ca.sign(ca.template(name, x509.ExtKeyUsageClientAuth))
	certFile, keyFile = ca.files(name, cert)
	return cert, certFile, keyFile
}

func (ca *CA) template(cn string, usage x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: serial(ca.t), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
}

func (ca *CA) sign(tmpl *x509.Certificate) tls.Certificate {
	key := newKey(ca.t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func (ca *CA) write(name, kind string, der []byte) string {
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// SecureBroker is an in-process Kafka-protocol broker that serves TLS only and requires a
// SASL sign-in, with the client settings that reach it.
type SecureBroker struct {
	*kafkautil.Embedded
	CA   *CA
	TLS  config.TLS  // the CA, and the client certificate when the broker asks for one
	SASL config.SASL // the mechanism, user and password of the broker's user
}

// Apply points c at the broker: brokers, TLS and SASL.
func (b SecureBroker) Apply(c *config.Config) {
	c.KafkaBrokers = b.Brokers()[0]
	c.KafkaTLS, c.KafkaSASL = b.TLS, b.SASL
}

// Cluster returns the kafkautil.Cluster of the broker's client settings.
func (b SecureBroker) Cluster(t testing.TB) kafkautil.Cluster {
	t.Helper()
	var c config.Config
	b.Apply(&c)
	return Cluster(t, c)
}

// SecureKafka starts a broker for this test that serves TLS with a certificate of a CA of
// its own for 127.0.0.1 and requires clients to sign in with mechanism (plain,
// scram-sha-256, scram-sha-512) as a user with a fresh password; with clientCert, it also
// requires a client certificate signed by that CA.
func SecureKafka(t testing.TB, mechanism string, clientCert bool) SecureBroker {
	t.Helper()
	ca := NewCA(t, "kafka test CA")
	server := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{ca.Server("127.0.0.1", "localhost")}}
	b := SecureBroker{CA: ca, TLS: config.TLS{CA: ca.File},
		SASL: config.SASL{Mechanism: mechanism, User: "trailstream-test", Password: Name("pw-")}}
	if clientCert {
		server.ClientAuth, server.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
		_, b.TLS.Cert, b.TLS.Key = ca.Client("trailstream-test")
	}
	e, err := kafkautil.StartEmbedded(0, 3, kafkautil.ServeTLS(server), kafkautil.RequireSASL(b.SASL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	b.Embedded = e
	return b
}

// Stack is where the local stack's files of the secure ClickHouse are: TRAILSTREAM_LOCAL_DIR
// (as for stack.sh), else .local at the repository root.
func Stack() string {
	if d := os.Getenv("TRAILSTREAM_LOCAL_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0) // pkg/testenv/tls.go
	return filepath.Join(filepath.Dir(file), "..", "..", ".local")
}

// ClickHouseTestUser is the ClickHouse user with a password that stack.sh creates.
const ClickHouseTestUser = "trailstream_test"

// SecureClickHouse returns c pointed at the local ClickHouse's secure native port
// (CLICKHOUSE_TLS_PORT, 9440) with the stack's CA, signing in as ClickHouseTestUser with
// the password stack.sh wrote, read from its file as --clickhouse-password-file does. It
// also returns that file.
func SecureClickHouse(t testing.TB, c config.Config) (config.Config, string) {
	t.Helper()
	port := os.Getenv("CLICKHOUSE_TLS_PORT")
	if port == "" {
		port = "9440"
	}
	ca := filepath.Join(Stack(), "clickhouse", "tls", "ca.crt")
	pw := filepath.Join(Stack(), "clickhouse", "test-password")
	for _, f := range []string{ca, pw} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the local stack's secure ClickHouse is needed (%v): %s", err, howToStart)
		}
	}
	fs := flagSetOf(&c)
	for name, value := range map[string]string{"clickhouse-addr": "127.0.0.1:" + port, "clickhouse-user": ClickHouseTestUser,
		"clickhouse-password-file": pw, "clickhouse-tls-ca": ca} {
		if err := fs.Set(name, value); err != nil {
			t.Fatalf("--%s: %v", name, err)
		}
	}
	return c, pw
}

// flagSetOf returns the ClickHouse flags bound to c, to set them as the command line does.
func flagSetOf(c *config.Config) *flag.FlagSet {
	fs := flag.NewFlagSet("testenv", flag.ContinueOnError)
	c.Register(fs, config.ClickHouse)
	return fs
}
