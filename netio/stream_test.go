package netio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/broker/memory"
	"github.com/rotorhq/rotor/engine"
)

// startStreamServer runs an insecure engine Node behind a netio Server whose HTTP
// handler is the HTTP transports.
func startStreamServer(t *testing.T, queueMax int) (*engine.Node, string) {
	t.Helper()
	m := memory.New()
	node, err := engine.New(engine.Config{Insecure: true, Broker: m, PresenceManager: m, Controller: m}, nil)
	if err != nil {
		t.Fatal(err)
	}
	node.Run()
	streams := NewStreams(StreamConfig{
		Node: node, QueueMaxSize: queueMax,
		HTTPStream: StreamEndpoint{Enabled: true}, SSE: StreamEndpoint{Enabled: true},
		UniHTTPStream: StreamEndpoint{Enabled: true}, UniSSE: StreamEndpoint{Enabled: true},
	})
	srv, err := Listen(Config{
		Address:          "127.0.0.1:0",
		HTTPHandler:      streams.Handler(),
		UniWebSocketPath: "/connection/uni_websocket",
		Accept:           func(tr engine.Transport, r *UpgradeRequest) Session { return node.NewClient(tr, nil) },
	})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
		<-served
	})
	return node, srv.Addr().String()
}

// openUni starts a uni_http_stream subscribed to ch on a raw TCP connection
// (receive buffer rcvbuf when > 0) and returns it with its reader, after the
// response head.
func openUni(t *testing.T, addr, ch string, rcvbuf int) (*net.TCPConn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	if rcvbuf > 0 {
		_ = tc.SetReadBuffer(rcvbuf)
	}
	t.Cleanup(func() { tc.Close() })
	body := `{"subs":{"` + ch + `":{}}}`
	fmt.Fprintf(tc, "POST /connection/uni_http_stream HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	br := bufio.NewReader(tc)
	_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	_ = tc.SetReadDeadline(time.Time{})
	return tc, br
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Logf("%s", buf)
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A streaming client that stops reading is disconnected once its queue passes
// QueueMaxSize; the publisher is never blocked and a reading client on the same
// channel receives everything.
func TestStreamSlowConsumerIsDisconnected(t *testing.T) {
	node, addr := startStreamServer(t, 64<<10)
	openUni(t, addr, "slow", 4096) // never read past the head
	_, fast := openUni(t, addr, "slow", 0)
	waitFor(t, "both subscribed", func() bool { return node.NumSubscribers("slow") == 2 })
	payload := []byte(`{"x":"` + strings.Repeat("a", 1000) + `"}`)
	var got atomic.Int64
	go func() {
		for {
			line, err := fast.ReadBytes('\n')
			if err != nil {
				return
			}
			if bytes.Contains(line, []byte(`"pub"`)) {
				got.Add(1)
			}
		}
	}()
	// Publish, keeping the reading client at most 16 publications behind, until the
	// other one is removed: however much the kernel buffers, its queue fills.
	deadline := time.Now().Add(30 * time.Second)
	var sent int64
	for node.NumSubscribers("slow") == 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the client that does not read is still subscribed after %d publications", sent)
		}
		start := time.Now()
		if _, err := node.Publish("slow", payload, engine.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		sent++
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publish %d blocked for %v", sent, d)
		}
		waitFor(t, "the reading client to keep up", func() bool { return got.Load() >= sent-16 })
	}
	// The reading client gets every publication.
	waitFor(t, "every publication on the reading stream", func() bool { return got.Load() == sent })
	if node.NumSubscribers("slow") != 1 {
		t.Fatal("the reading client was removed too")
	}
}

// The queue of a stream never holds more than QueueMaxSize bytes: Enqueue past it
// reports ErrSlowConsumer and keeps nothing.
func TestStreamQueueBounded(t *testing.T) {
	for _, framing := range []uint8{frameLines, frameSSE, frameRaw} {
		sc := &streamConn{max: 1000, framing: framing, wake: make(chan struct{}, 1)}
		msg := bytes.Repeat([]byte("m"), 90)
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			err = sc.Enqueue(msg)
		}
		if !errors.Is(err, engine.ErrSlowConsumer) {
			t.Fatalf("framing %d: %v", framing, err)
		}
		if len(sc.pending) > 1000 {
			t.Fatalf("framing %d: %d bytes queued", framing, len(sc.pending))
		}
		sc.Close(engine.DisconnectSlow)
		if bytes.Contains(sc.pending, msg) || !bytes.Contains(sc.pending, []byte(`"code":3008`)) {
			t.Fatalf("framing %d: after 3008 the queue is dropped and a disconnect push follows: %q", framing, sc.pending)
		}
		if err := sc.Enqueue(msg); !errors.Is(err, engine.ErrTransportClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
}

// A stream whose client hangs up ends at once (not at the next ping): the session
// leaves its channels.
func TestStreamPeerHangUpEndsSession(t *testing.T) {
	node, addr := startStreamServer(t, 0)
	c, _ := openUni(t, addr, "gone", 0)
	waitFor(t, "subscribed", func() bool { return node.NumSubscribers("gone") == 1 })
	c.Close()
	waitFor(t, "session ended", func() bool { return node.NumSubscribers("gone") == 0 })
}

func TestUnwrapPush(t *testing.T) {
	for in, want := range map[string]string{
		`{"push":{"channel":"a","pub":{"data":1}}}`: `{"channel":"a","pub":{"data":1}}`,
		`{}`:                    `{}`,
		`{"id":1,"connect":{}}`: `{"id":1,"connect":{}}`,
	} {
		if got := string(UnwrapPush([]byte(in))); got != want {
			t.Fatalf("%s: %s", in, got)
		}
	}
}

// A keep-alive connection that served an HTTP request can then upgrade on the
// uni_websocket path: the connect push arrives as one text message.
func TestUniWebSocketAfterHTTPRequest(t *testing.T) {
	_, addr := startStreamServer(t, 0)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	fmt.Fprint(c, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	fmt.Fprint(c, "GET /connection/uni_websocket?cf_connect=%7B%7D HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 0x81 || hdr[1] > 126 {
		t.Fatalf("frame header % x", hdr)
	}
	n := int(hdr[1])
	if n == 126 {
		if _, err := io.ReadFull(br, hdr); err != nil {
			t.Fatal(err)
		}
		n = int(hdr[0])<<8 | int(hdr[1])
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(msg, []byte(`{"connect":{`)) {
		t.Fatalf("first message %q", msg)
	}
}

// CORS headers follow client.allowed_origins: set only for a matching Origin.
func TestStreamCORS(t *testing.T) {
	s := NewStreams(StreamConfig{AllowedOrigins: []string{"https://*.example.com"}})
	for origin, allowed := range map[string]bool{
		"https://app.example.com": true,
		"HTTPS://APP.EXAMPLE.COM": true,
		"https://evil.com":        false,
		"":                        false,
	} {
		var ctx fasthttp.RequestCtx
		if origin != "" {
			ctx.Request.Header.Set("Origin", origin)
		}
		ctx.Request.Header.Set("Access-Control-Request-Headers", "content-type")
		s.cors(&ctx)
		h := &ctx.Response.Header
		got := string(h.Peek("Access-Control-Allow-Origin"))
		if allowed != (got != "" && got == origin) || allowed != (string(h.Peek("Access-Control-Allow-Credentials")) == "true") ||
			allowed != (string(h.Peek("Access-Control-Allow-Headers")) == "content-type") {
			t.Fatalf("origin %q: allow-origin %q, headers %s", origin, got, h.String())
		}
	}
}
