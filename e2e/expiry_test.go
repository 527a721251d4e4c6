package e2e_test

// Expiry changes take effect on time: a server API refresh or a refresh proxy
// answer that moves a connection's expiry re-arms the server's timer, so the new
// expiry is enforced within about a second even when the next ping is far away;
// and the conn info such a refresh brings is what presence shows from then on
// (Centrifugo: from its next presence tick; Rotor: at once).

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// exLongPing makes the server's next ping (first one at a random moment in
// [interval/2, interval)) and presence tick lie far beyond what the tests wait.
func exLongPing(cfg harness.Config) harness.Config {
	cfg.Set("client.ping_interval", "40s")
	cfg.Set("client.pong_timeout", "5s")
	cfg.Set("client.presence_update_interval", "60s")
	cfg.Set("client.expired_close_delay", "100ms")
	return cfg
}

// exPresenceInfo returns the conn_info the presence API lists for client id in ch
// ("" when the client is not listed).
func exPresenceInfo(t *testing.T, srv *harness.Server, ch, id string) string {
	t.Helper()
	var res struct {
		Presence map[string]struct {
			ConnInfo json.RawMessage `json:"conn_info"`
		} `json:"presence"`
	}
	if err := json.Unmarshal(srv.MustAPI(t, "presence", map[string]any{"channel": ch}), &res); err != nil {
		t.Fatalf("presence result: %v", err)
	}
	ci, ok := res.Presence[id]
	if !ok {
		return ""
	}
	return string(ci.ConnInfo)
}

// exWaitPresenceInfo waits until the presence of ch lists id with conn info want.
func exWaitPresenceInfo(t *testing.T, srv *harness.Server, ch, id, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := exPresenceInfo(t, srv, ch, id)
		if saJSONEq([]byte(got), []byte(want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence of %s lists %s with conn_info %s, want %s", ch, id, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServerRefreshExpiryOnTime: a server API refresh that brings a
// connection's expiry close (now + 2 s) is enforced with 3005 right after it
// (plus expired_close_delay), not at the next timer wake-up a ping interval
// later.
func TestServerRefreshExpiryOnTime(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, exLongPing(harness.DefaultConfig()))
	noToken := func(centrifuge.ConnectionTokenEvent) (string, error) {
		return "", fmt.Errorf("no new token in this test")
	}
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: saToken(t, "ex-user", nil), GetToken: noToken})
	connectAndWait(t, c, log)

	expireAt := time.Now().Unix() + 2
	srv.MustAPI(t, "refresh", map[string]any{"user": "ex-user", "expire_at": expireAt})

	ev := waitEvent[centrifuge.ConnectingEvent](t, log, 8*time.Second, "expired", func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
	late := time.Since(time.Unix(expireAt, 0))
	t.Logf("3005 arrived %v after expire_at", late)
	if ev.Code != 3005 {
		t.Errorf("connecting %d %q, want 3005", ev.Code, ev.Reason)
	}
	// expire_at is a whole second; the wheel ticks every 100 ms; the close
	// delay is 100 ms: well under a second late, never early.
	if late < 0 || late > 1500*time.Millisecond {
		t.Errorf("3005 %v after expire_at, want within 1.5 s", late)
	}
}

// TestRefreshProxyExpiryOnTime: the refresh proxy's answer re-arms the timer: a
// connection it extends by 2 s is asked about again at the new expiry (here
// expired:true → 3005), not a ping interval later.
func TestRefreshProxyExpiryOnTime(t *testing.T) {
	t.Parallel()
	b := harness.StartBackend(t)
	var refreshes atomic.Int32
	var secondExpireAt atomic.Int64
	b.Handle("/connect", func(r harness.BackendRequest) harness.BackendReply {
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{
			"user": "exr-user", "expire_at": time.Now().Unix() + 1,
		}}}
	})
	b.Handle("/refresh", func(r harness.BackendRequest) harness.BackendReply {
		if refreshes.Add(1) == 1 {
			at := time.Now().Unix() + 2
			secondExpireAt.Store(at)
			return harness.BackendReply{Body: map[string]any{"result": map[string]any{
				"expire_at": at,
			}}}
		}
		return harness.BackendReply{Body: `{"result":{"expired":true}}`}
	})
	srv := harness.Start(t, exLongPing(pxConfig(b)))
	c := pxNewClient(t, srv, protoJSON, centrifuge.Config{Header: pxHeaders("exr")})
	connectAndWait(t, c.c, c.log)

	ev := waitEvent[centrifuge.ConnectingEvent](t, c.log, 8*time.Second, "expired by the refresh proxy", func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
	if ev.Code != 3005 {
		t.Errorf("connecting %d %q, want 3005", ev.Code, ev.Reason)
	}
	reqs := b.Requests("/refresh")
	if len(reqs) != 2 {
		t.Fatalf("%d refresh calls, want 2:\n%s", len(reqs), b.Dump())
	}
	late := reqs[1].At.Sub(time.Unix(secondExpireAt.Load(), 0))
	t.Logf("second refresh call %v after the extended expire_at", late)
	if late < 0 || late > 1500*time.Millisecond {
		t.Errorf("second refresh call %v after the extended expire_at, want within 1.5 s", late)
	}
}

// TestRefreshInfoInPresence: the conn info a server API refresh, or a refresh
// proxy answer, brings replaces the old one in presence (Centrifugo rewrites
// presence on its tick, here every 300 ms).
func TestRefreshInfoInPresence(t *testing.T) {
	t.Parallel()
	b := harness.StartBackend(t)
	var refreshes atomic.Int32
	b.Handle("/connect", func(r harness.BackendRequest) harness.BackendReply {
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{
			"user": "inf-proxy", "expire_at": time.Now().Unix() + 1, "info": map[string]any{"v": 0},
			"channels": []string{"auto:inf"},
		}}}
	})
	b.Handle("/refresh", func(r harness.BackendRequest) harness.BackendReply {
		refreshes.Add(1)
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{
			"expire_at": time.Now().Unix() + 3600, "info": map[string]any{"v": 1},
		}}}
	})
	cfg := pxConfig(b)
	cfg.Set("client.presence_update_interval", "300ms")
	cfg.Set("channel.namespaces", []any{
		map[string]any{"name": "auto", "presence": true},
		map[string]any{"name": "inf", "presence": true, "allow_subscribe_for_client": true},
	})
	srv := harness.Start(t, cfg)

	t.Run("refresh proxy", func(t *testing.T) {
		c := pxNewClient(t, srv, protoJSON, centrifuge.Config{Header: pxHeaders("inf")})
		id := connectAndWait(t, c.c, c.log).ClientID
		exWaitPresenceInfo(t, srv, "auto:inf", id, `{"v":0}`, 2*time.Second)
		b.WaitRequests(t, "/refresh", 1, 4*time.Second)
		exWaitPresenceInfo(t, srv, "auto:inf", id, `{"v":1}`, 2*time.Second)
		noDisconnectsPx(t, c.log)
	})

	t.Run("server API", func(t *testing.T) {
		c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: saToken(t, "inf-api", map[string]any{"v": 1})})
		id := connectAndWait(t, c, log).ClientID
		s := newSubscription(t, c, "inf:x")
		subscribeAndWait(t, s)
		exWaitPresenceInfo(t, srv, "inf:x", id, `{"v":1}`, 2*time.Second)
		srv.MustAPI(t, "refresh", map[string]any{"user": "inf-api", "expire_at": time.Now().Unix() + 3600, "info": map[string]any{"v": 2}})
		exWaitPresenceInfo(t, srv, "inf:x", id, `{"v":2}`, 2*time.Second)
	})
}
