package redis

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

var ctx = context.Background()

func newTestBroker(t *testing.T, srv *redistest.Server, o Options) *Broker {
	t.Helper()
	if len(o.Address) == 0 && len(o.ClusterAddress) == 0 && len(o.SentinelAddress) == 0 {
		o.Address = []string{srv.URL()}
	}
	b, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func testPub(data string) *codec.Publication {
	return &codec.Publication{
		Data: []byte(data),
		Info: &codec.ClientInfo{User: "u", Client: "c", ConnInfo: []byte(`{"ci":1}`)},
		Tags: map[string]string{"t": "1"},
		Time: 1700000000123,
	}
}

var epochRe = regexp.MustCompile(`^[a-zA-Z]{8}$`)

func historyOpts() *engine.BrokerPublishOptions {
	return &engine.BrokerPublishOptions{HistorySize: 2, HistoryTTL: 60 * time.Second, HistoryMetaTTL: time.Hour}
}

// ttl returns the key's TTL in seconds as Redis reports it.
func ttl(t *testing.T, srv *redistest.Server, key string) int {
	t.Helper()
	n, err := strconv.Atoi(srv.MustDo("TTL", key))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPublishWithHistoryLayout(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	sub := redistest.Subscribe(t, srv.Addr(), false, "centrifugo.client.news")

	var epoch string
	for i := 1; i <= 3; i++ {
		pub := testPub(fmt.Sprintf(`{"n":%d}`, i))
		res, err := b.Publish(ctx, "news", pub, historyOpts())
		if err != nil {
			t.Fatal(err)
		}
		if res.Position.Offset != uint64(i) || res.Suppressed || !epochRe.MatchString(res.Position.Epoch) {
			t.Fatalf("publish %d: %+v", i, res)
		}
		if epoch == "" {
			epoch = res.Position.Epoch
		} else if res.Position.Epoch != epoch {
			t.Fatalf("epoch changed %s → %s", epoch, res.Position.Epoch)
		}
		// PUB/SUB: __p1:<offset>:<epoch>__<protobuf Publication without offset>.
		ch, payload := sub.Next(2 * time.Second)
		if pub.Offset != uint64(i) {
			t.Fatalf("pub.Offset = %d after publish %d", pub.Offset, i)
		}
		want := fmt.Sprintf("__p1:%d:%s__", i, epoch) + string(codec.AppendPublicationProto(nil, testPub(fmt.Sprintf(`{"n":%d}`, i))))
		if ch != "centrifugo.client.news" || payload != want {
			t.Fatalf("pubsub %q %q\nwant %q", ch, payload, want)
		}
	}

	// Stream: MAXLEN 2, entry IDs <offset>-0, one field d = the Protobuf Publication.
	items, err := redistest.DoList(srv.Addr(), "XRANGE", "centrifugo.stream.news", "-", "+")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"2-0", "d", string(codec.AppendPublicationProto(nil, testPub(`{"n":2}`))),
		"3-0", "d", string(codec.AppendPublicationProto(nil, testPub(`{"n":3}`))),
	}
	if !reflect.DeepEqual(items, want) {
		t.Fatalf("XRANGE %q\nwant %q", items, want)
	}
	if got := srv.MustDo("HGETALL", "centrifugo.stream.meta.news"); got != "e\n"+epoch+"\ns\n3" {
		t.Fatalf("meta %q", got)
	}
	if n := ttl(t, srv, "centrifugo.stream.news"); n <= 55 || n > 60 {
		t.Fatalf("stream TTL %d, want history_ttl 60", n)
	}
	if n := ttl(t, srv, "centrifugo.stream.meta.news"); n <= 3595 || n > 3600 {
		t.Fatalf("meta TTL %d, want 3600", n)
	}

	pubs, pos, err := b.History(ctx, "news", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}, MetaTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if pos != (codec.StreamPosition{Offset: 3, Epoch: epoch}) || len(pubs) != 2 {
		t.Fatalf("history %v %d pubs", pos, len(pubs))
	}
	for i, p := range pubs {
		w := testPub(fmt.Sprintf(`{"n":%d}`, i+2))
		w.Offset = uint64(i + 2)
		if !reflect.DeepEqual(p, w) {
			t.Fatalf("pub %d: %+v, want %+v", i, p, w)
		}
	}
}

func TestHistoryQueries(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	opts := &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: time.Minute}
	var epoch string
	for i := 1; i <= 5; i++ {
		res, err := b.Publish(ctx, "q", testPub(strconv.Itoa(i)), opts)
		if err != nil {
			t.Fatal(err)
		}
		epoch = res.Position.Epoch
	}
	offsets := func(pubs []*codec.Publication) []uint64 {
		out := []uint64{}
		for _, p := range pubs {
			out = append(out, p.Offset)
			if string(p.Data) != strconv.FormatUint(p.Offset, 10) {
				t.Fatalf("offset %d holds %q", p.Offset, p.Data)
			}
		}
		return out
	}
	since := func(o uint64) *codec.StreamPosition { return &codec.StreamPosition{Offset: o, Epoch: epoch} }
	cases := []struct {
		name string
		f    engine.HistoryFilter
		want []uint64
	}{
		{"limit 0", engine.HistoryFilter{}, []uint64{}},
		{"all", engine.HistoryFilter{Limit: -1}, []uint64{1, 2, 3, 4, 5}},
		{"limit 2", engine.HistoryFilter{Limit: 2}, []uint64{1, 2}},
		{"reverse", engine.HistoryFilter{Limit: -1, Reverse: true}, []uint64{5, 4, 3, 2, 1}},
		{"reverse limit 2", engine.HistoryFilter{Limit: 2, Reverse: true}, []uint64{5, 4}},
		{"since 2", engine.HistoryFilter{Since: since(2), Limit: -1}, []uint64{3, 4, 5}},
		{"since 2 limit 1", engine.HistoryFilter{Since: since(2), Limit: 1}, []uint64{3}},
		{"since top", engine.HistoryFilter{Since: since(5), Limit: -1}, []uint64{}},
		{"since 0", engine.HistoryFilter{Since: since(0), Limit: -1}, []uint64{1, 2, 3, 4, 5}},
		{"reverse since 4", engine.HistoryFilter{Since: since(4), Limit: -1, Reverse: true}, []uint64{3, 2, 1}},
		{"reverse since 4 limit 2", engine.HistoryFilter{Since: since(4), Limit: 2, Reverse: true}, []uint64{3, 2}},
		{"reverse since 1", engine.HistoryFilter{Since: since(1), Limit: -1, Reverse: true}, []uint64{}},
	}
	for _, c := range cases {
		pubs, pos, err := b.History(ctx, "q", engine.HistoryOptions{Filter: c.f})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if pos != (codec.StreamPosition{Offset: 5, Epoch: epoch}) {
			t.Fatalf("%s: position %v", c.name, pos)
		}
		if got := offsets(pubs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: offsets %v, want %v", c.name, got, c.want)
		}
	}
	other := &codec.StreamPosition{Offset: 2, Epoch: "otherEpc"}
	pubs, pos, err := b.History(ctx, "q", engine.HistoryOptions{Filter: engine.HistoryFilter{Since: other, Limit: -1}})
	if err != engine.ErrorUnrecoverablePosition || len(pubs) != 0 || pos != (codec.StreamPosition{Offset: 5, Epoch: epoch}) {
		t.Fatalf("since another epoch: %v %v %v", pubs, pos, err)
	}
	// An empty epoch in Since is not compared.
	if pubs, _, err := b.History(ctx, "q", engine.HistoryOptions{Filter: engine.HistoryFilter{Since: &codec.StreamPosition{Offset: 4}, Limit: -1}}); err != nil || len(pubs) != 1 {
		t.Fatalf("since without epoch: %v %v", pubs, err)
	}
	// The read refreshed the metadata TTL (0 = 30 days).
	if n := ttl(t, srv, "centrifugo.stream.meta.q"); n < 720*3600-5 {
		t.Fatalf("meta TTL after read %d", n)
	}
}

func TestHistoryCreatesEpoch(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{Prefix: "pfx"})
	pubs, pos, err := b.History(ctx, "quiet", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}, MetaTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 0 || pos.Offset != 0 || !epochRe.MatchString(pos.Epoch) {
		t.Fatalf("fresh channel: %v %d pubs", pos, len(pubs))
	}
	if got := srv.MustDo("HGETALL", "pfx.stream.meta.quiet"); got != "e\n"+pos.Epoch {
		t.Fatalf("meta %q", got)
	}
	if n := ttl(t, srv, "pfx.stream.meta.quiet"); n <= 5 || n > 10 {
		t.Fatalf("meta TTL %d", n)
	}
	_, pos2, err := b.History(ctx, "quiet", engine.HistoryOptions{Filter: engine.HistoryFilter{}, MetaTTL: 0})
	if err != nil || pos2 != pos {
		t.Fatalf("second read %v %v, want %v", pos2, err, pos)
	}
	res, err := b.Publish(ctx, "quiet", testPub("x"), historyOpts())
	if err != nil || res.Position.Offset != 1 || res.Position.Epoch != pos.Epoch {
		t.Fatalf("first publish %+v %v", res, err)
	}
}

func TestIdempotentPublish(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	sub := redistest.Subscribe(t, srv.Addr(), false, "centrifugo.client.idem")
	opts := historyOpts()
	opts.IdempotencyKey = "k1"
	first, err := b.Publish(ctx, "idem", testPub("a"), opts)
	if err != nil || first.Suppressed || first.Position.Offset != 1 {
		t.Fatalf("first %+v %v", first, err)
	}
	sub.Next(2 * time.Second)
	if _, err := b.Publish(ctx, "idem", testPub("b"), historyOpts()); err != nil {
		t.Fatal(err)
	}
	sub.Next(2 * time.Second)
	again, err := b.Publish(ctx, "idem", testPub("a"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Suppressed || again.Position.Offset != 1 || again.Position.Epoch != first.Position.Epoch {
		t.Fatalf("repeat %+v, want suppressed at 1/%s", again, first.Position.Epoch)
	}
	sub.None(200 * time.Millisecond)
	if got := srv.MustDo("HGETALL", "centrifugo.result.idem.k1"); got != "e\n"+first.Position.Epoch+"\ns\n1" {
		t.Fatalf("result hash %q", got)
	}
	if n := ttl(t, srv, "centrifugo.result.idem.k1"); n <= 295 || n > 300 {
		t.Fatalf("result TTL %d, want 300", n)
	}
	if got := srv.MustDo("XLEN", "centrifugo.stream.idem"); got != "2" {
		t.Fatalf("XLEN %s", got)
	}

	// Without history: a small script remembers e="" around the PUBLISH.
	noHist := &engine.BrokerPublishOptions{IdempotencyKey: "k2", IdempotentResultTTL: 30 * time.Second}
	r, err := b.Publish(ctx, "idem", testPub("c"), noHist)
	if err != nil || r.Suppressed || r.Position.Offset != 0 {
		t.Fatalf("no-history idempotent %+v %v", r, err)
	}
	_, payload := sub.Next(2 * time.Second)
	if payload != string(codec.AppendPublicationProto(nil, testPub("c"))) {
		t.Fatalf("payload %q", payload)
	}
	r, err = b.Publish(ctx, "idem", testPub("c"), noHist)
	if err != nil || !r.Suppressed {
		t.Fatalf("no-history repeat %+v %v", r, err)
	}
	sub.None(200 * time.Millisecond)
	if got := srv.MustDo("HGETALL", "centrifugo.result.idem.k2"); got != "e\n" {
		t.Fatalf("no-history result hash %q", got)
	}
	if n := ttl(t, srv, "centrifugo.result.idem.k2"); n <= 25 || n > 30 {
		t.Fatalf("no-history result TTL %d", n)
	}
}

func TestVersionedPublish(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	sub := redistest.Subscribe(t, srv.Addr(), false, "centrifugo.client.v")
	pub := func(v uint64, ve string) engine.BrokerPublishResult {
		t.Helper()
		o := historyOpts()
		o.Version, o.VersionEpoch = v, ve
		r, err := b.Publish(ctx, "v", testPub("x"), o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := pub(2, ""); r.Suppressed || r.Position.Offset != 1 {
		t.Fatalf("v2 %+v", r)
	}
	sub.Next(time.Second)
	for _, v := range []uint64{1, 2} {
		if r := pub(v, ""); !r.Suppressed || r.Position.Offset != 1 {
			t.Fatalf("v%d not suppressed: %+v", v, r)
		}
	}
	sub.None(100 * time.Millisecond)
	if r := pub(3, "A"); r.Suppressed || r.Position.Offset != 2 {
		t.Fatalf("v3/A %+v", r)
	}
	sub.Next(time.Second)
	if r := pub(3, "A"); !r.Suppressed || r.Position.Offset != 2 {
		t.Fatalf("v3/A again %+v", r)
	}
	// Another version epoch starts over.
	if r := pub(1, "B"); r.Suppressed || r.Position.Offset != 3 {
		t.Fatalf("v1/B %+v", r)
	}
	if got := srv.MustDo("HMGET", "centrifugo.stream.meta.v", "s", "v", "ve"); got != "3\n1\nB" {
		t.Fatalf("meta %q", got)
	}
}

func TestDeltaEnvelope(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	sub := redistest.Subscribe(t, srv.Addr(), false, "centrifugo.client.d")
	o := historyOpts()
	o.UseDelta = true
	p1, p2 := testPub(`{"a":1}`), testPub(`{"a":2}`)
	m1 := string(codec.AppendPublicationProto(nil, p1))
	m2 := string(codec.AppendPublicationProto(nil, p2))
	r1, err := b.Publish(ctx, "d", p1, o)
	if err != nil {
		t.Fatal(err)
	}
	_, got := sub.Next(time.Second)
	if want := fmt.Sprintf("__d1:1:%s:0::%d:%s", r1.Position.Epoch, len(m1), m1); got != want {
		t.Fatalf("first delta\n got %q\nwant %q", got, want)
	}
	if _, err := b.Publish(ctx, "d", p2, o); err != nil {
		t.Fatal(err)
	}
	_, got = sub.Next(time.Second)
	if want := fmt.Sprintf("__d1:2:%s:%d:%s:%d:%s", r1.Position.Epoch, len(m1), m1, len(m2), m2); got != want {
		t.Fatalf("second delta\n got %q\nwant %q", got, want)
	}
	// The stream keeps plain publications (no delta flag inside).
	var dec codec.Publication
	items, _ := redistest.DoList(srv.Addr(), "XRANGE", "centrifugo.stream.d", "2", "2")
	if err := codec.DecodePublicationProto([]byte(items[2]), &dec); err != nil || dec.Delta {
		t.Fatalf("stream entry %+v %v", dec, err)
	}

	// Without history the delta flag travels inside the Publication.
	if _, err := b.Publish(ctx, "d", testPub(`{"a":1}`), &engine.BrokerPublishOptions{UseDelta: true}); err != nil {
		t.Fatal(err)
	}
	_, got = sub.Next(time.Second)
	dec = codec.Publication{}
	if err := codec.DecodePublicationProto([]byte(got), &dec); err != nil || !dec.Delta || string(dec.Data) != `{"a":1}` {
		t.Fatalf("no-history delta %+v %v", dec, err)
	}
}

func TestRemoveHistoryAndNewEpoch(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	var first engine.BrokerPublishResult
	for i := 0; i < 3; i++ {
		r, err := b.Publish(ctx, "r", testPub("x"), historyOpts())
		if err != nil {
			t.Fatal(err)
		}
		first = r
	}
	if err := b.RemoveHistory(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if got := srv.MustDo("EXISTS", "centrifugo.stream.r"); got != "0" {
		t.Fatal("stream still exists")
	}
	pubs, pos, err := b.History(ctx, "r", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}, MetaTTL: 0})
	if err != nil || len(pubs) != 0 || pos != (codec.StreamPosition{Offset: 3, Epoch: first.Position.Epoch}) {
		t.Fatalf("after remove %v %d %v", pos, len(pubs), err)
	}
	r, err := b.Publish(ctx, "r", testPub("y"), historyOpts())
	if err != nil || r.Position.Offset != 4 || r.Position.Epoch != first.Position.Epoch {
		t.Fatalf("after remove publish %+v %v", r, err)
	}
	// Metadata gone (expired or evicted): a new epoch from offset 1, and the stale
	// stream entries are dropped.
	srv.MustDo("DEL", "centrifugo.stream.meta.r")
	r, err = b.Publish(ctx, "r", testPub("z"), historyOpts())
	if err != nil || r.Position.Offset != 1 || r.Position.Epoch == first.Position.Epoch {
		t.Fatalf("new epoch publish %+v %v", r, err)
	}
	pubs, _, err = b.History(ctx, "r", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}, MetaTTL: 0})
	if err != nil || len(pubs) != 1 || string(pubs[0].Data) != "z" || pubs[0].Offset != 1 {
		t.Fatalf("history after new epoch %v %v", pubs, err)
	}
}

func TestPublishWithoutHistory(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	sub := redistest.Subscribe(t, srv.Addr(), false, "centrifugo.client.nh")
	pub := testPub("plain")
	pub.Offset, pub.Epoch, pub.Channel = 9, "zz", "nh" // never sent
	r, err := b.Publish(ctx, "nh", pub, &engine.BrokerPublishOptions{HistorySize: 10})
	if err != nil || !reflect.DeepEqual(r, engine.BrokerPublishResult{}) {
		t.Fatalf("%+v %v", r, err)
	}
	_, got := sub.Next(time.Second)
	if got != string(codec.AppendPublicationProto(nil, testPub("plain"))) {
		t.Fatalf("payload %q", got)
	}
	if n := srv.MustDo("DBSIZE"); n != "0" {
		t.Fatalf("publish without history wrote %s keys", n)
	}
}

func TestPublishSetsTime(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	pub := testPub("t")
	pub.Time = 0
	before := time.Now().UnixMilli()
	if _, err := b.Publish(ctx, "t", pub, historyOpts()); err != nil {
		t.Fatal(err)
	}
	pubs, _, err := b.History(ctx, "t", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: 1}, MetaTTL: 0})
	if err != nil || len(pubs) != 1 || pubs[0].Time < before || pubs[0].Time > time.Now().UnixMilli() {
		t.Fatalf("time %v %v", pubs, err)
	}
}

func TestHistoryUseLists(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{HistoryUseLists: true})
	sub := redistest.Subscribe(t, srv.Addr(), false, "centrifugo.client.l")
	var epoch string
	for i := 1; i <= 4; i++ {
		o := &engine.BrokerPublishOptions{HistorySize: 3, HistoryTTL: time.Minute}
		if i == 2 {
			o.IdempotencyKey = "ik"
		}
		r, err := b.Publish(ctx, "l", testPub(strconv.Itoa(i)), o)
		if err != nil || r.Position.Offset != uint64(i) {
			t.Fatalf("publish %d: %+v %v", i, r, err)
		}
		epoch = r.Position.Epoch
		_, got := sub.Next(time.Second)
		if want := fmt.Sprintf("__p1:%d:%s__%s", i, epoch, codec.AppendPublicationProto(nil, testPub(strconv.Itoa(i)))); got != want {
			t.Fatalf("pubsub %q want %q", got, want)
		}
	}
	items, err := redistest.DoList(srv.Addr(), "LRANGE", "centrifugo.list.l", "0", "-1")
	if err != nil || len(items) != 3 || !strings.HasPrefix(items[0], "__p1:4:"+epoch+"__") || !strings.HasPrefix(items[2], "__p1:2:") {
		t.Fatalf("list %q %v", items, err)
	}
	if got := srv.MustDo("HGETALL", "centrifugo.list.meta.l"); got != "e\n"+epoch+"\ns\n4" {
		t.Fatalf("list meta %q", got)
	}
	r, err := b.Publish(ctx, "l", testPub("2"), &engine.BrokerPublishOptions{HistorySize: 3, HistoryTTL: time.Minute, IdempotencyKey: "ik"})
	if err != nil || !r.Suppressed || r.Position.Offset != 2 {
		t.Fatalf("list idempotent repeat %+v %v", r, err)
	}
	pubs, pos, err := b.History(ctx, "l", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}, MetaTTL: 0})
	if err != nil || pos.Offset != 4 || len(pubs) != 3 || pubs[0].Offset != 2 || pubs[2].Offset != 4 || string(pubs[2].Data) != "4" {
		t.Fatalf("list history %v %v %v", pos, pubs, err)
	}
	pubs, _, err = b.History(ctx, "l", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: 1, Since: &codec.StreamPosition{Offset: 2, Epoch: epoch}}, MetaTTL: 0})
	if err != nil || len(pubs) != 1 || pubs[0].Offset != 3 {
		t.Fatalf("list since %v %v", pubs, err)
	}
	if err := b.RemoveHistory(ctx, "l"); err != nil || srv.MustDo("EXISTS", "centrifugo.list.l") != "0" {
		t.Fatalf("list remove %v", err)
	}
	if !bytes.Equal([]byte(srv.MustDo("EXISTS", "centrifugo.list.meta.l")), []byte("1")) {
		t.Fatal("list meta removed")
	}
}
