package engine

import "github.com/rotorhq/rotor/codec"

// Transport is one client connection as the engine sees it. netio implements it over
// netpoll WebSockets; netio/stdws over fasthttp/websocket.
type Transport interface {
	// Protocol is the connection's encoding, fixed for its lifetime.
	Protocol() codec.Protocol
	// Enqueue copies one encoded message (as produced by codec: a JSON object without
	// separator, or a varint-prefixed Protobuf message) into the outbound queue and
	// schedules a flush. The transport joins queued JSON messages with '\n' when it
	// frames them. It never blocks and never retains msg. It returns ErrSlowConsumer
	// when the queue would exceed its byte limit and ErrTransportClosed after Close.
	// Safe for concurrent use; it may be called with hub shard locks held (outMu is a
	// leaf lock).
	Enqueue(msg []byte) error
	// Close flushes what is queued (or discards it when d.DropQueue() says so; bytes
	// already partly written to the socket are still finished, so framing stays
	// intact), sends a close frame carrying d.Code and d.Reason, and closes the
	// connection. Idempotent and non-blocking; safe from any goroutine.
	Close(d Disconnect)
}
