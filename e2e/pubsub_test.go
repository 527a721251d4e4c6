package e2e_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

const numPublications = 50

// TestPublishReceiveInOrder connects with a valid token over each encoding,
// subscribes to a channel without namespace and to a namespaced one, publishes
// through the HTTP API (both authentication headers) and checks every
// publication arrives once, in order, with the exact payload bytes; then a
// broadcast to both channels.
func TestPublishReceiveInOrder(t *testing.T) {
	t.Parallel()
	for _, proto := range []protocolKind{protoJSON, protoProtobuf} {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, nil)
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			news := newSubscription(t, c, "news")
			room := newSubscription(t, c, "chat:room")
			connected := connectAndWait(t, c, log)
			if connected.ClientID == "" {
				t.Errorf("connected event has empty client ID")
			}
			subscribeAndWait(t, news)
			subscribeAndWait(t, room)

			type channelCase struct {
				sub  *subscription
				auth harness.AuthMode
				sent []string
			}
			cases := []*channelCase{
				{sub: news, auth: harness.AuthHeaderXAPIKey},
				{sub: room, auth: harness.AuthHeaderAuthorization},
			}
			// Interleave the two channels so per-channel order is checked while
			// the connection carries both streams.
			for i := 0; i < numPublications; i++ {
				for _, cc := range cases {
					data := fmt.Sprintf(`{"seq":%d,"channel":%q,"text":"message \u00e9 %d","nested":{"a":[1,2,3]}}`, i, cc.sub.Channel, i)
					res := srv.MustAPIWith(t, cc.auth, "publish", map[string]any{
						"channel": cc.sub.Channel,
						"data":    json.RawMessage(data),
					})
					// History is off: the result carries no offset/epoch.
					if string(res) != "{}" {
						t.Fatalf("publish result = %s, want {}", res)
					}
					cc.sent = append(cc.sent, data)
				}
			}
			for _, cc := range cases {
				for i, want := range cc.sent {
					p := cc.sub.nextPublication(t, 5*time.Second)
					if string(p.Data) != want {
						t.Fatalf("%s publication #%d: got %s, want %s", cc.sub.Channel, i, p.Data, want)
					}
					if p.Offset != 0 {
						t.Errorf("%s publication #%d: offset %d, want 0 (no history)", cc.sub.Channel, i, p.Offset)
					}
				}
			}

			// Broadcast reaches both channels with one call.
			bdata := `{"broadcast":true,"n":42}`
			res := srv.MustAPI(t, "broadcast", map[string]any{
				"channels": []string{"news", "chat:room"},
				"data":     json.RawMessage(bdata),
			})
			var br struct {
				Responses []struct {
					Result json.RawMessage   `json:"result"`
					Error  *harness.APIError `json:"error"`
				} `json:"responses"`
			}
			if err := json.Unmarshal(res, &br); err != nil {
				t.Fatalf("broadcast result %s: %v", res, err)
			}
			if len(br.Responses) != 2 {
				t.Fatalf("broadcast result %s: want 2 responses", res)
			}
			for i, r := range br.Responses {
				if r.Error != nil {
					t.Errorf("broadcast response %d: error %+v", i, *r.Error)
				}
			}
			for _, cc := range cases {
				p := cc.sub.nextPublication(t, 5*time.Second)
				if string(p.Data) != bdata {
					t.Errorf("%s broadcast: got %s, want %s", cc.sub.Channel, p.Data, bdata)
				}
				cc.sub.expectNoPublication(t, 200*time.Millisecond)
			}
			if n := len(eventsOf[centrifuge.DisconnectedEvent](log)); n != 0 {
				t.Errorf("unexpected disconnects:\n%s", log)
			}
		})
	}
}

// TestInfoCountsClients checks /api/info sees the connected SDK clients (one
// JSON, one Protobuf, two users, two distinct channels). Centrifugo refreshes
// its own node entry every few seconds, so the numbers are polled.
func TestInfoCountsClients(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)

	c1, log1 := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	c2, log2 := newClient(t, srv, protoProtobuf, centrifuge.Config{Token: harness.UserToken(t, "bob")})
	s1 := newSubscription(t, c1, "news")
	s2 := newSubscription(t, c2, "news")
	s3 := newSubscription(t, c2, "chat:room")
	connectAndWait(t, c1, log1)
	connectAndWait(t, c2, log2)
	subscribeAndWait(t, s1)
	subscribeAndWait(t, s2)
	subscribeAndWait(t, s3)

	type nodeInfo struct {
		UID         string `json:"uid"`
		Name        string `json:"name"`
		Version     string `json:"version"`
		NumClients  uint32 `json:"num_clients"`
		NumUsers    uint32 `json:"num_users"`
		NumChannels uint32 `json:"num_channels"`
		NumSubs     uint32 `json:"num_subs"`
	}
	want := nodeInfo{NumClients: 2, NumUsers: 2, NumChannels: 2, NumSubs: 3}
	deadline := time.Now().Add(8 * time.Second)
	var last json.RawMessage
	for {
		last = srv.MustAPI(t, "info", map[string]any{})
		var info struct {
			Nodes []nodeInfo `json:"nodes"`
		}
		if err := json.Unmarshal(last, &info); err != nil {
			t.Fatalf("info result %s: %v", last, err)
		}
		if len(info.Nodes) != 1 {
			t.Fatalf("info result %s: want exactly one node", last)
		}
		n := info.Nodes[0]
		if n.UID == "" {
			t.Fatalf("info result %s: empty uid", last)
		}
		if n.NumClients == want.NumClients && n.NumUsers == want.NumUsers &&
			n.NumChannels == want.NumChannels && n.NumSubs == want.NumSubs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("info never reported num_clients=%d num_users=%d num_channels=%d num_subs=%d; last result %s",
				want.NumClients, want.NumUsers, want.NumChannels, want.NumSubs, last)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The raw response must also carry the always-present numeric fields.
	var rawInfo struct {
		Nodes []map[string]json.RawMessage `json:"nodes"`
	}
	if err := json.Unmarshal(last, &rawInfo); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"uid", "name", "version", "num_clients", "num_users", "num_channels", "num_subs"} {
		if _, ok := rawInfo.Nodes[0][k]; !ok {
			t.Errorf("info node lacks %q: %s", k, last)
		}
	}
}
