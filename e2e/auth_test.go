package e2e_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

// TestBadTokenSignature: a token signed with another key is an invalid token,
// so the server closes with 3500 and the SDK does not reconnect.
func TestBadTokenSignature(t *testing.T) {
	t.Parallel()
	for _, proto := range []protocolKind{protoJSON, protoProtobuf} {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, nil)
			bad := harness.Token(t, "not-the-secret", jwt.MapClaims{"sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()})
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: bad})
			if err := c.Connect(); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			d := waitEvent[centrifuge.DisconnectedEvent](t, log, 5*time.Second, "disconnected", nil)
			if d.Code != 3500 || d.Reason != "invalid token" {
				t.Fatalf("disconnected with %d %q, want 3500 \"invalid token\"", d.Code, d.Reason)
			}
			// No reconnect: reconnect delays are 100–500 ms here, so a second
			// attempt would show up as another connecting event.
			time.Sleep(1500 * time.Millisecond)
			if n := len(eventsOf[centrifuge.ConnectingEvent](log)); n != 1 {
				t.Errorf("%d connecting events, want only the initial one:\n%s", n, log)
			}
			if n := len(eventsOf[centrifuge.ConnectedEvent](log)); n != 0 {
				t.Errorf("client connected with a bad token:\n%s", log)
			}
			if st := c.State(); st != centrifuge.StateDisconnected {
				t.Errorf("state %q, want disconnected", st)
			}
		})
	}
}

// TestExpiredTokenRefresh: an expired token gets connect error 109 (a reply,
// not a disconnect); the SDK then asks GetToken for a new one and connects.
func TestExpiredTokenRefresh(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	expired := harness.Token(t, harness.HMACSecret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Minute).Unix()})
	var getTokenCalls atomic.Int32
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{
		Token: expired,
		GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
			getTokenCalls.Add(1)
			return harness.UserToken(t, "alice"), nil
		},
	})
	connectAndWait(t, c, log)

	var got109 bool
	for _, e := range eventsOf[centrifuge.ErrorEvent](log) {
		var ce centrifuge.ConnectError
		if !errors.As(e.Error, &ce) {
			continue
		}
		if se, ok := serverError(ce.Err); ok {
			if se.Code != 109 || se.Message != "token expired" {
				t.Errorf("connect error %d %q, want 109 \"token expired\"", se.Code, se.Message)
			}
			got109 = true
		}
	}
	if !got109 {
		t.Errorf("no connect error 109 reported:\n%s", log)
	}
	if n := getTokenCalls.Load(); n != 1 {
		t.Errorf("GetToken called %d times, want 1", n)
	}
	if n := len(eventsOf[centrifuge.DisconnectedEvent](log)); n != 0 {
		t.Errorf("unexpected disconnected events:\n%s", log)
	}

	// The refreshed connection works.
	sub := newSubscription(t, c, "news")
	subscribeAndWait(t, sub)
	srv.MustAPI(t, "publish", map[string]any{"channel": "news", "data": map[string]any{"after": "refresh"}})
	if p := sub.nextPublication(t, 5*time.Second); string(p.Data) != `{"after":"refresh"}` {
		t.Errorf("publication %s", p.Data)
	}
}
