package engine

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// fakeTransport records what the engine sends. Close reports OnClose to the client
// from another goroutine, as netio does.
type fakeTransport struct {
	proto  codec.Protocol
	mu     sync.Mutex
	msgs   [][]byte
	closed *Disconnect
	notify chan struct{}
	client *Client
	limit  int // 0 = unlimited; else max queued messages before ErrSlowConsumer
}

func newFakeTransport(p codec.Protocol) *fakeTransport {
	return &fakeTransport{proto: p, notify: make(chan struct{}, 1024)}
}

func (t *fakeTransport) Protocol() codec.Protocol { return t.proto }

func (t *fakeTransport) Enqueue(msg []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed != nil {
		return ErrTransportClosed
	}
	if t.limit > 0 && len(t.msgs) >= t.limit {
		return ErrSlowConsumer
	}
	t.msgs = append(t.msgs, bytes.Clone(msg))
	select {
	case t.notify <- struct{}{}:
	default:
	}
	return nil
}

func (t *fakeTransport) Close(d Disconnect) {
	t.mu.Lock()
	if t.closed != nil {
		t.mu.Unlock()
		return
	}
	t.closed = &d
	c := t.client
	t.mu.Unlock()
	select {
	case t.notify <- struct{}{}:
	default:
	}
	if c != nil {
		go c.OnClose()
	}
}

func (t *fakeTransport) messages() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, len(t.msgs))
	for i, m := range t.msgs {
		out[i] = string(m)
	}
	return out
}

func (t *fakeTransport) disconnect() *Disconnect {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// waitFor polls until cond holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// waitClosed blocks until the engine closes the transport or d passes, and returns
// the disconnect (nil on timeout). It consumes notify: one waiter at a time.
func (t *fakeTransport) waitClosed(d time.Duration) *Disconnect {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		if dc := t.disconnect(); dc != nil {
			return dc
		}
		select {
		case <-t.notify:
		case <-timer.C:
			return t.disconnect()
		}
	}
}
