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

func TestPresenceAddGetRemove(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	ctx := context.Background()
	info := &codec.ClientInfo{User: "u1", Client: "c1", ConnInfo: []byte(`{"a":1}`), ChanInfo: []byte(`{"b":2}`)}
	if err := b.AddPresence(ctx, "room", "c1", info); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPresence(ctx, "room", "c2", &codec.ClientInfo{User: "u1", Client: "c2"}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPresence(ctx, "room", "c3", &codec.ClientInfo{User: "u2", Client: "c3"}); err != nil {
		t.Fatal(err)
	}

	// Byte layout: the hash holds the bare Protobuf ClientInfo, the ZSET the
	// expire-at second (now + presence_ttl 60 s).
	raw := srv.MustDo("HGET", "centrifugo.presence.data.room", "c1")
	if raw != string(codec.AppendClientInfoProto(nil, info)) {
		t.Fatalf("stored info %x", raw)
	}
	score, _ := strconv.ParseInt(srv.MustDo("ZSCORE", "centrifugo.presence.expire.room", "c1"), 10, 64)
	if now := time.Now().Unix(); score < now+59 || score > now+61 {
		t.Fatalf("expire-at %d, now %d", score, now)
	}
	for _, key := range []string{"centrifugo.presence.data.room", "centrifugo.presence.expire.room"} {
		ttl, _ := strconv.Atoi(srv.MustDo("TTL", key))
		if ttl < 58 || ttl > 60 {
			t.Fatalf("%s TTL %d", key, ttl)
		}
	}
	if n := srv.MustDo("EXISTS", "centrifugo.presence.user.clients.room"); n != "0" {
		t.Fatal("user mapping keys written without presence_user_mapping")
	}

	p, err := b.Presence(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 3 || p["c1"].User != "u1" || p["c1"].Client != "c1" || string(p["c1"].ConnInfo) != `{"a":1}` || string(p["c1"].ChanInfo) != `{"b":2}` || p["c3"].User != "u2" {
		t.Fatalf("%+v", p)
	}
	st, err := b.PresenceStats(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	if st != (engine.PresenceStats{NumClients: 3, NumUsers: 2}) {
		t.Fatalf("%+v", st)
	}

	if err := b.RemovePresence(ctx, "room", "c1", "u1"); err != nil {
		t.Fatal(err)
	}
	if srv.MustDo("ZSCORE", "centrifugo.presence.expire.room", "c1") != "(nil)" {
		t.Fatal("c1 still in the expire ZSET")
	}
	p, err = b.Presence(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 2 || p["c1"] != nil {
		t.Fatalf("%+v", p)
	}
	if p, err := b.Presence(ctx, "empty"); err != nil || p == nil || len(p) != 0 {
		t.Fatalf("%v %v", p, err)
	}
}

// An entry not refreshed within presence_ttl is gone from presence and stats,
// and a refresh keeps it.
func TestPresenceExpiry(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{PresenceTTL: time.Second})
	ctx := context.Background()
	if err := b.AddPresence(ctx, "room", "stale", &codec.ClientInfo{User: "u1", Client: "stale"}); err != nil {
		t.Fatal(err)
	}
	// Pretend an expired member whose keys still live (another client keeps
	// refreshing them): only the ZSET score says it is stale.
	srv.MustDo("ZADD", "centrifugo.presence.expire.room", strconv.FormatInt(time.Now().Unix()-1, 10), "stale")
	if err := b.AddPresence(ctx, "room", "fresh", &codec.ClientInfo{User: "u2", Client: "fresh"}); err != nil {
		t.Fatal(err)
	}
	p, err := b.Presence(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || p["fresh"] == nil {
		t.Fatalf("%+v", p)
	}
	if srv.MustDo("HEXISTS", "centrifugo.presence.data.room", "stale") != "0" {
		t.Fatal("stale hash field kept")
	}
	// Without refresh the keys expire with presence_ttl.
	time.Sleep(2100 * time.Millisecond)
	p, err = b.Presence(ctx, "room")
	if err != nil || len(p) != 0 {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestPresenceUserMapping(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{PresenceUserMapping: true})
	ctx := context.Background()
	add := func(client, user string) {
		t.Helper()
		if err := b.AddPresence(ctx, "room", client, &codec.ClientInfo{User: user, Client: client}); err != nil {
			t.Fatal(err)
		}
	}
	stats := func(clients, users uint32) {
		t.Helper()
		st, err := b.PresenceStats(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		if st != (engine.PresenceStats{NumClients: clients, NumUsers: users}) {
			t.Fatalf("got %+v, want %d clients %d users", st, clients, users)
		}
	}
	add("c1", "u1")
	add("c2", "u1")
	add("c1", "u1") // refresh: not a new connection
	add("c3", "u2")
	stats(3, 2)
	if n := srv.MustDo("HGET", "centrifugo.presence.user.clients.room", "u1"); n != "2" {
		t.Fatalf("u1 connections %q", n)
	}
	if srv.MustDo("ZSCORE", "centrifugo.presence.user.expire.room", "u1") == "(nil)" {
		t.Fatal("no user expire entry")
	}
	if err := b.RemovePresence(ctx, "room", "c1", "u1"); err != nil {
		t.Fatal(err)
	}
	stats(2, 2)
	if err := b.RemovePresence(ctx, "room", "c1", "u1"); err != nil { // twice: no double decrement
		t.Fatal(err)
	}
	if n := srv.MustDo("HGET", "centrifugo.presence.user.clients.room", "u1"); n != "1" {
		t.Fatalf("u1 connections %q", n)
	}
	if err := b.RemovePresence(ctx, "room", "c2", "u1"); err != nil {
		t.Fatal(err)
	}
	stats(1, 1)
	if srv.MustDo("ZSCORE", "centrifugo.presence.user.expire.room", "u1") != "(nil)" || srv.MustDo("HEXISTS", "centrifugo.presence.user.clients.room", "u1") != "0" {
		t.Fatal("u1 left in user mapping")
	}
	// A user whose expire entry is stale drops out of the stats.
	srv.MustDo("ZADD", "centrifugo.presence.user.expire.room", strconv.FormatInt(time.Now().Unix()-1, 10), "u2")
	srv.MustDo("ZADD", "centrifugo.presence.expire.room", strconv.FormatInt(time.Now().Unix()-1, 10), "c3")
	stats(0, 0)
}

// Redis Cluster: the four keys carry the {CH} hash tag (one slot, the scripts
// may touch them together).
func TestPresenceClusterKeys(t *testing.T) {
	cl := redistest.SharedCluster(t)
	b := newTestBroker(t, nil, Options{ClusterAddress: []string{strings.Join(cl.Addrs(), ",")}, PresenceUserMapping: true})
	ctx := context.Background()
	for i := range 20 {
		ch := "room" + strconv.Itoa(i)
		if err := b.AddPresence(ctx, ch, "c1", &codec.ClientInfo{User: "u1", Client: "c1"}); err != nil {
			t.Fatal(err)
		}
		st, err := b.PresenceStats(ctx, ch)
		if err != nil || st != (engine.PresenceStats{NumClients: 1, NumUsers: 1}) {
			t.Fatalf("%+v %v", st, err)
		}
		p, err := b.Presence(ctx, ch)
		if err != nil || len(p) != 1 {
			t.Fatalf("%+v %v", p, err)
		}
		if err := b.RemovePresence(ctx, ch, "c1", "u1"); err != nil {
			t.Fatal(err)
		}
	}
	s := b.shards[0]
	if k := b.presenceKeys(s, "x"); k[0] != "centrifugo.presence.expire.{x}" || k[1] != "centrifugo.presence.data.{x}" ||
		k[2] != "centrifugo.presence.user.expire.{x}" || k[3] != "centrifugo.presence.user.clients.{x}" {
		t.Fatal(k)
	}
	if err := b.AddPresence(ctx, "}bad", "c1", &codec.ClientInfo{}); err == nil {
		t.Fatal("channel starting with } accepted in a cluster")
	}
}
