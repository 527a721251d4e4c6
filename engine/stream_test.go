package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/codec"
)

// kindTransport is a fakeTransport that says which transport it is.
type kindTransport struct {
	*fakeTransport
	name           string
	emulation, uni bool
}

func (k *kindTransport) Name() string         { return k.name }
func (k *kindTransport) Emulation() bool      { return k.emulation }
func (k *kindTransport) Unidirectional() bool { return k.uni }

func newKindClient(n *Node, name string, emulation, uni bool) (*Client, *fakeTransport) {
	tr := newFakeTransport(codec.ProtocolJSON)
	c := n.NewClient(&kindTransport{fakeTransport: tr, name: name, emulation: emulation, uni: uni}, nil)
	tr.mu.Lock()
	tr.client = c
	tr.mu.Unlock()
	return c, tr
}

// An emulation session gets session and node in its connect reply, and /emulation
// requests for it (on this node) run its commands; after it closes they are ignored.
func TestEmulationSession(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := newKindClient(n, "http_stream", true, false)
	if !c.HandleEmulated([]byte(`{"id":1,"connect":{"token":"` + userToken(t, "u") + `"}}`)) {
		t.Fatal(tr.disconnect())
	}
	var reply struct {
		Connect struct {
			Session, Node string
			Pong          bool
		}
	}
	if err := json.Unmarshal([]byte(tr.messages()[0]), &reply); err != nil || reply.Connect.Session == "" || reply.Connect.Node != n.uid || !reply.Connect.Pong {
		t.Fatalf("connect reply %q", tr.messages())
	}
	req := codec.EmulationRequest{Node: n.uid, Session: reply.Connect.Session, Data: []byte(`{"id":2,"subscribe":{"channel":"news"}}`)}
	if err := n.Emulate(context.Background(), codec.ProtocolJSON, &req); err != nil {
		t.Fatal(err)
	}
	if m := tr.messages(); len(m) != 2 || !strings.HasPrefix(m[1], `{"id":2,"subscribe":`) {
		t.Fatalf("after emulation: %q", m)
	}
	if err := n.Emulate(context.Background(), codec.ProtocolJSON, &codec.EmulationRequest{Node: "other"}); err != ErrNodeNotFound {
		t.Fatalf("unknown node: %v", err)
	}
	c.Disconnect(DisconnectForce)
	tr.waitClosed(2e9)
	waitFor(t, 2e9, "unregistered", func() bool { _, ok := n.emu.Load(reply.Connect.Session); return !ok })
	if err := n.Emulate(context.Background(), codec.ProtocolJSON, &req); err != nil {
		t.Fatalf("closed session: %v", err)
	}
}

// A unidirectional session: connect push (session, no pong, the requested channels
// it may subscribe to), bare-push-ready replies, connect errors as disconnects.
func TestUniConnect(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := newKindClient(n, "uni_sse", false, true)
	req := codec.ConnectRequest{Token: userToken(t, "u"), Subs: map[string]*codec.SubscribeRequest{"news": {}, "$private": {}}}
	if !c.ConnectUni(&req) {
		t.Fatal(tr.disconnect())
	}
	m := tr.messages()
	if len(m) != 1 || !strings.HasPrefix(m[0], `{"push":{"connect":{`) || strings.Contains(m[0], `"pong"`) ||
		!strings.Contains(m[0], `"session":"`) || !strings.Contains(m[0], `"news":{`) || strings.Contains(m[0], "$private") {
		t.Fatalf("connect push %q", m)
	}
	if n.NumSubscribers("news") != 1 {
		t.Fatal("not subscribed to news")
	}
	// An unknown namespace among the requested channels: 3501.
	c2, tr2 := newKindClient(n, "uni_sse", false, true)
	c2.ConnectUni(&codec.ConnectRequest{Token: userToken(t, "u"), Subs: map[string]*codec.SubscribeRequest{"nosuch:x": {}}})
	if d := tr2.waitClosed(2e9); d == nil || d.Code != DisconnectBadRequest.Code {
		t.Fatalf("unknown namespace: %v", d)
	}
	// A refused connect, kept from the transport for an HTTP answer.
	c3, tr3 := newKindClient(n, "uni_http_stream", false, true)
	code, text, refused := c3.ConnectUniRefusal(&codec.ConnectRequest{Token: "bad"})
	if !refused || code != DisconnectInvalidToken.Code || text != DisconnectInvalidToken.Reason {
		t.Fatalf("refusal %d %q %v", code, text, refused)
	}
	if d := tr3.waitClosed(2e9); d == nil || d.Code != DisconnectConnectionClosed.Code || len(tr3.messages()) != 0 {
		t.Fatalf("after refusal: %v %q", d, tr3.messages())
	}
}

// Proxies are told the transport's name.
func TestTransportName(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, _ := newKindClient(n, "uni_websocket", false, true)
	if c.transportName() != "uni_websocket" {
		t.Fatal(c.transportName())
	}
	c2, _ := newTestClient(n)
	if c2.transportName() != "websocket" {
		t.Fatal(c2.transportName())
	}
}
