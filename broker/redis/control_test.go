package redis

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/broker/memory"
	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// recordingControl records the control messages a broker hands to its node.
type recordingControl struct {
	mu   sync.Mutex
	msgs []string
	got  chan struct{}
}

func newRecordingControl() *recordingControl {
	return &recordingControl{got: make(chan struct{}, 1024)}
}

func (r *recordingControl) HandleControl(data []byte) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(data))
	r.mu.Unlock()
	r.got <- struct{}{}
	return nil
}

func (r *recordingControl) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// waitMsgs waits until r holds n messages and returns them.
func (r *recordingControl) waitMsgs(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if m := r.all(); len(m) >= n {
			return m
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("got %q, want %d messages", r.all(), n)
		}
	}
}

// rawSubscriber subscribes channels on srv with a plain client and records what
// Redis delivers, as channel + " " + message.
func rawSubscriber(t *testing.T, addr string, channels ...string) *recordingControl {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rec := newRecordingControl()
	conn, cancel := c.Dedicate()
	t.Cleanup(cancel)
	conn.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: func(m rueidis.PubSubMessage) {
		_ = rec.HandleControl([]byte(m.Channel + " " + m.Message))
	}})
	if err := conn.Do(context.Background(), conn.B().Subscribe().Channel(channels...).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestControlChannels: control messages travel on Centrifugo's channels, byte for
// byte: P.control reaches every node (the sender too), P.node.<ID> only that node.
func TestControlChannels(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawSubscriber(t, srv.Addr(), "centrifugo.control", "centrifugo.node.n2")
	b1 := newTestBroker(t, srv, Options{})
	b2 := newTestBroker(t, srv, Options{})
	h1, h2 := newRecordingControl(), newRecordingControl()
	if err := b1.RegisterControlEventHandler("n1", h1); err != nil {
		t.Fatal(err)
	}
	if err := b2.RegisterControlEventHandler("n2", h2); err != nil {
		t.Fatal(err)
	}
	if err := b1.RegisterControlEventHandler("n1", h1); err == nil {
		t.Fatal("second registration accepted")
	}

	all := codec.AppendControlCommand(nil, &codec.ControlCommand{UID: "n1", Shutdown: &codec.ControlShutdown{}})
	if err := b1.PublishControl(context.Background(), all, ""); err != nil {
		t.Fatal(err)
	}
	direct := []byte("\x0a\x02n1\x4a\x02\x08\x07") // a survey response to n2
	if err := b1.PublishControl(context.Background(), direct, "n2"); err != nil {
		t.Fatal(err)
	}
	if got := h2.waitMsgs(t, 2); got[0] != string(all) || got[1] != string(direct) {
		t.Fatalf("n2 got %q", got)
	}
	if got := h1.waitMsgs(t, 1); len(got) != 1 || got[0] != string(all) {
		t.Fatalf("n1 got %q", got)
	}
	got := raw.waitMsgs(t, 2)
	if got[0] != "centrifugo.control "+string(all) || got[1] != "centrifugo.node.n2 "+string(direct) {
		t.Fatalf("Redis carried %q", got)
	}
	time.Sleep(50 * time.Millisecond)
	if got := h1.all(); len(got) != 1 {
		t.Fatalf("n1 received the message for n2: %q", got)
	}
}

// TestControlPrefixAndShards: the prefix names the channels, and with client-side
// sharding a node subscribes on every shard and each message arrives once.
func TestControlPrefixAndShards(t *testing.T) {
	s1, s2 := redistest.Start(t), redistest.Start(t)
	o := Options{Address: []string{s1.URL(), s2.URL()}, Prefix: "app"}
	b1, b2 := newTestBroker(t, s1, o), newTestBroker(t, s1, o)
	h1, h2 := newRecordingControl(), newRecordingControl()
	if err := b1.RegisterControlEventHandler("n1", h1); err != nil {
		t.Fatal(err)
	}
	if err := b2.RegisterControlEventHandler("n2", h2); err != nil {
		t.Fatal(err)
	}
	raw1 := rawSubscriber(t, s1.Addr(), "app.control")
	raw2 := rawSubscriber(t, s2.Addr(), "app.control")
	for i := range 4 {
		if err := b1.PublishControl(context.Background(), []byte{byte('a' + i)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	got := h2.waitMsgs(t, 4)
	sort.Strings(got)
	if strings.Join(got, "") != "abcd" {
		t.Fatalf("n2 got %q", got)
	}
	time.Sleep(50 * time.Millisecond)
	if got := h2.all(); len(got) != 4 {
		t.Fatalf("n2 got %d messages, want each once", len(got))
	}
	// Round robin: both shards carried some.
	if len(raw1.all()) == 0 || len(raw2.all()) == 0 || len(raw1.all())+len(raw2.all()) != 4 {
		t.Fatalf("shard 1 carried %q, shard 2 %q", raw1.all(), raw2.all())
	}
}

// TestControlReconnects: after Redis restarts, the node's control subscriptions come
// back by themselves.
func TestControlReconnects(t *testing.T) {
	srv := redistest.Start(t)
	b1, b2 := newTestBroker(t, srv, Options{}), newTestBroker(t, srv, Options{})
	h2 := newRecordingControl()
	if err := b1.RegisterControlEventHandler("n1", newRecordingControl()); err != nil {
		t.Fatal(err)
	}
	if err := b2.RegisterControlEventHandler("n2", h2); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for len(h2.all()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no control message after the restart")
		}
		_ = b1.PublishControl(context.Background(), []byte("ping"), "n2")
		time.Sleep(100 * time.Millisecond)
	}
}

// TestControlHookNeverBlocks: a handler that does not return does not stall the
// connection; messages beyond the queue are dropped and counted.
func TestControlHookNeverBlocks(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	blocked := make(chan struct{}, 1)
	h := controlFunc(func([]byte) error {
		select {
		case blocked <- struct{}{}:
		default:
		}
		<-release
		return nil
	})
	if err := b.RegisterControlEventHandler("n1", h); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < controlQueueSize+100; i++ {
		if err := b.PublishControl(context.Background(), []byte("m"), ""); err != nil {
			t.Fatal(err)
		}
	}
	// The publishes above went through while the handler blocked; the connection
	// still delivers (to the hook, which drops).
	deadline := time.Now().Add(5 * time.Second)
	for b.ctl.dropped.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing dropped with the worker blocked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	once.Do(func() { close(release) })
}

type controlFunc func([]byte) error

func (f controlFunc) HandleControl(b []byte) error { return f(b) }

// clusterNode is an engine node on the in-memory broker whose control messages go
// through Redis: what the control layer needs, without the Redis broker's other
// parts.
func clusterNode(t *testing.T, srv *redistest.Server, name string) *engine.Node {
	t.Helper()
	ctl := newTestBroker(t, srv, Options{})
	mem := memory.New()
	n, err := engine.New(engine.Config{
		Name: name, Insecure: true,
		Broker: mem, PresenceManager: mem, Controller: ctl,
		WithoutNamespace: engine.NamespaceOptions{AllowSubscribeForClient: true},
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
	return n
}

// testTransport is a minimal engine.Transport; Close reports OnClose to the client
// from another goroutine, as netio does.
type testTransport struct {
	mu     sync.Mutex
	msgs   []string
	closed *engine.Disconnect
	client *engine.Client
}

func (t *testTransport) Protocol() codec.Protocol { return codec.ProtocolJSON }

func (t *testTransport) Enqueue(m []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed != nil {
		return engine.ErrTransportClosed
	}
	t.msgs = append(t.msgs, string(m))
	return nil
}

func (t *testTransport) Close(d engine.Disconnect) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed == nil {
		t.closed = &d
		if c := t.client; c != nil {
			go c.OnClose()
		}
	}
}

func (t *testTransport) state() ([]string, *engine.Disconnect) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.msgs...), t.closed
}

// anonClient connects an anonymous client (client.insecure) to n.
func anonClient(t *testing.T, n *engine.Node) (*engine.Client, *testTransport) {
	t.Helper()
	tr := &testTransport{}
	c := n.NewClient(tr, nil)
	tr.mu.Lock()
	tr.client = c
	tr.mu.Unlock()
	if !c.HandleFrame([]byte(`{"id":1,"connect":{}}`)) {
		t.Fatal("connect refused")
	}
	return c, tr
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestControlEngineNodesOverRedis: two engine nodes whose control goes through one
// Redis list each other in info, apply each other's server API commands and answer
// each other's channels surveys.
func TestControlEngineNodesOverRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := clusterNode(t, srv, "a")
	b := clusterNode(t, srv, "b")
	waitUntil(t, "both nodes list two", func() bool { return len(a.Info()) == 2 && len(b.Info()) == 2 })
	if infos := a.Info(); infos[0].Name != "a" || infos[1].Name != "b" {
		t.Fatalf("a lists %+v", infos)
	}

	cb, trb := anonClient(t, b)
	if !cb.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"news"}}`)) {
		t.Fatal("subscribe refused")
	}
	ca, _ := anonClient(t, a)
	if !ca.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"news"}}`)) {
		t.Fatal("subscribe refused")
	}
	chans, err := a.Channels("")
	if err != nil || chans["news"].NumClients != 2 {
		t.Fatalf("channels = %v, %v", chans, err)
	}

	if err := a.Subscribe(engine.ServerSubscribeRequest{Channel: "extra"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "server-side subscribe on b", func() bool { return b.NumSubscribers("extra") == 1 })
	if err := a.Disconnect(engine.ServerDisconnectRequest{Client: cb.ID()}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b's client disconnected", func() bool {
		_, d := trb.state()
		return d != nil && *d == engine.DisconnectForce
	})
	if _, d := trb.state(); d == nil {
		t.Fatal("not disconnected")
	}

	// b leaves: a stops listing it at once.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = b.Shutdown(ctx)
	waitUntil(t, "b gone from a's info", func() bool { return len(a.Info()) == 1 })
}

// testClusterControl (run by TestCluster on its cluster): control messages cross a
// Redis Cluster, with and without sharded PUB/SUB on either node, since a cluster
// forwards PUBLISH to every node whatever node the subscriber is connected to.
func testClusterControl(t *testing.T, c *redistest.Cluster) {
	b1 := newTestBroker(t, nil, Options{ClusterAddress: []string{strings.Join(c.Addrs(), ",")}})
	b2 := newTestBroker(t, nil, Options{ClusterAddress: []string{c.Addrs()[2]}, ShardedPubSubPartitions: 4})
	h1, h2 := newRecordingControl(), newRecordingControl()
	if err := b1.RegisterControlEventHandler("n1", h1); err != nil {
		t.Fatal(err)
	}
	if err := b2.RegisterControlEventHandler("n2", h2); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		from     *Broker
		to, data string
	}{
		{b1, "", "all-1"}, {b2, "", "all-2"}, {b1, "n2", "to-n2"}, {b2, "n1", "to-n1"},
	} {
		if err := m.from.PublishControl(context.Background(), []byte(m.data), m.to); err != nil {
			t.Fatal(err)
		}
	}
	got1, got2 := h1.waitMsgs(t, 3), h2.waitMsgs(t, 3)
	sort.Strings(got1)
	sort.Strings(got2)
	if strings.Join(got1, ",") != "all-1,all-2,to-n1" || strings.Join(got2, ",") != "all-1,all-2,to-n2" {
		t.Fatalf("n1 got %q, n2 got %q", got1, got2)
	}
}
