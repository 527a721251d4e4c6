package engine

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// testBus is an in-process control transport between engine nodes, shaped like the
// Redis one: a message for all nodes reaches every node, the sender included; a
// message for one node reaches only that node; delivery is asynchronous and in
// order per receiving node. cut silences a node (its messages are dropped), as if
// it died without a Shutdown.
type testBus struct {
	mu    sync.Mutex
	nodes map[string]*busNode
	cut   map[string]bool
	sent  []codec.ControlCommand // every message published, decoded
	to    []string               // the destination of each ("" = all)
}

type busNode struct {
	h     ControlEventHandler
	queue chan []byte
	done  chan struct{}
}

func newTestBus(t *testing.T) *testBus {
	b := &testBus{nodes: make(map[string]*busNode), cut: make(map[string]bool)}
	t.Cleanup(func() {
		b.mu.Lock()
		nodes := b.nodes
		b.nodes = map[string]*busNode{}
		b.mu.Unlock()
		for _, bn := range nodes {
			close(bn.queue)
			<-bn.done
		}
	})
	return b
}

// busController is one node's Controller on the bus.
type busController struct {
	bus *testBus
	id  string
}

func (c *busController) RegisterControlEventHandler(id string, h ControlEventHandler) error {
	c.id = id
	bn := &busNode{h: h, queue: make(chan []byte, 1024), done: make(chan struct{})}
	go func() {
		defer close(bn.done)
		for m := range bn.queue {
			_ = h.HandleControl(m)
		}
	}()
	c.bus.mu.Lock()
	c.bus.nodes[id] = bn
	c.bus.mu.Unlock()
	return nil
}

func (c *busController) PublishControl(_ context.Context, data []byte, to string) error {
	msg := append([]byte(nil), data...)
	var cmd codec.ControlCommand
	if err := codec.DecodeControlCommand(msg, &cmd); err != nil {
		return err
	}
	c.bus.mu.Lock()
	defer c.bus.mu.Unlock()
	c.bus.sent = append(c.bus.sent, cmd)
	c.bus.to = append(c.bus.to, to)
	if c.bus.cut[c.id] {
		return nil
	}
	for id, bn := range c.bus.nodes {
		if to == "" || to == id {
			bn.queue <- msg
		}
	}
	return nil
}

func (b *testBus) silence(id string) {
	b.mu.Lock()
	b.cut[id] = true
	b.mu.Unlock()
}

// count counts the published commands for which pick returns true.
func (b *testBus) count(pick func(c *codec.ControlCommand, to string) bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := 0
	for i := range b.sent {
		if pick(&b.sent[i], b.to[i]) {
			k++
		}
	}
	return k
}

// newClusterNode starts a node on bus with control timings shortened for tests.
func newClusterNode(t *testing.T, bus *testBus, cfg Config, name string) *Node {
	t.Helper()
	cfg.Name = name
	cfg.Controller = &busController{bus: bus}
	n, err := New(withBroker(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.control.interval = 50 * time.Millisecond
	n.control.maxDelay = 200 * time.Millisecond
	n.control.surveyWait = 2 * time.Second
	n.Run()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

func nodeNames(infos []NodeInfo) []string {
	out := make([]string, len(infos))
	for i, x := range infos {
		out[i] = x.Name
	}
	return out
}

func subscribeClient(t *testing.T, c *Client, tr *fakeTransport, id int, ch string) {
	t.Helper()
	before := len(tr.messages())
	frame := `{"id":` + itoa(id) + `,"subscribe":{"channel":"` + ch + `"}}`
	if !c.HandleFrame([]byte(frame)) {
		t.Fatalf("subscribe closed the session: %v", tr.disconnect())
	}
	if got := tr.messages()[before:]; len(got) == 0 || !strings.HasPrefix(got[0], `{"id":`+itoa(id)+`,"subscribe":`) {
		t.Fatalf("subscribe reply: %q", got)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestControlRegistry: nodes on one bus list each other (this node first) with their
// counters, a node that shuts down leaves the others' lists at once, and a node that
// goes silent leaves them after maxDelay.
func TestControlRegistry(t *testing.T) {
	bus := newTestBus(t)
	a := newClusterNode(t, bus, testConfig(), "a")
	b := newClusterNode(t, bus, testConfig(), "b")
	c := newClusterNode(t, bus, testConfig(), "c")
	waitFor(t, 2*time.Second, "every node lists three", func() bool {
		return len(a.Info()) == 3 && len(b.Info()) == 3 && len(c.Info()) == 3
	})
	if got := nodeNames(b.Info()); !reflect.DeepEqual(got, []string{"b", "a", "c"}) {
		t.Fatalf("b lists %v, want itself first, then by name", got)
	}
	// Counters travel with the announcements.
	connected(t, b, "7")
	waitFor(t, 2*time.Second, "a sees b's client", func() bool {
		for _, x := range a.Info() {
			if x.UID == b.uid {
				return x.NumClients == 1 && x.NumUsers == 1 && x.Version == DefaultVersion
			}
		}
		return false
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Shutdown(ctx)
	// Well before maxDelay: the Shutdown message, not expiry, removes c.
	waitFor(t, 100*time.Millisecond, "c gone after its shutdown", func() bool {
		return len(a.Info()) == 2 && len(b.Info()) == 2
	})

	bus.silence(b.uid)
	start := time.Now()
	waitFor(t, 2*time.Second, "silent b forgotten", func() bool { return len(a.Info()) == 1 })
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("b forgotten after %v, before maxDelay", d)
	}
	waitFor(t, time.Second, "silent b dropped from the registry", func() bool {
		a.control.mu.Lock()
		defer a.control.mu.Unlock()
		_, still := a.control.nodes[b.uid]
		return !still
	})
}

// TestControlNewNodeAnsweredDirectly: a node heard of for the first time gets the
// hearer's info addressed to it, so it does not wait for the next round.
func TestControlNewNodeAnsweredDirectly(t *testing.T) {
	bus := newTestBus(t)
	a := newClusterNode(t, bus, testConfig(), "a")
	b := newClusterNode(t, bus, testConfig(), "b")
	waitFor(t, 2*time.Second, "both list two", func() bool { return len(a.Info()) == 2 && len(b.Info()) == 2 })
	// Whichever started second was announced to the first, which answered it alone.
	direct := bus.count(func(c *codec.ControlCommand, to string) bool {
		return c.Node != nil && to != "" && ((c.UID == a.uid && to == b.uid) || (c.UID == b.uid && to == a.uid))
	})
	if direct == 0 {
		t.Fatal("no node answered a new node directly")
	}
}

// TestControlServerAPIAcrossNodes: server API disconnect, unsubscribe, subscribe and
// refresh called on one node reach the user's connections on the other.
func TestControlServerAPIAcrossNodes(t *testing.T) {
	bus := newTestBus(t)
	a := newClusterNode(t, bus, testConfig(), "a")
	b := newClusterNode(t, bus, testConfig(), "b")

	c1, tr1 := connected(t, b, "7")
	_, tr2 := connected(t, b, "7")
	_, trOther := connected(t, b, "8")

	// subscribe
	if err := a.Subscribe(ServerSubscribeRequest{User: "7", Channel: "chat:x", Data: []byte(`{"d":1}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "server-side subscribe on b", func() bool { return b.NumSubscribers("chat:x") == 2 })
	if got := tr1.messages(); got[len(got)-1] != `{"push":{"channel":"chat:x","subscribe":{"data":{"d":1}}}}` {
		t.Fatalf("subscribe push: %q", got[len(got)-1])
	}
	if len(trOther.messages()) != 1 {
		t.Fatalf("user 8 got %q", trOther.messages())
	}

	// unsubscribe, narrowed to one client
	if err := a.Unsubscribe(ServerUnsubscribeRequest{User: "7", Channel: "chat:x", Client: c1.ID()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "unsubscribe on b", func() bool { return b.NumSubscribers("chat:x") == 1 })
	if got := tr1.messages(); got[len(got)-1] != `{"push":{"channel":"chat:x","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}` {
		t.Fatalf("unsubscribe push: %q", got[len(got)-1])
	}

	// refresh
	exp := time.Now().Add(time.Hour).Unix()
	if err := a.Refresh(ServerRefreshRequest{User: "7", ExpireAt: exp}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "refresh push on b", func() bool {
		got := tr2.messages()
		return strings.HasPrefix(got[len(got)-1], `{"push":{"refresh":{"expires":true,"ttl":`)
	})

	// disconnect with a whitelist
	if err := a.Disconnect(ServerDisconnectRequest{User: "7", Whitelist: []string{c1.ID()}}); err != nil {
		t.Fatal(err)
	}
	if d := tr2.waitClosed(time.Second); d == nil || *d != DisconnectForce {
		t.Fatalf("disconnect: %v", d)
	}
	if d := tr1.disconnect(); d != nil {
		t.Fatalf("whitelisted client disconnected: %v", *d)
	}
	if d := trOther.disconnect(); d != nil {
		t.Fatalf("other user disconnected: %v", *d)
	}
}

// TestControlOwnCommandsIgnored: a node applies its own API command once, locally,
// and ignores the copy the transport hands back; another node's copy it applies.
func TestControlOwnCommandsIgnored(t *testing.T) {
	n := newTestNode(t, testConfig())
	_, tr := connected(t, n, "7")
	own := codec.AppendControlCommand(nil, &codec.ControlCommand{UID: n.uid, Disconnect: &codec.ControlDisconnect{User: "7", Code: 3503, Reason: "force disconnect"}})
	if err := n.HandleControl(own); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if d := tr.disconnect(); d != nil {
		t.Fatalf("own command applied: %v", *d)
	}
	other := codec.AppendControlCommand(nil, &codec.ControlCommand{UID: "other", Disconnect: &codec.ControlDisconnect{User: "7", Code: 3999, Reason: "custom"}})
	if err := n.HandleControl(other); err != nil {
		t.Fatal(err)
	}
	if d := tr.waitClosed(time.Second); d == nil || *d != (Disconnect{Code: 3999, Reason: "custom"}) {
		t.Fatalf("other node's disconnect: %v", d)
	}
	if err := n.HandleControl([]byte{0x0a, 0x05}); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
}

// TestControlFromCentrifugo applies commands shaped as Centrifugo sends them:
// all_users with an empty user reaches every connection, a label filter matches
// connections as label-less ones, unsubscribe carries its own code and reason.
func TestControlFromCentrifugo(t *testing.T) {
	n := newTestNode(t, testConfig())
	c7, tr7 := connected(t, n, "7")
	_, tr8 := connected(t, n, "8")
	subscribeClient(t, c7, tr7, 2, "chat:y")

	apply := func(cmd codec.ControlCommand) {
		t.Helper()
		cmd.UID = "centrifugo-node"
		if err := n.HandleControl(codec.AppendControlCommand(nil, &cmd)); err != nil {
			t.Fatal(err)
		}
	}
	apply(codec.ControlCommand{Unsubscribe: &codec.ControlUnsubscribe{User: "7", Channel: "chat:y", Code: 2001, Reason: "custom"}})
	if got := tr7.messages(); got[len(got)-1] != `{"push":{"channel":"chat:y","unsubscribe":{"code":2001,"reason":"custom"}}}` {
		t.Fatalf("unsubscribe push: %q", got[len(got)-1])
	}
	// A filter on labels no Rotor connection has: nothing matches.
	apply(codec.ControlCommand{Disconnect: &codec.ControlDisconnect{AllUsers: true, Code: 3503, Reason: "force disconnect",
		LabelFilter: &codec.FilterNode{Key: "region", Cmp: "eq", Val: "eu"}}})
	// An empty user without all_users: anonymous connections only.
	apply(codec.ControlCommand{Disconnect: &codec.ControlDisconnect{Code: 3503, Reason: "force disconnect"}})
	time.Sleep(20 * time.Millisecond)
	if tr7.disconnect() != nil || tr8.disconnect() != nil {
		t.Fatal("a filtered or anonymous-only disconnect reached user connections")
	}
	// A filter every label-less connection satisfies, across all users.
	apply(codec.ControlCommand{Disconnect: &codec.ControlDisconnect{AllUsers: true, Code: 3503, Reason: "force disconnect",
		LabelFilter: &codec.FilterNode{Key: "region", Cmp: "neq", Val: "eu"}}})
	for _, tr := range []*fakeTransport{tr7, tr8} {
		if d := tr.waitClosed(time.Second); d == nil || *d != DisconnectForce {
			t.Fatalf("all_users disconnect: %v", d)
		}
	}
}

// TestControlChannelsSurvey: the channels API sums every node's local counts
// through the "channels" survey, honours the pattern, and fails when a node known to
// be there does not answer in time.
func TestControlChannelsSurvey(t *testing.T) {
	bus := newTestBus(t)
	a := newClusterNode(t, bus, testConfig(), "a")
	b := newClusterNode(t, bus, testConfig(), "b")
	waitFor(t, 2*time.Second, "both list two", func() bool { return len(a.Info()) == 2 && len(b.Info()) == 2 })

	ca, tra := connected(t, a, "1")
	subscribeClient(t, ca, tra, 2, "chat:x")
	cb, trb := connected(t, b, "2")
	subscribeClient(t, cb, trb, 2, "chat:x")
	cb2, trb2 := connected(t, b, "3")
	subscribeClient(t, cb2, trb2, 2, "news")

	got, err := a.Channels("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ChannelInfo{"chat:x": {NumClients: 2}, "news": {NumClients: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("channels = %v, want %v", got, want)
	}
	got, err = b.Channels("chat:*")
	if err != nil || !reflect.DeepEqual(got, map[string]ChannelInfo{"chat:x": {NumClients: 2}}) {
		t.Fatalf("channels chat:* = %v, %v", got, err)
	}
	if _, err := a.Channels("[bad"); err != ErrorInternal {
		t.Fatalf("bad pattern: %v", err)
	}
	// The requests went to all nodes and the answers to the asker only.
	if k := bus.count(func(c *codec.ControlCommand, to string) bool {
		return c.SurveyRequest != nil && c.SurveyRequest.Op == "channels" && to == ""
	}); k != 2 {
		t.Fatalf("%d survey requests to all, want 2", k)
	}
	if k := bus.count(func(c *codec.ControlCommand, to string) bool {
		return c.SurveyResponse != nil && ((c.UID == b.uid && to == a.uid) || (c.UID == a.uid && to == b.uid))
	}); k != 2 {
		t.Fatalf("%d survey answers to the asker, want 2", k)
	}

	// A node that stops answering (no Shutdown) fails the survey at the timeout
	// while it is still listed.
	a.control.surveyWait = 100 * time.Millisecond
	bus.silence(b.uid)
	start := time.Now()
	if _, err := a.Channels(""); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("survey with a silent node: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > time.Second {
		t.Fatalf("survey gave up after %v", d)
	}
}

// TestControlSurveyAnswers: answers to other nodes' surveys, including ops Rotor
// does not know and malformed requests, with Centrifugo's codes.
func TestControlSurveyAnswers(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := connected(t, n, "1")
	subscribeClient(t, c, tr, 2, "chat:x")
	r := n.surveyAnswer("channels", codec.AppendChannelsSurveyRequest(nil, "chat:*"))
	counts, err := codec.DecodeChannelsSurveyResult(r.data)
	if r.code != 0 || err != nil || !reflect.DeepEqual(counts, map[string]uint32{"chat:x": 1}) {
		t.Fatalf("channels answer: code %d %v %v", r.code, counts, err)
	}
	if r := n.surveyAnswer("channels", []byte{0x0a, 0x09}); r.code != surveyInvalidRequest {
		t.Fatalf("malformed request: code %d", r.code)
	}
	if r := n.surveyAnswer("channels", codec.AppendChannelsSurveyRequest(nil, "[")); r.code != surveyInvalidRequest {
		t.Fatalf("bad pattern: code %d", r.code)
	}
	if r := n.surveyAnswer("centrifuge_emulation", nil); r.code != surveyMethodNotFound {
		t.Fatalf("unknown op: code %d", r.code)
	}
}

// TestControlAloneStaysLocal: without a controller (one node) info lists this node,
// channels needs no survey, server API commands apply locally.
func TestControlAloneStaysLocal(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := connected(t, n, "1")
	subscribeClient(t, c, tr, 2, "chat:x")
	if infos := n.Info(); len(infos) != 1 || infos[0].UID != n.uid || infos[0].NumSubs != 1 {
		t.Fatalf("info = %+v", infos)
	}
	got, err := n.Channels("")
	if err != nil || !reflect.DeepEqual(got, map[string]ChannelInfo{"chat:x": {NumClients: 1}}) {
		t.Fatalf("channels = %v, %v", got, err)
	}
}

// loopbackController delivers synchronously to its own node, as the memory broker's
// controller does.
type loopbackController struct {
	h    ControlEventHandler
	sent atomic.Int64
}

func (l *loopbackController) RegisterControlEventHandler(_ string, h ControlEventHandler) error {
	l.h = h
	return nil
}

func (l *loopbackController) PublishControl(_ context.Context, data []byte, _ string) error {
	l.sent.Add(1)
	return l.h.HandleControl(data)
}

// TestControlLoopbackAppliesOnce: with a controller that hands the node its own
// messages on the publishing goroutine (memory), each server API command is applied
// once and the node lists only itself.
func TestControlLoopbackAppliesOnce(t *testing.T) {
	cfg := testConfig()
	lb := &loopbackController{}
	cfg.Controller = lb
	n := newTestNode(t, cfg)
	_, tr := connected(t, n, "7")
	if err := n.Subscribe(ServerSubscribeRequest{User: "7", Channel: "chat:x"}); err != nil {
		t.Fatal(err)
	}
	if err := n.Refresh(ServerRefreshRequest{User: "7", ExpireAt: time.Now().Add(time.Hour).Unix()}); err != nil {
		t.Fatal(err)
	}
	if err := n.Unsubscribe(ServerUnsubscribeRequest{User: "7", Channel: "chat:x"}); err != nil {
		t.Fatal(err)
	}
	msgs := tr.messages()[1:]
	if len(msgs) != 3 || !strings.Contains(msgs[0], `"subscribe"`) || !strings.Contains(msgs[1], `"refresh"`) || !strings.Contains(msgs[2], `"unsubscribe"`) {
		t.Fatalf("client got %q, want one subscribe, refresh and unsubscribe push", msgs)
	}
	if k := lb.sent.Load(); k < 3 {
		t.Fatalf("%d control messages published, want the 3 commands at least", k)
	}
	if infos := n.Info(); len(infos) != 1 {
		t.Fatalf("info = %+v", infos)
	}
}

// flakyController fails every publish while fail is set.
type flakyController struct{ fail atomic.Bool }

func (f *flakyController) RegisterControlEventHandler(string, ControlEventHandler) error { return nil }

func (f *flakyController) PublishControl(context.Context, []byte, string) error {
	if f.fail.Load() {
		return errors.New("redis down")
	}
	return nil
}

// countingHandler counts log records by message.
type countingHandler struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := 0
	for m, c := range h.msgs {
		if strings.HasPrefix(m, prefix) {
			k += c
		}
	}
	return k
}

// TestControlOutageLoggedOnce: announcements failing round after round are logged
// when the outage starts and when it ends, not every round.
func TestControlOutageLoggedOnce(t *testing.T) {
	fc := &flakyController{}
	fc.fail.Store(true)
	cfg := testConfig()
	cfg.Controller = fc
	logs := &countingHandler{msgs: map[string]int{}}
	n, err := New(withBroker(cfg), slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	n.control.interval = 10 * time.Millisecond
	n.Run()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	time.Sleep(150 * time.Millisecond)
	if k := logs.count("control: publishing node info failed"); k != 1 {
		t.Fatalf("outage logged %d times, want once", k)
	}
	fc.fail.Store(false)
	waitFor(t, time.Second, "recovery logged", func() bool { return logs.count("control: publishing node info works again") == 1 })
	time.Sleep(50 * time.Millisecond)
	if k := logs.count("control: publishing node info works again"); k != 1 {
		t.Fatalf("recovery logged %d times", k)
	}
}

// FuzzHandleControl: whatever another node sends, applying it neither panics nor
// blocks; what does not decode is an ErrMalformed error.
func FuzzHandleControl(f *testing.F) {
	for _, c := range []codec.ControlCommand{
		{UID: "x", Node: &codec.ControlNode{UID: "x", Name: "n", Metrics: &codec.ControlMetrics{Interval: 1, Items: map[string]float64{"a": 1}}}},
		{UID: "x", Subscribe: &codec.ControlSubscribe{User: "7", Channel: "chat:x", Recover: true, RecoverSince: &codec.StreamPosition{Offset: 3, Epoch: "e"}, ExpireAt: 1}},
		{UID: "x", Subscribe: &codec.ControlSubscribe{AllUsers: true, Channel: "news", EmitPresence: true, EmitJoinLeave: true, PushJoinLeave: true}},
		{UID: "x", Unsubscribe: &codec.ControlUnsubscribe{User: "7", Channel: "chat:x", Code: 2000}},
		{UID: "x", Disconnect: &codec.ControlDisconnect{User: "8", Code: 3000, Whitelist: []string{""}, LabelFilter: &codec.FilterNode{Op: "or", Nodes: []*codec.FilterNode{{Key: "a", Cmp: "nin"}}}}},
		{UID: "x", Refresh: &codec.ControlRefresh{User: "7", ExpireAt: 1 << 62, Info: []byte(`{}`)}},
		{UID: "x", SurveyRequest: &codec.ControlSurveyRequest{ID: 1, Op: "channels", Data: []byte{0x0a, 0x01, '*'}}},
		{UID: "x", SurveyResponse: &codec.ControlSurveyResponse{ID: 1}},
		{UID: "x", Shutdown: &codec.ControlShutdown{}},
	} {
		f.Add(codec.AppendControlCommand(nil, &c))
	}
	n := newTestNode(f, testConfig())
	var mu sync.Mutex
	f.Fuzz(func(t *testing.T, b []byte) {
		mu.Lock()
		defer mu.Unlock()
		if len(n.hub.userConns("7")) == 0 {
			connected(t, n, "7")
		}
		done := make(chan error, 1)
		go func() { done <- n.HandleControl(b) }()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("HandleControl: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("HandleControl blocked")
		}
	})
}

// TestControlMetricsAttached: the first announcement and then one every
// metricsEvery carry the node's gauges, flattened as Centrifugo names them; the
// others carry none and the receiving node keeps the last ones for info.
func TestControlMetricsAttached(t *testing.T) {
	bus := newTestBus(t)
	a := newClusterNode(t, bus, testConfig(), "a")
	cfg := testConfig()
	cfg.Controller = &busController{bus: bus}
	cfg.Name = "b"
	b, err := New(withBroker(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	b.control.interval = 30 * time.Millisecond
	b.control.metricsEvery = 200 * time.Millisecond
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
	})
	b.Run()
	connected(t, b, "7")
	metricsOfB := func() *NodeMetrics {
		for _, x := range a.Info() {
			if x.UID == b.uid {
				return x.Metrics
			}
		}
		return nil
	}
	waitFor(t, 2*time.Second, "b's metrics with its client", func() bool {
		m := metricsOfB()
		return m != nil && m.Items["centrifugo.node.num_clients"] == 1 && m.Items["centrifugo.node.num_users"] == 1
	})
	if m := metricsOfB(); m.Interval < 0.15 || m.Interval > 1 {
		t.Fatalf("interval %v s, want about 0.2", m.Interval)
	}
	count := func(metrics bool) int {
		return bus.count(func(c *codec.ControlCommand, _ string) bool {
			return c.UID == b.uid && c.Node != nil && (c.Node.Metrics != nil) == metrics
		})
	}
	waitFor(t, 2*time.Second, "two announcements with metrics", func() bool { return count(true) >= 2 })
	if with, without := count(true), count(false); without < with {
		t.Fatalf("%d announcements with metrics, %d without: want metrics on a few only", with, without)
	}
	// Between metrics-bearing announcements a's info keeps the last metrics.
	for range 5 {
		if metricsOfB() == nil {
			t.Fatal("metrics lost by an announcement without them")
		}
		time.Sleep(30 * time.Millisecond)
	}
}
