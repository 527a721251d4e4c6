package e2e_test

// Expiry changes take effect on time: a server API refresh or a refresh proxy
// answer that moves a connection's expiry re-arms the server's timer, so the new
// expiry is enforced within about a second even when the next ping is far away;
// and the conn info such a refresh brings is what presence shows from then on.

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
// later; the new info is in presence at once.
func TestServerRefreshExpiryOnTime(t *testing.T) {
	t.Parallel()
	cfg := exLongPing(harness.DefaultConfig())
	cfg.Set("channel.namespaces", []any{
		map[string]any{"name": "chat", "allow_subscribe_for_client": true, "presence": true},
	})
	srv := harness.Start(t, cfg)
	noToken := func(centrifuge.ConnectionTokenEvent) (string, error) {
		return "", fmt.Errorf("no new token in this test")
	}
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: saToken(t, "ex-user", map[string]any{"v": 1}), GetToken: noToken})
	id := connectAndWait(t, c, log).ClientID
	s := newSubscription(t, c, "chat:ex")
	subscribeAndWait(t, s)
	exWaitPresenceInfo(t, srv, "chat:ex", id, `{"v":1}`, 2*time.Second)

	expireAt := time.Now().Unix() + 2
	srv.MustAPI(t, "refresh", map[string]any{"user": "ex-user", "expire_at": expireAt, "info": map[string]any{"v": 2}})
	// Presence shows the refreshed info (the old entry is replaced, not added to).
	if got := exPresenceInfo(t, srv, "chat:ex", id); !saJSONEq([]byte(got), []byte(`{"v":2}`)) {
		t.Errorf("presence conn_info after refresh %s, want {\"v\":2}", got)
	}

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
// expired:true → 3005), not a ping interval later; the info of the first answer
// is in presence meanwhile.
func TestRefreshProxyExpiryOnTime(t *testing.T) {
	t.Parallel()
	b := harness.StartBackend(t)
	var refreshes atomic.Int32
	var secondExpireAt atomic.Int64
	b.Handle("/connect", func(r harness.BackendRequest) harness.BackendReply {
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{
			"user": "exr-user", "expire_at": time.Now().Unix() + 1, "info": map[string]any{"v": 0},
			"channels": []string{"auto:exr"},
		}}}
	})
	b.Handle("/refresh", func(r harness.BackendRequest) harness.BackendReply {
		if refreshes.Add(1) == 1 {
			at := time.Now().Unix() + 2
			secondExpireAt.Store(at)
			return harness.BackendReply{Body: map[string]any{"result": map[string]any{
				"expire_at": at, "info": map[string]any{"v": 1},
			}}}
		}
		return harness.BackendReply{Body: `{"result":{"expired":true}}`}
	})
	srv := harness.Start(t, exLongPing(pxConfig(b)))
	c := pxNewClient(t, srv, protoJSON, centrifuge.Config{Header: pxHeaders("exr")})
	id := connectAndWait(t, c.c, c.log).ClientID
	exWaitPresenceInfo(t, srv, "auto:exr", id, `{"v":0}`, 2*time.Second)

	b.WaitRequests(t, "/refresh", 1, 4*time.Second)
	exWaitPresenceInfo(t, srv, "auto:exr", id, `{"v":1}`, time.Second)

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
