package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// TLS are the settings of a TLS client connection to a server: on with --<name>-tls or
// when any of its files is given.
type TLS struct {
	Enabled bool
	// CA is a PEM file of the certificates that sign the server's; empty: the system's.
	CA string
	// Cert and Key are a PEM client certificate and its key, for servers that ask for one.
	Cert, Key string
	// ServerName is the name the server's certificate must carry; empty: the host dialled.
	ServerName string
}

func (t *TLS) register(fs *flag.FlagSet, prefix, what string) {
	fs.BoolVar(&t.Enabled, prefix+"-tls", t.Enabled, "connect to "+what+" over TLS (implied by the other --"+prefix+"-tls-* options)")
	fs.StringVar(&t.CA, prefix+"-tls-ca", t.CA, "PEM file of the CA certificates that sign "+what+"' certificates; empty: the system's")
	fs.StringVar(&t.Cert, prefix+"-tls-cert", t.Cert, "PEM client certificate presented to "+what+" (with --"+prefix+"-tls-key)")
	fs.StringVar(&t.Key, prefix+"-tls-key", t.Key, "PEM private key of --"+prefix+"-tls-cert")
	fs.StringVar(&t.ServerName, prefix+"-tls-server-name", t.ServerName, "name "+what+"' certificates must carry; empty: the host dialled")
}

// On reports whether the connection uses TLS.
func (t TLS) On() bool {
	return t.Enabled || t.CA != "" || t.Cert != "" || t.Key != "" || t.ServerName != ""
}

// Config returns the client TLS configuration, nil when TLS is off. Certificates are
// verified always; TLS 1.2 is the lowest version offered.
func (t TLS) Config() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("TLS CA: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", t.CA)
		}
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, errors.New("TLS client certificate: give both the certificate and its key (--*-tls-cert and --*-tls-key)")
	}
	if t.Cert != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// TLSRefused reports whether err is a TLS failure that trying again cannot cure: the
// server's certificate does not verify against the CA (or is not for the name dialled),
// the server refused the client's certificate, or what answered does not speak TLS.
func TLSRefused(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		unknown   x509.UnknownAuthorityError
		host      x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		opErr     *net.OpError
		alertText = []string{"bad certificate", "unknown certificate authority", "certificate required", "handshake failure", "protocol version not supported"}
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid), errors.As(err, &header):
		return true
	case errors.As(err, &alert):
		return slices.ContainsFunc(alertText, func(s string) bool { return strings.Contains(alert.Error(), s) })
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// crypto/tls reports an alert the server sent as "remote error: tls: <alert>"
		return slices.ContainsFunc(alertText, func(s string) bool { return strings.Contains(opErr.Err.Error(), s) })
	}
	return false
}

// SASL is how the Kafka clients authenticate: a mechanism (plain, scram-sha-256 or
// scram-sha-512; empty: none), a user and a password.
type SASL struct {
	Mechanism, User, Password string
}

// String describes the sign-in without its password.
func (s SASL) String() string {
	if s.Mechanism == "" {
		return "no SASL"
	}
	return fmt.Sprintf("SASL %s as %q", s.Mechanism, s.User)
}

// LogValue logs the sign-in as String does, without the password.
func (s SASL) LogValue() slog.Value { return slog.StringValue(s.String()) }

// SASLMechanisms are the values --kafka-sasl-mechanism takes.
var SASLMechanisms = []string{"plain", "scram-sha-256", "scram-sha-512"}

// Check reports settings that cannot work: an unknown mechanism, a mechanism without a
// user or password, or a user or password without a mechanism (which would connect
// without signing in).
func (s SASL) Check() error {
	switch {
	case s.Mechanism == "" && (s.User != "" || s.Password != ""):
		return errors.New("--kafka-sasl-user or --kafka-sasl-password given without --kafka-sasl-mechanism (" + strings.Join(SASLMechanisms, ", ") + ")")
	case s.Mechanism == "":
		return nil
	case !slices.Contains(SASLMechanisms, s.Mechanism):
		return fmt.Errorf("--kafka-sasl-mechanism %q: want one of %s", s.Mechanism, strings.Join(SASLMechanisms, ", "))
	case s.User == "":
		return fmt.Errorf("--kafka-sasl-mechanism %s needs --kafka-sasl-user", s.Mechanism)
	case s.Password == "":
		return fmt.Errorf("--kafka-sasl-mechanism %s needs --kafka-sasl-password-file (or --kafka-sasl-password)", s.Mechanism)
	}
	return nil
}

func (s *SASL) register(fs *flag.FlagSet) {
	fs.StringVar(&s.Mechanism, "kafka-sasl-mechanism", s.Mechanism, "SASL mechanism the Kafka clients authenticate with: "+strings.Join(SASLMechanisms, ", ")+"; empty: none")
	fs.StringVar(&s.User, "kafka-sasl-user", s.User, "SASL user name")
	secretVar(fs, &s.Password, "kafka-sasl-password", "SASL password")
}

// ConsoleAuth is who may use the console and how it is served.
type ConsoleAuth struct {
	// UsersFile holds the local users: a line per user, "name:bcrypt-hash:role".
	UsersFile string
	// Hosts are the host names (and addresses) requests may name in their Host header.
	Hosts []string
	// TLSCert and TLSKey make the console serve HTTPS.
	TLSCert, TLSKey string
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration
	// OIDC single sign-on: the issuer URL, the client, the redirect URL registered with
	// the issuer, and which claim values make an admin or a viewer.
	OIDCIssuer, OIDCClientID, OIDCClientSecret, OIDCRedirectURL string
	OIDCRoleClaim                                               string
	OIDCAdminValues, OIDCViewerValues                           []string
}

// defaultConsoleAuth is ConsoleAuth's default: loopback names only, 12-hour sessions.
func defaultConsoleAuth() ConsoleAuth {
	return ConsoleAuth{
		Hosts:            []string{"localhost", "127.0.0.1", "::1"},
		SessionTTL:       12 * time.Hour,
		OIDCRoleClaim:    "groups",
		OIDCAdminValues:  []string{"trailstream-admins"},
		OIDCViewerValues: []string{"trailstream-viewers"},
	}
}

func (a *ConsoleAuth) register(fs *flag.FlagSet) {
	fs.StringVar(&a.UsersFile, "console-users", a.UsersFile, "file of the console's local users, a line each: name:bcrypt-hash:role (admin or viewer); `trailstream users add` writes it")
	fs.Var(&listFlag{&a.Hosts, false}, "console-hosts", "host names the console answers to (the Host header, without the port; comma-separated); others get 421, which stops DNS rebinding")
	fs.StringVar(&a.TLSCert, "console-tls-cert", a.TLSCert, "PEM certificate (chain) the console serves HTTPS with, with --console-tls-key")
	fs.StringVar(&a.TLSKey, "console-tls-key", a.TLSKey, "PEM private key of --console-tls-cert")
	fs.DurationVar(&a.SessionTTL, "console-session-ttl", a.SessionTTL, "how long a console sign-in lasts")
	fs.StringVar(&a.OIDCIssuer, "oidc-issuer", a.OIDCIssuer, "OpenID Connect issuer URL for single sign-on (with --oidc-client-id); empty: local users only")
	fs.StringVar(&a.OIDCClientID, "oidc-client-id", a.OIDCClientID, "OpenID Connect client ID of the console")
	secretVar(fs, &a.OIDCClientSecret, "oidc-client-secret", "OpenID Connect client secret")
	fs.StringVar(&a.OIDCRedirectURL, "oidc-redirect-url", a.OIDCRedirectURL, "the console's callback URL as registered with the issuer (https://HOST/auth/oidc/callback); empty: built from the request's host")
	fs.StringVar(&a.OIDCRoleClaim, "oidc-role-claim", a.OIDCRoleClaim, "ID token claim (a string or a list) whose values give the role")
	fs.Var(&listFlag{&a.OIDCAdminValues, false}, "oidc-admin-values", "values of --oidc-role-claim that make an admin (comma-separated)")
	fs.Var(&listFlag{&a.OIDCViewerValues, false}, "oidc-viewer-values", "values of --oidc-role-claim that make a viewer (comma-separated); a user with neither is refused")
}

// OIDC reports whether single sign-on is configured.
func (a ConsoleAuth) OIDC() bool { return a.OIDCIssuer != "" }

// secretVar defines a secret setting twice: --name, and --name-file, the file that holds
// it (so that it sits neither in the environment nor in the process list). Neither shows
// its value in -h or in errors.
func secretVar(fs *flag.FlagSet, p *string, name, usage string) {
	fs.Var(secretValue{p}, name, usage+"; prefer --"+name+"-file, as a value given here shows in the process list")
	fs.Var(secretFile{p}, name+"-file", "file holding the "+usage+" (one trailing newline is dropped)")
}

// checkSecretPairs reports a secret given twice, as --name and --name-file, both on the
// command line or both in the environment; given is the set of flags given on the command
// line. One on the command line and the other in the environment is no conflict: Parse
// skips the environment's (see secretTwin).
func checkSecretPairs(fs *flag.FlagSet, given map[string]bool) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(secretValue); !ok {
			return
		}
		file := f.Name + "-file"
		if fs.Lookup(file) == nil {
			return
		}
		if given[f.Name] && given[file] {
			errs = append(errs, fmt.Errorf("--%s and --%s both given: give one", f.Name, file))
		}
		_, env := os.LookupEnv(EnvName(f.Name))
		_, envFile := os.LookupEnv(EnvName(file))
		if !given[f.Name] && !given[file] && env && envFile {
			errs = append(errs, fmt.Errorf("%s and %s both set: set one", EnvName(f.Name), EnvName(file)))
		}
	})
	return errors.Join(errs...)
}

// secretTwin returns the other flag of a secret's pair (--name for --name-file and the
// reverse), or "" when f is no secret: a secret given on the command line one way is not
// overridden by the environment's other way.
func secretTwin(f *flag.Flag) string {
	switch f.Value.(type) {
	case secretValue:
		return f.Name + "-file"
	case secretFile:
		return strings.TrimSuffix(f.Name, "-file")
	}
	return ""
}

// secretValue is a flag.Value that never shows its value.
type secretValue struct{ p *string }

func (v secretValue) String() string { return "" }

func (v secretValue) Set(s string) error {
	*v.p = s
	return nil
}

// secretFile is a flag.Value that reads the secret from the file named.
type secretFile struct{ p *string }

func (v secretFile) String() string { return "" }

func (v secretFile) Set(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return fmt.Errorf("%s is empty", path)
	}
	*v.p = s
	return nil
}
