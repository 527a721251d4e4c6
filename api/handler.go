// Package api serves Centrifugo's HTTP server API (shared/spec/server-api.md) and the
// health endpoint on fasthttp: POST /api/<method> for every OSS method (publish,
// broadcast, subscribe, unsubscribe, disconnect, refresh, presence, presence_stats,
// history, history_remove, channels, info, rpc, batch) and the legacy multi-command
// POST /api that gocent v3 uses. It decodes requests with sonic (publish from pooled
// structs), calls the engine through the small Node interface declared here, and
// writes Centrifugo-shaped JSON with hand-written appenders, byte for byte what
// Centrifugo's encoding/json produces.
package api

import (
	"time"

	"crypto/subtle"
	"log/slog"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// Node is what the API needs from the engine; *engine.Node satisfies it.
//
// Every method may be called concurrently from fasthttp workers and from the helper
// goroutines of broadcast and parallel batch. Errors that are *engine.Error values
// (possibly wrapped) reach the API client with their code and message; any other
// error is logged and answered as 100 "internal server error".
//
// Ownership: Publish's data aliases the request body and is valid only during the
// call (the implementation copies what it keeps). Every other byte slice and every
// string handed to the Node is a fresh copy the Node may keep. What the Node returns
// is read by the API after the call, so it must not be mutated afterwards.
type Node interface {
	// Publish delivers data to channel and reports the stream position (zero when
	// the channel keeps no history).
	Publish(channel string, data []byte, opts engine.PublishOptions) (engine.PublishResult, error)
	// Info lists the nodes of the cluster (this one first) with their counters.
	Info() []engine.NodeInfo
	// Subscribe subscribes the matching connections server-side. req.Channel is not
	// empty; req.Info and req.Data are raw bytes (b64info/b64data already decoded).
	Subscribe(req engine.ServerSubscribeRequest) error
	// Unsubscribe unsubscribes the matching connections; req.Channel may be empty.
	Unsubscribe(req engine.ServerUnsubscribeRequest) error
	// Disconnect disconnects the matching connections; req.Disconnect is never nil
	// (the API fills in 3503 "force disconnect" when the request has none).
	Disconnect(req engine.ServerDisconnectRequest) error
	// Refresh changes the expiry (and optionally the info) of matching connections.
	Refresh(req engine.ServerRefreshRequest) error
	// Presence returns the channel's present clients by client ID (channel not empty).
	Presence(channel string) (map[string]*codec.ClientInfo, error)
	// PresenceStats counts the channel's present clients and users (channel not empty).
	PresenceStats(channel string) (engine.PresenceStats, error)
	// History reads the channel's stream (req.Channel not empty). req.Limit: 0 →
	// no publications, negative → all, else at most that many.
	History(req engine.HistoryRequest) (engine.HistoryResult, error)
	// HistoryRemove deletes the channel's publications, keeping its position.
	HistoryRemove(channel string) error
	// Channels lists the channels with at least one subscriber whose name matches
	// the glob pattern ("" matches all); an invalid pattern is a plain error (100).
	Channels(pattern string) (map[string]engine.ChannelInfo, error)
}

// ShutdownReporter is optionally implemented by the Node: when it reports true, the
// legacy endpoint answers 503 (Centrifugo checks node.NotifyShutdown there).
type ShutdownReporter interface {
	ShuttingDown() bool
}

// maxBroadcastWorkers bounds the goroutines one broadcast publishes with. Centrifugo
// publishes up to 1024 channels at once; with a remote broker parallelism hides round
// trips, with the memory broker a few workers already saturate the cores.
const maxBroadcastWorkers = 64

// Handler serves the API. Safe for concurrent use by fasthttp workers.
type Handler struct {
	node      Node
	key       []byte
	insecure  bool
	transport bool
	maxBody   int
	log       *slog.Logger
	// shutdown is the Node's ShutdownReporter, or nil.
	shutdown ShutdownReporter
	m        *apiMetrics
}

// New builds a Handler. It does not validate cfg (call cfg.Validate first): an
// unknown ErrorMode behaves as "" and a non-positive MaxBodySize as the default.
func New(cfg Config, node Node) *Handler {
	h := &Handler{
		node:      node,
		key:       []byte(cfg.Key),
		insecure:  cfg.Insecure,
		transport: cfg.ErrorMode == ErrorModeTransport,
		maxBody:   cfg.MaxBodySize,
		log:       cfg.Logger,
		m:         newAPIMetrics(),
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodySize
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.shutdown, _ = node.(ShutdownReporter)
	return h
}

// ServeHTTP routes one request: POST /api (the legacy multi-command endpoint),
// POST /api/<method> for every OSS method, any method on /health (200 {}), and a
// plain 404 for everything else. It runs on the calling fasthttp worker goroutine;
// broadcast and parallel batch fan out to helper goroutines and wait for them
// before returning.
func (h *Handler) ServeHTTP(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch string(path) {
	case "/api":
		if h.admit(ctx) {
			h.legacy(ctx)
		}
		return
	case "/api/publish": // the hot path: pooled, no per-request allocation
		if h.admit(ctx) {
			started := time.Now()
			h.publish(ctx)
			h.m.observe(methodPublish, started)
		}
		return
	case "/api/broadcast":
		if h.admit(ctx) {
			started := time.Now()
			h.broadcast(ctx)
			h.m.observe(methodBroadcast, started)
		}
		return
	case "/api/batch":
		if h.admit(ctx) {
			started := time.Now()
			h.batch(ctx)
			h.m.observe(methodBatch, started)
		}
		return
	case "/health":
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetContentType("application/json")
		ctx.Response.SetBodyString("{}")
		return
	}
	if m, ok := pathMethods[string(path)]; ok {
		if h.admit(ctx) {
			started := time.Now()
			h.serveCommand(ctx, m, newCommand(m))
			h.m.observe(m, started)
		}
		return
	}
	textError(ctx, fasthttp.StatusNotFound, "404 page not found\n")
}

// pathMethods maps the per-method paths served by serveCommand.
var pathMethods = map[string]method{
	"/api/subscribe":      methodSubscribe,
	"/api/unsubscribe":    methodUnsubscribe,
	"/api/disconnect":     methodDisconnect,
	"/api/presence":       methodPresence,
	"/api/presence_stats": methodPresenceStats,
	"/api/history":        methodHistory,
	"/api/history_remove": methodHistoryRemove,
	"/api/info":           methodInfo,
	"/api/rpc":            methodRPC,
	"/api/refresh":        methodRefresh,
	"/api/channels":       methodChannels,
}

// serveCommand answers a per-method request: the body must decode as the method's
// request (else 400), then the result goes out as {"result":…} or the error in the
// request's error mode. cmd is a fresh zero request of method m.
func (h *Handler) serveCommand(ctx *fasthttp.RequestCtx, m method, cmd command) {
	if err := decodeCommand(ctx.PostBody(), cmd); err != nil {
		badRequest(ctx)
		return
	}
	b := getBuffer()
	defer putBuffer(b)
	b.b = append(b.b, `{"result":`...)
	mark := len(b.b)
	out, apiErr, err := cmd.run(h, b.b)
	b.b = out
	if err != nil {
		h.log.Error("api: encoding response", "method", m.String(), "error", err)
		internalServerError(ctx)
		return
	}
	if apiErr != nil {
		b.b = b.b[:mark]
		h.writeError(ctx, m, apiErr.Code, apiErr.Message)
		return
	}
	b.b = append(b.b, '}')
	writeJSON(ctx, b.b)
}

// admit applies, in Centrifugo's order, the method check (405), the API key check
// (401) and the body size limit (413). It writes the refusal itself and reports
// whether the request may proceed.
func (h *Handler) admit(ctx *fasthttp.RequestCtx) bool {
	if !ctx.IsPost() {
		emptyStatus(ctx, fasthttp.StatusMethodNotAllowed)
		return false
	}
	if !h.insecure && !h.authorized(ctx) {
		emptyStatus(ctx, fasthttp.StatusUnauthorized)
		return false
	}
	if len(ctx.PostBody()) > h.maxBody {
		textError(ctx, fasthttp.StatusRequestEntityTooLarge, "Request Entity Too Large\n")
		return false
	}
	return true
}

// authorized checks the API key (server-api.md §2): X-API-Key when present (then
// Authorization is ignored), else "Authorization: apikey KEY"; when neither matched,
// the api_key query parameter. Comparisons are constant-time.
func (h *Handler) authorized(ctx *fasthttp.RequestCtx) bool {
	if len(h.key) == 0 {
		return false
	}
	if v := ctx.Request.Header.Peek("X-API-Key"); len(v) > 0 {
		if subtle.ConstantTimeCompare(v, h.key) == 1 {
			return true
		}
	} else if v := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization); len(v) > 0 {
		if key, ok := apikeyCredential(v); ok && subtle.ConstantTimeCompare(key, h.key) == 1 {
			return true
		}
	}
	args := ctx.QueryArgs()
	if args.Len() == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(args.Peek("api_key"), h.key) == 1
}

// apikeyCredential parses "apikey KEY": exactly two fields separated by white space
// (as strings.Fields splits them), the first equal to "apikey" in any case.
func apikeyCredential(v []byte) (key []byte, ok bool) {
	var fields [2][]byte
	n := 0
	for i := 0; i < len(v); {
		// skip white space
		for i < len(v) {
			r, size := utf8.DecodeRune(v[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += size
		}
		if i == len(v) {
			break
		}
		start := i
		for i < len(v) {
			r, size := utf8.DecodeRune(v[i:])
			if unicode.IsSpace(r) {
				break
			}
			i += size
		}
		if n == len(fields) {
			return nil, false
		}
		fields[n] = v[start:i]
		n++
	}
	if n != 2 || !asciiEqualFold(fields[0], "apikey") {
		return nil, false
	}
	return fields[1], true
}

// asciiEqualFold reports whether b equals the lower-case ASCII word s, ignoring case
// (strings.ToLower(b) == s for an ASCII s).
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// transportMode reports whether errors go out as HTTP statuses for this request.
func (h *Handler) transportMode(ctx *fasthttp.RequestCtx) bool {
	return h.transport || string(ctx.Request.Header.Peek("X-Centrifugo-Error-Mode")) == ErrorModeTransport
}

// writeError answers a method-level error: inside a 200 {"error":…} response, or in
// transport error mode as the bare error object with the mapped HTTP status.
func (h *Handler) writeError(ctx *fasthttp.RequestCtx, m method, code uint32, message string) {
	h.m.countError(m, code)
	b := getBuffer()
	if h.transportMode(ctx) {
		b.b = appendError(b.b, code, message)
		writeJSON(ctx, b.b)
		ctx.SetStatusCode(httpStatus(code))
	} else {
		b.b = appendErrorResponse(b.b, code, message)
		writeJSON(ctx, b.b)
	}
	putBuffer(b)
}

// httpStatus maps an API error code to its transport-mode HTTP status
// (server-api.md §3).
func httpStatus(code uint32) int {
	switch code {
	case 102, 104:
		return fasthttp.StatusNotFound
	case 107, 108:
		return fasthttp.StatusBadRequest
	case 112:
		return fasthttp.StatusRequestedRangeNotSatisfiable
	case 113:
		return fasthttp.StatusConflict
	default: // 100 and anything unmapped
		return fasthttp.StatusInternalServerError
	}
}

// writeJSON sends body with status 200 and Content-Type application/json. body is
// copied into the response.
func writeJSON(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.SetBody(body)
}

// internalServerError answers a response that could not be encoded, as Go's
// http.Error does in Centrifugo.
func internalServerError(ctx *fasthttp.RequestCtx) {
	textError(ctx, fasthttp.StatusInternalServerError, "Internal Server Error\n")
}

// badRequest answers a body that does not decode as the request: 400 "Bad Request"
// in text/plain, as Go's http.Error writes it in Centrifugo.
func badRequest(ctx *fasthttp.RequestCtx) {
	textError(ctx, fasthttp.StatusBadRequest, "Bad Request\n")
}

// textError writes a plain-text error the way net/http's http.Error does.
func textError(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.SetBodyString(body)
}

// emptyStatus writes status with an empty body and no Content-Type, as a bare
// w.WriteHeader does in net/http.
func emptyStatus(ctx *fasthttp.RequestCtx, status int) {
	ctx.SetStatusCode(status)
	ctx.Response.ResetBody()
	ctx.Response.Header.SetNoDefaultContentType(true)
	ctx.Response.Header.Del(fasthttp.HeaderContentType)
}
