package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/rotorhq/rotor/broker/redis"
)

// ListenerTLS is TLS on the HTTP listeners: http_server.tls, tls_external and
// internal_tls, with Centrifugo's meaning. With TLS on the client port Rotor
// serves it on the goroutine-per-connection path (netio/stdws) instead of the
// event loop, which takes plain TCP only.
type ListenerTLS struct {
	// TLS is http_server.tls: the client port's (and, unless TLSExternal, the
	// internal port's) TLS.
	TLS TLSFiles
	// TLSExternal is http_server.tls_external: TLS only on the client port.
	TLSExternal bool
	// InternalTLS is http_server.internal_tls: the internal port's own TLS,
	// which wins over TLS there when enabled.
	InternalTLS TLSFiles
}

// TLSFiles is one Centrifugo TLS block. Each *_pem value may be a file path, a
// raw PEM string or base64-encoded PEM.
type TLSFiles struct {
	Enabled            bool
	CertPEM            string
	KeyPEM             string
	ClientCAPEM        string
	ServerCAPEM        string
	InsecureSkipVerify bool
	ServerName         string
}

func (t *TLSFiles) keys(p string) []Key {
	return []Key{
		{p + ".enabled", &t.Enabled},
		{p + ".cert_pem", &t.CertPEM},
		{p + ".key_pem", &t.KeyPEM},
		{p + ".client_ca_pem", &t.ClientCAPEM},
		{p + ".server_ca_pem", &t.ServerCAPEM},
		{p + ".insecure_skip_verify", &t.InsecureSkipVerify},
		{p + ".server_name", &t.ServerName},
	}
}

func init() {
	Register(Topic{
		Keys: func(c *ServerConfig) []Key {
			x := Ext[ListenerTLS](c)
			keys := x.TLS.keys("http_server.tls")
			keys = append(keys, Key{"http_server.tls_external", &x.TLSExternal})
			return append(keys, x.InternalTLS.keys("http_server.internal_tls")...)
		},
		Validate: func(c *ServerConfig) error {
			x := Ext[ListenerTLS](c)
			if _, err := x.TLS.Config("http_server.tls"); err != nil {
				return err
			}
			_, err := x.InternalTLS.Config("http_server.internal_tls")
			return err
		},
	})
}

// Client returns the client port's TLS config, nil for plain TCP.
func (x *ListenerTLS) Client() (*tls.Config, error) { return x.TLS.Config("http_server.tls") }

// Internal returns the internal port's TLS config (Centrifugo: internal_tls when
// enabled, else http_server.tls unless tls_external), nil for plain TCP.
func (x *ListenerTLS) Internal() (*tls.Config, error) {
	if x.InternalTLS.Enabled {
		return x.InternalTLS.Config("http_server.internal_tls")
	}
	if x.TLSExternal {
		return nil, nil
	}
	return x.TLS.Config("http_server.tls")
}

// Config builds the server TLS config of the block at key (for error messages):
// nil when disabled. A certificate and key are required; client_ca_pem makes
// clients present a certificate it signed (mutual TLS), as in Centrifugo.
func (t *TLSFiles) Config(key string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	if t.CertPEM == "" || t.KeyPEM == "" {
		return nil, fmt.Errorf("%s: cert_pem and key_pem are required when enabled", key)
	}
	certPEM, err := redis.LoadPEM(t.CertPEM)
	if err != nil {
		return nil, fmt.Errorf("%s.cert_pem: %w", key, err)
	}
	keyPEM, err := redis.LoadPEM(t.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s.key_pem: %w", key, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAPEM != "" {
		ca, err := redis.LoadPEM(t.ClientCAPEM)
		if err != nil {
			return nil, fmt.Errorf("%s.client_ca_pem: %w", key, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("%s.client_ca_pem: no valid certificates found", key)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
