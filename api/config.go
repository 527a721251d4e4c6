package api

import (
	"fmt"
	"log/slog"
)

// DefaultMaxBodySize is the request body limit used when Config.MaxBodySize is 0.
// Centrifugo sets no limit of its own and backends do send multi-megabyte batches, so
// the default is generous; a body over it gets 413. The fasthttp.Server in front must
// allow at least this much (ServerMaxBodySize).
const DefaultMaxBodySize = 64 << 20

// ServerMaxBodySize is the fasthttp.Server limit to pair with an API body limit:
// slightly above it, so that the API answers 413 itself instead of fasthttp's 400.
func ServerMaxBodySize(apiLimit int) int {
	if apiLimit <= 0 {
		apiLimit = DefaultMaxBodySize
	}
	return apiLimit + 1<<20
}

// ErrorModeTransport is the http_api.error_mode value that turns API errors into HTTP
// statuses (server-api.md §3).
const ErrorModeTransport = "transport"

// Config configures a Handler. The zero value is usable but refuses every request with
// 401, as Centrifugo does with an empty http_api.key.
type Config struct {
	// Key is http_api.key. Empty → every API request gets 401, unless Insecure.
	Key string
	// Insecure is http_api.insecure: no API key is checked at all.
	Insecure bool
	// ErrorMode is http_api.error_mode: "" (errors inside a 200 response) or
	// "transport" (errors as HTTP statuses with a bare error object).
	ErrorMode string
	// MaxBodySize caps the request body in bytes; larger bodies get 413.
	// 0 → DefaultMaxBodySize; negative values are invalid. The fasthttp.Server that
	// serves the Handler must allow at least this much (its MaxRequestBodySize), or it
	// answers 413 itself before the Handler runs.
	MaxBodySize int
	// Logger receives internal errors (a Node failure answered with code 100).
	// nil → discard.
	Logger *slog.Logger
}

// Validate reports the first invalid value, naming its Centrifugo config key.
func (c *Config) Validate() error {
	switch c.ErrorMode {
	case "", ErrorModeTransport:
	default:
		return fmt.Errorf("http_api.error_mode: %q is not \"\" or %q", c.ErrorMode, ErrorModeTransport)
	}
	if c.MaxBodySize < 0 {
		return fmt.Errorf("api: MaxBodySize %d must not be negative", c.MaxBodySize)
	}
	return nil
}
