package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TLS mode: with ROTOR_E2E_TLS=1 every server the harness starts listens with
// TLS (http_server.tls with a certificate generated here, once per test
// process), its URLs are https:// and wss://, and the clients of this process
// trust that certificate: SSL_CERT_FILE points at it before any TLS handshake,
// so net/http, centrifuge-go and gocent verify the server as they would a real
// one; ClientTLSConfig gives the same trust explicitly.

var tlsMode = os.Getenv("ROTOR_E2E_TLS") == "1"

// TLS reports whether the suite runs over TLS (ROTOR_E2E_TLS=1).
func TLS() bool { return tlsMode }

type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

var (
	certOnce sync.Once
	cert     testCert
	certErr  error
)

func init() {
	if !tlsMode {
		return
	}
	c, err := generatedCert()
	if err != nil {
		panic(fmt.Sprintf("harness: TLS certificate: %v", err))
	}
	// Read by crypto/x509 when it first loads the system roots.
	_ = os.Setenv("SSL_CERT_FILE", c.certFile)
}

// generatedCert makes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost, valid for a day, in a directory of its own.
func generatedCert() (testCert, error) {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(time.Now().UnixNano()),
			Subject:               pkix.Name{CommonName: "rotor e2e"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			DNSNames:              []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			certErr = err
			return
		}
		dir, err := os.MkdirTemp("", "rotor-e2e-tls-")
		if err != nil {
			certErr = err
			return
		}
		cert.certFile = filepath.Join(dir, "cert.pem")
		cert.keyFile = filepath.Join(dir, "key.pem")
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if err := os.WriteFile(cert.certFile, certPEM, 0o600); err != nil {
			certErr = err
			return
		}
		if err := os.WriteFile(cert.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
			certErr = err
			return
		}
		cert.pool = x509.NewCertPool()
		cert.pool.AppendCertsFromPEM(certPEM)
	})
	return cert, certErr
}

// ClientTLSConfig returns a client TLS config trusting the test certificate in
// TLS mode, nil otherwise.
func ClientTLSConfig() *tls.Config {
	if !tlsMode {
		return nil
	}
	return &tls.Config{RootCAs: cert.pool}
}

// TestCert returns the files of the test certificate and key (generated on
// first use, in any mode) and a client TLS config trusting it.
func TestCert(t testing.TB) (certFile, keyFile string, client *tls.Config) {
	t.Helper()
	c, err := generatedCert()
	if err != nil {
		t.Fatalf("test certificate: %v", err)
	}
	return c.certFile, c.keyFile, &tls.Config{RootCAs: c.pool}
}

// DialConn opens a raw connection to the server for tests that write HTTP by
// hand: TCP, or TLS (verifying the test certificate) in TLS mode.
func (s *Server) DialConn(timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if tlsMode {
		return tls.DialWithDialer(d, "tcp", s.Addr, ClientTLSConfig())
	}
	return d.Dial("tcp", s.Addr)
}
