package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// gate makes the presence and join/leave calls of one channel wait, while armed,
// until the test releases them: a Redis round trip that takes as long as the test
// wants. Each held call reports its kind on entered.
type gate struct {
	ch      string
	armed   atomic.Bool
	entered chan string
	release chan struct{}
}

func newGate(ch string) *gate {
	return &gate{ch: ch, entered: make(chan string, 8), release: make(chan struct{})}
}

// openOnCleanup lets every held call go when the test ends, before the node and
// broker cleanups registered earlier run: a failing test must not leave them
// blocked behind a held call.
func (g *gate) openOnCleanup(t *testing.T) {
	t.Cleanup(func() { g.armed.Store(false); close(g.release) })
}

func (g *gate) hold(ch, kind string) {
	if ch != g.ch || !g.armed.Load() {
		return
	}
	g.entered <- kind
	<-g.release
}

type gatedPresence struct {
	PresenceManager
	g *gate
}

func (p gatedPresence) AddPresence(ctx context.Context, ch, client string, info *codec.ClientInfo) error {
	p.g.hold(ch, "presence add")
	return p.PresenceManager.AddPresence(ctx, ch, client, info)
}

func (p gatedPresence) RemovePresence(ctx context.Context, ch, client, user string) error {
	p.g.hold(ch, "presence remove")
	return p.PresenceManager.RemovePresence(ctx, ch, client, user)
}

type gatedRemote struct {
	*loopRemote
	g *gate
}

func (r gatedRemote) PublishJoin(ctx context.Context, ch string, info *codec.ClientInfo) error {
	r.g.hold(ch, "join")
	return r.loopRemote.PublishJoin(ctx, ch, info)
}

func (r gatedRemote) PublishLeave(ctx context.Context, ch string, info *codec.ClientInfo) error {
	r.g.hold(ch, "leave")
	return r.loopRemote.PublishLeave(ctx, ch, info)
}

// TestJoinLeaveIOOutsideChannelLock: while a subscriber's presence add, join
// publish, presence remove and leave publish are held up in the broker (a slow
// Redis), publications of the channel still reach its other subscriber. They used
// to wait: the calls ran under the channel lock, which a remote broker's delivery
// (HandlePublication) takes. The calls still run in order (add, join, remove,
// leave) and the joiner's subscribe is answered after its own calls.
func TestJoinLeaveIOOutsideChannelLock(t *testing.T) {
	const ch = "room:slow"
	r, pm := newLoopRemote(t)
	g := newGate(ch)
	cfg := featureConfig()
	cfg.Broker, cfg.PresenceManager = gatedRemote{r, g}, gatedPresence{pm, g}
	n := newTestNode(t, cfg)
	g.openOnCleanup(t)

	obs, otr := connected(t, n, "observer")
	send(t, obs, otr, fmt.Sprintf(`{"id":2,"subscribe":{"channel":%q}}`, ch))
	joiner, jtr := connected(t, n, "joiner")
	g.armed.Store(true)

	seq := 0
	// deliveredWhileHeld: with a call held, a publication still reaches the
	// observer.
	deliveredWhileHeld := func(want string) {
		t.Helper()
		select {
		case kind := <-g.entered:
			if kind != want {
				t.Fatalf("held call %q, want %q", kind, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s call reached the broker", want)
		}
		seq++
		data := fmt.Sprintf(`{"seq":%d}`, seq)
		if _, err := n.Publish(ch, []byte(data), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "publication during "+want, func() bool {
			return strings.Contains(strings.Join(otr.messages(), "\n"), data)
		})
		g.release <- struct{}{}
	}

	done := make(chan bool, 1)
	go func() { done <- joiner.HandleFrame([]byte(fmt.Sprintf(`{"id":2,"subscribe":{"channel":%q}}`, ch))) }()
	deliveredWhileHeld("presence add")
	deliveredWhileHeld("join")
	if !<-done {
		t.Fatal("subscribe closed the session")
	}
	if !strings.Contains(strings.Join(jtr.messages(), "\n"), `"id":2`) {
		t.Fatalf("no subscribe reply: %v", jtr.messages())
	}
	if p, err := n.Presence(ch); err != nil || p[joiner.ID()] == nil {
		t.Fatalf("presence after the subscribe reply: %v %v", p, err)
	}

	go func() { done <- joiner.HandleFrame([]byte(fmt.Sprintf(`{"id":3,"unsubscribe":{"channel":%q}}`, ch))) }()
	deliveredWhileHeld("presence remove")
	deliveredWhileHeld("leave")
	if !<-done {
		t.Fatal("unsubscribe closed the session")
	}
	if p, err := n.Presence(ch); err != nil || p[joiner.ID()] != nil {
		t.Fatalf("presence after the unsubscribe reply: %v %v", p, err)
	}
	waitFor(t, 5*time.Second, "join and leave of the joiner", func() bool {
		all := strings.Join(otr.messages(), "\n")
		j, l := strings.Index(all, `"join":{"info":{"user":"joiner"`), strings.Index(all, `"leave":{"info":{"user":"joiner"`)
		return j >= 0 && l > j
	})
}

// TestLocalPresenceOutsideChannelLock: with a local broker, a held presence add
// (a Redis presence manager) does not stop Publish of the channel, which takes the
// channel lock itself.
func TestLocalPresenceOutsideChannelLock(t *testing.T) {
	const ch = "room:slowlocal"
	b, pm := NewTestBroker()
	g := newGate(ch)
	cfg := featureConfig()
	cfg.Broker, cfg.PresenceManager = b, gatedPresence{pm, g}
	n := newTestNode(t, cfg)
	g.openOnCleanup(t)
	joiner, _ := connected(t, n, "joiner")
	g.armed.Store(true)
	done := make(chan bool, 1)
	go func() { done <- joiner.HandleFrame([]byte(fmt.Sprintf(`{"id":2,"subscribe":{"channel":%q}}`, ch))) }()
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no presence add reached the manager")
	}
	published := make(chan error, 1)
	go func() {
		_, err := n.Publish(ch, []byte(`{"x":1}`), PublishOptions{})
		published <- err
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish waited for the held presence add")
	}
	g.release <- struct{}{}
	if !<-done {
		t.Fatal("subscribe closed the session")
	}
}
