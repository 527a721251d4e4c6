package e2e_test

// Server API coverage: every method, called both through gocent v3 (the
// legacy POST /api endpoint) and through the per-method endpoints
// (POST /api/<method>), with SDK clients connected whose view of each call's
// effect is checked.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/centrifugal/gocent/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

// saConfig: "hist" keeps history and presence; "chat" and "locked" as in
// harness.DefaultConfig; "nohist" has neither.
func saConfig() harness.Config {
	cfg := harness.DefaultConfig()
	cfg.Set("channel.namespaces", []any{
		map[string]any{"name": "chat", "allow_subscribe_for_client": true, "allow_publish_for_subscriber": true},
		map[string]any{"name": "locked"},
		map[string]any{"name": "hist", "allow_subscribe_for_client": true, "allow_publish_for_subscriber": true,
			"history_size": 10, "history_ttl": "300s", "presence": true},
		map[string]any{"name": "nohist", "allow_subscribe_for_client": true},
	})
	return cfg
}

// saToken is a one-hour connection token for user with conn info.
func saToken(t *testing.T, user string, info any) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	if info != nil {
		claims["info"] = info
	}
	return harness.Token(t, harness.HMACSecret, claims)
}

// saServerSide records a client's server-side subscription events.
type saServerSide struct{ log *eventLog }

func saWatch(c *centrifuge.Client) *saServerSide {
	s := &saServerSide{log: &eventLog{}}
	c.OnSubscribed(func(e centrifuge.ServerSubscribedEvent) { s.log.add(e) })
	c.OnUnsubscribed(func(e centrifuge.ServerUnsubscribedEvent) { s.log.add(e) })
	c.OnPublication(func(e centrifuge.ServerPublicationEvent) { s.log.add(e) })
	return s
}

// saJSONEq compares JSON documents semantically.
func saJSONEq(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// saNoPublicationWithin fails if s receives a publication within d.
func saNoPublicationWithin(t *testing.T, s *subscription, d time.Duration) {
	t.Helper()
	select {
	case p := <-s.pubs:
		t.Errorf("%s: unexpected publication %s", s.Channel, p.Data)
	case <-time.After(d):
	}
}

// saWaitN waits until n events of type T matching match were logged.
func saWaitN[T any](t *testing.T, l *eventLog, n int, timeout time.Duration, what string, match func(T) bool) []T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var hits []T
		for _, ev := range eventsOf[T](l) {
			if match == nil || match(ev) {
				hits = append(hits, ev)
			}
		}
		if len(hits) >= n {
			return hits
		}
		if time.Now().After(deadline) {
			var zero T
			t.Fatalf("%d of %d %T (%s) within %v; events:\n%s", len(hits), n, zero, what, timeout, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Drivers: the same operations through gocent (legacy /api) and through
// POST /api/<method>.

type saPubResp struct {
	Offset uint64
	Epoch  string
	Err    *harness.APIError
}

type saClientInfo struct {
	User     string
	Client   string
	ConnInfo json.RawMessage
	ChanInfo json.RawMessage
}

type saPub struct {
	Offset uint64
	Data   json.RawMessage
}

type saHistory struct {
	Pubs   []saPub
	Offset uint64
	Epoch  string
}

type saNode struct {
	Name                              string
	Version                           string
	NumClients, NumUsers, NumChannels int
}

type saDriver interface {
	name() string
	publish(t *testing.T, channel, data string) (uint64, string)
	broadcast(t *testing.T, channels []string, data string) []saPubResp
	subscribe(t *testing.T, user, channel, client, data string)
	unsubscribe(t *testing.T, user, channel, client string)
	// code 0: no custom disconnect object.
	disconnect(t *testing.T, user, client string, code uint32, reason string, whitelist []string)
	presence(t *testing.T, channel string) map[string]saClientInfo
	presenceStats(t *testing.T, channel string) (clients, users int)
	history(t *testing.T, channel string, limit int, reverse bool) saHistory
	historyRemove(t *testing.T, channel string)
	// channels returns channel → num_clients (-1 when the driver cannot
	// decode the count: gocent's ChannelInfo reads "num_users").
	channels(t *testing.T, pattern string) map[string]int
	info(t *testing.T) []saNode
	refresh(t *testing.T, params map[string]any)
	rpc(t *testing.T, method string) *harness.APIError
}

// ---- plain HTTP: POST /api/<method>

type saHTTP struct{ srv *harness.Server }

func (d saHTTP) name() string { return "http" }

func (d saHTTP) must(t *testing.T, method string, body any, out any) {
	t.Helper()
	res := d.srv.MustAPI(t, method, body)
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("/api/%s result %s: %v", method, res, err)
		}
	}
}

func (d saHTTP) publish(t *testing.T, channel, data string) (uint64, string) {
	t.Helper()
	var r struct {
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	}
	d.must(t, "publish", map[string]any{"channel": channel, "data": json.RawMessage(data)}, &r)
	return r.Offset, r.Epoch
}

func (d saHTTP) broadcast(t *testing.T, channels []string, data string) []saPubResp {
	t.Helper()
	var r struct {
		Responses []struct {
			Result *struct {
				Offset uint64 `json:"offset"`
				Epoch  string `json:"epoch"`
			} `json:"result"`
			Error *harness.APIError `json:"error"`
		} `json:"responses"`
	}
	d.must(t, "broadcast", map[string]any{"channels": channels, "data": json.RawMessage(data)}, &r)
	var out []saPubResp
	for _, x := range r.Responses {
		var p saPubResp
		if x.Result != nil {
			p.Offset, p.Epoch = x.Result.Offset, x.Result.Epoch
		}
		p.Err = x.Error
		out = append(out, p)
	}
	return out
}

func (d saHTTP) subscribe(t *testing.T, user, channel, client, data string) {
	t.Helper()
	body := map[string]any{"user": user, "channel": channel}
	if client != "" {
		body["client"] = client
	}
	if data != "" {
		body["data"] = json.RawMessage(data)
	}
	d.must(t, "subscribe", body, nil)
}

func (d saHTTP) unsubscribe(t *testing.T, user, channel, client string) {
	t.Helper()
	body := map[string]any{"user": user, "channel": channel}
	if client != "" {
		body["client"] = client
	}
	d.must(t, "unsubscribe", body, nil)
}

func (d saHTTP) disconnect(t *testing.T, user, client string, code uint32, reason string, whitelist []string) {
	t.Helper()
	body := map[string]any{"user": user}
	if client != "" {
		body["client"] = client
	}
	if code != 0 {
		body["disconnect"] = map[string]any{"code": code, "reason": reason}
	}
	if whitelist != nil {
		body["whitelist"] = whitelist
	}
	d.must(t, "disconnect", body, nil)
}

func (d saHTTP) presence(t *testing.T, channel string) map[string]saClientInfo {
	t.Helper()
	var r struct {
		Presence map[string]struct {
			User     string          `json:"user"`
			Client   string          `json:"client"`
			ConnInfo json.RawMessage `json:"conn_info"`
			ChanInfo json.RawMessage `json:"chan_info"`
		} `json:"presence"`
	}
	d.must(t, "presence", map[string]any{"channel": channel}, &r)
	out := map[string]saClientInfo{}
	for k, v := range r.Presence {
		out[k] = saClientInfo{User: v.User, Client: v.Client, ConnInfo: v.ConnInfo, ChanInfo: v.ChanInfo}
	}
	return out
}

func (d saHTTP) presenceStats(t *testing.T, channel string) (int, int) {
	t.Helper()
	var r struct {
		NumClients int `json:"num_clients"`
		NumUsers   int `json:"num_users"`
	}
	d.must(t, "presence_stats", map[string]any{"channel": channel}, &r)
	return r.NumClients, r.NumUsers
}

func (d saHTTP) history(t *testing.T, channel string, limit int, reverse bool) saHistory {
	t.Helper()
	var r struct {
		Publications []struct {
			Offset uint64          `json:"offset"`
			Data   json.RawMessage `json:"data"`
		} `json:"publications"`
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	}
	body := map[string]any{"channel": channel, "limit": limit}
	if reverse {
		body["reverse"] = true
	}
	d.must(t, "history", body, &r)
	h := saHistory{Offset: r.Offset, Epoch: r.Epoch}
	for _, p := range r.Publications {
		h.Pubs = append(h.Pubs, saPub{Offset: p.Offset, Data: p.Data})
	}
	return h
}

func (d saHTTP) historyRemove(t *testing.T, channel string) {
	t.Helper()
	d.must(t, "history_remove", map[string]any{"channel": channel}, nil)
}

func (d saHTTP) channels(t *testing.T, pattern string) map[string]int {
	t.Helper()
	var r struct {
		Channels map[string]struct {
			NumClients int `json:"num_clients"`
		} `json:"channels"`
	}
	body := map[string]any{}
	if pattern != "" {
		body["pattern"] = pattern
	}
	d.must(t, "channels", body, &r)
	out := map[string]int{}
	for k, v := range r.Channels {
		out[k] = v.NumClients
	}
	return out
}

func (d saHTTP) info(t *testing.T) []saNode {
	t.Helper()
	var r struct {
		Nodes []struct {
			Name        string `json:"name"`
			Version     string `json:"version"`
			NumClients  int    `json:"num_clients"`
			NumUsers    int    `json:"num_users"`
			NumChannels int    `json:"num_channels"`
		} `json:"nodes"`
	}
	d.must(t, "info", map[string]any{}, &r)
	var out []saNode
	for _, n := range r.Nodes {
		out = append(out, saNode{Name: n.Name, Version: n.Version, NumClients: n.NumClients, NumUsers: n.NumUsers, NumChannels: n.NumChannels})
	}
	return out
}

func (d saHTTP) refresh(t *testing.T, params map[string]any) {
	t.Helper()
	d.must(t, "refresh", params, nil)
}

func (d saHTTP) rpc(t *testing.T, method string) *harness.APIError {
	t.Helper()
	r := d.srv.API(t, "rpc", map[string]any{"method": method, "params": map[string]any{"x": 1}})
	if r.Status != 200 {
		t.Fatalf("/api/rpc: HTTP %d %q", r.Status, r.Body)
	}
	return r.Error
}

// ---- gocent v3 (legacy POST /api, "Authorization: apikey")

type saGocent struct {
	srv *harness.Server
	c   *gocent.Client
}

func newSAGocent(srv *harness.Server) saGocent {
	return saGocent{srv: srv, c: gocent.New(gocent.Config{
		Addr:       srv.BaseURL + "/api",
		Key:        harness.APIKey,
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
	})}
}

func (d saGocent) name() string { return "gocent" }

func saCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (d saGocent) publish(t *testing.T, channel, data string) (uint64, string) {
	t.Helper()
	r, err := d.c.Publish(saCtx(t), channel, []byte(data))
	if err != nil {
		t.Fatalf("gocent Publish(%s): %v", channel, err)
	}
	return r.Offset, r.Epoch
}

func (d saGocent) broadcast(t *testing.T, channels []string, data string) []saPubResp {
	t.Helper()
	r, err := d.c.Broadcast(saCtx(t), channels, []byte(data))
	if err != nil {
		t.Fatalf("gocent Broadcast: %v", err)
	}
	var out []saPubResp
	for _, x := range r.Responses {
		var p saPubResp
		if x.Result != nil {
			p.Offset, p.Epoch = x.Result.Offset, x.Result.Epoch
		}
		if x.Error != nil {
			p.Err = &harness.APIError{Code: uint32(x.Error.Code), Message: x.Error.Message}
		}
		out = append(out, p)
	}
	return out
}

func (d saGocent) subscribe(t *testing.T, user, channel, client, data string) {
	t.Helper()
	var opts []gocent.SubscribeOption
	if client != "" {
		opts = append(opts, gocent.WithSubscribeClient(client))
	}
	if data != "" {
		opts = append(opts, gocent.WithSubscribeData(json.RawMessage(data)))
	}
	if err := d.c.Subscribe(saCtx(t), channel, user, opts...); err != nil {
		t.Fatalf("gocent Subscribe(%s, %s): %v", user, channel, err)
	}
}

func (d saGocent) unsubscribe(t *testing.T, user, channel, client string) {
	t.Helper()
	var opts []gocent.UnsubscribeOption
	if client != "" {
		opts = append(opts, gocent.WithUnsubscribeClient(client))
	}
	if err := d.c.Unsubscribe(saCtx(t), channel, user, opts...); err != nil {
		t.Fatalf("gocent Unsubscribe(%s, %s): %v", user, channel, err)
	}
}

func (d saGocent) disconnect(t *testing.T, user, client string, code uint32, reason string, whitelist []string) {
	t.Helper()
	var opts []gocent.DisconnectOption
	if client != "" {
		opts = append(opts, gocent.WithDisconnectClient(client))
	}
	if code != 0 {
		opts = append(opts, gocent.WithDisconnect(&gocent.Disconnect{Code: code, Reason: reason}))
	}
	if whitelist != nil {
		// gocent v3's DisconnectOptions.ClientWhitelist has no JSON tag, so
		// it goes out as "ClientWhitelist", which Centrifugo ignores. Send
		// the legacy command gocent should have sent.
		params := map[string]any{"user": user, "whitelist": whitelist}
		if client != "" {
			params["client"] = client
		}
		if code != 0 {
			params["disconnect"] = map[string]any{"code": code, "reason": reason}
		}
		r := saLegacy(t, d.srv, map[string]any{"method": "disconnect", "params": params})[0]
		if r.Error != nil || string(r.Result) != "{}" {
			t.Fatalf("legacy disconnect: error %v result %s", r.Error, r.Result)
		}
		return
	}
	// gocent sends the custom disconnect under the key "Disconnect" (no JSON
	// tag); Centrifugo's decoder matches keys case-insensitively.
	if err := d.c.Disconnect(saCtx(t), user, opts...); err != nil {
		t.Fatalf("gocent Disconnect(%s): %v", user, err)
	}
}

func (d saGocent) presence(t *testing.T, channel string) map[string]saClientInfo {
	t.Helper()
	r, err := d.c.Presence(saCtx(t), channel)
	if err != nil {
		t.Fatalf("gocent Presence(%s): %v", channel, err)
	}
	out := map[string]saClientInfo{}
	for k, v := range r.Presence {
		out[k] = saClientInfo{User: v.User, Client: v.Client, ConnInfo: v.ConnInfo, ChanInfo: v.ChanInfo}
	}
	return out
}

func (d saGocent) presenceStats(t *testing.T, channel string) (int, int) {
	t.Helper()
	r, err := d.c.PresenceStats(saCtx(t), channel)
	if err != nil {
		t.Fatalf("gocent PresenceStats(%s): %v", channel, err)
	}
	return int(r.NumClients), int(r.NumUsers)
}

func (d saGocent) history(t *testing.T, channel string, limit int, reverse bool) saHistory {
	t.Helper()
	opts := []gocent.HistoryOption{gocent.WithLimit(limit)}
	if reverse {
		opts = append(opts, gocent.WithReverse(true))
	}
	r, err := d.c.History(saCtx(t), channel, opts...)
	if err != nil {
		t.Fatalf("gocent History(%s): %v", channel, err)
	}
	h := saHistory{Offset: r.Offset, Epoch: r.Epoch}
	for _, p := range r.Publications {
		h.Pubs = append(h.Pubs, saPub{Offset: p.Offset, Data: p.Data})
	}
	return h
}

func (d saGocent) historyRemove(t *testing.T, channel string) {
	t.Helper()
	if err := d.c.HistoryRemove(saCtx(t), channel); err != nil {
		t.Fatalf("gocent HistoryRemove(%s): %v", channel, err)
	}
}

func (d saGocent) channels(t *testing.T, pattern string) map[string]int {
	t.Helper()
	var opts []gocent.ChannelsOption
	if pattern != "" {
		opts = append(opts, gocent.WithPattern(pattern))
	}
	r, err := d.c.Channels(saCtx(t), opts...)
	if err != nil {
		t.Fatalf("gocent Channels: %v", err)
	}
	out := map[string]int{}
	for k := range r.Channels {
		out[k] = -1
	}
	return out
}

func (d saGocent) info(t *testing.T) []saNode {
	t.Helper()
	r, err := d.c.Info(saCtx(t))
	if err != nil {
		t.Fatalf("gocent Info: %v", err)
	}
	var out []saNode
	for _, n := range r.Nodes {
		out = append(out, saNode{Name: n.Name, Version: n.Version, NumClients: n.NumClients, NumUsers: n.NumUsers, NumChannels: n.NumChannels})
	}
	return out
}

// saLegacy sends legacy commands (what gocent would send for methods it has
// no helper for) and returns the decoded reply lines.
func saLegacy(t *testing.T, srv *harness.Server, cmds ...map[string]any) []gocent.Reply {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, c := range cmds {
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
	}
	status, body := rawHTTP(t, http.MethodPost, srv.BaseURL+"/api",
		http.Header{"Authorization": {"apikey " + harness.APIKey}, "Content-Type": {"application/json"}}, buf.String())
	if status != 200 {
		t.Fatalf("POST /api: HTTP %d %q", status, body)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	var out []gocent.Reply
	for dec.More() {
		var r gocent.Reply
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("POST /api reply %q: %v", body, err)
		}
		out = append(out, r)
	}
	if len(out) != len(cmds) {
		t.Fatalf("POST /api: %d replies for %d commands: %q", len(out), len(cmds), body)
	}
	return out
}

func (d saGocent) refresh(t *testing.T, params map[string]any) {
	t.Helper()
	r := saLegacy(t, d.srv, map[string]any{"method": "refresh", "params": params})[0]
	if r.Error != nil || string(r.Result) != "{}" {
		t.Fatalf("legacy refresh: error %v result %s, want result {}", r.Error, r.Result)
	}
}

func (d saGocent) rpc(t *testing.T, method string) *harness.APIError {
	t.Helper()
	r := saLegacy(t, d.srv, map[string]any{"method": "rpc", "params": map[string]any{"method": method, "params": map[string]any{"x": 1}}})[0]
	if r.Error == nil {
		return nil
	}
	return &harness.APIError{Code: uint32(r.Error.Code), Message: r.Error.Message}
}

// ---------------------------------------------------------------------------

// saClient is a connected SDK client with its logs.
type saClient struct {
	c   *centrifuge.Client
	log *eventLog
	ss  *saServerSide
	id  string
}

func saConnect(t *testing.T, srv *harness.Server, proto protocolKind, token string) *saClient {
	t.Helper()
	c, log := newClient(t, srv, proto, centrifuge.Config{Token: token})
	ss := saWatch(c)
	ev := connectAndWait(t, c, log)
	return &saClient{c: c, log: log, ss: ss, id: ev.ClientID}
}

func saServerPubs(ss *saServerSide, channel string) []centrifuge.ServerPublicationEvent {
	var out []centrifuge.ServerPublicationEvent
	for _, e := range eventsOf[centrifuge.ServerPublicationEvent](ss.log) {
		if e.Channel == channel {
			out = append(out, e)
		}
	}
	return out
}

// TestServerAPIMethods runs every server API method through gocent (legacy
// /api) and through POST /api/<method> against a server with a JSON client
// (alice) and a Protobuf client (bob) connected, and checks what each call
// does to them.
func TestServerAPIMethods(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"gocent", "http"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, saConfig())
			var d saDriver = saHTTP{srv}
			if mode == "gocent" {
				d = newSAGocent(srv)
			}
			alice := saConnect(t, srv, protoJSON, saToken(t, "alice", map[string]any{"name": "Alice"}))
			bob := saConnect(t, srv, protoProtobuf, saToken(t, "bob", nil))
			aRoom := newSubscription(t, alice.c, "hist:room")
			subscribeAndWait(t, aRoom)
			bRoom := newSubscription(t, bob.c, "hist:room")
			subscribeAndWait(t, bRoom)
			bChat := newSubscription(t, bob.c, "chat:b")
			subscribeAndWait(t, bChat)

			// publish → both subscribers, offset 1 in a fresh stream.
			off, epoch := d.publish(t, "hist:room", `{"n":1}`)
			if off != 1 || epoch == "" {
				t.Errorf("publish result offset %d epoch %q, want offset 1 and an epoch", off, epoch)
			}
			for _, s := range []*subscription{aRoom, bRoom} {
				p := s.nextPublication(t, 5*time.Second)
				if !saJSONEq(p.Data, []byte(`{"n":1}`)) || p.Offset != 1 {
					t.Errorf("%s: publication %s offset %d, want {\"n\":1} offset 1", s.Channel, p.Data, p.Offset)
				}
			}
			// publish into a channel without history → no offset.
			if off, ep := d.publish(t, "chat:b", `{"n":"c1"}`); off != 0 || ep != "" {
				t.Errorf("publish without history: offset %d epoch %q, want none", off, ep)
			}
			if p := bChat.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"n":"c1"}`)) {
				t.Errorf("chat:b publication %s", p.Data)
			}

			// broadcast → per-channel responses in order.
			resps := d.broadcast(t, []string{"hist:room", "chat:b", "nope:x"}, `{"n":2}`)
			if len(resps) != 3 {
				t.Fatalf("broadcast: %d responses, want 3: %+v", len(resps), resps)
			}
			if resps[0].Err != nil || resps[0].Offset != 2 || resps[0].Epoch != epoch {
				t.Errorf("broadcast[hist:room] = %+v, want offset 2 epoch %q", resps[0], epoch)
			}
			if resps[1].Err != nil || resps[1].Offset != 0 {
				t.Errorf("broadcast[chat:b] = %+v, want an empty result", resps[1])
			}
			if resps[2].Err == nil || resps[2].Err.Code != 102 {
				t.Errorf("broadcast[nope:x] = %+v, want error 102", resps[2])
			}
			for _, s := range []*subscription{aRoom, bRoom, bChat} {
				if p := s.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"n":2}`)) {
					t.Errorf("%s: broadcast publication %s", s.Channel, p.Data)
				}
			}

			// subscribe (by user, with data) → subscribe push with that data.
			d.subscribe(t, "alice", "locked:srv", "", `{"hello":"alice"}`)
			ev := waitEvent[centrifuge.ServerSubscribedEvent](t, alice.ss.log, 5*time.Second, "API subscribe alice", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "locked:srv" })
			if !saJSONEq(ev.Data, []byte(`{"hello":"alice"}`)) {
				t.Errorf("server-side subscribed data %q, want {\"hello\":\"alice\"}", ev.Data)
			}
			// subscribe (one connection by client ID).
			d.subscribe(t, "bob", "locked:one", bob.id, "")
			waitEvent[centrifuge.ServerSubscribedEvent](t, bob.ss.log, 5*time.Second, "API subscribe bob by client", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "locked:one" })
			d.publish(t, "locked:srv", `{"srv":1}`)
			d.publish(t, "locked:one", `{"one":1}`)
			pa := saWaitN[centrifuge.ServerPublicationEvent](t, alice.ss.log, 1, 5*time.Second, "locked:srv publication", func(e centrifuge.ServerPublicationEvent) bool { return e.Channel == "locked:srv" })
			if !saJSONEq(pa[0].Data, []byte(`{"srv":1}`)) {
				t.Errorf("alice server-side publication %s", pa[0].Data)
			}
			pb := saWaitN[centrifuge.ServerPublicationEvent](t, bob.ss.log, 1, 5*time.Second, "locked:one publication", func(e centrifuge.ServerPublicationEvent) bool { return e.Channel == "locked:one" })
			if !saJSONEq(pb[0].Data, []byte(`{"one":1}`)) {
				t.Errorf("bob server-side publication %s", pb[0].Data)
			}
			if n := len(saServerPubs(bob.ss, "locked:srv")); n != 0 {
				t.Errorf("bob received %d publications of alice's server-side channel", n)
			}

			// presence / presence_stats.
			pres := d.presence(t, "hist:room")
			if len(pres) != 2 {
				t.Errorf("presence has %d entries, want 2: %+v", len(pres), pres)
			}
			if a, ok := pres[alice.id]; !ok || a.User != "alice" || a.Client != alice.id || !saJSONEq(a.ConnInfo, []byte(`{"name":"Alice"}`)) {
				t.Errorf("presence[alice %s] = %+v (conn_info %s), want user alice, conn_info {\"name\":\"Alice\"}", alice.id, a, a.ConnInfo)
			}
			if b, ok := pres[bob.id]; !ok || b.User != "bob" || b.Client != bob.id || len(b.ConnInfo) != 0 {
				t.Errorf("presence[bob %s] = %+v (conn_info %s), want user bob without conn_info", bob.id, b, b.ConnInfo)
			}
			if nc, nu := d.presenceStats(t, "hist:room"); nc != 2 || nu != 2 {
				t.Errorf("presence_stats = %d clients %d users, want 2 2", nc, nu)
			}

			// history.
			h := d.history(t, "hist:room", -1, false)
			if h.Offset != 2 || h.Epoch != epoch || len(h.Pubs) != 2 ||
				h.Pubs[0].Offset != 1 || !saJSONEq(h.Pubs[0].Data, []byte(`{"n":1}`)) ||
				h.Pubs[1].Offset != 2 || !saJSONEq(h.Pubs[1].Data, []byte(`{"n":2}`)) {
				t.Errorf("history(-1) = %+v, want n1@1, n2@2, offset 2, epoch %q", h, epoch)
			}
			if h := d.history(t, "hist:room", 0, false); len(h.Pubs) != 0 || h.Offset != 2 || h.Epoch != epoch {
				t.Errorf("history(0) = %+v, want position only (offset 2)", h)
			}
			if h := d.history(t, "hist:room", 1, true); len(h.Pubs) != 1 || h.Pubs[0].Offset != 2 {
				t.Errorf("history(1, reverse) = %+v, want only offset 2", h)
			}

			// channels.
			chans := d.channels(t, "")
			for ch, n := range map[string]int{"hist:room": 2, "chat:b": 1, "locked:srv": 1, "locked:one": 1} {
				got, ok := chans[ch]
				if !ok || (got != -1 && got != n) {
					t.Errorf("channels[%s] = %d (present %v), want %d; all: %v", ch, got, ok, n, chans)
				}
			}
			if len(chans) != 4 {
				t.Errorf("channels = %v, want 4 channels", chans)
			}
			if chans := d.channels(t, "hist:*"); len(chans) != 1 || chans["hist:room"] == 0 {
				t.Errorf("channels(hist:*) = %v, want only hist:room", chans)
			}

			// info (the node's own counters may lag by a few seconds).
			deadline := time.Now().Add(8 * time.Second)
			for {
				nodes := d.info(t)
				if len(nodes) == 1 && nodes[0].NumClients == 2 && nodes[0].NumUsers == 2 && nodes[0].NumChannels == 4 && nodes[0].Version != "" && nodes[0].Name != "" {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("info nodes = %+v, want one node with 2 clients, 2 users, 4 channels, name and version", nodes)
					break
				}
				time.Sleep(200 * time.Millisecond)
			}

			// history_remove: publications gone, position kept.
			d.historyRemove(t, "hist:room")
			if h := d.history(t, "hist:room", -1, false); len(h.Pubs) != 0 || h.Offset != 2 || h.Epoch != epoch {
				t.Errorf("history after history_remove = %+v, want no publications, offset 2, epoch %q", h, epoch)
			}

			// unsubscribe: client-side subscription → 2000; server-side → server unsubscribed.
			d.unsubscribe(t, "alice", "hist:room", "")
			un := waitEvent[centrifuge.UnsubscribedEvent](t, aRoom.log, 5*time.Second, "API unsubscribe alice", nil)
			if un.Code != 2000 || un.Reason != "server unsubscribe" {
				t.Errorf("unsubscribed %d %q, want 2000 \"server unsubscribe\"", un.Code, un.Reason)
			}
			d.unsubscribe(t, "alice", "locked:srv", "")
			waitEvent[centrifuge.ServerUnsubscribedEvent](t, alice.ss.log, 5*time.Second, "API unsubscribe server-side", func(e centrifuge.ServerUnsubscribedEvent) bool { return e.Channel == "locked:srv" })
			if nc, nu := d.presenceStats(t, "hist:room"); nc != 1 || nu != 1 {
				t.Errorf("presence_stats after unsubscribe = %d %d, want 1 1", nc, nu)
			}
			d.publish(t, "hist:room", `{"n":3}`)
			if p := bRoom.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"n":3}`)) {
				t.Errorf("bob: %s, want {\"n\":3}", p.Data)
			}
			saNoPublicationWithin(t, aRoom, 200*time.Millisecond)
			if bRoom.State() != centrifuge.SubStateSubscribed {
				t.Errorf("bob's subscription state %s after alice's unsubscribe", bRoom.State())
			}

			// rpc: no server-side RPC methods in OSS.
			if e := d.rpc(t, "anything"); e == nil || e.Code != 104 || e.Message != "not found" {
				t.Errorf("rpc error %+v, want 104 \"not found\"", e)
			}

			// refresh expired:true → 3005, the SDK reconnects (token still valid).
			d.refresh(t, map[string]any{"user": "alice", "expired": true})
			ce := waitEvent[centrifuge.ConnectingEvent](t, alice.log, 5*time.Second, "refresh expired", func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
			if ce.Code != 3005 {
				t.Errorf("after refresh expired: connecting %d %q, want 3005", ce.Code, ce.Reason)
			}
			saWaitN[centrifuge.ConnectedEvent](t, alice.log, 2, 5*time.Second, "alice reconnected", nil)
			aliceID2 := eventsOf[centrifuge.ConnectedEvent](alice.log)[1].ClientID

			// disconnect with a whitelist keeps the listed client.
			bob2 := saConnect(t, srv, protoJSON, saToken(t, "bob", nil))
			d.disconnect(t, "bob", "", 4501, "bye bob", []string{bob.id})
			dis := waitEvent[centrifuge.DisconnectedEvent](t, bob2.log, 5*time.Second, "bob2 disconnected", nil)
			if dis.Code != 4501 || dis.Reason != "bye bob" {
				t.Errorf("bob2 disconnected %d %q, want 4501 \"bye bob\"", dis.Code, dis.Reason)
			}
			// disconnect one connection by client ID with a reconnecting code.
			d.disconnect(t, "alice", aliceID2, 4001, "come back", nil)
			ce = waitEvent[centrifuge.ConnectingEvent](t, alice.log, 5*time.Second, "alice 4001", func(e centrifuge.ConnectingEvent) bool { return e.Code == 4001 })
			if ce.Reason != "come back" {
				t.Errorf("alice connecting %d %q, want 4001 \"come back\"", ce.Code, ce.Reason)
			}
			saWaitN[centrifuge.ConnectedEvent](t, alice.log, 3, 5*time.Second, "alice reconnected after 4001", nil)
			// default disconnect: 3503 "force disconnect" (terminal for the SDK).
			if n := len(eventsOf[centrifuge.DisconnectedEvent](bob.log)); n != 0 {
				t.Errorf("whitelisted bob was disconnected: %s", bob.log)
			}
			d.disconnect(t, "bob", "", 0, "", nil)
			dis = waitEvent[centrifuge.DisconnectedEvent](t, bob.log, 5*time.Second, "bob default disconnect", nil)
			if dis.Code != 3503 || dis.Reason != "force disconnect" {
				t.Errorf("default disconnect %d %q, want 3503 \"force disconnect\"", dis.Code, dis.Reason)
			}
		})
	}
}

// TestServerAPIGocentPipe: several gocent commands in one legacy request
// (gocent's Pipe) are answered in order, and their publications are
// delivered in that order.
func TestServerAPIGocentPipe(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, saConfig())
	a := saConnect(t, srv, protoJSON, saToken(t, "alice", nil))
	s := newSubscription(t, a.c, "hist:pipe")
	subscribeAndWait(t, s)
	g := newSAGocent(srv)
	pipe := g.c.Pipe()
	for i := 1; i <= 5; i++ {
		if err := pipe.AddPublish("hist:pipe", []byte(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	_ = pipe.AddPresenceStats("hist:pipe")
	_ = pipe.AddPublish("nope:x", []byte(`{}`))
	_ = pipe.AddHistory("hist:pipe", gocent.WithLimit(-1))
	replies, err := g.c.SendPipe(saCtx(t), pipe)
	if err != nil {
		t.Fatalf("SendPipe: %v", err)
	}
	for i := 0; i < 5; i++ {
		var r gocent.PublishResult
		if replies[i].Error != nil || json.Unmarshal(replies[i].Result, &r) != nil || r.Offset != uint64(i+1) {
			t.Errorf("reply %d: error %v result %s, want offset %d", i, replies[i].Error, replies[i].Result, i+1)
		}
	}
	if !saJSONEq(replies[5].Result, []byte(`{"num_clients":1,"num_users":1}`)) {
		t.Errorf("presence_stats reply %s", replies[5].Result)
	}
	if replies[6].Error == nil || replies[6].Error.Code != 102 {
		t.Errorf("publish to unknown namespace: %+v", replies[6])
	}
	var h gocent.HistoryResult
	if err := json.Unmarshal(replies[7].Result, &h); err != nil || len(h.Publications) != 5 || h.Offset != 5 {
		t.Errorf("history reply %s", replies[7].Result)
	}
	for i := 1; i <= 5; i++ {
		if p := s.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(fmt.Sprintf(`{"i":%d}`, i))) {
			t.Errorf("publication %d: %s", i, p.Data)
		}
	}
}

// TestServerAPIPublishDetails: b64data to a Protobuf client (raw bytes) and
// to a JSON client (base64 of JSON), tags, idempotency_key, skip_history,
// exact JSON shapes of the results.
func TestServerAPIPublishDetails(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, saConfig())
	pb := saConnect(t, srv, protoProtobuf, saToken(t, "bob", nil))
	js := saConnect(t, srv, protoJSON, saToken(t, "alice", nil))
	pbBin := newSubscription(t, pb.c, "nohist:bin")
	subscribeAndWait(t, pbBin)
	pbRoom := newSubscription(t, pb.c, "hist:d")
	subscribeAndWait(t, pbRoom)
	jsRoom := newSubscription(t, js.c, "hist:d")
	subscribeAndWait(t, jsRoom)

	// Binary payload to a Protobuf client: delivered byte for byte.
	bin := []byte{0x00, 0x01, 0xfe, 0xff, 'x', 0x80}
	if res := srv.MustAPI(t, "publish", map[string]any{"channel": "nohist:bin", "b64data": bin}); string(res) != "{}" {
		t.Errorf("publish b64data result %s, want {}", res)
	}
	if p := pbBin.nextPublication(t, 5*time.Second); !bytes.Equal(p.Data, bin) {
		t.Errorf("protobuf client got %x, want %x", p.Data, bin)
	}
	// b64data takes precedence over data.
	srv.MustAPI(t, "publish", map[string]any{"channel": "nohist:bin", "b64data": []byte("b64 wins"), "data": map[string]any{"data": "loses"}})
	if p := pbBin.nextPublication(t, 5*time.Second); string(p.Data) != "b64 wins" {
		t.Errorf("b64data+data: got %q, want \"b64 wins\"", p.Data)
	}
	// broadcast with b64data.
	srv.MustAPI(t, "broadcast", map[string]any{"channels": []string{"nohist:bin", "nohist:other"}, "b64data": []byte{0xca, 0xfe}})
	if p := pbBin.nextPublication(t, 5*time.Second); !bytes.Equal(p.Data, []byte{0xca, 0xfe}) {
		t.Errorf("broadcast b64data: protobuf client got %x, want cafe", p.Data)
	}
	// Base64 of a JSON document to a JSON client, with tags.
	res := srv.MustAPI(t, "publish", map[string]any{"channel": "hist:d", "b64data": []byte(`{"via":"b64"}`), "tags": map[string]string{"k": "v"}})
	var pr struct {
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	}
	if err := json.Unmarshal(res, &pr); err != nil || pr.Offset != 1 || pr.Epoch == "" || !saJSONEq(res, []byte(fmt.Sprintf(`{"offset":1,"epoch":%q}`, pr.Epoch))) {
		t.Errorf("publish result %s, want exactly {\"offset\":1,\"epoch\":…}", res)
	}
	for _, s := range []*subscription{jsRoom, pbRoom} {
		p := s.nextPublication(t, 5*time.Second)
		if !saJSONEq(p.Data, []byte(`{"via":"b64"}`)) || p.Tags["k"] != "v" || p.Offset != 1 {
			t.Errorf("%s: %s tags %v offset %d, want {\"via\":\"b64\"} tags k=v offset 1", s.Channel, p.Data, p.Tags, p.Offset)
		}
	}
	// idempotency_key: the second publish with the same key is not delivered
	// again and returns the first result.
	r1 := srv.MustAPI(t, "publish", map[string]any{"channel": "hist:d", "data": map[string]any{"idem": 1}, "idempotency_key": "k1"})
	r2 := srv.MustAPI(t, "publish", map[string]any{"channel": "hist:d", "data": map[string]any{"idem": 2}, "idempotency_key": "k1"})
	if !saJSONEq(r1, r2) {
		t.Errorf("idempotent publish results differ: %s vs %s", r1, r2)
	}
	if p := jsRoom.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"idem":1}`)) {
		t.Errorf("idempotent publish delivered %s", p.Data)
	}
	// skip_history: delivered, not stored.
	srv.MustAPI(t, "publish", map[string]any{"channel": "hist:d", "data": map[string]any{"skip": 1}, "skip_history": true})
	if p := jsRoom.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"skip":1}`)) {
		t.Errorf("skip_history publication %s", p.Data)
	}
	saNoPublicationWithin(t, jsRoom, 200*time.Millisecond)
	// History: exact API publication shape (data, offset, tags; no info).
	hres := srv.MustAPI(t, "history", map[string]any{"channel": "hist:d", "limit": -1})
	want := fmt.Sprintf(`{"publications":[{"data":{"via":"b64"},"offset":1,"tags":{"k":"v"}},{"data":{"idem":1},"offset":2}],"epoch":%q,"offset":2}`, pr.Epoch)
	if !saJSONEq(hres, []byte(want)) {
		t.Errorf("history = %s\nwant      %s", hres, want)
	}
	// Empty history result shape.
	if res := srv.MustAPI(t, "history", map[string]any{"channel": "hist:empty"}); !strings.Contains(string(res), `"publications":[]`) || !strings.Contains(string(res), `"offset":0`) || !strings.Contains(string(res), `"epoch":"`) {
		t.Errorf("empty history = %s, want publications [] with epoch and offset 0 present", res)
	}
}

// TestServerAPISubscribeDetails: API subscribe with info/b64data shows up in
// presence chan_info and in the SDK's subscribed data (Protobuf, raw bytes);
// presence/presence_stats/channels exact result shapes.
func TestServerAPISubscribeDetails(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, saConfig())
	pb := saConnect(t, srv, protoProtobuf, saToken(t, "bob", map[string]any{"c": 1}))
	srv.MustAPI(t, "subscribe", map[string]any{"user": "bob", "channel": "hist:s", "info": map[string]any{"chan": "info"}, "b64data": []byte{0xde, 0xad, 0xbe, 0xef}})
	ev := waitEvent[centrifuge.ServerSubscribedEvent](t, pb.ss.log, 5*time.Second, "subscribe with b64data", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "hist:s" })
	if !bytes.Equal(ev.Data, []byte{0xde, 0xad, 0xbe, 0xef}) {
		t.Errorf("subscribe push data %x, want deadbeef", ev.Data)
	}
	pres := srv.MustAPI(t, "presence", map[string]any{"channel": "hist:s"})
	want := fmt.Sprintf(`{"presence":{%q:{"user":"bob","client":%q,"conn_info":{"c":1},"chan_info":{"chan":"info"}}}}`, pb.id, pb.id)
	if !saJSONEq(pres, []byte(want)) {
		t.Errorf("presence = %s\nwant       %s", pres, want)
	}
	if st := srv.MustAPI(t, "presence_stats", map[string]any{"channel": "hist:s"}); !saJSONEq(st, []byte(`{"num_clients":1,"num_users":1}`)) {
		t.Errorf("presence_stats = %s", st)
	}
	if st := srv.MustAPI(t, "presence_stats", map[string]any{"channel": "hist:nobody"}); !saJSONEq(st, []byte(`{"num_clients":0,"num_users":0}`)) {
		t.Errorf("presence_stats of an empty channel = %s, want zeros present", st)
	}
	if pr := srv.MustAPI(t, "presence", map[string]any{"channel": "hist:nobody"}); !saJSONEq(pr, []byte(`{"presence":{}}`)) {
		t.Errorf("presence of an empty channel = %s, want {\"presence\":{}}", pr)
	}
	if ch := srv.MustAPI(t, "channels", map[string]any{}); !saJSONEq(ch, []byte(`{"channels":{"hist:s":{"num_clients":1}}}`)) {
		t.Errorf("channels = %s", ch)
	}
	if ch := srv.MustAPI(t, "channels", map[string]any{"pattern": "nothing*"}); !saJSONEq(ch, []byte(`{"channels":{}}`)) {
		t.Errorf("channels(nothing*) = %s, want {\"channels\":{}}", ch)
	}
	// Presence on a namespace without presence → 108.
	if r := srv.API(t, "presence", map[string]any{"channel": "chat:x"}); r.Error == nil || r.Error.Code != 108 {
		t.Errorf("presence without presence enabled: %s, want error 108", r.Body)
	}
	if r := srv.API(t, "history", map[string]any{"channel": "chat:x"}); r.Error == nil || r.Error.Code != 108 {
		t.Errorf("history without history enabled: %s, want error 108", r.Body)
	}
}

// TestServerAPIRefresh: refresh with expire_at keeps a connection whose token
// expiry has passed alive; refresh with info replaces the connection info
// seen in its publications; the connection that is not refreshed is closed
// with 3005.
func TestServerAPIRefresh(t *testing.T) {
	t.Parallel()
	cfg := saConfig()
	cfg.Set("client.expired_close_delay", "200ms")
	srv := harness.Start(t, cfg)
	noToken := func(centrifuge.ConnectionTokenEvent) (string, error) {
		return "", fmt.Errorf("no new token in this test")
	}
	tok := func(user string) string {
		return harness.Token(t, harness.HMACSecret, jwt.MapClaims{"sub": user, "exp": time.Now().Add(2 * time.Second).Unix(), "info": map[string]any{"v": 1}})
	}
	keptC, keptLog := newClient(t, srv, protoJSON, centrifuge.Config{Token: tok("kept"), GetToken: noToken})
	kept := &saClient{c: keptC, log: keptLog}
	kept.id = connectAndWait(t, keptC, keptLog).ClientID
	lostC, lostLog := newClient(t, srv, protoJSON, centrifuge.Config{Token: tok("lost"), GetToken: noToken})
	connectAndWait(t, lostC, lostLog)
	start := time.Now()

	srv.MustAPI(t, "refresh", map[string]any{"user": "kept", "expire_at": time.Now().Add(time.Hour).Unix(), "info": map[string]any{"v": 2}})

	lost := waitEvent[centrifuge.ConnectingEvent](t, lostLog, 6*time.Second, "unrefreshed connection closed", func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
	if lost.Code != 3005 {
		t.Errorf("unrefreshed connection: connecting %d %q, want 3005", lost.Code, lost.Reason)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("unrefreshed connection closed after %v, before its token expired", el)
	}
	time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
	if n := len(eventsOf[centrifuge.ConnectingEvent](keptLog)) + len(eventsOf[centrifuge.DisconnectedEvent](keptLog)); n != 1 {
		t.Errorf("refreshed connection was dropped:\n%s", keptLog)
	}
	// The refreshed info is what publications of this connection carry.
	watcher := saConnect(t, srv, protoJSON, saToken(t, "watcher", nil))
	ws := newSubscription(t, watcher.c, "chat:info")
	subscribeAndWait(t, ws)
	ks := newSubscription(t, keptC, "chat:info")
	subscribeAndWait(t, ks)
	if _, err := ks.Publish(saCtx(t), []byte(`{"from":"kept"}`)); err != nil {
		t.Fatalf("publish: %v", err)
	}
	p := ws.nextPublication(t, 5*time.Second)
	if p.Info == nil || p.Info.User != "kept" || p.Info.Client != kept.id || !saJSONEq(p.Info.ConnInfo, []byte(`{"v":2}`)) {
		t.Errorf("publication info %+v, want user kept, conn_info {\"v\":2}", p.Info)
	}
}

// TestServerAPIBatch: /api/batch runs commands sequentially (publications
// delivered in command order, replies in order, errors per command) and in
// parallel (replies still in command order).
func TestServerAPIBatch(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, saConfig())
	a := saConnect(t, srv, protoJSON, saToken(t, "alice", nil))
	s := newSubscription(t, a.c, "hist:batch")
	subscribeAndWait(t, s)

	var cmds []any
	for i := 1; i <= 10; i++ {
		cmds = append(cmds, map[string]any{"publish": map[string]any{"channel": "hist:batch", "data": map[string]any{"i": i}}})
	}
	cmds = append(cmds,
		map[string]any{"history": map[string]any{"channel": "hist:batch", "limit": -1}},
		map[string]any{"publish": map[string]any{"channel": "nope:x", "data": map[string]any{}}},
		map[string]any{},
		map[string]any{"presence_stats": map[string]any{"channel": "hist:batch"}},
		map[string]any{"broadcast": map[string]any{"channels": []string{"hist:batch"}, "data": map[string]any{"i": 11}}},
		map[string]any{"info": map[string]any{}},
		map[string]any{"rpc": map[string]any{"method": "x"}},
	)
	// The batch response is the bare {"replies":[…]} object (no "result").
	batch := func(body any) []byte {
		t.Helper()
		r := srv.API(t, "batch", body)
		if r.Status != 200 {
			t.Fatalf("/api/batch: HTTP %d %q", r.Status, r.Body)
		}
		return r.Body
	}
	res := batch(map[string]any{"commands": cmds})
	var r struct {
		Replies []map[string]json.RawMessage `json:"replies"`
	}
	if err := json.Unmarshal(res, &r); err != nil || len(r.Replies) != len(cmds) {
		t.Fatalf("batch result %s: %d replies, want %d (%v)", res, len(r.Replies), len(cmds), err)
	}
	for i := 0; i < 10; i++ {
		want := fmt.Sprintf(`{"publish":{"offset":%d,"epoch":`, i+1)
		got, _ := json.Marshal(r.Replies[i])
		if !strings.HasPrefix(string(got), want) {
			t.Errorf("reply %d = %s, want %s…", i, got, want)
		}
	}
	var hist struct {
		Publications []json.RawMessage `json:"publications"`
		Offset       uint64            `json:"offset"`
	}
	if err := json.Unmarshal(r.Replies[10]["history"], &hist); err != nil || len(hist.Publications) != 10 || hist.Offset != 10 {
		t.Errorf("history reply %s: want the 10 publications made before it", r.Replies[10]["history"])
	}
	if e := string(r.Replies[11]["error"]); !saJSONEq([]byte(e), []byte(`{"code":102,"message":"unknown channel"}`)) {
		t.Errorf("reply 11 = %v, want error 102", r.Replies[11])
	}
	if e := string(r.Replies[12]["error"]); !saJSONEq([]byte(e), []byte(`{"code":104,"message":"not found"}`)) {
		t.Errorf("empty command reply = %v, want error 104 not found", r.Replies[12])
	}
	if ps := r.Replies[13]["presence_stats"]; !saJSONEq(ps, []byte(`{"num_clients":1,"num_users":1}`)) {
		t.Errorf("presence_stats reply %s", ps)
	}
	if b := string(r.Replies[14]["broadcast"]); !strings.Contains(b, `"offset":11`) {
		t.Errorf("broadcast reply %s, want offset 11", b)
	}
	if _, ok := r.Replies[15]["info"]; !ok {
		t.Errorf("info reply %v", r.Replies[15])
	}
	if e := string(r.Replies[16]["error"]); !saJSONEq([]byte(e), []byte(`{"code":104,"message":"not found"}`)) {
		t.Errorf("rpc reply = %v, want error 104", r.Replies[16])
	}
	for i := 1; i <= 11; i++ {
		if p := s.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(fmt.Sprintf(`{"i":%d}`, i))) || p.Offset != uint64(i) {
			t.Errorf("publication %d: %s offset %d", i, p.Data, p.Offset)
		}
	}

	// Parallel: 20 publishes to 20 channels; replies in command order.
	var pcmds []any
	var subs []*subscription
	for i := 0; i < 20; i++ {
		ch := fmt.Sprintf("hist:p%d", i)
		if i < 3 {
			sub := newSubscription(t, a.c, ch)
			subscribeAndWait(t, sub)
			subs = append(subs, sub)
		}
		pcmds = append(pcmds, map[string]any{"publish": map[string]any{"channel": ch, "data": map[string]any{"p": i}}})
		if i%5 == 4 {
			pcmds = append(pcmds, map[string]any{"history": map[string]any{"channel": "hist:batch"}})
		}
	}
	res = batch(map[string]any{"commands": pcmds, "parallel": true})
	r.Replies = nil
	if err := json.Unmarshal(res, &r); err != nil || len(r.Replies) != len(pcmds) {
		t.Fatalf("parallel batch result %s: %d replies, want %d", res, len(r.Replies), len(pcmds))
	}
	for i, rep := range r.Replies {
		if i%6 == 5 {
			if h := rep["history"]; !strings.Contains(string(h), `"offset":11`) {
				t.Errorf("parallel reply %d = %v, want a history reply (offset 11)", i, rep)
			}
			continue
		}
		if p := rep["publish"]; !strings.Contains(string(p), `"offset":1,`) {
			t.Errorf("parallel reply %d = %v, want a publish reply with offset 1", i, rep)
		}
	}
	for i, sub := range subs {
		if p := sub.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(fmt.Sprintf(`{"p":%d}`, i))) {
			t.Errorf("%s: %s", sub.Channel, p.Data)
		}
	}
}

// TestServerAPIBadInput: malformed bodies, wrong types, oversized bodies,
// unknown methods, missing key, wrong HTTP method, transport error mode; the
// server keeps serving a connected client afterwards.
func TestServerAPIBadInput(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, saConfig())
	a := saConnect(t, srv, protoJSON, saToken(t, "alice", nil))
	s := newSubscription(t, a.c, "chat:bad")
	subscribeAndWait(t, s)
	key := http.Header{"X-Api-Key": {harness.APIKey}, "Content-Type": {"application/json"}}
	post := func(path, body string, extra http.Header) (int, string) {
		h := key.Clone()
		for k, v := range extra {
			h[k] = v
		}
		return rawHTTP(t, http.MethodPost, srv.BaseURL+path, h, body)
	}

	type tc struct {
		name   string
		path   string
		body   string
		status int
		// for 200 replies: the error code expected in the body (0 = result)
		code uint32
	}
	cases := []tc{
		{"malformed JSON", "/api/publish", `{"channel":"chat:bad","data":`, 400, 0},
		{"not an object", "/api/publish", `[1,2,3]`, 400, 0},
		{"channel is a number", "/api/publish", `{"channel":5,"data":{}}`, 400, 0},
		{"channels is a string", "/api/broadcast", `{"channels":"chat:bad","data":{}}`, 400, 0},
		{"limit is a string", "/api/history", `{"channel":"hist:x","limit":"ten"}`, 400, 0},
		{"b64data not base64", "/api/publish", `{"channel":"chat:bad","b64data":"!!!"}`, 200, 107},
		{"data invalid JSON inside", "/api/publish", `{"channel":"chat:bad","data":{x}}`, 400, 0},
		{"trailing garbage", "/api/info", `{} x`, 400, 0},
		{"empty body", "/api/info", ``, 400, 0},
		{"batch command not an object", "/api/batch", `{"commands":[1]}`, 400, 0},
		{"legacy malformed", "/api", `{"method":"publish","params":`, 400, 0},
		{"legacy unknown method name", "/api", `{"method":"no_such","params":{}}`, 400, 0},
		{"legacy empty", "/api", ``, 400, 0},
		{"rpc empty method", "/api/rpc", `{"method":""}`, 200, 107},
		{"subscribe empty channel", "/api/subscribe", `{"user":"alice","channel":""}`, 200, 107},
		{"subscribe unknown namespace", "/api/subscribe", `{"user":"alice","channel":"nope:x"}`, 200, 102},
		{"unsubscribe unknown namespace", "/api/unsubscribe", `{"user":"alice","channel":"nope:x"}`, 200, 102},
		{"presence empty channel", "/api/presence", `{}`, 200, 107},
		{"history_remove without history", "/api/history_remove", `{"channel":"chat:bad"}`, 200, 108},
		{"history unrecoverable epoch", "/api/history", `{"channel":"hist:x","since":{"offset":0,"epoch":"wrong"},"limit":-1}`, 200, 112},
		{"limit is a float", "/api/history", `{"channel":"hist:x","limit":1.5}`, 400, 0},
		{"limit overflows int32", "/api/history", `{"channel":"hist:x","limit":99999999999}`, 400, 0},
		{"b64data empty", "/api/publish", `{"channel":"chat:bad","b64data":""}`, 200, 107},
		{"duplicate key, last wins", "/api/publish", `{"channel":"chat:bad","data":{},"channel":""}`, 200, 107},
		// Accepted like Go's encoding/json does: unknown members ignored,
		// member names matched case-insensitively (gocent relies on it).
		{"unknown member", "/api/presence_stats", `{"channel":"hist:x","whatever":[1]}`, 200, 0},
		{"member names in other case", "/api/presence_stats", `{"CHANNEL":"hist:x"}`, 200, 0},
		{"legacy numeric method (9 = info)", "/api", `{"method":9,"params":{}}`, 200, 0},
		{"legacy method in upper case", "/api", `{"method":"PRESENCE_STATS","params":{"channel":"hist:x"}}`, 200, 0},
		{"legacy without method is publish", "/api", `{"params":{"channel":"nope:x","data":{}}}`, 200, 102},
		{"legacy without params", "/api", `{"method":"presence_stats"}`, 200, 107},
	}
	for _, c := range cases {
		status, body := post(c.path, c.body, nil)
		if status != c.status {
			t.Errorf("%s: POST %s %q → HTTP %d %q, want %d", c.name, c.path, c.body, status, body, c.status)
			continue
		}
		if status == 200 {
			var r struct {
				Error  *harness.APIError `json:"error"`
				Result json.RawMessage   `json:"result"`
			}
			err := json.Unmarshal([]byte(body), &r)
			switch {
			case err != nil:
				t.Errorf("%s: body %q is not one JSON reply: %v", c.name, body, err)
			case c.code != 0 && (r.Error == nil || r.Error.Code != c.code):
				t.Errorf("%s: body %q, want error %d", c.name, body, c.code)
			case c.code == 0 && (r.Error != nil || r.Result == nil):
				t.Errorf("%s: body %q, want a result", c.name, body)
			}
		}
	}

	// Unknown method, wrong key, non-POST.
	if st, b := post("/api/no_such_method", `{}`, nil); st != 404 {
		t.Errorf("unknown method: HTTP %d %q, want 404", st, b)
	}
	if st, b := post("/api/connections", `{}`, nil); st != 404 {
		t.Errorf("PRO-only method connections: HTTP %d %q, want 404", st, b)
	}
	if st, b := rawHTTP(t, http.MethodPost, srv.BaseURL+"/api/publish", http.Header{"Content-Type": {"application/json"}}, `{"channel":"chat:bad","data":{}}`); st != 401 || b != "" {
		t.Errorf("missing key: HTTP %d %q, want 401 with an empty body", st, b)
	}
	if st, b := rawHTTP(t, http.MethodPost, srv.BaseURL+"/api", http.Header{"Content-Type": {"application/json"}}, `{"method":"info","params":{}}`); st != 401 {
		t.Errorf("legacy without key: HTTP %d %q, want 401", st, b)
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		if st, b := rawHTTP(t, m, srv.BaseURL+"/api/publish", key, `{"channel":"chat:bad","data":{}}`); st != 405 || b != "" {
			t.Errorf("%s /api/publish: HTTP %d %q, want 405 with an empty body", m, st, b)
		}
	}
	if st, b := rawHTTP(t, http.MethodGet, srv.BaseURL+"/api", key, ``); st != 405 {
		t.Errorf("GET /api: HTTP %d %q, want 405", st, b)
	}
	// The legacy endpoint knows PRO methods by name but does not serve them.
	if st, b := post("/api", `{"method":"connections","params":{}}`, nil); st != 200 || !strings.Contains(b, `"code":104`) {
		t.Errorf("legacy connections: HTTP %d %q, want 200 with error 104", st, b)
	}

	// Transport error mode through the header.
	tm := http.Header{"X-Centrifugo-Error-Mode": {"transport"}}
	tmCases := []struct {
		name, path, body string
		status           int
		body2            string
	}{
		{"unknown channel", "/api/publish", `{"channel":"nope:x","data":{}}`, 404, `{"code":102,"message":"unknown channel"}`},
		{"bad request", "/api/publish", `{"channel":"","data":{}}`, 400, `{"code":107,"message":"bad request"}`},
		{"not available", "/api/history", `{"channel":"chat:bad"}`, 400, `{"code":108,"message":"not available"}`},
		{"not found", "/api/rpc", `{"method":"x"}`, 404, `{"code":104,"message":"not found"}`},
		{"unrecoverable", "/api/history", `{"channel":"hist:x","since":{"offset":0,"epoch":"wrong"}}`, 416, `{"code":112,"message":"unrecoverable position"}`},
		{"success", "/api/publish", `{"channel":"chat:bad","data":{"tm":1}}`, 200, `{"result":{}}`},
	}
	for _, c := range tmCases {
		st, b := post(c.path, c.body, tm)
		if st != c.status || !saJSONEq([]byte(b), []byte(c.body2)) {
			t.Errorf("transport mode %s: HTTP %d %q, want %d %s", c.name, st, b, c.status, c.body2)
		}
	}
	if p := s.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"tm":1}`)) {
		t.Errorf("publication in transport mode: %s", p.Data)
	}
	// Broadcast errors stay inside the 200 response in transport mode.
	if st, b := post("/api/broadcast", `{"channels":["nope:x"],"data":{}}`, tm); st != 200 || !strings.Contains(b, `"code":102`) {
		t.Errorf("transport mode broadcast: HTTP %d %q, want 200 with the per-channel error", st, b)
	}

	// Large body: Centrifugo has no request body limit on the HTTP API
	// (checked up to 256 MiB; it never answers 413), so an 8 MiB publish
	// goes through. (Published into a channel without subscribers: the
	// payload is above client.queue_max_size, which would disconnect them.)
	bigBody := `{"channel":"hist:big","data":{"pad":"` + strings.Repeat("a", saLargeBody) + `"}}`
	if st, b, err := saTryPost(srv.BaseURL+"/api/publish", key, bigBody); err != nil || st != 200 || !strings.Contains(b, `"offset":1`) {
		t.Errorf("%d-byte publish body: HTTP %d %.200q (error %v), want 200 with offset 1", len(bigBody), st, b, err)
	}
	// Still serving.
	srv.MustAPI(t, "publish", map[string]any{"channel": "chat:bad", "data": map[string]any{"still": "ok"}})
	if p := s.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"still":"ok"}`)) {
		t.Errorf("after bad input: %s", p.Data)
	}
	if a.c.State() != centrifuge.StateConnected {
		t.Errorf("client state %s after bad API input", a.c.State())
	}
}

// saTryPost is a POST that reports transport errors instead of failing.
func saTryPost(url string, h http.Header, body string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// saLargeBody is a payload size above common HTTP body limits (fasthttp's
// default is 4 MiB).
const saLargeBody = 8 << 20

// TestServerAPITransportErrorModeConfig: http_api.error_mode "transport" in
// the config applies to every request without the header.
func TestServerAPITransportErrorModeConfig(t *testing.T) {
	t.Parallel()
	cfg := saConfig()
	cfg.Set("http_api.error_mode", "transport")
	srv := harness.Start(t, cfg)
	if r := srv.API(t, "publish", map[string]any{"channel": "nope:x", "data": map[string]any{}}); r.Status != 404 || !saJSONEq(r.Body, []byte(`{"code":102,"message":"unknown channel"}`)) {
		t.Errorf("error_mode transport: HTTP %d %q, want 404 {\"code\":102,…}", r.Status, r.Body)
	}
	if r := srv.API(t, "publish", map[string]any{"channel": "chat:x", "data": map[string]any{}}); r.Status != 200 || string(r.Result) != "{}" {
		t.Errorf("error_mode transport success: HTTP %d %q", r.Status, r.Body)
	}
}

// TestServerAPIConcurrentClients: many concurrent API publishes from several
// goroutines through both endpoints reach a subscriber exactly once each.
func TestServerAPIConcurrentClients(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, saConfig())
	a := saConnect(t, srv, protoProtobuf, saToken(t, "alice", nil))
	s := newSubscription(t, a.c, "chat:conc")
	subscribeAndWait(t, s)
	g := newSAGocent(srv)
	const workers, per = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*per)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				data := fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)
				if w%2 == 0 {
					if _, err := g.c.Publish(context.Background(), "chat:conc", []byte(data)); err != nil {
						errs <- err
					}
					continue
				}
				st, b, err := saTryPost(srv.BaseURL+"/api/publish", http.Header{"X-Api-Key": {harness.APIKey}}, `{"channel":"chat:conc","data":`+data+`}`)
				if err != nil || st != 200 || b != `{"result":{}}` {
					errs <- fmt.Errorf("HTTP %d %q %v", st, b, err)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("publish: %v", err)
	}
	seen := map[string]bool{}
	next := map[int]int{}
	for n := 0; n < workers*per; n++ {
		p := s.nextPublication(t, 5*time.Second)
		var v struct{ W, I int }
		if err := json.Unmarshal(p.Data, &v); err != nil {
			t.Fatalf("publication %q: %v", p.Data, err)
		}
		if seen[string(p.Data)] {
			t.Errorf("duplicate publication %s", p.Data)
		}
		seen[string(p.Data)] = true
		if v.I != next[v.W] {
			t.Errorf("worker %d: got i=%d, want %d (per-publisher order)", v.W, v.I, next[v.W])
		}
		next[v.W] = v.I + 1
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != workers*per {
		t.Errorf("%d distinct publications, want %d", len(keys), workers*per)
	}
}

// saSubWith is newSubscription with a full SubscriptionConfig.
func saSubWith(t *testing.T, c *centrifuge.Client, channel string, cfg centrifuge.SubscriptionConfig) *subscription {
	t.Helper()
	if cfg.MinResubscribeDelay == 0 {
		cfg.MinResubscribeDelay = 100 * time.Millisecond
	}
	if cfg.MaxResubscribeDelay == 0 {
		cfg.MaxResubscribeDelay = 500 * time.Millisecond
	}
	sub, err := c.NewSubscription(channel, cfg)
	if err != nil {
		t.Fatalf("NewSubscription(%q): %v", channel, err)
	}
	s := &subscription{Subscription: sub, log: &eventLog{}, pubs: make(chan centrifuge.Publication, 1024)}
	sub.OnSubscribing(func(e centrifuge.SubscribingEvent) { s.log.add(e) })
	sub.OnSubscribed(func(e centrifuge.SubscribedEvent) { s.log.add(e) })
	sub.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) { s.log.add(e) })
	sub.OnError(func(e centrifuge.SubscriptionErrorEvent) { s.log.add(e) })
	sub.OnPublication(func(e centrifuge.PublicationEvent) {
		select {
		case s.pubs <- e.Publication:
		default:
			s.log.add(fmt.Errorf("publication buffer full, dropped offset %d", e.Offset))
		}
	})
	return s
}

// saExpectSub subscribes and checks the outcome: code 0 → subscribed;
// otherwise unsubscribed with that code and never subscribed.
func saExpectSub(t *testing.T, s *subscription, code uint32) {
	t.Helper()
	if err := s.Subscribe(); err != nil {
		t.Fatalf("Subscribe(%q): %v", s.Channel, err)
	}
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if len(eventsOf[centrifuge.SubscribedEvent](s.log)) > 0 {
				return
			}
			if len(eventsOf[centrifuge.UnsubscribedEvent](s.log)) > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("%s: want subscribed; events:\n%s", s.Channel, s.log)
		return
	}
	un := waitEvent[centrifuge.UnsubscribedEvent](t, s.log, 5*time.Second, "unsubscribed from "+s.Channel, nil)
	if un.Code != code {
		t.Errorf("%s: unsubscribed with code %d %q, want %d; events:\n%s", s.Channel, un.Code, un.Reason, code, s.log)
	}
	if n := len(eventsOf[centrifuge.SubscribedEvent](s.log)); n != 0 {
		t.Errorf("%s: subscribed although %d expected:\n%s", s.Channel, code, s.log)
	}
}
