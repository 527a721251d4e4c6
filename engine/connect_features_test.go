package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenServerSideSubscriptions(t *testing.T) {
	n := newTestNode(t, featureConfig())
	_, _ = n.Publish("feed:s", []byte(`{"i":1}`), PublishOptions{})
	_, _ = n.Publish("feed:s", []byte(`{"i":2}`), PublishOptions{})
	pos, _ := n.History(HistoryRequest{Channel: "feed:s"})
	tok := token(t, jwt.MapClaims{"sub": "5", "channels": []string{"news"},
		"subs": map[string]any{"feed:s": map[string]any{"data": map[string]any{"d": 1}, "override": map[string]any{"force_recovery": map[string]any{"value": true}}}}})
	c, tr := newTestClient(n)
	frame := fmt.Sprintf(`{"id":1,"connect":{"token":%q,"subs":{"feed:s":{"recover":true,"offset":1,"epoch":%q}}}}`, tok, pos.Epoch)
	if !c.HandleFrame([]byte(frame)) {
		t.Fatalf("connect closed: %v", tr.disconnect())
	}
	reply := tr.messages()[0]
	want := `"subs":{"feed:s":{"recoverable":true,"epoch":"` + pos.Epoch + `","publications":[{"data":{"i":2},"offset":2}],"recovered":true,"offset":1,"positioned":true,"data":{"d":1},"was_recovering":true}}`
	if !strings.Contains(reply, want) {
		t.Fatalf("connect reply %s\nlacks %s", reply, want)
	}
	// "subs" wins over "channels": news is not subscribed.
	if n.NumSubscribers("news") != 0 || n.NumSubscribers("feed:s") != 1 {
		t.Fatalf("subscribers news=%d feed:s=%d", n.NumSubscribers("news"), n.NumSubscribers("feed:s"))
	}
	_, _ = n.Publish("feed:s", []byte(`{"i":3}`), PublishOptions{})
	msgs := tr.messages()
	if msgs[len(msgs)-1] != `{"push":{"channel":"feed:s","pub":{"data":{"i":3},"offset":3}}}` {
		t.Fatalf("publication %s", msgs[len(msgs)-1])
	}
	// channels alone subscribe; an unknown namespace fails the connect with 102.
	c2, tr2 := newTestClient(n)
	c2.HandleFrame([]byte(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(t, jwt.MapClaims{"sub": "6", "channels": []string{"news"}}))))
	if !strings.Contains(tr2.messages()[0], `"subs":{"news":{}}`) {
		t.Fatalf("channels claim: %s", tr2.messages()[0])
	}
	c3, tr3 := newTestClient(n)
	c3.HandleFrame([]byte(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(t, jwt.MapClaims{"sub": "6", "channels": []string{"nope:x"}}))))
	if tr3.messages()[0] != `{"id":1,"error":{"code":102,"message":"unknown channel"}}` {
		t.Fatalf("unknown namespace in token: %s", tr3.messages()[0])
	}
}

func TestConnectionLimits(t *testing.T) {
	cfg := featureConfig()
	cfg.UserConnectionLimit = 1
	cfg.DisallowAnonymousConnectionTokens = true
	n := newTestNode(t, cfg)
	connected(t, n, "1")
	c, tr := newTestClient(n)
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, userToken(t, "1"))))
	if d := tr.disconnect(); d == nil || d.Code != 3504 {
		t.Fatalf("second connection of user 1: %v, want 3504", d)
	}
	c, tr = newTestClient(n)
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, userToken(t, ""))))
	if d := tr.disconnect(); d == nil || d.Code != 3507 {
		t.Fatalf("anonymous token: %v, want 3507", d)
	}
}

func TestSubscriptionExpiry(t *testing.T) {
	cfg := featureConfig()
	cfg.PingInterval = 400 * time.Millisecond
	cfg.PongTimeout = 200 * time.Millisecond
	cfg.ExpiredSubCloseDelay = time.Millisecond
	cfg.PresenceUpdateInterval = 300 * time.Millisecond
	n := newTestNode(t, cfg)
	c, tr := connected(t, n, "1")
	exp := time.Now().Add(1 * time.Second).Unix()
	tok := token(t, jwt.MapClaims{"sub": "1", "channel": "$s", "exp": exp})
	send(t, c, tr, fmt.Sprintf(`{"id":2,"subscribe":{"channel":"$s","token":%q}}`, tok))
	stop := make(chan struct{})
	defer close(stop)
	go func() { // answer pings
		seen := 0
		for {
			select {
			case <-stop:
				return
			case <-tr.notify:
			}
			msgs := tr.messages()
			for ; seen < len(msgs); seen++ {
				if msgs[seen] == "{}" {
					c.HandleFrame([]byte("{}"))
				}
			}
		}
	}()
	waitFor(t, 4*time.Second, "unsubscribe 2501", func() bool {
		for _, m := range tr.messages() {
			if m == `{"push":{"channel":"$s","unsubscribe":{"code":2501,"reason":"subscription expired"}}}` {
				return true
			}
		}
		return false
	})
	if n.NumSubscribers("$s") != 0 {
		t.Fatal("expired subscription still in the hub")
	}
}

func TestUserIDHTTPHeader(t *testing.T) {
	cfg := featureConfig()
	cfg.UserIDHTTPHeader = "X-User-Id"
	n := newTestNode(t, cfg)
	tr := newFakeTransport(0)
	c := n.NewClient(tr, map[string]string{"x-user-id": "header-user"})
	tr.client = c
	c.HandleFrame([]byte(`{"id":1,"connect":{}}`))
	if d := tr.disconnect(); d != nil {
		t.Fatalf("disconnected: %v", *d)
	}
	if info := n.localInfo(); info.NumUsers != 1 || len(n.hub.userConns("header-user")) != 1 {
		t.Fatalf("connection not registered under the header's user: %+v", info)
	}
	c2, tr2 := newTestClient(n)
	c2.HandleFrame([]byte(`{"id":1,"connect":{}}`))
	if d := tr2.disconnect(); d == nil || d.Code != 3501 {
		t.Fatalf("without the header: %v, want 3501", d)
	}
}

func TestConnectionLimitAdmit(t *testing.T) {
	cfg := featureConfig()
	cfg.ConnectionLimit = 1
	n := newTestNode(t, cfg)
	if !n.Admit() {
		t.Fatal("first connection refused")
	}
	c, _ := connected(t, n, "1")
	if n.Admit() {
		t.Fatal("second connection admitted over client.connection_limit")
	}
	c.Disconnect(DisconnectForce)
	waitFor(t, 2*time.Second, "slot freed", n.Admit)
}

func TestPersonalChannelSingleConnection(t *testing.T) {
	cfg := featureConfig()
	cfg.Namespaces = append(cfg.Namespaces, NamespaceOptions{Name: "personal", Presence: true})
	cfg.PersonalChannel.Enabled = true
	cfg.PersonalChannel.Namespace = "personal"
	cfg.PersonalChannel.SingleConnection = true
	n := newTestNode(t, cfg)
	_, first := connected(t, n, "42")
	if reply := first.messages()[0]; !strings.Contains(reply, `"subs":{"personal:#42":{}}`) {
		t.Fatalf("personal channel not in connect result: %s", reply)
	}
	_, _ = n.Publish("personal:#42", []byte(`{"to":"42"}`), PublishOptions{})
	if msgs := first.messages(); msgs[len(msgs)-1] != `{"push":{"channel":"personal:#42","pub":{"data":{"to":"42"}}}}` {
		t.Fatalf("personal publication %s", msgs[len(msgs)-1])
	}
	_, second := connected(t, n, "42")
	if d := first.disconnect(); d == nil || d.Code != 3504 {
		t.Fatalf("older connection: %v, want 3504", d)
	}
	if d := second.disconnect(); d != nil {
		t.Fatalf("newer connection closed: %v", *d)
	}
	bad := cfg
	bad.Namespaces = append([]NamespaceOptions(nil), cfg.Namespaces...)
	bad.Namespaces[len(bad.Namespaces)-1].Presence = false
	if err := bad.Validate(); err == nil {
		t.Fatal("single_connection without presence validated")
	}
}
