package engine

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// farFuture is 9999-12-31T23:59:59Z, the largest exp tokens and proxies commonly use.
const farFuture = 253402300799

func TestUnixNanoSat(t *testing.T) {
	for _, tc := range []struct {
		sec   int64
		delay time.Duration
		want  int64
	}{
		{0, 0, 0},
		{1, 0, int64(time.Second)},
		{100, 25 * time.Second, 125 * int64(time.Second)},
		{-5, time.Second, -4 * int64(time.Second)},
		{maxUnixSec, 0, maxUnixSec * int64(time.Second)},
		{maxUnixSec, time.Hour, math.MaxInt64},
		{maxUnixSec + 1, 0, math.MaxInt64},
		{farFuture, 0, math.MaxInt64},
		{farFuture, 25 * time.Second, math.MaxInt64},
		{math.MaxInt64, time.Second, math.MaxInt64},
		{-farFuture, 0, math.MinInt64},
	} {
		if got := unixNanoSat(tc.sec, tc.delay); got != tc.want {
			t.Errorf("unixNanoSat(%d, %v) = %d, want %d", tc.sec, tc.delay, got, tc.want)
		}
	}
}

// farFutureConfig runs the expiry checks every 20 ms and closes at once after expiry,
// so an expiry wrongly computed as past shows within the test.
func farFutureConfig() Config {
	cfg := featureConfig()
	cfg.PresenceUpdateInterval = 20 * time.Millisecond
	cfg.ExpiredCloseDelay = time.Millisecond
	cfg.ExpiredSubCloseDelay = time.Millisecond
	return cfg
}

// TestFarFutureExpiryFromTokens connects with an exp of 9999-12-31, subscribes with a
// subscription token and a server API expire_at as far, and checks that nothing is
// closed or unsubscribed as expired and publications still arrive. The expiry in
// nanoseconds used to overflow to the past: 3005 at the first tick.
func TestFarFutureExpiryFromTokens(t *testing.T) {
	n := newTestNode(t, farFutureConfig())
	c, tr := newTestClient(n)
	tok := token(t, jwt.MapClaims{"sub": "1", "exp": farFuture})
	got := send(t, c, tr, fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, tok))
	if len(got) != 1 || !strings.Contains(got[0], `"expires":true,"ttl":`) {
		t.Fatalf("connect reply %q", got)
	}
	subTok := token(t, jwt.MapClaims{"sub": "1", "channel": "$s", "exp": farFuture})
	send(t, c, tr, fmt.Sprintf(`{"id":2,"subscribe":{"channel":"$s","token":%q}}`, subTok))
	if err := n.Subscribe(ServerSubscribeRequest{User: "1", Channel: "news", ExpireAt: farFuture}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // several ticks and expiry sweeps
	if d := tr.disconnect(); d != nil {
		t.Fatalf("disconnected with %v", *d)
	}
	for _, m := range tr.messages() {
		if strings.Contains(m, `"unsubscribe":`) {
			t.Fatalf("unsubscribed: %s", m)
		}
	}
	for _, ch := range []string{"$s", "news"} {
		before := len(tr.messages())
		if _, err := n.Publish(ch, []byte(`{"still":"here"}`), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		if msgs := tr.messages(); len(msgs) != before+1 || !strings.Contains(msgs[before], `"still":"here"`) {
			t.Fatalf("publication to %s not delivered: %q", ch, msgs[before:])
		}
	}
}

// TestFarFutureExpiryFromProxies: expire_at of 9999-12-31 from the connect and
// subscribe proxies neither expires the connection or subscription nor makes the
// node call the refresh proxy in a loop.
func TestFarFutureExpiryFromProxies(t *testing.T) {
	p := &fakeProxy{resp: map[ProxyKind]*ProxyResponse{
		ProxyConnect:   {Result: &ProxyResult{User: "77", ExpireAt: farFuture}},
		ProxyRefresh:   {Result: &ProxyResult{ExpireAt: farFuture}},
		ProxySubscribe: {Result: &ProxyResult{ExpireAt: farFuture}},
	}}
	cfg := proxyConfig(p)
	cfg.PresenceUpdateInterval = 20 * time.Millisecond
	cfg.ExpiredSubCloseDelay = time.Millisecond
	cfg.RefreshProxy = p
	n := newTestNode(t, cfg)
	c, tr := newTestClient(n)
	send(t, c, tr, `{"id":1,"connect":{}}`)
	got := send(t, c, tr, `{"id":2,"subscribe":{"channel":"px:x"}}`)
	if len(got) != 1 || !strings.Contains(got[0], `"expires":true`) {
		t.Fatalf("subscribe reply %q", got)
	}
	time.Sleep(400 * time.Millisecond)
	if d := tr.disconnect(); d != nil {
		t.Fatalf("disconnected with %v", *d)
	}
	p.mu.Lock()
	for _, r := range p.reqs {
		if r.Kind == ProxyRefresh || r.Kind == ProxySubRefresh {
			p.mu.Unlock()
			t.Fatalf("refresh proxy called for a far-future expiry: %v", r.Kind)
		}
	}
	p.mu.Unlock()
	before := len(tr.messages())
	_, _ = n.Publish("px:x", []byte(`{}`), PublishOptions{})
	if msgs := tr.messages(); len(msgs) != before+1 {
		t.Fatalf("publication to px:x not delivered: %q", msgs[before:])
	}
}
