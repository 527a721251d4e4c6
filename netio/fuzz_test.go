package netio

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/netio/ws"
)

// FuzzFrameParser feeds the frame reader a byte stream whole, then split in two at
// every byte (as NATS does for its parser), then one byte at a time, and checks
// that every run gives the same events and the same error.
func FuzzFrameParser(f *testing.F) {
	f.Add(cframe(true, ws.OpText, []byte("hello")))
	f.Add(cat(cframe(false, ws.OpText, []byte("he")), cframe(true, ws.OpPing, []byte("p")),
		cframe(true, ws.OpContinuation, []byte("llo"))))
	f.Add(cframe(true, ws.OpBinary, bytes.Repeat([]byte{7}, 300)))
	f.Add(cframe(true, ws.OpBinary, bytes.Repeat([]byte{7}, 1500)))
	f.Add(cat(cframe(false, ws.OpText, bytes.Repeat([]byte{1}, 2000)), cframe(true, ws.OpContinuation, []byte("x")),
		cframe(true, ws.OpClose, []byte{3, 0xE8})))
	f.Add(cframe(true, ws.OpClose, []byte{0x0B, 0xB9, 'b', 'y', 'e'}))
	f.Add([]byte{0x82, 0xFF, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4})
	f.Add([]byte{0xC1, 0x80, 0, 0, 0, 0})
	f.Add(cframeKey(true, ws.OpText, []byte("x"), [4]byte{}, false))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1024
		want, wantErr := readStream(limit, data, nil)
		// Every split point of short inputs; a sample of long ones.
		step := 1 + len(data)/512
		for i := 1; i < len(data); i += step {
			got, err := readStream(limit, data, []int{i})
			if err != wantErr || !reflect.DeepEqual(got, want) {
				t.Fatalf("split at %d: %v %v, whole: %v %v", i, got, err, want, wantErr)
			}
		}
		ones := make([]int, len(data))
		for i := range ones {
			ones[i] = 1
		}
		got, err := readStream(limit, data, ones)
		if err != wantErr || !reflect.DeepEqual(got, want) {
			t.Fatalf("byte by byte: %v %v, whole: %v %v", got, err, want, wantErr)
		}
		for _, e := range want {
			if e.kind == evMessage && len(e.payload) > limit {
				t.Fatalf("message of %d bytes over the limit", len(e.payload))
			}
			if e.kind == evControl && len(e.payload) > ws.MaxControlPayload {
				t.Fatalf("control payload of %d bytes", len(e.payload))
			}
		}
	})
}

// fuzzLimit is the head size limit FuzzRequestHead uses: small, so the fuzzer
// reaches the limit checks (the server's limit is MinMaxHeaderBytes or more).
const fuzzLimit = 600

// FuzzRequestHead checks the request-head router and the upgrade checks: no panic,
// decisions do not change when more bytes arrive, and a WebSocket head is found
// again in its own prefix.
func FuzzRequestHead(f *testing.F) {
	f.Add([]byte(upgradeHead("")))
	f.Add([]byte(upgradeHead("Sec-WebSocket-Protocol: foo, centrifuge-protobuf\r\nOrigin: https://a.example.com\r\n")))
	f.Add([]byte("GET /connection/websocket?format=protobuf HTTP/1.1\nUpgrade: websocket\nConnection: upgrade\n\n"))
	f.Add([]byte("POST /api/publish HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("GET http://x/connection/websocket HTTP/1.0\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte(strings.Replace(upgradeHead(""), "/connection/websocket?", "wss://[::1]:8000/connection/websocket?", 1)))
	f.Add([]byte(strings.Replace(upgradeHead(""), "/connection/websocket?", "http://u@h:x/connection/websocket?", 1)))
	f.Add([]byte("\x16\x03\x01"))
	f.Add([]byte(upgradeHead("X-A: a\r\n b\r\n")))
	f.Add([]byte(upgradeHead("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nHost: y\r\n")))
	f.Add([]byte(upgradeHead("Content-Length: 5\r\nTransfer-Encoding: chunked\r\nX-Junk\r\n")))
	f.Add([]byte(upgradeHead("Upgrade : h2c\r\nX: a\rb\r\n")))
	policy := newOriginPolicy([]string{"https://*.example.com", "http://localhost:?000"})
	f.Fuzz(func(t *testing.T, data []byte) {
		// sniff never passes more than the limit.
		if len(data) > fuzzLimit {
			data = data[:fuzzLimit]
		}
		var h requestHead
		kind, n := route(data, wsPath, fuzzLimit, &h)
		switch kind {
		case routeWebSocket:
			if n <= 0 || n > len(data) || n > fuzzLimit {
				t.Fatalf("head length %d of %d", n, len(data))
			}
			hs := checkUpgrade(&h, policy, true)
			switch hs.status {
			case 101:
				resp := appendSwitching(nil, hs.key, hs.subprotocol, hs.deflate)
				if !bytes.HasSuffix(resp, []byte("\r\n\r\n")) {
					t.Fatal("bad 101")
				}
			case 400, 403, 426:
			default:
				t.Fatalf("status %d", hs.status)
			}
			if hs.status == 101 {
				sameAsNetHTTP(t, data[:n], &h, hs)
			}
			var h2 requestHead
			if k2, n2 := route(data[:n], wsPath, fuzzLimit, &h2); k2 != routeWebSocket || n2 != n {
				t.Fatalf("prefix: %d %d, want ws %d", k2, n2, n)
			}
		case routeMore:
			// sniff waits for more only below the limit: at the limit it must decide.
			if len(data) >= fuzzLimit {
				t.Fatalf("more wanted with %d bytes", len(data))
			}
			for i := 0; i < len(data); i++ {
				var h2 requestHead
				if k2, _ := route(data[:i], wsPath, fuzzLimit, &h2); k2 != routeMore {
					t.Fatalf("prefix %d decided %d", i, k2)
				}
			}
		}
		if kind != routeMore && kind != routeTooLarge && len(data)+5 <= fuzzLimit {
			more := append(append([]byte(nil), data...), "X: y\r\n"...)
			var h2 requestHead
			if k2, n2 := route(more[:len(more)-1], wsPath, fuzzLimit, &h2); k2 != kind || n2 != n {
				t.Fatalf("more bytes changed %d/%d to %d/%d", kind, n, k2, n2)
			}
		}
	})
}

// sameAsNetHTTP checks that a head the server would upgrade is read the same way by
// Go's net/http (what Centrifugo and many front proxies run): it parses without
// error, with one Host, no body, and the same key, upgrade tokens and target. A
// difference here is a request one side could read two ways.
func sameAsNetHTTP(t *testing.T, head []byte, h *requestHead, hs handshake) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		t.Fatalf("upgraded a head net/http refuses: %v\n%q", err, head)
	}
	if req.Method != "GET" || req.ContentLength != 0 || len(req.TransferEncoding) != 0 {
		t.Fatalf("net/http reads %s with length %d, TE %v", req.Method, req.ContentLength, req.TransferEncoding)
	}
	if keys := req.Header.Values("Sec-WebSocket-Key"); len(keys) != 1 || keys[0] != string(hs.key) {
		t.Fatalf("net/http keys %q, ours %q", keys, hs.key)
	}
	// An absolute-form target's authority replaces Host (RFC 9112 §3.2.2).
	if h.uri[0] == '/' && req.ProtoMinor != 0 && req.Host != strings.Trim(string(h.header("Host")), " \t") {
		t.Fatalf("net/http host %q, ours %q", req.Host, h.header("Host"))
	}
	for k, vv := range req.Header {
		// The server side of net/http refuses what ReadRequest lets through here
		// (httpguts.ValidHeaderFieldName and ValidHeaderFieldValue).
		if k == "" || strings.IndexFunc(k, func(r rune) bool {
			return r <= ' ' || r >= 0x7F || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r)
		}) >= 0 {
			t.Fatalf("invalid header name %q", k)
		}
		for _, v := range vv {
			if strings.IndexFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7F }) >= 0 {
				t.Fatalf("invalid header value %q", v)
			}
		}
	}
	if !valuesHaveToken(req.Header["Upgrade"], "websocket") || !valuesHaveToken(req.Header["Connection"], "upgrade") {
		t.Fatalf("net/http sees no upgrade: %q", req.Header)
	}
	if req.URL.Path != wsPath && req.URL.RawPath != wsPath {
		t.Fatalf("net/http path %q", req.URL.Path)
	}
}

// valuesHaveToken is httpguts.HeaderValuesContainsToken (comma lists, any line).
func valuesHaveToken(values []string, token string) bool {
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if strings.EqualFold(strings.Trim(item, " \t"), token) {
				return true
			}
		}
	}
	return false
}
