package engine

import (
	"slices"
	"testing"
)

func TestUserConnections(t *testing.T) {
	n := newTestNode(t, testConfig())
	if got := n.UserConnections("alice"); len(got) != 0 {
		t.Fatalf("before connect: %+v", got)
	}
	c1, tr1 := connected(t, n, "alice")
	subscribeClient(t, c1, tr1, 2, "news")
	subscribeClient(t, c1, tr1, 3, "chat")
	c2, _ := connected(t, n, "alice")
	connected(t, n, "bob")
	newTestClient(n) // not connected yet: not listed

	got := n.UserConnections("alice")
	if len(got) != 2 {
		t.Fatalf("alice: %+v", got)
	}
	byID := map[string]ConnectionInfo{}
	for _, ci := range got {
		byID[ci.Client] = ci
		if ci.User != "alice" || ci.Protocol != "json" {
			t.Fatalf("conn: %+v", ci)
		}
	}
	if ci := byID[c1.ID()]; !slices.Equal(ci.Channels, []string{"news", "chat"}) || ci.ExpireAt == 0 {
		t.Fatalf("c1: %+v", ci)
	}
	if ci, ok := byID[c2.ID()]; !ok || len(ci.Channels) != 0 {
		t.Fatalf("c2: %+v", ci)
	}
	if got := n.UserConnections("bob"); len(got) != 1 {
		t.Fatalf("bob: %+v", got)
	}
}
