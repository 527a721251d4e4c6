package netio

import (
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/engine"
)

// blockingSession blocks in HandleFrame until PeerGone is called (a handler waiting
// on a proxy call that the session cancels when told the peer left).
type blockingSession struct {
	entered  chan struct{}
	gone     chan struct{}
	returned chan struct{}
	closed   chan struct{}
}

func (b *blockingSession) HandleFrame([]byte) bool {
	close(b.entered)
	select {
	case <-b.gone:
	case <-time.After(10 * time.Second):
	}
	close(b.returned)
	return false
}

func (b *blockingSession) PeerGone() { close(b.gone) }

func (b *blockingSession) OnClose() { close(b.closed) }

// TestPeerGoneWhileHandlerBlocks: a peer that hangs up while HandleFrame blocks is
// reported to the session at once (PeerGone, from the poller), although OnClose
// can only come after HandleFrame returns.
func TestPeerGoneWhileHandlerBlocks(t *testing.T) {
	sess := &blockingSession{entered: make(chan struct{}), gone: make(chan struct{}), returned: make(chan struct{}), closed: make(chan struct{})}
	ts := startServer(t, Config{Accept: func(engine.Transport, *UpgradeRequest) Session { return sess }})
	c := dial(t, ts.url+"/connection/websocket")
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	wait := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(2 * time.Second):
			t.Fatalf("%s within 2 s", what)
		}
	}
	wait(sess.entered, "no frame handled")
	start := time.Now()
	_ = c.NetConn().Close()
	wait(sess.gone, "no PeerGone")
	wait(sess.returned, "HandleFrame did not return")
	wait(sess.closed, "no OnClose")
	t.Logf("PeerGone %v after the hang-up", time.Since(start))
}
