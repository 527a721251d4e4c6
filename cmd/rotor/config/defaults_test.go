package config

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDefaultConfigJSONIsCentrifugos: without a base, `rotor defaultconfig` prints
// Centrifugo's defaults unchanged, key order included.
func TestDefaultConfigJSONIsCentrifugos(t *testing.T) {
	t.Parallel()
	got, err := DefaultConfig("", "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(centrifugoDefaults)) {
		t.Fatal("defaultconfig output differs from centrifugo_defaults.json")
	}
}

func TestDefaultConfigWithBase(t *testing.T) {
	t.Parallel()
	base := writeFile(t, "base.json", `{"http_server":{"port":9001},"client":{"token":{"hmac_secret_key":"k"}},"channel":{"namespaces":[{"name":"chat","presence":true}]}}`)
	for _, out := range []string{"c.json", "c.yaml", "c.yml", "c.toml"} {
		b, err := DefaultConfig(base, out)
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		// The output must load to the same values.
		path := writeFile(t, out, string(b))
		c, err := Load(path, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", out, err, b)
		}
		if c.Port != 9001 || c.Engine.TokenHMACSecretKey != "k" || len(c.Engine.Namespaces) != 1 || !c.Engine.Namespaces[0].Presence {
			t.Fatalf("%s: port %d key %q ns %+v", out, c.Port, c.Engine.TokenHMACSecretKey, c.Engine.Namespaces)
		}
		if r := c.Report; len(r.NotHonoured)+len(r.CannotHonour)+len(r.Unknown) != 0 {
			t.Fatalf("%s: %+v", out, r)
		}
	}
	if _, err := DefaultConfig(base, "c.ini"); err == nil {
		t.Fatal("unsupported extension accepted")
	}
}

func TestDefaultEnv(t *testing.T) {
	t.Parallel()
	lines, err := DefaultEnv("", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`CENTRIFUGO_HTTP_SERVER_PORT=8000`,
		`CENTRIFUGO_CLIENT_PING_INTERVAL=25s`,
		`CENTRIFUGO_LOG_LEVEL="info"`,
		`CENTRIFUGO_CHANNEL_NAMESPACES=""`,
		`CENTRIFUGO_CLIENT_ALLOWED_ORIGINS=""`,
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("missing %s", want)
		}
	}
	base := writeFile(t, "base.json", `{"http_server":{"port":9001},"channel":{"namespaces":[{"name":"chat"},{"name":"news"}]}}`)
	lines, err = DefaultEnv(base, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`CENTRIFUGO_CHANNEL_NAMESPACES="chat news"`, `CENTRIFUGO_HTTP_SERVER_PORT=9001`}; !slices.Equal(lines, want) {
		t.Fatalf("got %q want %q", lines, want)
	}
}

// TestDefaultEnvMatchesCentrifugo compares with `centrifugo defaultenv` when
// CENTRIFUGO_BIN is set (the unreleased broker.redisnats section left out).
func TestDefaultEnvMatchesCentrifugo(t *testing.T) {
	bin := os.Getenv("CENTRIFUGO_BIN")
	if bin == "" {
		t.Skip("CENTRIFUGO_BIN not set")
	}
	cmd := exec.Command(bin, "defaultenv")
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "CENTRIFUGO_BROKER_REDISNATS_") {
			want = append(want, l)
		}
	}
	got, err := DefaultEnv("", false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("line %d: got %s want %s", i, got[i], want[i])
			}
		}
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
}
