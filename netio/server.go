// Package netio is Rotor's network side: netpoll owns the public port, the request
// head routes each connection either to our own RFC 6455 server (WebSocket upgrades
// on Config.WebSocketPath) or to fasthttp (everything else), and each WebSocket
// connection has a pooled outbound buffer drained by flush workers.
//
// Goroutines: netpoll pollers read sockets; an OnRequest runner exists per
// connection only while it has input to process (or for the lifetime of a
// connection handed to fasthttp); W flush workers write outbound data and start
// Session.OnClose, never waiting for a socket or a session: a connection whose
// socket is full is finished by a goroutine of its own, which lives until that
// socket drains or the write timeout closes it, and each OnClose runs on a goroutine
// of its own, which lives while the engine cleans up the session; one sweeper per Server closes connections whose handshake
// or closing handshake timed out. An idle upgraded connection holds no goroutine and
// no armed timer.
package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cloudwego/netpoll"
	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/engine"
)

var recoveredPanics = metrics.NewCounter("rotor_netio_recovered_panics_total")

// stalledWrites counts writes handed to a stalled connection's own goroutine
// because the socket was full.
var stalledWrites = metrics.NewCounter("rotor_netio_stalled_writes_total")

var initOnce sync.Once

// inputBufferSize is a new connection's input buffer and the smallest LinkBuffer
// node. An idle connection keeps one such node for its whole life; netpoll doubles
// the read size for connections that fill it.
const inputBufferSize = 512

// Init configures netpoll once for many mostly idle connections: 512 B for a new
// connection's input buffer and as the smallest LinkBuffer node (netpoll's defaults
// are 8 KiB and 4 KiB), small write barriers (barrier.go), round-robin pollers. It is
// the only caller of netpoll.Configure (ARCHITECTURE C3, C6). Idempotent; Listen
// calls it.
func Init() {
	initOnce.Do(func() {
		netpoll.LinkBufferCap = inputBufferSize
		barriersShrunk = shrinkBarriers()
		_ = netpoll.Configure(netpoll.Config{
			BufferSize:  inputBufferSize,
			LoadBalance: netpoll.RoundRobin,
		})
	})
}

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Address is the TCP address to listen on, e.g. "127.0.0.1:8000".
	Address string
	// WebSocketPath is the path of bidirectional WebSocket upgrades;
	// "" → "/connection/websocket".
	WebSocketPath string
	// AllowedOrigins are client.allowed_origins: lower-cased glob patterns ('*', '?').
	// Empty: only upgrades without an Origin header pass; "*" allows all. A rejected
	// upgrade gets HTTP 403.
	AllowedOrigins []string
	// MessageSizeLimit is websocket.message_size_limit in bytes, per reassembled
	// message; 0 → 65536. A larger message gets close code 1009.
	MessageSizeLimit int
	// Compression is websocket.compression: negotiate permessage-deflate (RFC 7692)
	// with clients that offer it, always with no context takeover in both
	// directions (as Centrifugo does).
	Compression bool
	// CompressionLevel is websocket.compression_level, a compress/flate level from
	// MinCompressionLevel (-2, Huffman only) to MaxCompressionLevel (9); 0 stores
	// without compressing. Centrifugo's default is DefaultCompressionLevel (1).
	CompressionLevel int
	// CompressionMinSize is websocket.compression_min_size: on a connection that
	// negotiated compression, messages (or batches) of at most this many bytes
	// are sent uncompressed; 0 compresses everything.
	CompressionMinSize int
	// DecompressedMessageSizeLimit is websocket.decompressed_message_size_limit:
	// the largest inflated client message; 0 → 10 × MessageSizeLimit.
	// MessageSizeLimit bounds the compressed bytes on the wire. Larger: 1009.
	DecompressedMessageSizeLimit int
	// QueueMaxSize is client.queue_max_size: the most bytes a connection may have
	// queued, counting what the socket has not yet taken of a write in progress;
	// 0 → 1048576. Enqueue beyond it returns engine.ErrSlowConsumer.
	QueueMaxSize int
	// WriteTimeout is websocket.write_timeout: how long a write may wait for a full
	// socket before the connection is closed; 0 → 1s.
	WriteTimeout time.Duration
	// MaxHeaderBytes is the largest request head (request line and headers, in
	// bytes) accepted on either path; 0 → DefaultMaxHeaderBytes (32 KiB); at least
	// MinMaxHeaderBytes. A larger upgrade head gets 431 here; other requests get
	// 431 from fasthttp, whose ReadBufferSize (the bound of the heads it reads) is
	// set to this value unless HTTPServer sets it.
	MaxHeaderBytes int
	// HandshakeTimeout is how long a new connection has to send its whole request
	// head; 0 → 10s.
	HandshakeTimeout time.Duration
	// ReadTimeout bounds the wait for the rest of a WebSocket frame already begun;
	// 0 → 10s. Idle connections have no read timeout (the engine pings them).
	ReadTimeout time.Duration
	// CloseTimeout is how long the server waits for the peer's close frame after
	// sending its own before closing TCP; 0 → 5s (client protocol §11).
	CloseTimeout time.Duration
	// FlushWorkers is the number of flush workers; 0 → GOMAXPROCS.
	FlushWorkers int
	// HTTPHandler serves every request that is not a WebSocket upgrade on
	// WebSocketPath; nil answers 404. Ignored when HTTPServer is set.
	HTTPHandler fasthttp.RequestHandler
	// HTTPServer, when set, serves those requests instead of a default server built
	// around HTTPHandler (ReadTimeout 30s, IdleTimeout 60s). Its ConnState hook is
	// wrapped so Shutdown can close idle keep-alive connections, and a zero
	// ReadBufferSize is set to MaxHeaderBytes.
	HTTPServer *fasthttp.Server
	// Accept is called after a successful upgrade, on the connection's goroutine,
	// with the new transport. It returns the session to feed, or nil to drop the
	// connection. Required.
	Accept func(t engine.Transport, r *UpgradeRequest) Session
	// UniWebSocketPath, when set, serves uni_websocket upgrades there (uniws.go).
	UniWebSocketPath string
	// UniJoinPushMessages is uni_websocket.join_push_messages: pushes queued
	// together share one message, joined with '\n'; otherwise one message each.
	UniJoinPushMessages bool
	// UniMessageSizeLimit is uni_websocket.message_size_limit (0: MessageSizeLimit).
	UniMessageSizeLimit int
	// UniDisableDisconnectPush is uni_websocket.disable_disconnect_push.
	UniDisableDisconnectPush bool
	// UniDisableClosingHandshake is uni_websocket.disable_closing_handshake: a
	// disconnect sends what is queued (the disconnect push) and closes the TCP
	// connection, with no close frame.
	UniDisableClosingHandshake bool
	// UniWriteTimeout is uni_websocket.write_timeout: WriteTimeout for
	// uni_websocket connections (0: WriteTimeout).
	UniWriteTimeout time.Duration
	// Admit, when set, is asked before a valid upgrade is answered; false rejects it
	// with HTTP 503 (client.connection_limit). Called on the connection's goroutine.
	Admit func() bool
	// Logger receives connection-level errors; nil → slog.Default().
	Logger *slog.Logger
}

// Validate checks c; zero values are valid except a nil Accept.
func (c *Config) Validate() error {
	if c.Accept == nil {
		return ErrNoAccept
	}
	switch {
	case c.MessageSizeLimit < 0:
		return fmt.Errorf("netio: negative MessageSizeLimit %d", c.MessageSizeLimit)
	case c.CompressionMinSize < 0 || c.DecompressedMessageSizeLimit < 0:
		return errors.New("netio: negative compression size")
	case c.CompressionLevel < MinCompressionLevel || c.CompressionLevel > MaxCompressionLevel:
		return fmt.Errorf("netio: CompressionLevel %d outside %d..%d", c.CompressionLevel, MinCompressionLevel, MaxCompressionLevel)
	case c.QueueMaxSize < 0:
		return fmt.Errorf("netio: negative QueueMaxSize %d", c.QueueMaxSize)
	case c.FlushWorkers < 0:
		return fmt.Errorf("netio: negative FlushWorkers %d", c.FlushWorkers)
	case c.MaxHeaderBytes != 0 && c.MaxHeaderBytes < MinMaxHeaderBytes:
		return fmt.Errorf("netio: MaxHeaderBytes %d is below %d", c.MaxHeaderBytes, MinMaxHeaderBytes)
	case c.WriteTimeout < 0 || c.HandshakeTimeout < 0 || c.ReadTimeout < 0 || c.CloseTimeout < 0:
		return errors.New("netio: negative timeout")
	}
	if c.WebSocketPath != "" && c.WebSocketPath[0] != '/' {
		return fmt.Errorf("netio: WebSocketPath %q must start with '/'", c.WebSocketPath)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.WebSocketPath == "" {
		c.WebSocketPath = "/connection/websocket"
	}
	if c.MessageSizeLimit == 0 {
		c.MessageSizeLimit = 65536
	}
	if c.DecompressedMessageSizeLimit == 0 {
		c.DecompressedMessageSizeLimit = 10 * c.MessageSizeLimit
	}
	if c.QueueMaxSize == 0 {
		c.QueueMaxSize = 1048576
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 5 * time.Second
	}
	if c.FlushWorkers == 0 {
		c.FlushWorkers = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is one netpoll listener with its router, WebSocket server and workers.
type Server struct {
	cfg     Config
	origins *originPolicy
	http    *fasthttp.Server
	ln      *listener
	workers []*worker
	epoch   time.Time // origin of the monotonic clock used for sweep deadlines
	nextID  atomic.Uint64
	live    atomic.Int64 // connections accepted and not finished (OnClose delivered)
	// closers counts the OnClose calls under way, each on a goroutine of its own.
	closers sync.WaitGroup

	shutting  atomic.Bool
	serving   chan struct{} // closed when Serve returns; nil until Serve starts
	stopOnce  sync.Once
	stopSweep chan struct{}
	sweepDone chan struct{}

	mu         sync.Mutex // guards the lists below; never held with a conn.mu
	conns      *conn      // all tracked connections (doubly linked)
	handshakes sweepQueue // connections waiting for their head, by deadline
	closings   sweepQueue // connections waiting for the peer's close, by deadline
}

// listener makes netpoll's accept loop stoppable without closing connections:
// once stopped, Accept reports "nothing to accept" and the listening socket is shut
// down, which hangs up the listener's poll operator and ends Serve.
type listener struct {
	netpoll.Listener
	stopped atomic.Bool
}

// Accept implements net.Listener for netpoll's server (poller goroutine).
func (l *listener) Accept() (net.Conn, error) {
	if l.stopped.Load() {
		return nil, nil
	}
	return l.Listener.Accept()
}

// Listen validates cfg, binds the address and starts the flush workers. The
// server accepts connections once Serve runs.
func Listen(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	Init()
	tcp, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("netio: listen: %w", err)
	}
	nl, err := netpoll.ConvertListener(tcp)
	if err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("netio: listen: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		origins:   newOriginPolicy(cfg.AllowedOrigins),
		ln:        &listener{Listener: nl},
		epoch:     time.Now(),
		stopSweep: make(chan struct{}),
		sweepDone: make(chan struct{}),
	}
	s.http = cfg.HTTPServer
	if s.http == nil {
		h := cfg.HTTPHandler
		if h == nil {
			h = func(ctx *fasthttp.RequestCtx) { ctx.NotFound() }
		}
		s.http = &fasthttp.Server{
			Handler:               h,
			ReadTimeout:           30 * time.Second,
			IdleTimeout:           60 * time.Second,
			NoDefaultServerHeader: true,
		}
	}
	// fasthttp reads a request head into a buffer of ReadBufferSize bytes (4 KiB by
	// default) and answers 431 when it does not fit: the same limit as upgrades.
	if s.http.ReadBufferSize == 0 {
		s.http.ReadBufferSize = cfg.MaxHeaderBytes
	}
	// A request for the WebSocket path that fasthttp reads itself (pipelined behind
	// another request, so already in its buffer; serveHTTP takes back the others)
	// is no upgrade netio can serve: answer it as route does for a first request,
	// not with the handler's 404.
	if h := s.http.Handler; h != nil {
		wsPath := cfg.WebSocketPath
		s.http.Handler = func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) != wsPath {
				h(ctx)
				return
			}
			status := fasthttp.StatusBadRequest
			hd := &ctx.Request.Header
			if upgradeByOtherMethod(hd.Method(), hd.Peek("Upgrade"), hd.Peek("Connection")) {
				status = fasthttp.StatusMethodNotAllowed
			}
			ctx.Error(statusText(status)+"\n", status)
			// A client that sent an upgrade may already be sending frames, which
			// must not be read as requests: close, as route's answers do.
			ctx.SetConnectionClose()
		}
	}
	prev := s.http.ConnState
	s.http.ConnState = func(nc net.Conn, st fasthttp.ConnState) {
		if hc, ok := nc.(*httpConn); ok {
			hc.c.httpIdle.Store(st == fasthttp.StateIdle)
		}
		if prev != nil {
			prev(nc, st)
		}
	}
	s.workers = make([]*worker, cfg.FlushWorkers)
	for i := range s.workers {
		w := &worker{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
		s.workers[i] = w
		go w.run(s)
	}
	go s.sweeper()
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until Shutdown. It returns nil after Shutdown and
// ErrServerClosed if Shutdown ran first. Call once.
func (s *Server) Serve() error {
	done := make(chan struct{})
	s.mu.Lock()
	if s.shutting.Load() || s.serving != nil {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.serving = done
	s.mu.Unlock()
	defer close(done)
	evl, err := netpoll.NewEventLoop(s.onRequest, netpoll.WithOnPrepare(s.onPrepare), netpoll.WithOnDisconnect(s.onDisconnect))
	if err != nil {
		return err
	}
	err = evl.Serve(s.ln)
	if s.shutting.Load() {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes connections that have no request under way
// (idle keep-alive HTTP connections and those still sending a request head), and
// waits until every connection has closed and its OnClose has returned (the engine
// disconnects WebSocket clients with 3001 in the meantime), or ctx ends: then the
// remaining connections are closed at the TCP level and ctx.Err() is returned. The
// workers and the sweeper stop before it returns. Any goroutine; blocks.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting.Store(true)
	serving := s.serving
	s.mu.Unlock()
	s.ln.stopped.Store(true)
	_ = syscall.Shutdown(s.ln.Fd(), syscall.SHUT_RD)
	if serving != nil {
		select {
		case <-serving:
		case <-ctx.Done():
		}
	}
	_ = s.ln.Close()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
	for s.live.Load() > 0 && err == nil {
		s.closeIdle()
		select {
		case <-tick.C:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		s.closeAll()
		// Close callbacks and OnClose calls finish quickly once the sockets are
		// closed; bound the wait anyway.
		for deadline := time.Now().Add(time.Second); s.live.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	s.stopOnce.Do(func() {
		close(s.stopSweep)
		<-s.sweepDone
		for _, w := range s.workers {
			close(w.stop)
			<-w.done
		}
	})
	return err
}

// onPrepare runs on a poller goroutine for each accepted connection: it creates the
// conn (which becomes the connection's context) and arms the handshake deadline.
func (s *Server) onPrepare(nc netpoll.Connection) context.Context {
	c := &conn{Context: context.Background(), srv: s, nc: nc, fd: -1}
	if f, ok := nc.(interface{ Fd() int }); ok {
		c.fd = f.Fd()
	}
	releaseIdleInput(nc)
	c.w = s.workers[s.nextID.Add(1)%uint64(len(s.workers))]
	c.fr.limit = s.cfg.MessageSizeLimit
	s.live.Add(1)
	_ = nc.AddCloseCallback(c.onClosed)
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	s.track(c)
	return c
}

// PeerWatcher is implemented by a Session that wants to hear at once that the peer
// went away: PeerGone is called on a poller goroutine, must not block, and may run
// while HandleFrame is still running on another goroutine.
type PeerWatcher interface {
	PeerGone()
}

// WriteWatcher is implemented by a Session that wants to hear that a write to the
// peer failed or timed out (websocket.write_timeout) and the connection is being
// closed for it, so that the end is counted and logged (Centrifugo's 3009 "write
// error"). WriteFailed is called on a flush worker or a stalled connection's
// writer goroutine, before OnClose, and must not block.
type WriteWatcher interface {
	WriteFailed()
}

// onDisconnect runs on a poller when the peer hangs up, possibly while a runner is
// still in onRequest for the connection (a handler blocked on a proxy call or a key
// fetch). netpoll runs the close callback, and so OnClose, only after onRequest
// returns; telling the session now lets it cancel what it is waiting for.
func (s *Server) onDisconnect(ctx context.Context, _ netpoll.Connection) {
	c, ok := ctx.(*conn)
	if !ok {
		return
	}
	if f := c.httpGone.Load(); f != nil {
		(*f)()
	}
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if w, ok := sess.(PeerWatcher); ok {
		w.PeerGone()
	}
}

// onRequest runs on a netpoll runner while the connection has input.
func (s *Server) onRequest(ctx context.Context, nc netpoll.Connection) error {
	c, ok := ctx.(*conn)
	if !ok {
		return nc.Close()
	}
	defer func() {
		if r := recover(); r != nil {
			recoveredPanics.Inc()
			s.cfg.Logger.Error("netio: panic in connection reader", "panic", r, "remote", nc.RemoteAddr())
			c.closeTCP()
			c.drain()
		}
	}()
	switch c.mode {
	case modeSniff:
		if c.fd < 0 {
			// Not a netpoll socket connection: nothing to serve.
			c.drain()
			c.closeTCP()
			return nil
		}
		c.sniff()
	case modeWebSocket:
		c.serveFrames(false)
	default:
		c.drain()
	}
	return nil
}

// connDone counts a connection as finished.
func (s *Server) connDone() { s.live.Add(-1) }

// track adds c to the connection list and the handshake sweep queue.
func (s *Server) track(c *conn) {
	s.mu.Lock()
	c.next = s.conns
	if s.conns != nil {
		s.conns.prev = c
	}
	s.conns = c
	c.sweepAt = s.now() + int64(s.cfg.HandshakeTimeout)
	c.sweepList = sweepHandshake
	s.handshakes.push(c)
	s.mu.Unlock()
}

// untrack removes c from every server list. Idempotent.
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	if c.prev != nil {
		c.prev.next = c.next
	} else if s.conns == c {
		s.conns = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	s.sweepRemoveLocked(c)
	s.mu.Unlock()
}

// closeIdle closes the connections Shutdown need not wait for: keep-alive HTTP
// connections waiting for (or still receiving the head of) their next request, and
// new ones that have not sent a whole head yet (on the handshake sweep queue).
// Nothing has acted on a head before it is complete; one completed an instant ago
// may be cut off while it is routed, which its client sees as a connection the
// stopping server refused.
func (s *Server) closeIdle() {
	var idle []*conn
	s.mu.Lock()
	for c := s.conns; c != nil; c = c.next {
		if c.httpIdle.Load() || c.sweepList == sweepHandshake {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		c.closeTCP()
	}
}

// closeAll closes every tracked connection at the TCP level.
func (s *Server) closeAll() {
	var all []*conn
	s.mu.Lock()
	for c := s.conns; c != nil; c = c.next {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.closeTCP()
	}
}

// now is the server's monotonic clock in nanoseconds.
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }

// sweepQueue is a FIFO of connections ordered by deadline (each queue has one fixed
// timeout, so pushing at the tail keeps it ordered). Guarded by Server.mu.
type sweepQueue struct{ head, tail *conn }

func (q *sweepQueue) push(c *conn) {
	c.sweepNext = nil
	c.sweepPrev = q.tail
	if q.tail != nil {
		q.tail.sweepNext = c
	} else {
		q.head = c
	}
	q.tail = c
}

func (q *sweepQueue) remove(c *conn) {
	if c.sweepPrev != nil {
		c.sweepPrev.sweepNext = c.sweepNext
	} else {
		q.head = c.sweepNext
	}
	if c.sweepNext != nil {
		c.sweepNext.sweepPrev = c.sweepPrev
	} else {
		q.tail = c.sweepPrev
	}
	c.sweepPrev, c.sweepNext = nil, nil
}

// sweepAdd puts c on a sweep queue with a deadline d from now. Takes s.mu.
func (s *Server) sweepAdd(c *conn, list uint8, d time.Duration) {
	s.mu.Lock()
	s.sweepRemoveLocked(c)
	c.sweepAt = s.now() + int64(d)
	c.sweepList = list
	if list == sweepHandshake {
		s.handshakes.push(c)
	} else {
		s.closings.push(c)
	}
	s.mu.Unlock()
}

// sweepRemove takes c off its sweep queue. Takes s.mu.
func (s *Server) sweepRemove(c *conn) {
	s.mu.Lock()
	s.sweepRemoveLocked(c)
	s.mu.Unlock()
}

// sweepRemoveLocked: must hold s.mu.
func (s *Server) sweepRemoveLocked(c *conn) {
	switch c.sweepList {
	case sweepHandshake:
		s.handshakes.remove(c)
	case sweepClosing:
		s.closings.remove(c)
	}
	c.sweepList = sweepNone
}

// sweeper closes connections past their handshake or closing deadline. One
// goroutine per Server; it never does I/O other than closing sockets.
func (s *Server) sweeper() {
	defer close(s.sweepDone)
	period := min(s.cfg.HandshakeTimeout, s.cfg.CloseTimeout) / 4
	period = max(min(period, time.Second), 5*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	var expired []*conn
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
		}
		now := s.now()
		s.mu.Lock()
		for _, q := range []*sweepQueue{&s.handshakes, &s.closings} {
			for c := q.head; c != nil && c.sweepAt <= now; c = q.head {
				q.remove(c)
				c.sweepList = sweepNone
				expired = append(expired, c)
			}
		}
		s.mu.Unlock()
		for i, c := range expired {
			c.closeTCP()
			expired[i] = nil
		}
		expired = expired[:0]
	}
}

// worker is a flush worker: a FIFO of connections (each at most once, linked
// through conn.qnext) and a goroutine draining it. Pushing never blocks on I/O or
// allocates. The goroutine takes the whole list at once, so during a broadcast the
// broadcaster's pushes rarely meet it on w.mu.
type worker struct {
	mu         sync.Mutex
	head, tail *conn
	sleeping   bool
	wake       chan struct{} // capacity 1
	stop       chan struct{}
	done       chan struct{}
}

// push queues c unless it is queued already. Must not hold c.mu.
func (w *worker) push(c *conn) {
	if !c.queued.CompareAndSwap(false, true) {
		return
	}
	w.mu.Lock()
	c.qnext = nil
	if w.tail != nil {
		w.tail.qnext = c
	} else {
		w.head = c
	}
	w.tail = c
	wake := w.sleeping
	w.sleeping = false
	w.mu.Unlock()
	if wake {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *worker) run(s *Server) {
	defer close(w.done)
	for {
		w.mu.Lock()
		c := w.head
		if c == nil {
			w.sleeping = true
			w.mu.Unlock()
			select {
			case <-w.wake:
			case <-w.stop:
				return
			}
			continue
		}
		w.head, w.tail = nil, nil
		w.mu.Unlock()
		for c != nil {
			next := c.qnext
			c.qnext = nil
			// From here a push links c again (on the new list), so whatever is
			// scheduled while c runs gets another turn.
			c.queued.Store(false)
			s.work(c)
			c = next
		}
	}
}

// work runs one connection's flush and close notification, recovering panics so
// a bad session cannot kill the worker.
func (s *Server) work(c *conn) {
	defer func() {
		if r := recover(); r != nil {
			recoveredPanics.Inc()
			s.cfg.Logger.Error("netio: panic in flush worker", "panic", r)
			c.closeTCP()
		}
	}()
	c.runWorker()
}
