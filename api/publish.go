package api

import (
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/engine"
)

// publish serves /api/publish from pooled scratch: with a non-allocating Node it
// costs one allocation (the copy of the channel string).
func (h *Handler) publish(ctx *fasthttp.RequestCtx) {
	s := publishPool.Get().(*publishScratch)
	defer publishPool.Put(s)
	defer func() { s.req.Tags, s.req.Data, s.req.B64Data = nil, nil, nil }()

	if err := s.decode(ctx.PostBody()); err != nil {
		badRequest(ctx)
		return
	}
	if err := s.req.check(); err != nil {
		badRequest(ctx)
		return
	}
	res, scratch, apiErr := h.doPublish(&s.req, s.b64)
	s.b64 = scratch
	if apiErr != nil {
		h.writeError(ctx, methodPublish, apiErr.Code, apiErr.Message)
		return
	}
	b := getBuffer()
	b.b = append(b.b, `{"result":`...)
	b.b = appendPublishResult(b.b, res)
	b.b = append(b.b, '}')
	writeJSON(ctx, b.b)
	putBuffer(b)
}

// doPublish validates r (already checked) and publishes it. scratch is reused for
// the decoded b64data and returned grown.
func (h *Handler) doPublish(r *publishRequest, scratch []byte) (engine.PublishResult, []byte, *engine.Error) {
	if r.Channel == "" {
		return engine.PublishResult{}, scratch, engine.ErrorBadRequest
	}
	data, scratch, ok, err := r.payload(scratch)
	if err != nil || !ok {
		return engine.PublishResult{}, scratch, engine.ErrorBadRequest
	}
	res, err := h.node.Publish(r.Channel, data, r.options())
	if err != nil {
		return engine.PublishResult{}, scratch, h.nodeError(err, methodPublish, r.Channel)
	}
	return res, scratch, nil
}

// run publishes r (a batch or legacy command) and appends {"offset","epoch"}.
func (r *publishRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	res, _, apiErr := h.doPublish(r, nil)
	if apiErr != nil {
		return dst, apiErr, nil
	}
	return appendPublishResult(dst, res), nil, nil
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
	res engine.PublishResult
	err *engine.Error // nil on success
}

// broadcast serves /api/broadcast from pooled scratch.
func (h *Handler) broadcast(ctx *fasthttp.RequestCtx) {
	s := broadcastPool.Get().(*broadcastScratch)
	defer broadcastPool.Put(s)
	defer s.release()

	if err := s.decode(ctx.PostBody()); err != nil {
		badRequest(ctx)
		return
	}
	if err := s.req.check(); err != nil {
		badRequest(ctx)
		return
	}
	apiErr := h.doBroadcast(s)
	if apiErr != nil {
		h.writeError(ctx, methodBroadcast, apiErr.Code, apiErr.Message)
		return
	}
	b := getBuffer()
	b.b = append(b.b, `{"result":`...)
	b.b = appendBroadcastResult(b.b, s.outcomes)
	b.b = append(b.b, '}')
	writeJSON(ctx, b.b)
	putBuffer(b)
}

// doBroadcast validates s.req (already checked) and publishes it to every channel,
// leaving one outcome per channel in s.outcomes. Per-channel failures are outcomes;
// the returned error is for the request as a whole (no channels, bad b64data).
func (h *Handler) doBroadcast(s *broadcastScratch) *engine.Error {
	r := &s.req
	if len(r.Channels) == 0 {
		return engine.ErrorBadRequest
	}
	data, scratch, ok, err := r.payload(s.b64)
	s.b64 = scratch
	if err != nil || !ok {
		return engine.ErrorBadRequest
	}
	if cap(s.outcomes) < len(r.Channels) {
		s.outcomes = make([]publishOutcome, len(r.Channels))
	}
	s.outcomes = s.outcomes[:len(r.Channels)]
	h.publishAll(r.Channels, data, r.options(), s.outcomes)
	return nil
}

// run broadcasts r (a batch or legacy command) and appends {"responses":[…]}.
func (r *broadcastRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	s := broadcastScratch{req: *r}
	apiErr := h.doBroadcast(&s)
	if apiErr != nil {
		return dst, apiErr, nil
	}
	return appendBroadcastResult(dst, s.outcomes), nil, nil
}

// appendBroadcastResult appends {"responses":[…]}: one PublishResponse per channel,
// {"result":{…}} or {"error":{…}}.
func appendBroadcastResult(dst []byte, outcomes []publishOutcome) []byte {
	dst = append(dst, `{"responses":[`...)
	for i := range outcomes {
		o := &outcomes[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		if o.err != nil {
			dst = appendErrorResponse(dst, o.err.Code, o.err.Message)
			continue
		}
		dst = append(dst, `{"result":`...)
		dst = appendPublishResult(dst, o.res)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
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
		return publishOutcome{err: engine.ErrorBadRequest}
	}
	res, err := h.node.Publish(channel, data, opts)
	if err != nil {
		return publishOutcome{err: h.nodeError(err, methodBroadcast, channel)}
	}
	return publishOutcome{res: res}
}
