package api

import (
	"errors"

	"github.com/rotorhq/rotor/engine"
)

// method names one server API method. The per-method endpoints, batch commands and
// legacy commands all resolve to one of these.
type method uint8

const (
	methodPublish method = iota
	methodBroadcast
	methodSubscribe
	methodUnsubscribe
	methodDisconnect
	methodPresence
	methodPresenceStats
	methodHistory
	methodHistoryRemove
	methodInfo
	methodRPC
	methodRefresh
	methodChannels
	methodBatch
)

// methodNames are the JSON names of the methods: the per-method paths under /api/,
// the keys of batch commands and replies, and the names in log lines.
var methodNames = [...]string{
	methodPublish:       "publish",
	methodBroadcast:     "broadcast",
	methodSubscribe:     "subscribe",
	methodUnsubscribe:   "unsubscribe",
	methodDisconnect:    "disconnect",
	methodPresence:      "presence",
	methodPresenceStats: "presence_stats",
	methodHistory:       "history",
	methodHistoryRemove: "history_remove",
	methodInfo:          "info",
	methodRPC:           "rpc",
	methodRefresh:       "refresh",
	methodChannels:      "channels",
	methodBatch:         "batch",
}

func (m method) String() string { return methodNames[m] }

// command is one decoded API request of any method but batch.
type command interface {
	// run executes the request through h's Node and appends the method's result
	// object to dst, returning dst grown. The returned slice always starts with
	// dst's contents, so on failure the caller truncates it back. apiErr is a
	// client-visible error (the result is then not written). err is errRawJSON when
	// the result embeds raw JSON that cannot be encoded (HTTP 500, as Centrifugo's
	// json.Marshal fails). Called on a fasthttp worker or a batch helper goroutine.
	run(h *Handler, dst []byte) (out []byte, apiErr *engine.Error, err error)
}

// checker is implemented by requests whose decoding is finished after sonic returns
// (b64data is kept raw; Centrifugo decodes it as a string). check reports the error
// encoding/json would have raised.
type checker interface {
	check() error
}

// newCommand returns a zero request of method m (not batch), ready to decode into.
func newCommand(m method) command {
	switch m {
	case methodPublish:
		return new(publishRequest)
	case methodBroadcast:
		return new(broadcastRequest)
	case methodSubscribe:
		return new(subscribeRequest)
	case methodUnsubscribe:
		return new(unsubscribeRequest)
	case methodDisconnect:
		return new(disconnectRequest)
	case methodPresence:
		return new(presenceRequest)
	case methodPresenceStats:
		return new(presenceStatsRequest)
	case methodHistory:
		return new(historyRequest)
	case methodHistoryRemove:
		return new(historyRemoveRequest)
	case methodInfo:
		return new(infoRequest)
	case methodRPC:
		return new(rpcRequest)
	case methodRefresh:
		return new(refreshRequest)
	case methodChannels:
		return new(channelsRequest)
	}
	panic("api: newCommand of " + m.String()) // broken invariant: callers map only known methods
}

// decodeCommand decodes body into cmd as Centrifugo's typed request would decode:
// a non-nil error means the body is not the request (HTTP 400, or 107 for a legacy
// command's params).
func decodeCommand(body []byte, cmd command) error {
	if err := decodeJSON(body, cmd); err != nil {
		return err
	}
	if c, ok := cmd.(checker); ok {
		return c.check()
	}
	return nil
}

// errRawJSON reports raw JSON in a result (publication data, conn_info, chan_info)
// that is not valid JSON, so that the response cannot be encoded. Centrifugo answers
// such a response with 500.
var errRawJSON = errors.New("api: result holds invalid raw JSON")

// errNotFound is the API's 104 (the client protocol says "method not found").
var errNotFound = &engine.Error{Code: 104, Message: "not found"}

// nodeError maps a Node error to the client-visible API error: *engine.Error values
// keep their code and message (104 takes the API's "not found"), anything else is
// logged and becomes 100 internal.
func (h *Handler) nodeError(err error, m method, channel string) *engine.Error {
	e, ok := err.(*engine.Error)
	if !ok && !errors.As(err, &e) {
		h.log.Error("api: node call failed", "method", m.String(), "channel", channel, "error", err)
		return engine.ErrorInternal
	}
	if e.Code == errNotFound.Code {
		return errNotFound
	}
	return e
}
