package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// loopRemote is a remote broker on one node for the engine's remote path: the
// in-memory broker keeps the streams, and every publication, join and leave of a
// Subscribe'd channel comes back through the handler from one worker goroutine,
// later than Publish returns (as Redis Pub/Sub does). hold, when set, makes the
// worker wait before each delivery, so a subscriber can join while publications are
// in history but not yet delivered.
type loopRemote struct {
	Broker
	h    BrokerEventHandler
	q    chan func()
	mu   sync.Mutex
	subs map[string]int
	hold chan struct{}
	// dropNext drops the next publication on the way (a lost Pub/Sub message).
	dropNext bool
	// failSubscribe makes Subscribe fail (Redis down).
	failSubscribe bool
}

func newLoopRemote(t *testing.T) (*loopRemote, PresenceManager) {
	inner, pm := NewTestBroker()
	r := &loopRemote{Broker: inner, q: make(chan func(), 1024), subs: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range r.q {
			f()
		}
	}()
	t.Cleanup(func() { close(r.q); <-done })
	return r, pm
}

func (r *loopRemote) RegisterBrokerEventHandler(h BrokerEventHandler) error { r.h = h; return nil }
func (r *loopRemote) Local() bool                                           { return false }

func (r *loopRemote) Subscribe(_ context.Context, ch string) error {
	r.mu.Lock()
	if r.failSubscribe {
		r.mu.Unlock()
		return errors.New("redis down")
	}
	r.subs[ch]++
	r.mu.Unlock()
	return nil
}

func (r *loopRemote) Unsubscribe(_ context.Context, ch string) error {
	r.mu.Lock()
	r.subs[ch]--
	r.mu.Unlock()
	return nil
}

func (r *loopRemote) subscribed(ch string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subs[ch] > 0
}

func (r *loopRemote) Publish(ctx context.Context, ch string, pub *codec.Publication, opts *BrokerPublishOptions) (BrokerPublishResult, error) {
	// A remote broker keeps nothing of pub: it serializes. The copy stands for that.
	cp := &codec.Publication{Data: bytes.Clone(pub.Data), Tags: pub.Tags}
	if pub.Info != nil {
		info := *pub.Info
		cp.Info = &info
	}
	res, err := r.Broker.Publish(ctx, ch, cp, opts)
	if err != nil || res.Suppressed || !r.subscribed(ch) {
		return BrokerPublishResult{Position: res.Position, Suppressed: res.Suppressed}, err
	}
	r.mu.Lock()
	drop := r.dropNext
	r.dropNext = false
	hold := r.hold
	r.mu.Unlock()
	var prev *codec.Publication
	if opts.UseDelta && res.PrevData != nil {
		prev = &codec.Publication{Data: bytes.Clone(res.PrevData)}
	}
	sp, useDelta := res.Position, opts.UseDelta // opts is the caller's after Publish returns
	r.q <- func() {
		if hold != nil {
			<-hold
		}
		if !drop {
			_ = r.h.HandlePublication(ch, cp, sp, useDelta, prev)
		}
	}
	return BrokerPublishResult{Position: res.Position}, nil
}

func (r *loopRemote) PublishJoin(_ context.Context, ch string, info *codec.ClientInfo) error {
	cp := *info
	r.q <- func() { _ = r.h.HandleJoin(ch, &cp) }
	return nil
}

func (r *loopRemote) PublishLeave(_ context.Context, ch string, info *codec.ClientInfo) error {
	cp := *info
	r.q <- func() { _ = r.h.HandleLeave(ch, &cp) }
	return nil
}

func newRemoteNode(t *testing.T) (*Node, *loopRemote) {
	t.Helper()
	r, pm := newLoopRemote(t)
	cfg := featureConfig()
	cfg.Broker, cfg.PresenceManager = r, pm
	return newTestNode(t, cfg), r
}

// pushedOffsets returns the offsets of the publication pushes of ch in msgs.
func pushedOffsets(msgs []string, ch string) []string {
	var out []string
	for _, m := range msgs {
		if !strings.HasPrefix(m, `{"push":{"channel":"`+ch+`","pub":`) {
			continue
		}
		i := strings.Index(m, `"offset":`)
		if i < 0 {
			out = append(out, "none")
			continue
		}
		j := i + len(`"offset":`)
		k := j
		for k < len(m) && m[k] >= '0' && m[k] <= '9' {
			k++
		}
		out = append(out, m[j:k])
	}
	return out
}

// TestRemoteBrokerDeliversOnce: with a remote broker the node does not fan out its
// own publications; they come back through HandlePublication, once each, in order.
func TestRemoteBrokerDeliversOnce(t *testing.T) {
	n, r := newRemoteNode(t)
	c, tr := connected(t, n, "u1")
	send(t, c, tr, `{"id":2,"subscribe":{"channel":"feed:a"}}`)
	if !r.subscribed("feed:a") {
		t.Fatal("the first subscriber did not Subscribe the broker")
	}
	for i := 1; i <= 5; i++ {
		if _, err := n.Publish("feed:a", []byte(fmt.Sprintf(`{"i":%d}`, i)), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 2*time.Second, "5 pushes", func() bool { return len(pushedOffsets(tr.messages(), "feed:a")) >= 5 })
	time.Sleep(50 * time.Millisecond)
	if got := pushedOffsets(tr.messages(), "feed:a"); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("pushes %v, want [1 2 3 4 5] once each", got)
	}
	send(t, c, tr, `{"id":3,"unsubscribe":{"channel":"feed:a"}}`)
	if r.subscribed("feed:a") {
		t.Fatal("the last subscriber left and the broker is still subscribed")
	}
}

// TestRemoteBrokerJoinWhileInFlight: a positioned subscriber joining while
// publications are in history but still on their way through Pub/Sub gets each one
// once: those already delivered to the node from history, the rest from Pub/Sub.
func TestRemoteBrokerJoinWhileInFlight(t *testing.T) {
	n, r := newRemoteNode(t)
	first, ftr := connected(t, n, "u1")
	send(t, first, ftr, `{"id":2,"subscribe":{"channel":"room:x"}}`)
	if _, err := n.Publish("room:x", []byte(`{"i":1}`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "first delivery", func() bool { return len(pushedOffsets(ftr.messages(), "room:x")) == 1 })
	// Hold Pub/Sub: offsets 2 and 3 are in history, not delivered.
	hold := make(chan struct{})
	r.mu.Lock()
	r.hold = hold
	r.mu.Unlock()
	for i := 2; i <= 3; i++ {
		if _, err := n.Publish("room:x", []byte(fmt.Sprintf(`{"i":%d}`, i)), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := n.History(HistoryRequest{Channel: "room:x"})
	if err != nil {
		t.Fatal(err)
	}
	second, str := connected(t, n, "u2")
	send(t, second, str, fmt.Sprintf(`{"id":2,"subscribe":{"channel":"room:x","recover":true,"epoch":%q,"offset":0}}`, res.Epoch))
	r.mu.Lock()
	r.hold = nil
	r.mu.Unlock()
	close(hold)
	// The joiner recovered offsets 1-3 in its subscribe reply (all in history when
	// it subscribed) and gets no push of 2 and 3, which Pub/Sub still brought.
	msgs := str.messages()
	reply := ""
	for _, m := range msgs {
		if strings.HasPrefix(m, `{"id":2,"subscribe":`) {
			reply = m
		}
	}
	if !strings.Contains(reply, `"recovered":true`) || strings.Count(reply, `"offset":`) != 3 {
		t.Fatalf("joiner's reply does not recover offsets 1-3: %s", reply)
	}
	waitFor(t, 2*time.Second, "in-flight deliveries", func() bool { return len(pushedOffsets(ftr.messages(), "room:x")) >= 3 })
	time.Sleep(50 * time.Millisecond)
	if got := pushedOffsets(str.messages(), "room:x"); len(got) != 0 {
		t.Fatalf("joiner got pushes %v of publications its reply held", got)
	}
	// Later publications reach both once.
	if _, err := n.Publish("room:x", []byte(`{"i":4}`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "offset 4", func() bool { return len(pushedOffsets(str.messages(), "room:x")) >= 1 })
	time.Sleep(50 * time.Millisecond)
	if got := pushedOffsets(ftr.messages(), "room:x"); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Fatalf("first subscriber: %v", got)
	}
	if got := pushedOffsets(str.messages(), "room:x"); fmt.Sprint(got) != "[4]" {
		t.Fatalf("joiner: %v", got)
	}
}

// TestRemoteBrokerGap: a publication lost on the way (offset jump) gives positioned
// subscribers "insufficient state" (unsubscribe push 2500) so they recover.
func TestRemoteBrokerGap(t *testing.T) {
	n, r := newRemoteNode(t)
	c, tr := connected(t, n, "u1")
	send(t, c, tr, `{"id":2,"subscribe":{"channel":"room:g"}}`)
	if _, err := n.Publish("room:g", []byte(`{"i":1}`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.dropNext = true
	r.mu.Unlock()
	for i := 2; i <= 3; i++ {
		if _, err := n.Publish("room:g", []byte(fmt.Sprintf(`{"i":%d}`, i)), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 2*time.Second, "insufficient state", func() bool {
		return strings.Contains(strings.Join(tr.messages(), "\n"), `"unsubscribe":{"code":2500,"reason":"insufficient state"}`)
	})
	if got := pushedOffsets(tr.messages(), "room:g"); fmt.Sprint(got) != "[1]" {
		t.Fatalf("pushes %v, want only [1] (3 came after a gap)", got)
	}
}

// TestRemoteBrokerJoinLeave: joins and leaves go through the broker and reach local
// subscribers from HandleJoin/HandleLeave.
func TestRemoteBrokerJoinLeave(t *testing.T) {
	n, _ := newRemoteNode(t)
	a, atr := connected(t, n, "u1")
	send(t, a, atr, `{"id":2,"subscribe":{"channel":"room:j"}}`)
	b, btr := connected(t, n, "u2")
	send(t, b, btr, `{"id":2,"subscribe":{"channel":"room:j"}}`)
	send(t, b, btr, `{"id":3,"unsubscribe":{"channel":"room:j"}}`)
	waitFor(t, 2*time.Second, "join and leave", func() bool {
		all := strings.Join(atr.messages(), "\n")
		return strings.Contains(all, `"join":{"info":{"user":"u2"`) && strings.Contains(all, `"leave":{"info":{"user":"u2"`)
	})
	st, err := n.PresenceStats("room:j")
	if err != nil || st.NumClients != 1 {
		t.Fatalf("presence stats %+v %v", st, err)
	}
}

// TestRemoteBrokerSubscribeFails: when the broker cannot subscribe, the client's
// subscribe is answered with error 100 and nothing is attached; once the broker
// works again the subscribe succeeds and publications arrive.
func TestRemoteBrokerSubscribeFails(t *testing.T) {
	n, r := newRemoteNode(t)
	c, tr := connected(t, n, "u1")
	r.mu.Lock()
	r.failSubscribe = true
	r.mu.Unlock()
	msgs := send(t, c, tr, `{"id":2,"subscribe":{"channel":"room:f"}}`)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], `{"id":2,"error":{"code":100,`) {
		t.Fatalf("subscribe while the broker fails: %q", msgs)
	}
	if n.NumSubscribers("room:f") != 0 || n.pendingJoins("room:f") != 0 {
		t.Fatalf("attached: %d subscribers, %d pending", n.NumSubscribers("room:f"), n.pendingJoins("room:f"))
	}
	r.mu.Lock()
	r.failSubscribe = false
	r.mu.Unlock()
	// The client's own join push travels through the broker and may arrive before
	// send returns, so look for the reply among what arrived.
	msgs = send(t, c, tr, `{"id":3,"subscribe":{"channel":"room:f"}}`)
	replies := 0
	for _, m := range msgs {
		switch {
		case strings.HasPrefix(m, `{"id":3,"subscribe":{`):
			replies++
		case strings.HasPrefix(m, `{"push":{"channel":"room:f","join":`):
		default:
			t.Fatalf("subscribe after the broker recovered: unexpected %q in %q", m, msgs)
		}
	}
	if replies != 1 {
		t.Fatalf("subscribe after the broker recovered: %q", msgs)
	}
	if !r.subscribed("room:f") || n.pendingJoins("room:f") != 0 {
		t.Fatalf("broker subscribed %v, pending %d", r.subscribed("room:f"), n.pendingJoins("room:f"))
	}
	if _, err := n.Publish("room:f", []byte(`{"i":1}`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "delivery", func() bool { return len(pushedOffsets(tr.messages(), "room:f")) == 1 })
	send(t, c, tr, `{"id":4,"unsubscribe":{"channel":"room:f"}}`)
	if r.subscribed("room:f") {
		t.Fatal("broker still subscribed after the last subscriber left")
	}
}
