package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/rotorhq/rotor/engine"
)

// TestCallCancelled: cancelling the context of a call in flight (its client went
// away, or the node is shutting down) ends the call at once, well before the proxy
// timeout, closes the request's connection (the backend's handler sees its context
// end) and leaves no goroutine behind. Not parallel: it counts goroutines.
func TestCallCancelled(t *testing.T) {
	entered := make(chan struct{}, 1)
	gone := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http notices a peer hang-up only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
			gone <- struct{}{}
		case <-time.After(10 * time.Second):
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	p := newProxy(t, HTTPConfig{Endpoint: srv.URL, Timeout: 10 * time.Second})
	baseline := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, err := p.CallProxy(ctx, &engine.ProxyRequest{Kind: engine.ProxyConnect})
		result <- err
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend got no request")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		t.Logf("call returned %v after the cancel", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("the call did not return within 2 s of its context's cancel (proxy timeout 10 s)")
	}
	select {
	case <-gone:
	case <-time.After(2 * time.Second):
		t.Fatal("the backend did not see the request go away")
	}
	// The aborted request's connection is closed, not pooled: once the backend's
	// handler has returned, no goroutine of the call remains.
	p.client.CloseIdleConnections()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before the call:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
