package e2e_test

import (
	"errors"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

// TestFeatServerSideSubscriptions: channels from the connection token
// (`channels`, and `subs` with data) are subscribed server-side: the SDK
// reports server-side subscribed and publication events; a recoverable
// server-side subscription recovers missed publications on reconnect.
func TestFeatServerSideSubscriptions(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			pre := apiPublish(t, srv, "rec:srv", 1)

			alice, alog := newClient(t, srv, proto, centrifuge.Config{
				Token: tokenFor(t, "alice", time.Hour, jwt.MapClaims{"channels": []string{"news", "rec:srv"}}),
			})
			ass := watchServerSide(alice)
			bob, blog := newClient(t, srv, proto, centrifuge.Config{
				Token: tokenFor(t, "bob", time.Hour, jwt.MapClaims{
					// channels is ignored when subs is set.
					"channels": []string{"news"},
					"subs":     map[string]any{"locked:bob": map[string]any{"data": map[string]any{"hello": "bob"}}},
				}),
			})
			bss := watchServerSide(bob)
			connectAndWait(t, alice, alog)
			connectAndWait(t, bob, blog)

			waitEvent[centrifuge.ServerSubscribedEvent](t, ass.log, 5*time.Second, "news", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "news" })
			rs := waitEvent[centrifuge.ServerSubscribedEvent](t, ass.log, 5*time.Second, "rec:srv", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "rec:srv" })
			if !rs.Recoverable || !rs.Positioned || rs.StreamPosition == nil || rs.StreamPosition.Offset != 1 || rs.StreamPosition.Epoch != pre.Epoch {
				t.Errorf("rec:srv server-side subscribed %+v (pos %+v), want recoverable at offset 1 epoch %s", rs, rs.StreamPosition, pre.Epoch)
			}
			bsub := waitEvent[centrifuge.ServerSubscribedEvent](t, bss.log, 5*time.Second, "locked:bob", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "locked:bob" })
			if !jsonEqual(bsub.Data, []byte(`{"hello":"bob"}`)) {
				t.Errorf("subs data %q, want {\"hello\":\"bob\"}", bsub.Data)
			}
			time.Sleep(100 * time.Millisecond)
			if n := len(eventsOf[centrifuge.ServerSubscribedEvent](bss.log)); n != 1 {
				t.Errorf("bob has %d server-side subscriptions, want only locked:bob (channels ignored with subs):\n%s", n, bss.log)
			}

			srv.MustAPI(t, "publish", map[string]any{"channel": "news", "data": map[string]any{"n": 1}})
			srv.MustAPI(t, "publish", map[string]any{"channel": "locked:bob", "data": map[string]any{"n": 2}})
			if p := ass.next(t, 5*time.Second); p.Channel != "news" || pubN(t, p.Publication) != 1 {
				t.Errorf("alice server-side publication %s %s", p.Channel, p.Data)
			}
			if p := bss.next(t, 5*time.Second); p.Channel != "locked:bob" || pubN(t, p.Publication) != 2 {
				t.Errorf("bob server-side publication %s %s", p.Channel, p.Data)
			}

			// An unknown namespace among the token channels: connect error 102,
			// which the SDK treats as terminal.
			bad, badLog := newClient(t, srv, proto, centrifuge.Config{
				Token: tokenFor(t, "eve", time.Hour, jwt.MapClaims{"channels": []string{"news", "nope:x"}}),
			})
			if err := bad.Connect(); err != nil {
				t.Fatal(err)
			}
			if d, ok := tryWait(badLog, 5*time.Second, func(centrifuge.DisconnectedEvent) bool { return true }); !ok {
				t.Errorf("token with channel in an unknown namespace: not disconnected:\n%s", badLog)
			} else if d.Code != 102 || d.Reason != "unknown channel" {
				t.Errorf("token with channel in an unknown namespace: disconnected %d %q, want 102 \"unknown channel\" (connect error)", d.Code, d.Reason)
			}

			// Recovery of a server-side subscription across a reconnect.
			if err := alice.Disconnect(); err != nil {
				t.Fatal(err)
			}
			waitEvent[centrifuge.DisconnectedEvent](t, alog, 5*time.Second, "disconnected", nil)
			for i := 2; i <= 4; i++ {
				apiPublish(t, srv, "rec:srv", i)
			}
			if err := alice.Connect(); err != nil {
				t.Fatal(err)
			}
			rs2 := waitCount[centrifuge.ServerSubscribedEvent](t, ass.log, 2, 5*time.Second, "rec:srv again",
				func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "rec:srv" })[1]
			if !rs2.WasRecovering || !rs2.Recovered {
				t.Errorf("server-side resubscribe %+v, want wasRecovering and recovered", rs2)
			}
			var got []uint64
			for len(got) < 3 {
				p := ass.next(t, 5*time.Second)
				if p.Channel != "rec:srv" {
					continue
				}
				if pubN(t, p.Publication) != int(p.Offset) {
					t.Errorf("recovered %s", p.Data)
				}
				got = append(got, p.Offset)
			}
			if !sameOffsets(got, seq(2, 4)) {
				t.Errorf("recovered server-side offsets %v, want [2 3 4]", got)
			}
		})
	}
}

// TestFeatServerAPISubscribeUnsubscribe: API subscribe adds a server-side
// subscription (subscribe push); API unsubscribe removes it, and on a
// client-side subscription it produces unsubscribed code 2000.
func TestFeatServerAPISubscribeUnsubscribe(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			ss := watchServerSide(c)
			connectAndWait(t, c, log)
			cs := newSubscriptionWith(t, c, "chat:client", centrifuge.SubscriptionConfig{})
			expectSubscribeResult(t, cs, 0)

			srv.MustAPI(t, "subscribe", map[string]any{"user": "alice", "channel": "locked:api"})
			waitEvent[centrifuge.ServerSubscribedEvent](t, ss.log, 5*time.Second, "API subscribe", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "locked:api" })
			srv.MustAPI(t, "publish", map[string]any{"channel": "locked:api", "data": map[string]any{"n": 7}})
			if p := ss.next(t, 5*time.Second); p.Channel != "locked:api" || pubN(t, p.Publication) != 7 {
				t.Errorf("server-side publication %s %s", p.Channel, p.Data)
			}

			// A positioned server-side subscription through the API.
			apiPublish(t, srv, "rec:api", 1)
			srv.MustAPI(t, "subscribe", map[string]any{"user": "alice", "channel": "rec:api"})
			ev := waitEvent[centrifuge.ServerSubscribedEvent](t, ss.log, 5*time.Second, "API subscribe rec:api", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "rec:api" })
			if !ev.Recoverable || !ev.Positioned || ev.StreamPosition == nil || ev.StreamPosition.Offset != 1 {
				t.Errorf("API subscribe to a force_recovery channel: %+v (pos %+v), want recoverable at offset 1", ev, ev.StreamPosition)
			}

			srv.MustAPI(t, "unsubscribe", map[string]any{"user": "alice", "channel": "locked:api"})
			waitEvent[centrifuge.ServerUnsubscribedEvent](t, ss.log, 5*time.Second, "API unsubscribe (server-side)", func(e centrifuge.ServerUnsubscribedEvent) bool { return e.Channel == "locked:api" })

			srv.MustAPI(t, "unsubscribe", map[string]any{"user": "alice", "channel": "chat:client"})
			un := waitEvent[centrifuge.UnsubscribedEvent](t, cs.log, 5*time.Second, "API unsubscribe (client-side)", nil)
			if un.Code != 2000 || un.Reason != "server unsubscribe" {
				t.Errorf("unsubscribed %d %q, want 2000 \"server unsubscribe\"", un.Code, un.Reason)
			}
			if cs.State() != centrifuge.SubStateUnsubscribed {
				t.Errorf("subscription state %s, want unsubscribed", cs.State())
			}
			// No longer delivered.
			srv.MustAPI(t, "publish", map[string]any{"channel": "locked:api", "data": map[string]any{"n": 8}})
			srv.MustAPI(t, "publish", map[string]any{"channel": "chat:client", "data": map[string]any{"n": 9}})
			time.Sleep(200 * time.Millisecond)
			for _, p := range eventsOf[centrifuge.ServerPublicationEvent](ss.log) {
				if p.Channel == "locked:api" && pubN(t, p.Publication) == 8 {
					t.Errorf("publication after API unsubscribe delivered")
				}
			}
			cs.expectNoPublication(t, 10*time.Millisecond)
			noDisconnects(t, log)
		})
	}
}

// TestFeatServerAPIDisconnect: API disconnect with a custom code: a code in
// the reconnect range makes the SDK reconnect, a terminal one does not; the
// default is 3503 "force disconnect".
func TestFeatServerAPIDisconnect(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, featuresConfig())
	for _, proto := range bothProtocols {
		user := "dis-" + proto.String()
		c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, user)})
		connectAndWait(t, c, log)

		srv.MustAPI(t, "disconnect", map[string]any{"user": user, "disconnect": map[string]any{"code": 4001, "reason": "come back"}})
		ce := waitEvent[centrifuge.ConnectingEvent](t, log, 5*time.Second, "reconnect after 4001", func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
		if ce.Code != 4001 || ce.Reason != "come back" {
			t.Errorf("%s: connecting %d %q, want 4001 \"come back\"", proto, ce.Code, ce.Reason)
		}
		waitCount[centrifuge.ConnectedEvent](t, log, 2, 5*time.Second, "reconnected", nil)

		srv.MustAPI(t, "disconnect", map[string]any{"user": user, "disconnect": map[string]any{"code": 4501, "reason": "go away"}})
		d := waitEvent[centrifuge.DisconnectedEvent](t, log, 5*time.Second, "disconnected 4501", nil)
		if d.Code != 4501 || d.Reason != "go away" {
			t.Errorf("%s: disconnected %d %q, want 4501 \"go away\"", proto, d.Code, d.Reason)
		}

		c2, log2 := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, user)})
		connectAndWait(t, c2, log2)
		srv.MustAPI(t, "disconnect", map[string]any{"user": user})
		d = waitEvent[centrifuge.DisconnectedEvent](t, log2, 5*time.Second, "disconnected default", nil)
		if d.Code != 3503 || d.Reason != "force disconnect" {
			t.Errorf("%s: default API disconnect %d %q, want 3503 \"force disconnect\"", proto, d.Code, d.Reason)
		}
		time.Sleep(600 * time.Millisecond)
		if n := len(eventsOf[centrifuge.ConnectingEvent](log)); n != 2 {
			t.Errorf("%s: reconnected after a terminal code:\n%s", proto, log)
		}
	}
}

// TestFeatLimits: client.user_connection_limit → 3504; client.channel_limit →
// 106 for a client-side subscribe, 3505 for too many token channels.
func TestFeatLimits(t *testing.T) {
	t.Parallel()
	cfg := featuresConfig()
	cfg.Set("client.user_connection_limit", 1)
	cfg.Set("client.channel_limit", 2)
	srv := harness.Start(t, cfg)
	for _, proto := range bothProtocols {
		user := "lim-" + proto.String()
		c1, log1 := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, user)})
		connectAndWait(t, c1, log1)
		c2, log2 := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, user)})
		if err := c2.Connect(); err != nil {
			t.Fatal(err)
		}
		d := waitEvent[centrifuge.DisconnectedEvent](t, log2, 5*time.Second, "second connection", nil)
		if d.Code != 3504 || d.Reason != "connection limit" {
			t.Errorf("%s: second connection of a user: %d %q, want 3504 \"connection limit\"", proto, d.Code, d.Reason)
		}

		s1 := newSubscriptionWith(t, c1, "news", centrifuge.SubscriptionConfig{})
		s2 := newSubscriptionWith(t, c1, "chat:a", centrifuge.SubscriptionConfig{})
		s3 := newSubscriptionWith(t, c1, "chat:b", centrifuge.SubscriptionConfig{})
		expectSubscribeResult(t, s1, 0)
		expectSubscribeResult(t, s2, 0)
		expectSubscribeResult(t, s3, 106)
		ev := waitEvent[centrifuge.SubscriptionErrorEvent](t, s3.log, time.Second, "subscribe error", nil)
		var sse centrifuge.SubscriptionSubscribeError
		if !errors.As(ev.Error, &sse) {
			t.Errorf("%s: error %v", proto, ev.Error)
		} else if se, ok := serverError(sse.Err); !ok || se.Message != "limit exceeded" {
			t.Errorf("%s: subscribe error %v, want 106 \"limit exceeded\"", proto, sse.Err)
		}
		// Freeing a slot allows the next one.
		if err := s1.Unsubscribe(); err != nil {
			t.Fatal(err)
		}
		s4 := newSubscriptionWith(t, c1, "chat:c", centrifuge.SubscriptionConfig{})
		expectSubscribeResult(t, s4, 0)
		noDisconnects(t, log1)

		c3, log3 := newClient(t, srv, proto, centrifuge.Config{
			Token: tokenFor(t, "many-"+proto.String(), time.Hour, jwt.MapClaims{"channels": []string{"news", "chat:a", "chat:b"}}),
		})
		if err := c3.Connect(); err != nil {
			t.Fatal(err)
		}
		d = waitEvent[centrifuge.DisconnectedEvent](t, log3, 5*time.Second, "too many token channels", nil)
		if d.Code != 3505 || d.Reason != "channel limit" {
			t.Errorf("%s: 3 token channels with channel_limit 2: %d %q, want 3505 \"channel limit\"", proto, d.Code, d.Reason)
		}
	}
}

// TestFeatManySubscriptions: subscriptions created before connect go out
// together with the connect; more are added in a burst; every one is
// subscribed and receives its own publications.
func TestFeatManySubscriptions(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			var subs []*subscription
			for i := 0; i < 10; i++ {
				s := newSubscriptionWith(t, c, "chat:m"+string(rune('a'+i)), centrifuge.SubscriptionConfig{})
				if err := s.Subscribe(); err != nil {
					t.Fatal(err)
				}
				subs = append(subs, s)
			}
			connectAndWait(t, c, log)
			for i := 10; i < 20; i++ {
				s := newSubscriptionWith(t, c, "chat:m"+string(rune('a'+i)), centrifuge.SubscriptionConfig{})
				if err := s.Subscribe(); err != nil {
					t.Fatal(err)
				}
				subs = append(subs, s)
			}
			for _, s := range subs {
				waitEvent[centrifuge.SubscribedEvent](t, s.log, 5*time.Second, s.Channel, nil)
			}
			for i, s := range subs {
				srv.MustAPI(t, "publish", map[string]any{"channel": s.Channel, "data": map[string]any{"n": i}})
			}
			for i, s := range subs {
				if p := s.nextPublication(t, 5*time.Second); pubN(t, p) != i {
					t.Errorf("%s: publication %s, want n=%d", s.Channel, p.Data, i)
				}
				s.expectNoPublication(t, 10*time.Millisecond)
			}
			noDisconnects(t, log)
		})
	}
}

// TestFeatShutdown: on SIGTERM the server closes client connections with
// 3001 "shutdown" (the SDK goes to connecting to reconnect) and exits
// promptly instead of being killed.
func TestFeatShutdown(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, featuresConfig())
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	connectAndWait(t, c, log)
	s := newSubscriptionWith(t, c, "news", centrifuge.SubscriptionConfig{})
	expectSubscribeResult(t, s, 0)
	took := srv.Stop()
	ev := waitEvent[centrifuge.ConnectingEvent](t, log, 3*time.Second, "connecting after shutdown", func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
	if ev.Code != 3001 || ev.Reason != "shutdown" {
		t.Errorf("after SIGTERM: connecting %d %q, want 3001 \"shutdown\"", ev.Code, ev.Reason)
	}
	if took > 2*time.Second {
		t.Errorf("server took %v to exit after SIGTERM (killed after 3 s), want < 2 s", took)
	}
}
