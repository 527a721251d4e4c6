package redis

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// The expected indexes were computed with centrifuge v0.40.1's consistentIndex
// (redis_shard.go), the function Centrifugo shards channels with, for bucket
// counts 1, 2, 3, 4, 5, 8, 16, 128 and 1024.
func TestShardIndexMatchesCentrifugo(t *testing.T) {
	buckets := [...]int{1, 2, 3, 4, 5, 8, 16, 128, 1024}
	cases := []struct {
		ch   string
		want [len(buckets)]int
	}{
		{"", [...]int{0, 1, 1, 1, 1, 1, 13, 90, 266}},
		{"a", [...]int{0, 1, 2, 2, 2, 2, 12, 31, 163}},
		{"news", [...]int{0, 1, 2, 3, 3, 3, 3, 81, 81}},
		{"chat:index", [...]int{0, 0, 0, 0, 0, 0, 0, 78, 817}},
		{"personal:#42", [...]int{0, 1, 1, 3, 3, 3, 3, 112, 544}},
		{"$private", [...]int{0, 0, 2, 2, 2, 2, 2, 29, 286}},
		{"ns:channel_with_a_rather_long_name_0123456789", [...]int{0, 0, 0, 0, 0, 5, 15, 81, 164}},
		{"юникод", [...]int{0, 0, 0, 0, 0, 0, 0, 125, 554}},
		{"}weird", [...]int{0, 1, 1, 3, 3, 3, 8, 8, 722}},
		{"{tag}", [...]int{0, 0, 0, 0, 0, 0, 0, 24, 790}},
	}
	for _, c := range cases {
		for i, n := range buckets {
			if n == 1 {
				// shardIndex short-cuts one bucket; Centrifugo's loop gives 0 too.
				continue
			}
			if got := shardIndex(c.ch, n); got != c.want[i] {
				t.Errorf("shardIndex(%q, %d) = %d, want %d", c.ch, n, got, c.want[i])
			}
		}
	}
}

func TestKeyNames(t *testing.T) {
	b := &Broker{opts: Options{Prefix: "centrifugo"}, messagePrefix: "centrifugo.client."}
	plain := &shard{}
	cl := &shard{cluster: true}
	part := &shard{cluster: true, partitions: 8}
	idx := shardIndex("news", 8)
	cases := []struct{ got, want string }{
		{b.streamKey(plain, "news"), "centrifugo.stream.news"},
		{b.metaKey(plain, "news"), "centrifugo.stream.meta.news"},
		{b.resultKey(plain, "news", "k1"), "centrifugo.result.news.k1"},
		{b.clientChannel(plain, "news"), "centrifugo.client.news"},
		{b.listKey(plain, "news"), "centrifugo.list.news"},
		{b.streamKey(cl, "news"), "centrifugo.stream.{news}"},
		{b.metaKey(cl, "news"), "centrifugo.stream.meta.{news}"},
		{b.resultKey(cl, "news", "k1"), "centrifugo.result.{news}.k1"},
		{b.clientChannel(cl, "news"), "centrifugo.client.{news}"},
		{b.channelKey(cl, ".presence.data.", "news", false), "centrifugo.presence.data.{news}"},
		{b.streamKey(part, "news"), "centrifugo.stream.{" + itoa(idx) + "}.news"},
		{b.clientChannel(part, "news"), "centrifugo.client.{" + itoa(idx) + "}.news"},
		{b.channelKey(part, ".presence.data.", "news", false), "centrifugo.presence.data.{news}"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	bl := &Broker{opts: Options{Prefix: "p", HistoryUseLists: true}}
	if got := bl.metaKey(plain, "x"); got != "p.list.meta.x" {
		t.Errorf("list meta key %q", got)
	}
	if err := cl.checkChannel("}x"); err == nil {
		t.Error("cluster accepted a channel starting with '}'")
	}
	if err := plain.checkChannel("}x"); err != nil {
		t.Errorf("standalone refused '}x': %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestParseAddress(t *testing.T) {
	o := Options{}.withDefaults()
	base, err := o.baseClientOption()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := parseAddress("rediss://bob:s3cret@10.0.0.1:6380/3?connect_timeout=2s&io_timeout=5s&force_resp2=true&addr=10.0.0.2:6380", base, "engine.redis.address[0]")
	if err != nil {
		t.Fatal(err)
	}
	opt := sc.opt
	if opt.Username != "bob" || opt.Password != "s3cret" || opt.SelectDB != 3 || opt.TLSConfig == nil ||
		opt.Dialer.Timeout != 2*time.Second || opt.ConnWriteTimeout != 5*time.Second || !opt.AlwaysRESP2 ||
		strings.Join(opt.InitAddress, ",") != "10.0.0.1:6380,10.0.0.2:6380" || sc.mode != ModeStandalone {
		t.Fatalf("parsed %+v mode %s", opt, sc.mode)
	}
	sc, err = parseAddress("redis+sentinel://:pw@127.0.0.1:26379?sentinel_master_name=mymaster&sentinel_password=sp", base, "k")
	if err != nil {
		t.Fatal(err)
	}
	if sc.mode != ModeSentinel || sc.opt.Sentinel.MasterSet != "mymaster" || sc.opt.Sentinel.Password != "sp" || sc.opt.Password != "pw" {
		t.Fatalf("sentinel URL parsed %+v", sc)
	}
	sc, err = parseAddress("127.0.0.1:6379", base, "k")
	if err != nil || sc.opt.InitAddress[0] != "127.0.0.1:6379" {
		t.Fatalf("host:port: %v %v", sc.opt.InitAddress, err)
	}
	sc, err = parseAddress("unix:///tmp/redis.sock", base, "k")
	if err != nil || sc.opt.InitAddress[0] != "/tmp/redis.sock" || sc.opt.DialFn == nil {
		t.Fatalf("unix: %v %v", sc.opt.InitAddress, err)
	}
	for _, bad := range []string{
		"localhost", "redis://h:1/x", "ftp://h:1", "redis+sentinel://h:1",
		"redis://h:1?tls_enabled=maybe", "redis://h:1?io_timeout=soon", "redis://h:1?replica_client_enabled=true",
	} {
		if _, err := parseAddress(bad, base, "engine.redis.address[2]"); err == nil {
			t.Errorf("%q accepted", bad)
		} else if !strings.Contains(err.Error(), "engine.redis.address[2]") {
			t.Errorf("%q: error %q does not name the key", bad, err)
		}
	}
}

func TestValidateNamesKey(t *testing.T) {
	cases := []struct {
		o   Options
		key string
	}{
		{Options{SentinelAddress: []string{"127.0.0.1:26379"}}, "engine.redis.sentinel_master_name"},
		{Options{ClusterAddress: []string{"127.0.0.1:7000,nohost"}}, "engine.redis.cluster_address[0]"},
		{Options{SentinelAddress: []string{"x"}, SentinelMasterName: "m"}, "engine.redis.sentinel_address[0]"},
		{Options{Address: []string{"redis://a:1", "bad"}}, "engine.redis.address[1]"},
		{Options{ReplicaClient: true}, "engine.redis.replica_client.enabled"},
		{Options{PresenceTTL: 1500 * time.Millisecond}, "engine.redis.presence_ttl"},
		{Options{ConnectTimeout: -1}, "engine.redis.connect_timeout"},
		{Options{IOTimeout: -1}, "engine.redis.io_timeout"},
		{Options{DB: -1}, "engine.redis.db"},
		{Options{Prefix: "a{b"}, "engine.redis.prefix"},
		{Options{TLS: TLSOptions{Enabled: true, ServerCAPEM: "nope"}}, "engine.redis.tls.server_ca_pem"},
		{Options{TLS: TLSOptions{Enabled: true, CertPEM: "x"}}, "engine.redis.tls"},
		{Options{SentinelAddress: []string{"127.0.0.1:1"}, SentinelMasterName: "m", SentinelTLS: TLSOptions{Enabled: true, ServerCAPEM: "nope"}}, "engine.redis.sentinel_tls.server_ca_pem"},
		{Options{ShardedPubSubPartitions: 4}, "engine.redis.sharded_pubsub_partitions"},
		{Options{KeyPrefix: "broker.redis", ReplicaClient: true}, "broker.redis.replica_client.enabled"},
	}
	for _, c := range cases {
		err := c.o.Validate()
		if err == nil {
			t.Errorf("%+v: accepted", c.o)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.key) {
			t.Errorf("%+v: error %q does not start with %s", c.o, err, c.key)
		}
	}
	ok := Options{ClusterAddress: []string{"127.0.0.1:7000,127.0.0.1:7001"}, ShardedPubSubPartitions: 4,
		TLS: TLSOptions{Enabled: true, InsecureSkipVerify: true}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
}

func TestPublishNamesMatchKeys(t *testing.T) {
	for _, lists := range []bool{false, true} {
		b := &Broker{opts: Options{Prefix: "centrifugo", HistoryUseLists: lists}, messagePrefix: "centrifugo.client."}
		for _, s := range []*shard{{}, {cluster: true}, {cluster: true, partitions: 16}} {
			for _, ch := range []string{"news", "", "a:b{c}", "юникод"} {
				for _, key := range []string{"", "k1"} {
					stream, meta, result, pubsub := b.publishNames(s, ch, key)
					wantStream := b.streamKey(s, ch)
					if lists {
						wantStream = b.listKey(s, ch)
					}
					if stream != wantStream || meta != b.metaKey(s, ch) || result != b.resultKey(s, ch, key) || pubsub != b.clientChannel(s, ch) {
						t.Errorf("lists=%v shard %+v ch %q key %q: %q %q %q %q", lists, *s, ch, key, stream, meta, result, pubsub)
					}
				}
			}
		}
	}
}
