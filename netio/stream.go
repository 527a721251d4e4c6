package netio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// The HTTP transports (spec transports.md §5, §6): HTTP-streaming and SSE with
// /emulation, uni_sse and uni_http_stream. They are fasthttp RequestHandlers, so
// whatever serves fasthttp (netio's own router, a TLS listener) serves them. Each
// streaming response holds the goroutine fasthttp serves the connection on; the
// session's outbound bytes wait in a queue bounded by QueueMaxSize, which that
// goroutine drains, so a slow client blocks nothing but its own connection.

// StreamConfig configures the HTTP transports. Zero values mean Centrifugo's defaults.
type StreamConfig struct {
	// Node creates the sessions and routes /emulation. Required.
	Node *engine.Node
	// AllowedOrigins are client.allowed_origins; they decide the CORS headers.
	AllowedOrigins []string
	// QueueMaxSize is client.queue_max_size in bytes; 0 → 1048576.
	QueueMaxSize int
	// WriteTimeout bounds the write of one batch; 0 → 1s.
	WriteTimeout time.Duration
	// HTTPStream, SSE, UniSSE and UniHTTPStream are the endpoints; each is served
	// only when Enabled.
	HTTPStream, SSE, UniSSE, UniHTTPStream StreamEndpoint
	// EmulationPath is /emulation's path ("" → "/emulation"), served when
	// HTTPStream or SSE is enabled; EmulationMaxBodySize is
	// emulation.max_request_body_size (0 → 65536).
	EmulationPath        string
	EmulationMaxBodySize int
	// Admit, when set, is asked before a stream starts; false answers 503
	// (client.connection_limit).
	Admit func() bool
	// Headers returns the request headers proxies forward (nil when none).
	Headers func(h *fasthttp.RequestHeader) map[string]string
	// Logger; nil → slog.Default().
	Logger *slog.Logger
}

// StreamEndpoint is one HTTP transport's path and request body limit.
type StreamEndpoint struct {
	Enabled bool
	// Path; "" → the Centrifugo default (/connection/http_stream, /connection/sse,
	// /connection/uni_sse, /connection/uni_http_stream).
	Path string
	// MaxRequestBodySize; 0 → 65536.
	MaxRequestBodySize int
	// ConnectCodeToHTTP is connect_code_to_http_response (uni_sse and
	// uni_http_stream only).
	ConnectCodeToHTTP ConnectCodeToHTTP
}

// ConnectCodeToHTTP answers a refused unidirectional connect with an HTTP response
// instead of a disconnect push: the first transform whose Code is the connect
// error's (or disconnect's) code gives the status and body ("" → the error's
// message); no match → 500 "Internal Server Error".
type ConnectCodeToHTTP struct {
	Enabled    bool
	Transforms []ConnectCodeTransform
}

// ConnectCodeTransform maps one code to an HTTP response.
type ConnectCodeTransform struct {
	Code       uint32
	StatusCode int
	Body       string
}

// Streams serves the HTTP transports.
type Streams struct {
	cfg     StreamConfig
	origins *originPolicy
}

// NewStreams returns the handler of the HTTP transports of cfg.
func NewStreams(cfg StreamConfig) *Streams {
	def := func(e *StreamEndpoint, path string) {
		if e.Path == "" {
			e.Path = path
		}
		if e.MaxRequestBodySize <= 0 {
			e.MaxRequestBodySize = 65536
		}
	}
	def(&cfg.HTTPStream, "/connection/http_stream")
	def(&cfg.SSE, "/connection/sse")
	def(&cfg.UniSSE, "/connection/uni_sse")
	def(&cfg.UniHTTPStream, "/connection/uni_http_stream")
	if cfg.EmulationPath == "" {
		cfg.EmulationPath = "/emulation"
	}
	if cfg.EmulationMaxBodySize <= 0 {
		cfg.EmulationMaxBodySize = 65536
	}
	if cfg.QueueMaxSize <= 0 {
		cfg.QueueMaxSize = 1048576
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Streams{cfg: cfg, origins: newOriginPolicy(cfg.AllowedOrigins)}
}

// Serve serves ctx when its path is one of the enabled HTTP transports and reports
// whether it did; otherwise it leaves ctx alone.
func (s *Streams) Serve(ctx *fasthttp.RequestCtx) bool {
	p := string(ctx.Path())
	c := &s.cfg
	switch {
	case c.HTTPStream.Enabled && p == c.HTTPStream.Path:
		s.serveHTTPStream(ctx)
	case c.SSE.Enabled && p == c.SSE.Path:
		s.serveSSE(ctx)
	case (c.HTTPStream.Enabled || c.SSE.Enabled) && p == c.EmulationPath:
		s.serveEmulation(ctx)
	case c.UniSSE.Enabled && p == c.UniSSE.Path:
		s.serveUniSSE(ctx)
	case c.UniHTTPStream.Enabled && p == c.UniHTTPStream.Path:
		s.serveUniHTTPStream(ctx)
	default:
		return false
	}
	return true
}

// Handler returns Serve as a RequestHandler that answers 404 for other paths.
func (s *Streams) Handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !s.Serve(ctx) {
			ctx.Error("404 page not found", fasthttp.StatusNotFound)
		}
	}
}

// cors sets the CORS headers when the origin check passes (transports §2).
func (s *Streams) cors(ctx *fasthttp.RequestCtx) {
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 || !s.origins.allow(origin) {
		return
	}
	h := &ctx.Response.Header
	h.SetBytesV("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	if rh := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(rh) > 0 && string(rh) != "null" {
		h.SetBytesV("Access-Control-Allow-Headers", rh)
	}
}

// preflight answers OPTIONS with 204 and reports whether it did.
func preflight(ctx *fasthttp.RequestCtx) bool {
	if !ctx.IsOptions() {
		return false
	}
	ctx.Response.Header.Set("Access-Control-Max-Age", "300")
	ctx.Response.Header.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return true
}

// body returns the request body, or answers 413 and returns false when it is over
// limit.
func body(ctx *fasthttp.RequestCtx, limit int) ([]byte, bool) {
	b := ctx.PostBody()
	if len(b) > limit {
		ctx.SetStatusCode(fasthttp.StatusRequestEntityTooLarge)
		return nil, false
	}
	return b, true
}

func isProtobuf(ctx *fasthttp.RequestCtx) bool {
	return string(ctx.Request.Header.ContentType()) == "application/octet-stream"
}

func (s *Streams) serveHTTPStream(ctx *fasthttp.RequestCtx) {
	s.cors(ctx)
	if preflight(ctx) {
		return
	}
	if !ctx.IsPost() {
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	b, ok := body(ctx, s.cfg.HTTPStream.MaxRequestBodySize)
	if !ok {
		return
	}
	proto, framing := codec.ProtocolJSON, frameLines
	if isProtobuf(ctx) {
		proto, framing = codec.ProtocolProtobuf, frameRaw
	}
	s.stream(ctx, &streamConn{name: "http_stream", emulation: true, proto: proto, framing: framing}, b, nil, nil)
}

func (s *Streams) serveSSE(ctx *fasthttp.RequestCtx) {
	s.cors(ctx)
	var b []byte
	switch {
	case ctx.IsGet():
		b = ctx.QueryArgs().Peek("cf_connect")
		if len(b) == 0 {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			return
		}
	case ctx.IsPost():
		var ok bool
		if b, ok = body(ctx, s.cfg.SSE.MaxRequestBodySize); !ok {
			return
		}
	default:
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	s.stream(ctx, &streamConn{name: "sse", emulation: true, proto: codec.ProtocolJSON, framing: frameSSE}, b, nil, nil)
}

func (s *Streams) serveUniSSE(ctx *fasthttp.RequestCtx) {
	s.cors(ctx)
	var b []byte
	switch {
	case ctx.IsGet():
		b = ctx.QueryArgs().Peek("cf_connect")
	case ctx.IsPost():
		var ok bool
		if b, ok = body(ctx, s.cfg.UniSSE.MaxRequestBodySize); !ok {
			return
		}
	default:
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	s.uniStream(ctx, "uni_sse", frameSSE, b, &s.cfg.UniSSE.ConnectCodeToHTTP)
}

func (s *Streams) serveUniHTTPStream(ctx *fasthttp.RequestCtx) {
	s.cors(ctx)
	if preflight(ctx) {
		return
	}
	if !ctx.IsPost() {
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	b, ok := body(ctx, s.cfg.UniHTTPStream.MaxRequestBodySize)
	if !ok {
		return
	}
	s.uniStream(ctx, "uni_http_stream", frameLines, b, &s.cfg.UniHTTPStream.ConnectCodeToHTTP)
}

// uniStream decodes a unidirectional connect request and starts the stream; bad
// JSON gets 400.
func (s *Streams) uniStream(ctx *fasthttp.RequestCtx, name string, framing uint8, b []byte, refusals *ConnectCodeToHTTP) {
	req := new(codec.ConnectRequest)
	if err := codec.DecodeConnectRequest(b, req); err != nil {
		ctx.Error("Bad Request", fasthttp.StatusBadRequest)
		return
	}
	req.Data = bytes.Clone(req.Data) // aliases the request, reused by fasthttp
	s.stream(ctx, &streamConn{name: name, uni: true, proto: codec.ProtocolJSON, framing: framing}, nil, req, refusals)
}

// serveEmulation is /emulation (transports §5.3).
func (s *Streams) serveEmulation(ctx *fasthttp.RequestCtx) {
	s.cors(ctx)
	if preflight(ctx) {
		return
	}
	if !ctx.IsPost() {
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	b, ok := body(ctx, s.cfg.EmulationMaxBodySize)
	if !ok {
		return
	}
	proto := codec.ProtocolJSON
	if isProtobuf(ctx) {
		proto = codec.ProtocolProtobuf
	}
	var req codec.EmulationRequest
	if err := codec.DecodeEmulationRequest(proto, b, &req); err != nil {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		return
	}
	if proto == codec.ProtocolProtobuf {
		// Data aliases the request body, which fasthttp reuses.
		req.Data = bytes.Clone(req.Data)
	}
	if err := s.cfg.Node.Emulate(context.Background(), proto, &req); err != nil {
		if errors.Is(err, engine.ErrNodeNotFound) {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			return
		}
		s.cfg.Logger.Error("error processing emulation request", "err", err, "node", req.Node)
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// stream starts the streaming response of t. The first commands (bidirectional)
// or the connect request (unidirectional) are handled here, before the headers go
// out: what they queue (the connect reply or push, or a disconnect) is the start of
// the body. With refusals set, a refused unidirectional connect is answered with
// an HTTP status instead (connect_code_to_http_response).
func (s *Streams) stream(ctx *fasthttp.RequestCtx, t *streamConn, first []byte, uniReq *codec.ConnectRequest, refusals *ConnectCodeToHTTP) {
	if s.cfg.Admit != nil && !s.cfg.Admit() {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		return
	}
	t.max = s.cfg.QueueMaxSize
	t.wake = make(chan struct{}, 1)
	var headers map[string]string
	if s.cfg.Headers != nil {
		headers = s.cfg.Headers(&ctx.Request.Header)
	}
	var hc *httpConn
	if c, ok := ctx.Conn().(*httpConn); ok {
		hc = c
	}
	client := s.cfg.Node.NewClient(t, headers)
	t.mu.Lock()
	t.client = client
	if t.framing == frameSSE {
		// An initial line break makes proxies and browsers start the stream.
		t.pending = append(t.pending, '\r', '\n')
	}
	t.mu.Unlock()
	// Every write of the response may wait at most the write timeout (Read sets the
	// deadline on the goroutine that writes); a failed write ends the response, and
	// with it the session.
	body := &streamBody{t: t, nc: ctx.Conn(), wt: s.cfg.WriteTimeout}
	if hc != nil {
		body.hc = hc
		gone := func() { client.PeerGone(); t.Close(engine.DisconnectConnectionClosed) }
		hc.c.httpGone.Store(&gone)
	}
	switch {
	case uniReq != nil && refusals != nil && refusals.Enabled:
		if code, text, refused := client.ConnectUniRefusal(uniReq); refused {
			status, msg := fasthttp.StatusInternalServerError, "Internal Server Error"
			for _, tr := range refusals.Transforms {
				if tr.Code == code {
					status, msg = tr.StatusCode, tr.Body
					if msg == "" {
						msg = text
					}
					break
				}
			}
			_ = body.Close() // ends the session
			ctx.SetStatusCode(status)
			ctx.SetBodyString(msg)
			return
		}
	case uniReq != nil:
		client.ConnectUni(uniReq)
	default:
		client.HandleEmulated(first)
	}
	h := &ctx.Response.Header
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Cache-Control", "private, no-cache, no-store, must-revalidate, max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expire", "0")
	if t.framing == frameSSE {
		h.SetContentType("text/event-stream; charset=utf-8")
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	// fasthttp's goroutine for this connection reads the body from the queue until
	// the session ends: no goroutine or pipe of its own per stream.
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStream(body, -1)
}

// streamBody is the response body of a stream as fasthttp reads it: Read waits for
// queued bytes, Close (called by fasthttp once the response is over, written or
// failed) ends the session.
type streamBody struct {
	t      *streamConn
	hc     *httpConn
	nc     net.Conn
	wt     time.Duration
	closed bool
}

// Read implements io.Reader: it returns queued bytes, waiting for them, and
// io.EOF once the session closed and everything queued was read.
func (b *streamBody) Read(p []byte) (int, error) {
	t := b.t
	for {
		t.mu.Lock()
		if t.closeWrite {
			t.mu.Unlock()
			_ = b.nc.SetWriteDeadline(time.Time{})
			return 0, io.EOF
		}
		if t.off < len(t.out) {
			n := copy(p, t.out[t.off:])
			t.off += n
			if t.off == len(t.out) {
				if cap(t.out) <= retainMax && t.spare == nil {
					t.spare = t.out[:0]
				}
				t.out, t.off = nil, 0
			}
			t.mu.Unlock()
			_ = b.nc.SetWriteDeadline(time.Now().Add(b.wt))
			return n, nil
		}
		if len(t.pending) > 0 {
			t.out, t.pending, t.spare = t.pending, t.spare, nil
			t.mu.Unlock()
			continue
		}
		closed := t.closed
		t.mu.Unlock()
		if closed {
			_ = b.nc.SetWriteDeadline(time.Time{})
			return 0, io.EOF
		}
		<-t.wake
	}
}

// Close implements io.Closer.
func (b *streamBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.hc != nil {
		b.hc.c.httpGone.Store(nil)
	}
	t := b.t
	t.mu.Lock()
	wasClosed := t.closed
	t.closed, t.closeWrite = true, true
	t.pending, t.out, t.spare = nil, nil, nil
	c := t.client
	t.mu.Unlock()
	if !wasClosed {
		// The response ended before the session did: a write failed or timed out.
		c.Disconnect(engine.DisconnectWriteError)
	}
	c.OnClose()
	return nil
}

// Framing of outgoing messages.
const (
	frameLines uint8 = iota // JSON followed by '\n'
	frameSSE                // "data: <json>\n\n"
	frameRaw                // Protobuf: already varint-length-prefixed
)

// retainMax is the largest pending buffer kept between writes: an idle stream
// holds none larger.
const retainMax = 16 << 10

// streamConn is the engine.Transport of one HTTP streaming session.
type streamConn struct {
	name           string
	emulation, uni bool
	proto          codec.Protocol
	framing        uint8
	max            int
	wake           chan struct{}
	mu             sync.Mutex
	client         *engine.Client
	pending, spare []byte
	out            []byte // bytes taken by the body reader, sent from off on
	off            int
	closed         bool
	closeWrite     bool // the connection failed: write nothing more
}

var _ engine.TransportKind = (*streamConn)(nil)

func (t *streamConn) Name() string             { return t.name }
func (t *streamConn) Emulation() bool          { return t.emulation }
func (t *streamConn) Unidirectional() bool     { return t.uni }
func (t *streamConn) Protocol() codec.Protocol { return t.proto }

// Enqueue implements engine.Transport.
func (t *streamConn) Enqueue(msg []byte) error {
	if t.uni {
		msg = UnwrapPush(msg)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return engine.ErrTransportClosed
	}
	if len(t.pending)+len(t.out)-t.off+len(msg)+8 > t.max {
		t.mu.Unlock()
		return engine.ErrSlowConsumer
	}
	t.pending = t.frame(t.pending, msg)
	t.mu.Unlock()
	t.signal()
	return nil
}

// frame appends msg in the stream's framing.
func (t *streamConn) frame(dst, msg []byte) []byte {
	switch t.framing {
	case frameSSE:
		dst = append(dst, "data: "...)
		dst = append(dst, msg...)
		return append(dst, '\n', '\n')
	case frameRaw:
		return append(dst, msg...)
	}
	dst = append(dst, msg...)
	return append(dst, '\n')
}

func (t *streamConn) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Close implements engine.Transport: a disconnect push follows what is queued
// (or replaces it when d drops the queue), then the response ends.
func (t *streamConn) Close(d engine.Disconnect) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	if d.DropQueue() {
		t.pending = t.pending[:0]
	}
	if d.Code != engine.DisconnectConnectionClosed.Code {
		push := codec.Push{Disconnect: &codec.Disconnect{Code: d.Code, Reason: d.Reason}}
		var msg []byte
		if t.uni {
			msg, _ = codec.AppendPush(t.proto, nil, &push)
		} else {
			msg, _ = codec.AppendReply(t.proto, nil, &codec.Reply{Push: &push})
		}
		t.pending = t.frame(t.pending, msg)
	} else {
		t.closeWrite = true
	}
	t.mu.Unlock()
	t.signal()
}

// UnwrapPush turns a JSON Reply holding only a push, {"push":X}, into X, as
// unidirectional clients receive it; anything else (the ping {}) is unchanged.
func UnwrapPush(msg []byte) []byte {
	const prefix = `{"push":`
	if len(msg) > len(prefix) && string(msg[:len(prefix)]) == prefix && msg[len(msg)-1] == '}' {
		return msg[len(prefix) : len(msg)-1]
	}
	return msg
}
