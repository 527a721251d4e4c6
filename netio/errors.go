package netio

import "errors"

// Errors returned by Listen, Serve and Config.Validate.
var (
	// ErrServerClosed is returned by Serve when Shutdown ran before it.
	ErrServerClosed = errors.New("netio: server closed")
	// ErrNoAccept is returned by Config.Validate when Accept is nil.
	ErrNoAccept = errors.New("netio: Config.Accept is required")
)

// Errors of the inbound frame stream. errUnmasked and errBadFragment (like the ws
// header errors) close with 1002; errMessageTooBig closes with 1009;
// errInvalidUTF8 (and ws.ErrInvalidUTF8 in a close reason) with 1007.
var (
	errUnmasked      = errors.New("netio: unmasked client frame")
	errBadFragment   = errors.New("netio: unexpected continuation or data frame")
	errMessageTooBig = errors.New("netio: message exceeds the size limit")
	// errFrameTooLong is a frame so long it cannot be skipped (over 2^62 bytes):
	// close with 1009 and discard the stream.
	errFrameTooLong = errors.New("netio: frame length beyond any limit")
	// errInvalidUTF8 is a text message that is not valid UTF-8 (RFC 6455 §8.1).
	errInvalidUTF8 = errors.New("netio: text message is not valid UTF-8")
	// errBadDeflate is a compressed message that does not inflate (1002).
	errBadDeflate = errors.New("netio: corrupt permessage-deflate message")
)
