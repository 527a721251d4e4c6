package netio

import (
	"strings"
	"testing"

	"github.com/rotorhq/rotor/codec"
)

const wsPath = "/connection/websocket"

// testLimit is the head size limit of the route tests: the server's default.
const testLimit = DefaultMaxHeaderBytes

func upgradeHead(extra string) string {
	return "GET /connection/websocket?cf_ws_frame_ping_pong=true HTTP/1.1\r\nHost: localhost\r\n" +
		"Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + extra + "\r\n"
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name string
		in   string
		kind routeKind
	}{
		{"empty", "", routeMore},
		{"partial line", "GET /conn", routeMore},
		{"api post", "POST /api/publish HTTP/1.1\r\nHost: x\r\n\r\n", routeHTTP},
		{"other path", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", routeHTTP},
		{"api post, head incomplete", "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Le", routeMore},
		{"api post, line only", "POST /api/publish HTTP/1.1\r\n", routeMore},
		{"api head too large", "GET /api/info HTTP/1.1\r\nX: " + strings.Repeat("a", testLimit) + "\r\n\r\n", routeHTTP},
		{"ws path, head incomplete", "GET /connection/websocket HTTP/1.1\r\nHost: x\r\n", routeMore},
		{"ws path without upgrade", "GET /connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n", routeBadRequest},
		{"post to ws path, no upgrade", "POST /connection/websocket HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", routeBadRequest},
		{"post upgrade without connection", "POST /connection/websocket HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", routeBadRequest},
		{"post head incomplete", "POST /connection/websocket HTTP/1.1\r\nHost: x\r\n", routeMore},
		{"ws path with query", upgradeHead(""), routeWebSocket},
		{"bare LF", strings.ReplaceAll(upgradeHead(""), "\r\n", "\n"), routeWebSocket},
		{"upgrade case", "GET /connection/websocket HTTP/1.1\r\nHost: x\r\nupgrade: WebSocket\r\n\r\n", routeWebSocket},
		{"absolute form", "GET http://h:8000/connection/websocket HTTP/1.1\r\nHost: h:8000\r\nUpgrade: websocket\r\n\r\n", routeWebSocket},
		{"absolute form, IPv6 and port", "GET wss://[::1]:8000/connection/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n", routeWebSocket},
		{"absolute form, no path", "GET http://h:8000 HTTP/1.1\r\nHost: x\r\n\r\n", routeHTTP},
		{"absolute form, bad scheme", "GET 1://x/connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n", routeHTTP},
		{"absolute form, other scheme", "GET ftp://x/connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n", routeHTTP},
		{"absolute form, userinfo", "GET http://u@x/connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n", routeHTTP},
		{"absolute form, bad port", "GET http://x:abc/connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n", routeHTTP},
		{"absolute form, escape in host", "GET http://%7a/connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n", routeHTTP},
		{"absolute form, open bracket", "GET http://[::1/connection/websocket HTTP/1.1\r\nHost: x\r\n\r\n", routeHTTP},
		{"post upgrade", "POST /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", routeBadMethod},
		{"garbage", "\x16\x03\x01\x02\x00\n", routeHTTP},
		{"not http", "hello world\n", routeHTTP},
		{"trailing slash", "GET /connection/websocket/ HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", routeHTTP},
		{"too large", "GET /connection/websocket HTTP/1.1\r\nX: " + strings.Repeat("a", testLimit) + "\r\n\r\n", routeTooLarge},
		{"long non-ws line", "GET /" + strings.Repeat("a", testLimit), routeHTTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.in)
			if len(b) > testLimit {
				b = b[:testLimit]
			}
			var h requestHead
			kind, n := route(b, wsPath, testLimit, &h)
			if kind != tt.kind {
				t.Fatalf("kind %d, want %d", kind, tt.kind)
			}
			if kind == routeWebSocket && n != len(tt.in) {
				t.Fatalf("n=%d want %d", n, len(tt.in))
			}
		})
	}
}

// TestRouteMalformedHeads: heads net/http answers with 400 (or that a front proxy
// could read another way) are not upgraded, and the same head well formed is.
func TestRouteMalformedHeads(t *testing.T) {
	const line = "GET /connection/websocket HTTP/1.1\r\n"
	const rest = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	tests := []struct {
		name, head string
		kind       routeKind
	}{
		{"well formed", line + "Host: x\r\n" + rest + "\r\n", routeWebSocket},
		{"HTTP/1.0 without Host", "GET /connection/websocket HTTP/1.0\r\n" + rest + "\r\n", routeWebSocket},
		{"obs-text in a value", line + "Host: x\r\nX-Name: caf\xc3\xa9\r\n" + rest + "\r\n", routeWebSocket},
		{"tab in a value", line + "Host: x\r\nX-A: a\tb\r\n" + rest + "\r\n", routeWebSocket},
		{"empty value", line + "Host: x\r\nX-Empty:\r\n" + rest + "\r\n", routeWebSocket},
		{"line without colon", line + "Host: x\r\nX-Junk\r\n" + rest + "\r\n", routeBadRequest},
		{"line without colon, bare LF", line + "Host: x\nX-Junk\n" + rest + "\n", routeBadRequest},
		{"empty name", line + "Host: x\r\n: v\r\n" + rest + "\r\n", routeBadRequest},
		{"space before colon", line + "Host: x\r\nUpgrade : websocket\r\n" + rest + "\r\n", routeBadRequest},
		{"space in name", line + "Host: x\r\nX Y: z\r\n" + rest + "\r\n", routeBadRequest},
		{"non-token name", line + "Host: x\r\nX(y): z\r\n" + rest + "\r\n", routeBadRequest},
		{"obs-fold on the first line", line + " Host: x\r\n" + rest + "\r\n", routeBadRequest},
		{"obs-fold continuing a value", line + "Host: x\r\nX-A: a\r\n b\r\n" + rest + "\r\n", routeBadRequest},
		{"tab fold", line + "Host: x\r\nX-A: a\r\n\tSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n" + rest + "\r\n", routeBadRequest},
		{"NUL in a value", line + "Host: x\r\nX-A: a\x00b\r\n" + rest + "\r\n", routeBadRequest},
		{"bare CR in a value", line + "Host: x\r\nX-A: a\rSec-WebSocket-Key: b\r\n" + rest + "\r\n", routeBadRequest},
		{"DEL in a value", line + "Host: x\r\nX-A: \x7f\r\n" + rest + "\r\n", routeBadRequest},
		{"no Host", line + rest + "\r\n", routeBadRequest},
		{"two Host headers", line + "Host: x\r\nHost: y\r\n" + rest + "\r\n", routeBadRequest},
		{"two Host headers, same value", line + "Host: x\r\nhost: x\r\n" + rest + "\r\n", routeBadRequest},
		{"invalid Host", line + "Host: a b\r\n" + rest + "\r\n", routeBadRequest},
		{"Host with slash", line + "Host: a/b\r\n" + rest + "\r\n", routeBadRequest},
		{"bad version", "GET /connection/websocket HTTP/1.1x\r\nHost: x\r\n" + rest + "\r\n", routeBadRequest},
		{"version without minor", "GET /connection/websocket HTTP/1.\r\nHost: x\r\n" + rest + "\r\n", routeBadRequest},
		{"extra field on the request line", "GET /connection/websocket HTTP/1.1 x\r\nHost: x\r\n" + rest + "\r\n", routeBadRequest},
		{"control byte in target", "GET /connection/websocket?a=\x01 HTTP/1.1\r\nHost: x\r\n" + rest + "\r\n", routeBadRequest},
		{"malformed POST", "POST /connection/websocket HTTP/1.1\r\nHost: x\r\nX\r\n" + rest + "\r\n", routeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h requestHead
			kind, n := route([]byte(tt.head), wsPath, testLimit, &h)
			if kind != tt.kind {
				t.Fatalf("kind %d, want %d", kind, tt.kind)
			}
			if n != len(tt.head) {
				t.Fatalf("n=%d want %d", n, len(tt.head))
			}
		})
	}
}

func TestRouteHeadLengthWithPipelinedFrame(t *testing.T) {
	head := upgradeHead("")
	in := head + "\x81\x80abcd"
	var h requestHead
	kind, n := route([]byte(in), wsPath, testLimit, &h)
	if kind != routeWebSocket || n != len(head) {
		t.Fatalf("kind %d n %d", kind, n)
	}
	if string(h.path) != wsPath || string(h.query) != "cf_ws_frame_ping_pong=true" {
		t.Fatalf("path %q query %q", h.path, h.query)
	}
}

func TestCheckUpgrade(t *testing.T) {
	none := newOriginPolicy(nil)
	tests := []struct {
		name   string
		head   string
		policy *originPolicy
		status int
		proto  codec.Protocol
		sub    string
	}{
		{"ok json", upgradeHead(""), none, 101, codec.ProtocolJSON, ""},
		{"subprotocol json", upgradeHead("Sec-WebSocket-Protocol: centrifuge-json\r\n"), none, 101, codec.ProtocolJSON, "centrifuge-json"},
		{"subprotocol protobuf", upgradeHead("Sec-WebSocket-Protocol: foo, centrifuge-protobuf, centrifuge-json\r\n"), none, 101, codec.ProtocolProtobuf, "centrifuge-protobuf"},
		{"first known wins", upgradeHead("Sec-WebSocket-Protocol: centrifuge-json,centrifuge-protobuf\r\n"), none, 101, codec.ProtocolJSON, "centrifuge-json"},
		{"two header lines", upgradeHead("Sec-WebSocket-Protocol: foo\r\nSec-WebSocket-Protocol: centrifuge-protobuf\r\n"), none, 101, codec.ProtocolProtobuf, "centrifuge-protobuf"},
		{"unknown subprotocol", upgradeHead("Sec-WebSocket-Protocol: mqtt\r\n"), none, 101, codec.ProtocolJSON, ""},
		{"format=protobuf", strings.Replace(upgradeHead(""), "?cf_ws", "?format=protobuf&cf_ws", 1), none, 101, codec.ProtocolProtobuf, ""},
		{"cf_protocol=protobuf", strings.Replace(upgradeHead(""), "?cf_ws", "?a=b&cf_protocol=protobuf&cf_ws", 1), none, 101, codec.ProtocolProtobuf, ""},
		{"format=json", strings.Replace(upgradeHead(""), "?cf_ws", "?format=json&cf_ws", 1), none, 101, codec.ProtocolJSON, ""},
		{"no connection upgrade", strings.Replace(upgradeHead(""), "keep-alive, Upgrade", "keep-alive", 1), none, 400, 0, ""},
		{"version 8", strings.Replace(upgradeHead(""), "Version: 13", "Version: 8", 1), none, 426, 0, ""},
		{"no version", strings.Replace(upgradeHead(""), "Sec-WebSocket-Version: 13\r\n", "", 1), none, 400, 0, ""},
		{"bad key", strings.Replace(upgradeHead(""), "dGhlIHNhbXBsZSBub25jZQ==", "short", 1), none, 400, 0, ""},
		{"origin with empty list", upgradeHead("Origin: http://example.com\r\n"), none, 403, 0, ""},
		{"origin star", upgradeHead("Origin: http://example.com\r\n"), newOriginPolicy([]string{"*"}), 101, 0, ""},
		{"origin glob", upgradeHead("Origin: HTTPS://App.Example.com\r\n"), newOriginPolicy([]string{"https://*.example.com"}), 101, 0, ""},
		{"origin glob miss", upgradeHead("Origin: https://example.com.evil\r\n"), newOriginPolicy([]string{"https://*.example.com"}), 403, 0, ""},
		{"two keys", upgradeHead("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"), none, 400, 0, ""},
		{"two identical keys", upgradeHead("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), none, 400, 0, ""},
		{"two versions", upgradeHead("Sec-WebSocket-Version: 13\r\n"), none, 400, 0, ""},
		{"content-length 0", upgradeHead("Content-Length: 0\r\n"), none, 101, 0, ""},
		{"content-length", upgradeHead("Content-Length: 6\r\n"), none, 400, 0, ""},
		{"content-length 00", upgradeHead("Content-Length: 00\r\n"), none, 400, 0, ""},
		{"transfer-encoding", upgradeHead("Transfer-Encoding: chunked\r\n"), none, 400, 0, ""},
		{"upgrade in a second header", strings.Replace(upgradeHead("Upgrade: websocket\r\n"), "Upgrade: websocket\r\nConnection", "Upgrade: h2c\r\nConnection", 1), none, 101, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h requestHead
			kind, _ := route([]byte(tt.head), wsPath, testLimit, &h)
			if kind != routeWebSocket {
				t.Fatalf("not routed: %d", kind)
			}
			hs := checkUpgrade(&h, tt.policy, false)
			if hs.status != tt.status {
				t.Fatalf("status %d want %d", hs.status, tt.status)
			}
			if hs.status == 101 && (hs.protocol != tt.proto || hs.subprotocol != tt.sub) {
				t.Fatalf("proto %v sub %q", hs.protocol, hs.subprotocol)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		ok     bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"https://*.example.com", "https://a.example.com", true},
		{"https://*.example.com", "https://a.b.example.com", true},
		{"https://*.example.com", "https://example.com", false},
		{"http://localhost:?000", "http://localhost:3000", true},
		{"http://localhost:?000", "http://localhost:30000", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"exact", "exact", true},
		{"exact", "exacT", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pat, []byte(tt.s)); got != tt.ok {
			t.Errorf("globMatch(%q, %q) = %v", tt.pat, tt.s, got)
		}
	}
}

func TestUpgradeRequestHeader(t *testing.T) {
	r := &UpgradeRequest{head: "Host: x\r\nX-Real-IP:  1.2.3.4 \r\nx-empty:\r\n"}
	if r.Header("x-real-ip") != "1.2.3.4" || r.Header("HOST") != "x" || r.Header("missing") != "" || r.Header("X-Empty") != "" {
		t.Fatal("Header lookup")
	}
}

func TestHTTPError(t *testing.T) {
	got := string(appendHTTPError(nil, 426))
	want := "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n" +
		"Sec-WebSocket-Version: 13\r\nContent-Length: 17\r\n\r\nUpgrade Required\n"
	if got != want {
		t.Fatalf("got %q", got)
	}
}
