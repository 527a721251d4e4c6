package netio

import (
	"bytes"
	"net/netip"
)

// DefaultMaxHeaderBytes is Config.MaxHeaderBytes when zero: the largest request
// head (request line and headers) either path accepts. Big cookies and headers
// added by gateways make heads of several KiB common; 32 KiB is what nginx accepts
// by default (4 buffers of 8 KiB). Centrifugo (net/http) allows 1 MiB.
const DefaultMaxHeaderBytes = 32 << 10

// MinMaxHeaderBytes is the smallest Config.MaxHeaderBytes accepted.
const MinMaxHeaderBytes = 1 << 10

// routeKind is what the router decided about the bytes read so far.
type routeKind uint8

const (
	routeMore       routeKind = iota // not enough bytes to decide
	routeHTTP                        // hand the connection to fasthttp
	routeWebSocket                   // a complete head of a WebSocket upgrade request
	routeTooLarge                    // an upgrade request whose head exceeds the limit
	routeBadRequest                  // a request for the WebSocket path that is no upgrade: 400
	routeBadMethod                   // an upgrade for the WebSocket path by another method than GET: 405
)

// requestHead is a parsed HTTP/1.x request head. Every slice aliases the buffer it
// was parsed from.
type requestHead struct {
	method, uri, path, query, proto []byte
	// headers is the header block: the lines after the request line, without the
	// final empty line.
	headers []byte
}

// route decides what to do with a connection from the first bytes it sent. b holds
// everything read so far (at most limit bytes are looked at; a head longer than
// limit is too large). Every request waits for its whole head (so Shutdown can
// close a connection that has not finished one instead of waiting for fasthttp's
// read timeout); requests for other paths than wsPath then go to HTTP, heads longer
// than limit too (fasthttp answers 431). For wsPath, route reports routeWebSocket
// only if the head is well formed and carries `Upgrade: websocket`. n is the length
// of the head when kind is routeWebSocket. Bytes that are not HTTP at all go to HTTP
// once a line is complete, and fasthttp answers 400. It never allocates.
func route(b []byte, wsPath string, limit int, h *requestHead) (kind routeKind, n int) {
	lineEnd := bytes.IndexByte(b, '\n')
	if lineEnd < 0 {
		if len(b) >= limit {
			return routeHTTP, 0
		}
		return routeMore, 0
	}
	*h = requestHead{}
	if !parseRequestLine(trimCR(b[:lineEnd]), h) {
		return routeHTTP, 0
	}
	ws := string(h.path) == wsPath
	end, ok := headEnd(b, lineEnd+1)
	if !ok {
		switch {
		case len(b) < limit:
			return routeMore, 0
		case ws:
			return routeTooLarge, 0
		}
		return routeHTTP, 0
	}
	if !ws {
		return routeHTTP, 0
	}
	if end > limit {
		return routeTooLarge, 0
	}
	h.headers = b[lineEnd+1 : end]
	// headers ends with the terminating empty line: strip it.
	h.headers = bytes.TrimRight(h.headers, "\r\n")
	// A head that net/http would refuse is refused here too, before anything is
	// read from it: where a front proxy and this parser could disagree about a
	// malformed head, the upgrade must not happen (request smuggling).
	if !h.wellFormed() {
		return routeBadRequest, end
	}
	// The WebSocket path serves upgrades only. Like Centrifugo, anything else gets
	// 400, and an upgrade by another method than GET 405.
	if string(h.method) != "GET" || !h.headerHasToken("Upgrade", "websocket") {
		if upgradeByOtherMethod(h.method, h.header("Upgrade"), h.header("Connection")) {
			return routeBadMethod, end
		}
		return routeBadRequest, end
	}
	return routeWebSocket, end
}

// wellFormed checks a complete head the way Go's net/http server does before it
// serves a request (textproto.ReadMIMEHeader plus the server's checks), so a head
// Centrifugo answers with 400 is not upgraded here:
//   - the version is HTTP/1.<digits> and the target holds no control bytes or
//     spaces;
//   - every header line has a colon after a non-empty name of token characters
//     (no space before the colon) and a value of visible characters, spaces, tabs
//     and obs-text; a bare CR inside a line is a control byte;
//   - no line starts with a space or tab: net/http rejects that on the first line
//     and unfolds it elsewhere, RFC 9112 §5.2 lets a server reject it everywhere,
//     and this parser does not unfold (a folded line would be read as a header of
//     its own by one side and as part of the previous one by the other);
//   - one Host header (none is allowed for HTTP/1.0 only), with a valid value.
//
// It never allocates.
func (h *requestHead) wellFormed() bool {
	v := h.proto[len("HTTP/1."):] // route checked the prefix
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	for _, c := range h.uri {
		if c <= ' ' || c == 0x7F {
			return false
		}
	}
	hosts := 0
	for rest := h.headers; len(rest) > 0; {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		line = trimCR(line)
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false // no colon, an empty name, or an empty or folded line
		}
		name, value := line[:colon], line[colon+1:]
		for _, c := range name {
			if !isTokenByte(c) {
				return false
			}
		}
		for _, c := range value {
			if !validHeaderValueByte(c) {
				return false
			}
		}
		if equalFold(name, "Host") {
			hosts++
			if hosts > 1 || !validHost(trimOWS(value)) {
				return false
			}
		}
	}
	return hosts == 1 || (hosts == 0 && string(v) == "0")
}

// isTokenByte reports whether c may appear in a header name (RFC 9110 tchar).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validHeaderValueByte reports whether c may appear in a header value: visible
// ASCII, space, tab, or obs-text (0x80–0xFF), as net/textproto accepts.
func validHeaderValueByte(c byte) bool {
	return c == '\t' || (c >= ' ' && c != 0x7F)
}

// validHost reports whether v is a Host value net/http accepts
// (golang.org/x/net/http/httpguts.ValidHostHeader): characters of a host name,
// IP literal, port or percent-encoding only.
func validHost(v []byte) bool {
	for _, c := range v {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		}
		switch c {
		case '!', '$', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', ':', ';', '=', '[', ']', '_', '~':
			continue
		}
		return false
	}
	return true
}

// upgradeByOtherMethod reports a WebSocket upgrade request made with another
// method than GET, which the WebSocket path answers with 405 instead of 400.
func upgradeByOtherMethod(method, upgrade, connection []byte) bool {
	return string(method) != "GET" && hasToken(upgrade, "websocket") && hasToken(connection, "upgrade")
}

// headEnd finds the end of the head that starts its header lines at off: the index
// just past the first empty line (CRLF or bare LF line endings).
func headEnd(b []byte, off int) (int, bool) {
	for off < len(b) {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return 0, false
		}
		line := b[off : off+i]
		off += i + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return off, true
		}
	}
	return 0, false
}

// parseRequestLine splits "METHOD SP request-target SP HTTP/x.y".
func parseRequestLine(line []byte, h *requestHead) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	h.method = line[:sp]
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return false
	}
	h.uri = rest[:sp]
	h.proto = rest[sp+1:]
	if !bytes.HasPrefix(h.proto, []byte("HTTP/1.")) {
		return false
	}
	h.path = h.uri
	if q := bytes.IndexByte(h.uri, '?'); q >= 0 {
		h.path, h.query = h.uri[:q], h.uri[q+1:]
	}
	// An absolute-form target (http://host/path) is routed by its path.
	if len(h.path) > 0 && h.path[0] != '/' {
		if p, ok := absolutePath(h.path); ok {
			h.path = p
		}
	}
	return true
}

// absolutePath returns the path of an absolute-form request target
// (scheme://authority/path, the query already cut off). Only http, https, ws and
// wss with a plain authority (host name or IP literal, optional numeric port) are
// accepted: net/http refuses targets its URL parser rejects, and a target this
// router and a front proxy could resolve differently must not reach the upgrade.
// Otherwise ok is false and the request is routed by its raw target (to HTTP).
func absolutePath(target []byte) (path []byte, ok bool) {
	i := bytes.Index(target, []byte("://"))
	if i <= 0 {
		return nil, false
	}
	switch scheme := target[:i]; {
	case equalFold(scheme, "http"), equalFold(scheme, "https"), equalFold(scheme, "ws"), equalFold(scheme, "wss"):
	default:
		return nil, false
	}
	rest := target[i+3:]
	path = []byte("/")
	if j := bytes.IndexByte(rest, '/'); j >= 0 {
		rest, path = rest[:j], rest[j:]
	}
	if !plainAuthority(rest) {
		return nil, false
	}
	return path, true
}

// plainAuthority reports whether a is host[:port] with host a name of letters,
// digits, '-', '.', '_' and '~' or a bracketed IPv6 literal, and port digits.
func plainAuthority(a []byte) bool {
	host, port := a, []byte(nil)
	if len(a) > 0 && a[0] == '[' {
		end := bytes.IndexByte(a, ']')
		if end < 2 {
			return false
		}
		for _, c := range a[1:end] {
			if !isHexDigit(c) && c != ':' && c != '.' {
				return false
			}
		}
		// net/url takes a bracketed host only if it is an IPv6 address ("[0]"
		// is not). Absolute-form targets are rare, so the conversion is no cost.
		if ip, err := netip.ParseAddr(string(a[1:end])); err != nil || !ip.Is6() {
			return false
		}
		host, port = a[:end+1], a[end+1:]
	} else {
		if i := bytes.IndexByte(a, ':'); i >= 0 {
			host, port = a[:i], a[i:]
		}
		for _, c := range host {
			if !isNameByte(c) {
				return false
			}
		}
	}
	if len(port) > 0 {
		if port[0] != ':' {
			return false
		}
		for _, c := range port[1:] {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return len(host) > 0
}

// isNameByte reports whether c may appear in a plain host name (RFC 3986
// unreserved characters).
func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// headerIter walks the header lines of a head. Lines without a colon are skipped;
// route refuses heads that have any (wellFormed) before they are read.
type headerIter struct{ b []byte }

// next returns the next header's name and value (value trimmed of spaces and tabs).
func (it *headerIter) next() (name, value []byte, ok bool) {
	for len(it.b) > 0 {
		var line []byte
		if i := bytes.IndexByte(it.b, '\n'); i >= 0 {
			line, it.b = it.b[:i], it.b[i+1:]
		} else {
			line, it.b = it.b, nil
		}
		line = trimCR(line)
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		return line[:c], trimOWS(line[c+1:]), true
	}
	return nil, nil, false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// header returns the value of the first header called name (case-insensitive).
func (h *requestHead) header(name string) []byte {
	it := headerIter{b: h.headers}
	for {
		k, v, ok := it.next()
		if !ok {
			return nil
		}
		if equalFold(k, name) {
			return v
		}
	}
}

// headerHasToken reports whether any header called name holds token in its
// comma-separated list (case-insensitive).
func (h *requestHead) headerHasToken(name, token string) bool {
	it := headerIter{b: h.headers}
	for {
		k, v, ok := it.next()
		if !ok {
			return false
		}
		if equalFold(k, name) && hasToken(v, token) {
			return true
		}
	}
}

// hasToken reports whether the comma-separated list v holds token (case-insensitive).
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		if equalFold(trimOWS(item), token) {
			return true
		}
	}
	return false
}

// equalFold compares ASCII case-insensitively without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// queryHas reports whether the raw query string holds key=value exactly (no
// unescaping: the values Centrifugo looks at are plain ASCII).
func queryHas(q []byte, key, value string) bool {
	for len(q) > 0 {
		var kv []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			kv, q = q, nil
		}
		if len(kv) == len(key)+1+len(value) && string(kv[:len(key)]) == key &&
			kv[len(key)] == '=' && string(kv[len(key)+1:]) == value {
			return true
		}
	}
	return false
}
