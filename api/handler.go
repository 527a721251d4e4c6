// Package api serves Centrifugo's HTTP server API (shared/spec/server-api.md) and the
// health endpoint on fasthttp. It decodes requests with sonic into pooled structs,
// calls the engine through the small Node interface declared here, and writes
// Centrifugo-shaped JSON with hand-written appenders.
package api

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/engine"
)

// Node is what the API needs from the engine; *engine.Node satisfies it.
type Node interface {
	// Publish delivers data to channel. data aliases the request body and is valid
	// only during the call: the implementation copies what it keeps. channel and the
	// strings in opts are owned by the callee. It returns *engine.Error values for
	// client-visible failures; any other error is reported as 100 internal.
	// Called concurrently from fasthttp workers and broadcast helpers.
	Publish(channel string, data []byte, opts engine.PublishOptions) (engine.PublishResult, error)
	// Info reports this node's counters.
	Info() engine.NodeInfo
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
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodySize
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// ServeHTTP routes one request: POST /api/publish, /api/broadcast and /api/info, any
// method on /health (200 {}), and 404 for everything else. It runs on the calling
// fasthttp worker goroutine; broadcast may fan out to helper goroutines and waits for
// them before returning.
func (h *Handler) ServeHTTP(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/api/publish":
		if h.admit(ctx) {
			h.publish(ctx)
		}
	case "/api/broadcast":
		if h.admit(ctx) {
			h.broadcast(ctx)
		}
	case "/api/info":
		if h.admit(ctx) {
			h.info(ctx)
		}
	case "/health":
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetContentType("application/json")
		ctx.Response.SetBodyString("{}")
	default:
		textError(ctx, fasthttp.StatusNotFound, "404 page not found\n")
	}
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

func (h *Handler) publish(ctx *fasthttp.RequestCtx) {
	s := publishPool.Get().(*publishScratch)
	defer publishPool.Put(s)
	defer func() { s.req.Tags, s.req.Data, s.req.B64Data = nil, nil, nil }()

	if err := s.decode(ctx.PostBody()); err != nil {
		badRequest(ctx)
		return
	}
	r := &s.req
	data, scratch, ok, err := r.payload(s.b64)
	s.b64 = scratch
	if err != nil {
		badRequest(ctx)
		return
	}
	if !ok {
		h.writeError(ctx, engine.ErrorBadRequest.Code, engine.ErrorBadRequest.Message)
		return
	}
	if r.Channel == "" {
		h.writeError(ctx, engine.ErrorBadRequest.Code, engine.ErrorBadRequest.Message)
		return
	}
	res, err := h.node.Publish(r.Channel, data, r.options())
	if err != nil {
		code, msg := h.apiError(err, r.Channel)
		h.writeError(ctx, code, msg)
		return
	}
	b := getBuffer()
	b.b = append(b.b, `{"result":`...)
	b.b = appendPublishResult(b.b, res)
	b.b = append(b.b, '}')
	writeJSON(ctx, b.b)
	putBuffer(b)
}

// options builds the engine's publish options from the request fields.
func (f *publishFields) options() engine.PublishOptions {
	return engine.PublishOptions{
		Tags:           f.Tags,
		SkipHistory:    f.SkipHistory,
		IdempotencyKey: f.IdempotencyKey,
		Delta:          f.Delta,
	}
}

// publishOutcome is the result of publishing to one channel of a broadcast.
type publishOutcome struct {
	res     engine.PublishResult
	code    uint32 // 0 on success
	message string
}

func (h *Handler) broadcast(ctx *fasthttp.RequestCtx) {
	s := broadcastPool.Get().(*broadcastScratch)
	defer broadcastPool.Put(s)
	defer s.release()

	if err := s.decode(ctx.PostBody()); err != nil {
		badRequest(ctx)
		return
	}
	r := &s.req
	data, scratch, ok, err := r.payload(s.b64)
	s.b64 = scratch
	if err != nil {
		badRequest(ctx)
		return
	}
	if len(r.Channels) == 0 || !ok {
		h.writeError(ctx, engine.ErrorBadRequest.Code, engine.ErrorBadRequest.Message)
		return
	}
	if cap(s.outcomes) < len(r.Channels) {
		s.outcomes = make([]publishOutcome, len(r.Channels))
	}
	s.outcomes = s.outcomes[:len(r.Channels)]
	h.publishAll(r.Channels, data, r.options(), s.outcomes)

	b := getBuffer()
	b.b = append(b.b, `{"result":{"responses":[`...)
	for i := range s.outcomes {
		o := &s.outcomes[i]
		if i > 0 {
			b.b = append(b.b, ',')
		}
		if o.code != 0 {
			b.b = appendErrorResponse(b.b, o.code, o.message)
			continue
		}
		b.b = append(b.b, `{"result":`...)
		b.b = appendPublishResult(b.b, o.res)
		b.b = append(b.b, '}')
	}
	b.b = append(b.b, "]}}"...)
	writeJSON(ctx, b.b)
	putBuffer(b)
}

// publishAll publishes data to every channel, filling out[i] for channels[i]. One
// channel is published inline; more fan out to at most maxBroadcastWorkers
// goroutines (the caller is one of them). It returns when all are done.
func (h *Handler) publishAll(channels []string, data []byte, opts engine.PublishOptions, out []publishOutcome) {
	if len(channels) == 1 {
		out[0] = h.publishOne(channels[0], data, opts)
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(channels) {
				return
			}
			out[i] = h.publishOne(channels[i], data, opts)
		}
	}
	helpers := min(len(channels), maxBroadcastWorkers) - 1
	var wg sync.WaitGroup
	wg.Add(helpers)
	for range helpers {
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}

func (h *Handler) publishOne(channel string, data []byte, opts engine.PublishOptions) publishOutcome {
	if channel == "" {
		return publishOutcome{code: engine.ErrorBadRequest.Code, message: engine.ErrorBadRequest.Message}
	}
	res, err := h.node.Publish(channel, data, opts)
	if err != nil {
		code, msg := h.apiError(err, channel)
		return publishOutcome{code: code, message: msg}
	}
	return publishOutcome{res: res}
}

func (h *Handler) info(ctx *fasthttp.RequestCtx) {
	var req infoRequest
	if err := decodeJSON(ctx.PostBody(), &req); err != nil {
		badRequest(ctx)
		return
	}
	b := getBuffer()
	b.b = append(b.b, `{"result":{"nodes":[`...)
	b.b = appendNodeResult(b.b, h.node.Info())
	b.b = append(b.b, "]}}"...)
	writeJSON(ctx, b.b)
	putBuffer(b)
}

// apiError maps a Node error to the API's code and message: *engine.Error values
// keep theirs (104 uses the API's "not found"), anything else is 100 internal.
func (h *Handler) apiError(err error, channel string) (uint32, string) {
	e, ok := err.(*engine.Error)
	if !ok && !errors.As(err, &e) {
		h.log.Error("api: publish failed", "channel", channel, "error", err)
		return engine.ErrorInternal.Code, engine.ErrorInternal.Message
	}
	if e.Code == engine.ErrorMethodNotFound.Code {
		return e.Code, "not found"
	}
	return e.Code, e.Message
}

// writeError answers a method-level error: inside a 200 {"error":…} response, or in
// transport error mode as the bare error object with the mapped HTTP status.
func (h *Handler) writeError(ctx *fasthttp.RequestCtx, code uint32, message string) {
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
