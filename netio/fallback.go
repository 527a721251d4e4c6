package netio

// What netio/stdws (the goroutine-per-connection fallback used for TLS) shares
// with the event-loop path, so both answer upgrades the same way.

// OriginChecker returns client.allowed_origins compiled as netio applies it: an
// upgrade without Origin passes, "*" allows all, otherwise a case-insensitive
// glob must match.
func OriginChecker(patterns []string) func(origin []byte) bool {
	return newOriginPolicy(patterns).allow
}

// OffersDeflate reports whether a Sec-WebSocket-Extensions header value offers
// permessage-deflate, by the rules netio negotiates with.
func OffersDeflate(v []byte) bool { return offersDeflate(v) }

// NewUpgradeRequest returns a copy of r whose Header method reads head, the
// request's header block ("Name: value" lines separated by CRLF).
func NewUpgradeRequest(r UpgradeRequest, head string) *UpgradeRequest {
	r.head = head
	return &r
}

// SubprotocolProtobuf and SubprotocolJSON are the WebSocket subprotocols of the
// client protocol.
const (
	SubprotocolJSON     = subprotocolJSON
	SubprotocolProtobuf = subprotocolProtobuf
)
