package netio

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cloudwego/netpoll"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio/ws"
)

// Session is the engine's side of one upgraded connection.
type Session interface {
	// HandleFrame gets one complete, unmasked WebSocket message (text or binary; the
	// type is not checked). payload is valid only during the call. It returns false
	// once the session has closed the transport; the connection then stops reading
	// messages. Called by one goroutine at a time, never after OnClose.
	HandleFrame(payload []byte) bool
	// OnClose reports that the connection is gone: the peer closed it, an I/O error
	// or timeout ended it, or the closing handshake started by Transport.Close is
	// over. Called exactly once per session, on a flush worker (never on a netpoll
	// poller goroutine), after the last HandleFrame has returned.
	OnClose()
}

// hdrReserve is the space kept at the front of an outbound buffer for the frame
// header, which is only known at flush time.
const hdrReserve = ws.MaxServerHeaderSize

// connMode is what a connection's reader is doing.
type connMode uint8

const (
	modeSniff     connMode = iota // reading the request head
	modeWebSocket                 // upgraded: reading frames
	modeHTTP                      // owned by fasthttp
	modeDrain                     // after a protocol error or the peer's close: discard input
)

// flushState is the flush token. It changes only under conn.mu, so a wake-up is
// never lost: Enqueue moves idle→scheduled, whoever takes the token moves
// scheduled→flushing, and the holder returns it to idle once nothing is pending.
type flushState uint8

const (
	flushIdle flushState = iota
	flushScheduled
	flushBusy
)

// Sweep lists a connection can be on.
const (
	sweepNone uint8 = iota
	sweepHandshake
	sweepClosing
)

// conn is one accepted TCP connection. After an upgrade it is the engine.Transport
// of its session. It is its own netpoll context, so OnRequest finds it without a
// lookup.
type conn struct {
	context.Context
	srv *Server
	nc  netpoll.Connection
	fd  int
	w   *worker // the flush worker of this connection (id % W)

	// Reader state: used only by the goroutine running OnRequest, or by the close
	// callback, which netpoll never runs while OnRequest is active.
	mode     connMode
	stopRead bool // the session is closing: ignore further data messages
	fr       frameReader
	proto    codec.Protocol
	dataOp   ws.Opcode // OpText for JSON, OpBinary for protobuf

	// viaNetpoll is owned by the flush token holder: once a direct send hit a full
	// socket, every later write goes through netpoll's Writer (so nothing is ever
	// written around data netpoll still holds).
	viaNetpoll bool

	// httpIdle is set by fasthttp's ConnState hook while a keep-alive connection
	// waits for its next request.
	httpIdle atomic.Bool

	// Server lists; guarded by srv.mu.
	prev, next           *conn
	sweepPrev, sweepNext *conn
	sweepAt              int64
	sweepList            uint8

	// Worker queue: queued is set by the push that links c and cleared by the worker
	// just before it runs c; qnext is guarded by w.mu while c is on the worker's list
	// and owned by the worker once the worker has taken the list.
	qnext  *conn
	queued atomic.Bool

	// mu is the outbound lock (outMu). It is a leaf: nothing is locked and no I/O is
	// done while holding it.
	mu          sync.Mutex
	sess        Session
	pending     *obuf // queued payload after hdrReserve bytes; nil when nothing is queued
	pong        *obuf // payload of the latest unanswered ping; nil if none
	state       flushState
	inRead      bool   // the reader is in a batch and flushes at its end
	writing     bool   // a token holder is writing to the socket
	closeReq    bool   // a close frame must be sent
	closeSent   bool   // the close frame was handed to the socket
	peerClosed  bool   // the peer's close frame arrived
	broken      bool   // we called nc.Close
	dead        bool   // the close callback ran: the socket is gone
	notify      bool   // OnClose is due
	notified    bool   // OnClose was called
	closeCode   uint16 // code of the close frame to send
	closeReason string
}

var _ engine.Transport = (*conn)(nil)

// Protocol implements engine.Transport.
func (c *conn) Protocol() codec.Protocol { return c.proto }

// Enqueue implements engine.Transport: it copies msg into the pending buffer and
// schedules a flush. It never blocks on I/O and does not allocate once the buffer
// pools are warm. Any goroutine; takes c.mu (a leaf).
func (c *conn) Enqueue(msg []byte) error {
	if len(msg) == 0 {
		return nil
	}
	max := c.srv.cfg.QueueMaxSize
	c.mu.Lock()
	if c.closeReq || c.broken || c.dead {
		c.mu.Unlock()
		return engine.ErrTransportClosed
	}
	p := c.pending
	sep := 0
	if p != nil && c.proto == codec.ProtocolJSON {
		sep = 1
	}
	queued := 0
	if p != nil {
		queued = len(p.b) - hdrReserve
	}
	if queued+sep+len(msg) > max {
		c.mu.Unlock()
		return engine.ErrSlowConsumer
	}
	if p == nil {
		p = getBuf(hdrReserve + len(msg))
		p.b = p.b[:hdrReserve]
	} else {
		p = growBuf(p, sep+len(msg))
		if sep == 1 {
			p.b = append(p.b, '\n')
		}
	}
	p.b = append(p.b, msg...)
	c.pending = p
	sched := c.scheduleLocked()
	c.mu.Unlock()
	if sched {
		c.w.push(c)
	}
	return nil
}

// Close implements engine.Transport. The close frame is written by the flush token
// holder after what is queued (dropped for 3000 and 3008); the TCP connection is
// then half-closed and fully closed when the peer answers with its close frame or
// closes, or after Config.CloseTimeout. Idempotent, non-blocking, any goroutine.
func (c *conn) Close(d engine.Disconnect) {
	code := uint16(d.Code)
	if d.Code > 0xFFFF || !ws.ValidCloseCode(code) {
		code = ws.CloseInternalError
	}
	drop := d.Code == engine.DisconnectSlow.Code || d.Code == engine.DisconnectConnectionClosed.Code
	c.requestClose(code, d.Reason, drop)
}

// requestClose asks for a close frame. Takes c.mu.
func (c *conn) requestClose(code uint16, reason string, drop bool) {
	c.mu.Lock()
	if c.closeReq || c.broken || c.dead {
		c.mu.Unlock()
		return
	}
	c.closeReq = true
	c.closeCode = code
	c.closeReason = reason
	if drop {
		putBuf(c.pending)
		c.pending = nil
	}
	sched := c.scheduleLocked()
	c.mu.Unlock()
	if sched {
		c.w.push(c)
	}
}

// scheduleLocked moves the token from idle to scheduled and reports whether the
// caller must hand c to its worker (not while the reader is in a batch: it flushes
// at the end). Must hold c.mu.
func (c *conn) scheduleLocked() bool {
	if c.state != flushIdle {
		return false
	}
	c.state = flushScheduled
	return !c.inRead
}

// beginRead marks the start of a reader batch. Takes c.mu.
func (c *conn) beginRead() {
	c.mu.Lock()
	c.inRead = true
	c.mu.Unlock()
}

// endRead ends a reader batch and, if anything was scheduled meanwhile, takes the
// token and flushes inline. Reader goroutine only; must not hold c.mu.
func (c *conn) endRead() {
	c.mu.Lock()
	c.inRead = false
	take := c.state == flushScheduled
	if take {
		c.state = flushBusy
	}
	c.mu.Unlock()
	if take {
		c.flush()
	}
}

// runWorker is what a flush worker does with a connection it was handed: flush if
// scheduled, then deliver OnClose if due.
func (c *conn) runWorker() {
	c.mu.Lock()
	if c.state == flushScheduled && !c.inRead {
		c.state = flushBusy
		c.mu.Unlock()
		c.flush()
		c.mu.Lock()
	}
	notify := c.notify && !c.notified
	if notify {
		c.notified = true
	}
	sess := c.sess
	c.mu.Unlock()
	if notify {
		defer c.srv.connDone()
		sess.OnClose()
	}
}

// flush writes everything pending as one data frame, followed by a pong and the close
// frame when due, in one send. The caller holds the token (state flushBusy); flush
// returns it. Must not hold c.mu.
func (c *conn) flush() {
	for {
		c.mu.Lock()
		if c.dead || c.broken {
			c.dropLocked()
			c.state = flushIdle
			c.mu.Unlock()
			return
		}
		data, pong := c.pending, c.pong
		c.pending, c.pong = nil, nil
		sendClose := c.closeReq && !c.closeSent
		if data == nil && pong == nil && !sendClose {
			c.state = flushIdle
			c.mu.Unlock()
			return
		}
		code, reason := c.closeCode, c.closeReason
		halfClose := false
		if sendClose {
			c.closeSent = true
			halfClose = !c.peerClosed
		}
		c.writing = true
		c.mu.Unlock()

		out, start := c.frame(data, pong, sendClose, code, reason)
		err := c.write(out.b[start:])
		if err == nil && halfClose {
			// Tell the peer we are done writing, so it answers our close frame. Done
			// while c.writing holds off the close callback, which closes the fd.
			_ = syscall.Shutdown(c.fd, syscall.SHUT_WR)
		}
		// c.write never leaves references to out behind: the netpoll path copies.
		putBuf(out)

		c.mu.Lock()
		c.writing = false
		peerClosed := c.peerClosed
		c.mu.Unlock()
		switch {
		case err != nil:
			c.closeTCP()
		case sendClose && (peerClosed || !halfClose):
			// The peer's close frame is already here: the handshake is complete.
			c.closeTCP()
		case sendClose:
			c.srv.sweepAdd(c, sweepClosing, c.srv.cfg.CloseTimeout)
		}
	}
}

// frame lays out one write: the data frame (header written into the reserved
// front of data), then a pong, then a close frame. It returns the buffer and the
// offset where the bytes to send start; the caller owns the buffer.
func (c *conn) frame(data, pong *obuf, sendClose bool, code uint16, reason string) (*obuf, int) {
	out, start := data, hdrReserve
	if data != nil {
		n := len(data.b) - hdrReserve
		start = hdrReserve - ws.HeaderSize(n)
		ws.PutHeader(data.b[start:hdrReserve], true, c.dataOp, n)
	} else {
		out = getBuf(hdrReserve + 2*(2+ws.MaxControlPayload))
		out.b = out.b[:hdrReserve]
	}
	if pong != nil {
		out = growBuf(out, 2+len(pong.b))
		out.b = ws.AppendControl(out.b, ws.OpPong, pong.b)
		putBuf(pong)
	}
	if sendClose {
		out = growBuf(out, ws.CloseFrameSize(code, len(reason)))
		out.b = ws.AppendClose(out.b, code, reason)
	}
	return out, start
}

// write sends p: first straight to the socket with one send(2); if the socket is
// full, the rest is copied into netpoll's Writer and flushed, which waits for the
// socket under the write timeout. The caller must keep the close callback out (hold
// the token with c.writing set, or run inside OnRequest).
func (c *conn) write(p []byte) error {
	if !c.viaNetpoll {
		for len(p) > 0 {
			n, errno := sysSend(c.fd, p)
			if errno == 0 {
				p = p[n:]
				continue
			}
			if errno == syscall.EINTR {
				continue
			}
			if errno == syscall.EAGAIN {
				break
			}
			return errno
		}
		if len(p) == 0 {
			return nil
		}
		c.viaNetpoll = true
	}
	wr := c.nc.Writer()
	buf, err := wr.Malloc(len(p))
	if err != nil {
		return err
	}
	copy(buf, p)
	return wr.Flush()
}

// writeGuarded writes p outside OnRequest's protection: it holds c.writing so the
// close callback waits. Must not hold c.mu.
func (c *conn) writeGuarded(p []byte) error {
	c.mu.Lock()
	if c.dead || c.broken {
		c.mu.Unlock()
		return netpoll.ErrConnClosed
	}
	c.writing = true
	c.mu.Unlock()
	err := c.write(p)
	c.mu.Lock()
	c.writing = false
	c.mu.Unlock()
	return err
}

// dropLocked recycles what is queued. Must hold c.mu, with no writer running.
func (c *conn) dropLocked() {
	putBuf(c.pending)
	putBuf(c.pong)
	c.pending, c.pong = nil, nil
}

// closeTCP closes the TCP connection once. Must not hold c.mu or c.writing.
func (c *conn) closeTCP() {
	c.mu.Lock()
	if c.broken || c.dead {
		c.mu.Unlock()
		return
	}
	c.broken = true
	c.mu.Unlock()
	_ = c.nc.Close()
}

// onClosed is the connection's netpoll close callback. netpoll runs it once, after
// any OnRequest has returned, on the goroutine that closed the connection (a poller
// hang-up goroutine, a runner, or the caller of Close) and before it closes the fd.
// It waits for a writer in progress to leave (a blocked Flush is woken by netpoll's
// close trigger), so the fd is never written after it is closed, and hands OnClose
// to the worker.
func (c *conn) onClosed(netpoll.Connection) error {
	s := c.srv
	s.untrack(c)
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return nil
	}
	c.dead = true
	for c.writing {
		c.mu.Unlock()
		runtime.Gosched()
		c.mu.Lock()
	}
	c.dropLocked()
	notify := c.sess != nil
	c.notify = notify
	c.mu.Unlock()
	c.fr.reset()
	if notify {
		c.w.push(c)
	} else {
		s.connDone()
	}
	return nil
}
