package engine

import "errors"

// Error is an error sent to a client in a reply (client protocol §9).
type Error struct {
	Code      uint32
	Message   string
	Temporary bool
}

func (e *Error) Error() string { return e.Message }

// Client-visible errors with Centrifugo's codes and exact messages.
var (
	ErrorInternal              = &Error{Code: 100, Message: "internal server error", Temporary: true}
	ErrorUnauthorized          = &Error{Code: 101, Message: "unauthorized"}
	ErrorUnknownChannel        = &Error{Code: 102, Message: "unknown channel"}
	ErrorPermissionDenied      = &Error{Code: 103, Message: "permission denied"}
	ErrorMethodNotFound        = &Error{Code: 104, Message: "method not found"}
	ErrorAlreadySubscribed     = &Error{Code: 105, Message: "already subscribed"}
	ErrorLimitExceeded         = &Error{Code: 106, Message: "limit exceeded"}
	ErrorBadRequest            = &Error{Code: 107, Message: "bad request"}
	ErrorNotAvailable          = &Error{Code: 108, Message: "not available"}
	ErrorTokenExpired          = &Error{Code: 109, Message: "token expired"}
	ErrorExpired               = &Error{Code: 110, Message: "expired"}
	ErrorTooManyRequests       = &Error{Code: 111, Message: "too many requests", Temporary: true}
	ErrorUnrecoverablePosition = &Error{Code: 112, Message: "unrecoverable position"}
)

// Disconnect ends a session; on WebSocket it travels in the close frame.
// Codes 3000–3499 reconnect, 3500–3999 are terminal (client protocol §11).
type Disconnect struct {
	Code   uint32
	Reason string
}

func (d Disconnect) Error() string { return d.Reason }

// DropQueue tells the transport whether to discard what is still queued for the
// client instead of sending it before the close frame. The engine decides, so
// transports need not know codes: a slow client (3008) would only fall further
// behind, and 3000 means the peer is gone, so neither has a reader for the backlog.
func (d Disconnect) DropQueue() bool {
	return d.Code == DisconnectSlow.Code || d.Code == DisconnectConnectionClosed.Code
}

// Disconnects with Centrifugo's codes and exact reasons.
var (
	DisconnectConnectionClosed = Disconnect{Code: 3000, Reason: "connection closed"}
	DisconnectShutdown         = Disconnect{Code: 3001, Reason: "shutdown"}
	DisconnectServerError      = Disconnect{Code: 3004, Reason: "internal server error"}
	DisconnectExpired          = Disconnect{Code: 3005, Reason: "connection expired"}
	DisconnectSubExpired       = Disconnect{Code: 3006, Reason: "subscription expired"}
	DisconnectSlow             = Disconnect{Code: 3008, Reason: "slow"}
	DisconnectWriteError       = Disconnect{Code: 3009, Reason: "write error"}
	DisconnectInsufficient     = Disconnect{Code: 3010, Reason: "insufficient state"}
	DisconnectForceReconnect   = Disconnect{Code: 3011, Reason: "force reconnect"}
	DisconnectNoPong           = Disconnect{Code: 3012, Reason: "no pong"}
	DisconnectTooManyRequests  = Disconnect{Code: 3013, Reason: "too many requests"}
	DisconnectInvalidToken     = Disconnect{Code: 3500, Reason: "invalid token"}
	DisconnectBadRequest       = Disconnect{Code: 3501, Reason: "bad request"}
	DisconnectStale            = Disconnect{Code: 3502, Reason: "stale"}
	DisconnectForce            = Disconnect{Code: 3503, Reason: "force disconnect"}
	DisconnectConnectionLimit  = Disconnect{Code: 3504, Reason: "connection limit"}
	DisconnectChannelLimit     = Disconnect{Code: 3505, Reason: "channel limit"}
	DisconnectBadProtocol      = Disconnect{Code: 3506, Reason: "inappropriate protocol"}
	DisconnectPermissionDenied = Disconnect{Code: 3507, Reason: "permission denied"}
	DisconnectNotAvailable     = Disconnect{Code: 3508, Reason: "not available"}
	DisconnectTooManyErrors    = Disconnect{Code: 3509, Reason: "too many errors"}
)

// Sentinel errors returned by transports.
var (
	// ErrSlowConsumer is returned by Transport.Enqueue when the outbound queue would
	// exceed its byte limit; the engine then disconnects the client with 3008.
	ErrSlowConsumer = errors.New("engine: slow consumer")
	// ErrTransportClosed is returned by Transport.Enqueue after the transport closed.
	ErrTransportClosed = errors.New("engine: transport closed")
)

// errNoProxy is reported when a namespace enables a proxy whose name is not
// configured (config validation normally prevents it).
var errNoProxy = errors.New("engine: proxy not configured")
