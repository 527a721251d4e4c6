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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio/ws"
)

// echoSession echoes every message and understands a few test commands:
//
//	close:<code>:<reason>   enqueue "bye", then Close with that code
//	slow                     enqueue "x" then Close(3008): nothing may be flushed
//	burst:<n>                enqueue n messages "m<i>"
//	big:<n>                  enqueue n bytes, reporting the error
type echoSession struct {
	t      engine.Transport
	req    *UpgradeRequest
	closes atomic.Int32
	closed chan struct{}
	errs   chan error
}

func newEcho(t engine.Transport, r *UpgradeRequest) *echoSession {
	return &echoSession{t: t, req: r, closed: make(chan struct{}), errs: make(chan error, 16)}
}

func (e *echoSession) HandleFrame(p []byte) bool {
	s := string(p)
	switch {
	case strings.HasPrefix(s, "close:"):
		parts := strings.SplitN(s, ":", 3)
		code, _ := strconv.Atoi(parts[1])
		_ = e.t.Enqueue([]byte("bye"))
		e.t.Close(engine.Disconnect{Code: uint32(code), Reason: parts[2]})
		return false
	case s == "slow":
		_ = e.t.Enqueue([]byte("x"))
		e.t.Close(engine.DisconnectSlow)
		return false
	case strings.HasPrefix(s, "burst:"):
		n, _ := strconv.Atoi(s[6:])
		for i := 0; i < n; i++ {
			msg := fmt.Appendf(nil, "m%d", i)
			if e.t.Protocol() == codec.ProtocolProtobuf {
				msg = append([]byte{byte(len(msg))}, msg...)
			}
			if err := e.t.Enqueue(msg); err != nil {
				e.errs <- err
				return true
			}
		}
		return true
	case strings.HasPrefix(s, "big:"):
		n, _ := strconv.Atoi(s[4:])
		e.errs <- e.t.Enqueue(bytes.Repeat([]byte{'z'}, n))
		return true
	}
	if err := e.t.Enqueue(p); err != nil {
		e.errs <- err
	}
	return true
}

func (e *echoSession) OnClose() {
	if e.closes.Add(1) == 1 {
		close(e.closed)
	}
}

// testServer runs a Server whose sessions are echoSessions, published on sessions.
type testServer struct {
	*Server
	url      string
	sessions chan *echoSession
}

func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{sessions: make(chan *echoSession, 4096)}
	cfg.Address = "127.0.0.1:0"
	if cfg.Accept == nil {
		cfg.Accept = func(tr engine.Transport, r *UpgradeRequest) Session {
			e := newEcho(tr, r)
			ts.sessions <- e
			return e
		}
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = s
	ts.url = "ws://" + s.Addr().String()
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return ts
}

func (ts *testServer) session(t testing.TB) *echoSession {
	t.Helper()
	select {
	case e := <-ts.sessions:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no session accepted")
		return nil
	}
}

func dial(t testing.TB, url string, subprotocols ...string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: subprotocols}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func readMsg(t testing.TB, c *websocket.Conn) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, p, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(p)
}

func waitClosed(t testing.TB, e *echoSession) {
	t.Helper()
	select {
	case <-e.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose not called")
	}
}

func TestHandshakeAndEcho(t *testing.T) {
	ts := startServer(t, Config{})
	h := http.Header{"User-Agent": {"rotor-test"}, "X-Custom": {"yes"}}
	d := websocket.Dialer{Subprotocols: []string{"centrifuge-json"}}
	c, resp, err := d.Dial(ts.url+"/connection/websocket?a=1", h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp.StatusCode != 101 || c.Subprotocol() != "centrifuge-json" {
		t.Fatalf("status %d subprotocol %q", resp.StatusCode, c.Subprotocol())
	}
	e := ts.session(t)
	if e.req.Path != "/connection/websocket" || e.req.Query != "a=1" || e.req.UserAgent != "rotor-test" ||
		e.req.Header("x-custom") != "yes" || e.req.Protocol != codec.ProtocolJSON || e.req.Origin != "" ||
		!strings.HasPrefix(e.req.RemoteAddr, "127.0.0.1:") {
		t.Fatalf("request %+v", e.req)
	}
	for _, msg := range []string{"hello", "", strings.Repeat("x", 70000)[:60000]} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if msg == "" {
			continue // the server ignores empty messages on the way out
		}
		typ, got := readMsg(t, c)
		if typ != websocket.TextMessage || got != msg {
			t.Fatalf("got type %d len %d", typ, len(got))
		}
	}
	_ = c.Close()
	waitClosed(t, e)
}

func TestSubprotocolSelection(t *testing.T) {
	ts := startServer(t, Config{})
	tests := []struct {
		name  string
		query string
		subs  []string
		sub   string
		proto codec.Protocol
	}{
		{"none", "", nil, "", codec.ProtocolJSON},
		{"json", "", []string{"centrifuge-json"}, "centrifuge-json", codec.ProtocolJSON},
		{"protobuf first known", "", []string{"foo", "centrifuge-protobuf", "centrifuge-json"}, "centrifuge-protobuf", codec.ProtocolProtobuf},
		{"json first", "", []string{"centrifuge-json", "centrifuge-protobuf"}, "centrifuge-json", codec.ProtocolJSON},
		{"format=protobuf", "?format=protobuf", nil, "", codec.ProtocolProtobuf},
		{"cf_protocol=protobuf", "?cf_protocol=protobuf", nil, "", codec.ProtocolProtobuf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.url+"/connection/websocket"+tt.query, tt.subs...)
			e := ts.session(t)
			if c.Subprotocol() != tt.sub || e.req.Protocol != tt.proto || e.t.Protocol() != tt.proto {
				t.Fatalf("sub %q proto %v", c.Subprotocol(), e.req.Protocol)
			}
			if err := c.WriteMessage(websocket.BinaryMessage, []byte("\x05hello")); err != nil {
				t.Fatal(err)
			}
			typ, got := readMsg(t, c)
			wantType := websocket.TextMessage
			if tt.proto == codec.ProtocolProtobuf {
				wantType = websocket.BinaryMessage
			}
			if typ != wantType || got != "\x05hello" {
				t.Fatalf("type %d got %q", typ, got)
			}
		})
	}
}

func TestOriginCheck(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		origin  string
		ok      bool
	}{
		{"no origin, empty list", nil, "", true},
		{"origin, empty list", nil, "http://example.com", false},
		{"star", []string{"*"}, "http://example.com", true},
		{"glob", []string{"https://*.example.com"}, "https://app.example.com", true},
		{"glob upper case origin", []string{"https://*.example.com"}, "HTTPS://APP.EXAMPLE.COM", true},
		{"glob miss", []string{"https://*.example.com"}, "https://evil.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Config{AllowedOrigins: tt.allowed})
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			c, resp, err := websocket.DefaultDialer.Dial(ts.url+"/connection/websocket", h)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				_ = c.Close()
				waitClosed(t, ts.session(t))
				return
			}
			if err == nil {
				_ = c.Close()
				t.Fatal("upgrade accepted")
			}
			if resp == nil || resp.StatusCode != 403 {
				t.Fatalf("resp %v err %v", resp, err)
			}
		})
	}
}

// rawRequest sends a raw request on a new TCP connection and returns everything
// read until the server closes.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestHandshakeErrors(t *testing.T) {
	ts := startServer(t, Config{})
	addr := ts.Addr().String()
	tests := []struct {
		name, head, status string
	}{
		{"version 8", strings.Replace(upgradeHead(""), "Version: 13", "Version: 8", 1), "HTTP/1.1 426 "},
		{"no key", strings.Replace(upgradeHead(""), "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), "HTTP/1.1 400 "},
		{"no connection upgrade", strings.Replace(upgradeHead(""), "keep-alive, Upgrade", "close", 1), "HTTP/1.1 400 "},
		{"origin", upgradeHead("Origin: http://x.com\r\n"), "HTTP/1.1 403 "},
		{"header line without colon", upgradeHead("X-Junk\r\n"), "HTTP/1.1 400 "},
		{"two keys", upgradeHead("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"), "HTTP/1.1 400 "},
		{"two hosts", upgradeHead("Host: other\r\n"), "HTTP/1.1 400 "},
		{"obs-fold", upgradeHead("X-A: a\r\n b\r\n"), "HTTP/1.1 400 "},
		{"body", upgradeHead("Content-Length: 4\r\n") + "\x81\x80abcd", "HTTP/1.1 400 "},
		{"head too large", "GET /connection/websocket HTTP/1.1\r\nX: " + strings.Repeat("a", testLimit) + "\r\n\r\n", "HTTP/1.1 431 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawRequest(t, addr, tt.head)
			if !strings.HasPrefix(got, tt.status) {
				t.Fatalf("got %q", got)
			}
			if tt.name == "version 8" && !strings.Contains(got, "Sec-WebSocket-Version: 13\r\n") {
				t.Fatalf("no version header: %q", got)
			}
		})
	}
}

// sizedHead returns a request head for path of exactly size bytes (padded with an
// X-Pad header), an upgrade when upgrade is set.
func sizedHead(path string, size int, upgrade bool) string {
	h := "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n"
	if upgrade {
		h += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	}
	const pad = "X-Pad: \r\n\r\n"
	return h + "X-Pad: " + strings.Repeat("p", size-len(h)-len(pad)) + "\r\n\r\n"
}

// TestHeadSizeLimit checks that heads up to Config.MaxHeaderBytes pass on both the
// WebSocket path (netio's router) and other paths (fasthttp), and larger ones get
// 431 on both, with the default and with a larger limit.
func TestHeadSizeLimit(t *testing.T) {
	handler := func(ctx *fasthttp.RequestCtx) { ctx.WriteString("ok") }
	for _, limit := range []int{0, 100 << 10} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			ts := startServer(t, Config{HTTPHandler: handler, MaxHeaderBytes: limit})
			if limit == 0 {
				limit = DefaultMaxHeaderBytes
			}
			addr := ts.Addr().String()
			for _, tc := range []struct {
				path    string
				upgrade bool
				size    int
				status  string
			}{
				{"/api/info", false, 4 << 10, "HTTP/1.1 200 "},
				{"/api/info", false, limit, "HTTP/1.1 200 "},
				{"/api/info", false, limit + 1, "HTTP/1.1 431 "},
				{"/connection/websocket", true, 8 << 10, "HTTP/1.1 101 "},
				{"/connection/websocket", true, limit, "HTTP/1.1 101 "},
				{"/connection/websocket", true, limit + 1, "HTTP/1.1 431 "},
			} {
				head := sizedHead(tc.path, tc.size, tc.upgrade)
				if len(head) != tc.size {
					t.Fatalf("head of %d bytes, want %d", len(head), tc.size)
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(c, head); err != nil {
					t.Fatal(err)
				}
				status := make([]byte, len(tc.status))
				_, err = io.ReadFull(c, status)
				_ = c.Close()
				if err != nil || string(status) != tc.status {
					t.Fatalf("%s, %d bytes: %q %v, want %q", tc.path, tc.size, status, err, tc.status)
				}
			}
		})
	}
}

func TestHTTPRouting(t *testing.T) {
	ts := startServer(t, Config{HTTPHandler: func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "%s %s body=%s", ctx.Method(), ctx.Path(), ctx.PostBody())
	}})
	base := "http://" + ts.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for _, tc := range []struct{ method, path, body, want string }{
		{"GET", "/api/info", "", "GET /api/info body="},
		{"POST", "/api/publish", `{"channel":"x"}`, `POST /api/publish body={"channel":"x"}`},
		{"GET", "/connection/websocket/", "", "GET /connection/websocket/ body="},
		{"GET", "/health", "", "GET /health body="},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != tc.want {
			t.Fatalf("%s %s: %d %q", tc.method, tc.path, resp.StatusCode, b)
		}
	}
	// The WebSocket path itself serves upgrades only, as in Centrifugo: 400 for any
	// other request, 405 for an upgrade by another method than GET.
	for _, tc := range []struct {
		method, body string
		upgrade      bool
		status       int
		want         string
	}{
		{"GET", "", false, 400, "Bad Request\n"},
		{"POST", `{"x":1}`, false, 400, "Bad Request\n"},
		{"PUT", "", false, 400, "Bad Request\n"},
		{"POST", "", true, 405, "Method Not Allowed\n"},
	} {
		req, _ := http.NewRequest(tc.method, base+"/connection/websocket", strings.NewReader(tc.body))
		if tc.upgrade {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(b) != tc.want {
			t.Fatalf("%s /connection/websocket (upgrade %v): %d %q, want %d %q", tc.method, tc.upgrade, resp.StatusCode, b, tc.status, tc.want)
		}
	}
	// Two requests on one keep-alive connection, and a request split over writes.
	c, err := net.Dial("tcp", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		io.WriteString(c, "GET /a")
		time.Sleep(20 * time.Millisecond)
		io.WriteString(c, fmt.Sprintf("/%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != fmt.Sprintf("GET /a/%d body=", i) {
			t.Fatalf("got %q", b)
		}
	}
}

// TestUpgradeAfterKeepAliveRequest: a pooled proxy sends an API request and then a
// WebSocket upgrade on the same connection; the upgrade must succeed and the
// session work, as with a new connection. Also with the upgrade head arriving in
// pieces, after an idle pause, and after two requests.
func TestUpgradeAfterKeepAliveRequest(t *testing.T) {
	ts := startServer(t, Config{HTTPHandler: func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "%s %s body=%s", ctx.Method(), ctx.Path(), ctx.PostBody())
	}})
	for _, tc := range []struct {
		name     string
		requests int
		split    bool
	}{
		{"one request", 1, false},
		{"two requests", 2, false},
		{"head in pieces", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", ts.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			for i := 0; i < tc.requests; i++ {
				io.WriteString(c, "POST /api/info HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "POST /api/info body={}" || resp.Close {
					t.Fatalf("API response %d %q close=%v", resp.StatusCode, b, resp.Close)
				}
			}
			head := upgradeHead("")
			if tc.split {
				// The request line in two writes, then the rest.
				io.WriteString(c, head[:10])
				time.Sleep(20 * time.Millisecond)
				io.WriteString(c, head[10:40])
				time.Sleep(20 * time.Millisecond)
				io.WriteString(c, head[40:])
			} else {
				io.WriteString(c, head)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Fatalf("upgrade after keep-alive: %v %v", resp, err)
			}
			e := ts.session(t)
			if _, err := c.Write(cframe(true, ws.OpText, []byte(`{"id":1,"connect":{}}`))); err != nil {
				t.Fatal(err)
			}
			h, p := readServerFrame(t, br)
			if h.Op != ws.OpText || string(p) != `{"id":1,"connect":{}}` {
				t.Fatalf("echo %+v %q", h, p)
			}
			_ = c.Close()
			waitClosed(t, e)
		})
	}
	// A request for the WebSocket path that is no upgrade still gets 400 after a
	// keep-alive request.
	c, err := net.DialTimeout("tcp", ts.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("API: %v %v", resp, err)
	} else {
		_, _ = io.ReadAll(resp.Body)
	}
	io.WriteString(c, "GET /connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 400 {
		t.Fatalf("no upgrade: %v %v", resp, err)
	}
	// An upgrade pipelined behind an API request (sent before its response) is
	// read by fasthttp, which cannot upgrade: 400, and the connection closes
	// instead of reading the frames that may follow as requests.
	c2, err := net.DialTimeout("tcp", ts.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c2, "GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n"+upgradeHead("")+"\x81\x80abcd")
	br2 := bufio.NewReader(c2)
	for _, want := range []int{200, 400} {
		resp, err := http.ReadResponse(br2, nil)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("pipelined: %v %v, want %d", resp, err, want)
		}
		_, _ = io.ReadAll(resp.Body)
	}
	if b, err := br2.ReadByte(); err != io.EOF {
		t.Fatalf("after the pipelined upgrade: %q %v, want EOF", b, err)
	}
}

func closeErr(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read error %v, want a close frame", err)
		}
		return ce
	}
}

func TestMessageTooBig(t *testing.T) {
	ts := startServer(t, Config{MessageSizeLimit: 1024})
	t.Run("one frame", func(t *testing.T) {
		c := dial(t, ts.url+"/connection/websocket")
		e := ts.session(t)
		if err := c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte{'a'}, 1024)); err != nil {
			t.Fatal(err)
		}
		if _, got := readMsg(t, c); len(got) != 1024 {
			t.Fatal("message at the limit not echoed")
		}
		if err := c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte{'a'}, 200000)); err != nil {
			t.Fatal(err)
		}
		if ce := closeErr(t, c); ce.Code != 1009 {
			t.Fatalf("close code %d", ce.Code)
		}
		waitClosed(t, e)
	})
	t.Run("fragments", func(t *testing.T) {
		c := dial(t, ts.url+"/connection/websocket")
		e := ts.session(t)
		raw := c.UnderlyingConn()
		frames := cat(cframe(false, ws.OpText, bytes.Repeat([]byte{'a'}, 600)),
			cframe(true, ws.OpContinuation, bytes.Repeat([]byte{'b'}, 600)))
		if _, err := raw.Write(frames); err != nil {
			t.Fatal(err)
		}
		if ce := closeErr(t, c); ce.Code != 1009 {
			t.Fatalf("close code %d", ce.Code)
		}
		waitClosed(t, e)
	})
}

func TestServerCloseDeliversCodeAndReason(t *testing.T) {
	ts := startServer(t, Config{})
	c := dial(t, ts.url+"/connection/websocket")
	e := ts.session(t)
	if err := c.WriteMessage(websocket.TextMessage, []byte("close:4001:custom reason")); err != nil {
		t.Fatal(err)
	}
	if _, got := readMsg(t, c); got != "bye" {
		t.Fatalf("got %q before close", got)
	}
	ce := closeErr(t, c)
	if ce.Code != 4001 || ce.Text != "custom reason" {
		t.Fatalf("close %d %q", ce.Code, ce.Text)
	}
	waitClosed(t, e)
	if err := e.t.Enqueue([]byte("late")); !errors.Is(err, engine.ErrTransportClosed) {
		t.Fatalf("enqueue after close: %v", err)
	}
	e.t.Close(engine.DisconnectShutdown) // idempotent
	// A second OnClose would be queued on a worker by now: once every worker has
	// run what was queued before the barrier, the count is final.
	ts.syncWorkers(t)
	if n := e.closes.Load(); n != 1 {
		t.Fatalf("OnClose called %d times", n)
	}
}

func TestSlowCloseDropsQueue(t *testing.T) {
	ts := startServer(t, Config{})
	c := dial(t, ts.url+"/connection/websocket")
	e := ts.session(t)
	if err := c.WriteMessage(websocket.TextMessage, []byte("slow")); err != nil {
		t.Fatal(err)
	}
	// The close frame must come first: the queued "x" is dropped.
	ce := closeErr(t, c)
	if ce.Code != 3008 || ce.Text != "slow" {
		t.Fatalf("close %d %q", ce.Code, ce.Text)
	}
	waitClosed(t, e)
}

func TestClientCloseIsEchoed(t *testing.T) {
	ts := startServer(t, Config{})
	c := dial(t, ts.url+"/connection/websocket")
	e := ts.session(t)
	msg := websocket.FormatCloseMessage(4321, "client bye")
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	ce := closeErr(t, c)
	if ce.Code != 4321 {
		t.Fatalf("echoed code %d", ce.Code)
	}
	waitClosed(t, e)
	// The server closed TCP after echoing.
	_ = c.UnderlyingConn().SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.UnderlyingConn().Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open")
	}
}

func TestPingPong(t *testing.T) {
	ts := startServer(t, Config{})
	c := dial(t, ts.url+"/connection/websocket")
	pongs := make(chan string, 4)
	c.SetPongHandler(func(s string) error { pongs <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("abc"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("after ping")); err != nil {
		t.Fatal(err)
	}
	if _, got := readMsg(t, c); got != "after ping" {
		t.Fatalf("got %q", got)
	}
	// The pong may follow the data frame in the same write: the echo of a later
	// message comes after it, so reading that echo runs the pong handler.
	if err := c.WriteMessage(websocket.TextMessage, []byte("sync")); err != nil {
		t.Fatal(err)
	}
	if _, got := readMsg(t, c); got != "sync" {
		t.Fatalf("got %q", got)
	}
	select {
	case p := <-pongs:
		if p != "abc" {
			t.Fatalf("pong %q", p)
		}
	default:
		t.Fatal("no pong before the next data frame")
	}
}

// rawWS opens a raw TCP connection and completes an upgrade by hand.
func rawWS(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, upgradeHead("")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return c, br
}

// readServerFrame reads one unmasked server frame.
func readServerFrame(t *testing.T, br *bufio.Reader) (ws.Header, []byte) {
	t.Helper()
	var buf []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		buf = append(buf, b)
		h, n, err := ws.ParseHeader(buf)
		if err == ws.ErrIncomplete {
			continue
		}
		if err != nil || h.Masked || n != len(buf) {
			t.Fatalf("bad server frame: %v %+v", err, h)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		return h, p
	}
}

func TestProtocolErrors(t *testing.T) {
	ts := startServer(t, Config{})
	tests := []struct {
		name  string
		frame []byte
	}{
		{"unmasked", cframeKey(true, ws.OpText, []byte("x"), [4]byte{}, false)},
		{"reserved bits", []byte{0xC1, 0x80, 1, 2, 3, 4}},
		{"reserved opcode", []byte{0x83, 0x80, 1, 2, 3, 4}},
		{"bad close code", cframe(true, ws.OpClose, []byte{0x03, 0xED})},
		{"continuation first", cframe(true, ws.OpContinuation, []byte("x"))},
		{"long ping", cframe(true, ws.OpPing, make([]byte, 126))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := rawWS(t, ts.Addr().String())
			e := ts.session(t)
			// A good frame first, to check it is still served.
			if _, err := c.Write(cat(cframe(true, ws.OpText, []byte("ok")), tt.frame)); err != nil {
				t.Fatal(err)
			}
			h, p := readServerFrame(t, br)
			if h.Op != ws.OpText || string(p) != "ok" {
				t.Fatalf("first frame %+v %q", h, p)
			}
			h, p = readServerFrame(t, br)
			code, _, err := ws.ParseClose(p)
			if h.Op != ws.OpClose || err != nil || code != 1002 {
				t.Fatalf("close frame %+v %x", h, p)
			}
			// The server half-closed: it waits for our close, then closes TCP.
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after close: %v", err)
			}
			// Frame boundaries are lost after a protocol error: the server waits for
			// TCP to close (or CloseTimeout).
			_ = c.Close()
			waitClosed(t, e)
		})
	}
}

// TestInvalidUTF8 sends text that is not UTF-8 over a real socket: the server must
// fail the connection with 1007 (RFC 6455 §8.1), after serving what came before.
func TestInvalidUTF8(t *testing.T) {
	ts := startServer(t, Config{})
	tests := []struct {
		name   string
		frames []byte
	}{
		{"text", cframe(true, ws.OpText, []byte{'{', 0xFF, '}'})},
		{"fragmented text", cat(cframe(false, ws.OpText, []byte("ab")), cframe(true, ws.OpPing, nil),
			cframe(true, ws.OpContinuation, []byte{'c', 0xED, 0xA0, 0x80}))},
		{"text ending inside a character", cat(cframe(false, ws.OpText, []byte("ab")),
			cframe(true, ws.OpContinuation, []byte{0xE2, 0x9C}))},
		{"close reason", cframe(true, ws.OpClose, []byte{0x03, 0xE8, 'b', 0xC3, 0x28})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := rawWS(t, ts.Addr().String())
			e := ts.session(t)
			// A valid message split inside a character first: it is served.
			good := cat(cframe(false, ws.OpText, []byte{'o', 0xE2}), cframe(true, ws.OpContinuation, []byte{0x9C, 0x93}))
			if _, err := c.Write(cat(good, tt.frames)); err != nil {
				t.Fatal(err)
			}
			h, p := readServerFrame(t, br)
			if h.Op != ws.OpText || string(p) != "o✓" {
				t.Fatalf("first frame %+v %q", h, p)
			}
			h, p = readServerFrame(t, br)
			if h.Op == ws.OpPong {
				h, p = readServerFrame(t, br)
			}
			code, _, err := ws.ParseClose(p)
			if h.Op != ws.OpClose || err != nil || code != ws.CloseInvalidPayload {
				t.Fatalf("close frame %+v %x, want code 1007", h, p)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after close: %v", err)
			}
			_ = c.Close()
			waitClosed(t, e)
		})
	}
}

func TestBatching(t *testing.T) {
	ts := startServer(t, Config{})
	for _, proto := range []string{"centrifuge-json", "centrifuge-protobuf"} {
		t.Run(proto, func(t *testing.T) {
			c := dial(t, ts.url+"/connection/websocket", proto)
			ts.session(t)
			const n = 500
			if err := c.WriteMessage(websocket.TextMessage, []byte("burst:"+strconv.Itoa(n))); err != nil {
				t.Fatal(err)
			}
			// Everything enqueued in one HandleFrame leaves in one frame.
			typ, got := readMsg(t, c)
			var want bytes.Buffer
			for i := 0; i < n; i++ {
				m := fmt.Sprintf("m%d", i)
				if proto == "centrifuge-json" {
					if i > 0 {
						want.WriteByte('\n')
					}
				} else {
					want.WriteByte(byte(len(m)))
				}
				want.WriteString(m)
			}
			wantType := websocket.TextMessage
			if proto == "centrifuge-protobuf" {
				wantType = websocket.BinaryMessage
			}
			if typ != wantType || got != want.String() {
				t.Fatalf("type %d, got %d bytes, want %d", typ, len(got), want.Len())
			}
		})
	}
}

func TestBatchingFromOtherGoroutines(t *testing.T) {
	ts := startServer(t, Config{})
	c := dial(t, ts.url+"/connection/websocket")
	e := ts.session(t)
	const writers, per = 4, 2000
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := e.t.Enqueue(fmt.Appendf(nil, "w%d-%d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	frames, msgs := 0, 0
	for msgs < writers*per {
		_, got := readMsg(t, c)
		frames++
		for _, m := range strings.Split(got, "\n") {
			var w, i int
			if _, err := fmt.Sscanf(m, "w%d-%d", &w, &i); err != nil || i != next[w] {
				t.Fatalf("message %q out of order (next %v)", m, next)
			}
			next[w]++
			msgs++
		}
	}
	wg.Wait()
	t.Logf("%d messages in %d frames", msgs, frames)
}

func TestQueueLimit(t *testing.T) {
	ts := startServer(t, Config{QueueMaxSize: 1000})
	c := dial(t, ts.url+"/connection/websocket")
	e := ts.session(t)
	// burst enqueues inside HandleFrame, so nothing is flushed until it returns: the
	// queue fills up deterministically ("m0".."m99" with separators is 389 bytes).
	if err := c.WriteMessage(websocket.TextMessage, []byte("big:1000")); err != nil {
		t.Fatal(err)
	}
	if err := <-e.errs; err != nil {
		t.Fatalf("exactly the limit: %v", err)
	}
	if _, got := readMsg(t, c); len(got) != 1000 {
		t.Fatalf("got %d bytes", len(got))
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("big:1001")); err != nil {
		t.Fatal(err)
	}
	if err := <-e.errs; !errors.Is(err, engine.ErrSlowConsumer) {
		t.Fatalf("over the limit: %v", err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("burst:300")); err != nil {
		t.Fatal(err)
	}
	if err := <-e.errs; !errors.Is(err, engine.ErrSlowConsumer) {
		t.Fatalf("burst over the limit: %v", err)
	}
}

func TestWriteTimeoutClosesConnection(t *testing.T) {
	ts := startServer(t, Config{WriteTimeout: 200 * time.Millisecond, QueueMaxSize: 4 << 20})
	c := dial(t, ts.url+"/connection/websocket")
	e := ts.session(t)
	_ = c // the client never reads
	msg := bytes.Repeat([]byte{'q'}, 256<<10)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		err := e.t.Enqueue(msg)
		if errors.Is(err, engine.ErrTransportClosed) {
			break
		}
		if errors.Is(err, engine.ErrSlowConsumer) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitClosed(t, e)
}

func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, Config{HandshakeTimeout: 200 * time.Millisecond})
	for _, sent := range []string{"", "GET /connection/websocket HTTP/1.1\r\nHost: x\r\n"} {
		c, err := net.Dial("tcp", ts.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, sent)
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		if err == nil || time.Since(start) > 3*time.Second {
			t.Fatalf("sent %q: err %v after %v", sent, err, time.Since(start))
		}
		c.Close()
	}
}

func TestReadTimeoutInsideFrame(t *testing.T) {
	ts := startServer(t, Config{ReadTimeout: 200 * time.Millisecond})
	c, br := rawWS(t, ts.Addr().String())
	e := ts.session(t)
	f := cframe(true, ws.OpText, []byte("hello"))
	if _, err := c.Write(f[:4]); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("connection not closed")
	}
	waitClosed(t, e)
}

func TestSplitFramesAcrossWrites(t *testing.T) {
	ts := startServer(t, Config{})
	c, br := rawWS(t, ts.Addr().String())
	ts.session(t)
	in := cat(cframe(false, ws.OpText, []byte("hel")), cframe(true, ws.OpPing, []byte("p")),
		cframe(true, ws.OpContinuation, []byte("lo")), cframe(true, ws.OpBinary, bytes.Repeat([]byte{'z'}, 3000)))
	for i := 0; i < len(in); i += 7 {
		if _, err := c.Write(in[i:min(i+7, len(in))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	var got []string
	for len(got) < 3 {
		h, p := readServerFrame(t, br)
		got = append(got, fmt.Sprintf("%d:%d", h.Op, len(p)))
	}
	// The pong may come before or after "hello"; the data order is fixed.
	joined := strings.Join(got, ",")
	if joined != "10:1,1:5,1:3000" && joined != "1:5,10:1,1:3000" {
		t.Fatalf("frames %s", joined)
	}
}

func TestIdleConnectionsHoldNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ts := startServer(t, Config{})
	// Warm up runners and workers.
	for i := 0; i < 10; i++ {
		c := dial(t, ts.url+"/connection/websocket")
		ts.session(t)
		_ = c.WriteMessage(websocket.TextMessage, []byte("hi"))
		readMsg(t, c)
	}
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 1000
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, br := rawWS(t, ts.Addr().String())
		_ = c.SetDeadline(time.Time{})
		_ = br
		conns = append(conns, c)
		ts.session(t)
	}
	// Send one message on each, read the echo, then let them idle.
	for _, c := range conns {
		if _, err := c.Write(cframe(true, ws.OpText, []byte("ping"))); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 6)
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	// Runners end once their input is consumed: wait (bounded) for the count to
	// come down rather than sleeping a fixed time.
	var after int
	var perConn float64
	for deadline := time.Now().Add(5 * time.Second); ; {
		after = runtime.NumGoroutine()
		perConn = float64(after-before) / n
		if perConn <= 0.02 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("goroutines: %d before, %d with %d idle connections (%.3f per connection)", before, after, n, perConn)
	if perConn > 0.02 {
		t.Fatalf("%.3f goroutines per idle connection", perConn)
	}
}

func TestConcurrentEnqueueWhileClientsClose(t *testing.T) {
	ts := startServer(t, Config{QueueMaxSize: 64 << 10})
	const clients = 20
	var wg sync.WaitGroup
	var sessions []*echoSession
	for i := 0; i < clients; i++ {
		c := dial(t, ts.url+"/connection/websocket")
		e := ts.session(t)
		sessions = append(sessions, e)
		stop := make(chan struct{})
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := []byte(`{"push":{"channel":"news","pub":{"data":{"x":1}}}}`)
				for {
					select {
					case <-stop:
						return
					default:
					}
					err := e.t.Enqueue(msg)
					if errors.Is(err, engine.ErrTransportClosed) {
						return
					}
					if errors.Is(err, engine.ErrSlowConsumer) {
						e.t.Close(engine.DisconnectSlow)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(stop)
			// Read a little, then close abruptly or politely, or let the server close.
			for j := 0; j < i%5; j++ {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, _, err := c.ReadMessage(); err != nil {
					break
				}
			}
			switch i % 3 {
			case 0:
				_ = c.Close()
			case 1:
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
				_ = c.Close()
			case 2:
				e.t.Close(engine.DisconnectForceReconnect)
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	for _, e := range sessions {
		waitClosed(t, e)
	}
	ts.syncWorkers(t)
	for i, e := range sessions {
		if n := e.closes.Load(); n != 1 {
			t.Fatalf("session %d: OnClose %d times", i, n)
		}
	}
}

func TestShutdown(t *testing.T) {
	s, err := Listen(Config{Address: "127.0.0.1:0", Accept: func(tr engine.Transport, r *UpgradeRequest) Session {
		return newEcho(tr, r)
	}})
	if err != nil {
		t.Fatal(err)
	}
	var accepted []engine.Transport
	var mu sync.Mutex
	s.cfg.Accept = func(tr engine.Transport, r *UpgradeRequest) Session {
		mu.Lock()
		accepted = append(accepted, tr)
		mu.Unlock()
		return newEcho(tr, r)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	url := "ws://" + s.Addr().String() + "/connection/websocket"
	c := dial(t, url)
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	readMsg(t, c)
	// An idle keep-alive HTTP connection is closed by Shutdown.
	hc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	io.WriteString(hc, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	hbr := bufio.NewReader(hc)
	resp, err := http.ReadResponse(hbr, nil)
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("http: %v %v", resp, err)
	}
	_, _ = io.ReadAll(resp.Body)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting")
	}
	// The existing WebSocket still works until the engine disconnects it.
	if err := c.WriteMessage(websocket.TextMessage, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, got := readMsg(t, c); got != "still" {
		t.Fatal(got)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned early: %v", err)
	default:
	}
	mu.Lock()
	for _, tr := range accepted {
		tr.Close(engine.DisconnectShutdown)
	}
	mu.Unlock()
	if ce := closeErr(t, c); ce.Code != 3001 || ce.Text != "shutdown" {
		t.Fatalf("close %d %q", ce.Code, ce.Text)
	}
	_ = c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	_ = hc.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := hbr.ReadByte(); err == nil {
		t.Fatal("idle HTTP connection not closed")
	}
}

// TestShutdownClosesUnfinishedHeads: connections that have not sent a whole request
// head (new ones for either path, and a keep-alive one between requests) hold no
// request Shutdown must wait for: it closes them at once instead of waiting for the
// handshake or read timeouts.
func TestShutdownClosesUnfinishedHeads(t *testing.T) {
	s, err := Listen(Config{Address: "127.0.0.1:0", Accept: func(tr engine.Transport, r *UpgradeRequest) Session {
		return newEcho(tr, r)
	}})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	dialSend := func(data string) net.Conn {
		c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, data); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// A keep-alive connection: a whole request first (its answer shows the server
	// has read it), then half of the next head.
	keep := dialSend("GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n")
	kbr := bufio.NewReader(keep)
	resp, err := http.ReadResponse(kbr, nil)
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	_, _ = io.ReadAll(resp.Body)
	io.WriteString(keep, "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-")
	conns := []struct {
		name string
		c    net.Conn
		br   *bufio.Reader
	}{
		{"websocket head", dialSend("GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgr"), nil},
		{"API head", dialSend("POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Len"), nil},
		{"request line", dialSend("GET /conn"), nil},
		{"nothing sent", dialSend(""), nil},
		{"keep-alive, next head", keep, kbr},
	}
	// Shutdown must find them all accepted (the keep-alive one is, and its second
	// head may still be on its way: it is closed either way).
	for s.live.Load() < int64(len(conns)) {
		runtime.Gosched()
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Shutdown waits for connections without a whole request head")
	}
	t.Logf("Shutdown took %v", time.Since(start))
	for _, tc := range conns {
		br := tc.br
		if br == nil {
			br = bufio.NewReader(tc.c)
		}
		// Closed without an answer: EOF (or a reset) and no bytes.
		if b, err := br.ReadByte(); err == nil {
			t.Errorf("%s: read %q, want the connection closed", tc.name, b)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: still open", tc.name)
		}
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestShutdownDeadlineForcesClose(t *testing.T) {
	var sess atomic.Pointer[echoSession]
	s, err := Listen(Config{Address: "127.0.0.1:0", Accept: func(tr engine.Transport, r *UpgradeRequest) Session {
		e := newEcho(tr, r)
		sess.Store(e)
		return e
	}})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	c := dial(t, "ws://"+s.Addr().String()+"/connection/websocket")
	_ = c.WriteMessage(websocket.TextMessage, []byte("hi"))
	readMsg(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	waitClosed(t, sess.Load())
	if err := s.Serve(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

// TestBackpressureIntegrity fills the socket so sends fall back to netpoll's
// Writer, and checks every byte arrives in order, followed by the close frame.
func TestBackpressureIntegrity(t *testing.T) {
	ts := startServer(t, Config{QueueMaxSize: 4 << 20, WriteTimeout: 10 * time.Second})
	c := dial(t, ts.url+"/connection/websocket")
	e := ts.session(t)
	const total = 3000
	pad := strings.Repeat("p", 10<<10)
	go func() {
		for i := 0; i < total; i++ {
			msg := []byte(fmt.Sprintf("%d:%s", i, pad))
			for {
				err := e.t.Enqueue(msg)
				if err == nil {
					break
				}
				if !errors.Is(err, engine.ErrSlowConsumer) {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
		e.t.Close(engine.DisconnectForceReconnect)
	}()
	// Let the socket fill up before reading, so the stalled writer takes over.
	bc := e.t.(*conn)
	for deadline := time.Now().Add(10 * time.Second); bc.stallCount() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the socket never filled")
		}
		time.Sleep(time.Millisecond)
	}
	next := 0
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 3011 {
				t.Fatalf("after %d messages: %v", next, err)
			}
			break
		}
		for _, m := range strings.Split(string(p), "\n") {
			i, rest, ok := strings.Cut(m, ":")
			if !ok || i != strconv.Itoa(next) || rest != pad {
				t.Fatalf("message %d corrupt (got index %q, %d bytes)", next, i, len(rest))
			}
			next++
		}
	}
	if next != total {
		t.Fatalf("got %d of %d messages", next, total)
	}
	waitClosed(t, e)
}

func TestShutdownStopsGoroutines(t *testing.T) {
	// Warm up netpoll's pollers (global) with a first server.
	func() {
		ts := startServer(t, Config{})
		c := dial(t, ts.url+"/connection/websocket")
		_ = c.Close()
		waitClosed(t, ts.session(t))
	}()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	s, err := Listen(Config{Address: "127.0.0.1:0", FlushWorkers: 3, Accept: func(tr engine.Transport, r *UpgradeRequest) Session {
		return newEcho(tr, r)
	}})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	c := dial(t, "ws://"+s.Addr().String()+"/connection/websocket")
	_ = c.WriteMessage(websocket.TextMessage, []byte("hi"))
	readMsg(t, c)
	_ = c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	var after int
	for i := 0; i < 50; i++ {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("goroutines: %d before, %d after Shutdown\n%s", before, after, buf[:runtime.Stack(buf, true)])
}

func TestAdmitRejectsWith503(t *testing.T) {
	ts := startServer(t, Config{Admit: func() bool { return false }})
	got := rawRequest(t, ts.Addr().String(), upgradeHead(""))
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Fatalf("got %q, want 503", got)
	}
}
