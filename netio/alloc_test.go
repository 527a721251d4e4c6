//go:build !race

package netio

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/netio/ws"
)

func assertNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	for i := 0; i < 100; i++ {
		f() // warm the pools
	}
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("%s: %v allocs per run", name, n)
	}
}

func TestAllocsEnqueue(t *testing.T) {
	msg := []byte(`{"push":{"channel":"news","pub":{"data":{"text":"hello"},"offset":42}}}`)
	c := newSocketConn(t, codec.ProtocolJSON)
	// Enqueue alone, in steady state (the queue emptied by a flush between runs).
	c.beginRead()
	assertNoAllocs(t, "Enqueue", func() {
		for i := 0; i < 8; i++ {
			if err := c.Enqueue(msg); err != nil {
				t.Fatal(err)
			}
		}
		c.mu.Lock()
		putBuf(c.pending)
		c.pending = nil
		c.state = flushIdle
		c.mu.Unlock()
	})
	c.endRead()
	// The whole cycle: Enqueue schedules on the worker queue, the worker takes the
	// token, frames and sends with one send(2), and returns the buffer.
	assertNoAllocs(t, "Enqueue+worker flush", func() {
		for i := 0; i < 8; i++ {
			if err := c.Enqueue(msg); err != nil {
				t.Fatal(err)
			}
		}
		runQueued(c)
	})
	// The reader's inline flush at the end of a batch.
	assertNoAllocs(t, "reader batch flush", func() {
		c.beginRead()
		_ = c.Enqueue(msg)
		c.endRead()
	})
	pb := newSocketConn(t, codec.ProtocolProtobuf)
	pmsg := append([]byte{byte(len(msg))}, msg...)
	assertNoAllocs(t, "protobuf Enqueue+flush", func() {
		_ = pb.Enqueue(pmsg)
		_ = pb.Enqueue(pmsg)
		runQueued(pb)
	})
}

func TestAllocsFrameReader(t *testing.T) {
	// Unmasking is in place and every run reuses the stream: a zero key keeps text
	// valid (a real key would turn it into invalid UTF-8 every other run).
	var zero [4]byte
	single := cframeKey(true, ws.OpText, bytes.Repeat([]byte{'a'}, 300), zero, true)
	frag := cat(cframe(false, ws.OpBinary, bytes.Repeat([]byte{'a'}, 1000)), cframe(true, ws.OpPing, []byte("p")),
		cframe(true, ws.OpContinuation, bytes.Repeat([]byte{'b'}, 1000)))
	text := []byte(strings.Repeat("é✓a", 200))
	fragText := cat(cframeKey(false, ws.OpText, text[:301], zero, true), cframeKey(true, ws.OpContinuation, text[301:], zero, true))
	in := &memIn{}
	fr := frameReader{limit: 65536}
	for name, stream := range map[string][]byte{"single": single, "fragmented": frag, "fragmented text": fragText} {
		assertNoAllocs(t, "frameReader "+name, func() {
			in.b = stream
			for {
				ev, _, _, _, err := fr.next(in)
				if err != nil {
					t.Fatal(err)
				}
				if ev == evNone {
					break
				}
			}
		})
	}
}

func TestAllocsHandshake(t *testing.T) {
	head := []byte(upgradeHead("Sec-WebSocket-Protocol: centrifuge-protobuf\r\nOrigin: https://a.example.com\r\n"))
	policy := newOriginPolicy([]string{"https://*.example.com"})
	out := make([]byte, 0, 512)
	assertNoAllocs(t, "route+checkUpgrade+101", func() {
		var h requestHead
		kind, _ := route(head, wsPath, testLimit, &h)
		if kind != routeWebSocket {
			t.Fatal(kind)
		}
		hs := checkUpgrade(&h, policy, true)
		if hs.status != 101 {
			t.Fatal(hs.status)
		}
		out = appendSwitching(out[:0], hs.key, hs.subprotocol, hs.deflate)
	})
}
