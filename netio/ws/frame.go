// Package ws holds the pure, allocation-free parts of RFC 6455 that the netio server
// needs: frame headers (parse and write), masking, the handshake accept key and close
// frame payloads. Nothing here does I/O or keeps state, so every function can be fuzzed
// and benchmarked on its own.
package ws

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// Opcode is a frame opcode (RFC 6455 §5.2).
type Opcode uint8

// Opcodes defined by RFC 6455.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// Close status codes used by the server (RFC 6455 §7.4.1).
const (
	CloseNormal          uint16 = 1000
	CloseGoingAway       uint16 = 1001
	CloseProtocolError   uint16 = 1002
	CloseUnsupportedData uint16 = 1003
	CloseNoStatus        uint16 = 1005 // never sent on the wire
	CloseAbnormal        uint16 = 1006 // never sent on the wire
	CloseInvalidPayload  uint16 = 1007
	ClosePolicyViolation uint16 = 1008
	CloseMessageTooBig   uint16 = 1009
	CloseInternalError   uint16 = 1011
)

// Sizes of the frame parts.
const (
	// MaxHeaderSize is the largest header: 2 bytes, 8 bytes of length, 4 of mask.
	MaxHeaderSize = 14
	// MaxServerHeaderSize is the largest unmasked (server→client) header.
	MaxServerHeaderSize = 10
	// MaxControlPayload is the largest payload of a control frame.
	MaxControlPayload = 125
	// MaxCloseReason is the largest close reason: a control payload minus the code.
	MaxCloseReason = MaxControlPayload - 2
)

// Errors returned by ParseHeader and ParseClose. Every one of them is a protocol
// error that closes the connection with 1002, except ErrIncomplete and
// ErrInvalidUTF8 (1007).
var (
	// ErrIncomplete means more bytes are needed; ParseHeader then returns how many.
	ErrIncomplete = errors.New("ws: incomplete frame header")
	// ErrReservedBits means RSV2 or RSV3 is set (no extension defines them here).
	// RSV1 is reported in Header.Rsv1: permessage-deflate (RFC 7692) uses it, and
	// whether it is allowed depends on the connection.
	ErrReservedBits = errors.New("ws: reserved bits set")
	// ErrReservedOpcode means the opcode is one of the reserved values.
	ErrReservedOpcode = errors.New("ws: reserved opcode")
	// ErrControlFragmented means a control frame has FIN unset.
	ErrControlFragmented = errors.New("ws: fragmented control frame")
	// ErrControlTooLong means a control frame payload exceeds 125 bytes.
	ErrControlTooLong = errors.New("ws: control frame payload too long")
	// ErrLengthOverflow means a 64-bit length has its most significant bit set.
	ErrLengthOverflow = errors.New("ws: frame length overflow")
	// ErrBadClosePayload means a close payload of one byte or an invalid status code.
	ErrBadClosePayload = errors.New("ws: invalid close payload")
	// ErrInvalidUTF8 means a close reason that is not valid UTF-8; RFC 6455 §8.1
	// answers it with 1007 (CloseInvalidPayload), like an invalid text message.
	ErrInvalidUTF8 = errors.New("ws: invalid UTF-8 in close reason")
)

// Header is a parsed frame header.
type Header struct {
	Fin bool
	// Rsv1 is the RSV1 bit: a compressed message under permessage-deflate.
	Rsv1   bool
	Op     Opcode
	Masked bool
	Mask   [4]byte
	// Length is the payload length. ParseHeader guarantees 0 ≤ Length < 2^63.
	Length int64
}

// ParseHeader parses the frame header at the start of b. On success it returns the
// header and its size in bytes. When b is too short it returns ErrIncomplete and the
// number of bytes the header needs (always more than len(b)). Any other error is a
// protocol violation. It validates what a header alone can show: RSV2 and RSV3,
// reserved opcodes, and the FIN flag and length of control frames. Whether a mask
// is present is reported, not enforced. It never allocates.
func ParseHeader(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return h, 2, ErrIncomplete
	}
	b0, b1 := b[0], b[1]
	h.Fin = b0&0x80 != 0
	h.Op = Opcode(b0 & 0x0F)
	h.Masked = b1&0x80 != 0
	h.Rsv1 = b0&0x40 != 0
	if b0&0x30 != 0 {
		return h, 0, ErrReservedBits
	}
	switch h.Op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return h, 0, ErrReservedOpcode
	}
	n = 2
	l7 := b1 & 0x7F
	switch l7 {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h.Masked {
		n += 4
	}
	if h.Op.IsControl() {
		if !h.Fin {
			return h, 0, ErrControlFragmented
		}
		if l7 > MaxControlPayload {
			return h, 0, ErrControlTooLong
		}
	}
	if len(b) < n {
		return h, n, ErrIncomplete
	}
	p := 2
	switch l7 {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		p = 4
	case 127:
		v := binary.BigEndian.Uint64(b[2:10])
		if v>>63 != 0 {
			return h, 0, ErrLengthOverflow
		}
		h.Length = int64(v)
		p = 10
	default:
		h.Length = int64(l7)
	}
	if h.Masked {
		copy(h.Mask[:], b[p:p+4])
	}
	return h, n, nil
}

// HeaderSize returns the size of an unmasked header for a payload of length bytes.
func HeaderSize(length int) int {
	switch {
	case length <= 125:
		return 2
	case length <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// PutHeader writes an unmasked (server→client) frame header for a payload of length
// bytes into dst and returns its size. dst must hold HeaderSize(length) bytes
// (MaxServerHeaderSize always suffices); a shorter dst makes it return 0.
func PutHeader(dst []byte, fin bool, op Opcode, length int) int {
	return putHeader(dst, byte(op&0x0F), fin, length)
}

// PutCompressedHeader is PutHeader for the first (here: only) frame of a message
// compressed with permessage-deflate: RSV1 set (RFC 7692 §6).
func PutCompressedHeader(dst []byte, op Opcode, length int) int {
	return putHeader(dst, byte(op&0x0F)|0x40, true, length)
}

func putHeader(dst []byte, b0 byte, fin bool, length int) int {
	n := HeaderSize(length)
	if len(dst) < n || length < 0 {
		return 0
	}
	if fin {
		b0 |= 0x80
	}
	dst[0] = b0
	switch n {
	case 2:
		dst[1] = byte(length)
	case 4:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:4], uint16(length))
	default:
		dst[1] = 127
		binary.BigEndian.PutUint64(dst[2:10], uint64(length))
	}
	return n
}

// AppendHeader appends an unmasked frame header to dst.
func AppendHeader(dst []byte, fin bool, op Opcode, length int) []byte {
	var h [MaxServerHeaderSize]byte
	n := PutHeader(h[:], fin, op, length)
	return append(dst, h[:n]...)
}

// Unmask XORs b in place with key, starting at key offset pos (0–3), and returns the
// key offset for the byte after b, so a payload can be unmasked in pieces. Masking
// and unmasking are the same operation.
func Unmask(b []byte, key [4]byte, pos int) int {
	pos &= 3
	i := 0
	// Align the key to pos so the word loop can use a fixed 8-byte key.
	k := [4]byte{key[pos&3], key[(pos+1)&3], key[(pos+2)&3], key[(pos+3)&3]}
	if len(b) >= 8 {
		k32 := uint64(binary.LittleEndian.Uint32(k[:]))
		k64 := k32 | k32<<32
		for ; i+32 <= len(b); i += 32 {
			v := b[i : i+32 : i+32]
			binary.LittleEndian.PutUint64(v[0:8], binary.LittleEndian.Uint64(v[0:8])^k64)
			binary.LittleEndian.PutUint64(v[8:16], binary.LittleEndian.Uint64(v[8:16])^k64)
			binary.LittleEndian.PutUint64(v[16:24], binary.LittleEndian.Uint64(v[16:24])^k64)
			binary.LittleEndian.PutUint64(v[24:32], binary.LittleEndian.Uint64(v[24:32])^k64)
		}
		for ; i+8 <= len(b); i += 8 {
			v := b[i : i+8 : i+8]
			binary.LittleEndian.PutUint64(v, binary.LittleEndian.Uint64(v)^k64)
		}
	}
	for j := 0; i < len(b); i, j = i+1, j+1 {
		b[i] ^= k[j&3]
	}
	return (pos + len(b)) & 3
}

// websocketGUID is the magic string of RFC 6455 §1.3.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKeySize is the length of a Sec-WebSocket-Accept value.
const AcceptKeySize = 28

// AppendAcceptKey appends the Sec-WebSocket-Accept value for the client's
// Sec-WebSocket-Key to dst: base64(SHA-1(key + GUID)). It does not allocate when dst
// has room for AcceptKeySize more bytes, and returns dst unchanged if key is
// implausibly long (over 64 bytes; a valid key has 24).
func AppendAcceptKey(dst []byte, key []byte) []byte {
	var in [64 + len(websocketGUID)]byte
	if len(key) > 64 {
		return dst
	}
	n := copy(in[:], key)
	n += copy(in[n:], websocketGUID)
	sum := sha1.Sum(in[:n])
	var out [AcceptKeySize]byte
	base64.StdEncoding.Encode(out[:], sum[:])
	return append(dst, out[:]...)
}

// ValidKey reports whether key is a valid Sec-WebSocket-Key: the base64 encoding of
// 16 bytes (RFC 6455 §4.1), that is 24 characters ending in "==".
func ValidKey(key []byte) bool {
	if len(key) != 24 || key[22] != '=' || key[23] != '=' {
		return false
	}
	var out [18]byte
	n, err := base64.StdEncoding.Decode(out[:], key)
	return err == nil && n == 16
}

// ValidCloseCode reports whether code may appear in a close frame (RFC 6455 §7.4).
func ValidCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// ParseClose parses a close frame payload. An empty payload gives code 1005
// (no status) and no reason. A one-byte payload or an invalid code is
// ErrBadClosePayload; a reason that is not valid UTF-8 is ErrInvalidUTF8 (the
// code is returned with it). reason aliases p. It never allocates.
func ParseClose(p []byte) (code uint16, reason []byte, err error) {
	switch len(p) {
	case 0:
		return CloseNoStatus, nil, nil
	case 1:
		return 0, nil, ErrBadClosePayload
	}
	code = binary.BigEndian.Uint16(p)
	if !ValidCloseCode(code) {
		return 0, nil, ErrBadClosePayload
	}
	if !utf8.Valid(p[2:]) {
		return code, nil, ErrInvalidUTF8
	}
	return code, p[2:], nil
}

// CloseFrameSize returns the largest size of the close frame AppendClose writes for
// a reason of reasonLen bytes (reasons are cut to MaxCloseReason, or a few bytes
// less to keep a UTF-8 sequence whole).
func CloseFrameSize(code uint16, reasonLen int) int {
	if code == CloseNoStatus || code == 0 {
		return 2
	}
	if reasonLen > MaxCloseReason {
		reasonLen = MaxCloseReason
	}
	return 4 + reasonLen
}

// AppendClose appends a complete unmasked close frame to dst carrying code and
// reason. The reason is cut to at most MaxCloseReason bytes, at a UTF-8 sequence
// boundary: a reason cut inside a multi-byte character would be invalid UTF-8,
// which the peer must answer by failing the connection (RFC 6455 §8.1). Code 0 or
// 1005 gives an empty close payload, which is how a close without status is echoed.
func AppendClose(dst []byte, code uint16, reason string) []byte {
	if code == CloseNoStatus || code == 0 {
		return append(dst, 0x80|byte(OpClose), 0)
	}
	if len(reason) > MaxCloseReason {
		cut := MaxCloseReason
		// Back off over continuation bytes (10xxxxxx) to the start of the
		// character that straddles the limit; at most 3 steps for valid UTF-8.
		for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(reason[cut]); i++ {
			cut--
		}
		reason = reason[:cut]
	}
	dst = append(dst, 0x80|byte(OpClose), byte(2+len(reason)), byte(code>>8), byte(code))
	return append(dst, reason...)
}

// AppendControl appends a complete unmasked control frame (ping or pong) carrying
// payload, cut to MaxControlPayload bytes.
func AppendControl(dst []byte, op Opcode, payload []byte) []byte {
	if len(payload) > MaxControlPayload {
		payload = payload[:MaxControlPayload]
	}
	dst = append(dst, 0x80|byte(op&0x0F), byte(len(payload)))
	return append(dst, payload...)
}
