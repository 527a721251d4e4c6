package e2e_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/e2e/harness"
)

// messageSizeLimit is websocket.message_size_limit in harness.DefaultConfig.
const messageSizeLimit = 4096

// TestOversizedFrameRaw: a frame above websocket.message_size_limit closes
// the connection with 1009.
func TestOversizedFrameRaw(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	conn := srv.DialRaw(t)
	rawConnect(t, srv, conn)
	// A frame just under the limit is accepted (reply with an id, no close).
	small := `{"id":2,"publish":{"channel":"chat:room","data":"` + strings.Repeat("a", messageSizeLimit-100) + `"}}`
	if len(small) > messageSizeLimit {
		t.Fatalf("test bug: small frame is %d bytes", len(small))
	}
	conn.Send(small)
	if msg := conn.Read(3 * time.Second); !strings.Contains(string(msg), `"id":2`) {
		t.Fatalf("reply to publish under the limit: %q", msg)
	}
	big := `{"id":3,"publish":{"channel":"chat:room","data":"` + strings.Repeat("b", messageSizeLimit+1000) + `"}}`
	conn.Send(big)
	closed := conn.WaitClose(3 * time.Second)
	if closed.Code != websocket.CloseMessageTooBig {
		t.Fatalf("closed with %d %q (%v), want 1009", closed.Code, closed.Reason, closed.Err)
	}
	t.Logf("close 1009 reason %q", closed.Reason)
	for _, m := range closed.Messages {
		// The publication of the accepted frame may arrive before the close;
		// no reply to id 3 may.
		if strings.Contains(string(m), `"id":3`) {
			t.Errorf("oversized command got a reply: %q", m)
		}
	}
}

// TestOversizedPublishSDK: the same through the SDK. centrifuge-go maps a
// 1009 close to its code 3 ("message size limit") and, unlike centrifuge-js,
// treats it as reconnectable, so the event is a connecting one.
func TestOversizedPublishSDK(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	sub := newSubscription(t, c, "chat:room")
	connectAndWait(t, c, log)
	subscribeAndWait(t, sub)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := sub.Publish(ctx, []byte(`"`+strings.Repeat("x", messageSizeLimit+100)+`"`)); err == nil {
		t.Fatalf("oversized publish succeeded")
	}
	ev := waitEvent[centrifuge.ConnectingEvent](t, log, 3*time.Second, "connecting after 1009", func(e centrifuge.ConnectingEvent) bool {
		return e.Code != 0
	})
	if ev.Code != 3 {
		t.Fatalf("connecting event code %d %q, want 3 (message size limit, from close 1009):\n%s", ev.Code, ev.Reason, log)
	}
	// The SDK comes back and the subscription still works.
	waitEvent[centrifuge.ConnectedEvent](t, log, 5*time.Second, "reconnected", func(centrifuge.ConnectedEvent) bool {
		return len(eventsOf[centrifuge.ConnectedEvent](log)) >= 2
	})
	waitEvent[centrifuge.SubscribedEvent](t, sub.log, 5*time.Second, "resubscribed", func(centrifuge.SubscribedEvent) bool {
		return len(eventsOf[centrifuge.SubscribedEvent](sub.log)) >= 2
	})
	srv.MustAPI(t, "publish", map[string]any{"channel": "chat:room", "data": map[string]any{"ok": true}})
	if p := sub.nextPublication(t, 5*time.Second); string(p.Data) != `{"ok":true}` {
		t.Errorf("publication %s", p.Data)
	}
}

// TestSubscribeErrors: unknown namespace → 102, namespace that does not allow
// client subscriptions → 103. The SDK reports the error and ends the
// subscription with the same code; the connection stays up.
func TestSubscribeErrors(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	for _, proto := range []protocolKind{protoJSON, protoProtobuf} {
		t.Run(proto.String(), func(t *testing.T) {
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			connectAndWait(t, c, log)
			cases := []struct {
				channel string
				code    uint32
				message string
			}{
				{"nope:x", 102, "unknown channel"},
				{"locked:x", 103, "permission denied"},
			}
			for _, tc := range cases {
				sub := newSubscription(t, c, tc.channel)
				if err := sub.Subscribe(); err != nil {
					t.Fatalf("Subscribe(%q): %v", tc.channel, err)
				}
				ev := waitEvent[centrifuge.SubscriptionErrorEvent](t, sub.log, 5*time.Second, "subscribe error", nil)
				var sse centrifuge.SubscriptionSubscribeError
				if !errors.As(ev.Error, &sse) {
					t.Fatalf("%s: error %T %v, want SubscriptionSubscribeError", tc.channel, ev.Error, ev.Error)
				}
				se, ok := serverError(sse.Err)
				if !ok || se.Code != tc.code || se.Message != tc.message {
					t.Fatalf("%s: subscribe error %v, want %d %q", tc.channel, sse.Err, tc.code, tc.message)
				}
				un := waitEvent[centrifuge.UnsubscribedEvent](t, sub.log, 5*time.Second, "unsubscribed", nil)
				if un.Code != tc.code {
					t.Errorf("%s: unsubscribed code %d, want %d", tc.channel, un.Code, tc.code)
				}
				if n := len(eventsOf[centrifuge.SubscribedEvent](sub.log)); n != 0 {
					t.Errorf("%s: subscribed anyway:\n%s", tc.channel, sub.log)
				}
			}
			// Still connected, and a permitted subscription works.
			ok := newSubscription(t, c, "chat:ok")
			subscribeAndWait(t, ok)
			if n := len(eventsOf[centrifuge.DisconnectedEvent](log)) + len(eventsOf[centrifuge.ConnectingEvent](log)); n != 1 {
				t.Errorf("connection dropped after subscribe errors:\n%s", log)
			}
		})
	}
}

// TestCommandBeforeConnect: any command other than connect on a fresh
// connection is a protocol violation → 3501 "bad request".
func TestCommandBeforeConnect(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	conn := srv.DialRaw(t)
	conn.Send(`{"id":1,"subscribe":{"channel":"news"}}`)
	closed := conn.WaitClose(3 * time.Second)
	if closed.Code != 3501 || closed.Reason != "bad request" {
		t.Fatalf("closed with %d %q (%v), want 3501 \"bad request\"", closed.Code, closed.Reason, closed.Err)
	}
	if len(closed.Messages) != 0 {
		t.Errorf("got replies before the close: %q", closed.Messages)
	}
}

// TestStaleConnection: a connection that never sends connect is closed with
// 3502 "stale" after client.stale_close_delay (1s here; the default is 10s,
// so a server that ignores the key is caught by the timing check).
func TestStaleConnection(t *testing.T) {
	t.Parallel()
	cfg := harness.DefaultConfig().Set("client.stale_close_delay", "1s")
	srv := harness.Start(t, cfg)
	conn := srv.DialRaw(t)
	start := time.Now()
	closed := conn.WaitClose(12 * time.Second)
	elapsed := closed.At.Sub(start)
	if closed.Code != 3502 || closed.Reason != "stale" {
		t.Fatalf("closed with %d %q (%v) after %v, want 3502 \"stale\"", closed.Code, closed.Reason, closed.Err, elapsed)
	}
	if elapsed < 900*time.Millisecond {
		t.Errorf("closed after %v, before stale_close_delay", elapsed)
	}
	if elapsed > 3*time.Second {
		t.Errorf("stale close after %v although client.stale_close_delay is 1s", elapsed)
	}
}
