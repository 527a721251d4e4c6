//go:build linux

package netio

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/rotorhq/rotor/engine"
)

// writeWatchSession is an echoSession that records WriteFailed.
type writeWatchSession struct {
	*echoSession
	failed chan struct{}
}

func (s *writeWatchSession) WriteFailed() { close(s.failed) }

// TestWriteTimeoutTellsSession: a client that stops reading until the write timeout
// closes its connection is reported to the session (WriteWatcher) before OnClose,
// so the engine counts and logs it (3009) instead of the client vanishing.
func TestWriteTimeoutTellsSession(t *testing.T) {
	var ws *writeWatchSession
	accepted := make(chan struct{})
	ts := startServer(t, Config{WriteTimeout: 200 * time.Millisecond, QueueMaxSize: 64 << 20,
		Accept: func(tr engine.Transport, r *UpgradeRequest) Session {
			ws = &writeWatchSession{echoSession: newEcho(tr, r), failed: make(chan struct{})}
			close(accepted)
			return ws
		}})
	dialStalled(t, ts.Addr().String())
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no session")
	}
	chunk := bytes.Repeat([]byte{'s'}, 256<<10)
	for i := 0; i < 32; i++ {
		err := ws.t.Enqueue(chunk)
		if errors.Is(err, engine.ErrTransportClosed) {
			break // a slow machine: the write timeout struck while queueing
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ws.failed:
	case <-time.After(10 * time.Second):
		t.Fatal("the write timeout closed the connection without telling the session")
	}
	select {
	case <-ws.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose after the write failure")
	}
}
