package redis

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

func newTestClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ConnWriteTimeout: 2 * time.Second, Dialer: net.Dialer{Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newPubSubBroker connects a Broker to srv and registers h (2 workers).
func newPubSubBroker(t *testing.T, srv *redistest.Server, h engine.BrokerEventHandler) *Broker {
	t.Helper()
	b := newTestBroker(t, srv, Options{})
	b.ps.workers = 2
	b.SetLogger(testLogger(t))
	if err := b.RegisterBrokerEventHandler(h); err != nil {
		t.Fatal(err)
	}
	return b
}

// chanHandler forwards copies of what it receives.
type chanHandler struct {
	pubs   chan recPub
	joins  chan string
	leaves chan string
	gaps   chan string
}

func newChanHandler() *chanHandler {
	return &chanHandler{pubs: make(chan recPub, 1024), joins: make(chan string, 16), leaves: make(chan string, 16), gaps: make(chan string, 1024)}
}

func (h *chanHandler) HandleStreamGap(ch string) { h.gaps <- string([]byte(ch)) }

func (h *chanHandler) HandlePublication(ch string, pub *codec.Publication, sp codec.StreamPosition, delta bool, prev *codec.Publication) error {
	r := recPub{ch: string([]byte(ch)), data: string(pub.Data), sp: codec.StreamPosition{Offset: sp.Offset, Epoch: string([]byte(sp.Epoch))}, delta: delta}
	if prev != nil {
		r.prev = string(prev.Data)
	}
	h.pubs <- r
	return nil
}

func (h *chanHandler) HandleJoin(ch string, info *codec.ClientInfo) error {
	h.joins <- string([]byte(ch)) + "/" + string([]byte(info.Client))
	return nil
}

func (h *chanHandler) HandleLeave(ch string, info *codec.ClientInfo) error {
	h.leaves <- string([]byte(ch)) + "/" + string([]byte(info.Client))
	return nil
}

func (h *chanHandler) expectPub(t *testing.T, ch, data string) recPub {
	t.Helper()
	select {
	case p := <-h.pubs:
		if p.ch != ch || p.data != data {
			t.Fatalf("got %s %q, want %s %q", p.ch, p.data, ch, data)
		}
		return p
	case <-time.After(5 * time.Second):
		t.Fatalf("no publication %s %q", ch, data)
	}
	return recPub{}
}

func (h *chanHandler) expectNone(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case p := <-h.pubs:
		t.Fatalf("unexpected publication %+v", p)
	case <-time.After(d):
	}
}

func rawPub(data string) string {
	b := []byte{0x22, byte(len(data))}
	return string(append(b, data...))
}

func publish(t *testing.T, c rueidis.Client, channel, msg string) int64 {
	t.Helper()
	n, err := c.Do(context.Background(), c.B().Publish().Channel(channel).Message(msg).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func numSub(t *testing.T, c rueidis.Client, channel string) int64 {
	t.Helper()
	m, err := c.Do(context.Background(), c.B().PubsubNumsub().Channel(channel).Build()).AsIntMap()
	if err != nil {
		t.Fatal(err)
	}
	return m[channel]
}

func TestPubSubSubscribeDeliverUnsubscribe(t *testing.T) {
	srv := redistest.Start(t)
	c := newTestClient(t, srv.Addr())
	h := newChanHandler()
	ps := newPubSubBroker(t, srv, h).ps.ps

	if err := ps.subscribe("news"); err != nil {
		t.Fatal(err)
	}
	// subscribe returned: Redis has the subscription, nothing published now is missed.
	if n := publish(t, c, "centrifugo.client.news", "__p1:5:ep__"+rawPub("a")); n != 1 {
		t.Fatalf("PUBLISH reached %d subscribers", n)
	}
	p := h.expectPub(t, "news", "a")
	if p.sp != (codec.StreamPosition{Offset: 5, Epoch: "ep"}) {
		t.Fatalf("%+v", p)
	}
	publish(t, c, "centrifugo.client.news", rawPub("b"))
	h.expectPub(t, "news", "b")
	publish(t, c, "centrifugo.client.news", "__j__"+pbInfo)
	publish(t, c, "centrifugo.client.news", "__l__"+pbInfo)
	if j := <-h.joins; j != "news/c1" {
		t.Fatal(j)
	}
	if l := <-h.leaves; l != "news/c1" {
		t.Fatal(l)
	}

	if err := ps.unsubscribe("news"); err != nil {
		t.Fatal(err)
	}
	if n := publish(t, c, "centrifugo.client.news", rawPub("c")); n != 0 {
		t.Fatalf("still subscribed: %d", n)
	}
	h.expectNone(t, 100*time.Millisecond)
}

// Many concurrent subscribes are coalesced into few SUBSCRIBE commands, and
// every call returns only after Redis confirmed its channel.
func TestPubSubBatchedSubscribe(t *testing.T) {
	srv := redistest.Start(t)
	c := newTestClient(t, srv.Addr())
	h := newChanHandler()
	ps := newPubSubBroker(t, srv, h).ps.ps

	before := commandCalls(t, c, "subscribe")
	const n = 400
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := "c" + strconv.Itoa(i)
			if err := ps.subscribe(ch); err != nil {
				failed.Add(1)
				return
			}
			if numSub(t, c, "centrifugo.client."+ch) != 1 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d subscribes failed or returned before Redis had them", failed.Load())
	}
	cmds := commandCalls(t, c, "subscribe") - before
	if cmds >= n/4 {
		t.Fatalf("%d SUBSCRIBE commands for %d channels: not batched", cmds, n)
	}
	t.Logf("%d channels subscribed with %d SUBSCRIBE commands", n, cmds)

	// One call with many channels is one command too.
	chans := make([]string, 300)
	for i := range chans {
		chans[i] = "m" + strconv.Itoa(i)
	}
	before = commandCalls(t, c, "subscribe")
	if err := ps.subscribe(chans...); err != nil {
		t.Fatal(err)
	}
	if cmds := commandCalls(t, c, "subscribe") - before; cmds != 1 {
		t.Fatalf("%d SUBSCRIBE commands for one call", cmds)
	}
	if numSub(t, c, "centrifugo.client.m299") != 1 {
		t.Fatal("m299 not subscribed")
	}
	if err := ps.unsubscribe(chans...); err != nil {
		t.Fatal(err)
	}
	if numSub(t, c, "centrifugo.client.m0") != 0 {
		t.Fatal("m0 still subscribed")
	}
}

// commandCalls reads INFO commandstats calls of cmd.
func commandCalls(t *testing.T, c rueidis.Client, cmd string) int {
	t.Helper()
	s, err := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	key := "cmdstat_" + cmd + ":calls="
	for i := 0; i+len(key) <= len(s); i++ {
		if s[i:i+len(key)] == key {
			j := i + len(key)
			k := j
			for k < len(s) && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			n, _ := strconv.Atoi(s[j:k])
			return n
		}
	}
	return 0
}

// Per-channel order survives the hand-off to workers.
func TestPubSubOrderPerChannel(t *testing.T) {
	srv := redistest.Start(t)
	c := newTestClient(t, srv.Addr())
	h := newChanHandler()
	ps := newPubSubBroker(t, srv, h).ps.ps
	chans := []string{"a", "b", "c", "d"}
	if err := ps.subscribe(chans...); err != nil {
		t.Fatal(err)
	}
	const per = 200
	cmds := make(rueidis.Commands, 0, per*len(chans))
	for i := range per {
		for _, ch := range chans {
			cmds = append(cmds, c.B().Publish().Channel("centrifugo.client."+ch).Message(rawPub(strconv.Itoa(i))).Build())
		}
	}
	for _, res := range c.DoMulti(context.Background(), cmds...) {
		if res.Error() != nil {
			t.Fatal(res.Error())
		}
	}
	next := map[string]int{}
	for range per * len(chans) {
		select {
		case p := <-h.pubs:
			if p.data != strconv.Itoa(next[p.ch]) {
				t.Fatalf("%s: got %s, want %d", p.ch, p.data, next[p.ch])
			}
			next[p.ch]++
		case <-time.After(5 * time.Second):
			t.Fatalf("missing publications: %v", next)
		}
	}
}

// blockingHandler blocks every delivery until released.
type blockingHandler struct {
	release chan struct{}
	n       atomic.Int64
	gaps    atomic.Int64
}

func (h *blockingHandler) HandlePublication(string, *codec.Publication, codec.StreamPosition, bool, *codec.Publication) error {
	<-h.release
	h.n.Add(1)
	return nil
}
func (h *blockingHandler) HandleJoin(string, *codec.ClientInfo) error  { return nil }
func (h *blockingHandler) HandleLeave(string, *codec.ClientInfo) error { return nil }
func (h *blockingHandler) HandleStreamGap(ch string)                   { h.gaps.Add(1) }

// A stuck handler fills its worker's bounded queue; further messages are
// dropped and counted, and the connection keeps serving commands.
func TestPubSubDropWhenFull(t *testing.T) {
	srv := redistest.Start(t)
	c := newTestClient(t, srv.Addr())
	h := &blockingHandler{release: make(chan struct{})}
	b, err := New(Options{Address: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ps, err := newPubSub(pubSubConfig{Prefix: "centrifugo", Shards: b.shards, ChannelID: b.clientChannel, Workers: 1, QueueSize: 8}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer ps.close()
	released := false
	defer func() {
		if !released {
			close(h.release)
		}
	}()
	if err := ps.subscribe("x"); err != nil {
		t.Fatal(err)
	}
	cmds := make(rueidis.Commands, 0, 100)
	for range 100 {
		cmds = append(cmds, c.B().Publish().Channel("centrifugo.client.x").Message(rawPub("m")).Build())
	}
	c.DoMulti(context.Background(), cmds...)
	deadline := time.Now().Add(5 * time.Second)
	for ps.dropped.Load() < 100-8-1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := ps.dropped.Load(); d < 100-8-1 {
		t.Fatalf("dropped %d", d)
	}
	// The hook never blocked: the connection still answers.
	if err := ps.subscribe("y"); err != nil {
		t.Fatal(err)
	}
	// Once the worker is free again, the engine hears of the gap in x.
	released = true
	close(h.release)
	deadline = time.Now().Add(5 * time.Second)
	for h.gaps.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if h.gaps.Load() == 0 {
		t.Fatal("no stream gap reported after drops")
	}
}

// Redis gone at start: start fails instead of running a lone node.
func TestPubSubStartFailsWithoutRedis(t *testing.T) {
	srv := redistest.Start(t)
	b, err := New(Options{Address: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv.Kill()
	ps, err := newPubSub(pubSubConfig{Prefix: "centrifugo", Shards: b.shards, ChannelID: b.clientChannel}, newChanHandler())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ps.start(ctx); err == nil {
		ps.close()
		t.Fatal("started without Redis")
	}
}

// signalHandler does nothing but say it was called.
type signalHandler struct{ done chan struct{} }

func (h *signalHandler) HandlePublication(string, *codec.Publication, codec.StreamPosition, bool, *codec.Publication) error {
	h.done <- struct{}{}
	return nil
}
func (h *signalHandler) HandleStreamGap(string) {}

func (h *signalHandler) HandleJoin(string, *codec.ClientInfo) error { h.done <- struct{}{}; return nil }
func (h *signalHandler) HandleLeave(string, *codec.ClientInfo) error {
	h.done <- struct{}{}
	return nil
}

// The receive path allocates nothing per delivery once rueidis handed over
// the message: hook -> worker queue -> envelope parse -> decode into the
// worker's reusable structs -> handler.
func TestPubSubReceiveAllocs(t *testing.T) {
	h := &signalHandler{done: make(chan struct{})}
	b, err := New(Options{Address: []string{redistest.Start(t).URL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ps, err := newPubSub(pubSubConfig{Prefix: "centrifugo", Shards: b.shards, ChannelID: b.clientChannel, Workers: 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ps.workers {
		ps.wg.Add(1)
		go ps.runWorker(w)
	}
	defer ps.close()
	msgs := []rueidis.PubSubMessage{
		{Channel: "centrifugo.client.news", Message: "__p1:42:AbCd__" + pbPub},
		{Channel: "centrifugo.client.news", Message: "__d1:43:AbCd:" + strconv.Itoa(len(pbPrev)) + ":" + pbPrev + ":" + strconv.Itoa(len(pbPub)) + ":" + pbPub},
		{Channel: "centrifugo.client.other", Message: pbPub},
		{Channel: "centrifugo.client.news", Message: "__j__" + pbInfo},
		{Channel: "centrifugo.client.news", Message: "__l__" + pbInfo},
	}
	for _, m := range msgs {
		allocs := testing.AllocsPerRun(200, func() {
			ps.dispatch(m)
			<-h.done
		})
		if allocs != 0 {
			t.Errorf("%.1f allocs per delivery of %q", allocs, m.Message[:5])
		}
	}
	if ps.dropped.Load() != 0 || ps.errors.Load() != 0 {
		t.Fatalf("dropped %d errors %d", ps.dropped.Load(), ps.errors.Load())
	}
}

// Redis killed under a subscribed channel and started again on the same
// port: the node resubscribes, the engine is told which channels lost
// publications, and publications after the restart arrive.
func TestPubSubRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	c := newTestClient(t, srv.Addr())
	h := newChanHandler()
	ps := newPubSubBroker(t, srv, h).ps.ps
	if err := ps.subscribe("news", "sport"); err != nil {
		t.Fatal(err)
	}
	publish(t, c, "centrifugo.client.news", rawPub("before"))
	h.expectPub(t, "news", "before")

	srv.Kill()
	// While Redis is down a subscribe fails quickly instead of hanging.
	deadline := time.Now().Add(5 * time.Second)
	for {
		start := time.Now()
		err := ps.subscribe("during")
		if err != nil {
			if time.Since(start) > time.Second {
				t.Fatalf("subscribe took %v to fail", time.Since(start))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("subscribe kept succeeding with Redis down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Start()

	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case ch := <-h.gaps:
			got[ch] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("engine not told about the resubscribe: %v", got)
		}
	}
	if !got["news"] || !got["sport"] {
		t.Fatalf("gaps %v", got)
	}
	if numSub(t, c, "centrifugo.client.news") != 1 || numSub(t, c, "centrifugo.client.sport") != 1 {
		t.Fatal("not resubscribed")
	}
	publish(t, c, "centrifugo.client.news", "__p1:1:new__"+rawPub("after"))
	if p := h.expectPub(t, "news", "after"); p.sp.Epoch != "new" {
		t.Fatalf("%+v", p)
	}
	publish(t, c, "centrifugo.client.sport", rawPub("after2"))
	h.expectPub(t, "sport", "after2")
	if err := ps.subscribe("later"); err != nil {
		t.Fatal(err)
	}
}
