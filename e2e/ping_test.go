package e2e_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// Timers of harness.DefaultConfig.
const (
	pingInterval = 2 * time.Second
	pongTimeout  = 1 * time.Second
)

type connectReply struct {
	ID      uint32 `json:"id"`
	Connect *struct {
		Client  string `json:"client"`
		Version string `json:"version"`
		Ping    uint32 `json:"ping"`
		Pong    bool   `json:"pong"`
	} `json:"connect"`
	Error *struct {
		Code    uint32 `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// rawConnect sends a JSON connect command with a valid token and returns the
// decoded reply.
func rawConnect(t *testing.T, srv *harness.Server, conn *harness.RawConn) connectReply {
	t.Helper()
	conn.Send(`{"id":1,"connect":{"token":"` + harness.UserToken(t, "raw") + `","name":"raw-e2e"}}`)
	msg := conn.Read(3 * time.Second)
	var rep connectReply
	if err := json.Unmarshal(bytes.TrimSpace(msg), &rep); err != nil {
		t.Fatalf("connect reply %q: %v", msg, err)
	}
	if rep.ID != 1 || rep.Connect == nil || rep.Error != nil {
		t.Fatalf("connect reply %s: want id 1 with a connect result", msg)
	}
	if rep.Connect.Client == "" {
		t.Errorf("connect reply %s: empty client", msg)
	}
	return rep
}

// TestSilentClientClosedNoPong: a client that never answers the server's {}
// pings is closed with 3012 "no pong" within ping_interval + pong_timeout.
func TestSilentClientClosedNoPong(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	conn := srv.DialRaw(t)
	rep := rawConnect(t, srv, conn)
	if rep.Connect.Ping != uint32(pingInterval/time.Second) || !rep.Connect.Pong {
		t.Errorf("connect result ping=%d pong=%v, want ping=%d pong=true", rep.Connect.Ping, rep.Connect.Pong, pingInterval/time.Second)
	}
	start := time.Now()
	const slack = 2 * time.Second // generous: CI machines are small and shared
	closed := conn.WaitClose(pingInterval + pongTimeout + slack)
	elapsed := closed.At.Sub(start)
	if closed.Code != 3012 || closed.Reason != "no pong" {
		t.Fatalf("closed with %d %q (%v) after %v, want 3012 \"no pong\"", closed.Code, closed.Reason, closed.Err, elapsed)
	}
	pings := 0
	for _, m := range closed.Messages {
		for _, line := range bytes.Split(m, []byte("\n")) {
			if string(bytes.TrimSpace(line)) == "{}" {
				pings++
			} else if len(bytes.TrimSpace(line)) > 0 {
				t.Errorf("unexpected message before close: %q", line)
			}
		}
	}
	if pings != 1 {
		t.Errorf("saw %d {} pings before the close, want exactly 1", pings)
	}
	if elapsed < pongTimeout {
		t.Errorf("closed after %v, earlier than the pong timeout %v", elapsed, pongTimeout)
	}
	t.Logf("closed %v after connect", elapsed)
}

// TestAnsweringClientStaysConnected: an SDK client (which answers pings)
// keeps its connection over more than three ping intervals. The SDK is told to
// give up after ping+2s of silence, so a server that stops pinging fails too.
func TestAnsweringClientStaysConnected(t *testing.T) {
	t.Parallel()
	for _, proto := range []protocolKind{protoJSON, protoProtobuf} {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, nil)
			c, log := newClient(t, srv, proto, centrifuge.Config{
				Token:              harness.UserToken(t, "alice"),
				MaxServerPingDelay: 2 * time.Second,
			})
			sub := newSubscription(t, c, "news")
			first := connectAndWait(t, c, log)
			subscribeAndWait(t, sub)

			time.Sleep(3*pingInterval + pingInterval/2)

			if n := len(eventsOf[centrifuge.DisconnectedEvent](log)); n != 0 {
				t.Fatalf("disconnected while answering pings:\n%s", log)
			}
			if n := len(eventsOf[centrifuge.ConnectingEvent](log)); n != 1 {
				t.Fatalf("reconnected while answering pings:\n%s", log)
			}
			if n := len(eventsOf[centrifuge.ConnectedEvent](log)); n != 1 {
				t.Fatalf("%d connected events, want 1:\n%s", n, log)
			}
			if c.State() != centrifuge.StateConnected {
				t.Fatalf("state %q", c.State())
			}
			srv.MustAPI(t, "publish", map[string]any{"channel": "news", "data": map[string]any{"still": "here"}})
			if p := sub.nextPublication(t, 5*time.Second); string(p.Data) != `{"still":"here"}` {
				t.Errorf("publication %s", p.Data)
			}
			if last := eventsOf[centrifuge.ConnectedEvent](log); last[len(last)-1].ClientID != first.ClientID {
				t.Errorf("client ID changed: reconnected")
			}
		})
	}
}
