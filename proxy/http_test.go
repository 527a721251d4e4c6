package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/engine"
)

// backend is a test HTTP server on 127.0.0.1 that records each request and answers
// with a fixed status and body.
type backend struct {
	srv *httptest.Server

	mu       sync.Mutex
	status   int
	body     string
	delay    chan struct{} // when set, handlers block until it is closed
	requests []recorded
}

type recorded struct {
	method, path string
	header       http.Header
	host         string
	body         string
}

func newBackend(t *testing.T, status int, body string) *backend {
	t.Helper()
	b := &backend{status: status, body: body}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.requests = append(b.requests, recorded{r.Method, r.URL.RequestURI(), r.Header.Clone(), r.Host, string(data)})
	status, body, delay := b.status, b.body, b.delay
	b.mu.Unlock()
	if delay != nil {
		select {
		case <-delay:
		case <-r.Context().Done():
		}
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (b *backend) last(t *testing.T) recorded {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		t.Fatal("backend received no request")
	}
	return b.requests[len(b.requests)-1]
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.requests)
}

func newProxy(t *testing.T, cfg HTTPConfig) *HTTP {
	t.Helper()
	p, err := NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func call(t *testing.T, p *HTTP, req *engine.ProxyRequest) (*engine.ProxyResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.CallProxy(ctx, req)
}

func TestRequestBodies(t *testing.T) {
	t.Parallel()
	meta := []byte(`{"role": "admin"}`)
	full := func(kind engine.ProxyKind) *engine.ProxyRequest {
		return &engine.ProxyRequest{
			Kind: kind, Client: "c1", Transport: "websocket", Protocol: "json", User: "42",
			Channel: "chat:room", Method: "getUser", Token: "tok", Name: "js", Version: "5.7.1",
			Channels: []string{"a", "b:c"}, Data: []byte(`{"text": "<hi>"}`), Meta: meta,
		}
	}
	cases := []struct {
		name   string
		binary bool
		meta   bool
		req    *engine.ProxyRequest
		want   string
	}{
		{"connect", false, true, full(engine.ProxyConnect),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","data":{"text":"\u003chi\u003e"},"name":"js","version":"5.7.1","channels":["a","b:c"]}`},
		{"connect binary", true, false, full(engine.ProxyConnect),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"binary","b64data":"eyJ0ZXh0IjogIjxoaT4ifQ==","name":"js","version":"5.7.1","channels":["a","b:c"]}`},
		{"connect minimal", false, false, &engine.ProxyRequest{Kind: engine.ProxyConnect},
			`{"encoding":"json"}`},
		{"connect minimal binary", true, false, &engine.ProxyRequest{Kind: engine.ProxyConnect, Client: "c"},
			`{"client":"c","encoding":"binary"}`},
		{"refresh with meta", false, true, full(engine.ProxyRefresh),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","user":"42","meta":{"role":"admin"}}`},
		{"refresh without meta", false, false, full(engine.ProxyRefresh),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","user":"42"}`},
		{"refresh anonymous", false, true, &engine.ProxyRequest{Kind: engine.ProxyRefresh, Client: "c1"},
			`{"client":"c1","encoding":"json","user":""}`},
		{"subscribe", false, true, full(engine.ProxySubscribe),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","user":"42","channel":"chat:room","token":"tok","meta":{"role":"admin"},"data":{"text":"\u003chi\u003e"}}`},
		{"subscribe no token no data", false, false, &engine.ProxyRequest{Kind: engine.ProxySubscribe, Client: "c1", Transport: "sse", Protocol: "json", Channel: "x"},
			`{"client":"c1","transport":"sse","protocol":"json","encoding":"json","user":"","channel":"x"}`},
		{"subscribe binary", true, true, full(engine.ProxySubscribe),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"binary","user":"42","channel":"chat:room","token":"tok","meta":{"role":"admin"},"b64data":"eyJ0ZXh0IjogIjxoaT4ifQ=="}`},
		{"publish", false, true, full(engine.ProxyPublish),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","user":"42","channel":"chat:room","data":{"text":"\u003chi\u003e"},"meta":{"role":"admin"}}`},
		{"publish binary protobuf", true, false, &engine.ProxyRequest{Kind: engine.ProxyPublish, Client: "c1", Protocol: "protobuf", User: "u", Channel: "ch", Data: []byte{0, 1, 2, 0xff}},
			`{"client":"c1","protocol":"protobuf","encoding":"binary","user":"u","channel":"ch","b64data":"AAEC/w=="}`},
		{"rpc", false, true, full(engine.ProxyRPC),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","user":"42","method":"getUser","data":{"text":"\u003chi\u003e"},"meta":{"role":"admin"}}`},
		{"rpc binary", true, false, full(engine.ProxyRPC),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"binary","user":"42","method":"getUser","b64data":"eyJ0ZXh0IjogIjxoaT4ifQ=="}`},
		{"sub_refresh", false, true, full(engine.ProxySubRefresh),
			`{"client":"c1","transport":"websocket","protocol":"json","encoding":"json","user":"42","channel":"chat:room","meta":{"role":"admin"}}`},
	}
	b := newBackend(t, 200, `{}`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, HTTPConfig{Endpoint: b.srv.URL + "/proxy/x?a=1", BinaryEncoding: tc.binary, IncludeConnectionMeta: tc.meta})
			resp, err := call(t, p, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(resp, &engine.ProxyResponse{}) {
				t.Fatalf("response %+v", resp)
			}
			got := b.last(t)
			if got.method != http.MethodPost || got.path != "/proxy/x?a=1" {
				t.Fatalf("%s %s", got.method, got.path)
			}
			if got.body != tc.want {
				t.Fatalf("body\n got  %s\n want %s", got.body, tc.want)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
		})
	}
}

func TestRequestInvalidJSONData(t *testing.T) {
	t.Parallel()
	b := newBackend(t, 200, `{}`)
	p := newProxy(t, HTTPConfig{Endpoint: b.srv.URL, IncludeConnectionMeta: true})
	for _, req := range []*engine.ProxyRequest{
		{Kind: engine.ProxyPublish, Protocol: "protobuf", Data: []byte{0xff, 0x00}},
		{Kind: engine.ProxyRPC, Data: []byte(`{"a":`)},
		{Kind: engine.ProxyRefresh, Meta: []byte(`nope`)},
	} {
		if _, err := call(t, p, req); !errors.Is(err, ErrEncode) {
			t.Fatalf("error %v, want ErrEncode", err)
		}
	}
	if _, err := call(t, p, &engine.ProxyRequest{Kind: engine.ProxyKind(99)}); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("error %v, want ErrUnknownKind", err)
	}
	if n := b.count(); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	b := newBackend(t, 200, `{}`)
	p := newProxy(t, HTTPConfig{
		Endpoint:        b.srv.URL,
		HTTPHeaders:     []string{"Authorization", "x-real-ip", "HOST", "x-both"},
		EmulatedHeaders: []string{"X-Token", "x-both", "Authorization"},
		StaticHeaders:   map[string]string{"x-static": "s", "X-Token": "static-token", "content-type": "text/plain", "x-real-ip": "static-ip"},
	})
	_, err := call(t, p, &engine.ProxyRequest{
		Kind: engine.ProxySubscribe,
		Headers: map[string]string{
			"authorization": "Bearer transport", // wins over the emulated value
			"X-Real-Ip":     "10.0.0.1",
			"Host":          "evil.example", // never forwarded
			"Cookie":        "not-listed",
			"X-BOTH":        "transport",
		},
		EmulatedHeaders: map[string]string{
			"Authorization": "Bearer emulated",
			"x-token":       "emulated-token", // overrides the static one
			"X-Real-IP":     "1.2.3.4",        // only in http_headers: not taken from emulation
			"x-both":        "emulated",
			"X-Other":       "not-listed",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := b.last(t)
	want := map[string]string{
		"Authorization": "Bearer transport",
		"X-Real-Ip":     "10.0.0.1",
		"X-Static":      "s",
		"X-Token":       "emulated-token",
		"X-Both":        "transport",
		"Content-Type":  "application/json",
		"Cookie":        "",
		"X-Other":       "",
	}
	for k, v := range want {
		if vals := got.header.Values(k); (v == "" && len(vals) != 0) || (v != "" && (len(vals) != 1 || vals[0] != v)) {
			t.Errorf("header %s = %q, want %q", k, vals, v)
		}
	}
	if !strings.HasPrefix(got.host, "127.0.0.1:") {
		t.Errorf("host %q", got.host)
	}

	// Emulated headers alone, when the transport has none.
	_, err = call(t, p, &engine.ProxyRequest{Kind: engine.ProxyRPC, EmulatedHeaders: map[string]string{"authorization": "Bearer emulated"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := b.last(t).header.Get("Authorization"); v != "Bearer emulated" {
		t.Fatalf("authorization %q", v)
	}
}

func TestResponses(t *testing.T) {
	t.Parallel()
	tru, fls := true, false
	cases := []struct {
		name string
		kind engine.ProxyKind
		body string
		want *engine.ProxyResponse
	}{
		{"empty", engine.ProxyConnect, `{}`, &engine.ProxyResponse{}},
		{"null", engine.ProxySubscribe, `null`, &engine.ProxyResponse{}},
		{"null result", engine.ProxyRefresh, `{"result":null}`, &engine.ProxyResponse{}},
		{"empty result", engine.ProxyPublish, `{"result":{}}`, &engine.ProxyResponse{Result: &engine.ProxyResult{}}},
		{"error", engine.ProxySubscribe, `{"error":{"code":1000,"message":"custom","temporary":true}}`,
			&engine.ProxyResponse{Error: &engine.Error{Code: 1000, Message: "custom", Temporary: true}}},
		{"disconnect", engine.ProxyRPC, `{"disconnect":{"code":4500,"reason":"bye"}}`,
			&engine.ProxyResponse{Disconnect: &engine.Disconnect{Code: 4500, Reason: "bye"}}},
		{"all three", engine.ProxyConnect, `{"result":{"user":"u"},"error":{"code":103,"message":"permission denied"},"disconnect":{"code":4000,"reason":"x"}}`,
			&engine.ProxyResponse{
				Disconnect: &engine.Disconnect{Code: 4000, Reason: "x"},
				Error:      &engine.Error{Code: 103, Message: "permission denied"},
				Result:     &engine.ProxyResult{User: "u"},
			}},
		{"connect", engine.ProxyConnect, `{"result":{
			"user":"56","expire_at":1700000000,"info":{"name":"Alex"},"data":{"x": 1},
			"channels":["news"],"meta":{"m":true},"caps":[{"channels":["a"],"allow":["sub"]}],
			"subs":{
				"chat:1":{"info":{"i":1},"b64data":"AAE=","override":{"presence":{"value":true},"join_leave":{"value":false},"force_recovery":{}},"cache_recover":true},
				"chat:2":{"b64info":"aW5mbw==","data":[1]},
				"chat:3":null
			}}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{
				User: "56", ExpireAt: 1700000000, Info: []byte(`{"name":"Alex"}`), Data: []byte(`{"x": 1}`),
				Channels: []string{"news"}, Meta: []byte(`{"m":true}`),
				Subs: map[string]engine.ProxySubOptions{
					"chat:1": {Info: []byte(`{"i":1}`), Data: []byte{0, 1}, CacheRecover: true,
						Override: &engine.SubscribeOverride{Presence: &tru, JoinLeave: &fls, ForceRecovery: &fls}},
					"chat:2": {Info: []byte("info"), Data: []byte(`[1]`)},
					"chat:3": {},
				},
			}}},
		{"connect b64 wins", engine.ProxyConnect, `{"result":{"info":{"a":1},"b64info":"eA==","data":"raw","b64data":"eQ=="}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Info: []byte("x"), Data: []byte("y")}}},
		{"refresh", engine.ProxyRefresh, `{"result":{"expire_at":1800000000,"b64info":"aQ==","meta":{"k":"v"}}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{ExpireAt: 1800000000, Info: []byte("i"), Meta: []byte(`{"k":"v"}`)}}},
		{"refresh expired", engine.ProxyRefresh, `{"result":{"expired":true}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Expired: true}}},
		{"refresh ignores other kinds' fields", engine.ProxyRefresh, `{"result":{"info":"x","channels":7,"user":false}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Info: []byte(`"x"`)}}},
		{"subscribe", engine.ProxySubscribe, `{"result":{"expire_at":5,"info":{"a":1},"b64data":"ZA==","override":{"force_positioning":{"value":true},"force_push_join_leave":{"value":true}},"server_tags_filter":{"op":"eq"}}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{ExpireAt: 5, Info: []byte(`{"a":1}`), Data: []byte("d"),
				Override: &engine.SubscribeOverride{ForcePositioning: &tru, ForcePushJoinLeave: &tru}}}},
		{"publish", engine.ProxyPublish, `{"result":{"data":{"new":1},"skip_history":true,"tags":{"t":"v"},"idempotency_key":"k","delta":true,"version":3}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Data: []byte(`{"new":1}`), SkipHistory: true, Tags: map[string]string{"t": "v"}, IdempotencyKey: "k", Delta: true}}},
		{"publish raw data wins", engine.ProxyPublish, `{"result":{"data":"raw","b64data":"!!notbase64"}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Data: []byte(`"raw"`)}}},
		{"publish b64", engine.ProxyPublish, `{"result":{"b64data":"AP8="}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Data: []byte{0, 0xff}}}},
		{"publish null data", engine.ProxyPublish, `{"result":{"data":null}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Data: []byte(`null`)}}},
		{"rpc", engine.ProxyRPC, `{"result":{"data":{"answer":42}}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Data: []byte(`{"answer":42}`)}}},
		{"rpc b64", engine.ProxyRPC, `{"result":{"data":{"a":1},"b64data":"cnBj"}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Data: []byte("rpc")}}},
		{"sub_refresh", engine.ProxySubRefresh, `{"result":{"expire_at":9,"info":{"x":1}}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{ExpireAt: 9, Info: []byte(`{"x":1}`)}}},
		{"sub_refresh expired", engine.ProxySubRefresh, `{"result":{"expired":true,"expire_at":9}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{Expired: true, ExpireAt: 9}}},
		{"unknown fields ignored", engine.ProxyRPC, `{"foo":1,"result":{"bar":[1,2]}}`,
			&engine.ProxyResponse{Result: &engine.ProxyResult{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, 200, tc.body)
			p := newProxy(t, HTTPConfig{Endpoint: b.srv.URL})
			got, err := call(t, p, &engine.ProxyRequest{Kind: tc.kind})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %s\nwant %s", dump(got), dump(tc.want))
			}
		})
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestMalformedResponses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		kind engine.ProxyKind
		body string
	}{
		{"empty body", engine.ProxyConnect, ``},
		{"not json", engine.ProxyConnect, `<html>`},
		{"truncated", engine.ProxySubscribe, `{"result":{`},
		{"trailing data", engine.ProxySubscribe, `{} {}`},
		{"wrong type", engine.ProxyConnect, `{"result":{"expire_at":"soon"}}`},
		{"negative code", engine.ProxyRPC, `{"error":{"code":-1}}`},
		{"result not object", engine.ProxyRefresh, `{"result":[1]}`},
		{"bad b64info", engine.ProxyConnect, `{"result":{"b64info":"%%%"}}`},
		{"bad b64data", engine.ProxyRPC, `{"result":{"b64data":"%%%"}}`},
		{"bad subs b64", engine.ProxyConnect, `{"result":{"subs":{"a":{"b64data":"%%%"}}}}`},
		{"bad publish b64", engine.ProxyPublish, `{"result":{"b64data":"%%%"}}`},
		{"bad sub_refresh b64", engine.ProxySubRefresh, `{"result":{"b64info":"x"}}`},
		{"bad override", engine.ProxySubscribe, `{"result":{"override":{"presence":true}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, 200, tc.body)
			p := newProxy(t, HTTPConfig{Endpoint: b.srv.URL})
			got, err := call(t, p, &engine.ProxyRequest{Kind: tc.kind})
			if !errors.Is(err, ErrDecode) || got != nil {
				t.Fatalf("got %+v, %v; want ErrDecode", got, err)
			}
		})
	}
}

func TestStatusCodes(t *testing.T) {
	t.Parallel()
	transforms := []StatusTransform{
		{StatusCode: 401, ToDisconnect: engine.Disconnect{Code: 4501, Reason: "unauthorized"}},
		{StatusCode: 403, ToError: engine.Error{Code: 403, Message: "forbidden", Temporary: true}},
		{StatusCode: 409, ToError: engine.Error{Code: 1409, Message: "conflict"}, ToDisconnect: engine.Disconnect{Code: 4409}},
	}
	cases := []struct {
		status int
		body   string
		want   *engine.ProxyResponse
		code   int // StatusError code when want is nil
	}{
		{401, ``, &engine.ProxyResponse{Disconnect: &engine.Disconnect{Code: 4501, Reason: "unauthorized"}}, 0},
		{403, `{"result":{"user":"ignored"}}`, &engine.ProxyResponse{Error: &engine.Error{Code: 403, Message: "forbidden", Temporary: true}}, 0},
		{409, ``, &engine.ProxyResponse{Error: &engine.Error{Code: 1409, Message: "conflict"}}, 0},
		{500, `{"result":{}}`, nil, 500},
		{404, ``, nil, 404},
		{201, `{}`, nil, 201},
		{204, ``, nil, 204},
	}
	for _, tc := range cases {
		b := newBackend(t, tc.status, tc.body)
		for _, withTransforms := range []bool{true, false} {
			cfg := HTTPConfig{Endpoint: b.srv.URL}
			if withTransforms {
				cfg.StatusToCodeTransforms = transforms
			}
			p := newProxy(t, cfg)
			got, err := call(t, p, &engine.ProxyRequest{Kind: engine.ProxyConnect})
			if withTransforms && tc.want != nil {
				if err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("%d: got %s, %v; want %s", tc.status, dump(got), err, dump(tc.want))
				}
				continue
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.status || got != nil {
				t.Fatalf("%d (transforms %v): got %+v, %v; want StatusError", tc.status, withTransforms, got, err)
			}
			if !strings.Contains(err.Error(), "unexpected HTTP status code") {
				t.Fatalf("message %q", err)
			}
		}
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	b := newBackend(t, 200, `{}`)
	release := make(chan struct{})
	b.delay = release
	t.Cleanup(func() { close(release) }) // runs before the server's Close

	p := newProxy(t, HTTPConfig{Endpoint: b.srv.URL, Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := p.CallProxy(context.Background(), &engine.ProxyRequest{Kind: engine.ProxyRPC})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 2*time.Second {
		t.Fatalf("took %s", d)
	}

	// A context deadline shorter than the proxy timeout bounds the call.
	p = newProxy(t, HTTPConfig{Endpoint: b.srv.URL, Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = p.CallProxy(ctx, &engine.ProxyRequest{Kind: engine.ProxyRPC})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want ErrTimeout wrapping the context's", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}

	// A context already done returns at once without a request.
	n := b.count()
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := p.CallProxy(cctx, &engine.ProxyRequest{Kind: engine.ProxyRPC}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if b.count() != n {
		t.Fatal("a request was sent for a cancelled context")
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	p := newProxy(t, HTTPConfig{Endpoint: url})
	_, err := call(t, p, &engine.ProxyRequest{Kind: engine.ProxyConnect})
	if err == nil || errors.Is(err, ErrDecode) {
		t.Fatalf("error %v", err)
	}
}

func TestNewHTTPValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg  HTTPConfig
		want error
	}{
		{HTTPConfig{Endpoint: "grpc://127.0.0.1:10001"}, ErrGRPCUnsupported},
		{HTTPConfig{Endpoint: "GRPC://127.0.0.1:10001"}, ErrGRPCUnsupported},
		{HTTPConfig{Endpoint: ""}, ErrInvalidEndpoint},
		{HTTPConfig{Endpoint: "127.0.0.1:3000/proxy"}, ErrInvalidEndpoint},
		{HTTPConfig{Endpoint: "ftp://127.0.0.1/"}, ErrInvalidEndpoint},
		{HTTPConfig{Endpoint: "http://"}, ErrInvalidEndpoint},
		{HTTPConfig{Endpoint: "http://127.0.0.1", Timeout: -time.Second}, ErrInvalidConfig},
		{HTTPConfig{Endpoint: "http://127.0.0.1", StatusToCodeTransforms: []StatusTransform{{ToError: engine.Error{Code: 1}}}}, ErrInvalidConfig},
		{HTTPConfig{Endpoint: "http://127.0.0.1", StatusToCodeTransforms: []StatusTransform{{StatusCode: 500}}}, ErrInvalidConfig},
	}
	for _, tc := range cases {
		if _, err := NewHTTP(tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("%+v: error %v, want %v", tc.cfg, err, tc.want)
		}
	}
	p, err := NewHTTP(HTTPConfig{Endpoint: "https://127.0.0.1:8443/c", HTTPHeaders: []string{"X-A"}, EmulatedHeaders: []string{"X-B"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.timeout != DefaultTimeout || p.Endpoint() != "https://127.0.0.1:8443/c" {
		t.Fatalf("%+v", p)
	}
	if h, e := p.ForwardedHeaders(); !reflect.DeepEqual(h, []string{"x-a"}) || !reflect.DeepEqual(e, []string{"x-b"}) {
		t.Fatalf("forwarded %v %v", h, e)
	}
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	b := newBackend(t, 200, `{"result":{"data":{"ok":true}}}`)
	p := newProxy(t, HTTPConfig{Endpoint: b.srv.URL, StaticHeaders: map[string]string{"X-A": "1"}})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := p.CallProxy(context.Background(), &engine.ProxyRequest{Kind: engine.ProxyRPC, Method: "m", Data: []byte(`{"i":` + string(rune('0'+i%10)) + `}`)})
			if err == nil && string(resp.Result.Data) != `{"ok":true}` {
				err = errors.New("bad result " + string(resp.Result.Data))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if b.count() != 64 {
		t.Fatalf("%d requests", b.count())
	}
}

// TestBackendClosesIdleConnection checks that a request written to a pooled
// connection the backend has closed is retried once on a new connection.
func TestBackendClosesIdleConnection(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var conns atomic.Int32
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				// Answer one request as keep-alive, then close the connection.
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
			}()
		}
	}()
	p := newProxy(t, HTTPConfig{Endpoint: "http://" + ln.Addr().String() + "/p"})
	for i := range 3 {
		if _, err := call(t, p, &engine.ProxyRequest{Kind: engine.ProxyPublish}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond) // let the backend close the connection
	}
	if n := conns.Load(); n < 3 {
		t.Fatalf("%d connections", n)
	}
}

func TestForwardCookieHeader(t *testing.T) {
	t.Parallel()
	b := newBackend(t, 200, `{}`)
	p := newProxy(t, HTTPConfig{Endpoint: b.srv.URL, HTTPHeaders: []string{"cookie", "user-agent", "x-forwarded-for", "x-evil"}})
	const cookie = "session=abc.def; theme=dark; flag"
	_, err := call(t, p, &engine.ProxyRequest{Kind: engine.ProxyConnect, Headers: map[string]string{
		"Cookie": cookie, "User-Agent": "Mozilla/5.0", "X-Forwarded-For": "1.2.3.4, 5.6.7.8", "X-Evil": "a\r\nInjected: 1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := b.last(t)
	if v := got.header.Get("Cookie"); v != cookie {
		t.Fatalf("cookie %q", v)
	}
	// A forwarded value cannot inject a header line.
	if got.header.Get("User-Agent") != "Mozilla/5.0" || got.header.Get("X-Forwarded-For") != "1.2.3.4, 5.6.7.8" ||
		got.header.Get("Injected") != "" || strings.ContainsAny(got.header.Get("X-Evil"), "\r\n") {
		t.Fatalf("headers %v", got.header)
	}
}
