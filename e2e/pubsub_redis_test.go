package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// historyRedisConfig is redisNodeConfig with a "hist" namespace keeping history
// and forcing recovery.
func historyRedisConfig(addr, name string) harness.Config {
	return redisNodeConfig(addr, name).Set("channel.namespaces", []any{
		map[string]any{
			"name": "hist", "allow_subscribe_for_client": true,
			"history_size": 100, "history_ttl": "300s", "force_recovery": true,
		},
	})
}

// Two nodes on one Redis; an SDK client on node B subscribed to a recovering
// channel gets, in order, what node A's API publishes. Redis is killed and
// started again, empty, on the same port: node A's API fails quickly while
// Redis is down, node B resubscribes and tells the client (insufficient state),
// the SDK resubscribes, and publications after the restart reach it.
func TestRedisPubSubAcrossNodesAndRestart(t *testing.T) {
	r := harness.StartRedis(t)
	a := harness.Start(t, historyRedisConfig(r.Addr(), "node-a"))
	b := harness.Start(t, historyRedisConfig(r.Addr(), "node-b"))

	client, clog := newClient(t, b, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "u1")})
	connectAndWait(t, client, clog)
	sub := newSubscription(t, client, "hist:room")
	subscribeAndWait(t, sub)

	for i := 1; i <= 20; i++ {
		a.MustAPI(t, "publish", map[string]any{"channel": "hist:room", "data": map[string]int{"n": i}})
	}
	for i := 1; i <= 20; i++ {
		p := sub.nextPublication(t, 5*time.Second)
		if want := fmt.Sprintf(`{"n":%d}`, i); string(p.Data) != want || p.Offset != uint64(i) {
			t.Fatalf("got %s at offset %d, want %s at %d", p.Data, p.Offset, want, i)
		}
	}

	r.Kill()
	start := time.Now()
	if res := a.API(t, "publish", map[string]any{"channel": "hist:room", "data": map[string]int{"n": 0}}); res.Error == nil {
		t.Fatalf("publish with Redis down succeeded: %+v", res)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("publish with Redis down took %v", d)
	}
	r.Start()

	// The subscription goes through subscribing (insufficient state) and is
	// subscribed again.
	waitEvent[centrifuge.SubscribingEvent](t, sub.log, 15*time.Second, "resubscribing after the Redis restart (2500)", func(e centrifuge.SubscribingEvent) bool { return e.Code == 2500 })
	waitEvent[centrifuge.SubscribedEvent](t, sub.log, 15*time.Second, "subscribed again", func(e centrifuge.SubscribedEvent) bool { return e.WasRecovering })

	deadline := time.Now().Add(10 * time.Second)
	for {
		res := a.API(t, "publish", map[string]any{"channel": "hist:room", "data": map[string]string{"after": "restart"}})
		if res.Error == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish after restart: %+v", res.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := sub.nextPublication(t, 10*time.Second)
	if string(p.Data) != `{"after":"restart"}` {
		t.Fatalf("after restart got %s", p.Data)
	}
}
