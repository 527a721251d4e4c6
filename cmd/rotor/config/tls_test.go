package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testCertPEM(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

func TestListenerTLSKeys(t *testing.T) {
	certPEM, keyPEM := testCertPEM(t)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(keyPEM))
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	// A file path, base64 PEM and raw PEM; client_ca_pem asks for client certs.
	sc, err := loadJSONForTest(t, `{"http_server":{"tls":{"enabled":true,"cert_pem":`+js(certFile)+`,"key_pem":`+js(b64)+
		`,"client_ca_pem":`+js(certPEM)+`},"internal_tls":{"enabled":false}}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := Ext[ListenerTLS](sc)
	c, err := x.Client()
	if err != nil || c == nil || len(c.Certificates) != 1 || c.ClientAuth != tls.RequireAndVerifyClientCert || c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("client TLS %+v %v", c, err)
	}
	if in, _ := x.Internal(); in == nil {
		t.Fatal("internal port without TLS although tls_external is false")
	}

	// tls_external: the internal port stays plain; internal_tls wins when enabled.
	sc, err = loadJSONForTest(t, `{"http_server":{"tls_external":true,"tls":{"enabled":true,"cert_pem":`+js(certPEM)+`,"key_pem":`+js(keyPEM)+`}}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := Ext[ListenerTLS](sc).Internal(); in != nil {
		t.Fatal("tls_external: internal port got TLS")
	}
	sc, err = loadJSONForTest(t, `{"http_server":{"internal_tls":{"enabled":true,"cert_pem":`+js(certPEM)+`,"key_pem":`+js(keyPEM)+`}}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := Ext[ListenerTLS](sc).Client(); c != nil {
		t.Fatal("client port got TLS from internal_tls")
	}
	if in, _ := Ext[ListenerTLS](sc).Internal(); in == nil {
		t.Fatal("internal_tls not applied")
	}

	for _, tt := range []struct{ json, err string }{
		{`{"http_server":{"tls":{"enabled":true}}}`, "http_server.tls: cert_pem and key_pem are required"},
		{`{"http_server":{"tls":{"enabled":true,"cert_pem":"/no/such","key_pem":"x"}}}`, "http_server.tls.cert_pem: not raw PEM"},
		{`{"http_server":{"internal_tls":{"enabled":true,"cert_pem":` + js(certPEM) + `,"key_pem":` + js(certPEM) + `}}}`, "http_server.internal_tls: "},
	} {
		if _, err := loadJSONForTest(t, tt.json, nil); err == nil || !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want %q", tt.json, err, tt.err)
		}
	}
}
