package e2e_test

// The sub_refresh proxy decides about a subscription whose expiry came from the
// subscribe proxy (namespace with sub_refresh_proxy_enabled), as in Centrifugo:
// an answer that extends it keeps it (with the new chan info), expired:true ends it
// with 2501 "subscription expired", and a call that times out keeps it, to be asked
// again a minute later.

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// srBackend answers the subscribe proxy with expire_at now + 1 s and the
// sub_refresh proxy according to the channel: srx:extend → extended by a minute
// with chan info {"r":1}; srx:expire → expired:true; srx:timeout → no answer
// before the server gives up; srx:probe → extended by a minute.
type srBackend struct {
	*harness.Backend
	mu    sync.Mutex
	calls map[string][]time.Time // sub_refresh calls by channel
	wake  chan string            // channel of each sub_refresh call
}

func newSRBackend(t *testing.T) *srBackend {
	b := &srBackend{Backend: harness.StartBackend(t), calls: map[string][]time.Time{}, wake: make(chan string, 64)}
	b.Handle("/subscribe", func(r harness.BackendRequest) harness.BackendReply {
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{"expire_at": time.Now().Unix() + 1}}}
	})
	b.Handle("/sub_refresh", func(r harness.BackendRequest) harness.BackendReply {
		ch := r.Str("channel")
		b.mu.Lock()
		b.calls[ch] = append(b.calls[ch], time.Now())
		b.mu.Unlock()
		b.wake <- ch
		switch ch {
		case "srx:expire":
			return harness.BackendReply{Body: `{"result":{"expired":true}}`}
		case "srx:timeout":
			// Answer only once the server has given up (its proxy timeout).
			<-r.Ctx.Done()
			return harness.BackendReply{Body: `{}`}
		}
		return harness.BackendReply{Body: map[string]any{"result": map[string]any{
			"expire_at": time.Now().Unix() + 60, "info": map[string]any{"r": 1},
		}}}
	})
	return b
}

func (b *srBackend) count(ch string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls[ch])
}

// waitCall waits for a sub_refresh call about ch.
func (b *srBackend) waitCall(t *testing.T, ch string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if b.count(ch) > 0 {
			return
		}
		select {
		case <-b.wake:
		case <-deadline:
			t.Fatalf("no sub_refresh call for %s within %v; backend requests:\n%s", ch, timeout, b.Dump())
		}
	}
}

// srChanInfo returns the chan_info presence lists for client id in ch.
func srChanInfo(t *testing.T, srv *harness.Server, ch, id string) string {
	t.Helper()
	var res struct {
		Presence map[string]struct {
			ChanInfo json.RawMessage `json:"chan_info"`
		} `json:"presence"`
	}
	if err := json.Unmarshal(srv.MustAPI(t, "presence", map[string]any{"channel": ch}), &res); err != nil {
		t.Fatalf("presence result: %v", err)
	}
	return string(res.Presence[id].ChanInfo)
}

// TestSubRefreshProxyOutcomes: the three answers of the sub_refresh proxy.
func TestSubRefreshProxyOutcomes(t *testing.T) {
	t.Parallel()
	b := newSRBackend(t)
	cfg := pxConfig(b.Backend)
	sr := pxProxy(b.Backend, "/sub_refresh", nil, nil)
	sr["timeout"] = "300ms"
	cfg.Set("channel.proxy.sub_refresh", sr)
	cfg.Set("channel.namespaces", []any{
		map[string]any{"name": "srx", "presence": true, "subscribe_proxy_enabled": true, "sub_refresh_proxy_enabled": true},
	})
	// Subscription expiry is checked on the presence tick.
	cfg.Set("client.presence_update_interval", "200ms")
	cfg.Set("client.expired_sub_close_delay", "100ms")
	srv := harness.Start(t, cfg)

	subscribe := func(t *testing.T, ch string) (*pxClient, string, *subscription) {
		c := pxNewClient(t, srv, protoJSON, centrifuge.Config{Token: saToken(t, "sr-"+ch, nil)})
		id := connectAndWait(t, c.c, c.log).ClientID
		s := saSubWith(t, c.c, ch, centrifuge.SubscriptionConfig{})
		saExpectSub(t, s, 0)
		return c, id, s
	}
	stillSubscribed := func(t *testing.T, c *pxClient, s *subscription, ch string) {
		t.Helper()
		srv.MustAPI(t, "publish", map[string]any{"channel": ch, "data": map[string]any{"still": true}})
		if p := s.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"still":true}`)) {
			t.Errorf("%s: publication %s", ch, p.Data)
		}
		if n := len(eventsOf[centrifuge.UnsubscribedEvent](s.log)) + len(eventsOf[centrifuge.SubscribingEvent](s.log)); n != 1 {
			t.Errorf("%s: the subscription was interrupted:\n%s", ch, s.log)
		}
		noDisconnectsPx(t, c.log)
	}

	var extended *subscription
	t.Run("extended", func(t *testing.T) {
		c, id, s := subscribe(t, "srx:extend")
		extended = s
		b.waitCall(t, "srx:extend", 5*time.Second)
		// The answer's chan info reaches presence once it is applied.
		deadline := time.Now().Add(2 * time.Second)
		for !saJSONEq([]byte(srChanInfo(t, srv, "srx:extend", id)), []byte(`{"r":1}`)) {
			if time.Now().After(deadline) {
				t.Fatalf("presence chan_info %s, want {\"r\":1}", srChanInfo(t, srv, "srx:extend", id))
			}
			time.Sleep(20 * time.Millisecond)
		}
		stillSubscribed(t, c, s, "srx:extend")
	})

	t.Run("expired", func(t *testing.T) {
		_, _, s := subscribe(t, "srx:expire")
		b.waitCall(t, "srx:expire", 5*time.Second)
		ev := waitEvent[centrifuge.SubscribingEvent](t, s.log, 5*time.Second, "subscription expired", func(e centrifuge.SubscribingEvent) bool { return e.Code != 0 })
		if ev.Code != 2501 || ev.Reason != "subscription expired" {
			t.Errorf("subscribing %d %q, want 2501 \"subscription expired\"", ev.Code, ev.Reason)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		c, _, s := subscribe(t, "srx:timeout")
		b.waitCall(t, "srx:timeout", 5*time.Second)
		// A probe subscription made after the failed call expires a second later:
		// by the time its sub_refresh call comes, several expiry sweeps have passed
		// over srx:timeout. None may have ended it, and none may have asked again
		// (the failure extended it by a minute).
		_, _, _ = subscribe(t, "srx:probe")
		b.waitCall(t, "srx:probe", 5*time.Second)
		if n := b.count("srx:timeout"); n != 1 {
			t.Errorf("%d sub_refresh calls for srx:timeout, want 1 (the next one a minute later)", n)
		}
		stillSubscribed(t, c, s, "srx:timeout")
	})

	// The server refreshes these subscriptions itself, so the subscribe result
	// must not tell the SDK they expire: it would ask the app for a token (here
	// it has none: an error event) when the ttl elapsed, over a second ago.
	if extended != nil {
		for _, e := range eventsOf[centrifuge.SubscriptionErrorEvent](extended.log) {
			t.Errorf("srx:extend: SDK error event %v; the refresh must not involve the client", e.Error)
		}
	}
	for _, e := range []string{"srx:extend", "srx:timeout"} {
		if n := b.count(e); n != 1 {
			t.Errorf("%s: %d sub_refresh calls, want 1", e, n)
		}
	}
}
