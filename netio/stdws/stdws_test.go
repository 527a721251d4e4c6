package stdws

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/broker/memory"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio"
)

// selfSigned returns a server TLS config with a fresh certificate for
// 127.0.0.1 and a client config trusting it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stdws test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}},
		&tls.Config{RootCAs: pool}
}

type testServer struct {
	node   *engine.Node
	srv    *Server
	client *tls.Config
	url    string
}

// start runs a real engine node behind a TLS stdws server; /api/ping answers
// "pong" through the HTTP handler.
func start(t *testing.T, cfg Config) *testServer {
	t.Helper()
	m := memory.New()
	node, err := engine.New(engine.Config{Insecure: true, PingInterval: -1, Broker: m, PresenceManager: m, Controller: m}, nil)
	if err != nil {
		t.Fatal(err)
	}
	node.Run()
	serverTLS, clientTLS := selfSigned(t)
	cfg.Address = "127.0.0.1:0"
	cfg.TLS = serverTLS
	cfg.Admit = node.Admit
	cfg.Accept = func(tr engine.Transport, r *netio.UpgradeRequest) netio.Session { return node.NewClient(tr, nil) }
	cfg.HTTPServer = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/api/ping" {
			ctx.SetBodyString("pong")
			return
		}
		ctx.Error("404 page not found", fasthttp.StatusNotFound)
	}}
	srv, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testServer{node: node, srv: srv, client: clientTLS, url: "wss://" + srv.Addr().String() + "/connection/websocket"}
}

func (ts *testServer) dial(t *testing.T, compress bool, h http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: ts.client, HandshakeTimeout: 5 * time.Second, EnableCompression: compress}
	c, resp, err := d.Dial(ts.url, h)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	t.Cleanup(func() { _ = c.Close() })
	if compress != (resp.Header.Get("Sec-WebSocket-Extensions") != "") {
		t.Fatalf("Sec-WebSocket-Extensions %q with compress=%v", resp.Header.Get("Sec-WebSocket-Extensions"), compress)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

func (ts *testServer) subscribe(t *testing.T, c *websocket.Conn, channel string) {
	t.Helper()
	mt := websocket.TextMessage
	if err := c.WriteMessage(mt, []byte(`{"id":1,"connect":{}}`+"\n"+`{"id":2,"subscribe":{"channel":"`+channel+`"}}`)); err != nil {
		t.Fatal(err)
	}
	for got := ""; !strings.Contains(got, `"id":2`); {
		_, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		if strings.Contains(string(p), `"error"`) {
			t.Fatalf("subscribe: %s", p)
		}
		got += string(p)
	}
}

// closeCode reads until the close frame and returns its code.
func closeCode(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
	}
}

func waitClients(t *testing.T, node *engine.Node, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := int(node.Info()[0].NumClients)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clients, want %d", n, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPublishOverTLS(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run("compress="+map[bool]string{false: "off", true: "on"}[compress], func(t *testing.T) {
			ts := start(t, Config{Compression: true, CompressionLevel: 1, CompressionMinSize: 10})
			c := ts.dial(t, compress, nil)
			ts.subscribe(t, c, "news")
			for _, data := range []string{`{"a":1}`, `{"long":"` + strings.Repeat("abc", 3000) + `"}`} {
				if _, err := ts.node.Publish("news", []byte(data), engine.PublishOptions{}); err != nil {
					t.Fatal(err)
				}
				_, p, err := c.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if want := `{"push":{"channel":"news","pub":{"data":` + data + `}}}`; string(p) != want {
					t.Fatalf("got %.100q", p)
				}
			}
		})
	}
}

func TestProtobufSubprotocol(t *testing.T) {
	ts := start(t, Config{})
	d := websocket.Dialer{TLSClientConfig: ts.client, Subprotocols: []string{"centrifuge-protobuf"}}
	c, resp, err := d.Dial(ts.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp.Header.Get("Sec-WebSocket-Protocol") != "centrifuge-protobuf" {
		t.Fatalf("subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	// A protobuf connect command: varint length, then field 4 (connect) empty,
	// field 1 id=1.
	cmd := []byte{4, 0x08, 0x01, 0x22, 0x00}
	if err := c.WriteMessage(websocket.BinaryMessage, cmd); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, p, err := c.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage || len(p) < 4 {
		t.Fatalf("reply %v %d %x", err, mt, p)
	}
}

func TestHTTPOnSamePort(t *testing.T) {
	ts := start(t, Config{})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ts.client}, Timeout: 5 * time.Second}
	resp, err := hc.Get("https://" + ts.srv.Addr().String() + "/api/ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "pong" {
		t.Fatalf("body %q", body)
	}
	for _, tt := range []struct {
		name   string
		method string
		h      http.Header
		want   int
	}{
		{"not an upgrade", "GET", http.Header{}, 400},
		{"post", "POST", http.Header{}, 405},
		{"version", "GET", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"8"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}, 426},
		{"origin", "GET", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Origin": {"https://evil.example"}}, 403},
	} {
		req, _ := http.NewRequest(tt.method, "https://"+ts.srv.Addr().String()+"/connection/websocket", nil)
		req.Header = tt.h
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: HTTP %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}

func TestPingPongAndPeerClose(t *testing.T) {
	ts := start(t, Config{})
	c := ts.dial(t, false, nil)
	ts.subscribe(t, c, "news")
	pong := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = c.ReadMessage() }()
	select {
	case s := <-pong:
		if s != "hi" {
			t.Fatalf("pong %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	waitClients(t, ts.node, 1)
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	waitClients(t, ts.node, 0)
}

func TestCloseCodes(t *testing.T) {
	t.Run("bad command 3501", func(t *testing.T) {
		ts := start(t, Config{})
		c := ts.dial(t, false, nil)
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,`))
		if code := closeCode(t, c); code != 3501 {
			t.Fatalf("close %d", code)
		}
		waitClients(t, ts.node, 0)
	})
	t.Run("too big 1009", func(t *testing.T) {
		ts := start(t, Config{MessageSizeLimit: 1000})
		c := ts.dial(t, false, nil)
		_ = c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 1001)))
		if code := closeCode(t, c); code != 1009 {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("inflated too big 1009", func(t *testing.T) {
		ts := start(t, Config{MessageSizeLimit: 1000, Compression: true})
		c := ts.dial(t, true, nil)
		c.EnableWriteCompression(true)
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{"data":"`+strings.Repeat("x", 10001)+`"}}`))
		if code := closeCode(t, c); code != 1009 {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("invalid utf-8 1007", func(t *testing.T) {
		ts := start(t, Config{})
		c := ts.dial(t, false, nil)
		_ = c.WriteMessage(websocket.TextMessage, []byte{0xff, 0xfe})
		if code := closeCode(t, c); code != 1007 {
			t.Fatalf("close %d", code)
		}
	})
}

// closeWatch is a transport that reports the engine's Close calls.
type closeWatch struct {
	engine.Transport
	closed chan engine.Disconnect
}

func (w *closeWatch) Close(d engine.Disconnect) {
	select {
	case w.closed <- d:
	default:
	}
	w.Transport.Close(d)
}

// TestSlowConsumer: a client that stops reading is disconnected with 3008 once
// its queue passes client.queue_max_size (the write timeout is long here); the
// close frame follows once the client reads again.
func TestSlowConsumer(t *testing.T) {
	closed := make(chan engine.Disconnect, 1)
	ts := start(t, Config{QueueMaxSize: 256 << 10, WriteTimeout: time.Minute})
	accept := ts.srv.cfg.Accept
	ts.srv.cfg.Accept = func(tr engine.Transport, r *netio.UpgradeRequest) netio.Session {
		return accept(&closeWatch{Transport: tr, closed: closed}, r)
	}
	c := ts.dial(t, false, nil)
	ts.subscribe(t, c, "news")
	data := []byte(`"` + strings.Repeat("x", 60<<10) + `"`)
	deadline := time.Now().Add(20 * time.Second)
	for done := false; !done; {
		select {
		case d := <-closed:
			if d.Code != 3008 {
				t.Fatalf("disconnect %d, want 3008", d.Code)
			}
			done = true
		default:
			if time.Now().After(deadline) {
				t.Fatal("slow consumer not disconnected")
			}
			if _, err := ts.node.Publish("news", data, engine.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if code := closeCode(t, c); code != 3008 {
		t.Fatalf("close %d, want 3008", code)
	}
	waitClients(t, ts.node, 0)
}

// TestWriteTimeout: a write that cannot finish within websocket.write_timeout
// closes the connection.
func TestWriteTimeout(t *testing.T) {
	ts := start(t, Config{QueueMaxSize: 64 << 20, WriteTimeout: 200 * time.Millisecond})
	c := ts.dial(t, false, nil)
	ts.subscribe(t, c, "news")
	data := []byte(`"` + strings.Repeat("y", 200<<10) + `"`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ts.node.Info()[0].NumClients == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stalled writer not closed by the write timeout (live %d, clients %d)", ts.srv.live(), ts.node.Info()[0].NumClients)
		}
		_, _ = ts.node.Publish("news", data, engine.PublishOptions{})
		time.Sleep(5 * time.Millisecond)
	}
}

// blockingSession blocks in HandleFrame until PeerGone, like a session waiting
// on a connect proxy call.
type blockingSession struct {
	entered, gone, closed chan struct{}
}

func (b *blockingSession) HandleFrame([]byte) bool {
	close(b.entered)
	<-b.gone
	return false
}
func (b *blockingSession) PeerGone() { close(b.gone) }
func (b *blockingSession) OnClose()  { close(b.closed) }

// TestPeerGoneWhileHandling: the client hangs up while HandleFrame blocks; the
// session hears PeerGone (and then OnClose) without waiting for the handler.
func TestPeerGoneWhileHandling(t *testing.T) {
	ts := start(t, Config{})
	bs := &blockingSession{entered: make(chan struct{}), gone: make(chan struct{}), closed: make(chan struct{})}
	ts.srv.cfg.Accept = func(engine.Transport, *netio.UpgradeRequest) netio.Session { return bs }
	c := ts.dial(t, false, nil)
	_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{}}`))
	for _, step := range []struct {
		ch   chan struct{}
		what string
	}{{bs.entered, "HandleFrame"}, {nil, ""}, {bs.gone, "PeerGone"}, {bs.closed, "OnClose"}} {
		if step.ch == nil {
			_ = c.NetConn().Close()
			continue
		}
		select {
		case <-step.ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s", step.what)
		}
	}
}

// TestShutdownClosesUnfinishedHeads: connections that never complete a request
// head do not hold Shutdown up.
func TestShutdownClosesUnfinishedHeads(t *testing.T) {
	ts := start(t, Config{})
	var conns []*tls.Conn
	for _, half := range []string{"GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgr", "POST /api/ping HTTP/1.1\r\nContent-Le"} {
		c, err := tls.Dial("tcp", ts.srv.Addr().String(), ts.client)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, half)
		conns = append(conns, c)
	}
	// A complete request on a later connection: the earlier ones were accepted
	// and are being read.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ts.client}}
	if resp, err := hc.Get("https://" + ts.srv.Addr().String() + "/api/ping"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v after %v", err, time.Since(start))
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || n > 0 {
			t.Fatalf("connection still open: %d %v", n, err)
		}
	}
}
