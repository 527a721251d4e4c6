package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/cmd/rotor/config"
)

// runCLI runs the rotor command line in-process in dir (the commands default to
// ./config.json) and returns the exit code, stdout and stderr.
func runCLI(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	if dir != "" {
		t.Chdir(dir)
	}
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

var allSubcommands = []string{"bench", "checkconfig", "checksubtoken", "checktoken", "defaultconfig", "defaultenv", "genconfig", "gensubtoken", "gentoken", "serve", "version"}

func TestCLIUnknownCommandAndFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"nosuch"}, {"genapikey"}, {"--nosuch"}, {"-x"}, {"--config"}, {"stray", "-c", "x.json"}, {"help", "nosuch"}} {
		code, stdout, stderr := runCLI(t, dir, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "Error: ") || !strings.Contains(stderr, "Usage:") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	for _, name := range allSubcommands {
		if name == "bench" {
			continue // the load tool has its own flag parsing (benchmarks.Main)
		}
		code, stdout, stderr := runCLI(t, dir, name, "--no-such-flag")
		if code != 2 || stdout != "" || !strings.Contains(stderr, "unknown flag: --no-such-flag") || !strings.Contains(stderr, "Usage:\n  rotor "+name) {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q", name, code, stdout, stderr)
		}
	}
	// A stray argument is not silently ignored.
	for _, args := range [][]string{{"checkconfig", "config.json"}, {"version", "x"}, {"gentoken", "x"}, {"checktoken", "a", "b"}} {
		code, _, stderr := runCLI(t, dir, args...)
		if code != 2 || !strings.Contains(stderr, "unexpected argument") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestCLIHelp(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, stdout, stderr := runCLI(t, dir, args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Available Commands:") || !strings.Contains(stdout, "-p, --http_server.port string") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		for _, name := range allSubcommands {
			if !strings.Contains(stdout, "\n  "+name+" ") {
				t.Errorf("%q: usage does not list %s", args, name)
			}
		}
	}
	for _, name := range allSubcommands {
		if name == "bench" {
			continue
		}
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			code, stdout, stderr := runCLI(t, dir, args...)
			if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage:\n  rotor "+name) || !strings.Contains(stdout, "-h, --help") {
				t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
			}
		}
	}
	code, stdout, _ := runCLI(t, dir, "gentoken", "--help")
	for _, f := range []string{"-c, --config string", "-u, --user string", "-t, --ttl int", "-q, --quiet"} {
		if code != 0 || !strings.Contains(stdout, f) {
			t.Errorf("gentoken --help lacks %s:\n%s", f, stdout)
		}
	}
}

func TestCLIVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, "", "version")
	if code != 0 || !strings.HasPrefix(stdout, "Rotor v") || !strings.Contains(stdout, "(Go version: go") {
		t.Fatalf("exit %d: %q", code, stdout)
	}
}

func TestCLIGenConfig(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"config.json", "c.yaml", "c.yml", "c.toml"} {
		args := []string{"genconfig"}
		if name != "config.json" {
			args = append(args, "-c", name)
		}
		code, stdout, _ := runCLI(t, dir, args...)
		if code != 0 || stdout != "" {
			t.Fatalf("%s: exit %d %q", name, code, stdout)
		}
		sc, err := config.Load(filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		if k := sc.Engine.TokenHMACSecretKey; len(k) != 86 { // 64 bytes, base64url unpadded
			t.Fatalf("%s: hmac key %q", name, k)
		}
		if len(sc.API.Key) != 86 || sc.Report.Err() != nil {
			t.Fatalf("%s: api key %q, %v", name, sc.API.Key, sc.Report.Err())
		}
		// Refuses to overwrite.
		code, stdout, _ = runCLI(t, dir, args...)
		if code != 1 || !strings.Contains(stdout, "error: output config file already exists") {
			t.Fatalf("%s: second run: exit %d %q", name, code, stdout)
		}
	}
	code, stdout, _ := runCLI(t, dir, "genconfig", "-c", "c.ini")
	if code != 1 || !strings.Contains(stdout, "supported extensions") {
		t.Fatalf("exit %d %q", code, stdout)
	}
}

func TestCLICheckConfig(t *testing.T) {
	defaults, err := os.ReadFile("config/centrifugo_defaults.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, _ := runCLI(t, dir, "checkconfig")
	if code != 1 || stdout != "config file not found\n" {
		t.Fatalf("missing: exit %d %q", code, stdout)
	}
	write("config.json", `{"client":{"token":{"hmac_secret_key":"k"}}}`)
	if code, stdout, _ := runCLI(t, dir, "checkconfig"); code != 0 || stdout != "" {
		t.Fatalf("valid: exit %d %q", code, stdout)
	}
	write("bad.json", `{"http_server":{"port":"eighty"}}`)
	if code, stdout, _ := runCLI(t, dir, "checkconfig", "-c", "bad.json"); code != 1 || !strings.Contains(stdout, "http_server.port") {
		t.Fatalf("invalid: exit %d %q", code, stdout)
	}
	write("syntax.json", `{"http_server":`)
	if code, stdout, _ := runCLI(t, dir, "checkconfig", "--config=syntax.json"); code != 1 || !strings.HasPrefix(stdout, "error") {
		t.Fatalf("syntax: exit %d %q", code, stdout)
	}
	write("unknown.json", `{"no_such_key":1}`)
	if code, stdout, _ := runCLI(t, dir, "checkconfig", "-c", "unknown.json"); code != 0 || stdout != "" {
		t.Fatalf("unknown, not strict: exit %d %q", code, stdout)
	}
	for _, args := range [][]string{{"-s"}, {"--strict"}} {
		code, stdout, _ := runCLI(t, dir, append([]string{"checkconfig", "-c", "unknown.json"}, args...)...)
		if code != 1 || stdout != "unknown keys in config: no_such_key\n" {
			t.Fatalf("unknown, strict: exit %d %q", code, stdout)
		}
	}
	write("grpc.json", `{"grpc_api":{"enabled":true}}`)
	if code, stdout, _ := runCLI(t, dir, "checkconfig", "-c", "grpc.json"); code != 1 || !strings.Contains(stdout, "grpc_api.enabled=true") {
		t.Fatalf("cannot honour: exit %d %q", code, stdout)
	}
	// Centrifugo's full default config passes, even strictly.
	write("defaults.json", string(defaults))
	if code, stdout, stderr := runCLI(t, dir, "checkconfig", "-s", "-c", "defaults.json"); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("defaults: exit %d %q %q", code, stdout, stderr)
	}
}

// claimsOf decodes a JWT's payload.
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCLITokens(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"client":{"token":{"hmac_secret_key":"conn-key"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCLI(t, dir, "gentoken", "-u", "42")
	if code != 0 || !strings.HasPrefix(stdout, `HMAC SHA-256 JWT for user "42" with expiration TTL 168h0m0s:`+"\n") {
		t.Fatalf("gentoken: exit %d %q", code, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	token := lines[len(lines)-1]
	c := claimsOf(t, token)
	if c["sub"] != "42" || c["exp"].(float64)-c["iat"].(float64) != 604800 {
		t.Fatalf("claims %v", c)
	}
	code, stdout, _ = runCLI(t, dir, "checktoken", token)
	if code != 0 || !strings.HasPrefix(stdout, "valid token for user 42\npayload: {") {
		t.Fatalf("checktoken: exit %d %q", code, stdout)
	}
	// -q prints the token alone (no newline, as Centrifugo); -t -1 drops exp.
	code, quiet, _ := runCLI(t, dir, "gentoken", "-q", "-t", "-1")
	if code != 0 || strings.ContainsAny(quiet, " \n") {
		t.Fatalf("gentoken -q: exit %d %q", code, quiet)
	}
	if c := claimsOf(t, quiet); c["sub"] != "" || c["exp"] != nil {
		t.Fatalf("anonymous claims %v", c)
	}
	if code, stdout, _ := runCLI(t, dir, "checktoken", quiet); code != 0 || !strings.HasPrefix(stdout, "valid token for anonymous user\n") {
		t.Fatalf("checktoken anonymous: exit %d %q", code, stdout)
	}
	if code, stdout, _ := runCLI(t, dir, "checktoken", quiet+"x"); code != 1 || !strings.HasPrefix(stdout, "error: token with algorithm HS256 and claims {") {
		t.Fatalf("checktoken bad signature: exit %d %q", code, stdout)
	}
	if code, stdout, _ := runCLI(t, dir, "checktoken"); code != 1 || stdout != "error: provide token to check [rotor checktoken <TOKEN>]\n" {
		t.Fatalf("checktoken without token: exit %d %q", code, stdout)
	}

	// Subscription tokens: the connection key unless subscription tokens have their own.
	if code, stdout, _ := runCLI(t, dir, "gensubtoken", "-u", "42"); code != 1 || stdout != "channel is required\n" {
		t.Fatalf("gensubtoken without channel: exit %d %q", code, stdout)
	}
	code, stdout, _ = runCLI(t, dir, "gensubtoken", "-u", "42", "-s", "chat:room")
	if code != 0 || !strings.HasPrefix(stdout, `HMAC SHA-256 JWT for user "42" and channel "chat:room" with expiration TTL 168h0m0s:`+"\n") {
		t.Fatalf("gensubtoken: exit %d %q", code, stdout)
	}
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	sub := lines[len(lines)-1]
	if c := claimsOf(t, sub); c["channel"] != "chat:room" || c["sub"] != "42" {
		t.Fatalf("sub claims %v", c)
	}
	code, stdout, _ = runCLI(t, dir, "checksubtoken", sub)
	if code != 0 || !strings.HasPrefix(stdout, `valid subscription token for user "42" and channel "chat:room"`+"\npayload: {") {
		t.Fatalf("checksubtoken: exit %d %q", code, stdout)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub.json"), []byte(`{"client":{"token":{"hmac_secret_key":"conn-key","user_id_claim":"uid"},"subscription_token":{"enabled":true,"hmac_secret_key":"sub-key"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := runCLI(t, dir, "checksubtoken", "-c", "sub.json", sub); code != 1 || !strings.HasPrefix(stdout, "error: ") {
		t.Fatalf("checksubtoken with another key: exit %d %q", code, stdout)
	}
	code, quiet, _ = runCLI(t, dir, "gentoken", "-c", "sub.json", "-u", "7", "-q")
	if c := claimsOf(t, quiet); code != 0 || c["uid"] != "7" || c["sub"] != "7" {
		t.Fatalf("user_id_claim: %v", c)
	}

	// No HMAC key: gentoken cannot sign.
	if err := os.WriteFile(filepath.Join(dir, "nokey.json"), []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"gentoken", "gensubtoken"} {
		code, stdout, _ := runCLI(t, dir, cmd, "-c", "nokey.json", "-s", "ch")
		if cmd == "gentoken" {
			code, stdout, _ = runCLI(t, dir, cmd, "-c", "nokey.json")
		}
		if code != 1 || !strings.HasPrefix(stdout, "error: "+cmd+" only supports generating HMAC-signed tokens") {
			t.Fatalf("%s without key: exit %d %q", cmd, code, stdout)
		}
	}
}

func TestCLIDefaultConfigAndEnv(t *testing.T) {
	dir := t.TempDir()
	want, err := os.ReadFile("config/centrifugo_defaults.json")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCLI(t, dir, "defaultconfig", "-d")
	if code != 0 || strings.TrimSpace(stdout) != strings.TrimSpace(string(want)) {
		t.Fatalf("defaultconfig -d: exit %d, %d bytes", code, len(stdout))
	}
	if code, stdout, _ := runCLI(t, dir, "defaultconfig"); code != 0 || stdout != "" {
		t.Fatalf("defaultconfig: exit %d %q", code, stdout)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "config.json")); err != nil || strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
		t.Fatalf("written file differs: %v", err)
	}
	if code, stdout, _ := runCLI(t, dir, "defaultconfig"); code != 1 || stdout != "error: target file already exists\n" {
		t.Fatalf("defaultconfig twice: exit %d %q", code, stdout)
	}
	if err := os.WriteFile(filepath.Join(dir, "base.json"), []byte(`{"http_server":{"port":9123}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCLI(t, dir, "defaultconfig", "-b", "base.json", "-c", "out.yaml")
	if code != 0 || stdout != "" {
		t.Fatalf("defaultconfig -b: exit %d %q", code, stdout)
	}
	sc, err := config.Load(filepath.Join(dir, "out.yaml"), nil)
	if err != nil || sc.Port != 9123 {
		t.Fatalf("out.yaml: %v", err)
	}
	code, stdout, _ = runCLI(t, dir, "defaultenv", "--base", "base.json", "--base-non-zero-only")
	if code != 0 || stdout != "CENTRIFUGO_HTTP_SERVER_PORT=9123\n" {
		t.Fatalf("defaultenv: exit %d %q", code, stdout)
	}
	code, stdout, _ = runCLI(t, dir, "defaultenv")
	if code != 0 || !strings.Contains(stdout, "\nCENTRIFUGO_SHUTDOWN_TIMEOUT=30s\n") {
		t.Fatalf("defaultenv: exit %d", code)
	}
	if code, stdout, _ := runCLI(t, dir, "defaultenv", "-b", "missing.json"); code != 1 || !strings.HasPrefix(stdout, "error: ") {
		t.Fatalf("defaultenv missing base: exit %d %q", code, stdout)
	}
}

func TestCLIServeStatic(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello rotor"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := closedPort(t)
	out := &syncBuffer{}
	go run([]string{"serve", "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-d", dir}, out, io.Discard)
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "hello rotor" {
				t.Fatalf("body %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasPrefix(out.String(), "start serving "+dir+" on 127.0.0.1:") {
		t.Fatalf("stdout %q", out.String())
	}
}

// TestCLIMatchesCentrifugo runs the same commands through Centrifugo (when
// CENTRIFUGO_BIN is set) and compares exit codes and output.
func TestCLIMatchesCentrifugo(t *testing.T) {
	bin := os.Getenv("CENTRIFUGO_BIN")
	if bin == "" {
		t.Skip("CENTRIFUGO_BIN not set")
	}
	dir := t.TempDir()
	files := map[string]string{
		"config.json":  `{"client":{"token":{"hmac_secret_key":"k"}}}`,
		"nokey.json":   `{}`,
		"unknown.json": `{"no_such_key":1}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"checkconfig"},
		{"checkconfig", "-c", "missing.json"},
		{"checkconfig", "-s", "-c", "unknown.json"},
		{"checkconfig", "-c", "unknown.json"},
		{"gentoken", "-c", "nokey.json"},
		{"gensubtoken", "-u", "1"},
		{"checktoken"},
		{"defaultconfig", "-d"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		var cfOut bytes.Buffer
		cmd.Stdout = &cfOut
		err := cmd.Run()
		cfCode := 0
		if ee, ok := err.(*exec.ExitError); ok {
			cfCode = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		code, stdout, _ := runCLI(t, dir, args...)
		want := strings.ReplaceAll(cfOut.String(), "centrifugo ", "rotor ")
		if code != cfCode || stdout != want {
			t.Errorf("%q: rotor exit %d %q; centrifugo exit %d %q", args, code, trim(stdout), cfCode, trim(want))
		}
	}
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
