package e2e_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

// TestFeatConnInfo: the connection token's info (and b64info) is what other
// clients see as conn_info in presence, join events and client publications.
func TestFeatConnInfo(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			aliceInfo := []byte(`{"name":"Alice","tags":["a",1]}`)
			bobInfo := []byte(`{"name":"Bob","b64":true}`)
			alice, alog := newClient(t, srv, proto, centrifuge.Config{
				Token: tokenFor(t, "alice", time.Hour, jwt.MapClaims{"info": map[string]any{"name": "Alice", "tags": []any{"a", 1}}}),
			})
			bob, blog := newClient(t, srv, proto, centrifuge.Config{
				// b64info takes precedence over info.
				Token: tokenFor(t, "bob", time.Hour, jwt.MapClaims{
					"info":    map[string]any{"ignored": true},
					"b64info": base64.StdEncoding.EncodeToString(bobInfo),
				}),
			})
			aev := connectAndWait(t, alice, alog)
			bev := connectAndWait(t, bob, blog)

			as := newSubscriptionWith(t, alice, "room:info", centrifuge.SubscriptionConfig{JoinLeave: true})
			expectSubscribeResult(t, as, 0)
			bs := newSubscriptionWith(t, bob, "room:info", centrifuge.SubscriptionConfig{})
			expectSubscribeResult(t, bs, 0)

			pr, err := as.Presence(ctx5())
			if err != nil {
				t.Fatalf("presence: %v", err)
			}
			if len(pr.Clients) != 2 {
				t.Fatalf("presence has %d clients, want 2: %+v", len(pr.Clients), pr.Clients)
			}
			for id, want := range map[string]struct {
				user string
				info []byte
			}{aev.ClientID: {"alice", aliceInfo}, bev.ClientID: {"bob", bobInfo}} {
				ci, ok := pr.Clients[id]
				if !ok {
					t.Errorf("presence lacks client %s (%s): %+v", id, want.user, pr.Clients)
					continue
				}
				if ci.User != want.user || ci.Client != id || !jsonEqual(ci.ConnInfo, want.info) {
					t.Errorf("presence[%s] = user %q client %q conn_info %s; want %q %q %s", id, ci.User, ci.Client, ci.ConnInfo, want.user, id, want.info)
				}
			}

			join := waitEvent[centrifuge.JoinEvent](t, as.log, 5*time.Second, "bob's join", func(e centrifuge.JoinEvent) bool { return e.User == "bob" })
			if join.Client != bev.ClientID || !jsonEqual(join.ConnInfo, bobInfo) {
				t.Errorf("join %+v (conn_info %s), want client %s conn_info %s", join.ClientInfo, join.ConnInfo, bev.ClientID, bobInfo)
			}

			if _, err := bs.Publish(ctx5(), []byte(`{"from":"bob"}`)); err != nil {
				t.Fatalf("bob publish: %v", err)
			}
			p := as.nextPublication(t, 5*time.Second)
			if p.Info == nil || p.Info.User != "bob" || p.Info.Client != bev.ClientID || !jsonEqual(p.Info.ConnInfo, bobInfo) {
				t.Errorf("publication info %+v, want bob's with conn_info %s", p.Info, bobInfo)
			}
		})
	}
}

// TestFeatSubTokenInfoDataOverride: a subscription token's info becomes
// chan_info, its data arrives in the subscribed event, and override enables
// presence / join_leave / force_push_join_leave that the namespace lacks.
func TestFeatSubTokenInfoDataOverride(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			const ch = "$sec:vault"
			override := map[string]any{
				"presence":              map[string]any{"value": true},
				"join_leave":            map[string]any{"value": true},
				"force_push_join_leave": map[string]any{"value": true},
			}
			alice, alog := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			bob, blog := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "bob")})
			connectAndWait(t, alice, alog)
			bev := connectAndWait(t, bob, blog)

			as := newSubscriptionWith(t, alice, ch, centrifuge.SubscriptionConfig{
				Token: subToken(t, "alice", ch, time.Hour, jwt.MapClaims{
					"info": map[string]any{"role": "owner"}, "data": map[string]any{"welcome": "alice"}, "override": override,
				}),
			})
			expectSubscribeResult(t, as, 0)
			sev := eventsOf[centrifuge.SubscribedEvent](as.log)[0]
			if !jsonEqual(sev.Data, []byte(`{"welcome":"alice"}`)) {
				t.Errorf("subscribed data %q, want {\"welcome\":\"alice\"}", sev.Data)
			}

			bs := newSubscriptionWith(t, bob, ch, centrifuge.SubscriptionConfig{
				Token: subToken(t, "bob", ch, time.Hour, jwt.MapClaims{
					"info": map[string]any{"role": "guest"}, "b64data": base64.StdEncoding.EncodeToString([]byte(`{"welcome":"bob"}`)), "override": override,
				}),
			})
			expectSubscribeResult(t, bs, 0)
			if d := eventsOf[centrifuge.SubscribedEvent](bs.log)[0].Data; !jsonEqual(d, []byte(`{"welcome":"bob"}`)) {
				t.Errorf("subscribed data (b64data) %q, want {\"welcome\":\"bob\"}", d)
			}

			// force_push_join_leave via override: alice gets bob's join with chan_info.
			join := waitEvent[centrifuge.JoinEvent](t, as.log, 5*time.Second, "bob's join", func(e centrifuge.JoinEvent) bool { return e.User == "bob" })
			if join.Client != bev.ClientID || !jsonEqual(join.ChanInfo, []byte(`{"role":"guest"}`)) {
				t.Errorf("join %+v (chan_info %s), want client %s chan_info {\"role\":\"guest\"}", join.ClientInfo, join.ChanInfo, bev.ClientID)
			}
			// Publications carry the publisher's chan_info.
			if _, err := as.Publish(ctx5(), []byte(`{"m":1}`)); err != nil {
				t.Fatalf("publish: %v", err)
			}
			p := bs.nextPublication(t, 5*time.Second)
			if p.Info == nil || p.Info.User != "alice" || !jsonEqual(p.Info.ChanInfo, []byte(`{"role":"owner"}`)) {
				t.Errorf("publication info %+v, want alice with chan_info {\"role\":\"owner\"}", p.Info)
			}
			// Leave reaches alice when bob unsubscribes.
			if err := bs.Unsubscribe(); err != nil {
				t.Fatal(err)
			}
			leave := waitEvent[centrifuge.LeaveEvent](t, as.log, 5*time.Second, "bob's leave", func(e centrifuge.LeaveEvent) bool { return e.User == "bob" })
			if leave.Client != bev.ClientID {
				t.Errorf("leave %+v, want client %s", leave.ClientInfo, bev.ClientID)
			}
		})
	}
}

// TestFeatConnectionTokenRefresh: a connection token with a short exp makes
// the SDK call GetToken and send refresh; the connection survives well past
// the first token's expiry. A client whose GetToken fails is closed by the
// server with 3005 after exp + client.expired_close_delay. Both encodings run
// at the same time against one server.
func TestFeatConnectionTokenRefresh(t *testing.T) {
	t.Parallel()
	cfg := featuresConfig()
	cfg.Set("client.expired_close_delay", "1s")
	// Expiry must be enforced at exp + expired_close_delay, independently of
	// the ping timer: pings are made rare here so that a server which only
	// checks expiry when it pings is caught.
	cfg.Set("client.ping_interval", "20s")
	cfg.Set("client.pong_timeout", "8s")
	srv := harness.Start(t, cfg)

	type refreshCase struct {
		proto          protocolKind
		c, ctl         *centrifuge.Client
		log, ctlLog    *eventLog
		calls, failing atomic.Int32
		clientID       string
		sub            *subscription
	}
	start := time.Now()
	var cases []*refreshCase
	for _, proto := range bothProtocols {
		rc := &refreshCase{proto: proto}
		rc.c, rc.log = newClient(t, srv, proto, centrifuge.Config{
			Token: tokenFor(t, "alice", 2*time.Second, nil),
			GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
				rc.calls.Add(1)
				return tokenFor(t, "alice", 2*time.Second, nil), nil
			},
		})
		rc.ctl, rc.ctlLog = newClient(t, srv, proto, centrifuge.Config{
			Token: tokenFor(t, "carol", 2*time.Second, nil),
			GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
				rc.failing.Add(1)
				return "", errors.New("backend unavailable")
			},
		})
		rc.clientID = connectAndWait(t, rc.c, rc.log).ClientID
		connectAndWait(t, rc.ctl, rc.ctlLog)
		rc.sub = newSubscriptionWith(t, rc.c, "news-"+proto.String(), centrifuge.SubscriptionConfig{})
		expectSubscribeResult(t, rc.sub, 0)
		cases = append(cases, rc)
	}

	// A refresh token for another user: disconnect 3500 (terminal).
	imp, impLog := newClient(t, srv, protoJSON, centrifuge.Config{
		Token: tokenFor(t, "dave", 2*time.Second, nil),
		GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
			return tokenFor(t, "mallory", time.Hour, nil), nil
		},
	})
	connectAndWait(t, imp, impLog)

	for _, rc := range cases {
		// The control client is closed with 3005 (the SDK reconnects), not
		// before its token's exp.
		// exp is at most 2 s after start; + 1 s delay; + 1.5 s slack.
		d, ok := tryWait(rc.ctlLog, time.Until(start.Add(4500*time.Millisecond)), func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
		if !ok {
			t.Errorf("%s: client that could not refresh was not closed within 4.5 s (token exp ≤ 2 s, expired_close_delay 1 s):\n%s", rc.proto, rc.ctlLog)
			continue
		}
		if el := time.Since(start); el < time.Second {
			t.Errorf("%s: control client closed %v after connecting, before its token expired", rc.proto, el)
		}
		if d.Code != 3005 || d.Reason != "connection expired" {
			t.Errorf("%s: client that could not refresh: connecting %d %q, want 3005 \"connection expired\"", rc.proto, d.Code, d.Reason)
		}
		if rc.failing.Load() == 0 {
			t.Errorf("%s: control client never asked for a token (connect result without expires/ttl?)", rc.proto)
		}
	}

	d := waitEvent[centrifuge.DisconnectedEvent](t, impLog, 5*time.Second, "refresh with another user's token", nil)
	if d.Code != 3500 || d.Reason != "invalid token" {
		t.Errorf("refresh with another user's token: disconnected %d %q, want 3500 \"invalid token\"", d.Code, d.Reason)
	}

	// Stay well past the first tokens' exp + delay.
	time.Sleep(time.Until(start.Add(5500 * time.Millisecond)))
	for i, rc := range cases {
		if n := rc.calls.Load(); n < 2 {
			t.Errorf("%s: GetToken called %d times in 5.5 s with 2 s tokens, want ≥ 2", rc.proto, n)
		}
		noDisconnects(t, rc.log)
		if evs := eventsOf[centrifuge.ConnectedEvent](rc.log); len(evs) != 1 || evs[0].ClientID != rc.clientID {
			t.Errorf("%s: connected events %+v, want only the first one", rc.proto, evs)
		}
		srv.MustAPI(t, "publish", map[string]any{"channel": rc.sub.Channel, "data": map[string]any{"still": i}})
	}
	for i, rc := range cases {
		if p := rc.sub.nextPublication(t, 5*time.Second); !jsonEqual(p.Data, []byte(fmt.Sprintf(`{"still":%d}`, i))) {
			t.Errorf("%s: publication %s", rc.proto, p.Data)
		}
	}
}

// TestFeatExpiredTokenOnConnect: an expired connection token → connect error
// 109, the SDK gets a new token and connects (Protobuf; JSON is in auth_test.go).
func TestFeatExpiredTokenOnConnect(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, featuresConfig())
	var calls atomic.Int32
	c, log := newClient(t, srv, protoProtobuf, centrifuge.Config{
		Token: tokenFor(t, "alice", -time.Minute, nil),
		GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
			calls.Add(1)
			return harness.UserToken(t, "alice"), nil
		},
	})
	connectAndWait(t, c, log)
	var got109 bool
	for _, e := range eventsOf[centrifuge.ErrorEvent](log) {
		var ce centrifuge.ConnectError
		if errors.As(e.Error, &ce) {
			if se, ok := serverError(ce.Err); ok && se.Code == 109 && se.Message == "token expired" {
				got109 = true
			}
		}
	}
	if !got109 {
		t.Errorf("no connect error 109 \"token expired\":\n%s", log)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("GetToken called %d times, want 1", n)
	}
	if n := len(eventsOf[centrifuge.DisconnectedEvent](log)); n != 0 {
		t.Errorf("disconnected:\n%s", log)
	}
}

// TestFeatSubscriptionTokenRefresh: a subscription token with a short exp is
// refreshed through GetToken (sub_refresh) and the subscription survives;
// one whose refresh fails gets unsubscribe 2501 "subscription expired" (and
// the SDK resubscribes). Both encodings at once against one server.
func TestFeatSubscriptionTokenRefresh(t *testing.T) {
	t.Parallel()
	cfg := featuresConfig()
	cfg.Set("client.expired_sub_close_delay", "1s")
	cfg.Set("client.presence_update_interval", "1s")
	// Expired subscriptions are checked on the presence tick, not when pinging.
	cfg.Set("client.ping_interval", "20s")
	cfg.Set("client.pong_timeout", "8s")
	srv := harness.Start(t, cfg)

	type refreshCase struct {
		proto          protocolKind
		log            *eventLog
		good, bad      *subscription
		calls, failing atomic.Int32
	}
	var cases []*refreshCase
	start := time.Now()
	for _, proto := range bothProtocols {
		rc := &refreshCase{proto: proto}
		var c *centrifuge.Client
		c, rc.log = newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
		connectAndWait(t, c, rc.log)
		goodCh, badCh := "$chat:refresh-"+proto.String(), "$chat:norefresh-"+proto.String()
		rc.good = newSubscriptionWith(t, c, goodCh, centrifuge.SubscriptionConfig{
			Token: subToken(t, "alice", goodCh, 2*time.Second, nil),
			GetToken: func(e centrifuge.SubscriptionTokenEvent) (string, error) {
				rc.calls.Add(1)
				return subToken(t, "alice", e.Channel, 2*time.Second, nil), nil
			},
		})
		rc.bad = newSubscriptionWith(t, c, badCh, centrifuge.SubscriptionConfig{
			Token: subToken(t, "alice", badCh, 2*time.Second, nil),
			GetToken: func(e centrifuge.SubscriptionTokenEvent) (string, error) {
				if rc.failing.Add(1) == 1 {
					return "", errors.New("backend unavailable")
				}
				return subToken(t, "alice", e.Channel, time.Hour, nil), nil
			},
		})
		expectSubscribeResult(t, rc.good, 0)
		expectSubscribeResult(t, rc.bad, 0)
		cases = append(cases, rc)
	}
	// A sub_refresh token for another channel: disconnect 3500.
	imp, impLog := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "dave")})
	connectAndWait(t, imp, impLog)
	impSub := newSubscriptionWith(t, imp, "$chat:imp", centrifuge.SubscriptionConfig{
		Token: subToken(t, "dave", "$chat:imp", 2*time.Second, nil),
		GetToken: func(centrifuge.SubscriptionTokenEvent) (string, error) {
			return subToken(t, "dave", "$chat:elsewhere", time.Hour, nil), nil
		},
	})
	expectSubscribeResult(t, impSub, 0)

	for _, rc := range cases {
		// exp is at most 2 s after start; + 1 s delay; + 1 s presence tick;
		// + 2 s slack.
		ev, ok := tryWait(rc.bad.log, time.Until(start.Add(6*time.Second)), func(e centrifuge.SubscribingEvent) bool { return e.Code != 0 })
		if !ok {
			t.Errorf("%s: subscription that could not refresh was not unsubscribed within 6 s (token exp ≤ 2 s, expired_sub_close_delay 1 s, presence_update_interval 1 s):\n%s", rc.proto, rc.bad.log)
			continue
		}
		if ev.Code != 2501 || ev.Reason != "subscription expired" {
			t.Errorf("%s: subscription that could not refresh: subscribing %d %q, want 2501 \"subscription expired\"", rc.proto, ev.Code, ev.Reason)
		}
		// It resubscribes with a fresh token.
		waitCount[centrifuge.SubscribedEvent](t, rc.bad.log, 2, 5*time.Second, "resubscribed", nil)
	}

	d := waitEvent[centrifuge.DisconnectedEvent](t, impLog, 5*time.Second, "sub_refresh with another channel's token", nil)
	if d.Code != 3500 || d.Reason != "invalid token" {
		t.Errorf("sub_refresh with another channel's token: disconnected %d %q, want 3500 \"invalid token\"", d.Code, d.Reason)
	}

	time.Sleep(time.Until(start.Add(5500 * time.Millisecond)))
	for i, rc := range cases {
		if n := rc.calls.Load(); n < 2 {
			t.Errorf("%s: subscription GetToken called %d times, want ≥ 2", rc.proto, n)
		}
		if len(eventsOf[centrifuge.SubscribingEvent](rc.good.log)) != 1 ||
			len(eventsOf[centrifuge.UnsubscribedEvent](rc.good.log)) != 0 || len(eventsOf[centrifuge.SubscribedEvent](rc.good.log)) != 1 {
			t.Errorf("%s: refreshed subscription was interrupted:\n%s", rc.proto, rc.good.log)
		}
		srv.MustAPI(t, "publish", map[string]any{"channel": rc.good.Channel, "data": map[string]any{"n": i}})
		if p := rc.good.nextPublication(t, 5*time.Second); !jsonEqual(p.Data, []byte(fmt.Sprintf(`{"n":%d}`, i))) {
			t.Errorf("%s: publication %s", rc.proto, p.Data)
		}
		noDisconnects(t, rc.log)
	}
}
