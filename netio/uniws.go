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
	q, err := url.ParseQuery(string(h.query))
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
	uc, ok := sess.(UniConnector)
	if !ok {
		return nil
	}
	u := &uniSession{Session: sess, uc: uc, c: c}
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
	c         *conn
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
		u.c.Close(engine.DisconnectBadRequest)
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

// uniConn is the engine.Transport of a uni_websocket session: bare pushes.
type uniConn struct{ c *conn }

var _ engine.TransportKind = (*uniConn)(nil)

func (u *uniConn) Name() string             { return "uni_websocket" }
func (u *uniConn) Emulation() bool          { return false }
func (u *uniConn) Unidirectional() bool     { return true }
func (u *uniConn) Protocol() codec.Protocol { return codec.ProtocolJSON }

// Enqueue implements engine.Transport.
func (u *uniConn) Enqueue(msg []byte) error {
	msg = unwrapPush(msg)
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
	if d.Code != engine.DisconnectConnectionClosed.Code && !u.c.srv.cfg.UniDisableDisconnectPush && !d.DropQueue() {
		msg, err := codec.AppendPush(codec.ProtocolJSON, nil, &codec.Push{Disconnect: &codec.Disconnect{Code: d.Code, Reason: d.Reason}})
		if err == nil {
			_ = u.Enqueue(msg)
		}
	}
	u.c.Close(d)
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
