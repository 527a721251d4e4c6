package api

import (
	"bytes"
	"errors"
	"maps"
	"slices"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// baseNode answers every method but Publish and Info with success and no data; the
// small fakes embed it.
type baseNode struct{}

func (baseNode) Subscribe(engine.ServerSubscribeRequest) error     { return nil }
func (baseNode) Unsubscribe(engine.ServerUnsubscribeRequest) error { return nil }
func (baseNode) Disconnect(engine.ServerDisconnectRequest) error   { return nil }
func (baseNode) Refresh(engine.ServerRefreshRequest) error         { return nil }
func (baseNode) Presence(string) (map[string]*codec.ClientInfo, error) {
	return map[string]*codec.ClientInfo{}, nil
}
func (baseNode) PresenceStats(string) (engine.PresenceStats, error) {
	return engine.PresenceStats{}, nil
}
func (baseNode) History(engine.HistoryRequest) (engine.HistoryResult, error) {
	return engine.HistoryResult{}, nil
}
func (baseNode) HistoryRemove(string) error { return nil }
func (baseNode) Channels(string) (map[string]engine.ChannelInfo, error) {
	return map[string]engine.ChannelInfo{}, nil
}

// serverCall is one recorded call of a method other than Publish. req holds a deep
// copy of the request (byte slices cloned), so later reuse of API buffers cannot
// change it.
type serverCall struct {
	method string
	req    any
}

// errFakeInternal is a plain error: the API must answer it with 100.
var errFakeInternal = errors.New("fake: backend down")

// The fakeNode methods below complete the fake declared in handler_test.go: each
// records its call and answers from the per-channel (or per-user) tables.

func (n *fakeNode) record(method string, req any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.server = append(n.server, serverCall{method: method, req: req})
}

// serverCalls returns a copy of the recorded non-publish calls.
func (n *fakeNode) serverCalls() []serverCall {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.server)
}

// errFor returns the configured error for key (a channel or a user).
func (n *fakeNode) errFor(key string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.errs[key]
}

func (n *fakeNode) hook(method, key string) {
	if n.onCall != nil {
		n.onCall(method, key)
	}
}

func (n *fakeNode) Subscribe(req engine.ServerSubscribeRequest) error {
	n.hook("subscribe", req.Channel)
	req.Info, req.Data = bytes.Clone(req.Info), bytes.Clone(req.Data)
	n.record("subscribe", req)
	return n.errFor(req.Channel)
}

func (n *fakeNode) Unsubscribe(req engine.ServerUnsubscribeRequest) error {
	n.hook("unsubscribe", req.Channel)
	n.record("unsubscribe", req)
	return n.errFor(req.Channel)
}

func (n *fakeNode) Disconnect(req engine.ServerDisconnectRequest) error {
	n.hook("disconnect", req.User)
	req.Whitelist = slices.Clone(req.Whitelist)
	if req.Disconnect != nil {
		d := *req.Disconnect
		req.Disconnect = &d
	}
	n.record("disconnect", req)
	return n.errFor(req.User)
}

func (n *fakeNode) Refresh(req engine.ServerRefreshRequest) error {
	n.hook("refresh", req.User)
	req.Info = bytes.Clone(req.Info)
	n.record("refresh", req)
	return n.errFor(req.User)
}

func (n *fakeNode) Presence(channel string) (map[string]*codec.ClientInfo, error) {
	n.hook("presence", channel)
	n.record("presence", channel)
	if err := n.errFor(channel); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.presence[channel]), nil
}

func (n *fakeNode) PresenceStats(channel string) (engine.PresenceStats, error) {
	n.hook("presence_stats", channel)
	n.record("presence_stats", channel)
	if err := n.errFor(channel); err != nil {
		return engine.PresenceStats{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats[channel], nil
}

func (n *fakeNode) History(req engine.HistoryRequest) (engine.HistoryResult, error) {
	n.hook("history", req.Channel)
	if req.Since != nil {
		sp := *req.Since
		req.Since = &sp
	}
	n.record("history", req)
	if err := n.errFor(req.Channel); err != nil {
		return engine.HistoryResult{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.history[req.Channel], nil
}

func (n *fakeNode) HistoryRemove(channel string) error {
	n.hook("history_remove", channel)
	n.record("history_remove", channel)
	return n.errFor(channel)
}

func (n *fakeNode) Channels(pattern string) (map[string]engine.ChannelInfo, error) {
	n.hook("channels", pattern)
	n.record("channels", pattern)
	if err := n.errFor(pattern); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.channels), nil
}
