package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

// The HTTP transports (spec transports.md §5, §6) through a plain Go HTTP client:
// HTTP-streaming (JSON and Protobuf) and SSE with /emulation, uni_http_stream and
// uni_sse (also read by curl -N), the status codes and CORS headers, /emulation
// routed to the node holding the session through Redis, and the transport and
// protocol the connect proxy is told.

func streamConfig() harness.Config {
	return harness.DefaultConfig().
		Set("http_stream.enabled", true).
		Set("sse.enabled", true).
		Set("uni_sse.enabled", true).
		Set("uni_http_stream.enabled", true)
}

// stream is one streaming response read message by message.
type stream struct {
	t     *testing.T
	resp  *http.Response
	msgs  chan []byte
	errc  chan error // the reading error, after msgs is closed
	close context.CancelFunc
}

// openStream sends the request and reads its body as framing ("lines", "sse" or
// "protobuf") on a goroutine.
func openStream(t *testing.T, method, u, contentType string, body []byte, framing string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Origin", "http://page.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &stream{t: t, resp: resp, msgs: make(chan []byte, 100), errc: make(chan error, 1), close: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	go func() {
		defer close(s.msgs)
		br := bufio.NewReader(resp.Body)
		for {
			var msg []byte
			switch framing {
			case "protobuf":
				n, err := binary.ReadUvarint(br)
				if err != nil {
					s.errc <- err
					return
				}
				msg = make([]byte, n)
				if _, err := io.ReadFull(br, msg); err != nil {
					s.errc <- err
					return
				}
			default:
				line, err := br.ReadBytes('\n')
				if err != nil {
					s.errc <- err
					return
				}
				line = bytes.TrimRight(line, "\r\n")
				if framing == "sse" {
					if len(line) == 0 {
						continue
					}
					if !bytes.HasPrefix(line, []byte("data: ")) {
						s.errc <- io.ErrUnexpectedEOF
						return
					}
					line = line[len("data: "):]
				}
				msg = line
			}
			s.msgs <- msg
		}
	}()
	return s
}

// next returns the next message, failing after 5 s.
func (s *stream) next() []byte {
	s.t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			s.t.Fatalf("stream ended: %v", <-s.errc)
		}
		return m
	case <-time.After(5 * time.Second):
		s.t.Fatal("no message within 5s")
	}
	return nil
}

// nextJSON returns the next message that is not a ping ({}), decoded.
func (s *stream) nextJSON() map[string]json.RawMessage {
	s.t.Helper()
	for {
		m := s.next()
		if string(m) == "{}" {
			continue
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(m, &v); err != nil {
			s.t.Fatalf("bad JSON message %q: %v", m, err)
		}
		return v
	}
}

// ended waits for the end of the stream.
func (s *stream) ended() {
	s.t.Helper()
	for {
		select {
		case _, ok := <-s.msgs:
			if !ok {
				return
			}
		case <-time.After(5 * time.Second):
			s.t.Fatal("stream did not end within 5s")
		}
	}
}

func postEmulation(t *testing.T, srv *harness.Server, contentType string, body []byte) int {
	t.Helper()
	resp, err := http.Post(srv.BaseURL+"/emulation", contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

func emulationJSON(node, session string, cmds ...string) []byte {
	b, _ := json.Marshal(map[string]string{"node": node, "session": session, "data": strings.Join(cmds, "\n")})
	return b
}

type connectRes struct {
	Client  string `json:"client"`
	Session string `json:"session"`
	Node    string `json:"node"`
	Pong    bool   `json:"pong"`
}

// TestHTTPStreamAndSSE connects over http_stream (POST body) and SSE (GET
// cf_connect and POST), sends subscribe and publish through /emulation, and gets
// the replies and the API publications on the stream; a server disconnect is a
// disconnect push that ends the stream.
func TestHTTPStreamAndSSE(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, streamConfig())
	token := harness.UserToken(t, "alice")
	connect := `{"id":1,"connect":{"token":"` + token + `","name":"go"}}`
	for _, tc := range []struct{ name, method, path, framing string }{
		{"http_stream", "POST", "/connection/http_stream", "lines"},
		{"sse GET", "GET", "/connection/sse?cf_connect=" + url.QueryEscape(connect), "sse"},
		{"sse POST", "POST", "/connection/sse", "sse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.method == "POST" {
				body = []byte(connect)
			}
			s := openStream(t, tc.method, srv.BaseURL+tc.path, "", body, tc.framing)
			if s.resp.StatusCode != 200 {
				t.Fatalf("status %d", s.resp.StatusCode)
			}
			h := s.resp.Header
			if h.Get("Access-Control-Allow-Origin") != "http://page.example" || h.Get("Access-Control-Allow-Credentials") != "true" ||
				h.Get("X-Accel-Buffering") != "no" || h.Get("Cache-Control") != "private, no-cache, no-store, must-revalidate, max-age=0" ||
				h.Get("Pragma") != "no-cache" || h.Get("Expire") != "0" {
				t.Fatalf("headers %v", h)
			}
			if tc.framing == "sse" && h.Get("Content-Type") != "text/event-stream; charset=utf-8" {
				t.Fatalf("content type %q", h.Get("Content-Type"))
			}
			m := s.nextJSON()
			var res connectRes
			if string(m["id"]) != "1" || json.Unmarshal(m["connect"], &res) != nil || res.Session == "" || res.Node == "" || !res.Pong {
				t.Fatalf("connect reply %s", m)
			}
			ch := "chat:" + strings.ReplaceAll(tc.name, " ", "")
			if code := postEmulation(t, srv, "application/json", emulationJSON(res.Node, res.Session,
				`{"id":2,"subscribe":{"channel":"`+ch+`"}}`)); code != 204 {
				t.Fatalf("emulation status %d", code)
			}
			if m := s.nextJSON(); string(m["id"]) != "2" || m["subscribe"] == nil {
				t.Fatalf("subscribe reply %s", m)
			}
			srv.MustAPI(t, "publish", map[string]any{"channel": ch, "data": map[string]any{"n": 1}})
			if m := s.nextJSON(); !bytes.Contains(m["push"], []byte(`"data":{"n":1}`)) {
				t.Fatalf("publication %s", m)
			}
			if code := postEmulation(t, srv, "text/plain", emulationJSON(res.Node, res.Session,
				`{"id":3,"publish":{"channel":"`+ch+`","data":{"from":"client"}}}`)); code != 204 {
				t.Fatalf("emulation status %d", code)
			}
			for seen := 0; seen < 2; {
				m := s.nextJSON()
				switch {
				case string(m["id"]) == "3":
					seen++
				case bytes.Contains(m["push"], []byte(`"data":{"from":"client"}`)):
					seen++
				default:
					t.Fatalf("unexpected %s", m)
				}
			}
			// An unknown session on this node is ignored (204), as by Centrifugo.
			if code := postEmulation(t, srv, "", emulationJSON(res.Node, "nope", `{"id":9,"presence":{}}`)); code != 204 {
				t.Fatalf("unknown session: %d", code)
			}
			srv.MustAPI(t, "disconnect", map[string]any{"user": "alice", "client": res.Client})
			if m := s.nextJSON(); !bytes.Contains(m["push"], []byte(`"disconnect":{"code":3503,"reason":"force disconnect"}`)) {
				t.Fatalf("disconnect push %s", m)
			}
			s.ended()
		})
	}
}

// TestHTTPStreamProtobuf: Content-Type application/octet-stream makes a Protobuf
// session: varint-delimited replies on the stream, Protobuf EmulationRequest.
func TestHTTPStreamProtobuf(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, streamConfig())
	cmd := func(c *protocol.Command) []byte {
		b, err := c.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
	}
	connect := cmd(&protocol.Command{Id: 1, Connect: &protocol.ConnectRequest{Token: harness.UserToken(t, "bob")}})
	s := openStream(t, "POST", srv.BaseURL+"/connection/http_stream", "application/octet-stream", connect, "protobuf")
	var r protocol.Reply
	if err := r.UnmarshalVT(s.next()); err != nil || r.Id != 1 || r.Connect == nil || r.Connect.Session == "" || r.Connect.Node == "" {
		t.Fatalf("connect reply %v %v", &r, err)
	}
	er := &protocol.EmulationRequest{Node: r.Connect.Node, Session: r.Connect.Session,
		Data: cmd(&protocol.Command{Id: 2, Subscribe: &protocol.SubscribeRequest{Channel: "chat:pb"}})}
	body, err := er.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	if code := postEmulation(t, srv, "application/octet-stream", body); code != 204 {
		t.Fatalf("emulation status %d", code)
	}
	r.Reset()
	if err := r.UnmarshalVT(s.next()); err != nil || r.Id != 2 || r.Subscribe == nil {
		t.Fatalf("subscribe reply %v %v", &r, err)
	}
	srv.MustAPI(t, "publish", map[string]any{"channel": "chat:pb", "data": map[string]any{"n": 2}})
	r.Reset()
	if err := r.UnmarshalVT(s.next()); err != nil || r.Push == nil || r.Push.Pub == nil || string(r.Push.Pub.Data) != `{"n":2}` {
		t.Fatalf("publication %v %v", &r, err)
	}
}

// TestStreamEndpointStatuses: methods, preflight, body limits, bad bodies, unknown
// node, transports off by default.
func TestStreamEndpointStatuses(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, streamConfig().Set("emulation.max_request_body_size", 100))
	do := func(method, path, ctype string, body []byte, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.BaseURL+path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/connection/http_stream", "/emulation", "/connection/uni_http_stream"} {
		resp := do("OPTIONS", path, "", nil, "Origin", "http://x.example", "Access-Control-Request-Headers", "content-type")
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Max-Age") != "300" ||
			resp.Header.Get("Access-Control-Allow-Methods") != "POST, OPTIONS" ||
			resp.Header.Get("Access-Control-Allow-Origin") != "http://x.example" ||
			resp.Header.Get("Access-Control-Allow-Headers") != "content-type" {
			t.Fatalf("%s preflight: %d %v", path, resp.StatusCode, resp.Header)
		}
		if code := do("GET", path, "", nil).StatusCode; code != 405 {
			t.Fatalf("%s GET: %d", path, code)
		}
	}
	for _, c := range []struct {
		method, path string
		body         []byte
		want         int
	}{
		{"PUT", "/connection/sse", nil, 405},
		{"GET", "/connection/sse", nil, 400},                                       // no cf_connect
		{"POST", "/connection/http_stream", bytes.Repeat([]byte("x"), 65537), 413}, // http_stream.max_request_body_size
		{"POST", "/emulation", bytes.Repeat([]byte("x"), 101), 413},                // emulation.max_request_body_size
		{"POST", "/emulation", []byte(`{"node":`), 400},
		{"POST", "/emulation", emulationJSON("no-such-node", "s", `{"id":1}`), 404},
		{"POST", "/connection/uni_http_stream", []byte(`{"token":`), 400},
		{"GET", "/connection/uni_sse?cf_connect=%7B", nil, 400},
		{"PUT", "/connection/uni_sse", nil, 405},
	} {
		if code := do(c.method, c.path, "", c.body).StatusCode; code != c.want {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, code, c.want)
		}
	}
	// Off by default, as in Centrifugo.
	plain := harness.Start(t, harness.DefaultConfig())
	for _, path := range []string{"/connection/http_stream", "/connection/sse", "/emulation", "/connection/uni_sse", "/connection/uni_http_stream"} {
		resp, err := http.Post(plain.BaseURL+path, "", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("%s with the transport off: %d", path, resp.StatusCode)
		}
	}
}

// TestUniHTTPStreamAndSSE: connect push with the requested channels subscribed
// server-side (only those the client could subscribe to itself), bare publication
// pushes, a bare disconnect push.
func TestUniHTTPStreamAndSSE(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, streamConfig())
	req, _ := json.Marshal(map[string]any{"token": harness.UserToken(t, "carol"),
		"subs": map[string]any{"chat:uni": map[string]any{}, "locked:x": map[string]any{}}})
	for _, tc := range []struct{ name, method, path, framing string }{
		{"uni_http_stream", "POST", "/connection/uni_http_stream", "lines"},
		{"uni_sse GET", "GET", "/connection/uni_sse?cf_connect=" + url.QueryEscape(string(req)), "sse"},
		{"uni_sse POST", "POST", "/connection/uni_sse", "sse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.method == "POST" {
				body = req
			}
			s := openStream(t, tc.method, srv.BaseURL+tc.path, "", body, tc.framing)
			m := s.nextJSON()
			var c struct {
				Client  string                     `json:"client"`
				Session string                     `json:"session"`
				Pong    bool                       `json:"pong"`
				Subs    map[string]json.RawMessage `json:"subs"`
			}
			if len(m) != 1 || json.Unmarshal(m["connect"], &c) != nil || c.Session == "" || c.Pong || len(c.Subs) != 1 || c.Subs["chat:uni"] == nil {
				t.Fatalf("connect push %s", m)
			}
			srv.MustAPI(t, "publish", map[string]any{"channel": "chat:uni", "data": map[string]any{"u": 1}})
			if m := s.nextJSON(); string(m["channel"]) != `"chat:uni"` || !bytes.Contains(m["pub"], []byte(`{"u":1}`)) {
				t.Fatalf("publication %s", m)
			}
			srv.MustAPI(t, "disconnect", map[string]any{"user": "carol", "client": c.Client})
			if m := s.nextJSON(); string(m["disconnect"]) != `{"code":3503,"reason":"force disconnect"}` {
				t.Fatalf("disconnect %s", m)
			}
			s.ended()
		})
	}
	// A refused connect is a disconnect push: an invalid token ends with 3500.
	s := openStream(t, "POST", srv.BaseURL+"/connection/uni_http_stream", "", []byte(`{"token":"bad"}`), "lines")
	if m := s.nextJSON(); string(m["disconnect"]) != `{"code":3500,"reason":"invalid token"}` {
		t.Fatalf("bad token %s", m)
	}
	s.ended()
}

// TestUniCurl: curl -N reads uni_http_stream and uni_sse pushes.
func TestUniCurl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is needed for this test:", err)
	}
	srv := harness.Start(t, streamConfig())
	body := `{"token":"` + harness.UserToken(t, "dave") + `","subs":{"chat:curl":{}}}`
	type run struct {
		out *syncBuf
		cmd *exec.Cmd
	}
	var runs []run
	var trust []string
	if harness.TLS() {
		// curl trusts only its own CA bundle: give it the test certificate.
		certFile, _, _ := harness.TestCert(t)
		trust = []string{"--cacert", certFile}
	}
	for _, args := range [][]string{
		{"-sN", "-X", "POST", "-d", body, srv.BaseURL + "/connection/uni_http_stream"},
		{"-sN", srv.BaseURL + "/connection/uni_sse?cf_connect=" + url.QueryEscape(body)},
	} {
		args = append(append([]string(nil), trust...), args...)
		out := &syncBuf{}
		cmd := exec.Command(curl, args...)
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		runs = append(runs, run{out, cmd})
	}
	for _, r := range runs {
		waitCond(t, 5*time.Second, "connect push via curl", func() bool { return strings.Contains(r.out.String(), `"connect":`) })
	}
	srv.MustAPI(t, "publish", map[string]any{"channel": "chat:curl", "data": map[string]any{"c": "url"}})
	for i, want := range []string{`{"channel":"chat:curl","pub":{"data":{"c":"url"}}}` + "\n", `data: {"channel":"chat:curl","pub":{"data":{"c":"url"}}}` + "\n\n"} {
		r := runs[i]
		waitCond(t, 5*time.Second, "publication via curl", func() bool { return strings.Contains(r.out.String(), want) })
	}
}

// TestEmulationAcrossNodes: the stream is on node A; /emulation posted to node B
// reaches the session on A through Redis (centrifuge_emulation survey). With
// CENTRIFUGO_BIN, B is a Centrifugo v6 node.
func TestEmulationAcrossNodes(t *testing.T) {
	t.Parallel()
	addr := harness.StartRedis(t).Addr()
	cfg := func(name string) harness.Config {
		return redisNodeConfig(addr, name).Set("http_stream.enabled", true).Set("sse.enabled", true)
	}
	a := harness.Start(t, cfg("node-a"))
	others := map[string]*harness.Server{"rotor": harness.Start(t, cfg("node-b"))}
	if cf := os.Getenv("CENTRIFUGO_BIN"); cf != "" {
		others["centrifugo"] = harness.StartBinary(t, cf, cfg("node-cf"))
	}
	for name, b := range others {
		t.Run(name, func(t *testing.T) {
			waitCond(t, 10*time.Second, "nodes see each other", func() bool { return len(nodesOf(t, b).Nodes) >= 2 && len(nodesOf(t, a).Nodes) >= 2 })
			s := openStream(t, "POST", a.BaseURL+"/connection/http_stream", "", []byte(`{"id":1,"connect":{"token":"`+harness.UserToken(t, "erin")+`"}}`), "lines")
			var res connectRes
			if m := s.nextJSON(); json.Unmarshal(m["connect"], &res) != nil || res.Node == "" {
				t.Fatalf("connect %s", m)
			}
			ch := "chat:x-" + name
			if code := postEmulation(t, b, "", emulationJSON(res.Node, res.Session, `{"id":2,"subscribe":{"channel":"`+ch+`"}}`, `{"id":3,"publish":{"channel":"`+ch+`","data":{"via":"b"}}}`)); code != 204 {
				t.Fatalf("emulation via other node: %d", code)
			}
			got := map[string]bool{}
			for len(got) < 3 {
				m := s.nextJSON()
				switch {
				case string(m["id"]) == "2":
					got["sub"] = true
				case string(m["id"]) == "3":
					got["pub"] = true
				case bytes.Contains(m["push"], []byte(`{"via":"b"}`)):
					got["push"] = true
				default:
					t.Fatalf("unexpected %s", m)
				}
			}
		})
	}
	// And back: a stream on B, /emulation to A.
	for name, b := range others {
		t.Run(name+" back", func(t *testing.T) {
			s := openStream(t, "POST", b.BaseURL+"/connection/sse", "", []byte(`{"id":1,"connect":{"token":"`+harness.UserToken(t, "finn")+`"}}`), "sse")
			var res connectRes
			if m := s.nextJSON(); json.Unmarshal(m["connect"], &res) != nil {
				t.Fatalf("connect %s", m)
			}
			if code := postEmulation(t, a, "", emulationJSON(res.Node, res.Session, `{"id":2,"presence_stats":{"channel":"chat:none"}}`)); code != 204 {
				t.Fatalf("emulation: %d", code)
			}
			if m := s.nextJSON(); string(m["id"]) != "2" {
				t.Fatalf("reply %s", m)
			}
		})
	}
}

// TestConnectProxyTransportName: the connect proxy is told the real transport and
// protocol.
func TestConnectProxyTransportName(t *testing.T) {
	t.Parallel()
	b := harness.StartBackend(t)
	b.Handle("/connect", harness.Result(map[string]any{"user": "px"}))
	cfg := streamConfig().Set("client.proxy.connect", map[string]any{"enabled": true, "endpoint": b.URL + "/connect", "timeout": "2s"})
	srv := harness.Start(t, cfg)
	pbConnect, _ := (&protocol.Command{Id: 1, Connect: &protocol.ConnectRequest{}}).MarshalVT()
	pbConnect = append(binary.AppendUvarint(nil, uint64(len(pbConnect))), pbConnect...)
	for _, c := range []struct {
		path, ctype, framing string
		body                 []byte
		transport, proto     string
	}{
		{"/connection/http_stream", "", "lines", []byte(`{"id":1,"connect":{}}`), "http_stream", "json"},
		{"/connection/http_stream", "application/octet-stream", "protobuf", pbConnect, "http_stream", "protobuf"},
		{"/connection/sse", "", "sse", []byte(`{"id":1,"connect":{}}`), "sse", "json"},
		{"/connection/uni_http_stream", "", "lines", []byte(`{}`), "uni_http_stream", "json"},
		{"/connection/uni_sse", "", "sse", []byte(`{}`), "uni_sse", "json"},
	} {
		n := len(b.Requests("/connect"))
		s := openStream(t, "POST", srv.BaseURL+c.path, c.ctype, c.body, c.framing)
		s.next()
		reqs := b.WaitRequests(t, "/connect", n+1, 5*time.Second)
		r := reqs[len(reqs)-1]
		if r.Str("transport") != c.transport || r.Str("protocol") != c.proto {
			t.Fatalf("%s: proxy got transport %q protocol %q", c.path, r.Str("transport"), r.Str("protocol"))
		}
		s.close()
	}
}

// syncBuf is an io.Writer safe to read while a process writes to it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// uniWSURL is the server's uni_websocket URL: wss:// in TLS mode.
func uniWSURL(srv *harness.Server) string {
	return strings.TrimSuffix(srv.WSURL, "/connection/websocket") + "/connection/uni_websocket"
}

// TestUniWebSocket: a raw WebSocket client on uni_websocket gets the connect push
// (request in cf_connect or as the first message), bare publication pushes one per
// message, and a disconnect push followed by the close frame with the same code.
func TestUniWebSocket(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, harness.DefaultConfig().Set("uni_websocket.enabled", true))
	req := `{"token":"` + harness.UserToken(t, "gina") + `","subs":{"chat:uniws":{}}}`
	base := uniWSURL(srv)
	for _, viaParam := range []bool{true, false} {
		u := base
		if viaParam {
			u += "?cf_connect=" + url.QueryEscape(req)
		}
		conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			t.Fatalf("dial: %v %v", err, resp)
		}
		if !viaParam {
			if err := conn.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
				t.Fatal(err)
			}
		}
		read := func() map[string]json.RawMessage {
			t.Helper()
			for {
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				typ, msg, err := conn.ReadMessage()
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if typ != websocket.TextMessage {
					t.Fatalf("message type %d", typ)
				}
				if string(msg) == "{}" {
					continue
				}
				var v map[string]json.RawMessage
				if err := json.Unmarshal(msg, &v); err != nil {
					t.Fatalf("one JSON push per message, got %q", msg)
				}
				return v
			}
		}
		var c connectRes
		if m := read(); json.Unmarshal(m["connect"], &c) != nil || c.Session == "" {
			t.Fatalf("connect push %s", m)
		}
		// Sent later, ignored.
		_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"id":5,"presence":{}}`))
		for i := 0; i < 20; i++ {
			srv.MustAPI(t, "publish", map[string]any{"channel": "chat:uniws", "data": map[string]any{"i": i}})
		}
		for i := 0; i < 20; i++ {
			m := read()
			if string(m["channel"]) != `"chat:uniws"` || !bytes.Contains(m["pub"], []byte(`{"i":`+strconv.Itoa(i)+`}`)) {
				t.Fatalf("publication %d: %s", i, m)
			}
		}
		// App-level pings ({}) come with native ping frames (client.ping_interval 2s).
		var pings atomic.Int32
		conn.SetPingHandler(func(data string) error {
			pings.Add(1)
			return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		for appPing := false; !appPing || pings.Load() == 0; {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, msg, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for pings: %v", err)
			}
			appPing = appPing || string(msg) == "{}"
		}
		srv.MustAPI(t, "disconnect", map[string]any{"user": "gina", "client": c.Client})
		if m := read(); string(m["disconnect"]) != `{"code":3503,"reason":"force disconnect"}` {
			t.Fatalf("disconnect push %s", m)
		}
		_, _, err = conn.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 3503 || ce.Text != "force disconnect" {
			t.Fatalf("close: %v", err)
		}
		conn.Close()
	}
	// Bad JSON in cf_connect: 400 before the upgrade; bad first message: 3501.
	if _, resp, err := websocket.DefaultDialer.Dial(base+"?cf_connect=%7B", nil); err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("bad cf_connect: %v %v", err, resp)
	}
	conn, _, err := websocket.DefaultDialer.Dial(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"token":`))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err = conn.ReadMessage(); err != nil {
			break
		}
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 3501 {
		t.Fatalf("bad first message: %v", err)
	}
}

// TestUniConnectCodeToHTTPResponse: with connect_code_to_http_response a refused
// unidirectional connect is an HTTP response: the matching transform's status and
// body (the error's text when the body is empty), 500 when none matches.
func TestUniConnectCodeToHTTPResponse(t *testing.T) {
	t.Parallel()
	m := map[string]any{"enabled": true, "transforms": []any{
		map[string]any{"code": 3500, "to": map[string]any{"status_code": 401}},
		map[string]any{"code": 109, "to": map[string]any{"status_code": 403, "body": "token expired, refresh it"}},
	}}
	srv := harness.Start(t, streamConfig().
		Set("uni_sse.connect_code_to_http_response", m).
		Set("uni_http_stream.connect_code_to_http_response", m))
	expired := harness.Token(t, harness.HMACSecret, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(-time.Minute).Unix()})
	for _, path := range []string{"/connection/uni_http_stream", "/connection/uni_sse"} {
		for _, c := range []struct {
			body   string
			status int
			text   string
		}{
			{`{"token":"bad"}`, 401, "invalid token"},
			{`{"token":"` + expired + `"}`, 403, "token expired, refresh it"},
			{`{"subs":{"nosuchns:x":{}},"token":"` + harness.UserToken(t, "y") + `"}`, 500, "Internal Server Error"},
		} {
			resp, err := http.Post(srv.BaseURL+path, "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || string(b) != c.text {
				t.Fatalf("%s %s: %d %q, want %d %q", path, c.body, resp.StatusCode, b, c.status, c.text)
			}
		}
		// An accepted connect streams as usual.
		s := openStream(t, "POST", srv.BaseURL+path, "", []byte(`{"token":"`+harness.UserToken(t, "z")+`"}`), map[bool]string{true: "lines", false: "sse"}[path == "/connection/uni_http_stream"])
		if m := s.nextJSON(); m["connect"] == nil {
			t.Fatalf("connect push %s", m)
		}
	}
}

// TestUniWebSocketOptions: join_push_messages lets pushes share a message (split
// on '\n', every publication arrives once, in order); disable_disconnect_push
// leaves only the close frame.
func TestUniWebSocketOptions(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, harness.DefaultConfig().
		Set("uni_websocket.enabled", true).
		Set("uni_websocket.join_push_messages", true).
		Set("uni_websocket.disable_disconnect_push", true))
	req := `{"token":"` + harness.UserToken(t, "hana") + `","subs":{"chat:join":{}}}`
	conn, _, err := websocket.DefaultDialer.Dial(uniWSURL(srv)+"?cf_connect="+url.QueryEscape(req), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pending []string
	next := func() (string, error) {
		for len(pending) == 0 {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return "", err
			}
			pending = strings.Split(string(msg), "\n")
		}
		m := pending[0]
		pending = pending[1:]
		return m, nil
	}
	var c connectRes
	if m, err := next(); err != nil || !strings.HasPrefix(m, `{"connect":`) || json.Unmarshal([]byte(m)[len(`{"connect":`):len(m)-1], &c) != nil {
		t.Fatalf("connect push %q %v", m, err)
	}
	const n = 200
	for i := 0; i < n; i++ { // queued while the client reads nothing: likely joined
		srv.MustAPI(t, "publish", map[string]any{"channel": "chat:join", "data": map[string]any{"i": i}})
	}
	for i := 0; i < n; {
		m, err := next()
		if err != nil {
			t.Fatal(err)
		}
		if m == "{}" {
			continue
		}
		if want := `{"channel":"chat:join","pub":{"data":{"i":` + strconv.Itoa(i) + `}`; !strings.HasPrefix(m, want) {
			t.Fatalf("push %d: %q", i, m)
		}
		i++
	}
	srv.MustAPI(t, "disconnect", map[string]any{"user": "hana", "client": c.Client})
	for {
		m, err := next()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != 3503 {
				t.Fatalf("close %v", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m, "disconnect") {
			t.Fatalf("disconnect push sent although disabled: %q", m)
		}
	}
}

// TestUniWebSocketNoClosingHandshake: with uni_websocket.disable_closing_handshake
// a server disconnect sends the disconnect push and closes the connection with no
// close frame (Centrifugo's behaviour before v6.5.1).
func TestUniWebSocketNoClosingHandshake(t *testing.T) {
	t.Parallel()
	for _, disabled := range []bool{false, true} {
		srv := harness.Start(t, harness.DefaultConfig().
			Set("uni_websocket.enabled", true).
			Set("uni_websocket.disable_closing_handshake", disabled))
		req := `{"token":"` + harness.UserToken(t, "ivo") + `"}`
		conn, _, err := websocket.DefaultDialer.Dial(uniWSURL(srv)+"?cf_connect="+url.QueryEscape(req), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, m, err := conn.ReadMessage()
		var c connectRes
		if err != nil || !bytes.HasPrefix(m, []byte(`{"connect":`)) || json.Unmarshal(m[len(`{"connect":`):len(m)-1], &c) != nil {
			t.Fatalf("connect push %q %v", m, err)
		}
		srv.MustAPI(t, "disconnect", map[string]any{"user": "ivo", "client": c.Client})
		var push string
		for {
			_, m, err = conn.ReadMessage()
			if err != nil {
				break
			}
			if string(m) != "{}" {
				push = string(m)
			}
		}
		if want := `{"disconnect":{"code":3503,"reason":"force disconnect"}}`; push != want {
			t.Errorf("disable_closing_handshake %v: last push %q, want %q", disabled, push, want)
		}
		var ce *websocket.CloseError
		switch {
		case !errors.As(err, &ce):
			t.Errorf("disable_closing_handshake %v: ended with %v", disabled, err)
		case disabled && ce.Code != websocket.CloseAbnormalClosure:
			t.Errorf("disable_closing_handshake: close frame %v, want none (1006)", err)
		case !disabled && ce.Code != 3503:
			t.Errorf("close %v, want the close frame 3503", err)
		}
		conn.Close()
	}
}

// TestUniWebSocketMessageSizeLimit: the first message of a uni_websocket is bounded
// by uni_websocket.message_size_limit (default 65536), not websocket's (4096 here):
// over it the connection closes with 1009.
func TestUniWebSocketMessageSizeLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		limit  int // 0: default
		size   int
		closed bool
	}{{0, 8000, false}, {1000, 2000, true}} {
		cfg := harness.DefaultConfig().Set("uni_websocket.enabled", true)
		if c.limit > 0 {
			cfg.Set("uni_websocket.message_size_limit", c.limit)
		}
		srv := harness.Start(t, cfg)
		conn, _, err := websocket.DefaultDialer.Dial(uniWSURL(srv), nil)
		if err != nil {
			t.Fatal(err)
		}
		req := `{"token":"` + harness.UserToken(t, "ivy") + `","name":"` + strings.Repeat("n", c.size) + `"}`
		if err := conn.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := conn.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case c.closed && (!errors.As(err, &ce) || ce.Code != 1009):
			t.Fatalf("limit %d, %d bytes: %q %v", c.limit, c.size, msg, err)
		case !c.closed && (err != nil || !bytes.HasPrefix(msg, []byte(`{"connect":`))):
			t.Fatalf("limit %d, %d bytes: %q %v", c.limit, c.size, msg, err)
		}
		conn.Close()
	}
}

// TestUniWebSocketCompressionNotNegotiated: websocket.compression is the
// bidirectional WebSocket's; a uni_websocket client offering permessage-deflate
// gets plain frames (uni_websocket.compression, off by default, is Centrifugo's
// separate key), and its pushes arrive.
func TestUniWebSocketCompressionNotNegotiated(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, harness.DefaultConfig().
		Set("uni_websocket.enabled", true).
		Set("websocket.compression", true))
	d := *websocket.DefaultDialer
	d.EnableCompression = true
	req := `{"token":"` + harness.UserToken(t, "zoe") + `","subs":{"chat:unideflate":{}}}`
	conn, resp, err := d.Dial(uniWSURL(srv)+"?cf_connect="+url.QueryEscape(req), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Errorf("uni_websocket negotiated %q", ext)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := conn.ReadMessage(); err != nil || !strings.HasPrefix(string(m), `{"connect":`) {
		t.Fatalf("connect push %q %v", m, err)
	}
	srv.MustAPI(t, "publish", map[string]any{"channel": "chat:unideflate", "data": map[string]any{"text": strings.Repeat("z", 3000)}})
	for {
		_, m, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(m) == "{}" {
			continue
		}
		if !strings.Contains(string(m), `"channel":"chat:unideflate"`) || !strings.Contains(string(m), strings.Repeat("z", 3000)) {
			t.Fatalf("push %q", m)
		}
		return
	}
}
