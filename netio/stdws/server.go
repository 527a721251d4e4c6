// Package stdws serves WebSocket clients and HTTP over TLS: fasthttp on a
// tls.Listener, with a goroutine-per-connection engine.Transport built on
// github.com/fasthttp/websocket. netpoll, which the event-loop path in netio runs
// on, has no TLS; this is the fallback ARCHITECTURE C5 names. Deployments that
// want the event loop terminate TLS at a load balancer and give netio plain TCP.
//
// Upgrades are checked as netio checks them (the same status codes, origin
// policy, protocol choice and permessage-deflate negotiation); every other
// request goes to the fasthttp handler the caller gives, so the API, health,
// metrics and the HTTP-streaming/SSE handlers are served here unchanged.
package stdws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio"
)

// Config configures a Server. Zero values are Centrifugo's defaults, as in
// netio.Config, whose fields of the same names these mirror.
type Config struct {
	// Address is the TCP address to listen on.
	Address string
	// TLS is the listener's TLS configuration; nil serves plain TCP (tests).
	TLS *tls.Config
	// WebSocketPath is the path of WebSocket upgrades; "" → "/connection/websocket".
	WebSocketPath string
	// AllowedOrigins are client.allowed_origins (see netio.Config).
	AllowedOrigins []string
	// MessageSizeLimit is websocket.message_size_limit (wire bytes); 0 → 65536.
	MessageSizeLimit int
	// QueueMaxSize is client.queue_max_size: bytes queued plus bytes of the write
	// under way; 0 → 1048576. Beyond it Enqueue returns engine.ErrSlowConsumer.
	QueueMaxSize int
	// WriteTimeout is websocket.write_timeout; 0 → 1s. A write that takes longer
	// closes the connection.
	WriteTimeout time.Duration
	// CloseTimeout is how long the server waits for the peer's close frame after
	// sending its own; 0 → 5s.
	CloseTimeout time.Duration
	// Compression, CompressionLevel, CompressionMinSize and
	// DecompressedMessageSizeLimit are the websocket.compression* keys, as in
	// netio.Config.
	Compression                  bool
	CompressionLevel             int
	CompressionMinSize           int
	DecompressedMessageSizeLimit int
	// UniWebSocketPath, when set, serves uni_websocket upgrades there, as netio
	// does (netio.Config's Uni* fields; uniws.go).
	UniWebSocketPath string
	// UniJoinPushMessages is uni_websocket.join_push_messages: pushes queued
	// together share one message, joined with '\n'; otherwise one message each.
	UniJoinPushMessages bool
	// UniMessageSizeLimit is uni_websocket.message_size_limit (0: MessageSizeLimit).
	UniMessageSizeLimit int
	// UniDisableDisconnectPush is uni_websocket.disable_disconnect_push.
	UniDisableDisconnectPush bool
	// UniDisableClosingHandshake is uni_websocket.disable_closing_handshake: a
	// disconnect sends what is queued (the disconnect push) and closes the
	// connection, with no close frame.
	UniDisableClosingHandshake bool
	// UniWriteTimeout is uni_websocket.write_timeout: WriteTimeout for
	// uni_websocket connections (0: WriteTimeout).
	UniWriteTimeout time.Duration
	// HTTPServer serves every request that is not an upgrade on WebSocketPath;
	// its Handler is wrapped. nil: a server answering 404.
	HTTPServer *fasthttp.Server
	// Accept is called for each upgraded connection, on its goroutine; it returns
	// the session, or nil to drop the connection. Required.
	Accept func(t engine.Transport, r *netio.UpgradeRequest) netio.Session
	// Admit, when set, is asked before an upgrade is answered; false → HTTP 503.
	Admit func() bool
	// Logger; nil → slog.Default().
	Logger *slog.Logger
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
		c.QueueMaxSize = 1 << 20
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is a TLS listener serving WebSocket clients and HTTP.
type Server struct {
	cfg        Config
	ln         net.Listener
	http       *fasthttp.Server
	origins    func([]byte) bool
	up, upZ    websocket.FastHTTPUpgrader // without and with compression
	uni        websocket.FastHTTPUpgrader // uni_websocket: no subprotocol, no compression
	next       fasthttp.RequestHandler
	mu         sync.Mutex
	conns      map[*conn]struct{}
	idle       chan struct{}    // closed when conns empties during Shutdown
	httpConns  map[net.Conn]int // open HTTP connections → requests in a handler; guarded by mu
	shutting   atomic.Bool
	served     atomic.Bool
	shutdownCh chan struct{}
}

// Listen validates cfg and listens on cfg.Address (TLS when cfg.TLS is set).
func Listen(cfg Config) (*Server, error) {
	if cfg.Accept == nil {
		return nil, errors.New("stdws: Config.Accept is required")
	}
	if cfg.CompressionLevel < -2 || cfg.CompressionLevel > 9 {
		return nil, fmt.Errorf("stdws: CompressionLevel %d outside -2..9", cfg.CompressionLevel)
	}
	cfg.setDefaults()
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		tc := cfg.TLS.Clone()
		if len(tc.NextProtos) == 0 {
			tc.NextProtos = []string{"http/1.1"}
		}
		ln = tls.NewListener(ln, tc)
	}
	s := &Server{
		cfg:        cfg,
		ln:         ln,
		origins:    netio.OriginChecker(cfg.AllowedOrigins),
		conns:      make(map[*conn]struct{}),
		httpConns:  make(map[net.Conn]int),
		shutdownCh: make(chan struct{}),
	}
	s.http = cfg.HTTPServer
	if s.http == nil {
		s.http = &fasthttp.Server{
			Handler:               func(ctx *fasthttp.RequestCtx) { ctx.Error("404 page not found", fasthttp.StatusNotFound) },
			ReadTimeout:           30 * time.Second,
			IdleTimeout:           60 * time.Second,
			NoDefaultServerHeader: true,
		}
	}
	s.next = s.http.Handler
	if s.next == nil {
		s.next = func(ctx *fasthttp.RequestCtx) { ctx.Error("404 page not found", fasthttp.StatusNotFound) }
	}
	s.http.Handler = s.handle
	hook := s.http.ConnState
	s.http.ConnState = func(nc net.Conn, st fasthttp.ConnState) {
		s.connState(nc, st)
		if hook != nil {
			hook(nc, st)
		}
	}
	if s.http.ReadTimeout == 0 {
		s.http.ReadTimeout = 30 * time.Second // also bounds the TLS handshake and head
	}
	// The origin is checked before Upgrade (netio's policy); the upgrader's own
	// same-host check must not run again.
	anyOrigin := func(*fasthttp.RequestCtx) bool { return true }
	s.up = websocket.FastHTTPUpgrader{
		Subprotocols: []string{netio.SubprotocolJSON, netio.SubprotocolProtobuf},
		CheckOrigin:  anyOrigin,
	}
	s.upZ = s.up
	s.upZ.EnableCompression = true
	s.uni = websocket.FastHTTPUpgrader{CheckOrigin: anyOrigin}
	return s, nil
}

// Addr returns the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve() error {
	s.served.Store(true)
	err := s.http.Serve(s.ln)
	if s.shutting.Load() {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets fasthttp finish requests under way, and waits
// for WebSocket connections to end (the engine's shutdown closes them) until ctx
// is done; then closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.shutting.CompareAndSwap(false, true) {
		return nil
	}
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.http.ShutdownWithContext(ctx) }()
	if !s.served.Load() {
		_ = s.ln.Close()
	}
	s.mu.Lock()
	// fasthttp waits for connections that have not sent a whole request (its
	// StateActive starts with the first byte): close every connection with no
	// request in a handler now, as netio does; requests under way finish, and
	// fasthttp closes their connections after the response.
	for nc, busy := range s.httpConns {
		if busy == 0 {
			_ = nc.Close()
		}
	}
	s.idle = make(chan struct{})
	if len(s.conns) == 0 {
		close(s.idle)
	}
	idle := s.idle
	s.mu.Unlock()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for c := range s.conns {
			go c.closeNow()
		}
		s.mu.Unlock()
	}
	if herr := <-httpDone; err == nil {
		err = herr
	}
	return err
}

// connState follows HTTP connections for Shutdown.
func (s *Server) connState(nc net.Conn, st fasthttp.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		delete(s.httpConns, nc)
	case fasthttp.StateNew:
		s.httpConns[nc] = 0
	}
}

// busy counts a request in a handler on nc (+1 at the start, -1 at the end).
func (s *Server) busy(nc net.Conn, d int) {
	s.mu.Lock()
	if _, ok := s.httpConns[nc]; ok {
		s.httpConns[nc] += d
	}
	s.mu.Unlock()
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.idle != nil && len(s.conns) == 0 {
		select {
		case <-s.idle:
		default:
			close(s.idle)
		}
	}
	s.mu.Unlock()
}

// handle routes a request: upgrades on the WebSocket (and uni_websocket) path,
// the rest to next.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	uni := s.cfg.UniWebSocketPath != "" && path == s.cfg.UniWebSocketPath && path != s.cfg.WebSocketPath
	if path != s.cfg.WebSocketPath && !uni {
		nc := ctx.Conn()
		s.busy(nc, 1)
		defer s.busy(nc, -1)
		s.next(ctx)
		return
	}
	h := &ctx.Request.Header
	switch {
	case !ctx.IsGet():
		ctx.Error("Method Not Allowed", fasthttp.StatusMethodNotAllowed)
		return
	case !websocket.FastHTTPIsWebSocketUpgrade(ctx):
		ctx.Error("Bad Request", fasthttp.StatusBadRequest)
		return
	case len(h.Peek("Sec-WebSocket-Version")) == 0:
		ctx.Error("Bad Request", fasthttp.StatusBadRequest)
		return
	case string(h.Peek("Sec-WebSocket-Version")) != "13":
		ctx.Response.Header.Set("Sec-WebSocket-Version", "13")
		ctx.Error("Upgrade Required", fasthttp.StatusUpgradeRequired)
		return
	case !s.origins(h.Peek("Origin")):
		ctx.Error("Forbidden", fasthttp.StatusForbidden)
		return
	case s.cfg.Admit != nil && !s.cfg.Admit():
		ctx.Error("Service Unavailable", fasthttp.StatusServiceUnavailable)
		return
	case s.shutting.Load():
		ctx.Error("Service Unavailable", fasthttp.StatusServiceUnavailable)
		return
	}
	req, deflate := s.upgradeRequest(ctx)
	if uni {
		// JSON only, no subprotocol; a bad cf_connect is a 400 (netio's checks).
		uniReq, status := netio.UniConnectQuery(string(ctx.URI().QueryString()))
		if status != fasthttp.StatusSwitchingProtocols {
			ctx.Error("Bad Request", fasthttp.StatusBadRequest)
			return
		}
		req.Protocol = codec.ProtocolJSON
		// websocket.compression is the bidirectional WebSocket's; uni_websocket's
		// own key (uni_websocket.compression, off by default) is not supported,
		// so its pushes go uncompressed, as on netio.
		req.Compression = false
		_ = s.uni.Upgrade(ctx, func(wc *websocket.Conn) {
			s.serve(wc, req, false, &uniUpgrade{req: uniReq})
		})
		return
	}
	up := &s.up
	if deflate {
		up = &s.upZ
	}
	_ = up.Upgrade(ctx, func(wc *websocket.Conn) {
		// The negotiated subprotocol decides over the query (netio does the same).
		if wc.Subprotocol() == netio.SubprotocolProtobuf {
			req.Protocol = codec.ProtocolProtobuf
		}
		req.Subprotocol = wc.Subprotocol()
		s.serve(wc, req, deflate, nil)
	})
}

// upgradeRequest describes the upgrade for Accept, and reports whether the
// client offers permessage-deflate and compression is on.
func (s *Server) upgradeRequest(ctx *fasthttp.RequestCtx) (*netio.UpgradeRequest, bool) {
	h := &ctx.Request.Header
	var head strings.Builder
	deflate := false
	for k, v := range h.All() {
		head.Write(k)
		head.WriteString(": ")
		head.Write(v)
		head.WriteString("\r\n")
		if s.cfg.Compression && strings.EqualFold(string(k), "Sec-WebSocket-Extensions") && netio.OffersDeflate(v) {
			deflate = true
		}
	}
	r := netio.UpgradeRequest{
		Path:        string(ctx.Path()),
		Query:       string(ctx.URI().QueryString()),
		Origin:      string(h.Peek("Origin")),
		UserAgent:   string(h.UserAgent()),
		RemoteAddr:  ctx.RemoteAddr().String(),
		Compression: deflate,
	}
	args := ctx.QueryArgs()
	if string(args.Peek("format")) == "protobuf" || string(args.Peek("cf_protocol")) == "protobuf" {
		r.Protocol = codec.ProtocolProtobuf
	}
	return netio.NewUpgradeRequest(r, head.String()), deflate
}

// live returns the number of WebSocket connections (tests).
func (s *Server) live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
