package benchmarks

import (
	"errors"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rotorhq/rotor/codec"
)

// This file is the client side of the wire: a small decoder that pulls out of a server
// frame only what the load tool needs (reply id, error, which result or push it is, the
// channel and data of a publication). It does not build the full reply and it never
// allocates for pings and publications: the byte slices it returns alias the frame.

var (
	errBadJSON  = errors.New("bench: malformed JSON reply")
	errBadProto = errors.New("bench: malformed protobuf reply")
)

// replyKind says what one server message is.
type replyKind uint8

const (
	kindPing        replyKind = iota // empty reply: the server ping
	kindConnect                      // reply to connect
	kindSubscribe                    // reply to subscribe
	kindError                        // reply carrying an error
	kindPub                          // publication push
	kindUnsubscribe                  // unsubscribe push (server dropped a subscription)
	kindDisconnect                   // disconnect push (non-WebSocket transports; tolerated)
	kindOther                        // any other reply or push
)

// reply is the part of one server message that the load tool looks at.
type reply struct {
	kind    replyKind
	id      uint32
	errCode uint32
	errMsg  []byte // aliases the frame
	channel []byte // push channel, aliases the frame
	data    []byte // publication data, aliases the frame
	code    uint32 // unsubscribe / disconnect push code
}

func (r *reply) reset() { *r = reply{} }

// frameIter splits one WebSocket frame into protocol messages: newline-joined JSON, or
// varint-length-delimited protobuf.
type frameIter struct {
	proto codec.Protocol
	rest  []byte
}

// next decodes the following message into r. It returns false at the end of the frame
// or on a decoding error (then err is set and the rest of the frame is dropped).
func (it *frameIter) next(r *reply) (ok bool, err error) {
	r.reset()
	if it.proto == codec.ProtocolProtobuf {
		if len(it.rest) == 0 {
			return false, nil
		}
		l, n := protowire.ConsumeVarint(it.rest)
		if n < 0 || l > uint64(len(it.rest)-n) {
			it.rest = nil
			return false, errBadProto
		}
		msg := it.rest[n : n+int(l)]
		it.rest = it.rest[n+int(l):]
		if err := decodeProtoReply(msg, r); err != nil {
			it.rest = nil
			return false, err
		}
		return true, nil
	}
	for len(it.rest) > 0 {
		var msg []byte
		if end := indexByte(it.rest, '\n'); end < 0 {
			msg, it.rest = it.rest, nil
		} else {
			msg, it.rest = it.rest[:end], it.rest[end+1:]
		}
		if len(trimSpace(msg)) == 0 {
			continue // a tolerated trailing newline
		}
		if err := decodeJSONReply(msg, r); err != nil {
			it.rest = nil
			return false, err
		}
		return true, nil
	}
	return false, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// ---- JSON ----

// scanner walks one JSON value without building it.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

// expect consumes c (after whitespace) or fails.
func (s *scanner) expect(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string and returns its raw contents between the quotes (escapes kept).
func (s *scanner) str() ([]byte, bool) {
	if !s.expect('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		default:
			s.i++
		}
	}
	return nil, false
}

// value skips one JSON value and returns its raw bytes.
func (s *scanner) value() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) {
		return nil, false
	}
	start := s.i
	switch c := s.b[s.i]; c {
	case '"':
		if _, ok := s.str(); !ok {
			return nil, false
		}
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return s.b[start:s.i], true
				}
			}
			s.i++
		}
		return nil, false
	default:
		for s.i < len(s.b) {
			c := s.b[s.i]
			if c == ',' || c == '}' || c == ']' || isSpace(c) {
				break
			}
			s.i++
		}
		if s.i == start {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

// uint reads a non-negative integer.
func (s *scanner) uint() (uint64, bool) {
	v, ok := s.value()
	if !ok {
		return 0, false
	}
	n, ok := atoi(v)
	return uint64(n), ok && n >= 0
}

// atoi parses a decimal integer without allocating.
func atoi(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n < 0 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// objIter walks the members of one JSON object: after enter, each call to next
// returns the following key; the caller must then consume the value.
type objIter struct {
	s     *scanner
	first bool
	bad   bool
}

func (s *scanner) enter() objIter {
	return objIter{s: s, first: true, bad: !s.expect('{')}
}

func (it *objIter) next() ([]byte, bool) {
	if it.bad {
		return nil, false
	}
	s := it.s
	switch c := s.peek(); {
	case c == '}':
		s.i++
		return nil, false
	case it.first:
		it.first = false
	case c == ',':
		s.i++
	default:
		it.bad = true
		return nil, false
	}
	k, ok := s.str()
	if !ok || !s.expect(':') {
		it.bad = true
		return nil, false
	}
	return k, true
}

func (it *objIter) fail() { it.bad = true }

func (s *scanner) skip() bool { _, ok := s.value(); return ok }

func decodeJSONReply(msg []byte, r *reply) error {
	s := scanner{b: msg}
	r.kind = kindPing
	it := s.enter()
	for k, more := it.next(); more; k, more = it.next() {
		ok := true
		switch string(k) {
		case "id":
			var v uint64
			v, ok = s.uint()
			r.id = uint32(v)
		case "error":
			r.kind = kindError
			ok = s.jsonError(r)
		case "push":
			if r.kind != kindError {
				r.kind = kindOther
			}
			ok = s.jsonPush(r)
		case "connect":
			if r.kind != kindError {
				r.kind = kindConnect
			}
			ok = s.skip()
		case "subscribe":
			if r.kind != kindError {
				r.kind = kindSubscribe
			}
			ok = s.skip()
		default:
			if r.kind == kindPing {
				r.kind = kindOther
			}
			ok = s.skip()
		}
		if !ok {
			it.fail()
		}
	}
	s.ws()
	if it.bad || s.i != len(s.b) {
		return errBadJSON
	}
	return nil
}

func (s *scanner) jsonError(r *reply) bool {
	it := s.enter()
	for k, more := it.next(); more; k, more = it.next() {
		ok := true
		switch string(k) {
		case "code":
			var v uint64
			v, ok = s.uint()
			r.errCode = uint32(v)
		case "message":
			r.errMsg, ok = s.str()
		default:
			ok = s.skip()
		}
		if !ok {
			it.fail()
		}
	}
	return !it.bad
}

func (s *scanner) jsonPush(r *reply) bool {
	it := s.enter()
	for k, more := it.next(); more; k, more = it.next() {
		ok := true
		switch string(k) {
		case "channel":
			r.channel, ok = s.str()
		case "pub":
			r.kind = kindPub
			ok = s.jsonPub(r)
		case "unsubscribe", "disconnect":
			r.kind = kindUnsubscribe
			if string(k) == "disconnect" {
				r.kind = kindDisconnect
			}
			ok = s.jsonCode(r)
		default:
			ok = s.skip()
		}
		if !ok {
			it.fail()
		}
	}
	return !it.bad
}

func (s *scanner) jsonPub(r *reply) bool {
	it := s.enter()
	for k, more := it.next(); more; k, more = it.next() {
		var ok bool
		if string(k) == "data" {
			r.data, ok = s.value()
		} else {
			ok = s.skip()
		}
		if !ok {
			it.fail()
		}
	}
	return !it.bad
}

func (s *scanner) jsonCode(r *reply) bool {
	it := s.enter()
	for k, more := it.next(); more; k, more = it.next() {
		var ok bool
		if string(k) == "code" {
			var v uint64
			v, ok = s.uint()
			r.code = uint32(v)
		} else {
			ok = s.skip()
		}
		if !ok {
			it.fail()
		}
	}
	return !it.bad
}

// ---- Protobuf ----

// pbIter walks the fields of one protobuf message. After next returns true, num and
// typ describe the field; v holds a varint's value and b a length-delimited payload.
type pbIter struct {
	msg []byte
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
	bad bool
}

func (it *pbIter) next() bool {
	if it.bad || len(it.msg) == 0 {
		return false
	}
	num, typ, n := protowire.ConsumeTag(it.msg)
	if n < 0 {
		it.bad = true
		return false
	}
	it.msg = it.msg[n:]
	it.num, it.typ, it.v, it.b = num, typ, 0, nil
	switch typ {
	case protowire.VarintType:
		it.v, n = protowire.ConsumeVarint(it.msg)
	case protowire.BytesType:
		it.b, n = protowire.ConsumeBytes(it.msg)
	default:
		n = protowire.ConsumeFieldValue(num, typ, it.msg)
	}
	if n < 0 {
		it.bad = true
		return false
	}
	it.msg = it.msg[n:]
	return true
}

func decodeProtoReply(msg []byte, r *reply) error {
	r.kind = kindPing
	it := pbIter{msg: msg}
	for it.next() {
		switch it.num {
		case 1: // id
			r.id = uint32(it.v)
		case 2: // error
			r.kind = kindError
			e := pbIter{msg: it.b}
			for e.next() {
				switch e.num {
				case 1:
					r.errCode = uint32(e.v)
				case 2:
					r.errMsg = e.b
				}
			}
			if e.bad {
				return errBadProto
			}
		case 4: // push
			if r.kind != kindError {
				r.kind = kindOther
			}
			if !pbPush(it.b, r) {
				return errBadProto
			}
		case 5: // connect
			if r.kind != kindError {
				r.kind = kindConnect
			}
		case 6: // subscribe
			if r.kind != kindError {
				r.kind = kindSubscribe
			}
		default:
			if r.kind == kindPing {
				r.kind = kindOther
			}
		}
	}
	if it.bad {
		return errBadProto
	}
	return nil
}

func pbPush(msg []byte, r *reply) bool {
	it := pbIter{msg: msg}
	for it.next() {
		switch it.num {
		case 2: // channel
			r.channel = it.b
		case 4: // pub
			r.kind = kindPub
			p := pbIter{msg: it.b}
			for p.next() {
				if p.num == 4 { // data
					r.data = p.b
				}
			}
			if p.bad {
				return false
			}
		case 7, 11: // unsubscribe (code = 2), disconnect (code = 1)
			codeField := protowire.Number(2)
			r.kind = kindUnsubscribe
			if it.num == 11 {
				codeField, r.kind = 1, kindDisconnect
			}
			c := pbIter{msg: it.b}
			for c.next() {
				if c.num == codeField {
					r.code = uint32(c.v)
				}
			}
			if c.bad {
				return false
			}
		}
	}
	return !it.bad
}

// ---- benchmark payload ----

// payload is what fanout publishes: the send time, the global sequence number and the
// publisher that sent it.
type payload struct {
	ts  int64 // unix nanoseconds, taken just before the HTTP request
	seq int64
	pub int // publisher index
}

// appendPayload appends the JSON payload, padded with a "pad" string so that the whole
// object is at least size bytes.
func appendPayload(dst []byte, pl payload, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"ts":`...)
	dst = strconv.AppendInt(dst, pl.ts, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, pl.seq, 10)
	dst = append(dst, `,"p":`...)
	dst = strconv.AppendInt(dst, int64(pl.pub), 10)
	if pad := size - (len(dst) - start) - len(`,"pad":""}`); pad > 0 {
		dst = append(dst, `,"pad":"`...)
		for range pad {
			dst = append(dst, 'x')
		}
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// parsePayload reads a payload written by appendPayload (key order and extra keys do
// not matter).
func parsePayload(b []byte) (payload, bool) {
	var pl payload
	var seen int
	s := scanner{b: b}
	it := s.enter()
	for k, more := it.next(); more; k, more = it.next() {
		bit := 0
		switch string(k) {
		case "ts":
			bit = 1
		case "seq":
			bit = 2
		case "p":
			bit = 4
		default:
			if !s.skip() {
				it.fail()
			}
			continue
		}
		v, ok := s.value()
		n, ok2 := atoi(v)
		if !ok || !ok2 {
			it.fail()
			continue
		}
		seen |= bit
		switch bit {
		case 1:
			pl.ts = n
		case 2:
			pl.seq = n
		default:
			pl.pub = int(n)
		}
	}
	return pl, !it.bad && seen == 7
}
