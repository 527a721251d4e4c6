package e2e_test

// Proxy coverage: connect, refresh, subscribe, publish, sub_refresh and RPC
// proxies calling a test backend (harness.Backend) over HTTP, configured with
// Centrifugo v6 keys (client.proxy.*, channel.proxy.*, rpc.proxy, named
// proxies[], http_headers, http.static_headers). Each case checks what the
// SDK sees and what the backend received.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

// pxTimeout is every proxy's timeout; slow handlers sleep pxSlow.
const (
	pxTimeout = "500ms"
	pxSlow    = 1500 * time.Millisecond
)

// pxProxy is one proxy's config object.
func pxProxy(b *harness.Backend, path string, headers []string, static map[string]string) map[string]any {
	p := map[string]any{"endpoint": b.URL + path, "timeout": pxTimeout}
	if headers != nil {
		p["http_headers"] = headers
	}
	if static != nil {
		p["http"] = map[string]any{"static_headers": static}
	}
	return p
}

// pxConfig configures every proxy kind against b:
//   - client.proxy.connect → /connect (forwards X-Test-Header and
//     Authorization, static X-Static: static-connect), client.proxy.refresh
//     → /refresh;
//   - channel.proxy.subscribe/publish/sub_refresh → /subscribe, /publish,
//     /sub_refresh (forward X-Test-Header; subscribe adds connection meta and
//     a static header);
//   - rpc.proxy → /rpc for methods without namespace;
//   - named proxies named-sub, named-pub, named-rpc → /named/… (forward
//     X-Named-Header only, static X-Named-Static: named).
//
// Namespaces: px (subscribe + publish proxies, presence), pxn (named
// subscribe + publish proxies), pxr (subscribe + sub_refresh proxies), auto
// (presence, no proxy: channels granted by the connect proxy), open
// (subscribe without proxy). RPC namespaces: nrpc (named-rpc), noproxy (no
// proxy).
func pxConfig(b *harness.Backend) harness.Config {
	cfg := harness.DefaultConfig()
	testHeaders := []string{"X-Test-Header"}
	connect := pxProxy(b, "/connect", []string{"X-Test-Header", "Authorization"}, map[string]string{"X-Static": "static-connect"})
	connect["enabled"] = true
	refresh := pxProxy(b, "/refresh", testHeaders, nil)
	refresh["enabled"] = true
	cfg.Set("client.proxy.connect", connect)
	cfg.Set("client.proxy.refresh", refresh)
	sub := pxProxy(b, "/subscribe", testHeaders, map[string]string{"X-Static": "static-subscribe"})
	sub["include_connection_meta"] = true
	cfg.Set("channel.proxy.subscribe", sub)
	cfg.Set("channel.proxy.publish", pxProxy(b, "/publish", testHeaders, nil))
	cfg.Set("channel.proxy.sub_refresh", pxProxy(b, "/sub_refresh", testHeaders, nil))
	cfg.Set("rpc.proxy", pxProxy(b, "/rpc", testHeaders, nil))
	cfg.Set("rpc.without_namespace.proxy_enabled", true)
	cfg.Set("rpc.namespaces", []any{
		map[string]any{"name": "nrpc", "proxy_enabled": true, "proxy_name": "named-rpc"},
		map[string]any{"name": "noproxy"},
		map[string]any{"name": "brpc", "proxy_enabled": true, "proxy_name": "bin-rpc"},
	})
	named := func(name, path string) map[string]any {
		p := pxProxy(b, path, []string{"X-Named-Header"}, map[string]string{"X-Named-Static": "named"})
		p["name"] = name
		return p
	}
	cfg.Set("proxies", []any{
		named("named-sub", "/named/subscribe"),
		named("named-pub", "/named/publish"),
		named("named-rpc", "/named/rpc"),
		map[string]any{"name": "bin-rpc", "endpoint": b.URL + "/bin/rpc", "timeout": pxTimeout, "binary_encoding": true},
	})
	cfg.Set("channel.namespaces", []any{
		map[string]any{"name": "px", "subscribe_proxy_enabled": true, "publish_proxy_enabled": true, "presence": true},
		map[string]any{"name": "pxn", "subscribe_proxy_enabled": true, "subscribe_proxy_name": "named-sub",
			"publish_proxy_enabled": true, "publish_proxy_name": "named-pub"},
		map[string]any{"name": "pxr", "subscribe_proxy_enabled": true, "sub_refresh_proxy_enabled": true},
		map[string]any{"name": "auto", "presence": true},
		map[string]any{"name": "open", "allow_subscribe_for_client": true},
	})
	return cfg
}

// pxHeaders are the upgrade request headers every SDK client sends.
func pxHeaders(tag string) http.Header {
	return http.Header{
		"X-Test-Header":  {"test-" + tag},
		"X-Named-Header": {"named-" + tag},
		"X-Other-Header": {"never-forwarded"},
		"Authorization":  {"Bearer tok-" + tag},
	}
}

// pxBody fails unless the recorded request's JSON body equals want (a JSON
// document) exactly: same members, same values.
func pxBody(t *testing.T, what string, r harness.BackendRequest, want string) {
	t.Helper()
	if !saJSONEq(r.Body, []byte(want)) {
		t.Errorf("%s: backend got body %s, want %s", what, r.Body, want)
	}
}

// pxHeader checks the forwarded/static headers of a recorded request: want
// maps header name → value, "" meaning the header must be absent.
func pxHeader(t *testing.T, what string, r harness.BackendRequest, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got := r.Header.Values(k)
		switch {
		case v == "" && len(got) != 0:
			t.Errorf("%s: header %s = %q, want it absent", what, k, got)
		case v != "" && (len(got) != 1 || got[0] != v):
			t.Errorf("%s: header %s = %q, want %q", what, k, got, v)
		}
	}
	if r.Method != http.MethodPost {
		t.Errorf("%s: method %s, want POST", what, r.Method)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
}

// pxSleep waits d or until the server gave up on the request.
func pxSleep(r harness.BackendRequest, d time.Duration) {
	select {
	case <-r.Ctx.Done():
	case <-time.After(d):
	}
}

// pxSleepUntil sleeps until t, and at least min.
func pxSleepUntil(t time.Time, min time.Duration) {
	d := time.Until(t)
	if d < min {
		d = min
	}
	time.Sleep(d)
}

// pxMode decodes {"mode": "..."} from the data member of a request.
func pxMode(r harness.BackendRequest) string {
	var d struct {
		Mode string `json:"mode"`
	}
	_ = json.Unmarshal(r.Fields()["data"], &d)
	return d.Mode
}

// pxFor returns the recorded requests to path whose client member is id.
func pxFor(b *harness.Backend, path, id string) []harness.BackendRequest {
	var out []harness.BackendRequest
	for _, r := range b.Requests(path) {
		if r.Str("client") == id {
			out = append(out, r)
		}
	}
	return out
}

// pxConnectHandler answers the connect proxy according to data.mode.
func pxConnectHandler(temporaryCalls *atomic.Int32) harness.BackendHandler {
	return func(r harness.BackendRequest) harness.BackendReply {
		var d struct {
			Mode string `json:"mode"`
			User string `json:"user"`
		}
		_ = json.Unmarshal(r.Fields()["data"], &d)
		switch d.Mode {
		case "allow":
			return harness.BackendReply{Body: map[string]any{"result": map[string]any{
				"user":     d.User,
				"info":     map[string]any{"role": "admin", "user": d.User},
				"data":     map[string]any{"welcome": d.User},
				"channels": []string{"auto:" + d.User},
				"meta":     map[string]any{"secret": "meta-" + d.User},
			}}}
		case "deny":
			return harness.BackendReply{Body: `{"error":{"code":1403,"message":"custom deny"}}`}
		case "kick":
			return harness.BackendReply{Body: `{"disconnect":{"code":4501,"reason":"proxy kick"}}`}
		case "temporary":
			// The first call fails with a temporary error, the next allows.
			if temporaryCalls.Add(1) == 1 {
				return harness.BackendReply{Body: `{"error":{"code":1503,"message":"try later","temporary":true}}`}
			}
			return harness.BackendReply{Body: map[string]any{"result": map[string]any{"user": d.User}}}
		case "slow":
			// Too slow the first time; fast afterwards.
			if temporaryCalls.Add(1) == 1 {
				pxSleep(r, pxSlow)
			}
			return harness.BackendReply{Body: map[string]any{"result": map[string]any{"user": d.User}}}
		case "status":
			return harness.BackendReply{Status: 503, Body: `{"result":{"user":"nope"}}`}
		case "anonymous":
			return harness.BackendReply{Body: `{}`}
		}
		return harness.BackendReply{Status: 400, Body: `{}`}
	}
}

// pxClient is an SDK client for a proxy test.
type pxClient struct {
	c   *centrifuge.Client
	log *eventLog
	ss  *saServerSide
}

func pxNewClient(t *testing.T, srv *harness.Server, proto protocolKind, cfg centrifuge.Config) *pxClient {
	t.Helper()
	c, log := newClient(t, srv, proto, cfg)
	return &pxClient{c: c, log: log, ss: saWatch(c)}
}

// TestProxyConnect: the connect proxy decides who connects. Allowed: user,
// info, data, channels and meta come from the backend; custom error;
// disconnect answer; temporary error then success; timeout (error 100,
// temporary) then success; non-200 status; JWT wins over the proxy. The
// backend receives exactly client, transport, protocol, encoding, name,
// version, data, with the configured headers.
func TestProxyConnect(t *testing.T) {
	t.Parallel()
	for _, proto := range []protocolKind{protoJSON, protoProtobuf} {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			b := harness.StartBackend(t)
			var temporary, slow atomic.Int32
			h := pxConnectHandler(&temporary)
			hs := pxConnectHandler(&slow)
			b.Handle("/connect", func(r harness.BackendRequest) harness.BackendReply {
				if pxMode(r) == "slow" {
					return hs(r)
				}
				return h(r)
			})
			srv := harness.Start(t, pxConfig(b))
			user := "px-" + proto.String()
			mk := func(mode string) *pxClient {
				return pxNewClient(t, srv, proto, centrifuge.Config{
					Name: "e2e-go", Version: "1.2.3",
					Data:   []byte(fmt.Sprintf(`{"mode":%q,"user":%q}`, mode, user)),
					Header: pxHeaders(mode),
				})
			}

			// Allowed.
			a := mk("allow")
			ev := connectAndWait(t, a.c, a.log)
			if !saJSONEq(ev.Data, []byte(fmt.Sprintf(`{"welcome":%q}`, user))) {
				t.Errorf("connected data %q, want {\"welcome\":%q}", ev.Data, user)
			}
			waitEvent[centrifuge.ServerSubscribedEvent](t, a.ss.log, 5*time.Second, "server-side channel from the proxy", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "auto:"+user })
			var reqs []harness.BackendRequest
			for _, r := range b.Requests("/connect") {
				if pxMode(r) == "allow" {
					reqs = append(reqs, r)
				}
			}
			if len(reqs) != 1 {
				t.Fatalf("connect proxy calls with mode allow: %d, want 1; all:\n%s", len(reqs), b.Dump())
			}
			pxBody(t, "connect request", reqs[0], fmt.Sprintf(
				`{"client":%q,"transport":"websocket","protocol":%q,"encoding":"json","name":"e2e-go","version":"1.2.3","data":{"mode":"allow","user":%q}}`,
				ev.ClientID, proto.String(), user))
			pxHeader(t, "connect request", reqs[0], map[string]string{
				"X-Test-Header":  "test-allow",
				"Authorization":  "Bearer tok-allow",
				"X-Static":       "static-connect",
				"X-Named-Header": "",
				"X-Other-Header": "",
			})
			// User and info from the proxy: presence of the granted channel.
			pres := srv.MustAPI(t, "presence", map[string]any{"channel": "auto:" + user})
			want := fmt.Sprintf(`{"presence":{%q:{"user":%q,"client":%q,"conn_info":{"role":"admin","user":%q}}}}`, ev.ClientID, user, ev.ClientID, user)
			if !saJSONEq(pres, []byte(want)) {
				t.Errorf("presence = %s\nwant       %s", pres, want)
			}

			// Custom error: the SDK stops with that code and message.
			d := mk("deny")
			if err := d.c.Connect(); err != nil {
				t.Fatal(err)
			}
			dis := waitEvent[centrifuge.DisconnectedEvent](t, d.log, 5*time.Second, "connect denied", nil)
			if dis.Code != 1403 || dis.Reason != "custom deny" {
				t.Errorf("denied: disconnected %d %q, want 1403 \"custom deny\"", dis.Code, dis.Reason)
			}

			// Disconnect answer: the connection is closed with it.
			k := mk("kick")
			if err := k.c.Connect(); err != nil {
				t.Fatal(err)
			}
			dis = waitEvent[centrifuge.DisconnectedEvent](t, k.log, 5*time.Second, "connect kicked", nil)
			if dis.Code != 4501 || dis.Reason != "proxy kick" {
				t.Errorf("kicked: disconnected %d %q, want 4501 \"proxy kick\"", dis.Code, dis.Reason)
			}

			// Temporary error: the SDK reports it and retries; the retry is allowed.
			tc := mk("temporary")
			connectAndWait(t, tc.c, tc.log)
			wantConnectError(t, "temporary", tc.log, 1503, true)

			// Timeout: error 100 (temporary); the retry (fast) is allowed.
			sc := mk("slow")
			connectAndWait(t, sc.c, sc.log)
			wantConnectError(t, "timeout", sc.log, 100, true)
			if n := len(b.Requests("/connect")); n < 6 {
				t.Errorf("connect proxy calls %d, want at least 6", n)
			}

			// Non-200 answer: error 100 (temporary), the SDK keeps retrying.
			st := mk("status")
			if err := st.c.Connect(); err != nil {
				t.Fatal(err)
			}
			ee := waitEvent[centrifuge.ErrorEvent](t, st.log, 5*time.Second, "non-200 proxy answer", nil)
			if se, ok := serverError(ee.Error); !ok || se.Code != 100 || !se.Temporary {
				t.Errorf("non-200 proxy answer: error %v, want server error 100 temporary", ee.Error)
			}
			if st.c.State() == centrifuge.StateConnected {
				t.Errorf("connected although the proxy answered 503")
			}
			st.c.Close()

			// No result and no anonymous access: 3501 bad request.
			an := mk("anonymous")
			if err := an.c.Connect(); err != nil {
				t.Fatal(err)
			}
			dis = waitEvent[centrifuge.DisconnectedEvent](t, an.log, 5*time.Second, "empty proxy answer", nil)
			if dis.Code != 3501 {
				t.Errorf("empty proxy result: disconnected %d %q, want 3501", dis.Code, dis.Reason)
			}

			// A connection token wins: the proxy is not called.
			before := len(b.Requests("/connect"))
			jc := pxNewClient(t, srv, proto, centrifuge.Config{Token: saToken(t, "jwt-user", nil), Data: []byte(`{"mode":"deny"}`)})
			connectAndWait(t, jc.c, jc.log)
			if n := len(b.Requests("/connect")); n != before {
				t.Errorf("connect proxy called %d times for a client with a token", n-before)
			}
		})
	}
}

// wantConnectError checks that an SDK error event carried a connect error
// with code and temporary flag.
func wantConnectError(t *testing.T, what string, log *eventLog, code uint32, temporary bool) {
	t.Helper()
	for _, e := range eventsOf[centrifuge.ErrorEvent](log) {
		if se, ok := serverError(e.Error); ok {
			if se.Code != code || se.Temporary != temporary {
				t.Errorf("%s: error %d %q temporary=%v, want %d temporary=%v", what, se.Code, se.Message, se.Temporary, code, temporary)
			}
			return
		}
	}
	t.Errorf("%s: no server error event; events:\n%s", what, log)
}

// TestProxySubscribe: allowed with info/data from the backend, custom error,
// disconnect answer, timeout (error 100, temporary, the SDK resubscribes),
// empty result (allowed), named proxy with its own headers, subscription
// token bypasses the proxy. The backend receives client, transport,
// protocol, encoding, user, channel, data and the connection meta.
func TestProxySubscribe(t *testing.T) {
	t.Parallel()
	for _, proto := range []protocolKind{protoJSON, protoProtobuf} {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			b := harness.StartBackend(t)
			var slowCalls atomic.Int32
			handler := func(r harness.BackendRequest) harness.BackendReply {
				switch r.Str("channel") {
				case "px:allow", "pxn:room":
					return harness.BackendReply{Body: map[string]any{"result": map[string]any{
						"info": map[string]any{"ci": r.Str("channel")},
						"data": map[string]any{"sd": r.Str("channel")},
					}}}
				case "px:deny":
					return harness.BackendReply{Body: `{"error":{"code":1404,"message":"sub denied"}}`}
				case "px:kick":
					return harness.BackendReply{Body: `{"disconnect":{"code":4502,"reason":"sub kick"}}`}
				case "px:slow":
					if slowCalls.Add(1) == 1 {
						pxSleep(r, pxSlow)
					}
					return harness.BackendReply{Body: `{"result":{}}`}
				case "px:empty":
					return harness.BackendReply{Body: `{"result":{}}`}
				}
				return harness.BackendReply{Status: 500}
			}
			b.Handle("/subscribe", handler)
			b.Handle("/named/subscribe", handler)
			b.Handle("/connect", harness.Result(map[string]any{"user": "unused"}))
			srv := harness.Start(t, pxConfig(b))
			token := harness.Token(t, harness.HMACSecret, jwt.MapClaims{
				"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(),
				"meta": map[string]any{"tenant": "t1"},
			})
			c := pxNewClient(t, srv, proto, centrifuge.Config{Token: token, Header: pxHeaders("sub")})
			id := connectAndWait(t, c.c, c.log).ClientID
			if n := len(b.Requests("/connect")); n != 0 {
				t.Errorf("connect proxy called %d times for a token connection", n)
			}

			// Allowed, with data in the subscribe request.
			allow := saSubWith(t, c.c, "px:allow", centrifuge.SubscriptionConfig{Data: []byte(`{"want":"in"}`)})
			saExpectSub(t, allow, 0)
			se := eventsOf[centrifuge.SubscribedEvent](allow.log)
			if len(se) == 0 || !saJSONEq(se[0].Data, []byte(`{"sd":"px:allow"}`)) {
				t.Errorf("subscribed event %+v, want data {\"sd\":\"px:allow\"}", se)
			}
			reqs := b.Requests("/subscribe")
			if len(reqs) != 1 {
				t.Fatalf("subscribe proxy calls: %d, want 1:\n%s", len(reqs), b.Dump())
			}
			pxBody(t, "subscribe request", reqs[0], fmt.Sprintf(
				`{"client":%q,"transport":"websocket","protocol":%q,"encoding":"json","user":"alice","channel":"px:allow","data":{"want":"in"},"meta":{"tenant":"t1"}}`,
				id, proto.String()))
			pxHeader(t, "subscribe request", reqs[0], map[string]string{
				"X-Test-Header":  "test-sub",
				"X-Static":       "static-subscribe",
				"Authorization":  "",
				"X-Named-Header": "",
				"X-Other-Header": "",
			})
			pres := srv.MustAPI(t, "presence", map[string]any{"channel": "px:allow"})
			want := fmt.Sprintf(`{"presence":{%q:{"user":"alice","client":%q,"chan_info":{"ci":"px:allow"}}}}`, id, id)
			if !saJSONEq(pres, []byte(want)) {
				t.Errorf("presence = %s\nwant       %s", pres, want)
			}

			// Custom error → the SDK unsubscribes with that code.
			deny := saSubWith(t, c.c, "px:deny", centrifuge.SubscriptionConfig{})
			saExpectSub(t, deny, 1404)
			if un := eventsOf[centrifuge.UnsubscribedEvent](deny.log); len(un) == 0 || un[0].Reason != "sub denied" {
				t.Errorf("denied subscription events:\n%s", deny.log)
			}

			// Empty result → allowed with namespace defaults.
			empty := saSubWith(t, c.c, "px:empty", centrifuge.SubscriptionConfig{})
			saExpectSub(t, empty, 0)

			// Timeout → error 100 temporary; the SDK resubscribes and succeeds.
			slow := saSubWith(t, c.c, "px:slow", centrifuge.SubscriptionConfig{})
			saExpectSub(t, slow, 0)
			errs := eventsOf[centrifuge.SubscriptionErrorEvent](slow.log)
			if len(errs) == 0 {
				t.Errorf("px:slow: no subscription error event:\n%s", slow.log)
			} else if se, ok := serverError(errs[0].Error); !ok || se.Code != 100 || !se.Temporary {
				t.Errorf("px:slow: error %v, want server error 100 temporary", errs[0].Error)
			}
			if n := len(b.Requests("/subscribe")); n != 5 {
				t.Errorf("subscribe proxy calls %d, want 5 (allow, deny, empty, slow twice)", n)
			}

			// Named proxy: its own endpoint and headers.
			named := saSubWith(t, c.c, "pxn:room", centrifuge.SubscriptionConfig{})
			saExpectSub(t, named, 0)
			nreqs := b.Requests("/named/subscribe")
			if len(nreqs) != 1 {
				t.Fatalf("named subscribe proxy calls: %d, want 1:\n%s", len(nreqs), b.Dump())
			}
			pxBody(t, "named subscribe request", nreqs[0], fmt.Sprintf(
				`{"client":%q,"transport":"websocket","protocol":%q,"encoding":"json","user":"alice","channel":"pxn:room"}`,
				id, proto.String()))
			pxHeader(t, "named subscribe request", nreqs[0], map[string]string{
				"X-Named-Header": "named-sub",
				"X-Named-Static": "named",
				"X-Test-Header":  "",
				"X-Static":       "",
			})

			// A subscription token takes precedence: no proxy call.
			before := len(b.Requests("/subscribe"))
			tok := saSubWith(t, c.c, "px:token", centrifuge.SubscriptionConfig{
				Token: harness.Token(t, harness.HMACSecret, jwt.MapClaims{"sub": "alice", "channel": "px:token", "exp": time.Now().Add(time.Hour).Unix()}),
			})
			saExpectSub(t, tok, 0)
			if n := len(b.Requests("/subscribe")); n != before {
				t.Errorf("subscribe proxy called for a subscription with a token")
			}

			// Disconnect answer → the connection is closed with it.
			kick := saSubWith(t, c.c, "px:kick", centrifuge.SubscriptionConfig{})
			if err := kick.Subscribe(); err != nil {
				t.Fatal(err)
			}
			dis := waitEvent[centrifuge.DisconnectedEvent](t, c.log, 5*time.Second, "subscribe proxy disconnect", nil)
			if dis.Code != 4502 || dis.Reason != "sub kick" {
				t.Errorf("disconnected %d %q, want 4502 \"sub kick\"", dis.Code, dis.Reason)
			}
		})
	}
}

// TestProxyPublish: the publish proxy replaces the data (subscribers receive
// the modified payload, with the publisher's info), rejects with a custom
// error (nothing delivered), times out (error 100 temporary); a named proxy
// gets its own requests. The backend receives client, transport, protocol,
// encoding, user, channel, data.
func TestProxyPublish(t *testing.T) {
	t.Parallel()
	b := harness.StartBackend(t)
	b.Handle("/subscribe", harness.Result(map[string]any{}))
	b.Handle("/named/subscribe", harness.Result(map[string]any{}))
	handler := func(r harness.BackendRequest) harness.BackendReply {
		var d struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(r.Fields()["data"], &d)
		switch d.Text {
		case "deny":
			return harness.BackendReply{Body: `{"error":{"code":1405,"message":"pub denied"}}`}
		case "slow":
			pxSleep(r, pxSlow)
			return harness.BackendReply{Body: `{"result":{}}`}
		case "keep":
			return harness.BackendReply{Body: `{"result":{}}`}
		}
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{
			"data": map[string]any{"text": strings.ToUpper(d.Text), "by": r.Str("user"), "via": r.Path},
		}}}
	}
	b.Handle("/publish", handler)
	b.Handle("/named/publish", handler)
	srv := harness.Start(t, pxConfig(b))

	for _, proto := range []protocolKind{protoJSON, protoProtobuf} {
		user := "pub-" + proto.String()
		pub := pxNewClient(t, srv, proto, centrifuge.Config{Token: saToken(t, user, map[string]any{"i": user}), Header: pxHeaders(user)})
		pubID := connectAndWait(t, pub.c, pub.log).ClientID
		rcv := pxNewClient(t, srv, protoProtobuf, centrifuge.Config{Token: saToken(t, "rcv-"+user, nil)})
		connectAndWait(t, rcv.c, rcv.log)
		ch := "px:pub-" + proto.String()
		ps := saSubWith(t, pub.c, ch, centrifuge.SubscriptionConfig{})
		saExpectSub(t, ps, 0)
		rs := saSubWith(t, rcv.c, ch, centrifuge.SubscriptionConfig{})
		saExpectSub(t, rs, 0)

		// Modified by the proxy.
		if _, err := ps.Publish(saCtx(t), []byte(`{"text":"hello"}`)); err != nil {
			t.Fatalf("%s: publish: %v", proto, err)
		}
		p := rs.nextPublication(t, 5*time.Second)
		wantData := fmt.Sprintf(`{"text":"HELLO","by":%q,"via":"/publish"}`, user)
		if !saJSONEq(p.Data, []byte(wantData)) {
			t.Errorf("%s: subscriber got %s, want the proxy's %s", proto, p.Data, wantData)
		}
		if p.Info == nil || p.Info.User != user || p.Info.Client != pubID || !saJSONEq(p.Info.ConnInfo, []byte(fmt.Sprintf(`{"i":%q}`, user))) {
			t.Errorf("%s: publication info %+v, want the publisher's", proto, p.Info)
		}
		if p2 := ps.nextPublication(t, 5*time.Second); !saJSONEq(p2.Data, []byte(wantData)) {
			t.Errorf("%s: publisher's own subscription got %s", proto, p2.Data)
		}
		reqs := pxFor(b, "/publish", pubID)
		if len(reqs) != 1 {
			t.Fatalf("%s: publish proxy calls %d, want 1:\n%s", proto, len(reqs), b.Dump())
		}
		pxBody(t, proto.String()+" publish request", reqs[0], fmt.Sprintf(
			`{"client":%q,"transport":"websocket","protocol":%q,"encoding":"json","user":%q,"channel":%q,"data":{"text":"hello"}}`,
			pubID, proto.String(), user, ch))
		pxHeader(t, proto.String()+" publish request", reqs[0], map[string]string{
			"X-Test-Header": "test-" + user, "X-Other-Header": "", "Authorization": "", "X-Static": "",
		})

		// Empty result: original data.
		if _, err := ps.Publish(saCtx(t), []byte(`{"text":"keep"}`)); err != nil {
			t.Fatalf("%s: publish keep: %v", proto, err)
		}
		if p := rs.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"text":"keep"}`)) {
			t.Errorf("%s: empty proxy result: subscriber got %s, want the original", proto, p.Data)
		}

		// Custom error → returned to the publisher, nothing delivered.
		_, err := ps.Publish(saCtx(t), []byte(`{"text":"deny"}`))
		if se, ok := serverError(err); !ok || se.Code != 1405 || se.Message != "pub denied" {
			t.Errorf("%s: denied publish: %v, want server error 1405 \"pub denied\"", proto, err)
		}
		// Timeout → error 100, temporary.
		_, err = ps.Publish(saCtx(t), []byte(`{"text":"slow"}`))
		if se, ok := serverError(err); !ok || se.Code != 100 || !se.Temporary {
			t.Errorf("%s: slow publish proxy: %v, want server error 100 temporary", proto, err)
		}
		saNoPublicationWithin(t, rs, 300*time.Millisecond)

		// Named publish proxy.
		nch := "pxn:pub-" + proto.String()
		ns := saSubWith(t, pub.c, nch, centrifuge.SubscriptionConfig{})
		saExpectSub(t, ns, 0)
		if _, err := ns.Publish(saCtx(t), []byte(`{"text":"named"}`)); err != nil {
			t.Fatalf("%s: named publish: %v", proto, err)
		}
		if p := ns.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(fmt.Sprintf(`{"text":"NAMED","by":%q,"via":"/named/publish"}`, user))) {
			t.Errorf("%s: named publish proxy: got %s", proto, p.Data)
		}
		nreqs := pxFor(b, "/named/publish", pubID)
		if len(nreqs) != 1 {
			t.Fatalf("%s: named publish proxy calls %d, want 1", proto, len(nreqs))
		}
		pxHeader(t, proto.String()+" named publish request", nreqs[0], map[string]string{
			"X-Named-Header": "named-" + user, "X-Named-Static": "named", "X-Test-Header": "",
		})
	}
}

// TestProxyRPC: results and errors from the RPC proxy, disconnect answer,
// timeout (100 temporary), named proxy for an RPC namespace, namespace without
// proxy (108), unknown namespace (104). The backend receives client,
// transport, protocol, encoding, user, method, data.
func TestProxyRPC(t *testing.T) {
	t.Parallel()
	b := harness.StartBackend(t)
	handler := func(r harness.BackendRequest) harness.BackendReply {
		switch r.Str("method") {
		case "fail":
			return harness.BackendReply{Body: `{"error":{"code":1406,"message":"rpc failed"}}`}
		case "temp":
			return harness.BackendReply{Body: `{"error":{"code":1407,"message":"rpc later","temporary":true}}`}
		case "slow":
			pxSleep(r, pxSlow)
			return harness.BackendReply{Body: `{"result":{}}`}
		case "kick":
			return harness.BackendReply{Body: `{"disconnect":{"code":4503,"reason":"rpc kick"}}`}
		case "empty":
			return harness.BackendReply{Body: `{"result":{}}`}
		}
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{
			"data": map[string]any{"method": r.Str("method"), "echo": r.Fields()["data"], "via": r.Path},
		}}}
	}
	b.Handle("/rpc", handler)
	b.Handle("/named/rpc", handler)
	b.Handle("/bin/rpc", func(r harness.BackendRequest) harness.BackendReply {
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{"b64data": pxBinReply(r.Str("protocol"))}}}
	})
	srv := harness.Start(t, pxConfig(b))

	for _, proto := range []protocolKind{protoJSON, protoProtobuf} {
		user := "rpc-" + proto.String()
		c := pxNewClient(t, srv, proto, centrifuge.Config{Token: saToken(t, user, nil), Header: pxHeaders(user)})
		id := connectAndWait(t, c.c, c.log).ClientID

		res, err := c.c.RPC(saCtx(t), "echo", []byte(`{"x":[1,2]}`))
		if err != nil {
			t.Fatalf("%s: rpc echo: %v", proto, err)
		}
		if !saJSONEq(res.Data, []byte(`{"method":"echo","echo":{"x":[1,2]},"via":"/rpc"}`)) {
			t.Errorf("%s: rpc result %s", proto, res.Data)
		}
		reqs := pxFor(b, "/rpc", id)
		if len(reqs) != 1 {
			t.Fatalf("%s: rpc proxy calls %d, want 1:\n%s", proto, len(reqs), b.Dump())
		}
		pxBody(t, proto.String()+" rpc request", reqs[0], fmt.Sprintf(
			`{"client":%q,"transport":"websocket","protocol":%q,"encoding":"json","user":%q,"method":"echo","data":{"x":[1,2]}}`,
			id, proto.String(), user))
		pxHeader(t, proto.String()+" rpc request", reqs[0], map[string]string{
			"X-Test-Header": "test-" + user, "X-Named-Header": "", "X-Other-Header": "",
		})

		if res, err := c.c.RPC(saCtx(t), "empty", []byte(`{}`)); err != nil || len(res.Data) != 0 {
			t.Errorf("%s: rpc with an empty result: %q %v, want empty data", proto, res.Data, err)
		}
		_, err = c.c.RPC(saCtx(t), "fail", []byte(`{}`))
		if se, ok := serverError(err); !ok || se.Code != 1406 || se.Message != "rpc failed" || se.Temporary {
			t.Errorf("%s: rpc fail: %v, want server error 1406 \"rpc failed\"", proto, err)
		}
		_, err = c.c.RPC(saCtx(t), "temp", []byte(`{}`))
		if se, ok := serverError(err); !ok || se.Code != 1407 || !se.Temporary {
			t.Errorf("%s: rpc temp: %v, want server error 1407 temporary", proto, err)
		}
		_, err = c.c.RPC(saCtx(t), "slow", []byte(`{}`))
		if se, ok := serverError(err); !ok || se.Code != 100 || !se.Temporary || se.Message != "internal server error" {
			t.Errorf("%s: rpc slow: %v, want server error 100 \"internal server error\" temporary", proto, err)
		}
		res, err = c.c.RPC(saCtx(t), "nrpc:hello", []byte(`{"n":1}`))
		if err != nil || !saJSONEq(res.Data, []byte(`{"method":"nrpc:hello","echo":{"n":1},"via":"/named/rpc"}`)) {
			t.Errorf("%s: named rpc: %s %v", proto, res.Data, err)
		}
		if nreqs := pxFor(b, "/named/rpc", id); len(nreqs) != 1 {
			t.Errorf("%s: named rpc proxy calls %d, want 1", proto, len(nreqs))
		} else {
			pxHeader(t, proto.String()+" named rpc request", nreqs[0], map[string]string{
				"X-Named-Header": "named-" + user, "X-Named-Static": "named", "X-Test-Header": "",
			})
		}
		// binary_encoding: payloads travel as base64 in b64data both ways.
		// (A JSON client can only carry JSON, so it sends and gets JSON bytes.)
		bin, wantReply := []byte{0x00, 0xff, 0x10, 'b'}, pxBinReply(proto.String())
		if proto == protoJSON {
			bin = []byte(`[1,"b"]`)
		}
		res, err = c.c.RPC(saCtx(t), "brpc:x", bin)
		if err != nil || string(res.Data) != string(wantReply) {
			t.Errorf("%s: binary rpc: %q %v, want %q", proto, res.Data, err, wantReply)
		}
		if breqs := pxFor(b, "/bin/rpc", id); len(breqs) != 1 {
			t.Errorf("%s: binary rpc proxy calls %d, want 1", proto, len(breqs))
		} else {
			pxBody(t, proto.String()+" binary rpc request", breqs[0], fmt.Sprintf(
				`{"client":%q,"transport":"websocket","protocol":%q,"encoding":"binary","user":%q,"method":"brpc:x","b64data":%q}`,
				id, proto.String(), user, base64.StdEncoding.EncodeToString(bin)))
		}
		_, err = c.c.RPC(saCtx(t), "noproxy:x", []byte(`{}`))
		if se, ok := serverError(err); !ok || se.Code != 108 {
			t.Errorf("%s: rpc in a namespace without proxy: %v, want 108", proto, err)
		}
		_, err = c.c.RPC(saCtx(t), "nosuchns:x", []byte(`{}`))
		if se, ok := serverError(err); !ok || se.Code != 104 {
			t.Errorf("%s: rpc in an unknown namespace: %v, want 104", proto, err)
		}
		if n := len(pxFor(b, "/rpc", id)) + len(pxFor(b, "/named/rpc", id)); n != 6 {
			t.Errorf("%s: %d proxy calls, want 6 (no call for noproxy:x and nosuchns:x)", proto, n)
		}
		if c.c.State() != centrifuge.StateConnected {
			t.Errorf("%s: client state %s after RPC errors", proto, c.c.State())
		}
		if _, err := c.c.RPC(saCtx(t), "kick", []byte(`{}`)); err == nil {
			t.Errorf("%s: rpc kick: no error", proto)
		}
		dis := waitEvent[centrifuge.DisconnectedEvent](t, c.log, 5*time.Second, "rpc proxy disconnect", nil)
		if dis.Code != 4503 || dis.Reason != "rpc kick" {
			t.Errorf("%s: disconnected %d %q, want 4503 \"rpc kick\"", proto, dis.Code, dis.Reason)
		}
	}
}

// pxBinReply is the binary RPC proxy's answer for a client protocol.
func pxBinReply(protocol string) []byte {
	if protocol == "json" {
		return []byte(`{"bin":"reply"}`)
	}
	return []byte("\x01\x02reply")
}

// TestProxyRefresh: a connection whose expiry comes from the connect proxy
// is refreshed by the server through the refresh proxy (the SDK is never
// asked for a token): it survives past the original expire_at; when the
// backend answers expired:true the connection is closed with 3005.
func TestProxyRefresh(t *testing.T) {
	t.Parallel()
	b := harness.StartBackend(t)
	var refreshes atomic.Int32
	b.Handle("/connect", func(r harness.BackendRequest) harness.BackendReply {
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{
			"user": "ref-user", "expire_at": time.Now().Unix() + 2, "info": map[string]any{"v": 0},
		}}}
	})
	b.Handle("/refresh", func(r harness.BackendRequest) harness.BackendReply {
		if refreshes.Add(1) == 1 {
			// Extend by 3 s: the next refresh comes after start + 3 s.
			return harness.BackendReply{Body: map[string]any{"result": map[string]any{
				"expire_at": time.Now().Unix() + 3, "info": map[string]any{"v": 1},
			}}}
		}
		return harness.BackendReply{Body: `{"result":{"expired":true}}`}
	})
	srv := harness.Start(t, pxConfig(b))
	// No GetToken: had the server left the refresh to the client
	// (expires:true), the SDK would disconnect (code 1, unauthorized).
	c := pxNewClient(t, srv, protoJSON, centrifuge.Config{Header: pxHeaders("ref")})
	start := time.Now()
	id := connectAndWait(t, c.c, c.log).ClientID

	reqs := b.WaitRequests(t, "/refresh", 1, 6*time.Second)
	if el := reqs[0].At.Sub(start); el < 900*time.Millisecond {
		t.Errorf("first refresh call after %v, before the connection expiry", el)
	}
	pxBody(t, "refresh request", reqs[0], fmt.Sprintf(
		`{"client":%q,"transport":"websocket","protocol":"json","encoding":"json","user":"ref-user"}`, id))
	pxHeader(t, "refresh request", reqs[0], map[string]string{"X-Test-Header": "test-ref", "X-Other-Header": ""})

	// Past the original expiry (≤ 2 s) the connection is still up.
	pxSleepUntil(start.Add(2500*time.Millisecond), 400*time.Millisecond)
	if n := len(eventsOf[centrifuge.DisconnectedEvent](c.log)) + len(eventsOf[centrifuge.ConnectingEvent](c.log)); n != 1 {
		t.Errorf("connection dropped before the backend said expired:\n%s", c.log)
	}
	// Second refresh says expired → 3005, the SDK reconnects.
	ce := waitEvent[centrifuge.ConnectingEvent](t, c.log, 6*time.Second, "expired by the refresh proxy", func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
	if ce.Code != 3005 {
		t.Errorf("connecting %d %q, want 3005", ce.Code, ce.Reason)
	}
	if el := time.Since(start); el < 2900*time.Millisecond {
		t.Errorf("expired after %v, want after the extended expiry (> 3 s)", el)
	}
	for _, e := range eventsOf[centrifuge.ErrorEvent](c.log) {
		t.Errorf("SDK error event %v; server-side refresh must not involve the client", e.Error)
	}
}

// TestProxySubRefresh: a subscription whose expiry comes from the subscribe
// proxy is refreshed by the server through the sub_refresh proxy; it stays
// subscribed past the original expiry; expired:true ends it.
func TestProxySubRefresh(t *testing.T) {
	t.Parallel()
	b := harness.StartBackend(t)
	var refreshes atomic.Int32
	b.Handle("/subscribe", func(r harness.BackendRequest) harness.BackendReply {
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{"expire_at": time.Now().Unix() + 2}}}
	})
	b.Handle("/sub_refresh", func(r harness.BackendRequest) harness.BackendReply {
		if refreshes.Add(1) == 1 {
			return harness.BackendReply{Body: map[string]any{"result": map[string]any{"expire_at": time.Now().Unix() + 2, "info": map[string]any{"r": 1}}}}
		}
		return harness.BackendReply{Body: `{"result":{"expired":true}}`}
	})
	cfg := pxConfig(b)
	// The server checks subscription expiry on the presence tick and calls
	// the sub_refresh proxy once expire_at + expired_sub_close_delay passed.
	cfg.Set("client.presence_update_interval", "500ms")
	cfg.Set("client.expired_sub_close_delay", "100ms")
	srv := harness.Start(t, cfg)
	c := pxNewClient(t, srv, protoProtobuf, centrifuge.Config{Token: saToken(t, "sr-user", nil), Header: pxHeaders("sr")})
	id := connectAndWait(t, c.c, c.log).ClientID
	// No GetToken: had the server left the refresh to the client
	// (expires:true), the SDK would fail the subscription.
	s := saSubWith(t, c.c, "pxr:room", centrifuge.SubscriptionConfig{})
	start := time.Now()
	saExpectSub(t, s, 0)

	reqs := b.WaitRequests(t, "/sub_refresh", 1, 6*time.Second)
	if el := reqs[0].At.Sub(start); el < 900*time.Millisecond {
		t.Errorf("first sub_refresh call after %v, before the subscription expiry", el)
	}
	pxBody(t, "sub_refresh request", reqs[0], fmt.Sprintf(
		`{"client":%q,"transport":"websocket","protocol":"protobuf","encoding":"json","user":"sr-user","channel":"pxr:room"}`, id))
	pxHeader(t, "sub_refresh request", reqs[0], map[string]string{"X-Test-Header": "test-sr", "X-Other-Header": ""})

	pxSleepUntil(start.Add(3*time.Second), 400*time.Millisecond)
	if s.State() != centrifuge.SubStateSubscribed || len(eventsOf[centrifuge.UnsubscribedEvent](s.log)) != 0 {
		t.Errorf("subscription ended before the backend said expired:\n%s", s.log)
	}
	srv.MustAPI(t, "publish", map[string]any{"channel": "pxr:room", "data": map[string]any{"still": true}})
	if p := s.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"still":true}`)) {
		t.Errorf("publication after the refresh: %s", p.Data)
	}
	// expired:true → the server ends the subscription with 2501
	// "subscription expired" (a resubscribe code: the SDK subscribes again,
	// through the subscribe proxy).
	ev := waitEvent[centrifuge.SubscribingEvent](t, s.log, 8*time.Second, "subscription expired", func(e centrifuge.SubscribingEvent) bool { return e.Code != 0 })
	if ev.Code != 2501 || ev.Reason != "subscription expired" {
		t.Errorf("after expired:true: subscribing %d %q, want 2501 \"subscription expired\"", ev.Code, ev.Reason)
	}
	saWaitN[centrifuge.SubscribedEvent](t, s.log, 2, 5*time.Second, "resubscribed", nil)
	if n := len(b.Requests("/subscribe")); n != 2 {
		t.Errorf("subscribe proxy calls %d, want 2 (initial, resubscribe)", n)
	}
	if n := len(eventsOf[centrifuge.UnsubscribedEvent](s.log)); n != 0 {
		t.Errorf("subscription ended for good:\n%s", s.log)
	}
	noDisconnectsPx(t, c.log)
}

// noDisconnectsPx fails if the client left the connected state.
func noDisconnectsPx(t *testing.T, log *eventLog) {
	t.Helper()
	if n := len(eventsOf[centrifuge.DisconnectedEvent](log)) + len(eventsOf[centrifuge.ConnectingEvent](log)); n != 1 {
		t.Errorf("connection was dropped:\n%s", log)
	}
}
