package proxy

import (
	"errors"
	"strconv"
)

// Sentinel errors. CallProxy wraps them with %w; test with errors.Is / errors.As.
var (
	// ErrGRPCUnsupported is returned by NewHTTP for a grpc:// endpoint.
	ErrGRPCUnsupported = errors.New("grpc proxies are not supported by rotor yet")
	// ErrInvalidEndpoint is returned by NewHTTP for an endpoint that is not an
	// absolute http:// or https:// URL.
	ErrInvalidEndpoint = errors.New("proxy: endpoint must be an http:// or https:// URL")
	// ErrInvalidConfig is wrapped by NewHTTP for other invalid HTTPConfig values.
	ErrInvalidConfig = errors.New("proxy: invalid config")
	// ErrTimeout is wrapped when the backend did not answer within the proxy
	// timeout (or the context's deadline).
	ErrTimeout = errors.New("proxy: timeout")
	// ErrUnknownKind is returned for a ProxyRequest.Kind the proxy does not know.
	ErrUnknownKind = errors.New("proxy: unknown request kind")
	// ErrEncode is wrapped when the request body cannot be encoded, e.g. when data or
	// meta is not valid JSON and binary_encoding is off (Centrifugo fails the same way).
	ErrEncode = errors.New("proxy: encoding request")
	// ErrDecode is wrapped when the backend's body is not a valid response: malformed
	// JSON, wrong field types, or invalid base64 in b64data / b64info.
	ErrDecode = errors.New("proxy: decoding response")
)

// StatusError is returned when the backend answered with a status other than 200
// and no status_to_code_transforms entry matched it.
type StatusError struct {
	Code int
}

func (e *StatusError) Error() string {
	return "proxy: unexpected HTTP status code: " + strconv.Itoa(e.Code)
}
