package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/codec"
)

// clientOptions configures the simulated clients of one run.
type clientOptions struct {
	wsURL     string
	proto     codec.Protocol
	secret    []byte        // HMAC key for HS256 connection tokens; empty: connect without a token
	tokenTTL  time.Duration // 0: tokens carry no exp claim
	handshake time.Duration // bound on dial + connect + subscribe replies
}

// counters are shared by all the clients of one run (atomics; closeCodes under mu).
type counters struct {
	started     atomic.Int64 // handshakes begun
	established atomic.Int64 // connect and every subscribe answered without error
	failed      atomic.Int64 // handshakes that failed (dial, connect or subscribe)
	dialErrors  atomic.Int64
	connErrors  atomic.Int64 // connect answered with an error, or closed before the reply
	subErrors   atomic.Int64
	dropped     atomic.Int64 // established connections that closed before we closed them
	unsubs      atomic.Int64 // unsubscribe pushes (the server dropped a subscription)
	pings       atomic.Int64 // server pings received (each answered)
	pongErrors  atomic.Int64 // pongs that could not be written
	protoErrors atomic.Int64 // frames we could not decode
	pubs        atomic.Int64 // publication pushes received

	handshakeHist *histogram // dial → last subscribe reply
	dialHist      *histogram // TCP connect + WebSocket upgrade

	mu         sync.Mutex
	closeCodes map[int]int64 // close codes of dropped and failed connections (0: no close frame)
	samples    []string      // the first few distinct error messages
}

func newCounters() *counters {
	return &counters{handshakeHist: newHistogram(), dialHist: newHistogram(), closeCodes: make(map[int]int64)}
}

const maxErrorSamples = 5

// noteError records a close code (if err carries one) and keeps a sample of the message.
func (c *counters) noteError(err error) {
	code := 0
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	c.mu.Lock()
	c.closeCodes[code]++
	c.mu.Unlock()
	c.noteSample(err)
}

// noteSample keeps err's message if it is one of the first few distinct ones.
func (c *counters) noteSample(err error) {
	msg := err.Error()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) < maxErrorSamples {
		for _, s := range c.samples {
			if s == msg {
				return
			}
		}
		c.samples = append(c.samples, msg)
	}
}

func (c *counters) snapshotErrors() (map[string]int64, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	codes := make(map[string]int64, len(c.closeCodes))
	for k, v := range c.closeCodes {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "none"
		}
		codes[name] = v
	}
	return codes, append([]string(nil), c.samples...)
}

// pubHandler is told about every publication a client receives; now is the arrival time
// of the frame (unix nanoseconds). It runs on the client's reader goroutine.
type pubHandler func(c *benchConn, channel, data []byte, now int64)

// benchConn is one simulated client. One goroutine owns it: it dials, handshakes, then
// reads, answering pings; only closeNow may be called from elsewhere.
type benchConn struct {
	ws      *websocket.Conn
	proto   codec.Protocol
	buf     []byte // frame read buffer, reused
	out     []byte // command scratch buffer
	closing atomic.Bool

	// Fanout bookkeeping, written only by the reader goroutine.
	lastSeq  []int64      // per publisher: highest sequence seen, -1 before the first
	lastRecv atomic.Int64 // unix nanos of the last publication (read by the run at the end)
}

// errHandshake wraps a server error reply during the handshake.
type errHandshake struct {
	stage string
	code  uint32
	msg   string
}

func (e *errHandshake) Error() string {
	return fmt.Sprintf("%s error %d: %s", e.stage, e.code, e.msg)
}

// dialer builds the shared WebSocket dialer: small buffers and a write buffer pool, so
// that an idle client costs little.
func newDialer(o *clientOptions) *websocket.Dialer {
	d := &websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: o.handshake}).DialContext,
		HandshakeTimeout: o.handshake,
		ReadBufferSize:   512,
		WriteBufferSize:  512,
		WriteBufferPool:  &sync.Pool{},
	}
	if o.proto == codec.ProtocolProtobuf {
		d.Subprotocols = []string{"centrifuge-protobuf"}
	}
	return d
}

// token returns an HS256 connection token for user, or "" without a secret.
func (o *clientOptions) token(user string) (string, error) {
	if len(o.secret) == 0 {
		return "", nil
	}
	claims := jwt.MapClaims{"sub": user}
	if o.tokenTTL > 0 {
		claims["exp"] = time.Now().Add(o.tokenTTL).Unix()
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(o.secret)
}

func (c *benchConn) msgType() int {
	if c.proto == codec.ProtocolProtobuf {
		return websocket.BinaryMessage
	}
	return websocket.TextMessage
}

// readFrame reads the next data frame into c.buf.
func (c *benchConn) readFrame() error {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return err
	}
	c.buf = c.buf[:0]
	for {
		if len(c.buf) == cap(c.buf) {
			grow := cap(c.buf)
			if grow < 512 {
				grow = 512
			}
			c.buf = append(c.buf, make([]byte, grow)...)[:len(c.buf)]
		}
		n, err := r.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// handshake dials and sends connect plus one subscribe per channel in a single frame
// (as centrifuge-js does), then waits for all the replies. Pushes that arrive before the
// last reply go to onPub.
func (c *benchConn) handshake(ctx context.Context, o *clientOptions, d *websocket.Dialer, user string, channels []string, onPub pubHandler, cnt *counters) error {
	tok, err := o.token(user)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.handshake)
	defer cancel()
	t0 := time.Now()
	ws, resp, err := d.DialContext(ctx, o.wsURL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		cnt.dialErrors.Add(1)
		return err
	}
	cnt.dialHist.record(int64(time.Since(t0)))
	c.ws = ws
	// Join the commands as the codec frames them: newline-joined JSON or concatenated
	// length-prefixed protobuf.
	c.out = c.out[:0]
	c.out, err = codec.AppendCommand(c.proto, c.out, &codec.Command{ID: 1, Connect: &codec.ConnectRequest{Token: tok, Name: "rotor-bench"}})
	if err != nil {
		return err
	}
	for i, ch := range channels {
		if c.proto == codec.ProtocolJSON {
			c.out = append(c.out, '\n')
		}
		c.out, err = codec.AppendCommand(c.proto, c.out, &codec.Command{ID: uint32(2 + i), Subscribe: &codec.SubscribeRequest{Channel: ch}})
		if err != nil {
			return err
		}
	}
	deadline, _ := ctx.Deadline()
	_ = ws.SetReadDeadline(deadline)
	_ = ws.SetWriteDeadline(deadline)
	if err := ws.WriteMessage(c.msgType(), c.out); err != nil {
		cnt.connErrors.Add(1)
		return err
	}
	pending := 1 + len(channels)
	connected := false
	var r reply
	for pending > 0 {
		if err := c.readFrame(); err != nil {
			if connected {
				cnt.subErrors.Add(1)
			} else {
				cnt.connErrors.Add(1)
			}
			return err
		}
		now := time.Now().UnixNano()
		it := frameIter{proto: c.proto, rest: c.buf}
		for {
			ok, err := it.next(&r)
			if err != nil {
				cnt.protoErrors.Add(1)
				return err
			}
			if !ok {
				break
			}
			switch r.kind {
			case kindError:
				stage := "subscribe"
				if r.id == 1 {
					stage = "connect"
					cnt.connErrors.Add(1)
				} else {
					cnt.subErrors.Add(1)
				}
				return &errHandshake{stage: stage, code: r.errCode, msg: string(r.errMsg)}
			case kindConnect, kindSubscribe:
				if r.id >= 1 && int(r.id) <= 1+len(channels) {
					pending--
				}
				if r.id == 1 {
					connected = true
				}
			case kindPing:
				if err := c.pong(cnt); err != nil {
					return err
				}
			case kindPub:
				cnt.pubs.Add(1)
				if onPub != nil {
					onPub(c, r.channel, r.data, now)
				}
			}
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	_ = ws.SetWriteDeadline(time.Time{})
	return nil
}

// pong answers one server ping with an empty command.
func (c *benchConn) pong(cnt *counters) error {
	c.out = codec.AppendPing(c.proto, c.out[:0])
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(c.msgType(), c.out); err != nil {
		if !c.closing.Load() {
			cnt.pongErrors.Add(1)
		}
		return err
	}
	cnt.pings.Add(1)
	return nil
}

// readLoop reads until the connection ends, answering pings and handing publications
// to onPub. It returns the error that ended it (nil when we closed it ourselves).
func (c *benchConn) readLoop(onPub pubHandler, cnt *counters) error {
	var r reply
	for {
		if err := c.readFrame(); err != nil {
			if c.closing.Load() {
				return nil
			}
			return err
		}
		now := time.Now().UnixNano()
		it := frameIter{proto: c.proto, rest: c.buf}
		for {
			ok, err := it.next(&r)
			if err != nil {
				if c.closing.Load() {
					return nil
				}
				cnt.protoErrors.Add(1)
				return err
			}
			if !ok {
				break
			}
			switch r.kind {
			case kindPing:
				if err := c.pong(cnt); err != nil {
					if c.closing.Load() {
						return nil
					}
					return err
				}
			case kindPub:
				cnt.pubs.Add(1)
				if onPub != nil {
					onPub(c, r.channel, r.data, now)
				}
			case kindUnsubscribe:
				cnt.unsubs.Add(1)
			}
		}
	}
}

// closeNow starts closing the connection from any goroutine: it sends a close frame
// (1000) and gives the server a moment to answer it, so that neither side resets the
// TCP connection; the reader then sees the close (or the deadline), returns nil, and
// closes the socket. Without a reader (or if the close frame cannot be sent) the
// socket is closed at once.
func (c *benchConn) closeNow() {
	if c.closing.Swap(true) || c.ws == nil {
		return
	}
	err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	if err != nil || c.ws.SetReadDeadline(time.Now().Add(2*time.Second)) != nil {
		_ = c.ws.Close()
	}
}

// pool runs the clients of one run: it starts them at a bounded rate, tracks them, and
// closes them all at the end.
type pool struct {
	opts     clientOptions
	dialer   *websocket.Dialer
	cnt      *counters
	conns    []atomic.Pointer[benchConn]
	inflight chan struct{}
	readers  sync.WaitGroup
	settled  sync.WaitGroup // one per client until its handshake ends, either way
}

func newPool(o clientOptions, n, maxInflight int) *pool {
	return &pool{
		opts:     o,
		dialer:   newDialer(&o),
		cnt:      newCounters(),
		conns:    make([]atomic.Pointer[benchConn], n),
		inflight: make(chan struct{}, maxInflight),
	}
}

// clientSpec says what client i subscribes to and how it handles publications.
type clientSpec struct {
	user     func(i int) string
	channels func(i int) []string
	onPub    pubHandler
	prepare  func(c *benchConn) // optional, runs before the dial
}

// start launches n clients, client i due at start + i/rate (rate ≤ 0: no pacing), with
// at most cap(inflight) handshakes at once. It returns when all are launched or ctx ends;
// use waitSettled to wait for the handshakes.
func (p *pool) start(ctx context.Context, rate float64, spec clientSpec) {
	begin := time.Now()
	timer := stoppedTimer()
	defer timer.Stop()
	for i := range p.conns {
		if !waitDue(ctx, timer, begin, int64(i), rate, time.Time{}) {
			return
		}
		select {
		case p.inflight <- struct{}{}:
		case <-ctx.Done():
			return
		}
		p.settled.Add(1)
		p.readers.Add(1)
		p.cnt.started.Add(1)
		go p.run(ctx, i, spec)
	}
}

func (p *pool) run(ctx context.Context, i int, spec clientSpec) {
	defer p.readers.Done()
	c := &benchConn{proto: p.opts.proto}
	if spec.prepare != nil {
		spec.prepare(c)
	}
	t0 := time.Now()
	err := c.handshake(ctx, &p.opts, p.dialer, spec.user(i), spec.channels(i), spec.onPub, p.cnt)
	<-p.inflight
	if err != nil {
		p.cnt.failed.Add(1)
		p.cnt.noteError(err)
		if c.ws != nil {
			_ = c.ws.Close()
		}
		p.settled.Done()
		return
	}
	p.cnt.handshakeHist.record(int64(time.Since(t0)))
	p.conns[i].Store(c)
	p.cnt.established.Add(1)
	p.settled.Done()
	// A close requested before the Store above would have missed c: honour it here.
	if ctx.Err() != nil {
		c.closeNow()
	}
	if err := c.readLoop(spec.onPub, p.cnt); err != nil {
		p.cnt.dropped.Add(1)
		p.cnt.noteError(err)
	}
	_ = c.ws.Close()
}

// waitSettled waits until every launched handshake has ended, or ctx ends.
func (p *pool) waitSettled(ctx context.Context) bool {
	return waitGroupCtx(ctx, &p.settled)
}

// closeAll closes every established client and waits (at most bound) for the readers.
func (p *pool) closeAll(bound time.Duration) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range p.conns {
		c := p.conns[i].Load()
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.closeNow()
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	waitGroupCtx(ctx, &p.readers)
}

// each calls fn for every established client. Call it after the readers have stopped.
func (p *pool) each(fn func(c *benchConn)) {
	for i := range p.conns {
		if c := p.conns[i].Load(); c != nil {
			fn(c)
		}
	}
}

func waitGroupCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
