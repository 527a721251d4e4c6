package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/e2e/harness"
)

// These tests speak HTTP and WebSocket by hand over TCP, the way pooled proxies
// and hand-written clients do, where an SDK would hide the details.

const testKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3; accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo=

func upgradeRequest(extra string) string {
	return "GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + testKey + "\r\n" + extra + "\r\n"
}

// maskedText builds a masked client text frame.
func maskedText(payload string) []byte {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	out := []byte{0x81}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, 0x80|byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, key[:]...)
	for i := 0; i < len(payload); i++ {
		out = append(out, payload[i]^key[i%4])
	}
	return out
}

// readFrame reads one unmasked server frame and returns its opcode and payload.
func readFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("read frame header: %v", err)
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			t.Fatal(err)
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			t.Fatal(err)
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0F, p
}

// TestUpgradeAfterAPIRequestOnOneConnection: a pooled proxy sends an API call and
// then a WebSocket upgrade on the same keep-alive connection. The upgrade succeeds
// and the session works (connect command, reply), as in Centrifugo.
func TestUpgradeAfterAPIRequestOnOneConnection(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	c, err := srv.DialConn(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: "+harness.APIKey+
		"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"nodes"`)) || resp.Close {
		t.Fatalf("/api/info: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	io.WriteString(c, upgradeRequest(""))
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade after an API request: %v %v", resp, err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept %q", got)
	}
	c.Write(maskedText(`{"id":1,"connect":{"token":"` + harness.UserToken(t, "pooled") + `"}}`))
	op, p := readFrame(t, br)
	if op != 1 || !bytes.Contains(p, []byte(`"id":1`)) || !bytes.Contains(p, []byte(`"connect":{`)) {
		t.Fatalf("connect reply op %d %q", op, p)
	}
}

// TestLargeRequestHeads: 20 KB of cookies (over the 4 KB and 8 KB Rotor used to
// accept, under Rotor's 32 KiB default and Centrifugo's 1 MiB) pass on the API and
// on the WebSocket upgrade.
func TestLargeRequestHeads(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	cookie := "session=" + strings.Repeat("c", 20<<10)
	req, _ := http.NewRequest(http.MethodPost, srv.BaseURL+"/api/info", strings.NewReader("{}"))
	req.Header.Set("X-API-Key", harness.APIKey)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/api/info with a 20 KB cookie: %d", resp.StatusCode)
	}
	d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
	conn, wsResp, err := d.Dial(srv.WSURL, http.Header{"Cookie": {cookie}, "X-Forwarded-For": {"10.0.0.1"}})
	if err != nil {
		status := 0
		if wsResp != nil {
			status = wsResp.StatusCode
		}
		t.Fatalf("upgrade with a 20 KB cookie: %v (HTTP %d)", err, status)
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{"token":"`+harness.UserToken(t, "big")+`"}}`)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || !bytes.Contains(msg, []byte(`"id":1`)) {
		t.Fatalf("connect reply %q %v", msg, err)
	}
}

// TestMalformedUpgradeHead: a head net/http refuses (a header line without a
// colon) gets 400 and no upgrade, so a front proxy and the server cannot read it
// two ways.
func TestMalformedUpgradeHead(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	for _, tc := range []struct{ name, head string }{
		{"line without colon", upgradeRequest("X-Junk\r\n")},
		{"folded line first", strings.Replace(upgradeRequest(""), "\r\nHost:", "\r\n Host:", 1)},
		{"two Host headers", upgradeRequest("Host: other\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := srv.DialConn(3 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.head)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%v %v, want 400", resp, err)
			}
		})
	}
}

// TestShutdownWithUnfinishedHeads: connections that never finish their request
// head do not hold the process for the shutdown timeout.
func TestShutdownWithUnfinishedHeads(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	var conns []net.Conn
	for _, half := range []string{
		"GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr",
		"POST /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Len",
		"GET /conn",
	} {
		c, err := srv.DialConn(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, half)
		conns = append(conns, c)
	}
	// When an API call on a later connection is answered, the listener has
	// accepted the earlier ones (the kernel queues connections in order).
	srv.MustAPI(t, "info", map[string]any{})
	took := srv.Stop()
	t.Logf("exit took %v", took)
	// Stop sends SIGTERM and kills after 3 s; the server must exit on its own, at
	// once.
	if took > 2*time.Second {
		t.Fatalf("the server took %v to exit", took)
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || n > 0 {
			t.Fatalf("connection still open after exit: %d %v", n, err)
		}
	}
}
