package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Transports holds the keys of the HTTP-based and unidirectional client transports
// (spec transports.md §5, §6), with Centrifugo v6's defaults.
type Transports struct {
	HTTPStream, SSE, UniSSE, UniHTTPStream Endpoint
	Emulation                              Endpoint // Enabled unused: on with HTTPStream or SSE
	UniWebSocket                           UniWebSocket
}

// Endpoint is one HTTP transport's enabled flag, handler prefix and body limit.
type Endpoint struct {
	Enabled            bool
	HandlerPrefix      string
	MaxRequestBodySize int
	// CodeToHTTP is connect_code_to_http_response (uni_sse, uni_http_stream).
	CodeToHTTP        bool
	CodeToHTTPMapping CodeTransforms
}

// Decoder is a field type that decodes its own config value (a JSON document's
// value, or an environment variable's string holding JSON).
type Decoder interface {
	DecodeConfig(v any) error
}

// CodeTransforms is connect_code_to_http_response.transforms:
// [{"code":N,"to":{"status_code":S,"body":"…"}}].
type CodeTransforms []CodeTransform

// CodeTransform maps a connect error (or disconnect) code to an HTTP response.
type CodeTransform struct {
	Code uint32 `json:"code"`
	To   struct {
		StatusCode int    `json:"status_code"`
		Body       string `json:"body"`
	} `json:"to"`
}

// DecodeConfig implements Decoder.
func (t *CodeTransforms) DecodeConfig(v any) error {
	var b []byte
	if s, ok := v.(string); ok {
		b = []byte(s)
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return err
		}
	}
	var out CodeTransforms
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("connect_code_to_http_response.transforms: %w", err)
	}
	for i, x := range out {
		if x.Code == 0 {
			return fmt.Errorf("code should be set in connect_code_to_http_response.transforms[%d]", i)
		}
		if x.To.StatusCode == 0 {
			return fmt.Errorf("status_code should be set in connect_code_to_http_response.transforms[%d].to", i)
		}
	}
	*t = out
	return nil
}

// UniWebSocket is the uni_websocket section.
type UniWebSocket struct {
	Enabled                 bool
	HandlerPrefix           string
	MessageSizeLimit        int
	JoinPushMessages        bool
	DisableDisconnectPush   bool
	DisableClosingHandshake bool
	// WriteTimeout is uni_websocket.write_timeout (default and 0: 1s), the
	// uni_websocket counterpart of websocket.write_timeout.
	WriteTimeout time.Duration
}

func init() {
	Register(Topic{
		Keys: func(c *ServerConfig) []Key {
			t := Ext[Transports](c)
			var keys []Key
			ep := func(section string, e *Endpoint, prefix string, withEnabled bool) {
				e.HandlerPrefix, e.MaxRequestBodySize = prefix, 65536
				if withEnabled {
					keys = append(keys, Key{section + ".enabled", &e.Enabled})
				}
				keys = append(keys,
					Key{section + ".handler_prefix", &e.HandlerPrefix},
					Key{section + ".max_request_body_size", &e.MaxRequestBodySize})
			}
			ep("http_stream", &t.HTTPStream, "/connection/http_stream", true)
			ep("sse", &t.SSE, "/connection/sse", true)
			ep("uni_sse", &t.UniSSE, "/connection/uni_sse", true)
			ep("uni_http_stream", &t.UniHTTPStream, "/connection/uni_http_stream", true)
			for section, e := range map[string]*Endpoint{"uni_sse": &t.UniSSE, "uni_http_stream": &t.UniHTTPStream} {
				keys = append(keys,
					Key{section + ".connect_code_to_http_response.enabled", &e.CodeToHTTP},
					Key{section + ".connect_code_to_http_response.transforms", &e.CodeToHTTPMapping})
			}
			ep("emulation", &t.Emulation, "/emulation", false)
			u := &t.UniWebSocket
			u.HandlerPrefix, u.MessageSizeLimit, u.WriteTimeout = "/connection/uni_websocket", 65536, time.Second
			keys = append(keys,
				Key{"uni_websocket.enabled", &u.Enabled},
				Key{"uni_websocket.handler_prefix", &u.HandlerPrefix},
				Key{"uni_websocket.message_size_limit", &u.MessageSizeLimit},
				Key{"uni_websocket.join_push_messages", &u.JoinPushMessages},
				Key{"uni_websocket.disable_disconnect_push", &u.DisableDisconnectPush},
				Key{"uni_websocket.disable_closing_handshake", &u.DisableClosingHandshake},
				Key{"uni_websocket.write_timeout", &u.WriteTimeout})
			return keys
		},
		Validate: func(c *ServerConfig) error {
			t := Ext[Transports](c)
			for _, e := range []struct {
				key string
				p   *string
				n   int
			}{
				{"http_stream", &t.HTTPStream.HandlerPrefix, t.HTTPStream.MaxRequestBodySize},
				{"sse", &t.SSE.HandlerPrefix, t.SSE.MaxRequestBodySize},
				{"uni_sse", &t.UniSSE.HandlerPrefix, t.UniSSE.MaxRequestBodySize},
				{"uni_http_stream", &t.UniHTTPStream.HandlerPrefix, t.UniHTTPStream.MaxRequestBodySize},
				{"emulation", &t.Emulation.HandlerPrefix, t.Emulation.MaxRequestBodySize},
				{"uni_websocket", &t.UniWebSocket.HandlerPrefix, t.UniWebSocket.MessageSizeLimit},
			} {
				*e.p = CleanPrefix(*e.p)
				if e.n < 0 {
					return fmt.Errorf("%s: negative size %d", e.key, e.n)
				}
			}
			switch u := &t.UniWebSocket; {
			case u.WriteTimeout < 0:
				return fmt.Errorf("uni_websocket.write_timeout: %s must not be negative", u.WriteTimeout)
			case u.WriteTimeout == 0:
				u.WriteTimeout = time.Second
			}
			return nil
		},
	})
}

// CleanPrefix is a handler prefix as Centrifugo uses it: trailing '/' trimmed, an
// empty prefix meaning "/".
func CleanPrefix(p string) string {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	return p
}
