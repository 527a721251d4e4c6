// Package brokertest is the conformance suite every engine.Broker and
// engine.PresenceManager passes (broker/memory, broker/redis): stream offsets and
// epochs, idempotency, versioned publish, history filters, retention and meta TTL,
// removal, delta bases, join/leave, presence, and delivery to the event handler of
// Subscribe'd channels (remote brokers) or none at all (local ones).
package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// NewFunc returns a fresh broker and presence manager (they may be one value) whose
// RegisterBrokerEventHandler has not been called yet. Called once per subtest; it
// registers its own cleanup with t.Cleanup. Channels are unique per subtest, so
// brokers may share a store between calls.
type NewFunc func(t *testing.T) (engine.Broker, engine.PresenceManager)

// Run runs the suite against the brokers newFunc builds.
func Run(t *testing.T, newFunc NewFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"PublishOffsetsAndEpoch", testPublishOffsets},
		{"PublishWithoutHistory", testPublishWithoutHistory},
		{"HistorySizeTrims", testHistorySize},
		{"HistoryFilter", testHistoryFilter},
		{"HistoryUnrecoverableEpoch", testHistoryEpochMismatch},
		{"RemoveHistory", testRemoveHistory},
		{"HistoryTTLAndMetaTTL", testTTL},
		{"Idempotency", testIdempotency},
		{"VersionedPublish", testVersioned},
		{"DeltaBase", testDelta},
		{"Presence", testPresence},
		{"JoinLeave", testJoinLeave},
		{"Delivery", testDelivery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, p := newFunc(t)
			h := newRecorder()
			if err := b.RegisterBrokerEventHandler(h); err != nil {
				t.Fatalf("RegisterBrokerEventHandler: %v", err)
			}
			s := &suite{b: b, p: p, h: h, prefix: fmt.Sprintf("conf_%s_%d:", tc.name, time.Now().UnixNano())}
			tc.fn(t, s)
		})
	}
}

type suite struct {
	b      engine.Broker
	p      engine.PresenceManager
	h      *recorder
	prefix string
}

func (s *suite) ch(name string) string { return s.prefix + name }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// history publish options: size, ttl 1 minute, meta 1 hour.
func hist(size int) *engine.BrokerPublishOptions {
	return &engine.BrokerPublishOptions{HistorySize: size, HistoryTTL: time.Minute, HistoryMetaTTL: time.Hour}
}

func pub(data string) *codec.Publication {
	return &codec.Publication{Data: []byte(data), Tags: map[string]string{"k": data}, Info: &codec.ClientInfo{User: "u", Client: "c-" + data}}
}

func (s *suite) publish(t *testing.T, ch, data string, o *engine.BrokerPublishOptions) engine.BrokerPublishResult {
	t.Helper()
	res, err := s.b.Publish(ctx(t), ch, pub(data), o)
	if err != nil {
		t.Fatalf("Publish %s %q: %v", ch, data, err)
	}
	return res
}

func (s *suite) history(t *testing.T, ch string, f engine.HistoryFilter) ([]*codec.Publication, codec.StreamPosition) {
	t.Helper()
	pubs, top, err := s.b.History(ctx(t), ch, engine.HistoryOptions{Filter: f, MetaTTL: time.Hour})
	if err != nil {
		t.Fatalf("History %s %+v: %v", ch, f, err)
	}
	return pubs, top
}

// wantPubs checks pubs' offsets and data ("d<offset>").
func wantPubs(t *testing.T, what string, pubs []*codec.Publication, offsets ...uint64) {
	t.Helper()
	got := make([]uint64, len(pubs))
	for i, p := range pubs {
		got[i] = p.Offset
	}
	if fmt.Sprint(got) != fmt.Sprint(offsets) {
		t.Fatalf("%s: offsets %v, want %v", what, got, offsets)
	}
	for _, p := range pubs {
		want := fmt.Sprintf("d%d", p.Offset)
		if string(p.Data) != want {
			t.Fatalf("%s: offset %d has data %q, want %q", what, p.Offset, p.Data, want)
		}
		if p.Tags["k"] != want || p.Info == nil || p.Info.Client != "c-"+want || p.Info.User != "u" {
			t.Fatalf("%s: offset %d lost tags or info: %+v %+v", what, p.Offset, p.Tags, p.Info)
		}
	}
}

func (s *suite) publishN(t *testing.T, ch string, n, size int) codec.StreamPosition {
	t.Helper()
	var last codec.StreamPosition
	for i := 1; i <= n; i++ {
		res := s.publish(t, ch, fmt.Sprintf("d%d", i), hist(size))
		if res.Suppressed || res.Position.Offset != uint64(i) || res.Position.Epoch == "" {
			t.Fatalf("publish %d: %+v", i, res)
		}
		if last.Epoch != "" && res.Position.Epoch != last.Epoch {
			t.Fatalf("publish %d: epoch %q changed from %q", i, res.Position.Epoch, last.Epoch)
		}
		last = res.Position
	}
	return last
}

func testPublishOffsets(t *testing.T, s *suite) {
	ch := s.ch("a")
	_, top := s.history(t, ch, engine.HistoryFilter{})
	if top.Offset != 0 || top.Epoch == "" {
		t.Fatalf("new stream position %+v, want offset 0 and an epoch", top)
	}
	last := s.publishN(t, ch, 3, 10)
	if last.Epoch != top.Epoch {
		t.Fatalf("publish epoch %q, the read before gave %q", last.Epoch, top.Epoch)
	}
	pubs, top := s.history(t, ch, engine.HistoryFilter{Limit: -1})
	wantPubs(t, "history", pubs, 1, 2, 3)
	if top != last {
		t.Fatalf("top %+v, want %+v", top, last)
	}
	other := s.publishN(t, s.ch("b"), 1, 10)
	if other.Epoch == last.Epoch {
		t.Fatalf("two streams share epoch %q", other.Epoch)
	}
}

func testPublishWithoutHistory(t *testing.T, s *suite) {
	ch := s.ch("nohist")
	res := s.publish(t, ch, "x", &engine.BrokerPublishOptions{HistoryMetaTTL: time.Hour})
	if res.Suppressed || res.Position != (codec.StreamPosition{}) {
		t.Fatalf("publish without history: %+v", res)
	}
	pubs, top := s.history(t, ch, engine.HistoryFilter{Limit: -1})
	if len(pubs) != 0 || top.Offset != 0 {
		t.Fatalf("history after a publish without history: %d pubs, %+v", len(pubs), top)
	}
}

func testHistorySize(t *testing.T, s *suite) {
	ch := s.ch("trim")
	s.publishN(t, ch, 5, 3)
	pubs, top := s.history(t, ch, engine.HistoryFilter{Limit: -1})
	wantPubs(t, "size 3", pubs, 3, 4, 5)
	if top.Offset != 5 {
		t.Fatalf("top %+v", top)
	}
}

func testHistoryFilter(t *testing.T, s *suite) {
	ch := s.ch("filter")
	last := s.publishN(t, ch, 10, 10)
	for _, tc := range []struct {
		name string
		f    engine.HistoryFilter
		want []uint64
	}{
		{"all", engine.HistoryFilter{Limit: -1}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"limit 0", engine.HistoryFilter{Limit: 0}, nil},
		{"limit 3", engine.HistoryFilter{Limit: 3}, []uint64{1, 2, 3}},
		{"since 5 limit 2", engine.HistoryFilter{Since: &codec.StreamPosition{Offset: 5, Epoch: last.Epoch}, Limit: 2}, []uint64{6, 7}},
		{"since 5 no epoch", engine.HistoryFilter{Since: &codec.StreamPosition{Offset: 5}, Limit: -1}, []uint64{6, 7, 8, 9, 10}},
		{"since top", engine.HistoryFilter{Since: &last, Limit: -1}, nil},
		{"reverse limit 3", engine.HistoryFilter{Limit: 3, Reverse: true}, []uint64{10, 9, 8}},
		{"reverse all", engine.HistoryFilter{Limit: -1, Reverse: true}, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"reverse since 5", engine.HistoryFilter{Since: &codec.StreamPosition{Offset: 5, Epoch: last.Epoch}, Limit: -1, Reverse: true}, []uint64{4, 3, 2, 1}},
		{"reverse since 5 limit 2", engine.HistoryFilter{Since: &codec.StreamPosition{Offset: 5}, Limit: 2, Reverse: true}, []uint64{4, 3}},
	} {
		pubs, top := s.history(t, ch, tc.f)
		if want := []uint64(tc.want); want == nil {
			wantPubs(t, tc.name, pubs)
		} else {
			wantPubs(t, tc.name, pubs, want...)
		}
		if top != last {
			t.Fatalf("%s: top %+v, want %+v", tc.name, top, last)
		}
	}
}

func testHistoryEpochMismatch(t *testing.T, s *suite) {
	ch := s.ch("epoch")
	s.publishN(t, ch, 2, 10)
	_, _, err := s.b.History(ctx(t), ch, engine.HistoryOptions{
		Filter:  engine.HistoryFilter{Since: &codec.StreamPosition{Offset: 1, Epoch: "not-this"}, Limit: -1},
		MetaTTL: time.Hour,
	})
	if !errors.Is(err, engine.ErrorUnrecoverablePosition) {
		t.Fatalf("since another epoch: %v, want ErrorUnrecoverablePosition", err)
	}
}

func testRemoveHistory(t *testing.T, s *suite) {
	ch := s.ch("remove")
	last := s.publishN(t, ch, 3, 10)
	if err := s.b.RemoveHistory(ctx(t), ch); err != nil {
		t.Fatal(err)
	}
	pubs, top := s.history(t, ch, engine.HistoryFilter{Limit: -1})
	if len(pubs) != 0 || top != last {
		t.Fatalf("after remove: %d pubs, top %+v, want none and %+v", len(pubs), top, last)
	}
	res := s.publish(t, ch, "d4", hist(10))
	if res.Position != (codec.StreamPosition{Offset: 4, Epoch: last.Epoch}) {
		t.Fatalf("publish after remove: %+v", res.Position)
	}
	pubs, _ = s.history(t, ch, engine.HistoryFilter{Limit: -1})
	wantPubs(t, "after remove and publish", pubs, 4)
	if err := s.b.RemoveHistory(ctx(t), s.ch("never")); err != nil {
		t.Fatalf("remove of a missing stream: %v", err)
	}
}

func testTTL(t *testing.T, s *suite) {
	// retention: publications expire after HistoryTTL, the position stays.
	ret := s.ch("retention")
	r1 := s.publish(t, ret, "d1", &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: time.Second, HistoryMetaTTL: time.Hour})
	// meta: the whole stream, epoch included, expires after HistoryMetaTTL.
	meta := s.ch("meta")
	m1 := s.publish(t, meta, "d1", &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: time.Second, HistoryMetaTTL: time.Second})
	time.Sleep(2200 * time.Millisecond)
	pubs, top := s.history(t, ret, engine.HistoryFilter{Limit: -1})
	if len(pubs) != 0 || top != r1.Position {
		t.Fatalf("retention: %d pubs, top %+v, want none and %+v", len(pubs), top, r1.Position)
	}
	_, _, err := s.b.History(ctx(t), meta, engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}, MetaTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pubs, top = s.history(t, meta, engine.HistoryFilter{Limit: -1})
	if len(pubs) != 0 || top.Offset != 0 || top.Epoch == m1.Position.Epoch || top.Epoch == "" {
		t.Fatalf("meta expired: %d pubs, top %+v, want none, offset 0 and an epoch other than %q", len(pubs), top, m1.Position.Epoch)
	}
}

func testIdempotency(t *testing.T, s *suite) {
	ch := s.ch("idem")
	o := hist(10)
	o.IdempotencyKey = "k1"
	o.IdempotentResultTTL = time.Minute
	first := s.publish(t, ch, "d1", o)
	if first.Suppressed || first.Position.Offset != 1 {
		t.Fatalf("first: %+v", first)
	}
	again := s.publish(t, ch, "other", o)
	if !again.Suppressed || again.Position != first.Position {
		t.Fatalf("repeat: %+v, want suppressed at %+v", again, first.Position)
	}
	o2 := *o
	o2.IdempotencyKey = "k2"
	second := s.publish(t, ch, "d2", &o2)
	if second.Suppressed || second.Position.Offset != 2 {
		t.Fatalf("another key: %+v", second)
	}
	pubs, _ := s.history(t, ch, engine.HistoryFilter{Limit: -1})
	wantPubs(t, "idempotent history", pubs, 1, 2)
	// The key is per channel.
	other := s.publish(t, s.ch("idem2"), "d1", o)
	if other.Suppressed {
		t.Fatalf("same key on another channel suppressed: %+v", other)
	}
	// Without history too.
	nh := &engine.BrokerPublishOptions{HistoryMetaTTL: time.Hour, IdempotencyKey: "k", IdempotentResultTTL: time.Minute}
	if r := s.publish(t, s.ch("idem3"), "x", nh); r.Suppressed {
		t.Fatalf("first without history suppressed: %+v", r)
	}
	if r := s.publish(t, s.ch("idem3"), "x", nh); !r.Suppressed {
		t.Fatalf("repeat without history not suppressed: %+v", r)
	}
}

func testVersioned(t *testing.T, s *suite) {
	ch := s.ch("version")
	v := func(data string, version uint64, epoch string) engine.BrokerPublishResult {
		o := hist(10)
		o.Version, o.VersionEpoch = version, epoch
		return s.publish(t, ch, data, o)
	}
	if r := v("d1", 2, "e1"); r.Suppressed || r.Position.Offset != 1 {
		t.Fatalf("v2: %+v", r)
	}
	if r := v("x", 1, "e1"); !r.Suppressed || r.Position.Offset != 1 {
		t.Fatalf("v1 after v2: %+v, want suppressed at offset 1", r)
	}
	if r := v("x", 2, "e1"); !r.Suppressed {
		t.Fatalf("v2 again: %+v, want suppressed", r)
	}
	if r := v("x", 1, ""); !r.Suppressed {
		t.Fatalf("v1 without epoch: %+v, want suppressed", r)
	}
	if r := v("d2", 3, "e1"); r.Suppressed || r.Position.Offset != 2 {
		t.Fatalf("v3: %+v", r)
	}
	if r := v("d3", 1, "e2"); r.Suppressed || r.Position.Offset != 3 {
		t.Fatalf("v1 in a new version epoch: %+v", r)
	}
	pubs, _ := s.history(t, ch, engine.HistoryFilter{Limit: -1})
	wantPubs(t, "versioned history", pubs, 1, 2, 3)
}

func testDelta(t *testing.T, s *suite) {
	ch := s.ch("delta")
	if !s.b.Local() {
		if err := s.b.Subscribe(ctx(t), ch); err != nil {
			t.Fatal(err)
		}
	}
	o := hist(10)
	o.UseDelta, o.DeltaNamespace = true, true
	r1 := s.publish(t, ch, "d1", o)
	r2 := s.publish(t, ch, "d2", o)
	if r1.Suppressed || r2.Suppressed || r2.Position.Offset != 2 {
		t.Fatalf("delta publishes: %+v %+v", r1, r2)
	}
	if s.b.Local() {
		if r1.PrevData != nil {
			t.Fatalf("first delta publish has base %q", r1.PrevData)
		}
		if string(r2.PrevData) != "d1" {
			t.Fatalf("second delta publish base %q, want d1", r2.PrevData)
		}
		return
	}
	got := s.h.waitPubs(t, ch, 2)
	if !got[0].useDelta || got[0].prev != nil {
		t.Fatalf("first: useDelta %v prev %q", got[0].useDelta, got[0].prev)
	}
	if !got[1].useDelta || string(got[1].prev) != "d1" || string(got[1].data) != "d2" {
		t.Fatalf("second: useDelta %v prev %q data %q", got[1].useDelta, got[1].prev, got[1].data)
	}
}

func testPresence(t *testing.T, s *suite) {
	ch := s.ch("presence")
	c := ctx(t)
	empty, err := s.p.Presence(c, ch)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("empty presence: %v %v", empty, err)
	}
	add := func(client, user, info string) {
		t.Helper()
		ci := &codec.ClientInfo{Client: client, User: user, ConnInfo: []byte(`{"i":"` + info + `"}`), ChanInfo: []byte(`{"c":1}`)}
		if err := s.p.AddPresence(c, ch, client, ci); err != nil {
			t.Fatal(err)
		}
	}
	add("c1", "u1", "a")
	add("c2", "u1", "b")
	add("c3", "u2", "c")
	add("c1", "u1", "a2") // refresh replaces
	m, err := s.p.Presence(c, ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m["c1"] == nil || m["c1"].User != "u1" || string(m["c1"].ConnInfo) != `{"i":"a2"}` || string(m["c1"].ChanInfo) != `{"c":1}` || m["c3"] == nil || m["c3"].Client != "c3" || m["c3"].User != "u2" {
		t.Fatalf("presence: %+v", m)
	}
	st, err := s.p.PresenceStats(c, ch)
	if err != nil || st != (engine.PresenceStats{NumClients: 3, NumUsers: 2}) {
		t.Fatalf("stats %+v %v, want 3 clients 2 users", st, err)
	}
	if err := s.p.RemovePresence(c, ch, "c3", "u2"); err != nil {
		t.Fatal(err)
	}
	st, err = s.p.PresenceStats(c, ch)
	if err != nil || st != (engine.PresenceStats{NumClients: 2, NumUsers: 1}) {
		t.Fatalf("stats after remove %+v %v, want 2 clients 1 user", st, err)
	}
	if err := s.p.RemovePresence(c, ch, "c2", "u1"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.p.PresenceStats(c, ch)
	if st != (engine.PresenceStats{NumClients: 1, NumUsers: 1}) {
		t.Fatalf("stats after second remove %+v", st)
	}
	if err := s.p.RemovePresence(c, ch, "nope", "u9"); err != nil {
		t.Fatalf("remove of a missing client: %v", err)
	}
	if m, _ := s.p.Presence(c, s.ch("other")); len(m) != 0 {
		t.Fatalf("another channel sees %v", m)
	}
}

func testJoinLeave(t *testing.T, s *suite) {
	ch := s.ch("jl")
	info := &codec.ClientInfo{Client: "c1", User: "u1", ConnInfo: []byte(`{"a":1}`), ChanInfo: []byte(`{"b":2}`)}
	if !s.b.Local() {
		if err := s.b.Subscribe(ctx(t), ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.b.PublishJoin(ctx(t), ch, info); err != nil {
		t.Fatal(err)
	}
	if err := s.b.PublishLeave(ctx(t), ch, info); err != nil {
		t.Fatal(err)
	}
	if s.b.Local() {
		s.h.expectNone(t, 100*time.Millisecond)
		return
	}
	evs := s.h.waitJoinLeave(t, ch, 2)
	if !evs[0].join || evs[1].join {
		t.Fatalf("order: join %v then %v", evs[0].join, evs[1].join)
	}
	for _, e := range evs {
		if e.info.Client != "c1" || e.info.User != "u1" || string(e.info.ConnInfo) != `{"a":1}` || string(e.info.ChanInfo) != `{"b":2}` {
			t.Fatalf("info %+v", e.info)
		}
	}
}

func testDelivery(t *testing.T, s *suite) {
	ch := s.ch("deliver")
	if s.b.Local() {
		s.publishN(t, ch, 3, 10)
		s.publish(t, s.ch("nohist"), "x", &engine.BrokerPublishOptions{})
		s.h.expectNone(t, 100*time.Millisecond)
		return
	}
	// Not subscribed yet: nothing arrives.
	s.publish(t, ch, "d0", &engine.BrokerPublishOptions{})
	s.h.expectNone(t, 200*time.Millisecond)
	if err := s.b.Subscribe(ctx(t), ch); err != nil {
		t.Fatal(err)
	}
	const n = 50
	var want []codec.StreamPosition
	for i := 1; i <= n; i++ {
		res := s.publish(t, ch, fmt.Sprintf("d%d", i), hist(100))
		want = append(want, res.Position)
	}
	s.publish(t, ch, "nohist", &engine.BrokerPublishOptions{})
	got := s.h.waitPubs(t, ch, n+1)
	for i := 0; i < n; i++ {
		g := got[i]
		if g.sp != want[i] || g.offset != want[i].Offset || string(g.data) != fmt.Sprintf("d%d", i+1) || g.tags["k"] != string(g.data) || g.client != "c-"+string(g.data) {
			t.Fatalf("delivery %d: %+v, want position %+v", i, g, want[i])
		}
	}
	if last := got[n]; string(last.data) != "nohist" || last.sp != (codec.StreamPosition{}) {
		t.Fatalf("publication without history delivered as %+v", last)
	}
	if err := s.b.Unsubscribe(ctx(t), ch); err != nil {
		t.Fatal(err)
	}
	// Unsubscribe may take effect asynchronously (batched): give it a moment.
	time.Sleep(300 * time.Millisecond)
	s.h.reset()
	s.publish(t, ch, "after", &engine.BrokerPublishOptions{})
	s.h.expectNone(t, 200*time.Millisecond)
}

// recorder is the suite's BrokerEventHandler: it copies what it gets (the broker's
// values are valid only during the call).
type recorder struct {
	mu     sync.Mutex
	pubs   []gotPub
	jl     []gotJL
	gaps   []string
	notify chan struct{}
}

type gotPub struct {
	ch         string
	data, prev []byte
	sp         codec.StreamPosition
	offset     uint64
	useDelta   bool
	tags       map[string]string
	client     string
}

type gotJL struct {
	ch   string
	join bool
	info codec.ClientInfo
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) poke() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) HandlePublication(ch string, pub *codec.Publication, sp codec.StreamPosition, useDelta bool, prevPub *codec.Publication) error {
	g := gotPub{ch: ch, data: bytes.Clone(pub.Data), sp: sp, offset: pub.Offset, useDelta: useDelta}
	if prevPub != nil {
		g.prev = bytes.Clone(prevPub.Data)
	}
	if len(pub.Tags) > 0 {
		g.tags = make(map[string]string, len(pub.Tags))
		for k, v := range pub.Tags {
			g.tags[k] = v
		}
	}
	if pub.Info != nil {
		g.client = pub.Info.Client
	}
	r.mu.Lock()
	r.pubs = append(r.pubs, g)
	r.mu.Unlock()
	r.poke()
	return nil
}

func (r *recorder) handleJL(ch string, info *codec.ClientInfo, join bool) error {
	g := gotJL{ch: ch, join: join, info: codec.ClientInfo{User: info.User, Client: info.Client, ConnInfo: bytes.Clone(info.ConnInfo), ChanInfo: bytes.Clone(info.ChanInfo)}}
	r.mu.Lock()
	r.jl = append(r.jl, g)
	r.mu.Unlock()
	r.poke()
	return nil
}

func (r *recorder) HandleJoin(ch string, info *codec.ClientInfo) error {
	return r.handleJL(ch, info, true)
}
func (r *recorder) HandleLeave(ch string, info *codec.ClientInfo) error {
	return r.handleJL(ch, info, false)
}

func (r *recorder) HandleStreamGap(ch string) {
	r.mu.Lock()
	r.gaps = append(r.gaps, ch)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.pubs, r.jl, r.gaps = nil, nil, nil
	r.mu.Unlock()
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pubs) + len(r.jl)
}

// waitPubs waits up to 5 s for n publications of ch and returns them.
func (r *recorder) waitPubs(t *testing.T, ch string, n int) []gotPub {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		var out []gotPub
		for _, p := range r.pubs {
			if p.ch == ch {
				out = append(out, p)
			}
		}
		r.mu.Unlock()
		if len(out) >= n {
			if len(out) > n {
				t.Fatalf("%d publications of %s delivered, want %d", len(out), ch, n)
			}
			return out
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("%d of %d publications of %s delivered in 5 s", len(out), n, ch)
		}
	}
}

func (r *recorder) waitJoinLeave(t *testing.T, ch string, n int) []gotJL {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		var out []gotJL
		for _, e := range r.jl {
			if e.ch == ch {
				out = append(out, e)
			}
		}
		r.mu.Unlock()
		if len(out) >= n {
			return out
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("%d of %d joins/leaves of %s delivered in 5 s", len(out), n, ch)
		}
	}
}

// expectNone fails when the handler gets anything within d.
func (r *recorder) expectNone(t *testing.T, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	if n := r.total(); n != 0 {
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("handler called %d times: pubs %+v joins/leaves %+v", n, r.pubs, r.jl)
	}
}
