// Package proxy implements engine.ProxyCaller over HTTP: the connect, refresh,
// subscribe, publish, rpc and sub_refresh proxies of shared/spec/auth.md §5, with
// Centrifugo v6's request bodies, headers and response handling.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rotorhq/rotor/engine"
)

// DefaultTimeout is the proxy timeout when HTTPConfig.Timeout is zero (Centrifugo's
// default).
const DefaultTimeout = time.Second

// maxConnsPerHost bounds the connections one proxy keeps to its backend; calls above
// the bound wait for a free connection until their deadline. maxIdleConnsPerHost is
// Centrifugo's bound on kept-alive idle connections.
const (
	maxConnsPerHost     = 1024
	maxIdleConnsPerHost = 255
)

// maxIdleConnDuration closes pooled connections idle for longer. It stays below the
// common 5s keep-alive timeout of backends (Node.js, uvicorn), so that a request is
// rarely written to a connection the backend is closing; net/http retries a request
// that failed on a reused connection before any byte of it was written.
const maxIdleConnDuration = 4 * time.Second

// HTTPConfig configures one HTTP proxy (a client.proxy.connect/refresh entry, a
// channel.proxy.* or rpc.proxy entry, or an item of the top-level proxies list).
// The zero value of every field but Endpoint is usable.
type HTTPConfig struct {
	// Endpoint is the absolute http:// or https:// URL requests are POSTed to.
	// grpc:// is rejected with ErrGRPCUnsupported.
	Endpoint string
	// Timeout bounds one call (connect, write, response); 0 → DefaultTimeout.
	Timeout time.Duration
	// HTTPHeaders are the names of transport request headers (ProxyRequest.Headers)
	// forwarded to the backend, matched case-insensitively (http_headers).
	HTTPHeaders []string
	// EmulatedHeaders are the names of emulated headers
	// (ProxyRequest.EmulatedHeaders) forwarded, matched case-insensitively
	// (emulated_headers).
	EmulatedHeaders []string
	// StaticHeaders are sent with every request; forwarded headers of the same name
	// override them (http.static_headers).
	StaticHeaders map[string]string
	// BinaryEncoding sends the client's data as base64 b64data and "encoding":"binary"
	// instead of raw JSON data (binary_encoding).
	BinaryEncoding bool
	// IncludeConnectionMeta adds the connection meta to refresh, subscribe, publish,
	// rpc and sub_refresh requests (include_connection_meta).
	IncludeConnectionMeta bool
	// StatusToCodeTransforms maps non-200 statuses to a client error or disconnect
	// (http.status_to_code_transforms); other non-200 statuses are a *StatusError.
	StatusToCodeTransforms []StatusTransform
}

// StatusTransform maps one HTTP status code to a protocol error (ToError.Code > 0,
// checked first) or a disconnect (ToDisconnect.Code > 0).
type StatusTransform struct {
	StatusCode   int
	ToError      engine.Error
	ToDisconnect engine.Disconnect
}

// HTTP is an engine.ProxyCaller that POSTs JSON to one backend endpoint. One HTTP
// serves every kind of request; it keeps a pool of keep-alive connections. Safe for
// concurrent use.
//
// It uses net/http rather than fasthttp (the rest of Rotor's HTTP) because a call must
// end when its context does: the session it serves went away or the node is shutting
// down. fasthttp's client takes only a deadline, so a cancelled call would leave its
// request running to the timeout; net/http aborts it and closes the connection, so
// the backend sees the caller leave.
type HTTP struct {
	endpoint   string
	timeout    time.Duration
	encoding   string // "json" or "binary"
	binary     bool
	withMeta   bool
	httpNames  []string // lower-cased
	emulNames  []string // lower-cased
	static     []header
	transforms []StatusTransform
	client     *http.Client
}

type header struct{ name, value string }

var _ engine.ProxyCaller = (*HTTP)(nil)

// NewHTTP validates cfg and returns a proxy for it. It opens no connection.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if err := validateEndpoint(cfg.Endpoint); err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: timeout %s must not be negative", ErrInvalidConfig, cfg.Timeout)
	}
	for i, t := range cfg.StatusToCodeTransforms {
		if t.StatusCode == 0 {
			return nil, fmt.Errorf("%w: status_code should be set in status_to_code_transforms[%d]", ErrInvalidConfig, i)
		}
		if t.ToError.Code == 0 && t.ToDisconnect.Code == 0 {
			return nil, fmt.Errorf("%w: no error or disconnect code set in status_to_code_transforms[%d]", ErrInvalidConfig, i)
		}
	}
	h := &HTTP{
		endpoint:   cfg.Endpoint,
		timeout:    cfg.Timeout,
		encoding:   "json",
		binary:     cfg.BinaryEncoding,
		withMeta:   cfg.IncludeConnectionMeta,
		httpNames:  lowerAll(cfg.HTTPHeaders),
		emulNames:  lowerAll(cfg.EmulatedHeaders),
		transforms: append([]StatusTransform(nil), cfg.StatusToCodeTransforms...),
	}
	if h.timeout == 0 {
		h.timeout = DefaultTimeout
	}
	if h.binary {
		h.encoding = "binary"
	}
	for k, v := range cfg.StaticHeaders {
		h.static = append(h.static, header{k, v})
	}
	dialer := &net.Dialer{Timeout: h.timeout, KeepAlive: 30 * time.Second}
	h.client = &http.Client{
		Transport: &http.Transport{
			// Proxy environment variables are not honoured: the backend is reached
			// directly, as before.
			DialContext:         dialer.DialContext,
			MaxConnsPerHost:     maxConnsPerHost,
			MaxIdleConnsPerHost: maxIdleConnsPerHost,
			IdleConnTimeout:     maxIdleConnDuration,
			TLSHandshakeTimeout: h.timeout,
		},
		// A redirect is an answer other than 200, not a hop to follow with the
		// client's request.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h, nil
}

// validateEndpoint accepts absolute http(s) URLs with a host.
func validateEndpoint(endpoint string) error {
	lower := strings.ToLower(endpoint)
	if strings.HasPrefix(lower, "grpc://") {
		return ErrGRPCUnsupported
	}
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return fmt.Errorf("%w, got %q", ErrInvalidEndpoint, endpoint)
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w, got %q", ErrInvalidEndpoint, endpoint)
	}
	return nil
}

func lowerAll(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

// Endpoint returns the configured endpoint (for logs; it may contain credentials).
func (h *HTTP) Endpoint() string { return h.endpoint }

// ForwardedHeaders returns the lower-cased names of the transport headers and of the
// emulated headers this proxy forwards, so the caller can keep only those per
// connection. The slices must not be modified.
func (h *HTTP) ForwardedHeaders() (httpHeaders, emulatedHeaders []string) {
	return h.httpNames, h.emulNames
}

// CallProxy encodes req for its kind, POSTs it and decodes the answer. It blocks the
// calling goroutine for at most the proxy timeout, or until ctx ends if earlier: a
// cancelled ctx aborts the request at once and closes its connection (a ctx
// cancelled before the call returns its error without a request). It starts no
// goroutine of its own. The returned response owns its byte slices.
//
// A transport failure, timeout, malformed body or non-200 status without a matching
// transform is an error; a matching transform yields a response with Error or
// Disconnect set.
func (h *HTTP) CallProxy(ctx context.Context, req *engine.ProxyRequest) (*engine.ProxyResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	body, err := h.encodeRequest(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, h.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("proxy: HTTP request error: %w", err)
	}
	h.setHeaders(hreq.Header, req)
	hresp, err := h.client.Do(hreq)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return nil, fmt.Errorf("proxy: HTTP request error: %w", err)
	}
	defer hresp.Body.Close()
	if code := hresp.StatusCode; code != http.StatusOK {
		// Read a little so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(hresp.Body, 4<<10))
		if resp := h.transform(code); resp != nil {
			return resp, nil
		}
		return nil, &StatusError{Code: code}
	}
	data, err := io.ReadAll(hresp.Body)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return nil, fmt.Errorf("proxy: HTTP response error: %w", err)
	}
	return decodeResponse(req.Kind, data)
}

// setHeaders writes, in Centrifugo's order, the static headers, the allowed emulated
// headers, the allowed transport headers (each overriding the previous ones of the
// same name) and Content-Type.
func (h *HTTP) setHeaders(hh http.Header, req *engine.ProxyRequest) {
	for _, s := range h.static {
		setHeader(hh, s.name, s.value)
	}
	if len(h.emulNames) > 0 {
		for k, v := range req.EmulatedHeaders {
			if allowed(h.emulNames, k) {
				setHeader(hh, k, v)
			}
		}
	}
	if len(h.httpNames) > 0 {
		for k, v := range req.Headers {
			if allowed(h.httpNames, k) {
				setHeader(hh, k, v)
			}
		}
	}
	hh.Set("Content-Type", "application/json")
}

// setHeader sets one header, skipping the framing headers net/http would not send
// from a header map either (the backend's Host and the body's length are ours), and
// names or values net/http would refuse to send (the whole request would fail): a
// value from a client cannot smuggle a header line or break the call.
func setHeader(hh http.Header, name, value string) {
	switch strings.ToLower(name) {
	case "host", "content-length", "transfer-encoding", "trailer":
		return
	}
	if !validHeaderName(name) || !validHeaderValue(value) {
		return
	}
	hh.Set(name, value)
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether value holds no control byte but tab.
func validHeaderValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func allowed(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// transform returns the response a status_to_code_transforms entry makes of code,
// or nil.
func (h *HTTP) transform(code int) *engine.ProxyResponse {
	for i := range h.transforms {
		t := &h.transforms[i]
		if t.StatusCode != code {
			continue
		}
		if t.ToError.Code > 0 {
			e := t.ToError
			return &engine.ProxyResponse{Error: &e}
		}
		if t.ToDisconnect.Code > 0 {
			d := t.ToDisconnect
			return &engine.ProxyResponse{Disconnect: &d}
		}
	}
	return nil
}
