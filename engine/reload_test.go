package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestReload: Reload swaps the namespaces and the token keys; a config that does
// not validate, or that names a proxy the node was not started with, changes
// nothing.
func TestReload(t *testing.T) {
	n := newTestNode(t, Config{Token: TokenConfig{HMACSecretKey: "old"}, Namespaces: []NamespaceOptions{{Name: "chat"}}})
	sign := func(key, sub string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub}).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	if _, _, err := CheckConnectionToken(ctx, &n.cfg, sign("old", "u")); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := n.namespaceFor("news:x"); ok {
		t.Fatal("news exists before the reload")
	}

	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{Token: TokenConfig{HMACSecretKey: "new"}, Namespaces: []NamespaceOptions{{Name: "news", ChannelRegex: "("}}}, "channel_regex"},
		{Config{Token: TokenConfig{HMACSecretKey: "new"}, Namespaces: []NamespaceOptions{{Name: "news", SubscribeProxyEnabled: true}}}, "proxies are not reloaded"},
		{Config{Token: TokenConfig{HMACSecretKey: "new"}, RPCNamespaces: []RPCNamespace{{Name: "calc", ProxyEnabled: true}}}, "proxies are not reloaded"},
	}
	for _, b := range bad {
		if err := n.Reload(b.cfg); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Fatalf("Reload: %v, want %q", err, b.want)
		}
		if _, err := n.verifier.Load().verifyConnection(ctx, sign("old", "u")); err != nil {
			t.Fatalf("a failed reload changed the token key: %v", err)
		}
		if _, _, ok := n.namespaceFor("chat:x"); !ok {
			t.Fatal("a failed reload changed the namespaces")
		}
	}

	if err := n.Reload(Config{Token: TokenConfig{HMACSecretKey: "new"}, Namespaces: []NamespaceOptions{{Name: "news", ChannelRegex: "^[a-z]+$"}}, RPCNamespaces: []RPCNamespace{{Name: "calc"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.Load().verifyConnection(ctx, sign("old", "u")); err == nil {
		t.Fatal("the old key still verifies")
	}
	vt, err := n.verifier.Load().verifyConnection(ctx, sign("new", "u2"))
	if err != nil || vt.user != "u2" {
		t.Fatalf("new key: %+v %v", vt, err)
	}
	if _, _, ok := n.namespaceFor("chat:x"); ok {
		t.Fatal("chat still exists after the reload")
	}
	opts, rest, ok := n.namespaceFor("news:abc")
	if !ok || !n.validChannelName(opts, "news:abc", rest) || n.validChannelName(opts, "news:ABC", "ABC") {
		t.Fatal("news options or its channel_regex not applied")
	}
	if co := n.chanOpts.Load(); len(co.rpcNamespaces) != 1 || co.rpcNamespaces[0].Name != "calc" {
		t.Fatalf("rpc namespaces not applied: %+v", co.rpcNamespaces)
	}
}
