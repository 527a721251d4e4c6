package redis

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

func TestNewFailsWhenUnreachable(t *testing.T) {
	port := redistest.FreePort(t)
	start := time.Now()
	b, err := New(Options{Address: []string{"redis://127.0.0.1:" + strconv.Itoa(port)}, ConnectTimeout: 500 * time.Millisecond})
	if err == nil {
		b.Close()
		t.Fatal("New succeeded without Redis")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("error does not name the address: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("New took %s", d)
	}
	if _, err := New(Options{Address: []string{"nohost"}}); err == nil || !strings.HasPrefix(err.Error(), "engine.redis.address[0]") {
		t.Fatalf("bad address error: %v", err)
	}
}

func TestAuthAndDB(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	if _, err := New(Options{Address: []string{srv.URL()}}); err == nil {
		t.Fatal("New succeeded without the password")
	}
	// Password and database from the URL.
	b := newTestBroker(t, srv, Options{Address: []string{"redis://:s3cret@" + srv.Addr() + "/3"}})
	if _, err := b.Publish(ctx, "a", testPub("x"), historyOpts()); err != nil {
		t.Fatal(err)
	}
	// Password and db from the options.
	b2 := newTestBroker(t, srv, Options{Address: []string{srv.Addr()}, Password: "s3cret", DB: 5})
	if _, err := b2.Publish(ctx, "b", testPub("x"), historyOpts()); err != nil {
		t.Fatal(err)
	}
	for db, key := range map[string]string{"3": "centrifugo.stream.a", "5": "centrifugo.stream.b"} {
		out, err := redistest.DoSeq(srv.Addr(), []string{"AUTH", "s3cret"}, []string{"SELECT", db}, []string{"EXISTS", key})
		if err != nil || out != "1" {
			t.Fatalf("db %s: EXISTS %s = %q %v", db, key, out, err)
		}
	}
}

func TestClientSideSharding(t *testing.T) {
	s1, s2 := redistest.Start(t), redistest.Start(t)
	b := newTestBroker(t, nil, Options{Address: []string{s1.URL(), s2.URL()}})
	if m := b.Modes(); m != "sharded(2):standalone-x2" {
		t.Fatalf("modes %q", m)
	}
	srvs := []*redistest.Server{s1, s2}
	seen := map[int]bool{}
	for i := 0; i < 20; i++ {
		ch := "chan" + strconv.Itoa(i)
		if _, err := b.Publish(ctx, ch, testPub("x"), historyOpts()); err != nil {
			t.Fatal(err)
		}
		idx := shardIndex(ch, 2)
		seen[idx] = true
		if got := srvs[idx].MustDo("EXISTS", "centrifugo.stream."+ch); got != "1" {
			t.Fatalf("%s not on shard %d", ch, idx)
		}
		if got := srvs[1-idx].MustDo("EXISTS", "centrifugo.stream."+ch); got != "0" {
			t.Fatalf("%s also on shard %d", ch, 1-idx)
		}
		pubs, pos, err := b.History(ctx, ch, engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}, MetaTTL: 0})
		if err != nil || len(pubs) != 1 || pos.Offset != 1 {
			t.Fatalf("history of %s: %v %v", ch, pos, err)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("20 channels all on one shard: %v", seen)
	}
}

func TestCluster(t *testing.T) {
	c := redistest.SharedCluster(t)
	for _, o := range []Options{
		{ClusterAddress: []string{strings.Join(c.Addrs(), ",")}},
		{Address: []string{"redis+cluster://" + c.Addrs()[1]}},
		{Address: []string{c.Nodes[2].URL()}}, // detected
	} {
		b := newTestBroker(t, nil, o)
		if b.Modes() != "cluster" {
			t.Fatalf("%+v: mode %q", o, b.Modes())
		}
	}
	b := newTestBroker(t, nil, Options{ClusterAddress: []string{strings.Join(c.Addrs(), ",")}})
	chans := []string{"news", "chat:1", "chat:2", "x", "personal:#7"}
	for _, ch := range chans {
		for i := 0; i < 3; i++ {
			o := historyOpts()
			o.IdempotencyKey = "k" + strconv.Itoa(i)
			r, err := b.Publish(ctx, ch, testPub(strconv.Itoa(i)), o)
			if err != nil || r.Position.Offset != uint64(i+1) {
				t.Fatalf("%s publish %d: %+v %v", ch, i, r, err)
			}
		}
		pubs, pos, err := b.History(ctx, ch, engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1, Reverse: true}, MetaTTL: 0})
		if err != nil || pos.Offset != 3 || len(pubs) != 2 || pubs[0].Offset != 3 {
			t.Fatalf("%s history %v %d %v", ch, pos, len(pubs), err)
		}
		// Keys carry the {CH} hash tag: exactly one node holds the stream.
		holders := 0
		for _, n := range c.Nodes {
			if out, err := n.Do("EXISTS", "centrifugo.stream.{"+ch+"}"); err == nil && out == "1" {
				holders++
				if got, _ := n.Do("EXISTS", "centrifugo.stream.meta.{"+ch+"}"); got != "1" {
					t.Fatalf("%s meta not beside the stream", ch)
				}
			}
		}
		if holders != 1 {
			t.Fatalf("%s stream on %d nodes", ch, holders)
		}
		if err := b.RemoveHistory(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Publish(ctx, "}bad", testPub("x"), historyOpts()); err != errClusterChannel {
		t.Fatalf("'}bad' in cluster: %v", err)
	}
	t.Run("ShardedPubSub", func(t *testing.T) { testClusterShardedPubSub(t, c) })
	t.Run("Control", func(t *testing.T) { testClusterControl(t, c) })
}

func testClusterShardedPubSub(t *testing.T, c *redistest.Cluster) {
	b := newTestBroker(t, nil, Options{ClusterAddress: []string{c.Addrs()[0]}, ShardedPubSubPartitions: 4})
	ch := "news"
	idx := strconv.Itoa(shardIndex(ch, 4))
	// The node owning the partition's slot answers GET; the others say MOVED.
	var owner *redistest.Server
	for _, n := range c.Nodes {
		if _, err := n.Do("GET", "centrifugo.client.{"+idx+"}."+ch); err == nil {
			owner = n
		}
	}
	if owner == nil {
		t.Fatal("no node owns the partition slot")
	}
	sub := redistest.Subscribe(t, owner.Addr(), true, "centrifugo.client.{"+idx+"}."+ch)
	r, err := b.Publish(ctx, ch, testPub("s"), historyOpts())
	if err != nil || r.Position.Offset != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	_, payload := sub.Next(2 * time.Second)
	if !strings.HasPrefix(payload, "__p1:1:"+r.Position.Epoch+"__") {
		t.Fatalf("payload %q", payload)
	}
	if got := owner.MustDo("EXISTS", "centrifugo.stream.{"+idx+"}."+ch); got != "1" {
		t.Fatal("stream key not partition-tagged")
	}
	r, err = b.Publish(ctx, ch, testPub("t"), &engine.BrokerPublishOptions{IdempotencyKey: "i"})
	if err != nil || r.Suppressed {
		t.Fatalf("sharded idempotent %+v %v", r, err)
	}
	_, payload = sub.Next(2 * time.Second)
	if payload != string(codec.AppendPublicationProto(nil, testPub("t"))) {
		t.Fatalf("payload %q", payload)
	}
}

func TestSentinel(t *testing.T) {
	s := redistest.StartSentinel(t, "mymaster")
	for _, o := range []Options{
		{SentinelAddress: []string{s.Sentinel.Addr()}, SentinelMasterName: "mymaster"},
		{Address: []string{"redis+sentinel://" + s.Sentinel.Addr() + "?sentinel_master_name=mymaster"}},
	} {
		b := newTestBroker(t, nil, o)
		if b.Modes() != "sentinel" {
			t.Fatalf("mode %q", b.Modes())
		}
		r, err := b.Publish(ctx, "sn", testPub("x"), historyOpts())
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Master.MustDo("HGET", "centrifugo.stream.meta.sn", "s"); got != strconv.FormatUint(r.Position.Offset, 10) {
			t.Fatalf("master meta s=%q, offset %d", got, r.Position.Offset)
		}
	}
	if _, err := New(Options{SentinelAddress: []string{s.Sentinel.Addr()}, SentinelMasterName: "other"}); err == nil {
		t.Fatal("unknown master name accepted")
	}
}

// Redis down: calls fail quickly; back (empty, same port): calls work again with a
// new epoch.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{IOTimeout: time.Second})
	r1, err := b.Publish(ctx, "f", testPub("x"), historyOpts())
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	start := time.Now()
	if _, err := b.Publish(ctx, "f", testPub("x"), historyOpts()); err == nil {
		t.Fatal("publish succeeded with Redis down")
	}
	if _, _, err := b.History(ctx, "f", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}, MetaTTL: 0}); err == nil {
		t.Fatal("history succeeded with Redis down")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("failing calls took %s", d)
	}
	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r2, err := b.Publish(ctx, "f", testPub("y"), historyOpts())
		if err == nil {
			if r2.Position.Offset != 1 || r2.Position.Epoch == r1.Position.Epoch {
				t.Fatalf("after restart %+v (before %+v)", r2, r1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish still failing after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTLS(t *testing.T) {
	srv := redistest.StartTLS(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, srv.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	good := []Options{
		{Address: []string{srv.Addr()}, TLS: TLSOptions{Enabled: true, ServerCAPEM: string(srv.CAPEM)}},
		{Address: []string{"rediss://" + srv.Addr()}, TLS: TLSOptions{Enabled: true, ServerCAPEM: base64.StdEncoding.EncodeToString(srv.CAPEM)}},
		{Address: []string{"redis://" + srv.Addr()}, TLS: TLSOptions{Enabled: true, ServerCAPEM: caFile}},
		{Address: []string{"rediss://" + srv.Addr()}, TLS: TLSOptions{Enabled: true, InsecureSkipVerify: true}},
	}
	for i, o := range good {
		b, err := New(o)
		if err != nil {
			t.Fatalf("options %d: %v", i, err)
		}
		r, err := b.Publish(ctx, "tls"+strconv.Itoa(i), testPub("x"), historyOpts())
		b.Close()
		if err != nil || r.Position.Offset != 1 {
			t.Fatalf("options %d: publish %+v %v", i, r, err)
		}
		if got := srv.MustDo("EXISTS", "centrifugo.stream.tls"+strconv.Itoa(i)); got != "1" {
			t.Fatalf("options %d: stream not written", i)
		}
	}
	bad := []Options{
		{Address: []string{"rediss://" + srv.Addr()}},                // unknown CA
		{Address: []string{srv.Addr()}, ConnectTimeout: time.Second}, // plain text
	}
	for i, o := range bad {
		if b, err := New(o); err == nil {
			b.Close()
			t.Fatalf("bad options %d connected", i)
		}
	}
}

func TestPresenceHashFieldTTLNeedsRedis74(t *testing.T) {
	srv := redistest.Start(t)
	major, minor, ok := redisVersion(srv.MustDo("INFO", "server"))
	if !ok {
		t.Fatal("no redis_version in INFO")
	}
	b, err := New(Options{Address: []string{srv.URL()}, PresenceHashFieldTTL: true})
	if major > 7 || major == 7 && minor >= 4 {
		if err != nil {
			t.Fatalf("Redis %d.%d refused: %v", major, minor, err)
		}
		b.Close()
		return
	}
	if err == nil || !strings.HasPrefix(err.Error(), "engine.redis.presence_hash_field_ttl") {
		t.Fatalf("Redis %d.%d: %v", major, minor, err)
	}
	if major, minor, ok := redisVersion("# Server\r\nredis_version:7.4.1\r\nredis_mode:standalone\r\n"); !ok || major != 7 || minor != 4 {
		t.Fatalf("parsed %d.%d %v", major, minor, ok)
	}
}

// The master dies, Sentinel promotes the replica: the client follows the new
// master and publishing goes on in the same stream (the replica had it).
func TestSentinelFailover(t *testing.T) {
	s := redistest.StartSentinelReplicas(t, "fo", 1)
	b := newTestBroker(t, nil, Options{SentinelAddress: []string{s.Sentinel.Addr()}, SentinelMasterName: "fo", IOTimeout: time.Second})
	r1, err := b.Publish(ctx, "f", testPub("1"), historyOpts())
	if err != nil {
		t.Fatal(err)
	}
	// Let the replica catch up before promoting it.
	deadline := time.Now().Add(5 * time.Second)
	for s.Replicas[0].MustDo("HGET", "centrifugo.stream.meta.f", "s") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("replica did not get the stream")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Master.Kill()
	nm := s.Failover(t)
	deadline = time.Now().Add(10 * time.Second)
	for {
		r2, err := b.Publish(ctx, "f", testPub("2"), historyOpts())
		if err == nil {
			if r2.Position != (codec.StreamPosition{Offset: 2, Epoch: r1.Position.Epoch}) {
				t.Fatalf("after failover %+v, before %+v", r2.Position, r1.Position)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish after failover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := nm.MustDo("HGET", "centrifugo.stream.meta.f", "s"); got != "2" {
		t.Fatalf("new master meta s=%q", got)
	}
}

// A Redis that stops answering (SIGSTOP) with connections still open: calls fail
// within about the I/O timeout instead of hanging, and work again once it answers.
func TestRedisHangs(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{IOTimeout: time.Second})
	if _, err := b.Publish(ctx, "h", testPub("x"), historyOpts()); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	start := time.Now()
	if _, err := b.Publish(ctx, "h", testPub("y"), historyOpts()); err == nil {
		t.Fatal("publish succeeded on a hung Redis")
	}
	if _, _, err := b.History(ctx, "h", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}}); err == nil {
		t.Fatal("history succeeded on a hung Redis")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("calls on a hung Redis took %s (io_timeout 1s)", d)
	}
	srv.Resume()
	resumed = true
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, pos, err := b.History(ctx, "h", engine.HistoryOptions{})
		if err == nil {
			if pos.Offset < 1 {
				t.Fatalf("position after resume %+v", pos)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history after resume: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
