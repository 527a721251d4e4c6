package api

import (
	"time"

	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/engine"
)

// maxBatchWorkers bounds the goroutines of a parallel batch, as Centrifugo's
// semaphore does (batchRequestMaxConcurrency).
const maxBatchWorkers = 1024

// batchCommand is one element of a batch: an object keyed by method name (§4.13).
// Every known key is decoded (a malformed one makes the whole batch a 400, as in
// Centrifugo); the first non-null one in batchOrder is run. Keys of methods Rotor
// does not serve (PRO, map_*, shared_poll_publish) are ignored, so a command holding
// only those is 104 not found.
type batchCommand struct {
	Publish       *publishRequest       `json:"publish"`
	Broadcast     *broadcastRequest     `json:"broadcast"`
	Subscribe     *subscribeRequest     `json:"subscribe"`
	Unsubscribe   *unsubscribeRequest   `json:"unsubscribe"`
	Disconnect    *disconnectRequest    `json:"disconnect"`
	Presence      *presenceRequest      `json:"presence"`
	PresenceStats *presenceStatsRequest `json:"presence_stats"`
	History       *historyRequest       `json:"history"`
	HistoryRemove *historyRemoveRequest `json:"history_remove"`
	Info          *infoRequest          `json:"info"`
	RPC           *rpcRequest           `json:"rpc"`
	Refresh       *refreshRequest       `json:"refresh"`
	Channels      *channelsRequest      `json:"channels"`
}

// batchRequest is the body of /api/batch.
type batchRequest struct {
	Commands []*batchCommand `json:"commands"`
	Parallel bool            `json:"parallel"`
}

// check finishes decoding: the raw b64data of every publish and broadcast present.
func (c *batchCommand) check() error {
	if c.Publish != nil {
		if err := c.Publish.check(); err != nil {
			return err
		}
	}
	if c.Broadcast != nil {
		return c.Broadcast.check()
	}
	return nil
}

// pick returns the command to run in Centrifugo's order of precedence (its
// processCmd checks history before presence), or ok=false when no known key is set.
func (c *batchCommand) pick() (m method, cmd command, ok bool) {
	switch {
	case c.Publish != nil:
		return methodPublish, c.Publish, true
	case c.Broadcast != nil:
		return methodBroadcast, c.Broadcast, true
	case c.Subscribe != nil:
		return methodSubscribe, c.Subscribe, true
	case c.Unsubscribe != nil:
		return methodUnsubscribe, c.Unsubscribe, true
	case c.Disconnect != nil:
		return methodDisconnect, c.Disconnect, true
	case c.History != nil:
		return methodHistory, c.History, true
	case c.HistoryRemove != nil:
		return methodHistoryRemove, c.HistoryRemove, true
	case c.Presence != nil:
		return methodPresence, c.Presence, true
	case c.PresenceStats != nil:
		return methodPresenceStats, c.PresenceStats, true
	case c.Info != nil:
		return methodInfo, c.Info, true
	case c.RPC != nil:
		return methodRPC, c.RPC, true
	case c.Refresh != nil:
		return methodRefresh, c.Refresh, true
	case c.Channels != nil:
		return methodChannels, c.Channels, true
	}
	return 0, nil, false
}

// batch serves /api/batch: always HTTP 200 with {"replies":[…]} ({} for an empty
// batch: Centrifugo omits the empty list), whatever the error mode.
func (h *Handler) batch(ctx *fasthttp.RequestCtx) {
	var req batchRequest
	if err := decodeJSON(ctx.PostBody(), &req); err != nil {
		badRequest(ctx)
		return
	}
	for _, c := range req.Commands {
		if c == nil {
			continue
		}
		if err := c.check(); err != nil {
			badRequest(ctx)
			return
		}
	}
	b := getBuffer()
	defer putBuffer(b)
	var err error
	if req.Parallel && len(req.Commands) > 1 {
		b.b, err = h.runBatchParallel(b.b, req.Commands)
	} else {
		b.b, err = h.runBatchSequential(b.b, req.Commands)
	}
	if err != nil {
		h.log.Error("api: encoding batch response", "error", err)
		internalServerError(ctx)
		return
	}
	writeJSON(ctx, b.b)
}

// appendBatchOpen and appendBatchClose frame the replies: {"replies":[…]}, or {}
// when there are none.
func appendBatchOpen(dst []byte, n int) []byte {
	if n == 0 {
		return append(dst, '{')
	}
	return append(dst, `{"replies":[`...)
}

func appendBatchClose(dst []byte, n int) []byte {
	if n == 0 {
		return append(dst, '}')
	}
	return append(dst, "]}"...)
}

func (h *Handler) runBatchSequential(dst []byte, cmds []*batchCommand) ([]byte, error) {
	dst = appendBatchOpen(dst, len(cmds))
	for i, c := range cmds {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = h.appendBatchReply(dst, c); err != nil {
			return dst, err
		}
	}
	return appendBatchClose(dst, len(cmds)), nil
}

// runBatchParallel runs the commands on up to maxBatchWorkers goroutines (the
// caller is one of them), each reply into its own buffer, then joins the replies in
// command order.
func (h *Handler) runBatchParallel(dst []byte, cmds []*batchCommand) ([]byte, error) {
	type slot struct {
		b   []byte
		err error
	}
	slots := make([]slot, len(cmds))
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(cmds) {
				return
			}
			slots[i].b, slots[i].err = h.appendBatchReply(nil, cmds[i])
		}
	}
	helpers := min(len(cmds), maxBatchWorkers) - 1
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

	dst = appendBatchOpen(dst, len(cmds))
	for i := range slots {
		if slots[i].err != nil {
			return dst, slots[i].err
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, slots[i].b...)
	}
	return appendBatchClose(dst, len(cmds)), nil
}

// appendBatchReply runs one batch command and appends its Reply:
// {"<method>":result} or {"error":{…}}. A null command is 107, a command without a
// known method 104.
func (h *Handler) appendBatchReply(dst []byte, c *batchCommand) ([]byte, error) {
	if c == nil {
		return appendErrorResponse(dst, engine.ErrorBadRequest.Code, engine.ErrorBadRequest.Message), nil
	}
	m, cmd, ok := c.pick()
	if !ok {
		return appendErrorResponse(dst, errNotFound.Code, errNotFound.Message), nil
	}
	mark := len(dst)
	dst = append(dst, '{', '"')
	dst = append(dst, m.String()...)
	dst = append(dst, '"', ':')
	started := time.Now()
	out, apiErr, err := cmd.run(h, dst)
	h.m.observe(m, started)
	if err != nil {
		return out, err
	}
	if apiErr != nil {
		h.m.countError(m, apiErr.Code)
		return appendErrorResponse(out[:mark], apiErr.Code, apiErr.Message), nil
	}
	return append(out, '}'), nil
}
