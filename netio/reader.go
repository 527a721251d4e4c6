package netio

import (
	"unicode/utf8"

	"github.com/rotorhq/rotor/netio/ws"
)

// maxSkip is the longest oversized frame the reader skips to stay in sync.
const maxSkip = 1 << 62

// inbound is the part of netpoll.Reader the frame reader uses; tests supply their
// own. Peek, Next and Skip are only called with n ≤ Len(), so they never block here.
type inbound interface {
	Len() int
	Peek(n int) ([]byte, error)
	Next(n int) ([]byte, error)
	Skip(n int) error
}

// frameEvent is what frameReader.next produced.
type frameEvent uint8

const (
	evNone    frameEvent = iota // no complete event buffered
	evMessage                   // a complete text or binary message
	evControl                   // a ping, pong or close frame
)

// frameReader turns the client's frame stream into messages: it checks masking and
// header rules, unmasks in place, enforces the message size limit, reassembles
// fragments (control frames may come between them) and rejects text messages that
// are not valid UTF-8. It is used by one goroutine at
// a time (the connection's reader) and holds a buffer only inside a fragmented
// message.
type frameReader struct {
	limit int
	msg   *obuf     // reassembly buffer of a fragmented message; nil otherwise
	op    ws.Opcode // opcode of the message being reassembled
	// done means msg was returned by the last call and is recycled by the next.
	done bool
	// skip counts bytes of an oversized frame still to be discarded, and discard
	// means the continuation frames of an oversized message are discarded too: after
	// errMessageTooBig the stream stays in sync, so the peer's close frame is seen.
	skip    int64
	discard bool

	// deflate means permessage-deflate was negotiated: a message whose first frame
	// has RSV1 set is compressed and is inflated, up to inflateLimit bytes.
	deflate      bool
	inflateLimit int
	compressed   bool  // the message being reassembled is compressed
	inflated     *obuf // the last message returned, inflated; recycled by the next call
}

// next consumes from src until it has a complete event, and returns it. A message's
// payload is unmasked and valid until the next call (it aliases src or the
// reassembly buffer). With evNone, need is the number of bytes src must hold for the
// frame under way to complete (0 when nothing needs waiting for: src is empty, or an
// oversized frame is being discarded as it arrives). After errMessageTooBig the
// reader keeps going, discarding that message; after any other error the stream is
// unusable.
func (fr *frameReader) next(src inbound) (ev frameEvent, op ws.Opcode, payload []byte, need int, err error) {
	if fr.done {
		fr.done = false
		putBuf(fr.msg)
		fr.msg = nil
	}
	if fr.inflated != nil {
		putBuf(fr.inflated)
		fr.inflated = nil
	}
	for {
		if fr.skip > 0 {
			n := int(min(fr.skip, int64(src.Len())))
			if err := src.Skip(n); err != nil {
				return evNone, 0, nil, 0, err
			}
			fr.skip -= int64(n)
			if fr.skip > 0 {
				return evNone, 0, nil, 0, nil
			}
		}
		avail := src.Len()
		if avail == 0 {
			return evNone, 0, nil, 0, nil
		}
		peek := avail
		if peek > ws.MaxHeaderSize {
			peek = ws.MaxHeaderSize
		}
		hb, perr := src.Peek(peek)
		if perr != nil {
			return evNone, 0, nil, 0, perr
		}
		h, hn, herr := ws.ParseHeader(hb)
		if herr == ws.ErrIncomplete {
			return evNone, 0, nil, hn, nil
		}
		if herr != nil {
			return evNone, 0, nil, 0, herr
		}
		if !h.Masked {
			return evNone, 0, nil, 0, errUnmasked
		}
		// RSV1 marks the first frame of a compressed message (RFC 7692 §6): never
		// on control or continuation frames, never without the extension.
		if h.Rsv1 && (!fr.deflate || h.Op.IsControl() || h.Op == ws.OpContinuation) {
			return evNone, 0, nil, 0, ws.ErrReservedBits
		}
		if !h.Op.IsControl() {
			if (h.Op == ws.OpContinuation) != (fr.msg != nil || fr.discard) {
				return evNone, 0, nil, 0, errBadFragment
			}
			if h.Length > maxSkip {
				return evNone, 0, nil, 0, errFrameTooLong
			}
			if fr.discard {
				fr.skip = int64(hn) + h.Length
				fr.discard = !h.Fin
				continue
			}
			have := 0
			if fr.msg != nil {
				have = len(fr.msg.b)
			}
			if h.Length > int64(fr.limit-have) {
				putBuf(fr.msg)
				fr.msg = nil
				fr.skip = int64(hn) + h.Length
				fr.discard = !h.Fin
				return evNone, 0, nil, 0, errMessageTooBig
			}
		}
		total := hn + int(h.Length)
		if avail < total {
			return evNone, 0, nil, total, nil
		}
		frame, nerr := src.Next(total)
		if nerr != nil {
			return evNone, 0, nil, 0, nerr
		}
		p := frame[hn:]
		ws.Unmask(p, h.Mask, 0)
		switch {
		case h.Op.IsControl():
			return evControl, h.Op, p, 0, nil
		case h.Op != ws.OpContinuation && h.Fin:
			if h.Rsv1 {
				return fr.inflateMessage(h.Op, p)
			}
			if h.Op == ws.OpText && !utf8.Valid(p) {
				return evNone, 0, nil, 0, errInvalidUTF8
			}
			return evMessage, h.Op, p, 0, nil
		case h.Op != ws.OpContinuation:
			// First fragment: start reassembling.
			fr.op = h.Op
			fr.compressed = h.Rsv1
			fr.msg = getBuf(len(p))
			fr.msg.b = append(fr.msg.b, p...)
		default:
			fr.msg = growBuf(fr.msg, len(p))
			fr.msg.b = append(fr.msg.b, p...)
			if h.Fin {
				fr.done = true
				if fr.compressed {
					return fr.inflateMessage(fr.op, fr.msg.b)
				}
				// A fragment may end inside a character (RFC 6455 §5.6), so the
				// reassembled message is what must be valid UTF-8. Checking it
				// whole costs one pass over at most the size limit, allocates
				// nothing, and only delays failing an invalid message to its end.
				if fr.op == ws.OpText && !utf8.Valid(fr.msg.b) {
					return evNone, 0, nil, 0, errInvalidUTF8
				}
				return evMessage, fr.op, fr.msg.b, 0, nil
			}
		}
	}
}

// inflateMessage decompresses a complete compressed message p (wire bytes) and
// returns it as next does; the result is recycled by the next call.
func (fr *frameReader) inflateMessage(op ws.Opcode, p []byte) (frameEvent, ws.Opcode, []byte, int, error) {
	out, err := inflate(p, fr.inflateLimit)
	if err != nil {
		return evNone, 0, nil, 0, err
	}
	fr.inflated = out
	if op == ws.OpText && !utf8.Valid(out.b) {
		return evNone, 0, nil, 0, errInvalidUTF8
	}
	return evMessage, op, out.b, 0, nil
}

// reset drops a message under reassembly. Only the reader's goroutine, or the close
// callback once the reader can no longer run, may call it.
func (fr *frameReader) reset() {
	putBuf(fr.msg)
	fr.msg = nil
	fr.done = false
	fr.skip = 0
	fr.discard = false
	fr.compressed = false
	putBuf(fr.inflated)
	fr.inflated = nil
}

// closeCodeFor maps a frame stream error to the close code sent to the client.
func closeCodeFor(err error) uint16 {
	switch err {
	case errMessageTooBig, errFrameTooLong:
		return ws.CloseMessageTooBig
	case errInvalidUTF8, ws.ErrInvalidUTF8:
		return ws.CloseInvalidPayload
	}
	return ws.CloseProtocolError
}
