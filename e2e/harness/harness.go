// Package harness starts the server under test (Rotor, or any binary that accepts
// Centrifugo v6 configuration files) and talks to it over plain HTTP.
//
// The binary comes from the ROTOR_BIN environment variable; by default it is
// ../bin/rotor relative to the e2e module (the repository's bin/rotor). Each call
// to Start writes a JSON config with Centrifugo v6 key names into a temporary
// directory, picks a free port on 127.0.0.1, runs `$ROTOR_BIN --config FILE`,
// waits for GET /health to answer 200 and stops the process (by PID) when the
// test ends. The process output goes to the test log when the test failed (or
// always with ROTOR_E2E_VERBOSE=1).
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Fixed credentials used by the default configuration.
const (
	HMACSecret = "secret"
	APIKey     = "apikey"
)

// Config is a Centrifugo v6 style configuration document (nested maps with the
// same key names as Centrifugo's config.json).
type Config map[string]any

// DefaultConfig returns the configuration the suites start from: HS256 tokens
// with HMACSecret, the HTTP API key APIKey, short ping timers, a small message
// size limit, channels without namespace open to subscribers, a "chat"
// namespace open to subscribers and their publications, and a "locked"
// namespace that allows nothing to clients.
func DefaultConfig() Config {
	return Config{
		"log": map[string]any{"level": envOr("ROTOR_E2E_LOG_LEVEL", "info")},
		"client": map[string]any{
			"token":           map[string]any{"hmac_secret_key": HMACSecret},
			"allowed_origins": []string{"*"},
			"ping_interval":   "2s",
			"pong_timeout":    "1s",
		},
		"http_api": map[string]any{"key": APIKey},
		"health":   map[string]any{"enabled": true},
		// Centrifugo reports anonymous usage statistics unless told not to;
		// nothing here may leave the machine.
		"usage_stats": map[string]any{"disabled": true},
		"channel": map[string]any{
			"without_namespace": map[string]any{"allow_subscribe_for_client": true},
			"namespaces": []any{
				map[string]any{
					"name":                         "chat",
					"allow_subscribe_for_client":   true,
					"allow_publish_for_subscriber": true,
				},
				map[string]any{"name": "locked"},
			},
		},
		"websocket": map[string]any{"message_size_limit": 4096},
	}
}

// Set assigns value at a dotted key path ("client.stale_close_delay"),
// creating intermediate objects as needed. It returns the config for chaining.
func (c Config) Set(path string, value any) Config {
	parts := strings.Split(path, ".")
	m := map[string]any(c)
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = value
	return c
}

// get returns the value at a dotted key path.
func (c Config) get(path string) (any, bool) {
	parts := strings.Split(path, ".")
	m := map[string]any(c)
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	v, ok := m[parts[len(parts)-1]]
	return v, ok
}

// Server is one running server process.
type Server struct {
	Port    int
	Addr    string // 127.0.0.1:PORT
	BaseURL string // http://127.0.0.1:PORT
	WSURL   string // ws://127.0.0.1:PORT/connection/websocket
	// ConfigPath is the config file the server was started with (process.go).
	ConfigPath string

	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after done is closed
}

// Binary returns the path of the server binary under test.
func Binary() string {
	if p := os.Getenv("ROTOR_BIN"); p != "" {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("..", "bin", "rotor")
	}
	// file is <repo>/e2e/harness/harness.go; the binary is <repo>/bin/rotor.
	return filepath.Join(filepath.Dir(file), "..", "..", "bin", "rotor")
}

// Start launches the server with cfg (DefaultConfig when nil) and blocks until
// /health answers 200. The process is stopped when t ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	return StartBinary(t, Binary(), cfg)
}

// StartBinary is Start with another server binary (a Centrifugo v6 binary for
// a mixed cluster, say).
func StartBinary(t testing.TB, bin string, cfg Config) *Server {
	t.Helper()
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("server binary %q not found (set ROTOR_BIN): %v", bin, err)
	}
	if cfg == nil {
		cfg = DefaultConfig()
	}
	dir := t.TempDir()
	var lastErr error
	// A port picked by listening on :0 and closing can be taken by someone else
	// before the server binds it; retry a few times with a fresh port.
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("pick free port: %v", err)
		}
		s, err := startOnce(t, bin, dir, cfg, port)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("server did not start: %v", lastErr)
	return nil
}

func startOnce(t testing.TB, bin, dir string, cfg Config, port int) (*Server, error) {
	t.Helper()
	cfg.Set("http_server.port", port)
	cfg.Set("http_server.address", "127.0.0.1")
	scheme, wsScheme := "http", "ws"
	if tlsMode {
		scheme, wsScheme = "https", "wss"
		if _, ok := cfg.get("http_server.tls.enabled"); !ok {
			cfg.Set("http_server.tls.enabled", true)
			cfg.Set("http_server.tls.cert_pem", cert.certFile)
			cfg.Set("http_server.tls.key_pem", cert.keyFile)
		}
	}
	body, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatalf("marshal config: %v", err)
	}
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, body, 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}

	s := &Server{
		Port:    port,
		Addr:    fmt.Sprintf("127.0.0.1:%d", port),
		output:  &syncBuffer{},
		done:    make(chan struct{}),
		BaseURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, port),
		WSURL:   fmt.Sprintf("%s://127.0.0.1:%d/connection/websocket", wsScheme, port),

		ConfigPath: cfgPath,
	}
	s.cmd = exec.Command(bin, "--config", cfgPath)
	s.cmd.Dir = dir
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	// Environment variables would override the file; keep only neutral ones.
	s.cmd.Env = filteredEnv()
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()

	if err := s.waitHealthy(10 * time.Second); err != nil {
		s.stop()
		t.Logf("start attempt on port %d failed: %v\nconfig:\n%s\nserver output:\n%s", port, err, body, s.output.String())
		return nil, err
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() || os.Getenv("ROTOR_E2E_VERBOSE") != "" {
			t.Logf("server %s (pid %d) config:\n%s\nserver output:\n%s", bin, s.cmd.Process.Pid, body, s.output.String())
		}
	})
	return s, nil
}

func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CENTRIFUGO_") || strings.HasPrefix(kv, "ROTOR_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (s *Server) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 500 * time.Millisecond}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("process exited before becoming healthy: %v", s.err)
		default:
		}
		resp, err := client.Get(s.BaseURL + "/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("GET /health did not answer 200 within %v", timeout)
}

// stop ends the process it started: SIGTERM, then SIGKILL after 3 s.
func (s *Server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Stop stops the server now, like the end of the test would: SIGTERM, then
// SIGKILL if it has not exited 3 s later. It returns how long the process took
// to exit. Calling it again (or the test's cleanup) does nothing.
func (s *Server) Stop() time.Duration {
	start := time.Now()
	s.stop()
	return time.Since(start)
}

// Output returns everything the server printed so far.
func (s *Server) Output() string { return s.output.String() }

// Exited reports whether the server process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// APIResponse is a decoded reply of a per-method HTTP API endpoint.
type APIResponse struct {
	Status int             // HTTP status
	Body   []byte          // raw response body
	Result json.RawMessage // "result" member, nil when absent
	Error  *APIError       // "error" member, nil when absent
}

// APIError is the error object of an API reply.
type APIError struct {
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

// AuthMode selects how API calls authenticate.
type AuthMode int

const (
	// AuthHeaderXAPIKey sends "X-API-Key: <key>".
	AuthHeaderXAPIKey AuthMode = iota
	// AuthHeaderAuthorization sends "Authorization: apikey <key>".
	AuthHeaderAuthorization
)

// API calls POST /api/<method> with body (marshalled to JSON unless it is
// already []byte or json.RawMessage), authenticated with X-API-Key.
func (s *Server) API(t testing.TB, method string, body any) APIResponse {
	t.Helper()
	return s.APIWith(t, AuthHeaderXAPIKey, method, body)
}

// APIWith is API with a chosen authentication header.
func (s *Server) APIWith(t testing.TB, mode AuthMode, method string, body any) APIResponse {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	case json.RawMessage:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		raw, err = json.Marshal(body)
		if err != nil {
			t.Fatalf("marshal API body: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.BaseURL+"/api/"+method, bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch mode {
	case AuthHeaderXAPIKey:
		req.Header.Set("X-API-Key", APIKey)
	case AuthHeaderAuthorization:
		req.Header.Set("Authorization", "apikey "+APIKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /api/%s: %v", method, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /api/%s response: %v", method, err)
	}
	out := APIResponse{Status: resp.StatusCode, Body: respBody}
	if resp.StatusCode == http.StatusOK {
		var decoded struct {
			Result json.RawMessage `json:"result"`
			Error  *APIError       `json:"error"`
		}
		if err := json.Unmarshal(respBody, &decoded); err != nil {
			t.Fatalf("/api/%s: response is not JSON: %v: %q", method, err, respBody)
		}
		out.Result, out.Error = decoded.Result, decoded.Error
	}
	return out
}

// MustAPI is API that fails the test unless the call returned HTTP 200 with
// a result and no error. It returns the raw result object.
func (s *Server) MustAPI(t testing.TB, method string, body any) json.RawMessage {
	t.Helper()
	return s.MustAPIWith(t, AuthHeaderXAPIKey, method, body)
}

// MustAPIWith is MustAPI with a chosen authentication header.
func (s *Server) MustAPIWith(t testing.TB, mode AuthMode, method string, body any) json.RawMessage {
	t.Helper()
	r := s.APIWith(t, mode, method, body)
	if r.Status != http.StatusOK {
		t.Fatalf("/api/%s: HTTP %d, body %q", method, r.Status, r.Body)
	}
	if r.Error != nil {
		t.Fatalf("/api/%s: error %d %q (body %q)", method, r.Error.Code, r.Error.Message, r.Body)
	}
	if r.Result == nil {
		t.Fatalf("/api/%s: no result in %q", method, r.Body)
	}
	return r.Result
}

// Token returns an HS256 JWT signed with secret carrying claims.
func Token(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return tok
}

// UserToken returns a valid connection token for user, expiring in one hour.
func UserToken(t testing.TB, user string) string {
	t.Helper()
	return Token(t, HMACSecret, jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Keep memory bounded if a server logs a lot: only the last 1 MiB matters.
	if b.buf.Len() > 1<<20 {
		tail := append([]byte(nil), b.buf.Bytes()[b.buf.Len()-(512<<10):]...)
		b.buf.Reset()
		b.buf.WriteString("…(truncated)…\n")
		b.buf.Write(tail)
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
