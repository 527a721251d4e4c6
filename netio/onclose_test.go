package netio

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/engine"
)

// blockingCloseSession is an echoSession whose OnClose waits until release is
// closed, as the engine's cleanup does while Redis hangs.
type blockingCloseSession struct {
	*echoSession
	entered chan struct{}
	release chan struct{}
}

func (b *blockingCloseSession) OnClose() {
	b.entered <- struct{}{}
	<-b.release
	b.echoSession.OnClose()
}

// TestBlockedOnCloseDoesNotDelayOthers closes connections whose OnClose blocks
// (the engine's cleanup waiting on a hung Redis) on a server with one flush worker:
// another connection on that worker must still get its messages at once, and the
// blocked sessions finish when their cleanup does.
func TestBlockedOnCloseDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	entered := make(chan struct{}, 16)
	sessions := make(chan *echoSession, 16)
	blocking := atomic.Bool{}
	blocking.Store(true)
	ts := startServer(t, Config{FlushWorkers: 1, Accept: func(tr engine.Transport, r *UpgradeRequest) Session {
		e := newEcho(tr, r)
		sessions <- e
		if blocking.Load() {
			return &blockingCloseSession{echoSession: e, entered: entered, release: release}
		}
		return e
	}})
	// Cleanups run last registered first: this one before the server's
	// shutdown, which waits for the blocked sessions, when the test fails.
	t.Cleanup(unblock)
	next := func() *echoSession {
		select {
		case e := <-sessions:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no session accepted")
			return nil
		}
	}
	const closing = 3
	var blocked []*echoSession
	for i := 0; i < closing; i++ {
		c := dial(t, ts.url+"/connection/websocket")
		blocked = append(blocked, next())
		_ = c.Close()
	}
	for i := 0; i < closing; i++ {
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatalf("OnClose %d of %d not started", i+1, closing)
		}
	}
	blocking.Store(false)
	normal := dial(t, ts.url+"/connection/websocket")
	en := next()
	for i := 0; i < 10; i++ {
		msg := []byte("hello-" + strconv.Itoa(i))
		if err := en.t.Enqueue(msg); err != nil {
			t.Fatal(err)
		}
		_ = normal.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, p, err := normal.ReadMessage()
		if err != nil {
			t.Fatalf("message %d while %d OnClose calls block: %v (the flush worker waits on them)", i, closing, err)
		}
		if !bytes.Equal(p, msg) {
			t.Fatalf("got %q, want %q", p, msg)
		}
	}
	for _, e := range blocked {
		select {
		case <-e.closed:
			t.Fatal("OnClose returned before its cleanup was released")
		default:
		}
	}
	unblock()
	for _, e := range blocked {
		waitClosed(t, e)
	}
	_ = normal.Close()
	waitClosed(t, en)
}
