package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/cmd/rotor/config"
)

// devSecrets are the development server's generated secrets, kept for the life of
// the process so that a SIGHUP reload does not change them.
type devSecrets struct {
	tokenKey, apiKey           string
	adminPassword, adminSecret string
	// admin is true when the admin keys are honoured (the admin UI is built in).
	admin bool
}

func newDevSecrets() *devSecrets {
	return &devSecrets{
		tokenKey:      genSecret(32),
		apiKey:        genSecret(24),
		adminPassword: genSecret(16),
		adminSecret:   genSecret(64),
		admin:         slices.Contains(config.KeyPaths(), "admin.enabled"),
	}
}

// env turns the admin UI on with the generated password and secret, when Rotor
// has one; appended to the environment, it wins over CENTRIFUGO_ADMIN_*.
func (d *devSecrets) env() []string {
	if !d.admin {
		return nil
	}
	return []string{
		"ROTOR_ADMIN_ENABLED=true",
		"ROTOR_ADMIN_PASSWORD=" + d.adminPassword,
		"ROTOR_ADMIN_SECRET=" + d.adminSecret,
	}
}

// apply turns the built-in defaults into a usable local playground: loopback only,
// generated secrets, every origin, and channels without namespace open to
// subscribers and their publications.
func (d *devSecrets) apply(sc *config.ServerConfig) {
	if sc.Address == "" {
		sc.Address = "127.0.0.1"
	}
	if sc.Engine.TokenHMACSecretKey == "" {
		sc.Engine.TokenHMACSecretKey = d.tokenKey
	}
	if sc.API.Key == "" {
		sc.API.Key = d.apiKey
	}
	if len(sc.AllowedOrigins) == 0 {
		sc.AllowedOrigins = []string{"*"}
	}
	sc.HealthEnabled = true
	sc.PrometheusEnabled = true
	sc.Engine.WithoutNamespace.AllowSubscribeForClient = true
	sc.Engine.WithoutNamespace.AllowPublishForSubscriber = true
}

func printDevBanner(w io.Writer, base string, sc *config.ServerConfig, d *devSecrets) {
	token, _ := signToken(sc.Engine.TokenHMACSecretKey, "demo", int64((24 * time.Hour).Seconds()), "", nil)
	ws := "ws" + strings.TrimPrefix(base, "http") + "/connection/websocket"
	admin := ""
	if d.admin {
		admin = fmt.Sprintf("  Admin UI:    %s/   (password: %s)\n", base, d.adminPassword)
	}
	fmt.Fprintf(w, `
Rotor development server (no config file: generated secrets, loopback only)

%s  WebSocket:   %s
  Server API:  %s/api   (X-API-Key: %s)
  Health:      %s/health

  Demo token (user "demo", valid 24h):
    %s

  Publish to channel "demo":
    curl -s -X POST -H 'X-API-Key: %s' -d '{"channel":"demo","data":{"text":"hello"}}' %s/api/publish

`, admin, ws, base, sc.API.Key, base, token, sc.API.Key, base)
}
