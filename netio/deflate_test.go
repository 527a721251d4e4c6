package netio

import (
	"bytes"
	"io"

	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/klauspost/compress/flate"

	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio/ws"
)

// stdInflate decompresses a permessage-deflate payload with the standard route
// (what a browser does), independent of netio's inflater.
func stdInflate(t testing.TB, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), strings.NewReader(deflateTail)))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

func TestOffersDeflate(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits", true},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true},
		{"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=15", true},
		{`foo; a="b,c"; d, permessage-deflate`, true},
		{"permessage-deflate; server_max_window_bits=10", true}, // gorilla ignores parameters
		{"", false},
		{"permessage-deflatex", false},
		{"Permessage-Deflate", false}, // gorilla compares the token exactly
		{"permessage-deflate x", false},
		{"permessage-deflate; =1", false},
		{`foo; a="unterminated, permessage-deflate`, false},
		{"foo;; permessage-deflate", false},
		{",permessage-deflate", false},
	}
	for _, tt := range tests {
		if got := offersDeflate([]byte(tt.in)); got != tt.want {
			t.Errorf("offersDeflate(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestDeflateRoundTrip(t *testing.T) {
	for _, level := range []int{MinCompressionLevel, -1, 0, 1, 5, MaxCompressionLevel} {
		for _, n := range []int{1, 100, 5000, 200 << 10} {
			src := bytes.Repeat([]byte(`{"data":"abcdefgh`), n/17+1)[:n]
			c := appendDeflate([]byte("prefix"), src, level)
			if string(c[:6]) != "prefix" {
				t.Fatal("appendDeflate overwrote dst")
			}
			if got := stdInflate(t, c[6:]); !bytes.Equal(got, src) {
				t.Fatalf("level %d n %d: std inflate mismatch", level, n)
			}
			out, err := inflate(c[6:], n)
			if err != nil || !bytes.Equal(out.b, src) {
				t.Fatalf("level %d n %d: inflate: %v", level, n, err)
			}
			putBuf(out)
			if n > 1 {
				if _, err := inflate(c[6:], n-1); err != errMessageTooBig {
					t.Fatalf("level %d n %d: limit n-1: %v", level, n, err)
				}
			}
		}
	}
	if _, err := inflate([]byte{0xff, 0xff, 0xff}, 100); err != errBadDeflate {
		t.Fatalf("garbage: %v", err)
	}
}

// TestInflateBomb: 64 MiB of zeros compresses to about 64 KiB; the inflater stops
// at the limit instead of producing it all.
func TestInflateBomb(t *testing.T) {
	bomb := appendDeflate(nil, make([]byte, 64<<20), 9)
	if len(bomb) > 256<<10 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	if _, err := inflate(bomb, 1<<20); err != errMessageTooBig {
		t.Fatalf("got %v, want errMessageTooBig", err)
	}
}

// compressedHead is the extension offer of a browser.
const compressedHead = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"

func TestCompressionNegotiation(t *testing.T) {
	for _, tt := range []struct {
		name        string
		compression bool
		offer       string
		want        string
	}{
		{"on, offered", true, compressedHead, extensionDeflate},
		{"on, not offered", true, "", ""},
		{"on, other extension", true, "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n", ""},
		{"off, offered", false, compressedHead, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := startNodeServer(t, Config{Compression: tt.compression, CompressionLevel: 1},
				engine.Config{Insecure: true, PingInterval: -1}, nil)
			wc := dialSubscribeHead(t, nil, ns.srv.Addr().String(), "news", tt.offer)
			if got := wc.resp.Header.Get("Sec-WebSocket-Extensions"); got != tt.want {
				t.Fatalf("Sec-WebSocket-Extensions %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCompressedBroadcastRaw reads a compressed publication as bytes: RSV1 set,
// a single frame that inflates to the push; below compression_min_size pushes are
// sent plain; a compressed command from the client is understood.
func TestCompressedBroadcastRaw(t *testing.T) {
	ns := startNodeServer(t, Config{Compression: true, CompressionLevel: 1, CompressionMinSize: 100},
		engine.Config{Insecure: true, PingInterval: -1}, nil)
	wc := dialSubscribeHead(t, nil, ns.srv.Addr().String(), "news", compressedHead)
	big := []byte(`{"text":"` + strings.Repeat("compressible ", 40) + `"}`)
	for _, data := range [][]byte{big, []byte(`{"a":1}`)} {
		if _, err := ns.node.Publish("news", data, engine.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		_ = wc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		op, p, err := wc.next()
		if err != nil || op != ws.OpText {
			t.Fatalf("read: %v op %d", err, op)
		}
		msg := p
		if wc.rsv1 {
			msg = stdInflate(t, p)
		}
		if wc.rsv1 != (len(data) > 100) {
			t.Fatalf("%d-byte publication: rsv1=%v", len(data), wc.rsv1)
		}
		if !bytes.Contains(msg, data) || !bytes.HasPrefix(msg, []byte(`{"push":{"channel":"news","pub":{"data":`)) {
			t.Fatalf("push %q", msg)
		}
	}
	// A compressed publish command, long enough for a compressed reply.
	cmd := []byte(`{"id":7,"publish":{"channel":"news","data":` + string(big) + `}}`)
	frame := cframe(true, ws.OpText, appendDeflate(nil, cmd, 5))
	frame[0] |= 0x40
	if _, err := wc.c.Write(frame); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < 2; {
		op, p, err := wc.next()
		if err != nil || op != ws.OpText {
			t.Fatalf("read: %v op %d", err, op)
		}
		msg := p
		if wc.rsv1 {
			msg = stdInflate(t, p)
		}
		// The publication (compressed) and the reply {"id":7,"publish":{}} (short),
		// in either frame order.
		for _, m := range bytes.Split(msg, []byte("\n")) {
			switch {
			case bytes.Contains(m, []byte(`"id":7`)):
				if string(m) != `{"id":7,"publish":{}}` {
					t.Fatalf("reply %q", m)
				}
				got++
			case bytes.Contains(m, big):
				got++
			default:
				t.Fatalf("unexpected %q", m)
			}
		}
	}
}

// TestCompressedInboundLimits: RSV1 without the extension is a protocol error
// (1002); a compressed message inflating beyond decompressed_message_size_limit
// gets 1009.
func TestCompressedInboundLimits(t *testing.T) {
	closeCode := func(t *testing.T, wc *wsClient) uint16 {
		t.Helper()
		_ = wc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			op, p, err := wc.next()
			if err != nil {
				t.Fatalf("no close frame: %v", err)
			}
			if op == ws.OpClose {
				code, _, _ := ws.ParseClose(p)
				return code
			}
		}
	}
	t.Run("rsv1 not negotiated", func(t *testing.T) {
		ns := startNodeServer(t, Config{Compression: true, CompressionLevel: 1},
			engine.Config{Insecure: true, PingInterval: -1}, nil)
		wc := dialSubscribeHead(t, nil, ns.srv.Addr().String(), "news", "")
		frame := cframe(true, ws.OpText, appendDeflate(nil, []byte(`{"id":3}`), 1))
		frame[0] |= 0x40
		_, _ = wc.c.Write(frame)
		if code := closeCode(t, wc); code != ws.CloseProtocolError {
			t.Fatalf("close %d, want 1002", code)
		}
	})
	t.Run("rsv1 on a ping", func(t *testing.T) {
		ns := startNodeServer(t, Config{Compression: true, CompressionLevel: 1},
			engine.Config{Insecure: true, PingInterval: -1}, nil)
		wc := dialSubscribeHead(t, nil, ns.srv.Addr().String(), "news", compressedHead)
		frame := cframe(true, ws.OpPing, nil)
		frame[0] |= 0x40
		_, _ = wc.c.Write(frame)
		if code := closeCode(t, wc); code != ws.CloseProtocolError {
			t.Fatalf("close %d, want 1002", code)
		}
	})
	t.Run("bomb", func(t *testing.T) {
		ns := startNodeServer(t, Config{Compression: true, CompressionLevel: 1, MessageSizeLimit: 4096},
			engine.Config{Insecure: true, PingInterval: -1}, nil)
		wc := dialSubscribeHead(t, nil, ns.srv.Addr().String(), "news", compressedHead)
		// 40961 bytes inflated (limit 10 × 4096), a few hundred on the wire.
		cmd := []byte(`{"id":3,"publish":{"channel":"news","data":"` + strings.Repeat("a", 40961-47) + `"}}`)
		z := appendDeflate(nil, cmd, 9)
		if len(z) > 4096 {
			t.Fatalf("compressed command is %d bytes", len(z))
		}
		frame := cframe(true, ws.OpText, z)
		frame[0] |= 0x40
		_, _ = wc.c.Write(frame)
		if code := closeCode(t, wc); code != ws.CloseMessageTooBig {
			t.Fatalf("close %d, want 1009", code)
		}
	})
}

// TestCompressionWithGorillaClient: fasthttp/websocket (gorilla's code, the
// dialer centrifuge-go uses) negotiates the extension, reads compressed
// publications of both protocols, and its compressed commands are understood.
func TestCompressionWithGorillaClient(t *testing.T) {
	ns := startNodeServer(t, Config{Compression: true, CompressionLevel: 1},
		engine.Config{Insecure: true, PingInterval: -1}, nil)
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws://"+ns.srv.Addr().String()+"/connection/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if resp.Header.Get("Sec-WebSocket-Extensions") != extensionDeflate {
		t.Fatalf("extensions %q", resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	conn.EnableWriteCompression(true)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{}}`+"\n"+`{"id":2,"subscribe":{"channel":"news"}}`)); err != nil {
		t.Fatal(err)
	}
	var lines []string
	read := func(want int) {
		for len(lines) < want {
			_, p, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v (have %q)", err, lines)
			}
			lines = append(lines, strings.Split(string(p), "\n")...)
		}
	}
	read(2)
	if !strings.Contains(lines[1], `"id":2`) || strings.Contains(lines[1], "error") {
		t.Fatalf("subscribe: %q", lines)
	}
	for i := 0; i < 20; i++ {
		data := `{"i":"` + strings.Repeat("y", i*37) + `"}`
		if _, err := ns.node.Publish("news", []byte(data), engine.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		read(3 + i)
		if want := `{"push":{"channel":"news","pub":{"data":` + data + `}}}`; lines[2+i] != want {
			t.Fatalf("got %q\nwant %q", lines[2+i], want)
		}
	}
}

func TestCompressionConfigValidate(t *testing.T) {
	accept := func(engine.Transport, *UpgradeRequest) Session { return nil }
	for _, c := range []Config{
		{Accept: accept, CompressionLevel: 10},
		{Accept: accept, CompressionLevel: -3},
		{Accept: accept, CompressionMinSize: -1},
		{Accept: accept, DecompressedMessageSizeLimit: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// TestEnqueueSharedUsesDerivedFrame: compressing connections take the frame from
// the broadcast's SharedMessage (built by the first, reused by the rest).
func TestEnqueueSharedUsesDerivedFrame(t *testing.T) {
	ns := startNodeServer(t, Config{Compression: true, CompressionLevel: 1}, engine.Config{Insecure: true, PingInterval: -1}, nil)
	var conns []*wsClient
	for i := 0; i < 3; i++ {
		conns = append(conns, dialSubscribeHead(t, nil, ns.srv.Addr().String(), "news", compressedHead))
	}
	if _, err := ns.node.Publish("news", []byte(`{"x":"`+strings.Repeat("y", 300)+`"}`), engine.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for _, wc := range conns {
		_ = wc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, p, err := wc.next()
		if err != nil || !wc.rsv1 {
			t.Fatalf("read %v rsv1=%v", err, wc.rsv1)
		}
		frames = append(frames, append([]byte(nil), p...))
	}
	for _, f := range frames[1:] {
		if !bytes.Equal(f, frames[0]) {
			t.Fatal("subscribers got different compressed frames")
		}
	}
	// The key netio uses: a second Derived call with it must find the form.
	m := &engine.SharedMessage{Msg: []byte(`{"push":{}}`)}
	key := (1-MinCompressionLevel)<<1 | 0
	first := m.Derived(key, buildDeflateFrame)
	again := m.Derived(key, func(dst, msg []byte, key int) ([]byte, int) {
		t.Fatal("form built twice")
		return dst, 0
	})
	if !bytes.Equal(first, again) || first[0]&0x40 == 0 {
		t.Fatalf("frame %x / %x", first, again)
	}
}
