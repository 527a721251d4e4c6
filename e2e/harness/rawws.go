package harness

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// RawConn is a plain WebSocket connection speaking the JSON client protocol
// by hand, for the cases an SDK would hide (silent clients, protocol
// violations, oversized frames).
type RawConn struct {
	*websocket.Conn
	t testing.TB
}

// DialRaw opens a WebSocket to the server's /connection/websocket endpoint.
func (s *Server) DialRaw(t testing.TB) *RawConn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
	conn, resp, err := d.Dial(s.WSURL, http.Header{})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", s.WSURL, err, status)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &RawConn{Conn: conn, t: t}
}

// Send writes one text message.
func (c *RawConn) Send(msg string) {
	c.t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatalf("write %q: %v", truncate(msg), err)
	}
}

// Read returns the next data message, failing the test on close or timeout.
func (c *RawConn) Read(timeout time.Duration) []byte {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	_, msg, err := c.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return msg
}

// Closed describes how a connection ended.
type Closed struct {
	Code     int    // WebSocket close code; 0 when no close frame arrived
	Reason   string // close reason text
	Err      error  // the read error that ended the connection
	Messages [][]byte
	At       time.Time
}

// WaitClose reads (and collects) messages until the server closes the
// connection or timeout passes. A timeout fails the test.
func (c *RawConn) WaitClose(timeout time.Duration) Closed {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var res Closed
	for {
		_ = c.SetReadDeadline(deadline)
		_, msg, err := c.ReadMessage()
		if err == nil {
			res.Messages = append(res.Messages, msg)
			continue
		}
		res.Err, res.At = err, time.Now()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			res.Code, res.Reason = ce.Code, ce.Text
			return res
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v (received %d messages)", timeout, len(res.Messages))
		}
		// Closed without a close frame (TCP reset/EOF).
		return res
	}
}

func truncate(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
