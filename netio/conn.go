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
	// over. Called exactly once per session, on a goroutine of its own (never on a
	// netpoll poller or a flush worker, so it may block on the engine's cleanup, e.g.
	// a Redis round trip, without holding up other connections), after the last
	// HandleFrame has returned and after the flush worker has dropped the
	// connection's output.
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
	// deflate means permessage-deflate was negotiated. Set at the upgrade, before
	// the session exists; read-only afterwards. The pending buffer then holds
	// segments (see enqueueSeg) instead of one run of messages.
	deflate bool

	// httpIdle is set by fasthttp's ConnState hook while a keep-alive connection
	// waits for its next request.
	httpIdle atomic.Bool
	// httpGone is called when the peer hangs up while fasthttp serves a streaming
	// response on the connection (stream.go); nil otherwise.
	httpGone atomic.Pointer[func()]
	// uniWS marks a uni_websocket connection (uniws.go), preframed one whose
	// pending buffer holds complete frames (one per push); set at the upgrade.
	uniWS, preframed bool

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
	// unsent counts bytes the token holder took out of pending and the socket has
	// not accepted yet: the frame being sent, or what a stalled connection left in
	// netpoll's Writer. Enqueue counts them against QueueMaxSize, so a client that
	// stops reading holds at most that much in all, not that much twice.
	unsent int
	// stalls counts hand-offs to a stalled writer (tests read it under mu).
	stalls int
	// lastSeg is the offset in pending.b of the last segment (deflate only).
	lastSeg int
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
	if c.deflate {
		return c.enqueueSeg(msg, segMessages)
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
	queued := c.unsent
	if p != nil {
		queued += len(p.b) - hdrReserve
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
// holder after what is queued (dropped when d.DropQueue() says so, except bytes a
// stalled write has begun); the TCP connection is then half-closed and fully closed
// when the peer answers with its close frame or closes, or after
// Config.CloseTimeout. Idempotent, non-blocking, any goroutine.
func (c *conn) Close(d engine.Disconnect) {
	code := uint16(d.Code)
	if d.Code > 0xFFFF || !ws.ValidCloseCode(code) {
		code = ws.CloseInternalError
	}
	c.requestClose(code, d.Reason, d.DropQueue())
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
// scheduled, then start OnClose if due. OnClose runs on a goroutine of its own: the
// engine's cleanup may wait (presence removal and unsubscribes through Redis, for up
// to its I/O timeout when Redis hangs), and a flush worker serves many connections.
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
		s := c.srv
		s.closers.Add(1)
		go func() {
			defer s.closers.Done()
			defer s.connDone()
			defer func() {
				if r := recover(); r != nil {
					recoveredPanics.Inc()
					s.cfg.Logger.Error("netio: panic in OnClose", "panic", r)
				}
			}()
			sess.OnClose()
		}()
	}
}

// flush writes everything pending as one data frame, followed by a pong and the close
// frame when due, in one send. The caller holds the token (state flushBusy); flush
// returns it, or passes it to a stalled writer when the socket is full (the caller
// must then not touch the socket either). It never waits for the socket. Must not
// hold c.mu.
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
			halfClose = !c.peerClosed && !c.noCloseFrame()
		}
		if data != nil {
			c.unsent = len(data.b) - hdrReserve
		}
		c.writing = true
		c.mu.Unlock()

		out, start := c.frame(data, pong, sendClose, code, reason)
		p := out.b[start:]
		n, err := c.sendDirect(p)
		if err == nil && n < len(p) {
			// The socket is full. Waiting for it here would hold up every other
			// connection of this worker (or this reader's runner), so the rest goes
			// to a goroutine of its own, which keeps the token (and c.writing) until
			// the socket takes it or the write timeout closes the connection.
			err = c.stall(p[n:])
			putBuf(out) // netpoll copied the rest
			if err == nil {
				go c.finishStalled(halfClose, sendClose)
				return
			}
		} else {
			putBuf(out)
		}
		c.wrote(err, halfClose, sendClose)
	}
}

// sendDirect sends as much of p as the socket takes now with send(2), never
// waiting. It returns the bytes sent; a full socket is not an error.
func (c *conn) sendDirect(p []byte) (int, error) {
	sent := 0
	for sent < len(p) {
		n, errno := sysSend(c.fd, p[sent:])
		switch errno {
		case 0:
			sent += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return sent, nil
		default:
			return sent, errno
		}
	}
	return sent, nil
}

// stall copies rest, which the socket did not take, into netpoll's Writer (the
// caller may then recycle its buffer) and counts it as unsent. Token holder only.
func (c *conn) stall(rest []byte) error {
	wr := c.nc.Writer()
	buf, err := wr.Malloc(len(rest))
	if err != nil {
		return err
	}
	copy(buf, rest)
	c.mu.Lock()
	c.unsent = len(rest)
	c.stalls++
	c.mu.Unlock()
	stalledWrites.Inc()
	return nil
}

// finishStalled runs on a goroutine of its own for a connection whose socket was
// full: netpoll's Flush waits, under Config.WriteTimeout, until the socket takes
// what stall left in its Writer. Once it has (netpoll holds nothing more, so direct
// sends are safe again) the goroutine goes on flushing whatever was queued
// meanwhile and ends when the token returns to idle. Only stalled connections ever
// get such a goroutine, and it holds no lock while it waits.
func (c *conn) finishStalled(halfClose, sendClose bool) {
	defer func() {
		if r := recover(); r != nil {
			recoveredPanics.Inc()
			c.srv.cfg.Logger.Error("netio: panic in stalled writer", "panic", r)
			c.mu.Lock()
			c.writing = false
			c.state = flushIdle
			c.mu.Unlock()
			c.closeTCP()
		}
	}()
	err := c.nc.Writer().Flush()
	c.wrote(err, halfClose, sendClose)
	c.flush()
}

// wrote ends one write of the flush loop: it half-closes after a close frame,
// releases c.writing and the unsent count, and closes the connection after an
// error or a completed closing handshake. Token holder only; must not hold c.mu.
func (c *conn) wrote(err error, halfClose, sendClose bool) {
	if err == nil && halfClose {
		// Tell the peer we are done writing, so it answers our close frame. Done
		// while c.writing holds off the close callback, which closes the fd.
		_ = syscall.Shutdown(c.fd, syscall.SHUT_WR)
	}
	c.mu.Lock()
	c.writing = false
	c.unsent = 0
	peerClosed := c.peerClosed
	c.mu.Unlock()
	switch {
	case err != nil:
		c.mu.Lock()
		sess := c.sess
		c.mu.Unlock()
		if w, ok := sess.(WriteWatcher); ok {
			w.WriteFailed()
		}
		c.closeTCP()
	case sendClose && (peerClosed || !halfClose):
		// The peer's close frame is already here: the handshake is complete.
		c.closeTCP()
	case sendClose:
		c.srv.sweepAdd(c, sweepClosing, c.srv.cfg.CloseTimeout)
	}
}

// frame lays out one write: the data frame (header written into the reserved
// front of data), then a pong, then a close frame. It returns the buffer and the
// offset where the bytes to send start; the caller owns the buffer.
func (c *conn) frame(data, pong *obuf, sendClose bool, code uint16, reason string) (*obuf, int) {
	out, start := data, hdrReserve
	if data != nil && c.deflate {
		out, start = c.frameSegments(data)
	} else if data != nil && !c.preframed {
		n := len(data.b) - hdrReserve
		start = hdrReserve - ws.HeaderSize(n)
		ws.PutHeader(data.b[start:hdrReserve], true, c.dataOp, n)
	} else if data == nil {
		out = getBuf(hdrReserve + 2*(2+ws.MaxControlPayload))
		out.b = out.b[:hdrReserve]
	}
	if pong != nil {
		out = growBuf(out, 2+len(pong.b))
		out.b = ws.AppendControl(out.b, ws.OpPong, pong.b)
		putBuf(pong)
	}
	if sendClose && !c.noCloseFrame() {
		out = growBuf(out, ws.CloseFrameSize(code, len(reason)))
		out.b = ws.AppendClose(out.b, code, reason)
	}
	return out, start
}

// noCloseFrame reports whether a close ends the connection without a close frame
// (uni_websocket.disable_closing_handshake): what is queued is sent, then the
// connection closes.
func (c *conn) noCloseFrame() bool { return c.uniWS && c.srv.cfg.UniDisableClosingHandshake }

// writeHandshake sends an HTTP response (the 101 or an error) from inside
// OnRequest, before the connection has a session, so no flush token holder can be
// writing. It may wait for the socket under the write timeout: these responses are
// small and the runner belongs to this connection alone.
func (c *conn) writeHandshake(p []byte) error {
	n, err := c.sendDirect(p)
	if err != nil || n == len(p) {
		return err
	}
	wr := c.nc.Writer()
	buf, err := wr.Malloc(len(p) - n)
	if err != nil {
		return err
	}
	copy(buf, p[n:])
	return wr.Flush()
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
