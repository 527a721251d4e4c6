package e2e_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// TestClientSwitches drives client-level switches through centrifuge-go: the user ID
// taken from a request header, the personal channel with single_connection, and the
// node-wide connection limit.
func TestClientSwitches(t *testing.T) {
	cfg := harness.DefaultConfig().
		Set("client.user_id_http_header", "X-User-Id").
		Set("client.subscribe_to_user_personal_channel", map[string]any{
			"enabled": true, "personal_channel_namespace": "personal", "single_connection": true,
		}).
		Set("client.connection_limit", 2).
		Set("channel.namespaces", []any{map[string]any{"name": "personal", "presence": true}})
	srv := harness.Start(t, cfg)

	// A connection of alice, subscribed server-side to her personal channel.
	first, firstLog := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	firstPubs := make(chan centrifuge.ServerPublicationEvent, 4)
	first.OnPublication(func(e centrifuge.ServerPublicationEvent) { firstPubs <- e })
	connectAndWait(t, first, firstLog)
	srv.MustAPI(t, "publish", map[string]any{"channel": "personal:#alice", "data": map[string]any{"hi": "alice"}})
	select {
	case e := <-firstPubs:
		if e.Channel != "personal:#alice" || string(e.Data) != `{"hi":"alice"}` {
			t.Fatalf("personal publication %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no publication on the personal channel")
	}

	// A second connection of alice closes the first with 3504 (single_connection).
	second, secondLog := newClient(t, srv, protoProtobuf, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	connectAndWait(t, second, secondLog)
	waitEvent[centrifuge.DisconnectedEvent](t, firstLog, 5*time.Second, "3504 on the older connection",
		func(e centrifuge.DisconnectedEvent) bool { return e.Code == 3504 })

	// Two connections are the node's limit: a third is refused until one leaves. These
	// connect without a token: their user comes from X-User-Id.
	waitClients(t, srv, 1) // the closed connection has left the node
	bob, bobLog := newClient(t, srv, protoJSON, centrifuge.Config{Header: http.Header{"X-User-Id": {"bob"}}})
	connectAndWait(t, bob, bobLog)
	carol, carolLog := newClient(t, srv, protoJSON, centrifuge.Config{Header: http.Header{"X-User-Id": {"carol"}}})
	// The first dial is refused with HTTP 503 (the SDK reports it and keeps retrying).
	_ = carol.Connect()
	time.Sleep(700 * time.Millisecond)
	if evs := eventsOf[centrifuge.ConnectedEvent](carolLog); len(evs) != 0 {
		t.Fatalf("third connection accepted over client.connection_limit: %v", carolLog)
	}
	bob.Close()
	waitEvent[centrifuge.ConnectedEvent](t, carolLog, 10*time.Second, "connected once a slot frees", nil)

	// Without the header and without a token there are no credentials: 3501.
	anon, anonLog := newClient(t, srv, protoJSON, centrifuge.Config{})
	second.Close()
	_ = anon.Connect()
	waitEvent[centrifuge.DisconnectedEvent](t, anonLog, 5*time.Second, "3501 without credentials",
		func(e centrifuge.DisconnectedEvent) bool { return e.Code == 3501 })
}

// waitClients polls the info API until the node reports n connections.
func waitClients(t *testing.T, srv *harness.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var res struct {
			Nodes []struct {
				NumClients int `json:"num_clients"`
			} `json:"nodes"`
		}
		if err := json.Unmarshal(srv.MustAPI(t, "info", map[string]any{}), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Nodes) > 0 && res.Nodes[0].NumClients == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node never reported %d clients: %+v", n, res)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
