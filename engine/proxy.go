package engine

import "context"

// ProxyKind names the event a backend proxy is asked about.
type ProxyKind uint8

const (
	ProxyConnect ProxyKind = iota
	ProxyRefresh
	ProxySubscribe
	ProxyPublish
	ProxyRPC
	ProxySubRefresh
)

// ProxyCaller asks the application backend to decide on a client event (auth.md §5).
// The engine calls it from the connection's goroutine (or, for refresh and
// sub_refresh, a goroutine of the call) without holding any lock; the implementation
// bounds the call by its timeout and must return promptly once ctx ends: the engine
// cancels it when the session ends (disconnect, peer gone) or the node shuts down. A transport failure, timeout
// or non-200 status without a transform is returned as an error (the client gets
// error 100, temporary).
type ProxyCaller interface {
	CallProxy(ctx context.Context, req *ProxyRequest) (*ProxyResponse, error)
}

// ProxyRequest is what the backend receives; the implementation encodes the JSON
// body of auth.md §5 for req.Kind (which fields appear depends on the kind).
type ProxyRequest struct {
	Kind      ProxyKind
	Client    string
	Transport string // "websocket", …
	Protocol  string // "json" or "protobuf"
	User      string
	Channel   string // subscribe, publish, sub_refresh
	Method    string // rpc
	Token     string // subscribe (omitted when empty)
	Name      string // connect: SDK name
	Version   string // connect: SDK version
	Channels  []string
	// Data is the client's payload (connect, subscribe, publish, rpc): raw JSON for
	// JSON clients, bytes for Protobuf clients (sent as b64data in binary mode).
	Data []byte
	// Meta is the connection meta from the token or connect proxy (raw JSON).
	Meta []byte
	// Headers are the client's transport request headers (the HTTP upgrade or stream
	// request); the proxy forwards those named in its http_headers list.
	Headers map[string]string
	// EmulatedHeaders are ConnectRequest.headers (headers emulation, client-controlled);
	// the proxy forwards only those named in its emulated_headers list, and a
	// transport header of the same name wins over them.
	EmulatedHeaders map[string]string
}

// ProxyResponse is the backend's answer: Disconnect is checked first, then Error,
// then Result. A nil Result with no error means "no result" (see each event).
type ProxyResponse struct {
	Disconnect *Disconnect
	Error      *Error
	Result     *ProxyResult
}

// ProxyResult carries the result fields of every kind; each event reads its own.
type ProxyResult struct {
	User     string                     // connect
	ExpireAt int64                      // connect, refresh, subscribe, sub_refresh
	Expired  bool                       // refresh, sub_refresh
	Info     []byte                     // connect, refresh, subscribe, sub_refresh (b64info decoded)
	Data     []byte                     // connect, subscribe, publish, rpc (b64data decoded)
	Meta     []byte                     // connect, refresh
	Channels []string                   // connect
	Subs     map[string]ProxySubOptions // connect
	Override *SubscribeOverride         // subscribe
	// publish
	SkipHistory    bool
	Tags           map[string]string
	IdempotencyKey string
	Delta          bool
}

// ProxySubOptions are the per-channel options of a connect result's subs.
type ProxySubOptions struct {
	Info, Data   []byte
	Override     *SubscribeOverride
	CacheRecover bool
}

// RPCNamespace configures RPC methods whose name starts with Name + ":".
type RPCNamespace struct {
	Name         string
	ProxyEnabled bool
	ProxyName    string // "" → "default"
}
