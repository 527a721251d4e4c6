package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

// recorder keeps every publication data a subscription receives, in order.
type recorder struct {
	mu   sync.Mutex
	data []string
}

func (r *recorder) add(b []byte) {
	r.mu.Lock()
	r.data = append(r.data, string(b))
	r.mu.Unlock()
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.data...)
}

// TestConcurrentPublishersOneOrder publishes to a channel without history from
// several HTTP API connections at once and checks that every subscriber, over
// both protocols, receives the publications in one and the same order.
func TestConcurrentPublishersOneOrder(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	const subscribers, publishers, perPublisher = 24, 8, 150
	recs := make([]*recorder, subscribers)
	for i := range recs {
		proto := protoJSON
		if i%2 == 1 {
			proto = protoProtobuf
		}
		c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, fmt.Sprint("u", i))})
		rec := &recorder{}
		sub, err := c.NewSubscription("news", centrifuge.SubscriptionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		subscribed := make(chan struct{})
		sub.OnSubscribed(func(centrifuge.SubscribedEvent) { close(subscribed) })
		sub.OnPublication(func(e centrifuge.PublicationEvent) { rec.add(e.Data) })
		connectAndWait(t, c, log)
		if err := sub.Subscribe(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-subscribed:
		case <-time.After(5 * time.Second):
			t.Fatalf("subscriber %d not subscribed", i)
		}
		recs[i] = rec
	}

	// One keep-alive HTTP connection per publisher, so the publishes really run
	// concurrently in the server.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: publishers}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < perPublisher; i++ {
				body := fmt.Sprintf(`{"channel":"news","data":{"p":%d,"i":%d}}`, p, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.BaseURL+"/api/publish", bytes.NewReader([]byte(body)))
				req.Header.Set("X-API-Key", harness.APIKey)
				resp, err := client.Do(req)
				if err != nil {
					cancel()
					t.Errorf("publish: %v", err)
					return
				}
				var out bytes.Buffer
				_, _ = out.ReadFrom(resp.Body)
				resp.Body.Close()
				cancel()
				if resp.StatusCode != http.StatusOK || out.String() != `{"result":{}}` {
					t.Errorf("publish: HTTP %d %s", resp.StatusCode, out.String())
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	total := publishers * perPublisher
	deadline := time.Now().Add(15 * time.Second)
	for i, r := range recs {
		for len(r.snapshot()) < total && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := len(r.snapshot()); n != total {
			t.Fatalf("subscriber %d received %d publications, want %d", i, n, total)
		}
	}
	want := recs[0].snapshot()
	for s := 1; s < subscribers; s++ {
		got := recs[s].snapshot()
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("subscriber %d diverges from subscriber 0 at publication %d: %s vs %s", s, i, got[i], want[i])
			}
		}
	}
}

// TestFarFutureTokenExpiry connects with a connection token and subscribes with a
// subscription token whose exp is 9999-12-31 (253402300799). The server used to
// overflow the expiry and close the connection with 3005 at once, and the SDK
// reconnected in a loop. Expiry checks run every 100 ms here, so an expiry taken
// as past shows within the second the test waits.
func TestFarFutureTokenExpiry(t *testing.T) {
	t.Parallel()
	cfg := featuresConfig()
	cfg.Set("client.presence_update_interval", "100ms")
	cfg.Set("client.expired_sub_close_delay", "10ms")
	srv := harness.Start(t, cfg)
	const farFuture = 253402300799
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			user := "far-" + proto.String()
			tok := harness.Token(t, harness.HMACSecret, jwt.MapClaims{"sub": user, "exp": farFuture})
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: tok})
			channel := "$chat:far-" + proto.String()
			sub := newSubscriptionWith(t, c, channel, centrifuge.SubscriptionConfig{
				Token: harness.Token(t, harness.HMACSecret, jwt.MapClaims{"sub": user, "channel": channel, "exp": farFuture}),
			})
			connectAndWait(t, c, log)
			subscribeAndWait(t, sub)
			time.Sleep(time.Second)
			noDisconnects(t, log)
			if n := len(eventsOf[centrifuge.UnsubscribedEvent](sub.log)); n != 0 {
				t.Fatalf("subscription ended:\n%s", sub.log)
			}
			srv.MustAPI(t, "publish", map[string]any{"channel": channel, "data": map[string]any{"far": 1}})
			if p := sub.nextPublication(t, 5*time.Second); !jsonEqual(p.Data, []byte(`{"far":1}`)) {
				t.Fatalf("publication %s", p.Data)
			}
			noDisconnects(t, log)
		})
	}
}

// TestServerSubscribeUnencodableData asks the server API to subscribe a JSON client
// with b64data that is not JSON, which the JSON protocol cannot carry. The API
// answers error 100 (internal), the client keeps its connection unsubscribed, and a
// later valid subscribe works. The server used to answer {} and disconnect the
// client with 3010 "insufficient state".
func TestServerSubscribeUnencodableData(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, featuresConfig())
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "bin")})
	ss := watchServerSide(c)
	connectAndWait(t, c, log)
	r := srv.API(t, "subscribe", map[string]any{"user": "bin", "channel": "chat:bin", "b64data": []byte{0xff, 0x00}})
	if r.Error == nil || r.Error.Code != 100 {
		t.Fatalf("subscribe with binary data for a JSON client: %s, want error 100", r.Body)
	}
	srv.MustAPI(t, "subscribe", map[string]any{"user": "bin", "channel": "chat:bin", "data": map[string]any{"ok": 1}})
	waitCount[centrifuge.ServerSubscribedEvent](t, ss.log, 1, 5*time.Second, "server-side subscribed", nil)
	srv.MustAPI(t, "publish", map[string]any{"channel": "chat:bin", "data": map[string]any{"n": 1}})
	if p := ss.next(t, 5*time.Second); !jsonEqual(p.Data, []byte(`{"n":1}`)) {
		t.Fatalf("publication %s", p.Data)
	}
	noDisconnects(t, log)
}
