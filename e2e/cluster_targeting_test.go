package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// The server API's narrowing fields across nodes: subscribe, unsubscribe, refresh
// and disconnect sent to one node's HTTP API with `client` (one connection of the
// user) or `whitelist` (every connection of the user but the listed) reach only the
// named connections of that user on another node, through node control over Redis.

// targetConn is one SDK connection of the targeted user.
type targetConn struct {
	log *eventLog
	ss  *serverSide
	sub *subscription
	id  string
}

// checkServerAPITargeting drives the narrowing fields through node api's HTTP API
// at two connections of one user on node to, both subscribed to ch. Every step
// that must leave one connection alone is followed by a publication that the
// spared connection receives: its connection delivers in order, so an action that
// had reached it would have arrived before.
func checkServerAPITargeting(t *testing.T, api, to *harness.Server, ch string) {
	t.Helper()
	user := "tgt-" + strings.ReplaceAll(ch, ":", "-")
	srv := "srv-" + user // a channel without namespace, for the server-side subscription
	open := func() *targetConn {
		c, log := newClient(t, to, protoJSON, centrifuge.Config{Token: harness.UserToken(t, user)})
		ss := watchServerSide(c)
		ev := connectAndWait(t, c, log)
		sub := newSubscription(t, c, ch)
		subscribeAndWait(t, sub)
		return &targetConn{log: log, ss: ss, sub: sub, id: ev.ClientID}
	}
	one, two := open(), open()
	n := 0
	publish := func(channel string) string {
		n++
		d := fmt.Sprintf(`{"n":%d}`, n)
		api.MustAPI(t, "publish", map[string]any{"channel": channel, "data": json.RawMessage(d)})
		return d
	}
	// receives publishes into ch and checks that each of conns (all the
	// connections still subscribed to it) gets the publication.
	receives := func(conns ...*targetConn) {
		t.Helper()
		want := publish(ch)
		for _, c := range conns {
			if p := c.sub.nextPublication(t, 5*time.Second); string(p.Data) != want {
				t.Fatalf("connection %s got %s on %s, want %s", c.id, p.Data, ch, want)
			}
		}
	}

	// subscribe with client: only connection one is subscribed server-side.
	api.MustAPI(t, "subscribe", map[string]any{"user": user, "channel": srv, "client": one.id})
	waitEvent[centrifuge.ServerSubscribedEvent](t, one.ss.log, 5*time.Second, "server-side subscribe of connection one",
		func(e centrifuge.ServerSubscribedEvent) bool { return e.Channel == srv })
	want := publish(srv)
	select {
	case e := <-one.ss.pubs:
		if e.Channel != srv || string(e.Data) != want {
			t.Fatalf("server-side publication %s %s, want %s %s", e.Channel, e.Data, srv, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no publication on connection one's server-side subscription; events:\n%s", one.ss.log)
	}
	receives(one, two)
	if evs := eventsOf[centrifuge.ServerSubscribedEvent](two.ss.log); len(evs) != 0 {
		t.Fatalf("subscribe with client %s also subscribed connection two: %+v", one.id, evs)
	}

	// unsubscribe with client: only connection two loses ch, with 2000.
	api.MustAPI(t, "unsubscribe", map[string]any{"user": user, "channel": ch, "client": two.id})
	un := waitEvent[centrifuge.UnsubscribedEvent](t, two.sub.log, 5*time.Second, "connection two unsubscribed", nil)
	if un.Code != 2000 || un.Reason != "server unsubscribe" {
		t.Fatalf("connection two unsubscribed with %d %q, want 2000 \"server unsubscribe\"", un.Code, un.Reason)
	}
	receives(one)
	if st := one.sub.State(); st != centrifuge.SubStateSubscribed {
		t.Fatalf("connection one's subscription is %s after an unsubscribe with client %s", st, two.id)
	}

	// refresh with client and expired: only connection two is disconnected with
	// 3005 (and reconnects, its token being valid).
	api.MustAPI(t, "refresh", map[string]any{"user": user, "client": two.id, "expired": true})
	ce := waitEvent[centrifuge.ConnectingEvent](t, two.log, 5*time.Second, "connection two refreshed as expired",
		func(e centrifuge.ConnectingEvent) bool { return e.Code != 0 })
	if ce.Code != 3005 {
		t.Fatalf("connection two: connecting %d %q after refresh expired, want 3005", ce.Code, ce.Reason)
	}
	two.id = saWaitN[centrifuge.ConnectedEvent](t, two.log, 2, 5*time.Second, "connection two reconnected", nil)[1].ClientID
	receives(one)
	for _, e := range eventsOf[centrifuge.ConnectingEvent](one.log) {
		if e.Code != 0 {
			t.Fatalf("refresh with client %s also reached connection one: connecting %d %q", two.id, e.Code, e.Reason)
		}
	}

	// disconnect with a whitelist: connection two goes, the listed one stays.
	api.MustAPI(t, "disconnect", map[string]any{"user": user, "whitelist": []string{one.id},
		"disconnect": map[string]any{"code": 4501, "reason": "not you"}})
	d := waitEvent[centrifuge.DisconnectedEvent](t, two.log, 5*time.Second, "connection two disconnected", nil)
	if d.Code != 4501 || d.Reason != "not you" {
		t.Fatalf("connection two disconnected with %d %q, want 4501 \"not you\"", d.Code, d.Reason)
	}
	receives(one)
	if evs := eventsOf[centrifuge.DisconnectedEvent](one.log); len(evs) != 0 {
		t.Fatalf("whitelisted connection one was disconnected: %+v", evs)
	}

	// disconnect with client: connection one goes.
	api.MustAPI(t, "disconnect", map[string]any{"user": user, "client": one.id,
		"disconnect": map[string]any{"code": 4502, "reason": "just you"}})
	d = waitEvent[centrifuge.DisconnectedEvent](t, one.log, 5*time.Second, "connection one disconnected", nil)
	if d.Code != 4502 || d.Reason != "just you" {
		t.Fatalf("connection one disconnected with %d %q, want 4502 \"just you\"", d.Code, d.Reason)
	}
}

// TestClusterServerAPITargeting: two Rotor nodes on one redis-server, the API of
// each aimed at connections on the other.
func TestClusterServerAPITargeting(t *testing.T) {
	r := harness.StartRedis(t)
	nodes := startNodes(t, 2, map[string]any{"address": []string{r.URL()}})
	t.Run("AToB", func(t *testing.T) { checkServerAPITargeting(t, nodes[0], nodes[1], clusterNS+":tgt-ab") })
	t.Run("BToA", func(t *testing.T) { checkServerAPITargeting(t, nodes[1], nodes[0], clusterNS+":tgt-ba") })
}

// TestClusterMixedCentrifugoTargeting: one Rotor and one Centrifugo v6 node
// ($CENTRIFUGO_BIN, never committed; skipped when unset) on one redis-server,
// each API aimed at connections on the other.
func TestClusterMixedCentrifugoTargeting(t *testing.T) {
	cf := os.Getenv("CENTRIFUGO_BIN")
	if cf == "" {
		t.Skip("CENTRIFUGO_BIN is not set: set it to a Centrifugo v6 binary to run the mixed Rotor/Centrifugo cluster")
	}
	r := harness.StartRedis(t)
	engine := map[string]any{"address": []string{r.URL()}}
	rotor := harness.Start(t, clusterConfig("node-a", engine))
	centrifugo := harness.StartBinary(t, cf, clusterConfig("node-b", engine))
	t.Run("RotorToCentrifugo", func(t *testing.T) { checkServerAPITargeting(t, rotor, centrifugo, clusterNS+":tgt-rc") })
	t.Run("CentrifugoToRotor", func(t *testing.T) { checkServerAPITargeting(t, centrifugo, rotor, clusterNS+":tgt-cr") })
}
