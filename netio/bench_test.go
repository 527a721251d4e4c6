package netio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
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
		// A zero mask key: unmasking in place then leaves the reused frame valid
		// UTF-8 (a real key would make every other run invalid text).
		frame := cframeKey(true, ws.OpText, bytes.Repeat([]byte{'a'}, size), [4]byte{}, true)
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
		if kind, _ := route(head, wsPath, testLimit, &h); kind != routeWebSocket {
			b.Fatal(kind)
		}
		hs := checkUpgrade(&h, policy, true)
		out = appendSwitching(out[:0], hs.key, hs.subprotocol, hs.deflate)
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

// BenchmarkFanout is a broadcast end to end over loopback TCP: each op enqueues one
// message to each of n connections from one goroutine, as the hub does, and the
// benchmark ends when the clients (goroutines in this process, parsing frames) have
// received every message. It reports deliveries/s and ns per delivery; the clients'
// reads share the CPU, as a load tool's would.
//
// With wait=each, every op also waits for its n deliveries: ns/op is then the time
// one broadcast takes to reach every subscriber (the latency regime of a few
// publications per second). With wait=end, ops follow each other at once, so
// messages queue up and go out several per frame (the throughput regime).
func BenchmarkFanout(b *testing.B) {
	for _, bc := range []struct {
		n    int
		each bool
	}{{1000, true}, {5000, true}, {1000, false}, {5000, false}} {
		name := fmt.Sprintf("conns=%d/wait=end", bc.n)
		if bc.each {
			name = fmt.Sprintf("conns=%d/wait=each", bc.n)
		}
		n := bc.n
		b.Run(name, func(b *testing.B) {
			ts := startServer(b, Config{})
			got := &deliveries{done: make(chan struct{}, 1)}
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
				go countMessages(c, got)
				transports = append(transports, ts.session(b).t)
			}
			b.ReportAllocs()
			start := time.Now()
			ops := 0
			for b.Loop() {
				ops++
				for _, t := range transports {
					if err := t.Enqueue(benchMsg); err == engine.ErrSlowConsumer {
						b.Fatal("slow consumer")
					}
				}
				if bc.each {
					got.wait(b, int64(ops*n))
				}
			}
			want := int64(ops * n)
			got.wait(b, want)
			el := time.Since(start)
			b.ReportMetric(float64(want)/el.Seconds(), "deliveries/s")
			b.ReportMetric(float64(el.Nanoseconds())/float64(want), "ns/delivery")
		})
	}
}

// deliveries counts messages the benchmark clients received and signals done when
// the count reaches target.
type deliveries struct {
	got    atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func (d *deliveries) add(k int64) {
	v := d.got.Add(k)
	if t := d.target.Load(); v >= t && v-k < t {
		select {
		case d.done <- struct{}{}:
		default:
		}
	}
}

// wait blocks until want messages have arrived, for at most a minute.
func (d *deliveries) wait(b *testing.B, want int64) {
	d.target.Store(want)
	if d.got.Load() >= want {
		return
	}
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		b.Fatalf("delivered %d of %d", d.got.Load(), want)
	}
}

// countMessages reads the 101 response and then server frames from c, adding the
// number of newline-joined JSON messages in each to got, until c fails.
func countMessages(c net.Conn, got *deliveries) {
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return
	}
	resp.Body.Close()
	var hdr [8]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return
		}
		n := int(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[:2]); err != nil {
				return
			}
			n = int(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(br, hdr[:8]); err != nil {
				return
			}
			n = int(binary.BigEndian.Uint64(hdr[:8]))
		}
		if cap(payload) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		got.add(int64(bytes.Count(payload, []byte{'\n'}) + 1))
	}
}

// BenchmarkEnqueueSpread is the enqueue side of a broadcast to 10000 connections:
// one op enqueues one message to each, so (unlike BenchmarkEnqueue) every call
// meets a connection that is not in the CPU caches. ns/op / 10000 is the cost per
// subscriber. Nothing is flushed: the connections act as if their readers were in a
// batch, and their queues are emptied every 16 ops.
func BenchmarkEnqueueSpread(b *testing.B) {
	const n = 10000
	s := &Server{cfg: Config{QueueMaxSize: 1 << 20}}
	w := &worker{wake: make(chan struct{}, 1)}
	conns := make([]*conn, n)
	transports := make([]engine.Transport, n)
	for i := range conns {
		c := &conn{srv: s, w: w, proto: codec.ProtocolJSON, dataOp: ws.OpText, mode: modeWebSocket}
		c.inRead = true
		conns[i], transports[i] = c, c
	}
	b.ReportAllocs()
	ops := 0
	for b.Loop() {
		for _, t := range transports {
			if err := t.Enqueue(benchMsg); err != nil {
				b.Fatal(err)
			}
		}
		if ops++; ops%16 == 0 {
			b.StopTimer()
			for _, c := range conns {
				c.mu.Lock()
				putBuf(c.pending)
				c.pending = nil
				c.state = flushIdle
				c.mu.Unlock()
			}
			b.StartTimer()
		}
	}
}
