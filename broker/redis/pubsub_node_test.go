package redis

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// recTransport records what the engine sends to one client.
type recTransport struct {
	mu     sync.Mutex
	msgs   []string
	notify chan struct{}
	c      *engine.Client
}

func (t *recTransport) Protocol() codec.Protocol { return codec.ProtocolJSON }
func (t *recTransport) Enqueue(msg []byte) error {
	t.mu.Lock()
	t.msgs = append(t.msgs, string(bytes.Clone(msg)))
	t.mu.Unlock()
	select {
	case t.notify <- struct{}{}:
	default:
	}
	return nil
}
func (t *recTransport) Close(engine.Disconnect) { go t.c.OnClose() }

// waitFor waits until a message containing all parts arrived and returns it.
func (t *recTransport) waitFor(tb testing.TB, parts ...string) string {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	seen := 0
	for {
		t.mu.Lock()
		msgs := t.msgs
		t.mu.Unlock()
		for ; seen < len(msgs); seen++ {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(msgs[seen], p)
			}
			if ok {
				return msgs[seen]
			}
		}
		select {
		case <-t.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			tb.Fatalf("no message with %q in %q", parts, msgs)
		}
	}
}

// A node on Redis with a recovering subscriber; Redis is killed and started
// again on the same port (empty: history gone). The node resubscribes, the
// subscriber is told "insufficient state" (unsubscribe push 2500) so it
// resubscribes and recovers, and publications after the restart arrive.
func TestNodeSurvivesRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	b.SetLogger(testLogger(t))
	publisher := newTestBroker(t, srv, Options{}) // another node
	n, err := engine.New(engine.Config{
		Insecure: true,
		WithoutNamespace: engine.NamespaceOptions{
			AllowSubscribeForClient: true, HistorySize: 10, HistoryTTL: time.Minute, HistoryMetaTTL: time.Hour,
			ForceRecovery: true, ForcePositioning: true,
		},
		Broker:          b,
		PresenceManager: b,
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	n.Run()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	tr := &recTransport{notify: make(chan struct{}, 1)}
	c := n.NewClient(tr, nil)
	tr.c = c
	if !c.HandleFrame([]byte(`{"id":1,"connect":{}}`)) {
		t.Fatal("connect refused")
	}
	if !c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"news"}}`)) {
		t.Fatal("subscribe refused")
	}
	tr.waitFor(t, `"id":2`, `"subscribe"`)

	hist := &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: time.Minute, HistoryMetaTTL: time.Hour}
	ctx := context.Background()
	if _, err := publisher.Publish(ctx, "news", &codec.Publication{Data: []byte(`{"n":1}`)}, hist); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, `"channel":"news"`, `{"n":1}`)

	srv.Restart()

	// The engine heard of the gap: the positioned subscriber is unsubscribed
	// with insufficient state.
	tr.waitFor(t, `"unsubscribe"`, `2500`, `insufficient state`)
	// As the SDK does: subscribe again and recover (a new epoch: Redis lost it).
	if !c.HandleFrame([]byte(`{"id":3,"subscribe":{"channel":"news","recover":true,"offset":1,"epoch":"x"}}`)) {
		t.Fatal("resubscribe refused")
	}
	tr.waitFor(t, `"id":3`, `"subscribe"`)
	var err2 error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err2 = publisher.Publish(ctx, "news", &codec.Publication{Data: []byte(`{"n":2}`)}, hist); err2 == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err2 != nil {
		t.Fatal(err2)
	}
	tr.waitFor(t, `"channel":"news"`, `{"n":2}`)
	if b.ps.ps.channelsOf(b.ps.ps.slots[0][0])[0] != "news" {
		t.Fatal("news not in the subscribed set")
	}
}

// signalTransport signals each message the engine enqueues and keeps nothing.
type signalTransport struct {
	got chan struct{}
	c   *engine.Client
}

func (t *signalTransport) Protocol() codec.Protocol { return codec.ProtocolJSON }
func (t *signalTransport) Enqueue([]byte) error {
	t.got <- struct{}{}
	return nil
}
func (t *signalTransport) Close(engine.Disconnect) { go t.c.OnClose() }

// The whole receive path into a real node allocates nothing per delivery:
// rueidis hook -> worker -> parse/decode -> Node.HandlePublication -> encode
// -> the subscriber's transport.
func TestNodeReceiveAllocs(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	b.ps.workers = 1
	n, err := engine.New(engine.Config{
		Insecure:         true,
		WithoutNamespace: engine.NamespaceOptions{AllowSubscribeForClient: true},
		Broker:           b, PresenceManager: b,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Run()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	tr := &signalTransport{got: make(chan struct{}, 16)}
	c := n.NewClient(tr, nil)
	tr.c = c
	if !c.HandleFrame([]byte(`{"id":1,"connect":{}}`)) || !c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"news"}}`)) {
		t.Fatal("connect/subscribe refused")
	}
	<-tr.got
	<-tr.got
	ps := b.ps.ps
	m := rueidis.PubSubMessage{Channel: "centrifugo.client.news", Message: pbPub}
	allocs := testing.AllocsPerRun(200, func() {
		ps.dispatch(m)
		<-tr.got
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocs per delivery", allocs)
	}
}
