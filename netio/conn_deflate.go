package netio

import (
	"encoding/binary"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio/ws"
)

// Outbound data of a connection that negotiated permessage-deflate.
//
// Without compression the pending buffer is one run of messages that becomes one
// frame at flush time. With it, a broadcast brings a frame already compressed
// (once per broadcast and variant, in the engine's SharedMessage), which cannot be
// joined to other messages, so the pending buffer becomes a list of segments,
// each laid out as
//
//	[hdrReserve bytes: kind, uint32 body length, unused][body]
//
// A segMessages body is a run of messages (JSON joined with '\n', as without
// compression) framed at flush time: compressed on the flush worker when longer
// than Config.CompressionMinSize (Centrifugo compresses its batches the same
// way), sent as is otherwise. A segFrame body is a complete frame, copied as is.
// The reserve in front of every segment lets the common case, one segMessages
// segment sent uncompressed, keep the in-place header of the plain path.

// Segment kinds (first byte of a segment's reserve).
const (
	segMessages byte = iota
	segFrame
)

var zeroReserve [hdrReserve]byte

// compressLen reports whether a message or batch of n bytes is compressed:
// longer than compression_min_size, or any when it is 0 (Centrifugo).
func (s *Server) compressLen(n int) bool {
	m := s.cfg.CompressionMinSize
	return m == 0 || n > m
}

// SharesBroadcasts implements engine.SharedEnqueuer: only connections that
// compress take a broadcast's shared message.
func (c *conn) SharesBroadcasts() bool { return c.deflate }

// EnqueueShared implements engine.SharedEnqueuer: a push long enough to compress
// is queued as the broadcast's compressed frame, built by the first connection
// that needs it; the others copy it. Anything else is Enqueue.
func (c *conn) EnqueueShared(m *engine.SharedMessage) error {
	if !c.deflate || len(m.Msg) == 0 || !c.srv.compressLen(len(m.Msg)) {
		return c.Enqueue(m.Msg)
	}
	key := (c.srv.cfg.CompressionLevel-MinCompressionLevel)<<1 | int(c.proto&1)
	return c.enqueueSeg(m.Derived(key, buildDeflateFrame), segFrame)
}

// buildDeflateFrame appends msg as one compressed frame (header included) to dst;
// key is (level-MinCompressionLevel)<<1 | protocol (0 JSON, text frame; 1
// Protobuf, binary frame). It returns the result and where the frame starts.
func buildDeflateFrame(dst, msg []byte, key int) ([]byte, int) {
	level := key>>1 + MinCompressionLevel
	op := ws.OpText
	if codec.Protocol(key&1) == codec.ProtocolProtobuf {
		op = ws.OpBinary
	}
	dst = append(dst[:0], zeroReserve[:]...)
	dst = appendDeflate(dst, msg, level)
	n := len(dst) - hdrReserve
	start := hdrReserve - ws.HeaderSize(n)
	ws.PutCompressedHeader(dst[start:hdrReserve], op, n)
	return dst, start
}

// enqueueSeg is Enqueue on a compressing connection: body is a message (kind
// segMessages), joined to the last segment when that holds messages too, or a
// complete frame (segFrame), which starts a segment of its own. Takes c.mu.
func (c *conn) enqueueSeg(body []byte, kind byte) error {
	max := c.srv.cfg.QueueMaxSize
	c.mu.Lock()
	if c.closeReq || c.broken || c.dead {
		c.mu.Unlock()
		return engine.ErrTransportClosed
	}
	p := c.pending
	join := p != nil && kind == segMessages && p.b[c.lastSeg] == segMessages
	sep := 0
	if join && c.proto == codec.ProtocolJSON {
		sep = 1
	}
	queued := c.unsent
	if p != nil {
		queued += len(p.b) - hdrReserve
	}
	if queued+sep+len(body) > max {
		c.mu.Unlock()
		return engine.ErrSlowConsumer
	}
	switch {
	case p == nil:
		p = getBuf(hdrReserve + len(body))
	case join:
		p = growBuf(p, sep+len(body))
	default:
		p = growBuf(p, hdrReserve+len(body))
	}
	if !join {
		c.lastSeg = len(p.b)
		p.b = append(p.b, zeroReserve[:]...)
		p.b[c.lastSeg] = kind
	} else if sep == 1 {
		p.b = append(p.b, '\n')
	}
	p.b = append(p.b, body...)
	binary.LittleEndian.PutUint32(p.b[c.lastSeg+1:], uint32(len(p.b)-c.lastSeg-hdrReserve))
	c.pending = p
	sched := c.scheduleLocked()
	c.mu.Unlock()
	if sched {
		c.w.push(c)
	}
	return nil
}

// frameSegments turns a compressing connection's pending buffer into the bytes
// to send: it returns the buffer holding them (data itself, or a new one that
// replaces data, which is then recycled) and the offset where they start. Token
// holder only, outside c.mu: compressing happens here, on the flush worker.
func (c *conn) frameSegments(data *obuf) (*obuf, int) {
	n := int(binary.LittleEndian.Uint32(data.b[1:]))
	if hdrReserve+n == len(data.b) {
		// One segment.
		switch {
		case data.b[0] == segFrame:
			return data, hdrReserve
		case !c.srv.compressLen(n):
			start := hdrReserve - ws.HeaderSize(n)
			ws.PutHeader(data.b[start:hdrReserve], true, c.dataOp, n)
			return data, start
		}
	}
	level := c.srv.cfg.CompressionLevel
	out := getBuf(len(data.b) + len(data.b)/8 + 64)
	for off := 0; off < len(data.b); {
		kind := data.b[off]
		n := int(binary.LittleEndian.Uint32(data.b[off+1:]))
		body := data.b[off+hdrReserve : off+hdrReserve+n]
		off += hdrReserve + n
		switch {
		case kind == segFrame:
			out = growBuf(out, n)
			out.b = append(out.b, body...)
		case c.srv.compressLen(n):
			// Compress behind a full-size header slot, then close the gap the
			// actual header leaves (a memmove of the compressed bytes).
			out = growBuf(out, hdrReserve+n+n/8+64)
			mark := len(out.b)
			out.b = append(out.b, zeroReserve[:]...)
			out.b = appendDeflate(out.b, body, level)
			m := len(out.b) - mark - hdrReserve
			h := ws.HeaderSize(m)
			copy(out.b[mark+h:], out.b[mark+hdrReserve:])
			out.b = out.b[:mark+h+m]
			ws.PutCompressedHeader(out.b[mark:], c.dataOp, m)
		default:
			out = growBuf(out, ws.MaxServerHeaderSize+n)
			out.b = ws.AppendHeader(out.b, true, c.dataOp, n)
			out.b = append(out.b, body...)
		}
	}
	putBuf(data)
	return out, 0
}
