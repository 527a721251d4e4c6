package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/codec"
)

// replyHookTransport runs onReply from inside Enqueue of the subscribe reply, as a
// transport that writes at once (netio/stdws, the HTTP streams) lets a client read
// the reply while the engine is still in the subscribe handler.
type replyHookTransport struct {
	*fakeTransport
	onReply func()
	match   string // `"subscribe":` unless set
}

func (t *replyHookTransport) Enqueue(msg []byte) error {
	err := t.fakeTransport.Enqueue(msg)
	match := t.match
	if match == "" {
		match = `"subscribe":`
	}
	if t.onReply != nil && strings.Contains(string(msg), match) {
		f := t.onReply
		t.onReply = nil
		f()
	}
	return err
}

// TestPublishRightAfterSubscribeReply: a publication made as soon as the
// subscribe reply is out (by the client, or a backend it told) reaches the new
// subscriber. The reply used to be queued before the subscriber was in the hub, so
// on a transport that writes at once a publication racing it fanned out without
// the client and was lost.
func TestPublishRightAfterSubscribeReply(t *testing.T) {
	n := newTestNode(t, featureConfig())
	ft := newFakeTransport(codec.ProtocolJSON)
	tr := &replyHookTransport{fakeTransport: ft}
	c := n.NewClient(tr, nil)
	ft.mu.Lock()
	ft.client = c
	ft.mu.Unlock()
	if !c.HandleFrame([]byte(`{"id":1,"connect":{"token":"` + userToken(t, "u") + `"}}`)) {
		t.Fatal("connect failed")
	}
	published := make(chan error, 1)
	tr.onReply = publishNow(n, published)
	c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"feed:x"}}`))
	waitReplyThenPub(t, ft, published, 1, `"id":2,"subscribe"`)
}

// TestPublishRightAfterConnectReplyWithSubscription: the same for a connection
// with one server-side subscription (a token's channels claim): its connect reply
// carries the subscription.
func TestPublishRightAfterConnectReplyWithSubscription(t *testing.T) {
	n, ft, tr, c := connectHookClient(t)
	published := make(chan error, 1)
	tr.onReply = publishNow(n, published)
	tok := token(t, jwt.MapClaims{"sub": "u", "channels": []string{"feed:x"}})
	if !c.HandleFrame([]byte(`{"id":1,"connect":{"token":"` + tok + `"}}`)) {
		t.Fatal("connect failed")
	}
	waitReplyThenPub(t, ft, published, 0, `"id":1,"connect"`)
}

// connectHookClient makes a node and a client on a replyHookTransport matching
// the connect reply.
func connectHookClient(t *testing.T) (*Node, *fakeTransport, *replyHookTransport, *Client) {
	n := newTestNode(t, featureConfig())
	ft := newFakeTransport(codec.ProtocolJSON)
	tr := &replyHookTransport{fakeTransport: ft, match: `"connect":`}
	c := n.NewClient(tr, nil)
	ft.mu.Lock()
	ft.client = c
	ft.mu.Unlock()
	return n, ft, tr, c
}

// publishNow returns a reply hook that publishes to feed:x from another goroutine
// and gives that publication up to 100 ms to fan out before the handler goes on.
func publishNow(n *Node, published chan error) func() {
	return func() {
		go func() {
			_, err := n.Publish("feed:x", []byte(`{"after":"reply"}`), PublishOptions{})
			published <- err
		}()
		// Give the publication every chance to fan out before the handler goes on
		// (it waits for the channel lock when the reply is queued under it).
		select {
		case err := <-published:
			published <- err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitReplyThenPub waits for the reply at index i (containing want) followed by
// the publication publishNow made.
func waitReplyThenPub(t *testing.T, ft *fakeTransport, published chan error, i int, want string) {
	t.Helper()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs := ft.messages()
		if len(msgs) >= i+2 {
			if !strings.Contains(msgs[i], want) || !strings.Contains(msgs[i+1], `{"after":"reply"}`) {
				t.Fatalf("want the reply, then the publication: %q", msgs)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the publication made right after the subscribe reply never arrived: %q", msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPublishRightAfterConnectReplyWithSubscriptions is the same for a connect
// with several server-side subscriptions: a publication to each of them made as
// soon as the connect reply is out reaches the client, after the reply. The reply
// used to be queued before any of them joined the hub.
func TestPublishRightAfterConnectReplyWithSubscriptions(t *testing.T) {
	chans := []string{"feed:a", "feed:b", "feed:c", "feed:d"}
	n, ft, tr, c := connectHookClient(t)
	published := make(chan error, len(chans))
	tr.onReply = func() {
		for _, ch := range chans {
			go func() {
				_, err := n.Publish(ch, []byte(`{"after":"`+ch+`"}`), PublishOptions{})
				published <- err
			}()
		}
		// Give the publications every chance to fan out before the handler goes
		// on (they wait for the channel locks while the reply is queued under them).
		time.Sleep(100 * time.Millisecond)
	}
	tok := token(t, jwt.MapClaims{"sub": "u", "channels": chans})
	if !c.HandleFrame([]byte(`{"id":1,"connect":{"token":"` + tok + `"}}`)) {
		t.Fatal("connect failed")
	}
	for range chans {
		if err := <-published; err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs := ft.messages()
		all := strings.Join(msgs, "\n")
		missing := 0
		for _, ch := range chans {
			if !strings.Contains(all, `{"after":"`+ch+`"}`) {
				missing++
			}
		}
		if missing == 0 {
			if !strings.Contains(msgs[0], `"id":1,"connect"`) {
				t.Fatalf("want the connect reply first: %q", msgs)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d publications made right after the connect reply never arrived: %q", missing, len(chans), msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
