package e2e_test

// Proxy calls end with the connection they serve: a client that goes away while
// its connect proxy call hangs, or a server shutting down, aborts the call at once
// (the backend sees its request's connection close) instead of leaving it to run
// to the proxy timeout. Centrifugo v6.9.1 does the second but not the first (its
// connect proxy call runs to the timeout after the client left): that case is
// Rotor's own guarantee.

import (
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// cnHangingBackend answers /connect only when the caller gives up (or after a
// minute): entered gets a value when a request arrives, gone when its caller
// closed the connection.
func cnHangingBackend(t *testing.T) (b *harness.Backend, entered, gone chan time.Time) {
	b = harness.StartBackend(t)
	entered, gone = make(chan time.Time, 4), make(chan time.Time, 4)
	b.Handle("/connect", func(r harness.BackendRequest) harness.BackendReply {
		entered <- time.Now()
		select {
		case <-r.Ctx.Done():
			gone <- time.Now()
		case <-time.After(time.Minute):
		}
		return harness.BackendReply{Body: `{}`}
	})
	return b, entered, gone
}

// cnConfig enables the connect proxy with a timeout far beyond what the tests wait.
func cnConfig(b *harness.Backend) harness.Config {
	cfg := harness.DefaultConfig()
	cfg.Set("client.proxy.connect", map[string]any{"enabled": true, "endpoint": b.URL + "/connect", "timeout": "30s"})
	return cfg
}

func cnWait(t *testing.T, ch <-chan time.Time, d time.Duration, what string) time.Time {
	t.Helper()
	select {
	case at := <-ch:
		return at
	case <-time.After(d):
		t.Fatalf("no %s within %v", what, d)
		return time.Time{}
	}
}

// TestProxyCallEndsWithClient: the client closes its connection while the
// connect proxy call hangs; the backend sees the call's connection close within
// a second (the proxy timeout is 30 s).
func TestProxyCallEndsWithClient(t *testing.T) {
	t.Parallel()
	b, entered, gone := cnHangingBackend(t)
	srv := harness.Start(t, cnConfig(b))
	c, _ := newClient(t, srv, protoJSON, centrifuge.Config{})
	if err := c.Connect(); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	cnWait(t, entered, 5*time.Second, "connect proxy call")
	closed := time.Now()
	c.Close()
	at := cnWait(t, gone, 5*time.Second, "cancelled proxy call at the backend")
	t.Logf("backend saw the call end %v after the client closed", at.Sub(closed))
	if d := at.Sub(closed); d > time.Second {
		t.Errorf("backend saw the call end %v after the client closed, want within 1 s", d)
	}
}

// TestProxyCallEndsWithShutdown: stopping the server while a connect proxy call
// hangs ends the call at once and the server exits promptly.
func TestProxyCallEndsWithShutdown(t *testing.T) {
	t.Parallel()
	b, entered, gone := cnHangingBackend(t)
	srv := harness.Start(t, cnConfig(b))
	c, _ := newClient(t, srv, protoJSON, centrifuge.Config{})
	if err := c.Connect(); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	cnWait(t, entered, 5*time.Second, "connect proxy call")
	stopped := time.Now()
	took := srv.Stop()
	at := cnWait(t, gone, 5*time.Second, "cancelled proxy call at the backend")
	t.Logf("server exited in %v; backend saw the call end %v after the stop began", took, at.Sub(stopped))
	if d := at.Sub(stopped); d > time.Second {
		t.Errorf("backend saw the call end %v after the stop began, want within 1 s", d)
	}
	if took > 2*time.Second {
		t.Errorf("server took %v to exit", took)
	}
}
