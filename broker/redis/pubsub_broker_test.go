package redis

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// twoNodes builds two Brokers (two nodes) with options o and registers a
// recording handler on each.
func twoNodes(t *testing.T, o Options) (a, b *Broker, ha, hb *chanHandler) {
	t.Helper()
	ha, hb = newChanHandler(), newChanHandler()
	a = newTestBroker(t, nil, o)
	b = newTestBroker(t, nil, o)
	a.ps.workers, b.ps.workers = 2, 2
	a.SetLogger(testLogger(t))
	b.SetLogger(testLogger(t))
	if err := a.RegisterBrokerEventHandler(ha); err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterBrokerEventHandler(hb); err != nil {
		t.Fatal(err)
	}
	return a, b, ha, hb
}

// exercise checks that what node a publishes on channels reaches node b (and
// a itself), with positions, deltas, joins and leaves, and stops after
// Unsubscribe.
func exercise(t *testing.T, a, b *Broker, ha, hb *chanHandler, channels []string) {
	t.Helper()
	ctx := context.Background()
	for _, ch := range channels {
		if err := b.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Subscribe(ctx, channels[0]); err != nil {
		t.Fatal(err)
	}
	hist := &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: time.Minute, HistoryMetaTTL: time.Hour}
	for _, ch := range channels {
		res, err := a.Publish(ctx, ch, &codec.Publication{Data: []byte("h1")}, hist)
		if err != nil {
			t.Fatal(err)
		}
		p := hb.expectPub(t, ch, "h1")
		if p.sp != res.Position || p.sp.Offset != 1 || p.sp.Epoch == "" || p.delta {
			t.Fatalf("%s: %+v, publish result %+v", ch, p, res.Position)
		}
	}
	// The publishing node gets its own publication back (Local() is false).
	ha.expectPub(t, channels[0], "h1")

	ch := channels[0]
	delta := &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: time.Minute, HistoryMetaTTL: time.Hour, UseDelta: true}
	if _, err := a.Publish(ctx, ch, &codec.Publication{Data: []byte("h2")}, delta); err != nil {
		t.Fatal(err)
	}
	if p := hb.expectPub(t, ch, "h2"); !p.delta || p.prev != "h1" || p.sp.Offset != 2 {
		t.Fatalf("delta: %+v", p)
	}
	ha.expectPub(t, ch, "h2")
	if _, err := a.Publish(ctx, ch, &codec.Publication{Data: []byte("nohist")}, &engine.BrokerPublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := hb.expectPub(t, ch, "nohist"); p.sp != (codec.StreamPosition{}) {
		t.Fatalf("no history: %+v", p)
	}
	ha.expectPub(t, ch, "nohist")
	if err := a.PublishJoin(ctx, ch, &codec.ClientInfo{User: "u", Client: "c9"}); err != nil {
		t.Fatal(err)
	}
	if err := a.PublishLeave(ctx, ch, &codec.ClientInfo{User: "u", Client: "c9"}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*chanHandler{ha, hb} {
		select {
		case j := <-h.joins:
			if j != ch+"/c9" {
				t.Fatal(j)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no join")
		}
		select {
		case l := <-h.leaves:
			if l != ch+"/c9" {
				t.Fatal(l)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no leave")
		}
	}
	for _, ch := range channels {
		if err := b.Unsubscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Publish(ctx, channels[len(channels)-1], &codec.Publication{Data: []byte("late")}, hist); err != nil {
		t.Fatal(err)
	}
	hb.expectNone(t, 100*time.Millisecond)
}

func manyChannels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "ns:chan" + strconv.Itoa(i)
	}
	return out
}

func TestBrokerPubSubStandalone(t *testing.T) {
	srv := redistest.Start(t)
	a, b, ha, hb := twoNodes(t, Options{Address: []string{srv.URL()}})
	exercise(t, a, b, ha, hb, manyChannels(5))
}

// Client-side sharding over two Redis servers: a channel's messages travel
// through its shard's connection.
func TestBrokerPubSubClientSharding(t *testing.T) {
	s1, s2 := redistest.Start(t), redistest.Start(t)
	a, b, ha, hb := twoNodes(t, Options{Address: []string{s1.URL(), s2.URL()}})
	chans := manyChannels(16)
	exercise(t, a, b, ha, hb, chans)
	used := map[int]bool{}
	for _, ch := range chans {
		used[shardIndex(ch, 2)] = true
	}
	if len(used) != 2 {
		t.Fatal("channels all on one shard")
	}
}

// Redis Cluster, plain Pub/Sub (P.client.{CH}) and sharded Pub/Sub
// (SSUBSCRIBE P.client.{<partition>}.CH, one connection per partition).
func TestBrokerPubSubCluster(t *testing.T) {
	cl := redistest.SharedCluster(t)
	addrs := strings.Join(cl.Addrs(), ",")
	t.Run("plain", func(t *testing.T) {
		a, b, ha, hb := twoNodes(t, Options{ClusterAddress: []string{addrs}})
		exercise(t, a, b, ha, hb, manyChannels(8))
	})
	t.Run("sharded", func(t *testing.T) {
		a, b, ha, hb := twoNodes(t, Options{ClusterAddress: []string{addrs}, ShardedPubSubPartitions: 4})
		if n := len(b.ps.ps.slots[0]); n != 4 {
			t.Fatalf("%d slots", n)
		}
		if id := b.ps.ps.channelID("x"); id != "centrifugo.client.{"+strconv.Itoa(shardIndex("x", 4))+"}.x" {
			t.Fatal(id)
		}
		exercise(t, a, b, ha, hb, manyChannels(8))
	})
}

// Sentinel: the master dies and the replica is promoted. Both nodes' Pub/Sub
// connections move to the new master, resubscribe, report the gap, and
// publications through the new master arrive.
func TestBrokerPubSubSentinelFailover(t *testing.T) {
	s := redistest.StartSentinelReplicas(t, "psfo", 1)
	a, b, _, hb := twoNodes(t, Options{SentinelAddress: []string{s.Sentinel.Addr()}, SentinelMasterName: "psfo", IOTimeout: time.Second})
	ctx := context.Background()
	if err := b.Subscribe(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Publish(ctx, "f", &codec.Publication{Data: []byte("before")}, &engine.BrokerPublishOptions{}); err != nil {
		t.Fatal(err)
	}
	hb.expectPub(t, "f", "before")
	s.Master.Kill()
	s.Failover(t)
	select {
	case ch := <-hb.gaps:
		if ch != "f" {
			t.Fatal(ch)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no gap reported after failover")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := a.Publish(ctx, "f", &codec.Publication{Data: []byte("after")}, &engine.BrokerPublishOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hb.expectPub(t, "f", "after")
}
