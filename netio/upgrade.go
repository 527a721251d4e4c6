package netio

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/netio/ws"
)

// Subprotocols the server knows (client protocol §1.1).
const (
	subprotocolJSON     = "centrifuge-json"
	subprotocolProtobuf = "centrifuge-protobuf"
)

// UpgradeRequest describes a WebSocket upgrade that succeeded. It is a copy: it stays
// valid after Accept returns.
type UpgradeRequest struct {
	// Protocol is the connection's encoding: Protobuf when the subprotocol
	// centrifuge-protobuf was chosen or the query has format=protobuf or
	// cf_protocol=protobuf; JSON otherwise.
	Protocol codec.Protocol
	// Subprotocol is the Sec-WebSocket-Protocol value echoed to the client, or "".
	Subprotocol string
	// Compression reports that permessage-deflate was negotiated.
	Compression bool
	// Path is the request path; Query the raw query string without '?'.
	Path, Query string
	// Origin and UserAgent are the values of those headers ("" when absent).
	Origin, UserAgent string
	// RemoteAddr is the peer's address, "ip:port".
	RemoteAddr string
	// head is the header block, for Header.
	head string
}

// Header returns the value of the first request header called name
// (case-insensitive), or "".
func (r *UpgradeRequest) Header(name string) string {
	rest := r.head
	for len(rest) > 0 {
		var line string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, ""
		}
		line = strings.TrimSuffix(line, "\r")
		c := strings.IndexByte(line, ':')
		if c <= 0 || !strings.EqualFold(line[:c], name) {
			continue
		}
		return strings.Trim(line[c+1:], " \t")
	}
	return ""
}

// handshake is the outcome of checking an upgrade request.
type handshake struct {
	status      int // 101 on success; otherwise the HTTP error to answer
	protocol    codec.Protocol
	subprotocol string
	deflate     bool   // permessage-deflate negotiated
	key         []byte // aliases the head
}

// checkUpgrade validates a WebSocket upgrade head (routed by route) against RFC 6455
// §4.2.1 and the origin policy, and picks the encoding. It never allocates.
func checkUpgrade(h *requestHead, origins *originPolicy, compression bool) handshake {
	var hs handshake
	if !h.headerHasToken("Connection", "upgrade") || !h.unambiguousUpgrade() {
		hs.status = 400
		return hs
	}
	version := h.header("Sec-WebSocket-Version")
	if len(version) == 0 {
		hs.status = 400
		return hs
	}
	if string(version) != "13" {
		hs.status = 426
		return hs
	}
	hs.key = h.header("Sec-WebSocket-Key")
	if !ws.ValidKey(hs.key) {
		hs.status = 400
		return hs
	}
	if !origins.allow(h.header("Origin")) {
		hs.status = 403
		return hs
	}
	hs.subprotocol = pickSubprotocol(h)
	if hs.subprotocol == subprotocolProtobuf || queryHas(h.query, "format", "protobuf") ||
		queryHas(h.query, "cf_protocol", "protobuf") {
		hs.protocol = codec.ProtocolProtobuf
	}
	hs.deflate = compression && h.offersDeflate()
	hs.status = 101
	return hs
}

// unambiguousUpgrade reports whether the upgrade head leaves nothing to
// interpretation: one Sec-WebSocket-Key and at most one Sec-WebSocket-Version (a
// front proxy may pick another copy than this server would), and no request body
// (a Transfer-Encoding, or a Content-Length other than 0): the bytes after the head
// are read as WebSocket frames, which a proxy would forward as a body.
func (h *requestHead) unambiguousUpgrade() bool {
	keys, versions := 0, 0
	it := headerIter{b: h.headers}
	for {
		k, v, ok := it.next()
		if !ok {
			return keys == 1 && versions <= 1
		}
		switch {
		case equalFold(k, "Sec-WebSocket-Key"):
			keys++
		case equalFold(k, "Sec-WebSocket-Version"):
			versions++
		case equalFold(k, "Transfer-Encoding"):
			return false
		case equalFold(k, "Content-Length"):
			if string(v) != "0" {
				return false
			}
		}
	}
}

// offersDeflate reports whether a Sec-WebSocket-Extensions header offers
// permessage-deflate.
func (h *requestHead) offersDeflate() bool {
	it := headerIter{b: h.headers}
	for {
		k, v, ok := it.next()
		if !ok {
			return false
		}
		if equalFold(k, "Sec-WebSocket-Extensions") && offersDeflate(v) {
			return true
		}
	}
}

// pickSubprotocol returns the first subprotocol of the client's list(s) that the
// server knows, or "".
func pickSubprotocol(h *requestHead) string {
	it := headerIter{b: h.headers}
	for {
		k, v, ok := it.next()
		if !ok {
			return ""
		}
		if !equalFold(k, "Sec-WebSocket-Protocol") {
			continue
		}
		for len(v) > 0 {
			var item []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				item, v = v[:i], v[i+1:]
			} else {
				item, v = v, nil
			}
			switch string(trimOWS(item)) {
			case subprotocolJSON:
				return subprotocolJSON
			case subprotocolProtobuf:
				return subprotocolProtobuf
			}
		}
	}
}

// appendSwitching appends the 101 response.
func appendSwitching(dst []byte, key []byte, subprotocol string, deflate bool) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = ws.AppendAcceptKey(dst, key)
	if subprotocol != "" {
		dst = append(dst, "\r\nSec-WebSocket-Protocol: "...)
		dst = append(dst, subprotocol...)
	}
	if deflate {
		dst = append(dst, "\r\nSec-WebSocket-Extensions: "...)
		dst = append(dst, extensionDeflate...)
	}
	return append(dst, "\r\n\r\n"...)
}

// appendHTTPError appends a short plain-text error response that closes the
// connection.
func appendHTTPError(dst []byte, status int) []byte {
	text := statusText(status)
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, text...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	if status == 426 {
		dst = append(dst, "Sec-WebSocket-Version: 13\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(text)+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, text...)
	return append(dst, '\n')
}

func statusText(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 405:
		return "Method Not Allowed"
	case 426:
		return "Upgrade Required"
	case 431:
		return "Request Header Fields Too Large"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}

// originPolicy is client.allowed_origins compiled once.
type originPolicy struct {
	all      bool
	patterns []string // lower-case globs
}

func newOriginPolicy(patterns []string) *originPolicy {
	p := &originPolicy{}
	for _, s := range patterns {
		if s == "*" {
			p.all = true
		}
		p.patterns = append(p.patterns, strings.ToLower(s))
	}
	return p
}

// allow reports whether a request with this Origin header value may upgrade: no
// Origin always passes; otherwise "*" or a matching glob is needed (transports §2).
func (p *originPolicy) allow(origin []byte) bool {
	if len(origin) == 0 || p.all {
		return true
	}
	var buf [256]byte
	if len(origin) > len(buf) {
		return false
	}
	lower := buf[:len(origin)]
	for i, c := range origin {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	for _, pat := range p.patterns {
		if globMatch(pat, lower) {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern, where '*' matches any run of bytes
// (including none) and '?' any single byte. Iterative, with one backtrack point, so
// it runs in O(len(pattern)·len(s)) at worst.
func globMatch(pattern string, s []byte) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
