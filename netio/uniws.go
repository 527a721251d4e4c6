package netio

import (
	"net/url"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio/ws"
)

// uni_websocket (spec transports.md §6): an upgrade on Config.UniWebSocketPath,
// JSON only, no subprotocol. The ConnectRequest comes in the cf_connect query
// parameter or as the first message; later messages are read and ignored. The
// session's pushes go out bare, one WebSocket message each (or joined with '\n' with
// UniJoinPushMessages), and a disconnect is a disconnect push followed by the close
// frame.

// UniConnector is what a uni_websocket session must implement besides Session
// (engine.Client does).
type UniConnector interface {
	ConnectUni(req *codec.ConnectRequest) bool
}

// uniHandshake completes the checks of a uni_websocket upgrade: JSON protocol, no
// subprotocol, a cf_connect parameter that must be valid JSON (400 otherwise). It
// returns the connect request (nil: it comes as the first message) and the status.
func (c *conn) uniHandshake(h *requestHead, hs *handshake) (*codec.ConnectRequest, int) {
	hs.protocol, hs.subprotocol = codec.ProtocolJSON, ""
	c.preframed = !c.srv.cfg.UniJoinPushMessages
	if l := c.srv.cfg.UniMessageSizeLimit; l > 0 {
		c.fr.limit = l
	}
	req, status := UniConnectQuery(string(h.query))
	return req, status
}

// UniConnectQuery reads a uni_websocket upgrade's cf_connect query parameter: the
// connect request (nil: none, it comes as the first message) and the status of
// the upgrade, 101, or 400 for a bad query or a cf_connect that is not a valid
// ConnectRequest. netio/stdws shares it.
func UniConnectQuery(rawQuery string) (*codec.ConnectRequest, int) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, 400
	}
	v, ok := q["cf_connect"]
	if !ok || len(v) == 0 {
		return nil, 101
	}
	req := new(codec.ConnectRequest)
	if err := codec.DecodeConnectRequest([]byte(v[0]), req); err != nil {
		return nil, 400
	}
	return req, 101
}

// transport is the engine.Transport of the connection's session.
func (c *conn) transport() engine.Transport {
	if c.uniWS {
		return &uniConn{c: c}
	}
	return c
}

// uniSession wraps the session of a uni_websocket connection: it connects it at
// once with a cf_connect request, or with the first message.
func (c *conn) uniSession(sess Session, req *codec.ConnectRequest) Session {
	return NewUniSession(sess, req, c.Close)
}

// NewUniSession wraps sess, the session of a uni_websocket connection, for its
// frame reader: with req (the cf_connect request) it connects it at once,
// otherwise the first message is the connect request; a bad one ends the
// connection through closeConn with 3501 (no disconnect push). It returns nil
// when sess is not a UniConnector. netio/stdws shares it.
func NewUniSession(sess Session, req *codec.ConnectRequest, closeConn func(engine.Disconnect)) Session {
	uc, ok := sess.(UniConnector)
	if !ok {
		return nil
	}
	u := &uniSession{Session: sess, uc: uc, closeConn: closeConn}
	if req != nil {
		u.connected = true
		uc.ConnectUni(req)
	}
	return u
}

// uniSession is a uni_websocket session as the frame reader sees it.
type uniSession struct {
	Session
	uc        UniConnector
	closeConn func(engine.Disconnect)
	connected bool // reader goroutine only
}

// HandleFrame implements Session: the first message is the ConnectRequest (bad
// JSON closes with 3501), later ones are ignored.
func (u *uniSession) HandleFrame(payload []byte) bool {
	if u.connected {
		return true
	}
	u.connected = true
	var req codec.ConnectRequest
	if err := codec.DecodeConnectRequest(payload, &req); err != nil {
		u.closeConn(engine.DisconnectBadRequest)
		return false
	}
	req.Data = append([]byte(nil), req.Data...) // payload is valid only during the call
	return u.uc.ConnectUni(&req)
}

// PeerGone forwards the hang-up to a session that watches for it.
func (u *uniSession) PeerGone() {
	if w, ok := u.Session.(PeerWatcher); ok {
		w.PeerGone()
	}
}

// WriteFailed forwards a failed write to a session that watches for it.
func (u *uniSession) WriteFailed() {
	if w, ok := u.Session.(WriteWatcher); ok {
		w.WriteFailed()
	}
}

// uniConn is the engine.Transport of a uni_websocket session: bare pushes.
type uniConn struct{ c *conn }

var _ engine.TransportKind = (*uniConn)(nil)

func (u *uniConn) Name() string             { return "uni_websocket" }
func (u *uniConn) Emulation() bool          { return false }
func (u *uniConn) Unidirectional() bool     { return true }
func (u *uniConn) Protocol() codec.Protocol { return codec.ProtocolJSON }

// Enqueue implements engine.Transport.
func (u *uniConn) Enqueue(msg []byte) error {
	msg = UnwrapPush(msg)
	if !u.c.preframed {
		return u.c.Enqueue(msg)
	}
	if err := u.c.enqueueFrame(ws.OpText, msg); err != nil {
		return err
	}
	if len(msg) == 2 && msg[0] == '{' && msg[1] == '}' {
		// The app-level ping goes with a native one, as Centrifugo's
		// uni_websocket sends both; the client's pong is read and ignored.
		return u.c.enqueueFrame(ws.OpPing, nil)
	}
	return nil
}

// Close implements engine.Transport: a disconnect push (unless disabled, or the
// peer is gone) before the close frame.
func (u *uniConn) Close(d engine.Disconnect) {
	if !u.c.srv.cfg.UniDisableDisconnectPush {
		if msg := UniDisconnectPush(d); msg != nil {
			_ = u.Enqueue(msg)
		}
	}
	u.c.Close(d)
}

// UniDisconnectPush returns the push a uni_websocket connection sends before the
// close frame of d (before UnwrapPush), or nil when none is due: the peer is
// gone, or d drops the queue. netio/stdws shares it.
func UniDisconnectPush(d engine.Disconnect) []byte {
	if d.Code == engine.DisconnectConnectionClosed.Code || d.DropQueue() {
		return nil
	}
	msg, err := codec.AppendPush(codec.ProtocolJSON, nil, &codec.Push{Disconnect: &codec.Disconnect{Code: d.Code, Reason: d.Reason}})
	if err != nil {
		return nil
	}
	return msg
}

// enqueueFrame queues msg as one complete frame of type op (preframed
// connections).
func (c *conn) enqueueFrame(op ws.Opcode, msg []byte) error {
	h := ws.HeaderSize(len(msg))
	max := c.srv.cfg.QueueMaxSize
	c.mu.Lock()
	if c.closeReq || c.broken || c.dead {
		c.mu.Unlock()
		return engine.ErrTransportClosed
	}
	p := c.pending
	queued := c.unsent
	if p != nil {
		queued += len(p.b) - hdrReserve
	}
	if queued+h+len(msg) > max {
		c.mu.Unlock()
		return engine.ErrSlowConsumer
	}
	if p == nil {
		p = getBuf(hdrReserve + h + len(msg))
		p.b = p.b[:hdrReserve]
	} else {
		p = growBuf(p, h+len(msg))
	}
	off := len(p.b)
	p.b = p.b[:off+h]
	ws.PutHeader(p.b[off:], true, op, len(msg))
	p.b = append(p.b, msg...)
	c.pending = p
	sched := c.scheduleLocked()
	c.mu.Unlock()
	if sched {
		c.w.push(c)
	}
	return nil
}
