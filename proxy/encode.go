package proxy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/rotorhq/rotor/engine"
)

// Request bodies, one struct per kind. Field order and omitempty follow Centrifugo's
// proxyproto messages, which it encodes with encoding/json as well: the bodies are
// byte-identical (raw JSON compacted, HTML characters escaped). "user" is always
// present except in connect.

type baseRequest struct {
	Client    string `json:"client,omitempty"`
	Transport string `json:"transport,omitempty"`
	Protocol  string `json:"protocol,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
}

type connectRequest struct {
	baseRequest
	Data     json.RawMessage `json:"data,omitempty"`
	B64Data  string          `json:"b64data,omitempty"`
	Name     string          `json:"name,omitempty"`
	Version  string          `json:"version,omitempty"`
	Channels []string        `json:"channels,omitempty"`
}

type refreshRequest struct {
	baseRequest
	User string          `json:"user"`
	Meta json.RawMessage `json:"meta,omitempty"`
}

type subscribeRequest struct {
	baseRequest
	User    string          `json:"user"`
	Channel string          `json:"channel,omitempty"`
	Token   string          `json:"token,omitempty"`
	Meta    json.RawMessage `json:"meta,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	B64Data string          `json:"b64data,omitempty"`
}

type publishRequest struct {
	baseRequest
	User    string          `json:"user"`
	Channel string          `json:"channel,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	B64Data string          `json:"b64data,omitempty"`
	Meta    json.RawMessage `json:"meta,omitempty"`
}

type rpcRequest struct {
	baseRequest
	User    string          `json:"user"`
	Method  string          `json:"method,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	B64Data string          `json:"b64data,omitempty"`
	Meta    json.RawMessage `json:"meta,omitempty"`
}

type subRefreshRequest struct {
	baseRequest
	User    string          `json:"user"`
	Channel string          `json:"channel,omitempty"`
	Meta    json.RawMessage `json:"meta,omitempty"`
}

// encodeRequest returns the JSON body for req.
func (h *HTTP) encodeRequest(req *engine.ProxyRequest) ([]byte, error) {
	base := baseRequest{Client: req.Client, Transport: req.Transport, Protocol: req.Protocol, Encoding: h.encoding}
	data, b64 := h.payload(req.Data)
	var meta json.RawMessage
	if h.withMeta && req.Meta != nil {
		meta = req.Meta
	}
	var v any
	switch req.Kind {
	case engine.ProxyConnect:
		v = &connectRequest{baseRequest: base, Data: data, B64Data: b64, Name: req.Name, Version: req.Version, Channels: req.Channels}
	case engine.ProxyRefresh:
		v = &refreshRequest{baseRequest: base, User: req.User, Meta: meta}
	case engine.ProxySubscribe:
		v = &subscribeRequest{baseRequest: base, User: req.User, Channel: req.Channel, Token: req.Token, Meta: meta, Data: data, B64Data: b64}
	case engine.ProxyPublish:
		v = &publishRequest{baseRequest: base, User: req.User, Channel: req.Channel, Data: data, B64Data: b64, Meta: meta}
	case engine.ProxyRPC:
		v = &rpcRequest{baseRequest: base, User: req.User, Method: req.Method, Data: data, B64Data: b64, Meta: meta}
	case engine.ProxySubRefresh:
		v = &subRefreshRequest{baseRequest: base, User: req.User, Channel: req.Channel, Meta: meta}
	default:
		return nil, fmt.Errorf("%w %d", ErrUnknownKind, req.Kind)
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Data or meta is not valid JSON: the client must use binary_encoding.
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return b, nil
}

// payload returns the client's data as raw JSON, or as standard base64 in binary mode
// (empty data is omitted either way).
func (h *HTTP) payload(data []byte) (json.RawMessage, string) {
	if h.binary {
		return nil, base64.StdEncoding.EncodeToString(data)
	}
	return data, ""
}
