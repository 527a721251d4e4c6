package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

// TestSIGHUPReloadsChannelOptionsAndTokenKeys: SIGHUP re-reads the config file and
// applies its channel options and token keys, as Centrifugo does; the process keeps
// running and connected clients stay connected and subscribed. A config that does
// not load changes nothing.
func TestSIGHUPReloadsChannelOptionsAndTokenKeys(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)

	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	connectAndWait(t, c, log)
	chat := newSubscription(t, c, "chat:room")
	expectSubscribeResult(t, chat, 0)
	// "news" is not a namespace yet: 102 unknown channel.
	before := newSubscription(t, c, "news:today")
	expectSubscribeResult(t, before, 102)

	cfg := harness.DefaultConfig()
	cfg.Set("client.token.hmac_secret_key", "rotated-secret")
	ns := cfg["channel"].(map[string]any)["namespaces"].([]any)
	cfg["channel"].(map[string]any)["namespaces"] = append(ns, map[string]any{"name": "news", "allow_subscribe_for_client": true})
	srv.RewriteConfig(t, cfg)
	from := len(srv.Output())
	srv.Signal(t, syscall.SIGHUP)
	srv.WaitOutput(t, from, "configuration successfully reloaded", 10*time.Second)

	// Still running, the client still connected and subscribed.
	if srv.Exited() {
		t.Fatalf("the server exited on SIGHUP:\n%s", srv.Output())
	}
	srv.MustAPI(t, "publish", map[string]any{"channel": "chat:room", "data": map[string]any{"n": 1}})
	expectPublication(t, chat, `{"n":1}`)
	if n := len(eventsOf[centrifuge.ConnectingEvent](log)); n != 1 { // the initial connect only
		t.Fatalf("the client reconnected: %s", log)
	}
	// The new namespace is there.
	after := newSubscription(t, c, "news:tomorrow")
	expectSubscribeResult(t, after, 0)

	// The new key signs tokens; the old one no longer does.
	newTok := harness.Token(t, "rotated-secret", jwt.MapClaims{"sub": "bob"})
	c2, log2 := newClient(t, srv, protoJSON, centrifuge.Config{Token: newTok})
	connectAndWait(t, c2, log2)
	c3, log3 := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "carol")})
	if err := c3.Connect(); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent[centrifuge.DisconnectedEvent](t, log3, 5*time.Second, "disconnect with the old key", func(centrifuge.DisconnectedEvent) bool { return true })
	if ev.Code != 3500 {
		t.Fatalf("old key: disconnected %d %q, want 3500 invalid token", ev.Code, ev.Reason)
	}

	// A broken file: logged, nothing changes, still running.
	if err := os.WriteFile(srv.ConfigPath, []byte(`{"client":`), 0o600); err != nil {
		t.Fatal(err)
	}
	from = len(srv.Output())
	srv.Signal(t, syscall.SIGHUP)
	srv.WaitOutput(t, from, "error reloading configuration", 10*time.Second)
	srv.MustAPI(t, "publish", map[string]any{"channel": "chat:room", "data": map[string]any{"n": 2}})
	expectPublication(t, chat, `{"n":2}`)
	c4, log4 := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.Token(t, "rotated-secret", jwt.MapClaims{"sub": "dave"})})
	connectAndWait(t, c4, log4)
}

// TestShutdownTimeoutBoundsDrain: with an API call stuck on a paused Redis, the
// drain after SIGTERM cannot finish; shutdown.timeout (1s here; io_timeout is a
// minute) bounds it: the process exits with status 1 and "shutdown timeout
// reached", as Centrifugo does. Connected clients got 3001 "shutdown" first, and
// pid_file exists while running and is removed at exit.
func TestShutdownTimeoutBoundsDrain(t *testing.T) {
	t.Parallel()
	r := harness.StartRedis(t)
	pidFile := t.TempDir() + "/rotor.pid"
	cfg := harness.DefaultConfig().
		Set("engine.type", "redis").
		Set("engine.redis.address", []string{r.URL()}).
		Set("engine.redis.io_timeout", "60s").
		Set("shutdown.timeout", "1s").
		Set("pid_file", pidFile)
	srv := harness.Start(t, cfg)
	if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(srv.Pid()) {
		t.Fatalf("pid_file: %q %v, want %d", b, err, srv.Pid())
	}
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	connectAndWait(t, c, log)
	sub := newSubscription(t, c, "chat:room")
	expectSubscribeResult(t, sub, 0)

	r.Pause()
	t.Cleanup(r.Resume)
	// An API publish that waits on Redis; SIGTERM once its request is on the wire.
	wrote := make(chan struct{})
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) }}
	ctx, cancel := context.WithCancel(httptrace.WithClientTrace(context.Background(), trace))
	defer cancel()
	body, _ := json.Marshal(map[string]any{"channel": "chat:room", "data": map[string]any{"stuck": true}})
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.BaseURL+"/api/publish", bytes.NewReader(body))
	req.Header.Set("X-API-Key", harness.APIKey)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("the publish request was not sent")
	}
	start := time.Now()
	srv.Signal(t, syscall.SIGTERM)
	code, ok := srv.WaitExit(10 * time.Second)
	took := time.Since(start)
	if !ok {
		t.Fatalf("still running %v after SIGTERM with shutdown.timeout 1s", took)
	}
	t.Logf("exit %d after %v", code, took)
	if code != 1 || !strings.Contains(srv.Output(), "shutdown timeout reached") {
		t.Fatalf("exit %d, want 1 with \"shutdown timeout reached\":\n%s", code, srv.Output())
	}
	if took < 900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("exit after %v, want about shutdown.timeout (1s)", took)
	}
	ev := waitEvent[centrifuge.ConnectingEvent](t, log, 3*time.Second, "connecting after shutdown", func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
	if ev.Code != 3001 || ev.Reason != "shutdown" {
		t.Errorf("after SIGTERM: connecting %d %q, want 3001 \"shutdown\"", ev.Code, ev.Reason)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid_file left behind: %v", err)
	}
}

// TestShutdownCleanExit: without anything stuck, SIGTERM drains at once: clients
// get 3001 "shutdown", the exit status is 0 and the log says so.
func TestShutdownCleanExit(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, harness.DefaultConfig().Set("shutdown.timeout", "20s"))
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	connectAndWait(t, c, log)
	srv.Signal(t, syscall.SIGTERM)
	code, ok := srv.WaitExit(10 * time.Second)
	if !ok || code != 0 || !strings.Contains(srv.Output(), "shutdown complete") {
		t.Fatalf("exit %d (%v):\n%s", code, ok, srv.Output())
	}
	ev := waitEvent[centrifuge.ConnectingEvent](t, log, 3*time.Second, "connecting after shutdown", func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
	if ev.Code != 3001 || ev.Reason != "shutdown" {
		t.Errorf("after SIGTERM: connecting %d %q, want 3001 \"shutdown\"", ev.Code, ev.Reason)
	}
}

// expectPublication waits for the next publication on s and checks its data.
func expectPublication(t *testing.T, s *subscription, data string) {
	t.Helper()
	if p := s.nextPublication(t, 5*time.Second); string(p.Data) != data {
		t.Fatalf("%s: publication %s, want %s", s.Channel, p.Data, data)
	}
}
