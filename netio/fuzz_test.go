package netio

import (
	"bytes"
	"reflect"
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

// FuzzRequestHead checks the request-head router and the upgrade checks: no panic,
// decisions do not change when more bytes arrive, and a WebSocket head is found
// again in its own prefix.
func FuzzRequestHead(f *testing.F) {
	f.Add([]byte(upgradeHead("")))
	f.Add([]byte(upgradeHead("Sec-WebSocket-Protocol: foo, centrifuge-protobuf\r\nOrigin: https://a.example.com\r\n")))
	f.Add([]byte("GET /connection/websocket?format=protobuf HTTP/1.1\nUpgrade: websocket\nConnection: upgrade\n\n"))
	f.Add([]byte("POST /api/publish HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("GET http://x/connection/websocket HTTP/1.0\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01"))
	policy := newOriginPolicy([]string{"https://*.example.com", "http://localhost:?000"})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxHeadSize {
			data = data[:maxHeadSize]
		}
		var h requestHead
		kind, n := route(data, wsPath, &h)
		switch kind {
		case routeWebSocket:
			if n <= 0 || n > len(data) {
				t.Fatalf("head length %d of %d", n, len(data))
			}
			hs := checkUpgrade(&h, policy)
			switch hs.status {
			case 101:
				resp := appendSwitching(nil, hs.key, hs.subprotocol)
				if !bytes.HasSuffix(resp, []byte("\r\n\r\n")) {
					t.Fatal("bad 101")
				}
			case 400, 403, 426:
			default:
				t.Fatalf("status %d", hs.status)
			}
			var h2 requestHead
			if k2, n2 := route(data[:n], wsPath, &h2); k2 != routeWebSocket || n2 != n {
				t.Fatalf("prefix: %d %d, want ws %d", k2, n2, n)
			}
		case routeMore:
			for i := 0; i < len(data); i++ {
				var h2 requestHead
				if k2, _ := route(data[:i], wsPath, &h2); k2 != routeMore {
					t.Fatalf("prefix %d decided %d", i, k2)
				}
			}
		}
		if kind != routeMore && kind != routeTooLarge && len(data)+5 <= maxHeadSize {
			more := append(append([]byte(nil), data...), "X: y\r\n"...)
			var h2 requestHead
			if k2, n2 := route(more[:len(more)-1], wsPath, &h2); k2 != kind || n2 != n {
				t.Fatalf("more bytes changed %d/%d to %d/%d", kind, n, k2, n2)
			}
		}
	})
}
