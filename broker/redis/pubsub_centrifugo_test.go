package redis

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/codec"
)

// What a Centrifugo node sends through Redis reaches Rotor's Pub/Sub side:
// publications with history (__p1, positions equal to Centrifugo's publish
// result), delta publications (__d1 with the previous payload), and the
// joins and leaves of a Centrifugo client. Presence is shared both ways.
func TestCentrifugoPubSubAndPresence(t *testing.T) {
	centrifugoBin(t)
	srv := redistest.Start(t)
	cf := startCentrifugo(t, map[string]any{"address": []string{srv.URL()}, "presence_user_mapping": true},
		map[string]any{"presence": true, "join_leave": true, "force_push_join_leave": true})
	testCentrifugoPubSubAndPresence(t, cf, newTestBroker(t, srv, Options{PresenceUserMapping: true}))
}

// The same in Redis Cluster (P.client.{CH}, presence keys with {CH}).
func TestCentrifugoPubSubAndPresenceCluster(t *testing.T) {
	centrifugoBin(t)
	c := redistest.SharedCluster(t)
	seeds := strings.Join(c.Addrs(), ",")
	cf := startCentrifugo(t, map[string]any{"cluster_address": []string{seeds}, "presence_user_mapping": true},
		map[string]any{"presence": true, "join_leave": true, "force_push_join_leave": true})
	testCentrifugoPubSubAndPresence(t, cf, newTestBroker(t, nil, Options{ClusterAddress: []string{seeds}, PresenceUserMapping: true}))
}

func testCentrifugoPubSubAndPresence(t *testing.T, cf *centrifugo, b *Broker) {
	h := newChanHandler()
	b.SetLogger(testLogger(t))
	if err := b.RegisterBrokerEventHandler(h); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Subscribe(ctx, "mixed"); err != nil {
		t.Fatal(err)
	}

	var res apiPosition
	cf.call("publish", map[string]any{"channel": "mixed", "data": map[string]int{"n": 1}}, &res)
	if p := h.expectPub(t, "mixed", `{"n":1}`); p.sp != (codec.StreamPosition{Offset: res.Offset, Epoch: res.Epoch}) || p.delta {
		t.Fatalf("%+v, centrifugo says %+v", p, res)
	}
	cf.call("publish", map[string]any{"channel": "mixed", "data": map[string]int{"n": 2}, "delta": true}, &res)
	if p := h.expectPub(t, "mixed", `{"n":2}`); !p.delta || p.prev != `{"n":1}` || p.sp.Offset != res.Offset {
		t.Fatalf("delta %+v, centrifugo says %+v", p, res)
	}

	// A Centrifugo client joins: its join arrives, and its presence entry
	// (written by Centrifugo) is read by Rotor.
	w := cf.connect()
	w.command(map[string]any{"subscribe": map[string]any{"channel": "mixed"}})
	var joined string
	select {
	case joined = <-h.joins:
	case <-time.After(5 * time.Second):
		t.Fatal("no join from centrifugo")
	}
	p, err := b.Presence(ctx, "mixed")
	if err != nil || len(p) != 1 {
		t.Fatalf("%+v %v", p, err)
	}
	var cfClientID string
	for id := range p {
		cfClientID = id
	}
	if joined != "mixed/"+cfClientID {
		t.Fatalf("join %q, presence %v", joined, p)
	}

	// Rotor adds presence: Centrifugo's presence and presence_stats see it.
	if err := b.AddPresence(ctx, "mixed", "rotor-client", &codec.ClientInfo{User: "ru", Client: "rotor-client"}); err != nil {
		t.Fatal(err)
	}
	var pres struct {
		Presence map[string]struct {
			User   string `json:"user"`
			Client string `json:"client"`
		} `json:"presence"`
	}
	cf.call("presence", map[string]any{"channel": "mixed"}, &pres)
	if pres.Presence["rotor-client"].User != "ru" || len(pres.Presence) != 2 {
		t.Fatalf("centrifugo presence %+v", pres)
	}
	var stats struct {
		NumClients int `json:"num_clients"`
		NumUsers   int `json:"num_users"`
	}
	cf.call("presence_stats", map[string]any{"channel": "mixed"}, &stats)
	if stats.NumClients != 2 || stats.NumUsers != 2 {
		t.Fatalf("centrifugo presence_stats %+v", stats)
	}
	st, err := b.PresenceStats(ctx, "mixed")
	if err != nil || st.NumClients != 2 || st.NumUsers != 2 {
		t.Fatalf("rotor presence stats %+v %v", st, err)
	}
	if err := b.RemovePresence(ctx, "mixed", "rotor-client", "ru"); err != nil {
		t.Fatal(err)
	}
	cf.call("presence_stats", map[string]any{"channel": "mixed"}, &stats)
	if stats.NumClients != 1 || stats.NumUsers != 1 {
		t.Fatalf("centrifugo presence_stats after remove %+v", stats)
	}

	// Rotor's join reaches the Centrifugo client as a join push.
	if err := b.PublishJoin(ctx, "mixed", &codec.ClientInfo{User: "ru", Client: "rotor-client"}); err != nil {
		t.Fatal(err)
	}
	for {
		var m struct {
			Push *struct {
				Join *struct {
					Info struct {
						Client string `json:"client"`
					} `json:"info"`
				} `json:"join"`
			} `json:"push"`
		}
		if err := json.Unmarshal(w.read(), &m); err != nil {
			t.Fatal(err)
		}
		// (The client's own join comes first.)
		if m.Push != nil && m.Push.Join != nil && m.Push.Join.Info.Client == "rotor-client" {
			break
		}
	}

	// The client leaves: the leave arrives.
	w.conn.Close()
	select {
	case l := <-h.leaves:
		if l != "mixed/"+cfClientID {
			t.Fatal(l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no leave from centrifugo")
	}
}
