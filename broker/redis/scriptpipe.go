package redis

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/cloudwego/netpoll"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// scriptPipe is a connection of its own, per standalone shard, for the publish
// scripts (the hot path of API publish with history). It exists because the
// rueidis pipeline costs three goroutine handoffs per call (caller → writer
// goroutine → socket, reader goroutine → caller) and about one socket write per
// two calls; here:
//
//   - the calling goroutine writes: when no command is awaiting its reply it
//     writes its own at once, else it only appends to the pending batch;
//   - the one reader goroutine, when it has read every reply it has buffered (or
//     the last one awaited), writes the batch gathered meanwhile, so under load
//     one write and about one read carry many calls, with at most one round trip
//     of added wait and no timer;
//   - the reader hands each reply to its caller.
//
// Errors: a Redis error reply is the call's error (NOSCRIPT makes the caller
// fall back to rueidis, which loads the script); an I/O or protocol error, or no
// reply for about the I/O timeout while calls wait (a hung Redis), closes the
// connection and fails every waiting call at once; the next call dials again.
// It connects with the shard's TLS, user/password, db and client name, RESP2.
// Not used for Cluster or Sentinel shards (they move keys or masters; rueidis
// follows them).
type scriptPipe struct {
	addr      string
	dial      func() (net.Conn, error)
	hello     [][]string // AUTH, SELECT, CLIENT SETNAME: sent on each new connection
	ioTimeout time.Duration

	mu      sync.Mutex
	conn    net.Conn // nil: not connected
	buf     []byte   // commands not yet written
	spare   []byte
	writing bool // a goroutine is in conn.Write
	pending []*scriptCall
	head    int    // pending[head:] await replies, in order
	sent    int    // of those, written
	queued  int    // of those, in buf
	replies uint64 // replies read (the watchdog's progress mark)
	served  uint64 // calls answered without error (for tests)
	closed  bool
	stop    chan struct{}
}

// scriptCall is one waiting call. done is buffered so the reader never blocks
// on a caller that gave up (a caller that gave up does not reuse its call).
type scriptCall struct {
	done  chan struct{}
	reply scriptReply
	err   error
}

var scriptCallPool = sync.Pool{New: func() any { return &scriptCall{done: make(chan struct{}, 1)} }}

// errPipeClosed fails calls after Close.
var errPipeClosed = errors.New("redis: connection closed")

// scriptError is an error reply of Redis (e.g. "NOSCRIPT No matching script").
type scriptError string

func (e scriptError) Error() string { return "redis: " + string(e) }

// noScript reports whether err is Redis's NOSCRIPT reply.
func noScript(err error) bool {
	var se scriptError
	return errors.As(err, &se) && len(se) >= 8 && se[:8] == "NOSCRIPT"
}

func scriptSHA(src string) string {
	h := sha1.Sum([]byte(src))
	return hex.EncodeToString(h[:])
}

var (
	addStreamSHA = scriptSHA(luaAddStream)
	addListSHA   = scriptSHA(luaAddList)
)

// newScriptPipe returns the pipe of a standalone shard configured by opt, or
// nil when opt asks for something only rueidis does (several seed addresses,
// Sentinel). It does not connect: the first call does.
func newScriptPipe(opt rueidis.ClientOption, ioTimeout time.Duration) *scriptPipe {
	if len(opt.InitAddress) != 1 || len(opt.Sentinel.MasterSet) > 0 {
		return nil
	}
	addr := opt.InitAddress[0]
	dialer := opt.Dialer
	tlsCfg := opt.TLSConfig
	p := &scriptPipe{addr: addr, ioTimeout: ioTimeout, stop: make(chan struct{})}
	switch {
	case opt.DialFn != nil:
		p.dial = func() (net.Conn, error) { return opt.DialFn(addr, &dialer, tlsCfg) }
	case tlsCfg != nil:
		p.dial = func() (net.Conn, error) { return tls.DialWithDialer(&dialer, "tcp", addr, tlsCfg) }
	default:
		// Plain TCP through netpoll, on the pollers that serve HTTP and WebSocket:
		// a reply wakes the reader from the same epoll loop instead of Go's
		// netpoller, so an idle-then-busy cycle wakes one thread fewer (about a
		// fifth less CPU per publish, measured A/B). It dials on the first call,
		// after netio.Init configured netpoll.
		p.dial = func() (net.Conn, error) { return netpoll.DialConnection("tcp", addr, dialer.Timeout) }
	}
	if opt.Password != "" || opt.Username != "" {
		if opt.Username != "" {
			p.hello = append(p.hello, []string{"AUTH", opt.Username, opt.Password})
		} else {
			p.hello = append(p.hello, []string{"AUTH", opt.Password})
		}
	}
	if opt.SelectDB != 0 {
		p.hello = append(p.hello, []string{"SELECT", strconv.Itoa(opt.SelectDB)})
	}
	if opt.ClientName != "" {
		p.hello = append(p.hello, []string{"CLIENT", "SETNAME", opt.ClientName})
	}
	go p.watchdog()
	return p
}

// connectLocked dials and sends the hello commands; mu is held (callers wait:
// the dial is bounded by the connect timeout, the replies by the I/O timeout).
func (p *scriptPipe) connectLocked() error {
	c, err := p.dial()
	if err != nil {
		return err
	}
	var b []byte
	for _, cmd := range p.hello {
		b = appendCommand(b, cmd...)
	}
	r := bufio.NewReaderSize(c, 4096)
	if len(b) > 0 {
		_ = c.SetDeadline(time.Now().Add(p.ioTimeout))
		_, err = c.Write(b)
		for i := 0; err == nil && i < len(p.hello); i++ {
			var rep scriptReply
			err = readScriptReply(r, &rep)
			if err == nil && rep.err != "" {
				err = fmt.Errorf("redis %s: %w", p.hello[i][0], scriptError(rep.err))
			}
		}
		if err == nil {
			err = c.SetDeadline(time.Time{})
		}
		if err != nil {
			c.Close()
			return err
		}
	}
	p.conn = c
	p.buf, p.head, p.sent, p.queued = p.buf[:0], 0, 0, 0
	p.pending = p.pending[:0]
	go p.readLoop(c, r)
	return nil
}

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(b []byte, args ...string) []byte {
	b = appendArrayHeader(b, len(args))
	for _, a := range args {
		b = appendBulk(b, a)
	}
	return b
}

func appendArrayHeader(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

func appendBulk(b []byte, s string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// evalSHA runs EVALSHA sha with keys and args and returns the reply. A Redis
// error reply is a scriptError.
func (p *scriptPipe) evalSHA(ctx context.Context, sha string, keys, args []string) (scriptReply, error) {
	c := scriptCallPool.Get().(*scriptCall)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		scriptCallPool.Put(c)
		return scriptReply{}, errPipeClosed
	}
	if p.conn == nil {
		if err := p.connectLocked(); err != nil {
			p.mu.Unlock()
			scriptCallPool.Put(c)
			return scriptReply{}, err
		}
	}
	p.buf = appendArrayHeader(p.buf, 3+len(keys)+len(args))
	p.buf = appendBulk(p.buf, "EVALSHA")
	p.buf = appendBulk(p.buf, sha)
	p.buf = append(p.buf, '$')
	p.buf = strconv.AppendInt(p.buf, int64(len(strconv.Itoa(len(keys)))), 10)
	p.buf = append(p.buf, '\r', '\n')
	p.buf = strconv.AppendInt(p.buf, int64(len(keys)), 10)
	p.buf = append(p.buf, '\r', '\n')
	for _, k := range keys {
		p.buf = appendBulk(p.buf, k)
	}
	for _, a := range args {
		p.buf = appendBulk(p.buf, a)
	}
	p.pending = append(p.pending, c)
	p.queued++
	// Nothing awaits a reply: nobody else will write, so write now. Otherwise the
	// reader writes the batch once it has read the replies at hand.
	if !p.writing && p.sent == 0 {
		p.flushLocked()
	}
	p.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		// The reader still answers c later; c is left to the collector.
		return scriptReply{}, ctx.Err()
	}
	rep, err := c.reply, c.err
	c.reply, c.err = scriptReply{}, nil
	scriptCallPool.Put(c)
	return rep, err
}

// flushLocked writes the queued commands: called and returns with mu held, and
// releases it during the write.
func (p *scriptPipe) flushLocked() {
	for len(p.buf) > 0 && p.conn != nil {
		p.writing = true
		conn := p.conn
		b := p.buf
		p.buf = p.spare[:0]
		p.sent += p.queued
		p.queued = 0
		p.mu.Unlock()
		// No write deadline: a write stuck on a hung server counts as calls
		// awaiting replies (sent), so the watchdog closes conn and ends it.
		_, err := conn.Write(b)
		p.mu.Lock()
		p.spare = b[:0]
		p.writing = false
		if err != nil {
			// The reader fails every waiting call when the closed connection ends
			// its read.
			conn.Close()
			return
		}
		// The reader skips writing while this write runs; if it has meanwhile
		// read every reply (or a new connection replaced conn and nothing was
		// written on it), no reply is left to make it write what was queued.
		if p.sent > 0 {
			return
		}
	}
}

// readLoop reads the replies of conn and completes the calls in order, writing
// the gathered batch whenever it runs out of buffered replies.
func (p *scriptPipe) readLoop(conn net.Conn, r *bufio.Reader) {
	for {
		var rep scriptReply
		err := readScriptReply(r, &rep)
		p.mu.Lock()
		if err == nil && p.conn == conn && p.head < len(p.pending) && p.sent > 0 {
			c := p.pending[p.head]
			p.pending[p.head] = nil
			p.head++
			p.sent--
			p.replies++
			if rep.err == "" {
				p.served++
			}
			if p.head == len(p.pending) {
				p.pending, p.head = p.pending[:0], 0
			}
			if !p.writing && p.queued > 0 && (p.sent == 0 || r.Buffered() == 0) {
				p.flushLocked()
			}
			p.mu.Unlock()
			c.reply = rep
			if rep.err != "" {
				c.err = scriptError(rep.err)
			}
			c.done <- struct{}{}
			continue
		}
		// An I/O or protocol error, a reply nobody waits for, or a connection
		// replaced or closed meanwhile: fail whatever waits on this connection.
		if err == nil {
			err = errors.New("redis: unexpected reply")
		}
		var failed []*scriptCall
		if p.conn == conn {
			failed = append(failed, p.pending[p.head:]...)
			clear(p.pending)
			p.pending, p.head, p.sent, p.queued = p.pending[:0], 0, 0, 0
			p.buf = p.buf[:0]
			p.conn = nil
		}
		p.mu.Unlock()
		conn.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			err = fmt.Errorf("redis %s: connection lost: %w", p.addr, err)
		}
		for _, c := range failed {
			c.err = err
			c.done <- struct{}{}
		}
		return
	}
}

// watchdog closes the connection when calls have awaited a reply with none read
// for at least the I/O timeout (a hung or unreachable server), so they fail with
// an error instead of waiting for TCP to give up.
func (p *scriptPipe) watchdog() {
	tick := p.ioTimeout / 2
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var mark uint64
	stalled := 0
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		if p.conn != nil && p.sent > 0 && p.replies == mark {
			stalled++
			if stalled >= 2 {
				p.conn.Close()
				stalled = 0
			}
		} else {
			stalled = 0
		}
		mark = p.replies
		p.mu.Unlock()
	}
}

// Close closes the connection; waiting calls fail, later ones get errPipeClosed.
func (p *scriptPipe) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	close(p.stop)
	if p.conn != nil {
		p.conn.Close()
	}
}

// scriptReply is what the publish scripts answer: an array whose first items are
// integers or bulk strings (offset, epoch, flags), or an error reply.
type scriptReply struct {
	n     int       // items in the array
	items [4]string // the first four, integers in decimal
	err   string    // an error reply's text
}

// Bounds of what the reader accepts from the server.
const (
	maxReplyLine  = 64 << 10 // a simple string, error or header line
	maxReplyBulk  = 64 << 10 // a bulk string kept or skipped
	maxReplyItems = 1 << 16
	maxReplyDepth = 8
)

var errProtocol = errors.New("redis: protocol error")

// readScriptReply reads one RESP2 reply into rep: an error reply sets rep.err;
// an array sets rep.n and its first items (nested arrays are skipped, nil items
// read as ""); a scalar reads as a one-item array. Anything malformed or over the
// bounds is errProtocol.
func readScriptReply(r *bufio.Reader, rep *scriptReply) error {
	line, err := readReplyLine(r)
	if err != nil {
		return err
	}
	switch line[0] {
	case '-':
		rep.err = string(line[1:])
		return nil
	case '*':
		n, err := replyInt(line[1:])
		if err != nil || n > maxReplyItems {
			return errProtocol
		}
		if n < 0 {
			return nil
		}
		rep.n = int(n)
		for i := 0; i < int(n); i++ {
			var dst *string
			if i < len(rep.items) {
				dst = &rep.items[i]
			}
			if err := readReplyValue(r, dst, 1); err != nil {
				return err
			}
		}
		return nil
	}
	rep.n = 1
	return replyScalar(r, line, &rep.items[0])
}

// readReplyValue reads one value into dst (nil: skip it).
func readReplyValue(r *bufio.Reader, dst *string, depth int) error {
	line, err := readReplyLine(r)
	if err != nil {
		return err
	}
	switch line[0] {
	case '*':
		n, err := replyInt(line[1:])
		if err != nil || n > maxReplyItems || depth >= maxReplyDepth {
			return errProtocol
		}
		for i := int64(0); i < n; i++ {
			if err := readReplyValue(r, nil, depth+1); err != nil {
				return err
			}
		}
		return nil
	case '-':
		if dst != nil {
			*dst = ""
		}
		return nil
	}
	if dst == nil {
		var skip string
		return replyScalar(r, line, &skip)
	}
	return replyScalar(r, line, dst)
}

// replyScalar reads the scalar whose first line is line: + : $ or _.
func replyScalar(r *bufio.Reader, line []byte, dst *string) error {
	switch line[0] {
	case '+':
		*dst = string(line[1:])
	case ':':
		if _, err := replyInt(line[1:]); err != nil {
			return errProtocol
		}
		*dst = string(line[1:])
	case '_':
		*dst = ""
	case '$':
		n, err := replyInt(line[1:])
		if err != nil || n > maxReplyBulk {
			return errProtocol
		}
		if n < 0 {
			*dst = ""
			return nil
		}
		var b []byte
		if int(n)+2 <= r.Size() {
			if b, err = r.Peek(int(n) + 2); err != nil {
				return err
			}
		} else {
			b = make([]byte, n+2)
			if _, err := io.ReadFull(r, b); err != nil {
				return err
			}
		}
		if b[n] != '\r' || b[n+1] != '\n' {
			return errProtocol
		}
		*dst = string(b[:n])
		if int(n)+2 <= r.Size() {
			_, _ = r.Discard(int(n) + 2)
		}
	default:
		return errProtocol
	}
	return nil
}

// readReplyLine returns one line without its CRLF (valid until the next read).
func readReplyLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errProtocol
	}
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || len(line) > maxReplyLine || line[len(line)-2] != '\r' {
		return nil, errProtocol
	}
	return line[:len(line)-2], nil
}

// replyInt parses a RESP integer (optional '-', decimal digits, fits in int64).
func replyInt(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, errProtocol
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errProtocol
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}
