package engine

import (
	"testing"
)

// TestServerSubscribeEncodeError subscribes a JSON client server-side with data the
// JSON protocol cannot carry. That is an internal error for the API caller (100),
// not a lost position (3010): the client keeps its connection, is not subscribed,
// and a later valid subscribe works.
func TestServerSubscribeEncodeError(t *testing.T) {
	n := newTestNode(t, featureConfig())
	_, tr := connected(t, n, "7")
	before := len(tr.messages())
	err := n.Subscribe(ServerSubscribeRequest{User: "7", Channel: "news", Data: []byte{0xff, 0x00, 'x'}})
	if err != ErrorInternal {
		t.Fatalf("Subscribe with unencodable data: %v, want %v", err, ErrorInternal)
	}
	if d := tr.disconnect(); d != nil {
		t.Fatalf("client disconnected with %v", *d)
	}
	if got := tr.messages()[before:]; len(got) != 0 {
		t.Fatalf("client received %q", got)
	}
	if k := n.NumSubscribers("news"); k != 0 {
		t.Fatalf("%d subscribers after a failed subscribe", k)
	}
	if err := n.Subscribe(ServerSubscribeRequest{User: "7", Channel: "news", Data: []byte(`{"ok":1}`)}); err != nil {
		t.Fatal(err)
	}
	msgs := tr.messages()
	if last := msgs[len(msgs)-1]; last != `{"push":{"channel":"news","subscribe":{"data":{"ok":1}}}}` || n.NumSubscribers("news") != 1 {
		t.Fatalf("valid subscribe after the failure: %q, %d subscribers", last, n.NumSubscribers("news"))
	}
}
