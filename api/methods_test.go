package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// allAPIPaths are every path the Handler serves under the API key.
var allAPIPaths = []string{
	"/api", "/api/publish", "/api/broadcast", "/api/subscribe", "/api/unsubscribe",
	"/api/disconnect", "/api/refresh", "/api/presence", "/api/presence_stats", "/api/history",
	"/api/history_remove", "/api/channels", "/api/info", "/api/rpc", "/api/batch",
}

func TestEveryPathEnforcesMethodAuthAndBody(t *testing.T) {
	t.Parallel()
	node := &fakeNode{}
	h := newTestHandler(Config{MaxBodySize: 32}, node)
	for _, path := range allAPIPaths {
		for _, m := range []string{"GET", "PUT", "HEAD"} {
			resp := serve(t, h, request{method: m, uri: path, body: "{}"})
			if resp.status != 405 || resp.body != "" || resp.contentType != "" {
				t.Errorf("%s %s: %d %q", m, path, resp.status, resp.body)
			}
		}
		if resp := serve(t, h, request{uri: path, body: "{}"}); resp.status != 401 || resp.body != "" {
			t.Errorf("%s without key: %d %q", path, resp.status, resp.body)
		}
		if resp := serve(t, h, request{uri: path, body: "{}", headers: map[string]string{"X-API-Key": "nope"}}); resp.status != 401 {
			t.Errorf("%s wrong key: %d", path, resp.status)
		}
		if resp := serve(t, h, request{uri: path, body: strings.Repeat(" ", 33), headers: authed()}); resp.status != 413 {
			t.Errorf("%s oversize: %d", path, resp.status)
		}
		for _, body := range []string{"", "{", "[]", `"x"`, "1", "{} {}", "{}x"} {
			resp := serve(t, h, request{uri: path, body: body, headers: authed()})
			if path == "/api" && body == "{} {}" {
				continue // two legacy commands: a valid body
			}
			if resp.status != 400 || resp.body != "Bad Request\n" || resp.contentType != "text/plain; charset=utf-8" {
				t.Errorf("%s %q: %d %q %q, want 400", path, body, resp.status, resp.contentType, resp.body)
			}
		}
	}
	if calls := node.serverCalls(); len(calls) != 0 {
		t.Fatalf("node called for refused requests: %+v", calls)
	}
}

// methodCase is one request to a per-method endpoint and what comes back in both
// error modes.
type methodCase struct {
	name string
	path string
	body string
	// want is the body in the default error mode (HTTP 200). For errors, the
	// transport mode body and status are derived from it.
	want string
}

// runMethodCases checks each case in the default error mode and in transport mode.
func runMethodCases(t *testing.T, h *Handler, cases []methodCase) {
	t.Helper()
	for _, tc := range cases {
		resp := serve(t, h, request{uri: tc.path, body: tc.body, headers: authed()})
		if tc.want == "400" || tc.want == "500" {
			want := map[string]string{"400": "Bad Request\n", "500": "Internal Server Error\n"}[tc.want]
			if fmt.Sprint(resp.status) != tc.want || resp.body != want {
				t.Errorf("%s: %d %q, want %s", tc.name, resp.status, resp.body, tc.want)
			}
			continue
		}
		if resp.status != 200 || resp.body != tc.want || resp.contentType != "application/json" {
			t.Errorf("%s:\n got %d %q\nwant 200 %q", tc.name, resp.status, resp.body, tc.want)
		}
		wantStatus, wantBody := 200, tc.want
		var e struct {
			Error *struct {
				Code    uint32 `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(tc.want), &e); err != nil {
			t.Fatalf("%s: bad want %q: %v", tc.name, tc.want, err)
		}
		if e.Error != nil {
			wantStatus = httpStatus(e.Error.Code)
			wantBody = tc.want[len(`{"error":`) : len(tc.want)-1]
		}
		resp = serve(t, h, request{uri: tc.path, body: tc.body, headers: authed("X-Centrifugo-Error-Mode", "transport")})
		if resp.status != wantStatus || resp.body != wantBody || resp.contentType != "application/json" {
			t.Errorf("%s (transport):\n got %d %q\nwant %d %q", tc.name, resp.status, resp.body, wantStatus, wantBody)
		}
	}
}

const (
	resp107 = `{"error":{"code":107,"message":"bad request"}}`
	resp102 = `{"error":{"code":102,"message":"unknown channel"}}`
	resp100 = `{"error":{"code":100,"message":"internal server error"}}`
	resp108 = `{"error":{"code":108,"message":"not available"}}`
	resp104 = `{"error":{"code":104,"message":"not found"}}`
	resp112 = `{"error":{"code":112,"message":"unrecoverable position"}}`
	respOK  = `{"result":{}}`
)

// standardErrs are node errors every channel-keyed test node answers.
func standardErrs() map[string]error {
	return map[string]error{
		"nope:x":   engine.ErrorUnknownChannel,
		"broken":   errFakeInternal,
		"disabled": fmt.Errorf("engine: %w", engine.ErrorNotAvailable),
		"stale":    engine.ErrorUnrecoverablePosition,
		"gone":     engine.ErrorMethodNotFound,
	}
}

func boolp(b bool) *bool { return &b }

func TestSubscribe(t *testing.T) {
	t.Parallel()
	node := &fakeNode{errs: standardErrs()}
	h := newTestHandler(Config{}, node)
	runMethodCases(t, h, []methodCase{
		{"full", "/api/subscribe", `{"user":"42","channel":"chat:1","client":"c1","session":"s1","info":{"a": 1},"data":[1, 2],"expire_at":1700000000,"recover_since":{"offset":7,"epoch":"ep"},"override":{"presence":{"value":true},"join_leave":{},"force_recovery":null,"force_positioning":{"value":false},"force_push_join_leave":{"value":true}},"label_filter":{"op":"and","nodes":[{"key":"k","cmp":"eq","val":"v","vals":["a"]}]},"all_users":true}`, respOK},
		{"minimal anonymous", "/api/subscribe", `{"channel":"news"}`, respOK},
		{"b64 wins", "/api/subscribe", `{"channel":"b64","info":{"x":1},"b64info":"aW5mbw==","data":1,"b64data":"AAH/"}`, respOK},
		{"null raws", "/api/subscribe", `{"channel":"nulls","info":null,"data":null,"override":null,"recover_since":null,"b64info":null}`, respOK},
		{"empty channel", "/api/subscribe", `{"user":"42"}`, resp107},
		{"null body", "/api/subscribe", `null`, resp107},
		{"invalid b64info", "/api/subscribe", `{"channel":"a","b64info":"***"}`, resp107},
		{"invalid b64data", "/api/subscribe", `{"channel":"a","b64data":"a"}`, resp107},
		{"unknown namespace", "/api/subscribe", `{"channel":"nope:x"}`, resp102},
		{"internal", "/api/subscribe", `{"channel":"broken"}`, resp100},
		{"104 takes the API message", "/api/subscribe", `{"channel":"gone"}`, resp104},
		{"override value type", "/api/subscribe", `{"channel":"a","override":{"presence":{"value":1}}}`, "400"},
		{"override not object", "/api/subscribe", `{"channel":"a","override":true}`, "400"},
		{"expire_at type", "/api/subscribe", `{"channel":"a","expire_at":"1"}`, "400"},
		{"recover_since offset type", "/api/subscribe", `{"channel":"a","recover_since":{"offset":-1}}`, "400"},
		{"b64info type", "/api/subscribe", `{"channel":"a","b64info":1}`, "400"},
		{"label_filter type", "/api/subscribe", `{"channel":"a","label_filter":{"vals":"x"}}`, "400"},
	})
	byChannel := map[string]engine.ServerSubscribeRequest{}
	for _, c := range node.serverCalls() {
		r := c.req.(engine.ServerSubscribeRequest)
		byChannel[r.Channel] = r
	}
	full := byChannel["chat:1"]
	want := engine.ServerSubscribeRequest{
		User: "42", Channel: "chat:1", Client: "c1", Session: "s1",
		Info: []byte(`{"a": 1}`), Data: []byte(`[1, 2]`), ExpireAt: 1700000000,
		RecoverSince: &codec.StreamPosition{Offset: 7, Epoch: "ep"},
		Override: &engine.SubscribeOverride{
			Presence: boolp(true), JoinLeave: boolp(false), ForcePositioning: boolp(false), ForcePushJoinLeave: boolp(true),
		},
	}
	if !reflect.DeepEqual(full, want) {
		t.Errorf("full request:\n got %+v\nwant %+v", full, want)
	}
	if r := byChannel["news"]; !reflect.DeepEqual(r, engine.ServerSubscribeRequest{Channel: "news"}) {
		t.Errorf("minimal: %+v", r)
	}
	if r := byChannel["b64"]; string(r.Info) != "info" || string(r.Data) != "\x00\x01\xff" {
		t.Errorf("b64: info %q data %q", r.Info, r.Data)
	}
	if r := byChannel["nulls"]; string(r.Info) != "null" || string(r.Data) != "null" || r.Override != nil || r.RecoverSince != nil {
		t.Errorf("nulls: %+v", r)
	}
	if _, ok := byChannel["a"]; ok {
		t.Error("node called for an invalid request")
	}
}

func TestSubscribeInfoOutlivesBody(t *testing.T) {
	t.Parallel()
	var kept engine.ServerSubscribeRequest
	node := &keepNode{keep: func(r engine.ServerSubscribeRequest) { kept = r }}
	h := New(Config{Insecure: true}, node)
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/api/subscribe")
	ctx.Request.SetBodyString(`{"channel":"c","user":"u","info":{"k":"v"},"data":{"d":1}}`)
	h.ServeHTTP(&ctx)
	if string(ctx.Response.Body()) != respOK {
		t.Fatal(string(ctx.Response.Body()))
	}
	body := ctx.Request.Body()
	for i := range body {
		body[i] = 'X'
	}
	if string(kept.Info) != `{"k":"v"}` || string(kept.Data) != `{"d":1}` || kept.Channel != "c" || kept.User != "u" {
		t.Fatalf("kept request aliases the body: %+v", kept)
	}
}

// keepNode hands every Subscribe request to keep without copying anything.
type keepNode struct {
	baseNode
	keep func(engine.ServerSubscribeRequest)
}

func (n *keepNode) Publish(string, []byte, engine.PublishOptions) (engine.PublishResult, error) {
	return engine.PublishResult{}, nil
}
func (n *keepNode) Info() []engine.NodeInfo { return nil }
func (n *keepNode) Subscribe(r engine.ServerSubscribeRequest) error {
	n.keep(r)
	return nil
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	node := &fakeNode{errs: standardErrs()}
	h := newTestHandler(Config{}, node)
	runMethodCases(t, h, []methodCase{
		{"full", "/api/unsubscribe", `{"user":"42","channel":"chat:1","client":"c","session":"s","label_filter":null,"all_users":false}`, respOK},
		{"empty channel is allowed", "/api/unsubscribe", `{"user":"42"}`, respOK},
		{"unknown namespace", "/api/unsubscribe", `{"channel":"nope:x"}`, resp102},
		{"internal", "/api/unsubscribe", `{"channel":"broken"}`, resp100},
		{"user type", "/api/unsubscribe", `{"user":42}`, "400"},
	})
	calls := node.serverCalls()
	want := []engine.ServerUnsubscribeRequest{
		{User: "42", Channel: "chat:1", Client: "c", Session: "s"},
		{User: "42"},
	}
	for i, w := range want {
		if got := calls[2*i].req; !reflect.DeepEqual(got, w) { // each case ran in both error modes
			t.Errorf("call %d: %+v, want %+v", i, got, w)
		}
	}
}

func TestDisconnect(t *testing.T) {
	t.Parallel()
	node := &fakeNode{errs: map[string]error{"broken": errFakeInternal}}
	h := newTestHandler(Config{}, node)
	runMethodCases(t, h, []methodCase{
		{"default disconnect", "/api/disconnect", `{"user":"42"}`, respOK},
		{"custom", "/api/disconnect", `{"user":"43","client":"c","session":"s","whitelist":["w1","w2"],"disconnect":{"code":4000,"reason":"bye"}}`, respOK},
		{"null disconnect", "/api/disconnect", `{"user":"44","disconnect":null}`, respOK},
		{"empty disconnect object", "/api/disconnect", `{"user":"45","disconnect":{}}`, respOK},
		{"gocent field names", "/api/disconnect", `{"user":"46","Disconnect":{"code":4001,"reason":"r","reconnect":false},"ClientWhitelist":null}`, respOK},
		{"anonymous", "/api/disconnect", `{}`, respOK},
		{"internal", "/api/disconnect", `{"user":"broken"}`, resp100},
		{"code type", "/api/disconnect", `{"user":"1","disconnect":{"code":-1}}`, "400"},
		{"whitelist type", "/api/disconnect", `{"user":"1","whitelist":"a"}`, "400"},
	})
	byUser := map[string]engine.ServerDisconnectRequest{}
	for _, c := range node.serverCalls() {
		r := c.req.(engine.ServerDisconnectRequest)
		byUser[r.User] = r
	}
	force := engine.DisconnectForce
	cases := map[string]engine.ServerDisconnectRequest{
		"42": {User: "42", Disconnect: &force},
		"43": {User: "43", Client: "c", Session: "s", Whitelist: []string{"w1", "w2"}, Disconnect: &engine.Disconnect{Code: 4000, Reason: "bye"}},
		"44": {User: "44", Disconnect: &force},
		"45": {User: "45", Disconnect: &engine.Disconnect{}},
		"46": {User: "46", Disconnect: &engine.Disconnect{Code: 4001, Reason: "r"}},
		"":   {Disconnect: &force},
	}
	for user, want := range cases {
		if got := byUser[user]; !reflect.DeepEqual(got, want) {
			t.Errorf("user %q: %+v (%+v), want %+v", user, got, got.Disconnect, want)
		}
	}
	if force != (engine.Disconnect{Code: 3503, Reason: "force disconnect"}) {
		t.Fatalf("default disconnect is %+v", force)
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	node := &fakeNode{errs: map[string]error{"broken": errFakeInternal}}
	h := newTestHandler(Config{}, node)
	runMethodCases(t, h, []methodCase{
		{"full", "/api/refresh", `{"user":"42","client":"c","session":"s","expired":true,"expire_at":1800000000,"info":{"name": "x"}}`, respOK},
		{"no info", "/api/refresh", `{"user":"43","expire_at":0}`, respOK},
		{"internal", "/api/refresh", `{"user":"broken"}`, resp100},
		{"expired type", "/api/refresh", `{"user":"1","expired":"yes"}`, "400"},
	})
	calls := node.serverCalls()
	want := []engine.ServerRefreshRequest{
		{User: "42", Client: "c", Session: "s", Expired: true, ExpireAt: 1800000000, Info: []byte(`{"name": "x"}`)},
		{User: "43"},
	}
	for i, w := range want {
		if got := calls[2*i].req; !reflect.DeepEqual(got, w) { // each case ran in both error modes
			t.Errorf("call %d: %+v, want %+v", i, got, w)
		}
	}
}

func TestPresence(t *testing.T) {
	t.Parallel()
	node := &fakeNode{
		errs: standardErrs(),
		presence: map[string]map[string]*codec.ClientInfo{
			"chat": {
				"c2": {User: "u<2>", Client: "c2", ConnInfo: []byte(`{ "name" : "Ann & <Bob>" , "x":[1, 2] }`)},
				"c1": {User: "", Client: "c1", ChanInfo: []byte(`"\u2028 ok"`)},
				"c3": {User: "3", Client: "c3", ConnInfo: []byte(`{"a":1}`), ChanInfo: []byte(`true`)},
			},
			"binary": {"c": {User: "u", Client: "c", ConnInfo: []byte("\x00\x01")}},
		},
	}
	h := newTestHandler(Config{}, node)
	runMethodCases(t, h, []methodCase{
		{"sorted, raw compacted and escaped", "/api/presence", `{"channel":"chat"}`,
			`{"result":{"presence":{"c1":{"user":"","client":"c1","chan_info":"\u2028 ok"},"c2":{"user":"u\u003c2\u003e","client":"c2","conn_info":{"name":"Ann \u0026 \u003cBob\u003e","x":[1,2]}},"c3":{"user":"3","client":"c3","conn_info":{"a":1},"chan_info":true}}}}`},
		{"empty", "/api/presence", `{"channel":"empty"}`, `{"result":{"presence":{}}}`},
		{"empty channel", "/api/presence", `{}`, resp107},
		{"unknown namespace", "/api/presence", `{"channel":"nope:x"}`, resp102},
		{"presence disabled", "/api/presence", `{"channel":"disabled"}`, resp108},
		{"internal", "/api/presence", `{"channel":"broken"}`, resp100},
		{"channel type", "/api/presence", `{"channel":1}`, "400"},
		{"invalid raw info", "/api/presence", `{"channel":"binary"}`, "500"},
	})
}

func TestPresenceStats(t *testing.T) {
	t.Parallel()
	node := &fakeNode{errs: standardErrs(), stats: map[string]engine.PresenceStats{"chat": {NumClients: 3, NumUsers: 2}}}
	h := newTestHandler(Config{}, node)
	runMethodCases(t, h, []methodCase{
		{"counts", "/api/presence_stats", `{"channel":"chat"}`, `{"result":{"num_clients":3,"num_users":2}}`},
		{"zeros present", "/api/presence_stats", `{"channel":"none"}`, `{"result":{"num_clients":0,"num_users":0}}`},
		{"empty channel", "/api/presence_stats", `{"channel":""}`, resp107},
		{"unknown namespace", "/api/presence_stats", `{"channel":"nope:x"}`, resp102},
		{"presence disabled", "/api/presence_stats", `{"channel":"disabled"}`, resp108},
		{"internal", "/api/presence_stats", `{"channel":"broken"}`, resp100},
	})
}

func TestHistory(t *testing.T) {
	t.Parallel()
	node := &fakeNode{
		errs: standardErrs(),
		history: map[string]engine.HistoryResult{
			"chat": {Epoch: "ep<1>", Offset: 9, Publications: []*codec.Publication{
				{Data: []byte(`{"text": "hi <b>"}`), Offset: 8, Tags: map[string]string{"z": "1", "a": "&"},
					Info: &codec.ClientInfo{User: "u", Client: "c", ConnInfo: []byte(`{"n":1}`)},
					// fields outside the API Publication are never written
					Delta: true, Time: 5, Channel: "chat", Key: "k", Epoch: "x", PrevData: []byte("{}"), Version: 3},
				{Data: []byte(`2`), Offset: 9},
				{},
			}},
			"binary": {Epoch: "e", Publications: []*codec.Publication{{Data: []byte("\xff"), Offset: 1}}},
		},
	}
	h := newTestHandler(Config{}, node)
	runMethodCases(t, h, []methodCase{
		{"publications", "/api/history", `{"channel":"chat","limit":-1,"since":{"offset":7,"epoch":"ep"},"reverse":true}`,
			`{"result":{"publications":[{"data":{"text":"hi \u003cb\u003e"},"info":{"user":"u","client":"c","conn_info":{"n":1}},"offset":8,"tags":{"a":"\u0026","z":"1"}},{"data":2,"offset":9},{}],"epoch":"ep\u003c1\u003e","offset":9}}`},
		{"position only", "/api/history", `{"channel":"empty"}`, `{"result":{"publications":[],"epoch":"","offset":0}}`},
		{"limit", "/api/history", `{"channel":"lim","limit":5}`, `{"result":{"publications":[],"epoch":"","offset":0}}`},
		{"empty channel", "/api/history", `{"limit":1}`, resp107},
		{"unknown namespace", "/api/history", `{"channel":"nope:x"}`, resp102},
		{"history disabled", "/api/history", `{"channel":"disabled"}`, resp108},
		{"epoch mismatch", "/api/history", `{"channel":"stale","since":{"offset":1,"epoch":"old"}}`, resp112},
		{"internal", "/api/history", `{"channel":"broken"}`, resp100},
		{"limit overflows int32", "/api/history", `{"channel":"a","limit":2147483648}`, "400"},
		{"limit not integer", "/api/history", `{"channel":"a","limit":1.5}`, "400"},
		{"since type", "/api/history", `{"channel":"a","since":[]}`, "400"},
		{"binary data cannot be encoded", "/api/history", `{"channel":"binary","limit":-1}`, "500"},
	})
	var got []engine.HistoryRequest
	for _, c := range node.serverCalls() {
		got = append(got, c.req.(engine.HistoryRequest))
	}
	want := []engine.HistoryRequest{
		{Channel: "chat", Limit: -1, Since: &codec.StreamPosition{Offset: 7, Epoch: "ep"}, Reverse: true},
		{Channel: "empty"},
		{Channel: "lim", Limit: 5},
	}
	for i, w := range want {
		// each case ran twice (both error modes)
		if !reflect.DeepEqual(got[2*i], w) {
			t.Errorf("call %d: %+v, want %+v", i, got[2*i], w)
		}
	}
}

func TestHistoryRemove(t *testing.T) {
	t.Parallel()
	node := &fakeNode{errs: standardErrs()}
	h := newTestHandler(Config{}, node)
	runMethodCases(t, h, []methodCase{
		{"ok", "/api/history_remove", `{"channel":"chat"}`, respOK},
		{"empty channel", "/api/history_remove", `{}`, resp107},
		{"unknown namespace", "/api/history_remove", `{"channel":"nope:x"}`, resp102},
		{"history disabled", "/api/history_remove", `{"channel":"disabled"}`, resp108},
		{"internal", "/api/history_remove", `{"channel":"broken"}`, resp100},
	})
	if c := node.serverCalls()[0]; c.method != "history_remove" || c.req != "chat" {
		t.Fatalf("call %+v", c)
	}
}

func TestChannels(t *testing.T) {
	t.Parallel()
	node := &fakeNode{
		errs:     map[string]error{"[": errFakeInternal},
		channels: map[string]engine.ChannelInfo{"b": {NumClients: 2}, "a&<": {NumClients: 1}, "zero": {}, "é": {NumClients: 4294967295}},
	}
	h := newTestHandler(Config{}, node)
	runMethodCases(t, h, []methodCase{
		{"all", "/api/channels", `{}`, `{"result":{"channels":{"a\u0026\u003c":{"num_clients":1},"b":{"num_clients":2},"zero":{},"é":{"num_clients":4294967295}}}}`},
		{"pattern passed", "/api/channels", `{"pattern":"chat:*"}`, `{"result":{"channels":{"a\u0026\u003c":{"num_clients":1},"b":{"num_clients":2},"zero":{},"é":{"num_clients":4294967295}}}}`},
		{"invalid pattern", "/api/channels", `{"pattern":"["}`, resp100},
		{"pattern type", "/api/channels", `{"pattern":[]}`, "400"},
	})
	empty := newTestHandler(Config{}, &fakeNode{})
	runMethodCases(t, empty, []methodCase{{"none", "/api/channels", `{}`, `{"result":{"channels":{}}}`}})
	if c := node.serverCalls()[2]; c.req != "chat:*" {
		t.Fatalf("pattern %+v", c)
	}
}

func TestRPC(t *testing.T) {
	t.Parallel()
	h := newTestHandler(Config{}, &fakeNode{})
	runMethodCases(t, h, []methodCase{
		{"no method", "/api/rpc", `{"params":{"a":1}}`, resp107},
		{"any method", "/api/rpc", `{"method":"getUser","params":{"id":1}}`, resp104},
		{"method type", "/api/rpc", `{"method":1}`, "400"},
	})
}

// Reference types mirroring Centrifugo's apiproto JSON tags, encoded with
// encoding/json, to check the hand-written appenders byte for byte.
type refRaw []byte

func (r refRaw) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("null"), nil
	}
	return r, nil
}

type refClientInfo struct {
	User     string `json:"user"`
	Client   string `json:"client"`
	ConnInfo refRaw `json:"conn_info,omitempty"`
	ChanInfo refRaw `json:"chan_info,omitempty"`
}

type refPublication struct {
	Data   refRaw            `json:"data,omitempty"`
	Info   *refClientInfo    `json:"info,omitempty"`
	Offset uint64            `json:"offset,omitempty"`
	Tags   map[string]string `json:"tags,omitempty"`
}

type refHistoryResult struct {
	Publications []*refPublication `json:"publications"`
	Epoch        string            `json:"epoch"`
	Offset       uint64            `json:"offset"`
}

type refPresenceResult struct {
	Presence map[string]*refClientInfo `json:"presence"`
}

type refChannelInfo struct {
	NumClients uint32 `json:"num_clients,omitempty"`
}

type refChannelsResult struct {
	Channels map[string]*refChannelInfo `json:"channels"`
}

func toRefInfo(ci *codec.ClientInfo) *refClientInfo {
	if ci == nil {
		return nil
	}
	return &refClientInfo{User: ci.User, Client: ci.Client, ConnInfo: ci.ConnInfo, ChanInfo: ci.ChanInfo}
}

func TestAppendersMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	raws := [][]byte{nil, {}, []byte(`{"a" : [1, 2.5e3, "x<y>&z\u2028"], "b":null}`), []byte(` "s p a c e" `), []byte("\"\u2029\xe2\x80\""), []byte(`[]`), []byte("{\"\\\"\":\"\\\\\"}")}
	strs := []string{"", "plain", "<&>", "é\u2028\xff", `q"\`}
	infos := []*codec.ClientInfo{nil}
	for i, s := range strs {
		infos = append(infos, &codec.ClientInfo{User: s, Client: strs[(i+1)%len(strs)], ConnInfo: raws[i%len(raws)], ChanInfo: raws[(i+3)%len(raws)]})
	}
	// presence
	presence := map[string]*codec.ClientInfo{}
	refPresence := map[string]*refClientInfo{}
	for i, ci := range infos[1:] {
		k := strs[i] + fmt.Sprint(i)
		presence[k], refPresence[k] = ci, toRefInfo(ci)
	}
	got, err := appendPresenceResult(nil, presence)
	want, _ := json.Marshal(refPresenceResult{Presence: refPresence})
	if err != nil || string(got) != string(want) {
		t.Errorf("presence:\n got %s (%v)\nwant %s", got, err, want)
	}
	// history
	var pubs []*codec.Publication
	var refPubs []*refPublication
	for i, raw := range raws {
		p := &codec.Publication{Data: raw, Info: infos[i%len(infos)], Offset: uint64(i * 1000)}
		if i%2 == 0 {
			p.Tags = map[string]string{strs[i%len(strs)]: strs[(i+2)%len(strs)], "k": "v"}
		}
		pubs = append(pubs, p)
		refPubs = append(refPubs, &refPublication{Data: p.Data, Info: toRefInfo(p.Info), Offset: p.Offset, Tags: p.Tags})
	}
	res := engine.HistoryResult{Publications: pubs, Epoch: "e<p>", Offset: 1 << 63}
	got, err = appendHistoryResult(nil, res)
	want, _ = json.Marshal(refHistoryResult{Publications: refPubs, Epoch: res.Epoch, Offset: res.Offset})
	if err != nil || string(got) != string(want) {
		t.Errorf("history:\n got %s (%v)\nwant %s", got, err, want)
	}
	got, _ = appendHistoryResult(nil, engine.HistoryResult{})
	want, _ = json.Marshal(refHistoryResult{Publications: []*refPublication{}})
	if string(got) != string(want) {
		t.Errorf("empty history: %s, want %s", got, want)
	}
	// channels
	chans := map[string]engine.ChannelInfo{}
	refChans := map[string]*refChannelInfo{}
	for i, s := range strs {
		chans[s] = engine.ChannelInfo{NumClients: uint32(i)}
		refChans[s] = &refChannelInfo{NumClients: uint32(i)}
	}
	got = appendChannelsResult(nil, chans)
	want, _ = json.Marshal(refChannelsResult{Channels: refChans})
	if string(got) != string(want) {
		t.Errorf("channels:\n got %s\nwant %s", got, want)
	}
}

func FuzzAppendRawJSON(f *testing.F) {
	for _, s := range []string{`{"a" : 1}`, `"<\u2028>"`, " [ 1 , \"\xe2\x80\xa9\" ] ", `{"\"\\":"\\"}`, "\xff", ``, `nul`, `1 2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := appendRawJSON([]byte("prefix"), raw)
		want, wantErr := json.Marshal(refRaw(raw))
		if len(raw) == 0 {
			return // omitted by omitempty everywhere the API embeds raw JSON
		}
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: err %v, encoding/json err %v", raw, err, wantErr)
		}
		if err != nil {
			return
		}
		if string(got) != "prefix"+string(want) {
			t.Fatalf("%q:\n got %s\nwant prefix%s", raw, got, want)
		}
	})
}
