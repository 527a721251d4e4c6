package api

import (
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/rotorhq/rotor/engine"
)

// Response bodies are built by hand-written appenders into pooled buffers: the shapes
// are tiny and fixed, and encoding/json-compatible output matters (server-api.md §3).

// buffer is a pooled response buffer. One owner: the handler that takes it from
// bufPool puts it back after copying it into the fasthttp response.
type buffer struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 512)} }}

// maxPooledBuffer keeps one large broadcast response from pinning its buffer.
const maxPooledBuffer = 64 << 10

func getBuffer() *buffer { return bufPool.Get().(*buffer) }

func putBuffer(b *buffer) {
	if cap(b.b) > maxPooledBuffer {
		return
	}
	b.b = b.b[:0]
	bufPool.Put(b)
}

// appendPublishResult appends {"offset":N,"epoch":"E"} with both fields omitted when
// zero (so {} when the channel keeps no history).
func appendPublishResult(dst []byte, r engine.PublishResult) []byte {
	dst = append(dst, '{')
	if r.Offset != 0 {
		dst = append(dst, `"offset":`...)
		dst = strconv.AppendUint(dst, r.Offset, 10)
	}
	if r.Epoch != "" {
		if r.Offset != 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"epoch":`...)
		dst = appendJSONString(dst, r.Epoch)
	}
	return append(dst, '}')
}

// appendError appends the bare error object {"code":N,"message":"..."}.
func appendError(dst []byte, code uint32, message string) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendUint(dst, uint64(code), 10)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, message)
	return append(dst, '}')
}

// appendErrorResponse appends {"error":{"code":N,"message":"..."}}.
func appendErrorResponse(dst []byte, code uint32, message string) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendError(dst, code, message)
	return append(dst, '}')
}

// appendNodeResult appends one NodeResult of the info method (server-api.md §4.11):
// every field always present except uptime (omitted when 0); metrics and process are
// never filled.
func appendNodeResult(dst []byte, n engine.NodeInfo) []byte {
	dst = append(dst, `{"uid":`...)
	dst = appendJSONString(dst, n.UID)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, n.Name)
	dst = append(dst, `,"version":`...)
	dst = appendJSONString(dst, n.Version)
	dst = append(dst, `,"num_clients":`...)
	dst = strconv.AppendUint(dst, uint64(n.NumClients), 10)
	dst = append(dst, `,"num_users":`...)
	dst = strconv.AppendUint(dst, uint64(n.NumUsers), 10)
	dst = append(dst, `,"num_channels":`...)
	dst = strconv.AppendUint(dst, uint64(n.NumChannels), 10)
	if n.Uptime != 0 {
		dst = append(dst, `,"uptime":`...)
		dst = strconv.AppendUint(dst, uint64(n.Uptime), 10)
	}
	dst = append(dst, `,"num_subs":`...)
	dst = strconv.AppendUint(dst, uint64(n.NumSubs), 10)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json encodes it
// (HTML-safe: <, > and & escaped; U+2028 and U+2029 escaped; invalid UTF-8 replaced
// by U+FFFD), so responses match Centrifugo's byte for byte.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
