package stdws

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio"
)

// uniServer starts a TLS stdws server with uni_websocket on its default path;
// the engine clients it accepts are sent on the returned channel.
func uniServer(t *testing.T, cfg Config) (*testServer, chan *engine.Client) {
	t.Helper()
	cfg.UniWebSocketPath = "/connection/uni_websocket"
	ts := start(t, cfg)
	clients := make(chan *engine.Client, 4)
	accept := ts.srv.cfg.Accept
	ts.srv.cfg.Accept = func(tr engine.Transport, r *netio.UpgradeRequest) netio.Session {
		sess := accept(tr, r)
		if c, ok := sess.(*engine.Client); ok {
			clients <- c
		}
		return sess
	}
	ts.url = strings.Replace(ts.url, "/connection/websocket", "/connection/uni_websocket", 1)
	return ts, clients
}

func (ts *testServer) dialUni(t *testing.T, query string, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: ts.client, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(ts.url+query, h)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	return c, resp, err
}

func readMsg(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	mt, p, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if mt != websocket.TextMessage {
		t.Fatalf("message type %d, want text", mt)
	}
	return string(p)
}

// TestUniWebSocket: the connect request in cf_connect or as the first message,
// no subprotocol even when offered, a bare connect push, bare publications one
// message each, later client messages ignored, and a disconnect push before the
// close frame with the same code.
func TestUniWebSocket(t *testing.T) {
	ts, clients := uniServer(t, Config{})
	req := `{"subs":{"news":{}}}`
	for _, viaQuery := range []bool{true, false} {
		q := ""
		if viaQuery {
			q = "?cf_connect=" + url.QueryEscape(req)
		}
		h := http.Header{"Sec-WebSocket-Protocol": {"centrifuge-protobuf"}}
		c, resp, err := ts.dialUni(t, q, h)
		if err != nil {
			t.Fatalf("dial: %v %v", err, resp)
		}
		if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "" {
			t.Fatalf("subprotocol %q chosen", p)
		}
		if !viaQuery {
			if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
				t.Fatal(err)
			}
		}
		if m := readMsg(t, c); !strings.HasPrefix(m, `{"connect":{`) {
			t.Fatalf("connect push %q", m)
		}
		client := <-clients
		waitSubs(t, ts.node, 1)
		// Later messages are ignored (a command would otherwise get a reply).
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":5,"presence":{"channel":"news"}}`)); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{`1`, `2`} {
			if _, err := ts.node.Publish("news", []byte(d), engine.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []string{`1`, `2`} {
			if m, want := readMsg(t, c), `{"channel":"news","pub":{"data":`+d+`}}`; m != want {
				t.Fatalf("push %q, want %q", m, want)
			}
		}
		client.Disconnect(engine.DisconnectForceReconnect)
		if m, want := readMsg(t, c), `{"disconnect":{"code":3011,"reason":"force reconnect"}}`; m != want {
			t.Fatalf("disconnect push %q, want %q", m, want)
		}
		if code := closeCode(t, c); code != 3011 {
			t.Fatalf("close %d, want 3011", code)
		}
		waitClients(t, ts.node, 0)
	}
}

// waitSubs waits until the node has want subscriptions: the engine joins a
// connect request's channels just after queuing the connect push, so a
// publication made as soon as the push arrives could come before the join.
func waitSubs(t *testing.T, node *engine.Node, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := int(node.Info()[0].NumSubs)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions, want %d", n, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUniWebSocketBadConnect: a cf_connect that is not a ConnectRequest is a 400;
// a bad first message closes with 3501.
func TestUniWebSocketBadConnect(t *testing.T) {
	ts, _ := uniServer(t, Config{})
	if _, resp, err := ts.dialUni(t, "?cf_connect=%7B", nil); err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("bad cf_connect: %v %v", err, resp)
	}
	c, resp, err := ts.dialUni(t, "", nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"subs":`)); err != nil {
		t.Fatal(err)
	}
	if code := closeCode(t, c); code != 3501 {
		t.Fatalf("close %d, want 3501", code)
	}
	waitClients(t, ts.node, 0)
}

// TestUniWebSocketOptions: join_push_messages joins pushes queued together with
// '\n'; disable_disconnect_push leaves only the close frame.
func TestUniWebSocketOptions(t *testing.T) {
	ts, clients := uniServer(t, Config{UniJoinPushMessages: true, UniDisableDisconnectPush: true})
	c, resp, err := ts.dialUni(t, "?cf_connect="+url.QueryEscape(`{"subs":{"news":{}}}`), nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	if m := readMsg(t, c); !strings.HasPrefix(m, `{"connect":{`) {
		t.Fatalf("connect push %q", m)
	}
	client := <-clients
	waitSubs(t, ts.node, 1)
	const n = 200
	for i := range n {
		if _, err := ts.node.Publish("news", []byte(strings.Repeat("1", i+1)), engine.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(got) < n {
		got = append(got, strings.Split(readMsg(t, c), "\n")...)
	}
	for i, m := range got {
		if want := `{"channel":"news","pub":{"data":` + strings.Repeat("1", i+1) + `}}`; m != want {
			t.Fatalf("push %d: %q, want %q", i, m, want)
		}
	}
	client.Disconnect(engine.DisconnectForceReconnect)
	_, p, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 3011 {
		t.Fatalf("after disconnect: %q %v, want the close frame 3011 only", p, err)
	}
}

// TestUniWebSocketPing: the app-level ping {} goes with a native ping frame
// when pushes go one message each.
func TestUniWebSocketPing(t *testing.T) {
	ts := start(t, Config{UniWebSocketPath: "/connection/uni_websocket"})
	transports := make(chan engine.Transport, 1)
	accept := ts.srv.cfg.Accept
	ts.srv.cfg.Accept = func(tr engine.Transport, r *netio.UpgradeRequest) netio.Session {
		transports <- tr
		return accept(tr, r)
	}
	ts.url = strings.Replace(ts.url, "/connection/websocket", "/connection/uni_websocket", 1)
	c, resp, err := ts.dialUni(t, "", nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	var pings atomic.Int32
	c.SetPingHandler(func(string) error { pings.Add(1); return nil })
	tr := <-transports
	if k, ok := tr.(engine.TransportKind); !ok || k.Name() != "uni_websocket" || !k.Unidirectional() {
		t.Fatalf("transport %T is not uni_websocket", tr)
	}
	if err := tr.Enqueue([]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Enqueue([]byte(`{"push":{"channel":"x","pub":{"data":1}}}`)); err != nil {
		t.Fatal(err)
	}
	if m := readMsg(t, c); m != `{}` {
		t.Fatalf("ping %q", m)
	}
	// The ping frame is handled while reading the next message.
	if m := readMsg(t, c); m != `{"channel":"x","pub":{"data":1}}` {
		t.Fatalf("push %q", m)
	}
	if pings.Load() != 1 {
		t.Fatalf("%d ping frames, want 1", pings.Load())
	}
}

// TestUniWebSocketMessageSizeLimit: uni_websocket.message_size_limit, not the
// websocket one, bounds the client's messages (1009 past it).
func TestUniWebSocketMessageSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		uniLimit, size int
		closed         bool
	}{{0, 2000, false}, {1000, 2000, true}} {
		ts, _ := uniServer(t, Config{MessageSizeLimit: 4000, UniMessageSizeLimit: tc.uniLimit})
		c, resp, err := ts.dialUni(t, "", nil)
		if err != nil {
			t.Fatalf("dial: %v %v", err, resp)
		}
		req := `{"name":"` + strings.Repeat("n", tc.size) + `"}`
		if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			t.Fatal(err)
		}
		_, p, err := c.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case tc.closed && (!errors.As(err, &ce) || ce.Code != 1009):
			t.Fatalf("limit %d, %d bytes: %q %v, want close 1009", tc.uniLimit, tc.size, p, err)
		case !tc.closed && (err != nil || !bytes.HasPrefix(p, []byte(`{"connect":`))):
			t.Fatalf("limit %d, %d bytes: %q %v, want the connect push", tc.uniLimit, tc.size, p, err)
		}
	}
}
