package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// fakeNode records calls and answers from per-channel tables (the methods other
// than Publish and Info are in fake_node_test.go).
type fakeNode struct {
	mu    sync.Mutex
	calls []fakeCall
	// results and errs are keyed by channel (by user for disconnect and refresh, by
	// pattern for channels); missing → zero result, nil error.
	results map[string]engine.PublishResult
	errs    map[string]error
	info    engine.NodeInfo
	// others are the other nodes Info lists after info.
	others []engine.NodeInfo

	presence map[string]map[string]*codec.ClientInfo
	stats    map[string]engine.PresenceStats
	history  map[string]engine.HistoryResult
	channels map[string]engine.ChannelInfo
	// onCall, when set, runs at the start of every non-publish call with the
	// method name and its key (channel, user or pattern).
	onCall func(method, key string)
	server []serverCall
}

type fakeCall struct {
	channel string
	data    string // copied: data aliases the request body
	opts    engine.PublishOptions
}

func (n *fakeNode) Publish(channel string, data []byte, opts engine.PublishOptions) (engine.PublishResult, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, fakeCall{channel: channel, data: string(data), opts: opts})
	if err := n.errs[channel]; err != nil {
		return engine.PublishResult{}, err
	}
	if len(data) == 0 {
		return engine.PublishResult{}, engine.ErrorBadRequest
	}
	return n.results[channel], nil
}

func (n *fakeNode) Info() []engine.NodeInfo { return append([]engine.NodeInfo{n.info}, n.others...) }

func (n *fakeNode) lastCalls() []fakeCall {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]fakeCall(nil), n.calls...)
}

const testKey = "secret-key"

// request describes one request for serve.
type request struct {
	method  string
	uri     string
	body    string
	headers map[string]string
}

// response is what serve returns.
type response struct {
	status      int
	contentType string
	body        string
	header      *fasthttp.ResponseHeader
}

// serve runs one request through h.ServeHTTP on a fresh RequestCtx.
func serve(t testing.TB, h *Handler, r request) response {
	t.Helper()
	var ctx fasthttp.RequestCtx
	if r.method == "" {
		r.method = fasthttp.MethodPost
	}
	ctx.Request.Header.SetMethod(r.method)
	ctx.Request.SetRequestURI(r.uri)
	for k, v := range r.headers {
		ctx.Request.Header.Set(k, v)
	}
	ctx.Request.SetBodyString(r.body)
	h.ServeHTTP(&ctx)
	var hdr fasthttp.ResponseHeader
	ctx.Response.Header.CopyTo(&hdr)
	return response{
		status:      ctx.Response.StatusCode(),
		contentType: string(ctx.Response.Header.ContentType()),
		body:        string(ctx.Response.Body()),
		header:      &hdr,
	}
}

func authed(headers ...string) map[string]string {
	m := map[string]string{"X-API-Key": testKey}
	for i := 0; i+1 < len(headers); i += 2 {
		m[headers[i]] = headers[i+1]
	}
	return m
}

func newTestHandler(cfg Config, node Node) *Handler {
	if cfg.Key == "" && !cfg.Insecure {
		cfg.Key = testKey
	}
	return New(cfg, node)
}

func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		cfg     Config
		uri     string
		headers map[string]string
		want    int
	}{
		{"x-api-key ok", Config{Key: testKey}, "/api/info", map[string]string{"X-API-Key": testKey}, 200},
		{"x-api-key wrong", Config{Key: testKey}, "/api/info", map[string]string{"X-API-Key": "nope"}, 401},
		{"x-api-key header name case", Config{Key: testKey}, "/api/info", map[string]string{"x-api-key": testKey}, 200},
		{"no credentials", Config{Key: testKey}, "/api/info", nil, 401},
		{"authorization apikey", Config{Key: testKey}, "/api/info", map[string]string{"Authorization": "apikey " + testKey}, 200},
		{"authorization scheme upper", Config{Key: testKey}, "/api/info", map[string]string{"Authorization": "APIKEY " + testKey}, 200},
		{"authorization scheme mixed", Config{Key: testKey}, "/api/info", map[string]string{"Authorization": "ApiKey " + testKey}, 200},
		{"authorization extra spaces", Config{Key: testKey}, "/api/info", map[string]string{"Authorization": "apikey \t  " + testKey}, 200},
		{"authorization three parts", Config{Key: testKey}, "/api/info", map[string]string{"Authorization": "apikey " + testKey + " x"}, 401},
		{"authorization one part", Config{Key: testKey}, "/api/info", map[string]string{"Authorization": testKey}, 401},
		{"authorization other scheme", Config{Key: testKey}, "/api/info", map[string]string{"Authorization": "Bearer " + testKey}, 401},
		{"authorization wrong key", Config{Key: testKey}, "/api/info", map[string]string{"Authorization": "apikey nope"}, 401},
		{"x-api-key wins over authorization", Config{Key: testKey}, "/api/info", map[string]string{"X-API-Key": "nope", "Authorization": "apikey " + testKey}, 401},
		{"x-api-key ok with bad authorization", Config{Key: testKey}, "/api/info", map[string]string{"X-API-Key": testKey, "Authorization": "apikey nope"}, 200},
		{"empty x-api-key falls back to authorization", Config{Key: testKey}, "/api/info", map[string]string{"X-API-Key": "", "Authorization": "apikey " + testKey}, 200},
		{"query param", Config{Key: testKey}, "/api/info?api_key=" + testKey, nil, 200},
		{"query param wrong", Config{Key: testKey}, "/api/info?api_key=nope", nil, 401},
		{"query param escaped", Config{Key: "a b+c"}, "/api/info?api_key=a+b%2Bc", nil, 200},
		{"query param after wrong header", Config{Key: testKey}, "/api/info?api_key=" + testKey, map[string]string{"X-API-Key": "nope"}, 200},
		{"query param after wrong authorization", Config{Key: testKey}, "/api/info?api_key=" + testKey, map[string]string{"Authorization": "apikey nope"}, 200},
		{"empty configured key refuses", Config{}, "/api/info", map[string]string{"X-API-Key": ""}, 401},
		{"empty configured key refuses empty query", Config{}, "/api/info?api_key=", nil, 401},
		{"insecure needs nothing", Config{Insecure: true}, "/api/info", nil, 200},
		{"insecure ignores wrong key", Config{Key: testKey, Insecure: true}, "/api/info", map[string]string{"X-API-Key": "nope"}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := New(tc.cfg, &fakeNode{})
			resp := serve(t, h, request{uri: tc.uri, body: "{}", headers: tc.headers})
			if resp.status != tc.want {
				t.Fatalf("status %d, want %d (body %q)", resp.status, tc.want, resp.body)
			}
			if tc.want == 401 {
				if resp.body != "" {
					t.Fatalf("401 body %q, want empty", resp.body)
				}
				if resp.contentType != "" {
					t.Fatalf("401 Content-Type %q, want none", resp.contentType)
				}
			}
		})
	}
}

func TestAPIKeyCredential(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		key     string
		wantOK  bool
		comment string
	}{
		{"apikey k", "k", true, ""},
		{"  apikey   k  ", "k", true, "surrounding space"},
		{"apikey\u00a0k", "k", true, "NBSP is white space for strings.Fields"},
		{"apikey", "", false, "one field"},
		{"apikey k k", "", false, "three fields"},
		{"apikeyx k", "", false, "other scheme"},
		{"", "", false, "empty"},
	}
	for _, tc := range cases {
		key, ok := apikeyCredential([]byte(tc.in))
		if ok != tc.wantOK || string(key) != tc.key {
			t.Errorf("%q (%s): got %q %v, want %q %v", tc.in, tc.comment, key, ok, tc.key, tc.wantOK)
		}
		// Differential check against the definition: strings.Fields + ToLower.
		f := strings.Fields(tc.in)
		want := len(f) == 2 && strings.ToLower(f[0]) == "apikey"
		if ok != want {
			t.Errorf("%q: ok %v disagrees with strings.Fields (%v)", tc.in, ok, want)
		}
	}
}

func TestMethodNotAllowedComesFirst(t *testing.T) {
	t.Parallel()
	h := newTestHandler(Config{}, &fakeNode{})
	for _, path := range []string{"/api/publish", "/api/broadcast", "/api/info"} {
		for _, m := range []string{"GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"} {
			// No credentials: 405 must win over 401.
			resp := serve(t, h, request{method: m, uri: path, body: "{}"})
			if resp.status != 405 || resp.body != "" || resp.contentType != "" {
				t.Fatalf("%s %s: %d %q %q, want 405 with empty body and no Content-Type", m, path, resp.status, resp.contentType, resp.body)
			}
		}
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	h := newTestHandler(Config{}, &fakeNode{})
	for _, uri := range []string{
		"/", "/api/", "/api/unknown", "/api/publish/", "/API/publish", "/api/Publish",
		"/api/batch/", "/api/map_publish", "/api/map_read_state", "/api/shared_poll_publish",
		"/api/connections", "/api/update_user_status", "/api/send_push_notification",
		"/apis", "/healthz", "/connection/websocket",
	} {
		for _, m := range []string{"GET", "POST"} {
			resp := serve(t, h, request{method: m, uri: uri, body: "{}", headers: authed()})
			if resp.status != 404 || resp.body != "404 page not found\n" || resp.contentType != "text/plain; charset=utf-8" {
				t.Fatalf("%s %s: %d %q %q, want plain 404", m, uri, resp.status, resp.contentType, resp.body)
			}
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h := newTestHandler(Config{}, &fakeNode{})
	for _, m := range []string{"GET", "POST", "PUT"} {
		resp := serve(t, h, request{method: m, uri: "/health"})
		if resp.status != 200 || resp.body != "{}" || resp.contentType != "application/json" {
			t.Fatalf("%s /health: %d %q %q", m, resp.status, resp.contentType, resp.body)
		}
	}
}

func TestBadRequestBodies(t *testing.T) {
	t.Parallel()
	node := &fakeNode{}
	h := newTestHandler(Config{}, node)
	bodies := []string{
		"", " ", "\n", "{", "[]", `"x"`, "1", "{} x", `{"channel":"a","data":{"x":}}`,
		`{"tags":{"a":1}}`, `{"skip_history":"yes"}`, `{"version":-1}`, "{\"channel\":\"a\x01\"}",
		`{"channel":"a","data":1,"b64data":5}`, `{"channel":"a","b64data":{}}`,
	}
	for _, path := range []string{"/api/publish", "/api/broadcast"} {
		extra := []string{`{"channel":1}`, `{"channel":["a"]}`}
		if path == "/api/broadcast" {
			extra = []string{`{"channels":"a"}`, `{"channels":[1]}`, `{"channels":{}}`}
		}
		for _, body := range append(bodies, extra...) {
			resp := serve(t, h, request{uri: path, body: body, headers: authed()})
			if resp.status != 400 || resp.body != "Bad Request\n" || resp.contentType != "text/plain; charset=utf-8" {
				t.Fatalf("%s %q: %d %q %q, want 400 Bad Request", path, body, resp.status, resp.contentType, resp.body)
			}
		}
	}
	for _, body := range []string{"", "[]", `"x"`, "{"} {
		resp := serve(t, h, request{uri: "/api/info", body: body, headers: authed()})
		if resp.status != 400 || resp.body != "Bad Request\n" {
			t.Fatalf("info %q: %d %q", body, resp.status, resp.body)
		}
	}
	// broadcast: a b64data of the wrong type is undecodable even with empty channels.
	resp := serve(t, h, request{uri: "/api/broadcast", body: `{"b64data":1}`, headers: authed()})
	if resp.status != 400 {
		t.Fatalf("broadcast bad b64data type: %d", resp.status)
	}
	if calls := node.lastCalls(); len(calls) != 0 {
		t.Fatalf("node called for bad bodies: %+v", calls)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	node := &fakeNode{}
	h := newTestHandler(Config{MaxBodySize: 64}, node)
	body := `{"channel":"a","data":"` + strings.Repeat("x", 64) + `"}`
	resp := serve(t, h, request{uri: "/api/publish", body: body, headers: authed()})
	if resp.status != 413 {
		t.Fatalf("status %d, want 413", resp.status)
	}
	// At the limit is fine.
	body = `{"channel":"a","data":"` + strings.Repeat("x", 64-25) + `"}`
	if len(body) != 64 {
		t.Fatalf("test body is %d bytes", len(body))
	}
	resp = serve(t, h, request{uri: "/api/publish", body: body, headers: authed()})
	if resp.status != 200 {
		t.Fatalf("status %d at the limit, want 200", resp.status)
	}
	// Auth is checked before size.
	resp = serve(t, h, request{uri: "/api/publish", body: strings.Repeat(" ", 100)})
	if resp.status != 401 {
		t.Fatalf("unauthenticated oversize: %d, want 401", resp.status)
	}
	if New(Config{}, node).maxBody != DefaultMaxBodySize {
		t.Fatal("zero MaxBodySize must select DefaultMaxBodySize")
	}
}

func TestPublish(t *testing.T) {
	t.Parallel()
	node := &fakeNode{
		results: map[string]engine.PublishResult{
			"hist":      {Offset: 5, Epoch: "dZnBvKxu"},
			"epochonly": {Epoch: "e<&>"},
			"offonly":   {Offset: 18446744073709551615},
		},
		errs: map[string]error{
			"nope:x":   engine.ErrorUnknownChannel,
			"wrapped":  fmt.Errorf("engine: %w", engine.ErrorNotAvailable),
			"broken":   errors.New("redis down"),
			"conflict": &engine.Error{Code: 113, Message: "conflict"},
			"rangeerr": engine.ErrorUnrecoverablePosition,
			"notfound": engine.ErrorMethodNotFound,
		},
	}
	h := newTestHandler(Config{}, node)
	cases := []struct {
		name       string
		body       string
		want       string // default error mode, HTTP 200
		wantStatus int    // transport mode
		wantTrans  string // transport mode body
	}{
		{"no history", `{"channel":"news","data":{"x":1}}`, `{"result":{}}`, 200, `{"result":{}}`},
		{"history", `{"channel":"hist","data":{"x":1}}`, `{"result":{"offset":5,"epoch":"dZnBvKxu"}}`, 200, `{"result":{"offset":5,"epoch":"dZnBvKxu"}}`},
		{"epoch only, escaped", `{"channel":"epochonly","data":1}`, `{"result":{"epoch":"e\u003c\u0026\u003e"}}`, 200, `{"result":{"epoch":"e\u003c\u0026\u003e"}}`},
		{"offset only", `{"channel":"offonly","data":1}`, `{"result":{"offset":18446744073709551615}}`, 200, `{"result":{"offset":18446744073709551615}}`},
		{"empty channel", `{"data":{"x":1}}`, `{"error":{"code":107,"message":"bad request"}}`, 400, `{"code":107,"message":"bad request"}`},
		{"null body", `null`, `{"error":{"code":107,"message":"bad request"}}`, 400, `{"code":107,"message":"bad request"}`},
		{"no data", `{"channel":"news"}`, `{"error":{"code":107,"message":"bad request"}}`, 400, `{"code":107,"message":"bad request"}`},
		{"invalid b64", `{"channel":"news","b64data":"!!!"}`, `{"error":{"code":107,"message":"bad request"}}`, 400, `{"code":107,"message":"bad request"}`},
		{"unknown channel", `{"channel":"nope:x","data":1}`, `{"error":{"code":102,"message":"unknown channel"}}`, 404, `{"code":102,"message":"unknown channel"}`},
		{"wrapped engine error", `{"channel":"wrapped","data":1}`, `{"error":{"code":108,"message":"not available"}}`, 400, `{"code":108,"message":"not available"}`},
		{"internal", `{"channel":"broken","data":1}`, `{"error":{"code":100,"message":"internal server error"}}`, 500, `{"code":100,"message":"internal server error"}`},
		{"conflict", `{"channel":"conflict","data":1}`, `{"error":{"code":113,"message":"conflict"}}`, 409, `{"code":113,"message":"conflict"}`},
		{"unrecoverable", `{"channel":"rangeerr","data":1}`, `{"error":{"code":112,"message":"unrecoverable position"}}`, 416, `{"code":112,"message":"unrecoverable position"}`},
		{"not found", `{"channel":"notfound","data":1}`, `{"error":{"code":104,"message":"not found"}}`, 404, `{"code":104,"message":"not found"}`},
	}
	for _, tc := range cases {
		resp := serve(t, h, request{uri: "/api/publish", body: tc.body, headers: authed()})
		if resp.status != 200 || resp.body != tc.want || resp.contentType != "application/json" {
			t.Errorf("%s: %d %q %q, want 200 %q", tc.name, resp.status, resp.contentType, resp.body, tc.want)
		}
		resp = serve(t, h, request{uri: "/api/publish", body: tc.body, headers: authed("X-Centrifugo-Error-Mode", "transport")})
		if resp.status != tc.wantStatus || resp.body != tc.wantTrans || resp.contentType != "application/json" {
			t.Errorf("%s (transport header): %d %q %q, want %d %q", tc.name, resp.status, resp.contentType, resp.body, tc.wantStatus, tc.wantTrans)
		}
	}
	// Transport mode from config gives the same as the header.
	ht := newTestHandler(Config{ErrorMode: ErrorModeTransport}, node)
	resp := serve(t, ht, request{uri: "/api/publish", body: `{"channel":"nope:x","data":1}`, headers: authed()})
	if resp.status != 404 || resp.body != `{"code":102,"message":"unknown channel"}` {
		t.Errorf("config transport mode: %d %q", resp.status, resp.body)
	}
	// The header value must be exactly "transport".
	resp = serve(t, h, request{uri: "/api/publish", body: `{"channel":"nope:x","data":1}`, headers: authed("X-Centrifugo-Error-Mode", "Transport")})
	if resp.status != 200 {
		t.Errorf("header value Transport: %d, want 200", resp.status)
	}
}

func TestPublishPassesFields(t *testing.T) {
	t.Parallel()
	node := &fakeNode{}
	h := newTestHandler(Config{}, node)
	body := `{"channel":"chat:index","data":  {"text" : "hi"} ,"skip_history":true,"tags":{"k":"v","a":"b"},"idempotency_key":"idem","delta":true,"version":3,"version_epoch":"ve"}`
	resp := serve(t, h, request{uri: "/api/publish", body: body, headers: authed()})
	if resp.status != 200 || resp.body != `{"result":{}}` {
		t.Fatalf("%d %q", resp.status, resp.body)
	}
	calls := node.lastCalls()
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	c := calls[0]
	if c.channel != "chat:index" || c.data != `{"text" : "hi"}` || !c.opts.SkipHistory || !c.opts.Delta ||
		c.opts.IdempotencyKey != "idem" || len(c.opts.Tags) != 2 || c.opts.Tags["k"] != "v" || c.opts.Tags["a"] != "b" || c.opts.Info != nil {
		t.Fatalf("call %+v", c)
	}

	// A second publish through the same pooled scratch must not inherit any field.
	resp = serve(t, h, request{uri: "/api/publish", body: `{"channel":"b","data":"s"}`, headers: authed()})
	if resp.status != 200 {
		t.Fatalf("%d %q", resp.status, resp.body)
	}
	c = node.lastCalls()[1]
	if c.channel != "b" || c.data != `"s"` || c.opts.SkipHistory || c.opts.Delta || c.opts.IdempotencyKey != "" || c.opts.Tags != nil {
		t.Fatalf("second call inherited state: %+v", c)
	}
}

func TestPublishStringsOutliveBody(t *testing.T) {
	t.Parallel()
	var kept fakeCall
	node := &retainNode{keep: &kept}
	h := New(Config{Insecure: true}, node)
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/api/publish")
	ctx.Request.SetBodyString(`{"channel":"keep","tags":{"tk":"tv"},"idempotency_key":"ik","data":1}`)
	h.ServeHTTP(&ctx)
	body := ctx.Request.Body()
	for i := range body {
		body[i] = 'X'
	}
	if kept.channel != "keep" || kept.opts.Tags["tk"] != "tv" || kept.opts.IdempotencyKey != "ik" {
		t.Fatalf("retained strings alias the request body: %+v", kept)
	}
}

// retainNode keeps the strings it is given without copying them.
type retainNode struct {
	baseNode
	keep *fakeCall
}

func (n *retainNode) Publish(channel string, data []byte, opts engine.PublishOptions) (engine.PublishResult, error) {
	*n.keep = fakeCall{channel: channel, opts: opts}
	return engine.PublishResult{}, nil
}

func (n *retainNode) Info() []engine.NodeInfo { return nil }

func TestPublishB64Data(t *testing.T) {
	t.Parallel()
	node := &fakeNode{}
	h := newTestHandler(Config{}, node)
	cases := []struct {
		body string
		want string
	}{
		{`{"channel":"a","b64data":"aGVsbG8="}`, "hello"},
		{`{"channel":"a","data":{"x":1},"b64data":"aGVsbG8="}`, "hello"},                          // b64data wins
		{`{"channel":"a","data":{"x":1},"b64data":""}`, `{"x":1}`},                                // empty b64data: data
		{`{"channel":"a","data":{"x":1},"b64data":null}`, `{"x":1}`},                              // null b64data: data
		{`{"channel":"a","b64data":"AAEC\/w=="}`, "\x00\x01\x02\xff"},                             // escaped slash
		{`{"channel":"a","b64data":"aGVsbG8=","data":null}`, "hello"},                             // data null ignored
		{`{"channel":"a","data":null}`, "null"},                                                   // raw null is data
		{"{\"channel\":\"a\",\"b64data\":\"aGVs\nbG8=\"}", ""},                                    // raw newline: undecodable JSON
		{`{"channel":"a","b64data":"aGVs\nbG8="}`, "hello"},                                       // escaped newline, skipped by base64
		{`{"channel":"a","b64data":"\u0061\u0047\u0056\u0073\u0062\u0047\u0038\u003d"}`, "hello"}, // unicode escapes
		{`{"channel":"a","b64data":"aGVs\\bG8="}`, "107"},                                         // backslash in value: invalid base64
	}
	for i, tc := range cases {
		before := len(node.lastCalls())
		resp := serve(t, h, request{uri: "/api/publish", body: tc.body, headers: authed()})
		if tc.want == "107" {
			if resp.status != 200 || resp.body != `{"error":{"code":107,"message":"bad request"}}` {
				t.Errorf("case %d: %d %q, want 107", i, resp.status, resp.body)
			}
			continue
		}
		if tc.want == "" {
			if resp.status != 400 {
				t.Errorf("case %d: %d %q, want 400", i, resp.status, resp.body)
			}
			continue
		}
		if resp.status != 200 || resp.body != `{"result":{}}` {
			t.Errorf("case %d: %d %q", i, resp.status, resp.body)
			continue
		}
		calls := node.lastCalls()
		if len(calls) != before+1 || calls[before].data != tc.want {
			t.Errorf("case %d: data %q, want %q", i, calls[len(calls)-1].data, tc.want)
		}
	}
}

func TestBroadcast(t *testing.T) {
	t.Parallel()
	node := &fakeNode{
		results: map[string]engine.PublishResult{"h1": {Offset: 1, Epoch: "E"}},
		errs:    map[string]error{"nope:x": engine.ErrorUnknownChannel, "broken": errors.New("boom")},
	}
	h := newTestHandler(Config{}, node)
	body := `{"channels":["a","h1","","nope:x","broken","b"],"data":{"n":1},"tags":{"t":"1"},"skip_history":true}`
	want := `{"result":{"responses":[{"result":{}},{"result":{"offset":1,"epoch":"E"}},{"error":{"code":107,"message":"bad request"}},{"error":{"code":102,"message":"unknown channel"}},{"error":{"code":100,"message":"internal server error"}},{"result":{}}]}}`
	for _, hdr := range []map[string]string{authed(), authed("X-Centrifugo-Error-Mode", "transport")} {
		resp := serve(t, h, request{uri: "/api/broadcast", body: body, headers: hdr})
		// Per-channel errors stay inside a 200 response even in transport mode.
		if resp.status != 200 || resp.body != want || resp.contentType != "application/json" {
			t.Fatalf("%d %q\nwant %q", resp.status, resp.body, want)
		}
	}
	for _, c := range node.lastCalls() {
		if c.data != `{"n":1}` || c.opts.Tags["t"] != "1" || !c.opts.SkipHistory {
			t.Fatalf("call %+v", c)
		}
	}

	errCases := []struct{ body, want, wantTrans string }{
		{`{"channels":[],"data":1}`, `{"error":{"code":107,"message":"bad request"}}`, `{"code":107,"message":"bad request"}`},
		{`{"data":1}`, `{"error":{"code":107,"message":"bad request"}}`, `{"code":107,"message":"bad request"}`},
		{`{"channels":["a"],"b64data":"%%%"}`, `{"error":{"code":107,"message":"bad request"}}`, `{"code":107,"message":"bad request"}`},
	}
	for _, tc := range errCases {
		resp := serve(t, h, request{uri: "/api/broadcast", body: tc.body, headers: authed()})
		if resp.status != 200 || resp.body != tc.want {
			t.Errorf("%s: %d %q", tc.body, resp.status, resp.body)
		}
		resp = serve(t, h, request{uri: "/api/broadcast", body: tc.body, headers: authed("X-Centrifugo-Error-Mode", "transport")})
		if resp.status != 400 || resp.body != tc.wantTrans {
			t.Errorf("%s transport: %d %q", tc.body, resp.status, resp.body)
		}
	}
}

func TestBroadcastManyChannelsKeepsOrder(t *testing.T) {
	t.Parallel()
	node := &fakeNode{results: map[string]engine.PublishResult{}}
	var chans []string
	for i := range 500 {
		ch := fmt.Sprintf("ch%d", i)
		chans = append(chans, ch)
		node.results[ch] = engine.PublishResult{Offset: uint64(i + 1)}
	}
	h := newTestHandler(Config{}, node)
	chJSON, _ := json.Marshal(chans)
	for range 3 { // reuse pooled scratch across sizes
		resp := serve(t, h, request{uri: "/api/broadcast", body: `{"channels":` + string(chJSON) + `,"data":1}`, headers: authed()})
		var out struct {
			Result struct {
				Responses []struct {
					Result struct {
						Offset uint64 `json:"offset"`
					} `json:"result"`
				} `json:"responses"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(resp.body), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Result.Responses) != len(chans) {
			t.Fatalf("%d responses", len(out.Result.Responses))
		}
		for i, r := range out.Result.Responses {
			if r.Result.Offset != uint64(i+1) {
				t.Fatalf("response %d has offset %d", i, r.Result.Offset)
			}
		}
		small := serve(t, h, request{uri: "/api/broadcast", body: `{"channels":["ch7"],"data":1}`, headers: authed()})
		if small.body != `{"result":{"responses":[{"result":{"offset":8}}]}}` {
			t.Fatalf("small broadcast after a large one: %q", small.body)
		}
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	node := &fakeNode{info: engine.NodeInfo{UID: "u-1", Name: "host_8000", Version: "0.1.0 Rotor", NumClients: 3, NumUsers: 2, NumChannels: 4, NumSubs: 5, Uptime: 42}}
	h := newTestHandler(Config{}, node)
	want := `{"result":{"nodes":[{"uid":"u-1","name":"host_8000","version":"0.1.0 Rotor","num_clients":3,"num_users":2,"num_channels":4,"uptime":42,"num_subs":5}]}}`
	for _, body := range []string{"{}", "null", `{"anything":[1,2]}`} {
		resp := serve(t, h, request{uri: "/api/info", body: body, headers: authed()})
		if resp.status != 200 || resp.body != want || resp.contentType != "application/json" {
			t.Fatalf("%d %q %q", resp.status, resp.contentType, resp.body)
		}
	}
	// Zero counters are present, zero uptime is omitted.
	h = newTestHandler(Config{}, &fakeNode{info: engine.NodeInfo{UID: "u", Name: "n", Version: "v"}})
	resp := serve(t, h, request{uri: "/api/info", body: "{}", headers: authed()})
	want = `{"result":{"nodes":[{"uid":"u","name":"n","version":"v","num_clients":0,"num_users":0,"num_channels":0,"num_subs":0}]}}`
	if resp.body != want {
		t.Fatalf("%q", resp.body)
	}
}

// TestInfoLists every node, with the metrics a Centrifugo node shares written as
// Centrifugo's encoding/json writes its Metrics.
func TestInfoListsNodes(t *testing.T) {
	t.Parallel()
	node := &fakeNode{
		info: engine.NodeInfo{UID: "a", Name: "rotor", Version: "0.1.0 Rotor", NumClients: 1},
		others: []engine.NodeInfo{
			{UID: "b", Name: "cf", Version: "6.9.1 OSS", Uptime: 9, NumSubs: 2, Metrics: &engine.NodeMetrics{
				Interval: 60, Items: map[string]float64{"z<": 1.5, "a": 1e21, "m": 0.0000001, "n": -2, "o": 0}}},
			{UID: "c", Name: "x", Metrics: &engine.NodeMetrics{}},
		},
	}
	h := newTestHandler(Config{}, node)
	resp := serve(t, h, request{uri: "/api/info", body: "{}", headers: authed()})
	want := `{"result":{"nodes":[` +
		`{"uid":"a","name":"rotor","version":"0.1.0 Rotor","num_clients":1,"num_users":0,"num_channels":0,"num_subs":0},` +
		`{"uid":"b","name":"cf","version":"6.9.1 OSS","num_clients":0,"num_users":0,"num_channels":0,"uptime":9,` +
		`"metrics":{"interval":60,"items":{"a":1e+21,"m":1e-7,"n":-2,"o":0,"z\u003c":1.5}},"num_subs":2},` +
		`{"uid":"c","name":"x","version":"","num_clients":0,"num_users":0,"num_channels":0,"metrics":{},"num_subs":0}]}}`
	if resp.body != want {
		t.Fatalf("\n got %s\nwant %s", resp.body, want)
	}
	// The same metrics through encoding/json, as Centrifugo marshals them.
	type metrics struct {
		Interval float64            `json:"interval,omitempty"`
		Items    map[string]float64 `json:"items,omitempty"`
	}
	for _, m := range []metrics{{60, map[string]float64{"z<": 1.5, "a": 1e21, "m": 0.0000001, "n": -2, "o": 0}}, {}, {0.25, nil}, {Items: map[string]float64{"k": 123456789.125, "t": 1e-6, "u": 9.99e-7}}} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendNodeMetrics(nil, &engine.NodeMetrics{Interval: m.Interval, Items: m.Items}); string(got) != string(b) {
			t.Fatalf("metrics %+v: got %s, encoding/json %s", m, got, b)
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	inputs := []string{"", "plain", `q"b\`, "<a&b>", "ctl\x00\x01\x1f\b\f\n\r\t", "uni é 漢 🚀", "bad\xff\xfeutf8", "\u2028\u2029", "trunc\xe6\x97"}
	for _, s := range inputs {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "<>&", "\x00\xff", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// TestOverRealServer drives the handler through a fasthttp.Server on an in-memory
// listener, checking what reaches the wire.
func TestOverRealServer(t *testing.T) {
	t.Parallel()
	ln := fasthttputil.NewInmemoryListener()
	node := &fakeNode{results: map[string]engine.PublishResult{"h": {Offset: 2, Epoch: "ep"}}}
	h := newTestHandler(Config{}, node)
	srv := &fasthttp.Server{Handler: h.ServeHTTP}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	client := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}

	do := func(method, uri, body string, hdr map[string]string) *fasthttp.Response {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.Header.SetMethod(method)
		req.SetRequestURI("http://127.0.0.1" + uri)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		req.SetBodyString(body)
		resp := &fasthttp.Response{}
		if err := client.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := do("POST", "/api/publish", `{"channel":"h","data":{"a":1}}`, authed())
	if resp.StatusCode() != 200 || string(resp.Body()) != `{"result":{"offset":2,"epoch":"ep"}}` || string(resp.Header.ContentType()) != "application/json" {
		t.Fatalf("publish: %d %q %q", resp.StatusCode(), resp.Header.ContentType(), resp.Body())
	}
	resp = do("POST", "/api/publish", "{}", nil)
	if resp.StatusCode() != 401 || len(resp.Body()) != 0 {
		t.Fatalf("401: %d %q", resp.StatusCode(), resp.Body())
	}
	resp = do("POST", "/api/publish", "", authed())
	if resp.StatusCode() != 400 || string(resp.Body()) != "Bad Request\n" {
		t.Fatalf("400: %d %q", resp.StatusCode(), resp.Body())
	}

	// Raw wire checks: 405 and 401 carry no body and no Content-Type header at all
	// (a parsed fasthttp.Response would report its default Content-Type).
	for _, tc := range []struct {
		req  string
		want string
	}{
		{"GET /api/publish HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"},
		{"POST /api/info HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", "HTTP/1.1 401 Unauthorized\r\n"},
	} {
		head := rawRoundTrip(t, ln, tc.req)
		if !strings.HasPrefix(head, tc.want) || strings.Contains(strings.ToLower(head), "content-type") ||
			!strings.Contains(head, "Content-Length: 0\r\n") {
			t.Fatalf("raw response to %q:\n%s", tc.req, head)
		}
	}
}

// rawRoundTrip writes req on a new in-memory connection and returns the response
// head as sent on the wire.
func rawRoundTrip(t *testing.T, ln *fasthttputil.InmemoryListener, req string) string {
	t.Helper()
	conn, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading response head: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return head.String()
		}
	}
}
