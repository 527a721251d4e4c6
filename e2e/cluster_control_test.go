package e2e_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// redisNodeConfig is the suite's default config on the Redis engine at addr.
func redisNodeConfig(addr, name string) harness.Config {
	return harness.DefaultConfig().
		Set("engine.type", "redis").
		Set("engine.redis.address", []string{"redis://" + addr}).
		Set("node.name", name)
}

type infoNodes struct {
	Nodes []struct {
		UID        string `json:"uid"`
		Name       string `json:"name"`
		NumClients uint32 `json:"num_clients"`
	} `json:"nodes"`
}

func nodesOf(t *testing.T, srv *harness.Server) infoNodes {
	t.Helper()
	var r infoNodes
	if err := json.Unmarshal(srv.MustAPI(t, "info", map[string]any{}), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitCond polls cond every 50 ms for up to d.
func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterControl runs two nodes on one Redis: info on either lists both (with
// the other's clients), channels counts the subscribers of both, and server API
// subscribe, unsubscribe and disconnect sent to one node reach an SDK client
// connected to the other. When a node stops, the other's info drops it.
func TestClusterControl(t *testing.T) {
	addr := harness.StartRedis(t).Addr()
	a := harness.Start(t, redisNodeConfig(addr, "node-a"))
	b := harness.Start(t, redisNodeConfig(addr, "node-b"))

	client, clog := newClient(t, b, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "u1")})
	ss := watchServerSide(client)
	connectAndWait(t, client, clog)
	sub := newSubscription(t, client, "chat:room")
	subscribeAndWait(t, sub)

	waitCond(t, 10*time.Second, "both nodes in both infos", func() bool {
		ia, ib := nodesOf(t, a), nodesOf(t, b)
		if len(ia.Nodes) != 2 || len(ib.Nodes) != 2 {
			return false
		}
		for _, n := range ia.Nodes {
			if n.Name == "node-b" && n.NumClients == 1 {
				return true
			}
		}
		return false
	})

	var chans struct {
		Channels map[string]struct {
			NumClients uint32 `json:"num_clients"`
		} `json:"channels"`
	}
	if err := json.Unmarshal(a.MustAPI(t, "channels", map[string]any{"pattern": "chat:*"}), &chans); err != nil {
		t.Fatal(err)
	}
	if chans.Channels["chat:room"].NumClients != 1 {
		t.Fatalf("channels on node-a: %+v", chans)
	}

	a.MustAPI(t, "subscribe", map[string]any{"user": "u1", "channel": "news"})
	waitEvent[centrifuge.ServerSubscribedEvent](t, ss.log, 5*time.Second, "server-side news", func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == "news" })
	a.MustAPI(t, "unsubscribe", map[string]any{"user": "u1", "channel": "chat:room"})
	waitEvent[centrifuge.UnsubscribedEvent](t, sub.log, 5*time.Second, "chat:room unsubscribed", nil)
	a.MustAPI(t, "disconnect", map[string]any{"user": "u1"})
	d := waitEvent[centrifuge.DisconnectedEvent](t, clog, 5*time.Second, "disconnected", nil)
	if d.Code != 3503 {
		t.Fatalf("disconnected with %d %q, want 3503", d.Code, d.Reason)
	}

	b.Stop()
	waitCond(t, 10*time.Second, "node-b gone from node-a's info", func() bool { return len(nodesOf(t, a).Nodes) == 1 })
}
