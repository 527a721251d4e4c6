package engine

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// TestShutdownTimeoutLeavesNoGoroutine shuts down a node whose one session never
// reports OnClose (its transport ignores Close), so Shutdown's context ends first; no
// goroutine of Shutdown may stay behind waiting for the session. Then the late
// OnClose must still be harmless.
func TestShutdownTimeoutLeavesNoGoroutine(t *testing.T) {
	n, err := New(withBroker(testConfig()), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Run()
	tr := newFakeTransport(codec.ProtocolJSON) // no client set: Close does not call OnClose
	c := n.NewClient(tr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	if d := tr.disconnect(); d == nil || d.Code != 3001 {
		t.Fatalf("disconnect %v, want 3001", d)
	}
	// Give a leaked goroutine time to be observable in any state.
	time.Sleep(20 * time.Millisecond)
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "engine.(*Node).Shutdown") {
			t.Fatalf("goroutine left behind by Shutdown:\n%s", g)
		}
	}
	c.OnClose()
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown after the last OnClose: %v", err)
	}
}
