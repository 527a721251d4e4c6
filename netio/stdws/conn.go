package stdws

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio"
)

// conn is one WebSocket connection and the engine.Transport of its session. Its
// reader runs on the goroutine fasthttp hands the hijacked connection to; a
// writer goroutine of its own sends what Enqueue queued, one frame per batch
// (JSON joined with '\n', as netio does), and the close frame last.
type conn struct {
	srv *Server
	ws  *websocket.Conn
	// raw is the TLS (or TCP) connection under ws: fasthttp's hijacked wrapper
	// does not close it, it only closes it after the handler returns.
	raw     net.Conn
	proto   codec.Protocol
	op      int // websocket.TextMessage or BinaryMessage
	deflate bool
	limit   int  // message size limit (wire bytes)
	split   bool // one WebSocket message per Enqueue (uni_websocket)
	uniWS   bool // a uni_websocket connection

	wake       chan struct{} // a write is due (capacity 1)
	done       chan struct{} // closed by closeNow
	readerDone chan struct{} // closed when the reader stopped
	writerDone chan struct{} // closed when the writer goroutine ended

	mu          sync.Mutex    // guards the fields below; a leaf
	sess        netio.Session // set once Accept returned it
	pending     []byte
	spare       []byte // the other write buffer, swapped with pending
	segs        []seg  // split: the messages in pending
	spareSegs   []seg
	unsent      int // bytes of the write under way
	closeReq    bool
	closeSent   bool
	closeCode   int
	closeReason string
	dead        bool
}

var _ engine.Transport = (*conn)(nil)

// seg is one message of a split connection's pending batch: it ends at end, and
// a ping frame follows it when ping is set.
type seg struct {
	end  int
	ping bool
}

// Protocol implements engine.Transport.
func (c *conn) Protocol() codec.Protocol { return c.proto }

// Enqueue implements engine.Transport: it copies msg into the pending batch and
// wakes the writer. Never blocks on I/O; any goroutine.
func (c *conn) Enqueue(msg []byte) error { return c.enqueue(msg, false) }

// enqueue queues msg; on a split connection it is a message of its own, followed
// by a ping frame when ping is set.
func (c *conn) enqueue(msg []byte, ping bool) error {
	if len(msg) == 0 {
		return nil
	}
	c.mu.Lock()
	if c.closeReq || c.dead {
		c.mu.Unlock()
		return engine.ErrTransportClosed
	}
	sep := 0
	if len(c.pending) > 0 && c.proto == codec.ProtocolJSON && !c.split {
		sep = 1
	}
	if c.unsent+len(c.pending)+sep+len(msg) > c.srv.cfg.QueueMaxSize {
		c.mu.Unlock()
		return engine.ErrSlowConsumer
	}
	if sep == 1 {
		c.pending = append(c.pending, '\n')
	}
	c.pending = append(c.pending, msg...)
	if c.split {
		c.segs = append(c.segs, seg{end: len(c.pending), ping: ping})
	}
	c.mu.Unlock()
	c.signal()
	return nil
}

// Close implements engine.Transport: the close frame follows what is queued
// (dropped when d.DropQueue() says so). Idempotent, non-blocking.
func (c *conn) Close(d engine.Disconnect) {
	code := int(d.Code)
	if d.Code > 0xFFFF {
		code = websocket.CloseInternalServerErr
	}
	c.requestClose(code, d.Reason, d.DropQueue())
}

func (c *conn) requestClose(code int, reason string, drop bool) {
	c.mu.Lock()
	if c.closeReq || c.dead {
		c.mu.Unlock()
		return
	}
	c.closeReq = true
	c.closeCode = code
	c.closeReason = reason
	if drop {
		c.pending = c.pending[:0]
		c.segs = c.segs[:0]
	}
	c.mu.Unlock()
	c.signal()
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeNow closes the TCP connection once, without a closing handshake.
func (c *conn) closeNow() {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	c.pending, c.spare = nil, nil
	c.segs, c.spareSegs = nil, nil
	c.mu.Unlock()
	close(c.done)
	_ = c.raw.Close()
}

// writeLoop sends batches until the connection is closed; it ends after the
// close frame (once the peer answered, or after CloseTimeout) or a write error.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	cfg := &c.srv.cfg
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		for {
			c.mu.Lock()
			if c.dead {
				c.mu.Unlock()
				return
			}
			data := c.pending
			c.pending = c.spare[:0]
			c.spare = nil
			segs := c.segs
			c.segs = c.spareSegs[:0]
			c.spareSegs = nil
			c.unsent = len(data)
			sendClose := len(data) == 0 && c.closeReq && !c.closeSent
			if sendClose {
				c.closeSent = true
			}
			code, reason := c.closeCode, c.closeReason
			c.mu.Unlock()
			if len(data) == 0 && !sendClose {
				break
			}
			if len(data) > 0 {
				var err error
				if c.split {
					err = c.writeSegs(data, segs)
				} else {
					err = c.writeMessage(data)
				}
				c.mu.Lock()
				c.unsent = 0
				if c.spare == nil && cap(data) <= 64<<10 {
					c.spare = data[:0]
				}
				if c.spareSegs == nil && cap(segs) <= 1024 {
					c.spareSegs = segs[:0]
				}
				dead, sess := c.dead, c.sess
				c.mu.Unlock()
				if err != nil {
					// A write that failed or outlived websocket.write_timeout ends
					// the session as 3009 "write error", as on netio; not when the
					// connection was already being torn down (the peer hung up).
					if w, ok := sess.(netio.WriteWatcher); ok && !dead {
						w.WriteFailed()
					}
					c.closeNow()
					return
				}
				continue
			}
			if c.uniWS && cfg.UniDisableClosingHandshake {
				// uni_websocket.disable_closing_handshake: what was queued is
				// sent; the connection closes with no close frame.
				c.closeNow()
				return
			}
			msg := websocket.FormatCloseMessage(code, reason)
			if code == websocket.CloseNoStatusReceived {
				msg = nil // echo an empty close as empty
			}
			err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.writeTimeout()))
			if err == nil {
				select {
				case <-c.readerDone:
				case <-time.After(cfg.CloseTimeout):
				case <-c.done:
				}
			}
			c.closeNow()
			return
		}
	}
}

// writeTimeout is websocket.write_timeout, or uni_websocket.write_timeout on a
// uni_websocket connection.
func (c *conn) writeTimeout() time.Duration {
	if c.uniWS && c.srv.cfg.UniWriteTimeout > 0 {
		return c.srv.cfg.UniWriteTimeout
	}
	return c.srv.cfg.WriteTimeout
}

// writeMessage sends data as one message within websocket.write_timeout.
func (c *conn) writeMessage(data []byte) error {
	cfg := &c.srv.cfg
	if c.deflate {
		c.ws.EnableWriteCompression(cfg.CompressionMinSize == 0 || len(data) > cfg.CompressionMinSize)
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout()))
	return c.ws.WriteMessage(c.op, data)
}

// writeSegs sends each message of a split batch, and the ping frames due.
func (c *conn) writeSegs(data []byte, segs []seg) error {
	start := 0
	for _, sg := range segs {
		if err := c.writeMessage(data[start:sg.end]); err != nil {
			return err
		}
		start = sg.end
		if sg.ping {
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.writeTimeout())); err != nil {
				return err
			}
		}
	}
	return nil
}

// serve runs one upgraded connection on the goroutine fasthttp gave it.
// uni is set for a uni_websocket upgrade.
func (s *Server) serve(wc *websocket.Conn, req *netio.UpgradeRequest, deflate bool, uni *uniUpgrade) {
	c := &conn{
		srv:        s,
		ws:         wc,
		raw:        wc.NetConn(),
		proto:      req.Protocol,
		op:         websocket.TextMessage,
		deflate:    deflate,
		limit:      s.cfg.MessageSizeLimit,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if u, ok := c.raw.(interface{ UnsafeConn() net.Conn }); ok {
		c.raw = u.UnsafeConn()
	}
	if c.proto == codec.ProtocolProtobuf {
		c.op = websocket.BinaryMessage
	}
	var t engine.Transport = c
	if uni != nil {
		c.uniWS = true
		c.split = !s.cfg.UniJoinPushMessages
		if s.cfg.UniMessageSizeLimit > 0 {
			c.limit = s.cfg.UniMessageSizeLimit
		}
		t = &uniConn{c: c}
	}
	if !s.track(c) {
		_ = c.raw.Close()
		return
	}
	defer s.untrack(c)
	wc.SetReadLimit(int64(c.limit))
	if deflate {
		_ = wc.SetCompressionLevel(s.cfg.CompressionLevel)
	}
	// The engine answers pings on the application level; frame pings get a pong
	// (gorilla's default handler), and a peer's close frame is echoed by the
	// default close handler, unless ours went first.
	go c.writeLoop()
	sess := s.cfg.Accept(t, req)
	if uni != nil && sess != nil {
		sess = netio.NewUniSession(sess, uni.req, c.Close)
	}
	if sess == nil {
		close(c.readerDone)
		c.closeNow()
		<-c.writerDone
		return
	}
	c.mu.Lock()
	c.sess = sess
	c.mu.Unlock()
	c.read(sess)
	close(c.readerDone)
	// After our close frame the writer waits for the reader, then closes; on
	// any other ending close at once.
	c.mu.Lock()
	graceful := c.closeSent
	c.mu.Unlock()
	if !graceful {
		c.closeNow()
	}
	<-c.writerDone
	c.closeNow()
	sess.OnClose()
}

// read hands messages to sess until the connection ends. A handler goroutine
// runs HandleFrame while this one goes on reading, so a peer that hangs up while
// a handler waits (a connect proxy call, a JWKS fetch) is noticed at once and
// the session hears it through netio.PeerWatcher, as on the event-loop path.
// Two buffers rotate between them: reading runs at most one message ahead.
func (c *conn) read(sess netio.Session) {
	limit := c.limit
	if c.deflate {
		limit = c.srv.cfg.DecompressedMessageSizeLimit
	}
	msgs := make(chan []byte, 1)
	free := make(chan []byte, 2)
	free <- nil
	free <- nil
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		stop := false
		for m := range msgs {
			if !stop && !sess.HandleFrame(m) {
				stop = true
			}
			if cap(m) > 64<<10 {
				m = nil
			}
			free <- m[:0]
		}
	}()
	defer func() {
		close(msgs)
		select {
		case <-handled:
		default:
			// The handler is still busy: the peer is gone meanwhile.
			if w, ok := sess.(netio.PeerWatcher); ok {
				w.PeerGone()
			}
			<-handled
		}
	}()
	discard := false
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return // peer close (echoed), read limit (1009 sent), I/O error
		}
		buf := <-free
		buf, err = readAtMost(r, buf, limit)
		switch {
		case errors.Is(err, errTooBig):
			discard = true
			c.requestClose(websocket.CloseMessageTooBig, "", false)
		case err != nil:
			// A corrupt compressed message; the next NextReader reports the
			// stream's state.
			discard = true
			c.protocolError(websocket.CloseProtocolError)
		case mt == websocket.TextMessage && !utf8.Valid(buf):
			discard = true
			c.protocolError(websocket.CloseInvalidFramePayloadData)
		case !discard:
			msgs <- buf
			continue
		}
		free <- buf[:0]
	}
}

// protocolError sends a close frame with code after what is queued; the reader
// goes on discarding messages until the peer answers.
func (c *conn) protocolError(code int) {
	c.requestClose(code, "", false)
}

var errTooBig = errors.New("stdws: message over the size limit")

// readAtMost appends r's message to buf, failing with errTooBig past limit
// (the rest of the message is discarded, so the stream stays usable).
func readAtMost(r io.Reader, buf []byte, limit int) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit+1)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			_, _ = io.Copy(io.Discard, r)
			return buf[:0], errTooBig
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
