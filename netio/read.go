package netio

import (
	"io"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/netio/ws"
)

// sniff reads the request head and routes the connection: a WebSocket upgrade on
// the configured path is handled here, anything else goes to fasthttp. It blocks
// only to complete a head already begun, bounded by the handshake deadline.
func (c *conn) sniff() {
	r := c.nc.Reader()
	var h requestHead
	limit := c.srv.cfg.MaxHeaderBytes
	for {
		l := min(r.Len(), limit)
		b, err := r.Peek(l)
		if err != nil {
			c.closeTCP()
			return
		}
		kind, n := route(b, c.srv.cfg.WebSocketPath, limit, &h)
		if kind == routeHTTP && c.srv.cfg.UniWebSocketPath != "" {
			// uni_websocket upgrades are served here too (uniws.go).
			if kind, n = route(b, c.srv.cfg.UniWebSocketPath, limit, &h); kind == routeWebSocket {
				c.uniWS = true
			}
		}
		switch kind {
		case routeHTTP:
			c.serveHTTP()
			return
		case routeTooLarge:
			c.reject(431)
			return
		case routeBadRequest:
			c.reject(400)
			return
		case routeBadMethod:
			c.reject(405)
			return
		case routeWebSocket:
			c.upgrade(&h, n)
			return
		}
		// The head is incomplete: wait for one more byte (Peek blocks until the
		// read deadline set at accept).
		if _, err := r.Peek(l + 1); err != nil {
			c.closeTCP()
			return
		}
	}
}

// serveHTTP hands the connection to fasthttp, which owns it until it closes or
// until the next request on the keep-alive connection is for the WebSocket path:
// then the connection is routed again, as a new one would be, so pooled proxies
// that send an upgrade after an API request on one connection get it upgraded
// (as net/http in Centrifugo does).
func (c *conn) serveHTTP() {
	c.mode = modeHTTP
	c.srv.sweepRemove(c)
	_ = c.nc.SetReadTimeout(0) // also clears the handshake deadline
	hc := &httpConn{Connection: c.nc, c: c}
	_ = c.srv.http.ServeConn(hc)
	if !hc.handBack {
		return
	}
	c.httpIdle.Store(false)
	if c.srv.shutting.Load() {
		c.closeTCP()
		return
	}
	c.mode = modeSniff
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.HandshakeTimeout))
	c.srv.sweepAdd(c, sweepHandshake, c.srv.cfg.HandshakeTimeout)
	c.sniff()
}

// httpConn is the connection as fasthttp sees it. The ConnState hook finds the
// conn through it, and it gives the connection back to netio at a request
// boundary when the next request is for the WebSocket path: fasthttp reads each
// new request on a keep-alive connection with a Read call made while it is idle
// and its buffer is empty, so nothing of that request has reached fasthttp yet.
// (A request pipelined behind the previous one is already in fasthttp's buffer;
// fasthttp answers it, see Listen.) Used only by the connection's runner.
type httpConn struct {
	netpoll.Connection
	c *conn
	// handBack is set when Read ended fasthttp's loop for netio to route the
	// next request; Close then leaves the socket open.
	handBack bool
}

// Read implements net.Conn for fasthttp.
func (hc *httpConn) Read(p []byte) (int, error) {
	if hc.c.httpIdle.Load() && hc.c.nextIsWebSocket() {
		hc.handBack = true
		// fasthttp ends a keep-alive connection quietly on EOF before a request.
		return 0, io.EOF
	}
	return hc.Connection.Read(p)
}

// Close implements net.Conn for fasthttp, which closes the connection when
// ServeConn ends.
func (hc *httpConn) Close() error {
	if hc.handBack {
		return nil
	}
	return hc.Connection.Close()
}

// nextIsWebSocket waits, under the idle deadline fasthttp set, until route can
// decide about the next request on a keep-alive connection, and reports whether
// netio must serve it (a request for the WebSocket path). It consumes nothing.
// Waiting for the whole head here, while fasthttp still counts the connection as
// idle, lets Shutdown close a connection that never finishes it. false on a read
// error or timeout (fasthttp's own Read then reports it).
func (c *conn) nextIsWebSocket() bool {
	r := c.nc.Reader()
	limit := c.srv.cfg.MaxHeaderBytes
	var h requestHead
	for need := 1; ; {
		if _, err := r.Peek(need); err != nil {
			return false
		}
		b, err := r.Peek(min(r.Len(), limit))
		if err != nil {
			return false
		}
		switch kind, _ := route(b, c.srv.cfg.WebSocketPath, limit, &h); kind {
		case routeMore:
			need = len(b) + 1
		case routeHTTP:
			if p := c.srv.cfg.UniWebSocketPath; p != "" {
				if k, _ := route(b, p, limit, &h); k != routeHTTP {
					return true // a uni_websocket upgrade: sniff serves it
				}
			}
			return false
		default:
			return true
		}
	}
}

// reject answers a bad upgrade with an HTTP error and closes the connection.
func (c *conn) reject(status int) {
	c.mode = modeDrain
	c.srv.sweepRemove(c)
	buf := getBuf(256)
	buf.b = appendHTTPError(buf.b, status)
	r := c.nc.Reader()
	_ = r.Skip(r.Len())
	_ = r.Release()
	_ = c.writeHandshake(buf.b)
	putBuf(buf)
	c.closeTCP()
}

// upgrade completes a WebSocket handshake whose head (n bytes) is h, calls Accept,
// and goes on reading frames that came with the head.
func (c *conn) upgrade(h *requestHead, n int) {
	// websocket.compression is the bidirectional WebSocket's: uni_websocket has a
	// key of its own (uni_websocket.compression, off by default, not supported),
	// and its pushes go one frame each, never compressed.
	hs := checkUpgrade(h, c.srv.origins, c.srv.cfg.Compression && !c.uniWS)
	if hs.status == 101 && c.srv.cfg.Admit != nil && !c.srv.cfg.Admit() {
		hs.status = 503
	}
	var uniReq *codec.ConnectRequest
	if c.uniWS && hs.status == 101 {
		uniReq, hs.status = c.uniHandshake(h, &hs)
	}
	if hs.status != 101 {
		c.reject(hs.status)
		return
	}
	req := &UpgradeRequest{
		Protocol:    hs.protocol,
		Subprotocol: hs.subprotocol,
		Compression: hs.deflate,
		Path:        string(h.path),
		Query:       string(h.query),
		Origin:      string(h.header("Origin")),
		UserAgent:   string(h.header("User-Agent")),
		head:        string(h.headers),
	}
	if ra := c.nc.RemoteAddr(); ra != nil {
		req.RemoteAddr = ra.String()
	}
	resp := getBuf(256)
	resp.b = appendSwitching(resp.b, hs.key, hs.subprotocol, hs.deflate)
	// h and hs.key alias the peeked head: they are not used after this point.
	r := c.nc.Reader()
	if err := r.Skip(n); err != nil {
		putBuf(resp)
		c.closeTCP()
		return
	}
	c.srv.sweepRemove(c)
	_ = c.nc.SetReadTimeout(c.srv.cfg.ReadTimeout)
	wt := c.srv.cfg.WriteTimeout
	if c.uniWS && c.srv.cfg.UniWriteTimeout > 0 {
		wt = c.srv.cfg.UniWriteTimeout
	}
	_ = c.nc.SetWriteTimeout(wt)
	c.proto = hs.protocol
	if hs.deflate {
		c.deflate = true
		c.fr.deflate = true
		c.fr.inflateLimit = c.srv.cfg.DecompressedMessageSizeLimit
	}
	c.dataOp = ws.OpText
	if hs.protocol == codec.ProtocolProtobuf {
		c.dataOp = ws.OpBinary
	}
	err := c.writeHandshake(resp.b)
	putBuf(resp)
	if err != nil {
		c.closeTCP()
		return
	}
	c.mode = modeWebSocket
	// Replies the session queues while being accepted go out with the first batch.
	c.beginRead()
	sess := c.srv.cfg.Accept(c.transport(), req)
	if c.uniWS && sess != nil {
		sess = c.uniSession(sess, uniReq)
	}
	if sess == nil {
		c.endRead()
		c.closeTCP()
		return
	}
	c.mu.Lock()
	c.sess = sess
	c.mu.Unlock()
	c.serveFrames(true)
}

// serveFrames reads every complete frame buffered and hands messages to the
// session; replies queued meanwhile are flushed once at the end of the batch. A
// frame already begun is waited for (bounded by Config.ReadTimeout) after flushing,
// so the goroutine returns only when all input is consumed (netpoll C2).
func (c *conn) serveFrames(inBatch bool) {
	r := c.nc.Reader()
	if !inBatch {
		c.beginRead()
	}
	for c.mode == modeWebSocket {
		ev, op, p, need, err := c.fr.next(r)
		if err == errMessageTooBig {
			// Close with 1009 but keep parsing (the reader skips the message), so the
			// peer's close frame ends the connection promptly.
			c.stopRead = true
			c.requestClose(ws.CloseMessageTooBig, "", false)
			continue
		}
		if err != nil {
			c.protocolError(closeCodeFor(err))
			break
		}
		switch ev {
		case evMessage:
			if !c.stopRead && !c.sess.HandleFrame(p) {
				c.stopRead = true
			}
			continue
		case evControl:
			c.control(op, p)
			continue
		}
		if need == 0 {
			break
		}
		c.endRead()
		_ = r.Release()
		if _, err := r.Peek(need); err != nil {
			// Read timeout inside a frame, or the connection closed.
			c.closeTCP()
			return
		}
		c.beginRead()
	}
	c.endRead()
	if c.mode == modeDrain {
		_ = r.Skip(r.Len())
	}
	_ = r.Release()
}

// control handles a ping, pong or close frame from the client.
func (c *conn) control(op ws.Opcode, p []byte) {
	switch op {
	case ws.OpPing:
		c.mu.Lock()
		if !c.closeReq && !c.dead && !c.broken {
			// Only the latest ping is answered (RFC 6455 §5.5.3).
			if c.pong == nil {
				c.pong = getBuf(ws.MaxControlPayload)
			}
			c.pong.b = append(c.pong.b[:0], p...)
			c.scheduleLocked() // inRead: flushed at the end of the batch
		}
		c.mu.Unlock()
	case ws.OpClose:
		code, _, err := ws.ParseClose(p)
		if err != nil {
			c.protocolError(closeCodeFor(err))
			return
		}
		c.mode = modeDrain
		c.fr.reset()
		c.mu.Lock()
		c.peerClosed = true
		sent := c.closeSent
		if !c.closeReq && !c.broken && !c.dead {
			// Echo the peer's code (an empty close is echoed empty).
			c.closeReq = true
			c.closeCode = code
			c.closeReason = ""
			c.scheduleLocked()
		}
		c.mu.Unlock()
		if sent {
			c.closeTCP()
		}
	}
}

// protocolError sends a close frame with code (1002) after what is queued, and
// discards all further input (frame boundaries are lost) until the peer closes or
// the close times out.
func (c *conn) protocolError(code uint16) {
	c.mode = modeDrain
	c.fr.reset()
	c.requestClose(code, "", false)
}

// drain discards input (after a protocol error or the peer's close frame).
func (c *conn) drain() {
	r := c.nc.Reader()
	_ = r.Skip(r.Len())
	_ = r.Release()
}
