package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestServerSideSubRefresh: a subscription the sub_refresh proxy refreshes is not
// announced to the client as expiring (the SDK would look for a token), and a
// client sub_refresh for it is a protocol error (Centrifugo: "server-side sub
// refresh expected", 3501).
func TestServerSideSubRefresh(t *testing.T) {
	p := &fakeProxy{resp: map[ProxyKind]*ProxyResponse{
		ProxySubscribe:  {Result: &ProxyResult{ExpireAt: time.Now().Unix() + 600}},
		ProxySubRefresh: {Result: &ProxyResult{ExpireAt: time.Now().Unix() + 600}},
	}}
	cfg := proxyConfig(p)
	cfg.ConnectProxy = nil
	cfg.SubRefreshProxies = map[string]ProxyCaller{"default": p}
	cfg.Namespaces = append(cfg.Namespaces, NamespaceOptions{Name: "srp", SubscribeProxyEnabled: true, SubRefreshProxyEnabled: true})
	n := newTestNode(t, cfg)
	c, tr := connected(t, n, "1")
	// Without a sub_refresh proxy the client refreshes: expires and ttl.
	if got := send(t, c, tr, `{"id":2,"subscribe":{"channel":"px:a"}}`); !strings.HasPrefix(got[0], `{"id":2,"subscribe":{"expires":true,"ttl":`) {
		t.Fatalf("client-refreshed subscription: %q", got)
	}
	if got := send(t, c, tr, `{"id":3,"subscribe":{"channel":"srp:a"}}`); got[0] != `{"id":3,"subscribe":{}}` {
		t.Fatalf("server-refreshed subscription: %q", got)
	}
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":4,"sub_refresh":{"channel":"srp:a","token":%q}}`, userToken(t, "1"))))
	if d := tr.disconnect(); d == nil || d.Code != 3501 {
		t.Fatalf("client sub_refresh of a server-refreshed subscription: disconnect %v, want 3501", d)
	}
}
