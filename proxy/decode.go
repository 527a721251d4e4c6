package proxy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/rotorhq/rotor/engine"
)

// Response bodies, one result struct per kind (as in Centrifugo, a field another kind
// uses is ignored, whatever its type). Decoded with encoding/json, as Centrifugo
// does, so the same bodies are accepted and rejected: e.g. "data":null is kept as
// the raw JSON null, "expire_at":"1" is an error.

type envelope[R any] struct {
	Result     *R              `json:"result"`
	Error      *wireError      `json:"error"`
	Disconnect *wireDisconnect `json:"disconnect"`
}

type wireError struct {
	Code      uint32 `json:"code"`
	Message   string `json:"message"`
	Temporary bool   `json:"temporary"`
}

type wireDisconnect struct {
	Code   uint32 `json:"code"`
	Reason string `json:"reason"`
}

type boolValue struct {
	Value bool `json:"value"`
}

type wireOverride struct {
	Presence           *boolValue `json:"presence"`
	JoinLeave          *boolValue `json:"join_leave"`
	ForceRecovery      *boolValue `json:"force_recovery"`
	ForcePositioning   *boolValue `json:"force_positioning"`
	ForcePushJoinLeave *boolValue `json:"force_push_join_leave"`
}

type wireSubOptions struct {
	Info         json.RawMessage `json:"info"`
	B64Info      string          `json:"b64info"`
	Data         json.RawMessage `json:"data"`
	B64Data      string          `json:"b64data"`
	Override     *wireOverride   `json:"override"`
	CacheRecover bool            `json:"cache_recover"`
}

type connectResult struct {
	User     string                     `json:"user"`
	ExpireAt int64                      `json:"expire_at"`
	Info     json.RawMessage            `json:"info"`
	B64Info  string                     `json:"b64info"`
	Data     json.RawMessage            `json:"data"`
	B64Data  string                     `json:"b64data"`
	Channels []string                   `json:"channels"`
	Subs     map[string]*wireSubOptions `json:"subs"`
	Meta     json.RawMessage            `json:"meta"`
}

type refreshResult struct {
	Expired  bool            `json:"expired"`
	ExpireAt int64           `json:"expire_at"`
	Info     json.RawMessage `json:"info"`
	B64Info  string          `json:"b64info"`
	Meta     json.RawMessage `json:"meta"`
}

type subscribeResult struct {
	ExpireAt int64           `json:"expire_at"`
	Info     json.RawMessage `json:"info"`
	B64Info  string          `json:"b64info"`
	Data     json.RawMessage `json:"data"`
	B64Data  string          `json:"b64data"`
	Override *wireOverride   `json:"override"`
}

type publishResult struct {
	Data           json.RawMessage   `json:"data"`
	B64Data        string            `json:"b64data"`
	SkipHistory    bool              `json:"skip_history"`
	Tags           map[string]string `json:"tags"`
	IdempotencyKey string            `json:"idempotency_key"`
	Delta          bool              `json:"delta"`
}

type rpcResult struct {
	Data    json.RawMessage `json:"data"`
	B64Data string          `json:"b64data"`
}

type subRefreshResult struct {
	Expired  bool            `json:"expired"`
	ExpireAt int64           `json:"expire_at"`
	Info     json.RawMessage `json:"info"`
	B64Info  string          `json:"b64info"`
}

// decodeResponse decodes a 200 body for kind. The result copies what it keeps from
// body.
func decodeResponse(kind engine.ProxyKind, body []byte) (*engine.ProxyResponse, error) {
	switch kind {
	case engine.ProxyConnect:
		return decode(body, convertConnect)
	case engine.ProxyRefresh:
		return decode(body, func(r *refreshResult) (*engine.ProxyResult, error) {
			info, err := pick(r.B64Info, r.Info, "b64info")
			if err != nil {
				return nil, err
			}
			return &engine.ProxyResult{Expired: r.Expired, ExpireAt: r.ExpireAt, Info: info, Meta: nilIfEmpty(r.Meta)}, nil
		})
	case engine.ProxySubscribe:
		return decode(body, func(r *subscribeResult) (*engine.ProxyResult, error) {
			info, err := pick(r.B64Info, r.Info, "b64info")
			if err != nil {
				return nil, err
			}
			data, err := pick(r.B64Data, r.Data, "b64data")
			if err != nil {
				return nil, err
			}
			return &engine.ProxyResult{ExpireAt: r.ExpireAt, Info: info, Data: data, Override: convertOverride(r.Override)}, nil
		})
	case engine.ProxyPublish:
		return decode(body, func(r *publishResult) (*engine.ProxyResult, error) {
			// Unlike the other kinds, raw data wins over b64data here (Centrifugo's
			// publish handler checks data first).
			data := nilIfEmpty(r.Data)
			if data == nil && r.B64Data != "" {
				var err error
				if data, err = base64.StdEncoding.DecodeString(r.B64Data); err != nil {
					return nil, fmt.Errorf("%w: b64data: %w", ErrDecode, err)
				}
			}
			return &engine.ProxyResult{Data: data, SkipHistory: r.SkipHistory, Tags: r.Tags, IdempotencyKey: r.IdempotencyKey, Delta: r.Delta}, nil
		})
	case engine.ProxyRPC:
		return decode(body, func(r *rpcResult) (*engine.ProxyResult, error) {
			data, err := pick(r.B64Data, r.Data, "b64data")
			if err != nil {
				return nil, err
			}
			return &engine.ProxyResult{Data: data}, nil
		})
	case engine.ProxySubRefresh:
		return decode(body, func(r *subRefreshResult) (*engine.ProxyResult, error) {
			info, err := pick(r.B64Info, r.Info, "b64info")
			if err != nil {
				return nil, err
			}
			return &engine.ProxyResult{Expired: r.Expired, ExpireAt: r.ExpireAt, Info: info}, nil
		})
	default:
		return nil, fmt.Errorf("%w %d", ErrUnknownKind, kind)
	}
}

// decode unmarshals the envelope and converts a present result with conv.
func decode[R any](body []byte, conv func(*R) (*engine.ProxyResult, error)) (*engine.ProxyResponse, error) {
	var env envelope[R]
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	resp := &engine.ProxyResponse{}
	if env.Disconnect != nil {
		resp.Disconnect = &engine.Disconnect{Code: env.Disconnect.Code, Reason: env.Disconnect.Reason}
	}
	if env.Error != nil {
		resp.Error = &engine.Error{Code: env.Error.Code, Message: env.Error.Message, Temporary: env.Error.Temporary}
	}
	if env.Result != nil {
		r, err := conv(env.Result)
		if err != nil {
			return nil, err
		}
		resp.Result = r
	}
	return resp, nil
}

func convertConnect(r *connectResult) (*engine.ProxyResult, error) {
	info, err := pick(r.B64Info, r.Info, "b64info")
	if err != nil {
		return nil, err
	}
	data, err := pick(r.B64Data, r.Data, "b64data")
	if err != nil {
		return nil, err
	}
	res := &engine.ProxyResult{
		User:     r.User,
		ExpireAt: r.ExpireAt,
		Info:     info,
		Data:     data,
		Meta:     nilIfEmpty(r.Meta),
		Channels: r.Channels,
	}
	if len(r.Subs) > 0 {
		res.Subs = make(map[string]engine.ProxySubOptions, len(r.Subs))
		for ch, o := range r.Subs {
			var so engine.ProxySubOptions
			if o != nil {
				if so.Info, err = pick(o.B64Info, o.Info, "subs."+ch+".b64info"); err != nil {
					return nil, err
				}
				if so.Data, err = pick(o.B64Data, o.Data, "subs."+ch+".b64data"); err != nil {
					return nil, err
				}
				so.Override = convertOverride(o.Override)
				so.CacheRecover = o.CacheRecover
			}
			res.Subs[ch] = so
		}
	}
	return res, nil
}

func convertOverride(o *wireOverride) *engine.SubscribeOverride {
	if o == nil {
		return nil
	}
	return &engine.SubscribeOverride{
		Presence:           boolPtr(o.Presence),
		JoinLeave:          boolPtr(o.JoinLeave),
		ForcePushJoinLeave: boolPtr(o.ForcePushJoinLeave),
		ForcePositioning:   boolPtr(o.ForcePositioning),
		ForceRecovery:      boolPtr(o.ForceRecovery),
	}
}

func boolPtr(v *boolValue) *bool {
	if v == nil {
		return nil
	}
	b := v.Value
	return &b
}

// pick returns the decoded base64 field when it is not empty, else the raw JSON one
// (Centrifugo's precedence for info and data in connect, refresh, subscribe, rpc
// and sub_refresh results).
func pick(b64 string, raw json.RawMessage, name string) ([]byte, error) {
	if b64 != "" {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrDecode, name, err)
		}
		return b, nil
	}
	return nilIfEmpty(raw), nil
}

func nilIfEmpty(b json.RawMessage) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
