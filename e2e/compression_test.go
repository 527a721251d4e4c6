package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/e2e/harness"
)

// wireTap relays TCP between SDK clients and the server and keeps what the
// server sent, so a test can see the handshake and the frames the SDK got.
type wireTap struct {
	ln   net.Listener
	mu   sync.Mutex
	down bytes.Buffer
}

func startWireTap(t *testing.T, target string) *wireTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireTap{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
			go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() { _, _ = io.Copy(io.MultiWriter(c, w), s); _ = c.Close() }()
		}
	}()
	return w
}

func (w *wireTap) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.down.Write(p)
}

func (w *wireTap) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.down.Bytes()...)
}

// compressedFrames parses the server→client byte stream after the 101 head and
// counts data frames with RSV1 set (compressed) and without.
func compressedFrames(t *testing.T, down []byte) (compressed, plain int) {
	t.Helper()
	i := bytes.Index(down, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("no response head in %q", down)
	}
	head := string(down[:i])
	if !strings.Contains(head, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover") {
		t.Fatalf("101 without permessage-deflate:\n%s", head)
	}
	b := down[i+4:]
	for len(b) >= 2 {
		n, hn := int(b[1]&0x7F), 2
		switch n {
		case 126:
			n, hn = int(b[2])<<8|int(b[3]), 4
		case 127:
			n, hn = 0, 10
			for _, x := range b[2:10] {
				n = n<<8 | int(x)
			}
		}
		if len(b) < hn+n {
			break
		}
		if op := b[0] & 0x0F; op == 1 || op == 2 {
			if b[0]&0x40 != 0 {
				compressed++
			} else {
				plain++
			}
		}
		b = b[hn+n:]
	}
	return compressed, plain
}

// TestCompressionSDK: with websocket.compression on, centrifuge-go with
// EnableCompression negotiates permessage-deflate (JSON and Protobuf), gets
// publications compressed (RSV1 frames on the wire) and intact, below and above
// compression_min_size, and its own compressed commands work (publish).
func TestCompressionSDK(t *testing.T) {
	cfg := harness.DefaultConfig().
		Set("websocket.compression", true).
		Set("websocket.compression_min_size", 64).
		Set("websocket.compression_level", 1)
	srv := harness.Start(t, cfg)
	for _, proto := range []protocolKind{protoJSON, protoProtobuf} {
		t.Run(proto.String(), func(t *testing.T) {
			var tap *wireTap
			target := *srv
			if !harness.TLS() {
				// Plain TCP: read the bytes on the wire too.
				tap = startWireTap(t, srv.Addr)
				target.WSURL = "ws://" + tap.ln.Addr().String() + "/connection/websocket"
			}
			c, log := newClient(t, &target, proto, centrifuge.Config{EnableCompression: true, Token: harness.UserToken(t, "zed")})
			connectAndWait(t, c, log)
			sub := newSubscription(t, c, "chat:z"+proto.String())
			subscribeAndWait(t, sub)
			payloads := []string{
				`{"small":1}`,
				`{"text":"` + strings.Repeat("all work and no play makes jack a dull boy ", 50) + `"}`,
			}
			for i := 0; i < 30; i++ {
				payloads = append(payloads, `{"i":`+strings.Repeat("1", 1+i*7)+`,"pad":"`+strings.Repeat("x", i*11)+`"}`)
			}
			for _, p := range payloads {
				srv.MustAPI(t, "publish", map[string]any{"channel": sub.Channel, "data": json.RawMessage(p)})
				got := sub.nextPublication(t, 5*time.Second)
				if string(got.Data) != p {
					t.Fatalf("got %q\nwant %q", got.Data, p)
				}
			}
			// A compressed publish command (the SDK compresses what it sends).
			big := `{"from":"client","text":"` + strings.Repeat("ping pong ", 100) + `"}`
			if _, err := sub.Publish(t.Context(), []byte(big)); err != nil {
				t.Fatalf("client publish: %v", err)
			}
			if got := sub.nextPublication(t, 5*time.Second); string(got.Data) != big {
				t.Fatalf("own publication %q", got.Data)
			}
			if tap != nil {
				comp, plain := compressedFrames(t, tap.bytes())
				t.Logf("%d compressed and %d plain data frames", comp, plain)
				if comp < 20 || plain == 0 {
					t.Fatalf("%d compressed, %d plain data frames: want most compressed and the short ones plain", comp, plain)
				}
			}
		})
	}
	// The handshake as the SDK's dialer (gorilla's code) sees it, over TLS too.
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 3 * time.Second, TLSClientConfig: harness.ClientTLSConfig()}
	conn, resp, err := d.Dial(srv.WSURL, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
		t.Fatalf("Sec-WebSocket-Extensions %q", got)
	}
}

// TestCompressionOff: without websocket.compression the offer is declined and
// the SDK works uncompressed.
func TestCompressionOff(t *testing.T) {
	srv := harness.Start(t, nil)
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 3 * time.Second, TLSClientConfig: harness.ClientTLSConfig()}
	conn, resp, err := d.Dial(srv.WSURL, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != "" {
		t.Fatalf("Sec-WebSocket-Extensions %q", got)
	}
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{EnableCompression: true, Token: harness.UserToken(t, "zed")})
	connectAndWait(t, c, log)
	sub := newSubscription(t, c, "news")
	subscribeAndWait(t, sub)
	p := `{"text":"` + strings.Repeat("z", 2000) + `"}`
	srv.MustAPI(t, "publish", map[string]any{"channel": "news", "data": json.RawMessage(p)})
	if got := sub.nextPublication(t, 5*time.Second); string(got.Data) != p {
		t.Fatalf("got %q", got.Data)
	}
}
