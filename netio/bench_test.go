package netio

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio/ws"
)

var benchMsg = []byte(`{"push":{"channel":"news","pub":{"data":{"text":"hello world"},"offset":42}}}`)

// BenchmarkEnqueue is Enqueue alone, into a queue that is not flushed in between
// (emptied every 64 messages).
func BenchmarkEnqueue(b *testing.B) {
	c := newSocketConn(b, codec.ProtocolJSON)
	c.beginRead()
	b.SetBytes(int64(len(benchMsg)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.Enqueue(benchMsg); err != nil {
			b.Fatal(err)
		}
		if i++; i%64 == 0 {
			c.mu.Lock()
			putBuf(c.pending)
			c.pending = nil
			c.mu.Unlock()
		}
	}
}

// BenchmarkEnqueueFlush is the whole outbound cycle per message: Enqueue, the
// worker takes the token, frames and sends with one send(2) to a Unix socket.
func BenchmarkEnqueueFlush(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(map[int]string{1: "1msg", 16: "16msgs"}[batch], func(b *testing.B) {
			c := newSocketConn(b, codec.ProtocolJSON)
			b.SetBytes(int64(len(benchMsg) * batch))
			b.ReportAllocs()
			for b.Loop() {
				for i := 0; i < batch; i++ {
					_ = c.Enqueue(benchMsg)
				}
				runQueued(c)
			}
		})
	}
}

func BenchmarkFrameReader(b *testing.B) {
	for _, size := range []int{100, 4096} {
		frame := cframe(true, ws.OpText, bytes.Repeat([]byte{'a'}, size))
		b.Run(map[int]string{100: "100B", 4096: "4KB"}[size], func(b *testing.B) {
			in := &memIn{}
			fr := frameReader{limit: 65536}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				in.b = frame
				if ev, _, _, _, err := fr.next(in); ev != evMessage || err != nil {
					b.Fatal(ev, err)
				}
			}
		})
	}
}

func BenchmarkRouteAndCheckUpgrade(b *testing.B) {
	head := []byte(upgradeHead("Sec-WebSocket-Protocol: centrifuge-json\r\nUser-Agent: Mozilla/5.0\r\n"))
	policy := newOriginPolicy(nil)
	out := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var h requestHead
		if kind, _ := route(head, wsPath, &h); kind != routeWebSocket {
			b.Fatal(kind)
		}
		hs := checkUpgrade(&h, policy)
		out = appendSwitching(out[:0], hs.key, hs.subprotocol)
	}
}

// BenchmarkEchoRoundTrip is one message to the server and its echo back, over
// loopback with a fasthttp/websocket client.
func BenchmarkEchoRoundTrip(b *testing.B) {
	ts := startServer(b, Config{})
	c := dial(b, ts.url+"/connection/websocket")
	ts.session(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WriteMessage(websocket.TextMessage, benchMsg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBroadcast enqueues one message to each of 1000 connections per op, like
// a hub broadcast; the clients discard what they receive. ns/op / 1000 is the cost
// per subscriber.
func BenchmarkBroadcast(b *testing.B) {
	ts := startServer(b, Config{})
	const n = 1000
	transports := make([]engine.Transport, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", ts.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, upgradeHead("")); err != nil {
			b.Fatal(err)
		}
		go func() { _, _ = io.Copy(io.Discard, c) }()
		transports = append(transports, ts.session(b).t)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMsg) * n))
	for b.Loop() {
		for _, t := range transports {
			if err := t.Enqueue(benchMsg); err == engine.ErrSlowConsumer {
				time.Sleep(time.Millisecond)
			}
		}
	}
}
