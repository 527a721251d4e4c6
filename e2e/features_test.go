package e2e_test

// Client protocol feature coverage through the official Go SDK (JSON and
// Protobuf): namespaces and permissions, tokens (info, subscription tokens,
// refresh), presence and join/leave, history and recovery, server-side
// subscriptions, limits. This file holds the shared helpers and the
// permission tests; the other features_*_test.go files hold the rest.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

var bothProtocols = []protocolKind{protoJSON, protoProtobuf}

// featuresConfig is harness.DefaultConfig with anonymous connections allowed
// and one namespace per feature under test.
func featuresConfig() harness.Config {
	cfg := harness.DefaultConfig()
	cfg.Set("client.allow_anonymous_connect_without_token", true)
	// Ping/pong timing is covered elsewhere; relaxed here so that a loaded
	// machine does not turn a late pong (3012) into a feature failure.
	cfg.Set("client.ping_interval", "10s")
	cfg.Set("client.pong_timeout", "5s")
	hist := func(size int, extra map[string]any) map[string]any {
		m := map[string]any{"history_size": size, "history_ttl": "300s"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cfg.Set("channel.namespaces", []any{
		map[string]any{"name": "chat", "allow_subscribe_for_client": true, "allow_publish_for_subscriber": true},
		map[string]any{"name": "locked"},
		map[string]any{"name": "anon", "allow_subscribe_for_client": true, "allow_subscribe_for_anonymous": true},
		map[string]any{"name": "users", "allow_subscribe_for_client": true},
		// allow_subscribe_for_client is set on purpose: user-limited channels
		// must not fall back to it.
		map[string]any{"name": "dm", "allow_subscribe_for_client": true, "allow_user_limited_channels": true},
		map[string]any{"name": "rx", "allow_subscribe_for_client": true, "channel_regex": "^[a-z0-9]+$"},
		map[string]any{"name": "pubc", "allow_publish_for_client": true},
		map[string]any{"name": "nohist", "allow_subscribe_for_client": true,
			"allow_history_for_client": true, "allow_presence_for_client": true},
		hist(10, map[string]any{"name": "hist", "allow_subscribe_for_client": true, "presence": true}),
		hist(10, map[string]any{"name": "histsub", "allow_subscribe_for_client": true, "presence": true,
			"allow_history_for_subscriber": true, "allow_presence_for_subscriber": true, "allow_positioning": true}),
		map[string]any{"name": "room", "allow_subscribe_for_client": true, "presence": true, "join_leave": true,
			"allow_presence_for_subscriber": true, "allow_publish_for_subscriber": true},
		map[string]any{"name": "roomf", "allow_subscribe_for_client": true, "presence": true, "join_leave": true,
			"force_push_join_leave": true},
		map[string]any{"name": "sec", "allow_publish_for_subscriber": true},
		hist(100, map[string]any{"name": "rec", "allow_subscribe_for_client": true, "force_recovery": true}),
		hist(2, map[string]any{"name": "rec2", "allow_subscribe_for_client": true, "force_recovery": true}),
		hist(10, map[string]any{"name": "pos", "allow_subscribe_for_client": true, "force_positioning": true}),
	})
	return cfg
}

// tokenFor returns a connection token for user valid for ttl, with extra claims.
func tokenFor(t *testing.T, user string, ttl time.Duration, extra jwt.MapClaims) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": user, "exp": time.Now().Add(ttl).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	return harness.Token(t, harness.HMACSecret, claims)
}

// subToken returns a subscription token for user and channel.
func subToken(t *testing.T, user, channel string, ttl time.Duration, extra jwt.MapClaims) string {
	t.Helper()
	return tokenFor(t, user, ttl, mergeClaims(jwt.MapClaims{"channel": channel}, extra))
}

func mergeClaims(a, b jwt.MapClaims) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// newSubscriptionWith is newSubscription with a full SubscriptionConfig; it
// also records join and leave events in the subscription log.
func newSubscriptionWith(t *testing.T, c *centrifuge.Client, channel string, cfg centrifuge.SubscriptionConfig) *subscription {
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
	sub.OnJoin(func(e centrifuge.JoinEvent) { s.log.add(e) })
	sub.OnLeave(func(e centrifuge.LeaveEvent) { s.log.add(e) })
	sub.OnPublication(func(e centrifuge.PublicationEvent) {
		s.log.add(e)
		select {
		case s.pubs <- e.Publication:
		default:
			s.log.add(fmt.Errorf("publication buffer full, dropped offset %d", e.Offset))
		}
	})
	return s
}

// serverSide records the server-side subscription events of a client.
type serverSide struct {
	log  *eventLog
	pubs chan centrifuge.ServerPublicationEvent
}

func watchServerSide(c *centrifuge.Client) *serverSide {
	s := &serverSide{log: &eventLog{}, pubs: make(chan centrifuge.ServerPublicationEvent, 1024)}
	c.OnSubscribing(func(e centrifuge.ServerSubscribingEvent) { s.log.add(e) })
	c.OnSubscribed(func(e centrifuge.ServerSubscribedEvent) { s.log.add(e) })
	c.OnUnsubscribed(func(e centrifuge.ServerUnsubscribedEvent) { s.log.add(e) })
	c.OnJoin(func(e centrifuge.ServerJoinEvent) { s.log.add(e) })
	c.OnLeave(func(e centrifuge.ServerLeaveEvent) { s.log.add(e) })
	c.OnPublication(func(e centrifuge.ServerPublicationEvent) {
		s.log.add(e)
		select {
		case s.pubs <- e:
		default:
		}
	})
	return s
}

func (s *serverSide) next(t *testing.T, timeout time.Duration) centrifuge.ServerPublicationEvent {
	t.Helper()
	select {
	case p := <-s.pubs:
		return p
	case <-time.After(timeout):
		t.Fatalf("no server-side publication within %v; events:\n%s", timeout, s.log)
		return centrifuge.ServerPublicationEvent{}
	}
}

// waitCount waits until at least n events of type T matching match were
// recorded and returns them.
func waitCount[T any](t *testing.T, l *eventLog, n int, timeout time.Duration, what string, match func(T) bool) []T {
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
			t.Fatalf("%d of %d %T (%s) within %v; events so far:\n%s", len(hits), n, zero, what, timeout, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tryWait is waitEvent that reports a timeout as ok=false instead of
// failing the test.
func tryWait[T any](l *eventLog, timeout time.Duration, match func(T) bool) (T, bool) {
	deadline := time.Now().Add(timeout)
	for {
		for _, ev := range eventsOf[T](l) {
			if match == nil || match(ev) {
				return ev, true
			}
		}
		if time.Now().After(deadline) {
			var zero T
			return zero, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctx5() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = cancel // released by the timeout; the tests are short-lived
	return ctx
}

// wantServerError fails unless err is a server error reply with code.
func wantServerError(t *testing.T, what string, err error, code uint32) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want server error %d", what, code)
		return
	}
	se, ok := serverError(err)
	if !ok {
		t.Errorf("%s: error %T %v, want server error %d", what, err, err, code)
		return
	}
	if se.Code != code {
		t.Errorf("%s: error %d %q, want %d", what, se.Code, se.Message, code)
	}
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// expectSubscribeResult subscribes and checks the outcome: code 0 means the
// subscription must succeed, otherwise the SDK must report a subscribe error
// with that code and end in the unsubscribed state with the same code.
func expectSubscribeResult(t *testing.T, s *subscription, code uint32) {
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

// noDisconnects fails if the client left the connected state since connecting.
func noDisconnects(t *testing.T, log *eventLog) {
	t.Helper()
	if n := len(eventsOf[centrifuge.DisconnectedEvent](log)) + len(eventsOf[centrifuge.ConnectingEvent](log)); n != 1 {
		t.Errorf("connection was dropped (want only the initial connecting event):\n%s", log)
	}
}

// TestFeatSubscribePermissions: allow_subscribe_for_client vs anonymous,
// private channels with a subscription token (GetToken), user-limited
// channels, channel_regex, unknown namespace.
func TestFeatSubscribePermissions(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())

			alice, alog := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			connectAndWait(t, alice, alog)
			for _, tc := range []struct {
				channel string
				code    uint32
			}{
				{"users:x", 0},
				{"anon:x", 0},
				{"news", 0},
				{"locked:x", 103},
				{"nope:x", 102},
				{"$chat:secret", 103}, // private, no token
				{"dm:#alice,bob", 0},
				{"dm:#bob,carol", 103},
				{"rx:abc123", 0},
				{"rx:ABC", 107},
				{"rx:a-b", 107},
				{"news\u00e9", 107}, // non-ASCII without regex
			} {
				s := newSubscriptionWith(t, alice, tc.channel, centrifuge.SubscriptionConfig{})
				expectSubscribeResult(t, s, tc.code)
			}
			noDisconnects(t, alog)

			// Private channel with a subscription token from GetToken.
			var mu sync.Mutex
			var asked []string
			priv := newSubscriptionWith(t, alice, "$chat:secret2", centrifuge.SubscriptionConfig{
				GetToken: func(e centrifuge.SubscriptionTokenEvent) (string, error) {
					mu.Lock()
					asked = append(asked, e.Channel)
					mu.Unlock()
					return subToken(t, "alice", e.Channel, time.Hour, nil), nil
				},
			})
			expectSubscribeResult(t, priv, 0)
			mu.Lock()
			got := append([]string(nil), asked...)
			mu.Unlock()
			if len(got) != 1 || got[0] != "$chat:secret2" {
				t.Errorf("GetToken asked for %q, want once for $chat:secret2", got)
			}
			srv.MustAPI(t, "publish", map[string]any{"channel": "$chat:secret2", "data": map[string]any{"priv": 1}})
			if p := priv.nextPublication(t, 5*time.Second); !jsonEqual(p.Data, []byte(`{"priv":1}`)) {
				t.Errorf("private channel publication %s", p.Data)
			}

			// Anonymous connection (no token at all).
			anon, nlog := newClient(t, srv, proto, centrifuge.Config{})
			connectAndWait(t, anon, nlog)
			for _, tc := range []struct {
				channel string
				code    uint32
			}{
				{"anon:y", 0},
				{"users:y", 103},
				{"news", 103}, // without_namespace has no allow_subscribe_for_anonymous
				{"dm:#alice,bob", 103},
			} {
				s := newSubscriptionWith(t, anon, tc.channel, centrifuge.SubscriptionConfig{})
				expectSubscribeResult(t, s, tc.code)
			}
			noDisconnects(t, nlog)

			// Wrong channel in a subscription token → disconnect 3500.
			bob, blog := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "bob")})
			connectAndWait(t, bob, blog)
			bad := newSubscriptionWith(t, bob, "$chat:other", centrifuge.SubscriptionConfig{
				Token: subToken(t, "bob", "$chat:not-this-one", time.Hour, nil),
			})
			if err := bad.Subscribe(); err != nil {
				t.Fatal(err)
			}
			d := waitEvent[centrifuge.DisconnectedEvent](t, blog, 5*time.Second, "disconnect after bad sub token", nil)
			if d.Code != 3500 || d.Reason != "invalid token" {
				t.Errorf("subscription token for another channel: disconnected %d %q, want 3500 \"invalid token\"", d.Code, d.Reason)
			}
		})
	}
}

// TestFeatInsecure: client.insecure lets an anonymous client connect without
// a token and subscribe/publish/presence everywhere.
func TestFeatInsecure(t *testing.T) {
	t.Parallel()
	cfg := featuresConfig()
	cfg.Set("client.allow_anonymous_connect_without_token", false)
	cfg.Set("client.insecure", true)
	srv := harness.Start(t, cfg)
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{})
	ev := connectAndWait(t, c, log)
	s := newSubscriptionWith(t, c, "locked:x", centrifuge.SubscriptionConfig{})
	expectSubscribeResult(t, s, 0)
	if _, err := s.Publish(ctx5(), []byte(`{"insecure":true}`)); err != nil {
		t.Fatalf("publish in insecure mode: %v", err)
	}
	p := s.nextPublication(t, 5*time.Second)
	if !jsonEqual(p.Data, []byte(`{"insecure":true}`)) || p.Info == nil || p.Info.Client != ev.ClientID || p.Info.User != "" {
		t.Errorf("publication %s info %+v, want client %s and empty user", p.Data, p.Info, ev.ClientID)
	}
	// Presence on a presence-enabled namespace without any allow_presence flag.
	if _, err := c.Presence(ctx5(), "hist:x"); err != nil {
		t.Errorf("presence in insecure mode: %v", err)
	}
	// History disabled still answers 108.
	_, err := c.History(ctx5(), "locked:x", centrifuge.WithHistoryLimit(1))
	wantServerError(t, "history on a namespace without history", err, 108)
}

// TestFeatClientPublishPermissions: allow_publish_for_subscriber needs a
// subscription, allow_publish_for_client does not, otherwise 103; the
// publication carries the publisher's ClientInfo.
func TestFeatClientPublishPermissions(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			c, log := newClient(t, srv, proto, centrifuge.Config{
				Token: tokenFor(t, "alice", time.Hour, jwt.MapClaims{"info": map[string]any{"name": "Alice"}}),
			})
			ev := connectAndWait(t, c, log)

			_, err := c.Publish(ctx5(), "chat:room", []byte(`{"n":0}`))
			wantServerError(t, "publish to chat:room without subscription", err, 103)
			_, err = c.Publish(ctx5(), "locked:x", []byte(`{"n":0}`))
			wantServerError(t, "publish to locked:x", err, 103)
			_, err = c.Publish(ctx5(), "nope:x", []byte(`{"n":0}`))
			wantServerError(t, "publish to nope:x", err, 102)
			if _, err := c.Publish(ctx5(), "pubc:x", []byte(`{"n":1}`)); err != nil {
				t.Errorf("publish to pubc:x (allow_publish_for_client): %v", err)
			}

			s := newSubscriptionWith(t, c, "chat:room", centrifuge.SubscriptionConfig{})
			expectSubscribeResult(t, s, 0)
			if _, err := s.Publish(ctx5(), []byte(`{"n":2}`)); err != nil {
				t.Fatalf("publish as subscriber: %v", err)
			}
			p := s.nextPublication(t, 5*time.Second)
			if !jsonEqual(p.Data, []byte(`{"n":2}`)) {
				t.Errorf("data %s", p.Data)
			}
			if p.Info == nil {
				t.Fatalf("client publication without info")
			}
			if p.Info.User != "alice" || p.Info.Client != ev.ClientID || !jsonEqual(p.Info.ConnInfo, []byte(`{"name":"Alice"}`)) {
				t.Errorf("publication info %+v (conn_info %s), want user alice client %s conn_info {\"name\":\"Alice\"}", *p.Info, p.Info.ConnInfo, ev.ClientID)
			}

			// Anonymous client may not publish in chat even when subscribed
			// (allow_subscribe_for_anonymous is off, so it cannot subscribe
			// either); pubc has no allow_publish_for_anonymous → 103.
			anon, nlog := newClient(t, srv, proto, centrifuge.Config{})
			connectAndWait(t, anon, nlog)
			_, err = anon.Publish(ctx5(), "pubc:x", []byte(`{"n":3}`))
			wantServerError(t, "anonymous publish to pubc:x", err, 103)
			noDisconnects(t, log)
		})
	}
}

// TestFeatHistoryPresencePermissions: 108 when the feature is off in the
// namespace, 103 when it is on but not allowed, allowed for subscribers with
// allow_*_for_subscriber.
func TestFeatHistoryPresencePermissions(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			ev := connectAndWait(t, c, log)

			check := func(channel string, code uint32) {
				t.Helper()
				_, err := c.History(ctx5(), channel, centrifuge.WithHistoryLimit(10))
				if code == 0 {
					if err != nil {
						t.Errorf("history %s: %v", channel, err)
					}
				} else {
					wantServerError(t, "history "+channel, err, code)
				}
				_, err = c.Presence(ctx5(), channel)
				if code == 0 {
					if err != nil {
						t.Errorf("presence %s: %v", channel, err)
					}
				} else {
					wantServerError(t, "presence "+channel, err, code)
				}
				_, err = c.PresenceStats(ctx5(), channel)
				if code == 0 {
					if err != nil {
						t.Errorf("presence_stats %s: %v", channel, err)
					}
				} else {
					wantServerError(t, "presence_stats "+channel, err, code)
				}
			}
			check("nohist:x", 108)
			check("hist:x", 103)
			check("histsub:x", 103) // not subscribed yet
			check("nope:x", 102)

			s := newSubscriptionWith(t, c, "histsub:x", centrifuge.SubscriptionConfig{})
			expectSubscribeResult(t, s, 0)
			check("histsub:x", 0)
			pr, err := s.Presence(ctx5())
			if err != nil {
				t.Fatalf("presence: %v", err)
			}
			if len(pr.Clients) != 1 || pr.Clients[ev.ClientID].User != "alice" || pr.Clients[ev.ClientID].Client != ev.ClientID {
				t.Errorf("presence %+v, want only %s (alice)", pr.Clients, ev.ClientID)
			}
			noDisconnects(t, log)
		})
	}
}
