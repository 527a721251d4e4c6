package stdws

import (
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio"
)

// writeWatch is a session that reports netio.WriteWatcher calls before passing
// them on.
type writeWatch struct {
	netio.Session
	failed chan struct{}
	closed chan struct{}
}

func (w *writeWatch) WriteFailed() {
	close(w.failed)
	w.Session.(netio.WriteWatcher).WriteFailed()
}

func (w *writeWatch) OnClose() {
	close(w.closed)
	w.Session.OnClose()
}

func watchWrites(ts *testServer) chan *writeWatch {
	watches := make(chan *writeWatch, 1)
	accept := ts.srv.cfg.Accept
	ts.srv.cfg.Accept = func(tr engine.Transport, r *netio.UpgradeRequest) netio.Session {
		w := &writeWatch{Session: accept(tr, r), failed: make(chan struct{}), closed: make(chan struct{})}
		watches <- w
		return w
	}
	return watches
}

// TestWriteTimeoutReported: a subscriber that stops reading, with a queue large
// enough that only websocket.write_timeout can end it, is reported to its
// session as a failed write (the engine ends it as 3009 "write error"), before
// OnClose.
func TestWriteTimeoutReported(t *testing.T) {
	ts := start(t, Config{QueueMaxSize: 64 << 20, WriteTimeout: 200 * time.Millisecond})
	watches := watchWrites(ts)
	c := ts.dial(t, false, nil)
	ts.subscribe(t, c, "news")
	w := <-watches
	data := []byte(`"` + strings.Repeat("y", 200<<10) + `"`)
	deadline := time.Now().Add(20 * time.Second)
	for done := false; !done; {
		select {
		case <-w.failed:
			done = true
		case <-w.closed:
			select {
			case <-w.failed: // both happened since the last look
				done = true
			default:
				t.Fatal("closed without a write failure")
			}
		default:
			if time.Now().After(deadline) {
				t.Fatal("stalled write not reported")
			}
			_, _ = ts.node.Publish("news", data, engine.PublishOptions{})
			time.Sleep(5 * time.Millisecond)
		}
	}
	select {
	case <-w.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose after the write failure")
	}
	waitClients(t, ts.node, 0)
}

// TestPeerCloseIsNoWriteFailure: a client that closes normally is not reported
// as a failed write.
func TestPeerCloseIsNoWriteFailure(t *testing.T) {
	ts := start(t, Config{})
	watches := watchWrites(ts)
	c := ts.dial(t, false, nil)
	ts.subscribe(t, c, "news")
	w := <-watches
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	select {
	case <-w.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose")
	}
	select {
	case <-w.failed:
		t.Fatal("a peer's close reported as a write failure")
	default:
	}
}
