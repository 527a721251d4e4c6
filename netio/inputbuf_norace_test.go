//go:build !race

package netio

import (
	"reflect"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// inputTailCap reads the capacity of the buffer in the last node of nc's input
// LinkBuffer (what an idle connection keeps). It reads netpoll's fields while the
// poller may own them, hence the !race build tag; the connection is idle then.
func inputTailCap(t *testing.T, c *conn) int {
	t.Helper()
	v := reflect.ValueOf(c.nc).Elem().FieldByName("inputBuffer")
	if !v.IsValid() || v.IsNil() {
		t.Fatal("netpoll connection has no inputBuffer field")
	}
	w := v.Elem().FieldByName("write")
	if !w.IsValid() || w.IsNil() {
		t.Fatal("netpoll LinkBuffer has no write node")
	}
	buf := w.Elem().FieldByName("buf")
	if !buf.IsValid() {
		t.Fatal("netpoll LinkBuffer node has no buf field")
	}
	return buf.Cap()
}

// TestIdleInputReleased guards inputbuf.go against a netpoll upgrade: after a
// message has been read, an idle connection holds no input buffer, and the next
// message (larger than the first buffer) still arrives whole.
func TestIdleInputReleased(t *testing.T) {
	ts := startServer(t, Config{})
	ws := dial(t, ts.url+"/connection/websocket")
	ts.session(t)
	if inputReleaseOffset == 0 {
		t.Fatal("netpoll's connection type changed: inputbuf.go no longer releases idle input buffers")
	}
	for i, size := range []int{10, 3000, 20} {
		msg := make([]byte, size)
		for j := range msg {
			msg[j] = byte('a' + (i+j)%26)
		}
		if err := ws.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			t.Fatal(err)
		}
		if _, got := readMsg(t, ws); got != string(msg) {
			t.Fatalf("message %d: echo of %d bytes differs", i, size)
		}
		ts.mu.Lock()
		c := ts.conns
		ts.mu.Unlock()
		if c == nil {
			t.Fatal("no tracked connection")
		}
		// The release follows the reply on the poller; a loaded machine may take
		// a while to get there.
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			n := inputTailCap(t, c)
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("after message %d (%d bytes) the idle connection keeps a %d-byte input buffer", i, size, n)
				break
			}
		}
	}
}
