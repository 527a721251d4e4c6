package api

import (
	"bytes"
	"encoding/base64"

	"github.com/bytedance/sonic"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// Request types of the methods other than publish and broadcast (server-api.md §4).
// Field types follow Centrifugo's api.proto so that a body decodes (or fails to,
// with HTTP 400) exactly as encoding/json decodes it there. These methods are not on
// the hot path: each request is a fresh struct, and every slice handed to the Node is
// a copy it may keep (strings are copied by decodeOptions).

// streamPosition is {"offset","epoch"} (recover_since, since).
type streamPosition struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

func (p *streamPosition) toCodec() *codec.StreamPosition {
	if p == nil {
		return nil
	}
	return &codec.StreamPosition{Offset: p.Offset, Epoch: p.Epoch}
}

// boolValue is the {"value":bool} wrapper of subscribe's override fields.
type boolValue struct {
	Value bool `json:"value"`
}

func (v *boolValue) ptr() *bool {
	if v == nil {
		return nil
	}
	b := v.Value
	return &b
}

// subscribeOverride is subscribe's "override" object.
type subscribeOverride struct {
	Presence           *boolValue `json:"presence"`
	JoinLeave          *boolValue `json:"join_leave"`
	ForceRecovery      *boolValue `json:"force_recovery"`
	ForcePositioning   *boolValue `json:"force_positioning"`
	ForcePushJoinLeave *boolValue `json:"force_push_join_leave"`
}

// filterNode is the PRO label_filter tree. OSS decodes it (a malformed one is a 400)
// and ignores it.
type filterNode struct {
	Op    string        `json:"op"`
	Key   string        `json:"key"`
	Cmp   string        `json:"cmp"`
	Val   string        `json:"val"`
	Vals  []string      `json:"vals"`
	Nodes []*filterNode `json:"nodes"`
}

// subscribeRequest is the body of subscribe (§4.3).
type subscribeRequest struct {
	Channel      string                 `json:"channel"`
	User         string                 `json:"user"`
	ExpireAt     int64                  `json:"expire_at"`
	Info         sonic.NoCopyRawMessage `json:"info"`
	B64Info      string                 `json:"b64info"`
	Client       string                 `json:"client"`
	Data         sonic.NoCopyRawMessage `json:"data"`
	B64Data      string                 `json:"b64data"`
	RecoverSince *streamPosition        `json:"recover_since"`
	Override     *subscribeOverride     `json:"override"`
	Session      string                 `json:"session"`
	LabelFilter  *filterNode            `json:"label_filter"`
	AllUsers     bool                   `json:"all_users"`
}

func (r *subscribeRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	if r.Channel == "" {
		return dst, engine.ErrorBadRequest, nil
	}
	// Centrifugo checks the namespace (102) before decoding the base64 fields; the
	// engine owns namespaces here, so an invalid b64 field is reported first.
	data, ok := rawOrBase64(r.Data, r.B64Data)
	if !ok {
		return dst, engine.ErrorBadRequest, nil
	}
	info, ok := rawOrBase64(r.Info, r.B64Info)
	if !ok {
		return dst, engine.ErrorBadRequest, nil
	}
	req := engine.ServerSubscribeRequest{
		User:         r.User,
		Channel:      r.Channel,
		Client:       r.Client,
		Session:      r.Session,
		Info:         info,
		Data:         data,
		ExpireAt:     r.ExpireAt,
		RecoverSince: r.RecoverSince.toCodec(),
	}
	if o := r.Override; o != nil {
		req.Override = &engine.SubscribeOverride{
			Presence:           o.Presence.ptr(),
			JoinLeave:          o.JoinLeave.ptr(),
			ForceRecovery:      o.ForceRecovery.ptr(),
			ForcePositioning:   o.ForcePositioning.ptr(),
			ForcePushJoinLeave: o.ForcePushJoinLeave.ptr(),
		}
	}
	if err := h.node.Subscribe(req); err != nil {
		return dst, h.nodeError(err, methodSubscribe, r.Channel), nil
	}
	return append(dst, "{}"...), nil, nil
}

// rawOrBase64 returns the payload of a raw/b64 field pair as a fresh copy: the
// decoded b64 string when it is not empty (it takes precedence), else the raw JSON
// (nil when absent). ok is false when b64 is not valid standard base64.
func rawOrBase64(raw []byte, b64 string) (out []byte, ok bool) {
	if b64 == "" {
		return bytes.Clone(raw), true
	}
	out, err := base64.StdEncoding.DecodeString(b64)
	return out, err == nil
}

// unsubscribeRequest is the body of unsubscribe (§4.4).
type unsubscribeRequest struct {
	Channel     string      `json:"channel"`
	User        string      `json:"user"`
	Client      string      `json:"client"`
	Session     string      `json:"session"`
	LabelFilter *filterNode `json:"label_filter"`
	AllUsers    bool        `json:"all_users"`
}

func (r *unsubscribeRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	err := h.node.Unsubscribe(engine.ServerUnsubscribeRequest{
		User: r.User, Channel: r.Channel, Client: r.Client, Session: r.Session,
	})
	if err != nil {
		return dst, h.nodeError(err, methodUnsubscribe, r.Channel), nil
	}
	return append(dst, "{}"...), nil, nil
}

// disconnectObject is disconnect's custom {"code","reason"}.
type disconnectObject struct {
	Code   uint32 `json:"code"`
	Reason string `json:"reason"`
}

// disconnectRequest is the body of disconnect (§4.5).
type disconnectRequest struct {
	User        string            `json:"user"`
	Disconnect  *disconnectObject `json:"disconnect"`
	Client      string            `json:"client"`
	Whitelist   []string          `json:"whitelist"`
	Session     string            `json:"session"`
	LabelFilter *filterNode       `json:"label_filter"`
	AllUsers    bool              `json:"all_users"`
}

func (r *disconnectRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	d := engine.DisconnectForce // 3503 "force disconnect" unless the request says otherwise
	if r.Disconnect != nil {
		d = engine.Disconnect{Code: r.Disconnect.Code, Reason: r.Disconnect.Reason}
	}
	err := h.node.Disconnect(engine.ServerDisconnectRequest{
		User: r.User, Client: r.Client, Session: r.Session, Whitelist: r.Whitelist, Disconnect: &d,
	})
	if err != nil {
		return dst, h.nodeError(err, methodDisconnect, ""), nil
	}
	return append(dst, "{}"...), nil, nil
}

// refreshRequest is the body of refresh (§4.6).
type refreshRequest struct {
	User        string                 `json:"user"`
	Client      string                 `json:"client"`
	Expired     bool                   `json:"expired"`
	ExpireAt    int64                  `json:"expire_at"`
	Info        sonic.NoCopyRawMessage `json:"info"`
	Session     string                 `json:"session"`
	LabelFilter *filterNode            `json:"label_filter"`
	AllUsers    bool                   `json:"all_users"`
}

func (r *refreshRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	err := h.node.Refresh(engine.ServerRefreshRequest{
		User: r.User, Client: r.Client, Session: r.Session,
		Expired: r.Expired, ExpireAt: r.ExpireAt, Info: bytes.Clone(r.Info),
	})
	if err != nil {
		return dst, h.nodeError(err, methodRefresh, ""), nil
	}
	return append(dst, "{}"...), nil, nil
}

// presenceRequest is the body of presence (§4.7).
type presenceRequest struct {
	Channel string `json:"channel"`
}

func (r *presenceRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	if r.Channel == "" {
		return dst, engine.ErrorBadRequest, nil
	}
	clients, err := h.node.Presence(r.Channel)
	if err != nil {
		return dst, h.nodeError(err, methodPresence, r.Channel), nil
	}
	out, err := appendPresenceResult(dst, clients)
	return out, nil, err
}

// presenceStatsRequest is the body of presence_stats (§4.7).
type presenceStatsRequest struct {
	Channel string `json:"channel"`
}

func (r *presenceStatsRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	if r.Channel == "" {
		return dst, engine.ErrorBadRequest, nil
	}
	stats, err := h.node.PresenceStats(r.Channel)
	if err != nil {
		return dst, h.nodeError(err, methodPresenceStats, r.Channel), nil
	}
	return appendPresenceStatsResult(dst, stats), nil, nil
}

// historyRequest is the body of history (§4.8).
type historyRequest struct {
	Channel string          `json:"channel"`
	Limit   int32           `json:"limit"`
	Since   *streamPosition `json:"since"`
	Reverse bool            `json:"reverse"`
}

func (r *historyRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	if r.Channel == "" {
		return dst, engine.ErrorBadRequest, nil
	}
	res, err := h.node.History(engine.HistoryRequest{
		Channel: r.Channel, Limit: int(r.Limit), Since: r.Since.toCodec(), Reverse: r.Reverse,
	})
	if err != nil {
		return dst, h.nodeError(err, methodHistory, r.Channel), nil
	}
	out, err := appendHistoryResult(dst, res)
	return out, nil, err
}

// historyRemoveRequest is the body of history_remove (§4.9).
type historyRemoveRequest struct {
	Channel string `json:"channel"`
}

func (r *historyRemoveRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	if r.Channel == "" {
		return dst, engine.ErrorBadRequest, nil
	}
	if err := h.node.HistoryRemove(r.Channel); err != nil {
		return dst, h.nodeError(err, methodHistoryRemove, r.Channel), nil
	}
	return append(dst, "{}"...), nil, nil
}

// channelsRequest is the body of channels (§4.10).
type channelsRequest struct {
	Pattern string `json:"pattern"`
}

func (r *channelsRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	channels, err := h.node.Channels(r.Pattern)
	if err != nil {
		return dst, h.nodeError(err, methodChannels, ""), nil
	}
	return appendChannelsResult(dst, channels), nil, nil
}

// infoRequest is the body of info (§4.11): any JSON object (or null).
type infoRequest struct{}

func (*infoRequest) run(h *Handler, dst []byte) ([]byte, *engine.Error, error) {
	nodes := h.node.Info()
	if len(nodes) == 0 {
		return append(dst, "{}"...), nil, nil // nodes: omitempty
	}
	dst = append(dst, `{"nodes":[`...)
	for i, n := range nodes {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendNodeResult(dst, n)
	}
	return append(dst, "]}"...), nil, nil
}

// rpcRequest is the body of rpc (§4.12).
type rpcRequest struct {
	Method string                 `json:"method"`
	Params sonic.NoCopyRawMessage `json:"params"`
}

// run answers rpc: OSS registers no server-side API RPC methods, so every named
// method is 104 not found.
func (r *rpcRequest) run(_ *Handler, dst []byte) ([]byte, *engine.Error, error) {
	if r.Method == "" {
		return dst, engine.ErrorBadRequest, nil
	}
	return dst, errNotFound, nil
}
