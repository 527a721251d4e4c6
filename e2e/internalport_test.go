package e2e_test

// http_server.internal_port: the server API and /health move to a second
// listener (both on 127.0.0.1 here) while WebSocket connections stay on the
// main port; http_api.external puts the API back on the main port (and only
// there). harness.Start waits for /health on the main port, which does not
// exist in this setup, so this file starts the server itself (same rules:
// temp config, free ports, stop by PID when the test ends).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/e2e/harness"
)

type ipServer struct {
	mainURL, internalURL string
	srv                  *harness.Server // only WSURL is set, for newClient
}

type ipBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *ipBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *ipBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ipTransport trusts the harness's test certificate (https ports in TLS mode and
// in the TLS tests below).
func ipTransport(t *testing.T) *http.Transport {
	_, _, tlsCfg := harness.TestCert(t)
	return &http.Transport{TLSClientConfig: tlsCfg}
}

func ipFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ipStart runs the server with cfg plus a main and an internal port on
// 127.0.0.1 and waits until GET /health answers 200 on the internal port.
func ipStart(t *testing.T, cfg harness.Config) *ipServer {
	t.Helper()
	bin := harness.Binary()
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		mainPort, internalPort := ipFreePort(t), ipFreePort(t)
		if mainPort == internalPort {
			continue
		}
		cfg.Set("http_server.address", "127.0.0.1")
		cfg.Set("http_server.port", mainPort)
		cfg.Set("http_server.internal_address", "127.0.0.1")
		cfg.Set("http_server.internal_port", internalPort)
		mainScheme, internalScheme := "http", "http"
		if _, set := cfg["http_server"].(map[string]any)["tls"]; !set && harness.TLS() {
			certFile, keyFile, _ := harness.TestCert(t)
			cfg.Set("http_server.tls", map[string]any{"enabled": true, "cert_pem": certFile, "key_pem": keyFile})
		}
		if tl, ok := cfg["http_server"].(map[string]any)["tls"].(map[string]any); ok && tl["enabled"] == true {
			mainScheme = "https"
			if cfg["http_server"].(map[string]any)["tls_external"] != true {
				internalScheme = "https"
			}
		}
		if tl, ok := cfg["http_server"].(map[string]any)["internal_tls"].(map[string]any); ok && tl["enabled"] == true {
			internalScheme = "https"
		}
		body, _ := json.MarshalIndent(cfg, "", "  ")
		path := filepath.Join(dir, "config.json")
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		out := &ipBuffer{}
		cmd := exec.Command(bin, "--config", path)
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CENTRIFUGO_") && !strings.HasPrefix(kv, "ROTOR_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() {
			select {
			case <-done:
				return
			default:
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		s := &ipServer{
			mainURL:     fmt.Sprintf("%s://127.0.0.1:%d", mainScheme, mainPort),
			internalURL: fmt.Sprintf("%s://127.0.0.1:%d", internalScheme, internalPort),
			srv:         &harness.Server{WSURL: fmt.Sprintf("%s://127.0.0.1:%d/connection/websocket", strings.Replace(mainScheme, "http", "ws", 1), mainPort)},
		}
		healthy := false
		client := &http.Client{Timeout: 500 * time.Millisecond, Transport: ipTransport(t)}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			exited := false
			select {
			case <-done:
				exited = true
			default:
			}
			if exited {
				break
			}
			if resp, err := client.Get(s.internalURL + "/health"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					healthy = true
					break
				}
			}
		}
		if !healthy {
			stop()
			lastErr = fmt.Errorf("no 200 from internal /health; output:\n%s", out)
			continue
		}
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("server %s config:\n%s\noutput:\n%s", bin, body, out)
			}
		})
		return s
	}
	t.Fatalf("server did not start: %v", lastErr)
	return nil
}

// ipDo sends method url with body and the API key; returns status and body.
func ipDo(t *testing.T, method, url, body string, withKey bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if withKey {
		req.Header.Set("X-API-Key", harness.APIKey)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: ipTransport(t)}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func ipWant(t *testing.T, what string, status int, body string, wantStatus int, wantBody string) {
	t.Helper()
	if status != wantStatus || (wantBody != "" && strings.TrimSpace(body) != wantBody) {
		t.Errorf("%s: HTTP %d %q, want %d %q", what, status, body, wantStatus, wantBody)
	}
}

// ipWSStatus tries a WebSocket handshake and returns the HTTP status (101 on success).
func ipWSStatus(t *testing.T, url string) int {
	t.Helper()
	_, _, tlsCfg := harness.TestCert(t)
	d := websocket.Dialer{HandshakeTimeout: 3 * time.Second, TLSClientConfig: tlsCfg}
	conn, resp, err := d.Dial(url, http.Header{})
	if err == nil {
		conn.Close()
		return 101
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return resp.StatusCode
}

// ipSubscriber connects an SDK client on the main port and subscribes to channel.
func ipSubscriber(t *testing.T, s *ipServer, channel string) *subscription {
	t.Helper()
	c, log := newClient(t, s.srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	connectAndWait(t, c, log)
	sub := newSubscription(t, c, channel)
	subscribeAndWait(t, sub)
	return sub
}

// TestInternalPort: with internal_port the API and /health are served only
// on the internal port, WebSocket only on the main port; a publication
// through the internal API reaches an SDK client connected on the main port.
func TestInternalPort(t *testing.T) {
	t.Parallel()
	s := ipStart(t, harness.DefaultConfig())

	for _, m := range []string{http.MethodGet, http.MethodPost} {
		st, b := ipDo(t, m, s.internalURL+"/health", "", false)
		ipWant(t, m+" internal /health", st, b, 200, "{}")
		st, b = ipDo(t, m, s.mainURL+"/health", "", false)
		ipWant(t, m+" main /health", st, b, 404, "")
	}

	sub := ipSubscriber(t, s, "news")
	st, b := ipDo(t, http.MethodPost, s.internalURL+"/api/publish", `{"channel":"news","data":{"via":"internal"}}`, true)
	ipWant(t, "internal /api/publish", st, b, 200, `{"result":{}}`)
	if p := sub.nextPublication(t, 5*time.Second); !bytes.Equal(p.Data, []byte(`{"via":"internal"}`)) {
		t.Errorf("publication through the internal port: %s", p.Data)
	}
	st, b = ipDo(t, http.MethodPost, s.internalURL+"/api/publish", `{"channel":"news","data":{"via":"nokey"}}`, false)
	ipWant(t, "internal /api/publish without key", st, b, 401, "")
	st, b = ipDo(t, http.MethodPost, s.internalURL+"/api", `{"method":"publish","params":{"channel":"news","data":{"via":"legacy"}}}`, true)
	ipWant(t, "internal legacy /api", st, b, 200, "")
	if p := sub.nextPublication(t, 5*time.Second); !bytes.Equal(p.Data, []byte(`{"via":"legacy"}`)) {
		t.Errorf("publication through the internal legacy /api: %s", p.Data)
	}

	for _, path := range []string{"/api/publish", "/api"} {
		st, b = ipDo(t, http.MethodPost, s.mainURL+path, `{"channel":"news","data":{"via":"main"}}`, true)
		ipWant(t, "main "+path, st, b, 404, "")
	}
	sub.expectNoPublication(t, 200*time.Millisecond)

	if st := ipWSStatus(t, strings.Replace(s.internalURL, "http", "ws", 1)+"/connection/websocket"); st != 404 {
		t.Errorf("WebSocket handshake on the internal port: HTTP %d, want 404", st)
	}
}

// TestInternalPortExternalAPI: with http_api.external the API is served on
// the main port (and no longer on the internal one, as Centrifugo does);
// /health stays internal.
func TestInternalPortExternalAPI(t *testing.T) {
	t.Parallel()
	cfg := harness.DefaultConfig()
	cfg.Set("http_api.external", true)
	s := ipStart(t, cfg)

	sub := ipSubscriber(t, s, "news")
	st, b := ipDo(t, http.MethodPost, s.mainURL+"/api/publish", `{"channel":"news","data":{"via":"main"}}`, true)
	ipWant(t, "main /api/publish", st, b, 200, `{"result":{}}`)
	if p := sub.nextPublication(t, 5*time.Second); !bytes.Equal(p.Data, []byte(`{"via":"main"}`)) {
		t.Errorf("publication through the main port: %s", p.Data)
	}
	st, b = ipDo(t, http.MethodPost, s.mainURL+"/api/publish", `{"channel":"news","data":{"via":"nokey"}}`, false)
	ipWant(t, "main /api/publish without key", st, b, 401, "")

	st, b = ipDo(t, http.MethodPost, s.internalURL+"/api/publish", `{"channel":"news","data":{"via":"internal"}}`, true)
	ipWant(t, "internal /api/publish with http_api.external", st, b, 404, "")
	sub.expectNoPublication(t, 200*time.Millisecond)

	st, b = ipDo(t, http.MethodGet, s.internalURL+"/health", "", false)
	ipWant(t, "internal /health", st, b, 200, "{}")
	st, b = ipDo(t, http.MethodGet, s.mainURL+"/health", "", false)
	ipWant(t, "main /health", st, b, 404, "")
}

// TestInternalPortTLS: http_server.tls covers both ports; with tls_external the
// internal port stays plain; internal_tls gives the internal port its own TLS
// while the client port stays plain (Centrifugo's rules). The client port's
// WebSocket works over TLS through centrifuge-go.
func TestInternalPortTLS(t *testing.T) {
	certFile, keyFile, clientTLS := harness.TestCert(t)
	tlsBlock := map[string]any{"enabled": true, "cert_pem": certFile, "key_pem": keyFile}
	for _, tc := range []struct {
		name                   string
		set                    map[string]any
		mainHTTPS, internalTLS bool
	}{
		{"tls both ports", map[string]any{"http_server.tls": tlsBlock}, true, true},
		{"tls_external", map[string]any{"http_server.tls": tlsBlock, "http_server.tls_external": true}, true, false},
		{"internal_tls only", map[string]any{"http_server.tls": map[string]any{"enabled": false}, "http_server.internal_tls": tlsBlock}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := harness.DefaultConfig()
			for k, v := range tc.set {
				cfg.Set(k, v)
			}
			s := ipStart(t, cfg)
			if got := strings.HasPrefix(s.mainURL, "https:"); got != tc.mainHTTPS {
				t.Fatalf("main URL %s", s.mainURL)
			}
			if got := strings.HasPrefix(s.internalURL, "https:"); got != tc.internalTLS {
				t.Fatalf("internal URL %s", s.internalURL)
			}
			// The scheme the test expects is the one that answers.
			if st, b := ipDo(t, http.MethodPost, s.internalURL+"/api/info", `{}`, true); st != 200 {
				t.Fatalf("internal /api/info: %d %s", st, b)
			}
			other := strings.Replace(s.internalURL, "http://", "https://", 1)
			if tc.internalTLS {
				other = strings.Replace(s.internalURL, "https://", "http://", 1)
			}
			req, _ := http.NewRequest(http.MethodGet, other+"/health", nil)
			if resp, err := (&http.Client{Timeout: 2 * time.Second, Transport: ipTransport(t)}).Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Fatalf("internal port answered %s too", other)
				}
			}
			c, log := newClient(t, s.srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "tls"), TLSConfig: clientTLS})
			connectAndWait(t, c, log)
			sub := newSubscription(t, c, "news")
			subscribeAndWait(t, sub)
			if st, b := ipDo(t, http.MethodPost, s.internalURL+"/api/publish", `{"channel":"news","data":{"over":"tls"}}`, true); st != 200 {
				t.Fatalf("publish: %d %s", st, b)
			}
			if p := sub.nextPublication(t, 5*time.Second); string(p.Data) != `{"over":"tls"}` {
				t.Fatalf("publication %q", p.Data)
			}
		})
	}
}
