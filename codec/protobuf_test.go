package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// pbFieldsAt walks a message along path (a field number per level, each a nested
// message) and returns the raw values of field last at the end: varints as uint64,
// length-delimited as []byte. It only uses protowire, so it checks our field numbers
// independently of our decoder.
func pbFieldsAt(t *testing.T, msg []byte, path ...protowire.Number) []any {
	t.Helper()
	last := path[len(path)-1]
	for _, num := range path[:len(path)-1] {
		vals := pbFieldsAt(t, msg, num)
		if len(vals) != 1 {
			t.Fatalf("path %v: field %d occurs %d times", path, num, len(vals))
		}
		msg = vals[0].([]byte)
	}
	var out []any
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			t.Fatalf("bad tag in %x", msg)
		}
		msg = msg[n:]
		var v any
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(msg)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(msg)
		default:
			t.Fatalf("unexpected wire type %d", typ)
		}
		if n < 0 {
			t.Fatalf("bad value in %x", msg)
		}
		msg = msg[n:]
		if num == last {
			out = append(out, v)
		}
	}
	return out
}

func pbOne(t *testing.T, msg []byte, path ...protowire.Number) any {
	t.Helper()
	vals := pbFieldsAt(t, msg, path...)
	if len(vals) != 1 {
		t.Fatalf("path %v: %d values", path, len(vals))
	}
	if b, ok := vals[0].([]byte); ok {
		return string(b)
	}
	return vals[0]
}

// body strips and checks the varint length prefix.
func body(t *testing.T, b []byte) []byte {
	t.Helper()
	n, k := protowire.ConsumeVarint(b)
	if k < 0 || int(n) != len(b)-k {
		t.Fatalf("bad length prefix: %x", b)
	}
	return b[k:]
}

// TestProtobufFieldNumbers checks every field of the pushes and results against the
// numbers of client.proto (spec §13; also verified against centrifugal/protocol v0.19.2).
func TestProtobufFieldNumbers(t *testing.T) {
	t.Parallel()
	type check struct {
		path []protowire.Number
		want any
	}
	pushPub := body(t, AppendPublicationPush(ProtocolProtobuf, nil, "news", samplePub()))
	for _, c := range []check{
		{[]protowire.Number{4, 2}, "news"},
		{[]protowire.Number{4, 4, 4}, `{"x":1,"s":"h\u00e9llo"}`},
		{[]protowire.Number{4, 4, 5, 1}, "42"},
		{[]protowire.Number{4, 4, 5, 2}, "c1"},
		{[]protowire.Number{4, 4, 5, 3}, `{"name":"alice"}`},
		{[]protowire.Number{4, 4, 5, 4}, `[1,2]`},
		{[]protowire.Number{4, 4, 6}, uint64(1<<63 + 5)},
		{[]protowire.Number{4, 4, 8}, uint64(1)},
		{[]protowire.Number{4, 4, 9}, uint64(1700000000123)},
		{[]protowire.Number{4, 4, 10}, "news"},
		{[]protowire.Number{4, 4, 11}, "k1"},
		{[]protowire.Number{4, 4, 12}, uint64(1)},
		{[]protowire.Number{4, 4, 13}, protowire.EncodeZigZag(-12345)},
		{[]protowire.Number{4, 4, 14}, "xyz"},
		{[]protowire.Number{4, 4, 15}, `"prev"`},
		{[]protowire.Number{4, 4, 16}, uint64(9)},
	} {
		if got := pbOne(t, pushPub, c.path...); got != c.want {
			t.Errorf("publication push %v: got %v want %v", c.path, got, c.want)
		}
	}
	// Tags: repeated entries {1: key, 2: value} in key order.
	tags := pbFieldsAt(t, pushPub, 4, 4, 7)
	var keys []string
	for _, e := range tags {
		keys = append(keys, string(pbOne(t, e.([]byte), 1).(string)))
	}
	if strings.Join(keys, ",") != `a,b,z"q` {
		t.Errorf("tag keys %v", keys)
	}

	conn, _ := AppendReply(ProtocolProtobuf, nil, sampleReplies()[14].r) // "connect"
	conn = body(t, conn)
	for _, c := range []check{
		{[]protowire.Number{1}, uint64(1)},
		{[]protowire.Number{5, 1}, "6f9"},
		{[]protowire.Number{5, 2}, "6.9.1 OSS"},
		{[]protowire.Number{5, 3}, uint64(1)},
		{[]protowire.Number{5, 4}, uint64(100)},
		{[]protowire.Number{5, 5}, `{"k":"v"}`},
		{[]protowire.Number{5, 7}, uint64(25)},
		{[]protowire.Number{5, 8}, uint64(1)},
		{[]protowire.Number{5, 9}, "s"},
		{[]protowire.Number{5, 10}, "n"},
		{[]protowire.Number{5, 11}, uint64(1700000000000)},
	} {
		if got := pbOne(t, conn, c.path...); got != c.want {
			t.Errorf("connect %v: got %v want %v", c.path, got, c.want)
		}
	}
	entry := pbFieldsAt(t, conn, 5, 6)[0].([]byte)
	if k := pbOne(t, entry, 1); k != "personal:1" {
		t.Errorf("subs key %v", k)
	}
	sub := pbFieldsAt(t, entry, 2)[0].([]byte)
	for _, c := range []check{
		{[]protowire.Number{1}, uint64(1)}, {[]protowire.Number{2}, uint64(60)}, {[]protowire.Number{3}, uint64(1)},
		{[]protowire.Number{6}, "ep"}, {[]protowire.Number{8}, uint64(1)}, {[]protowire.Number{9}, uint64(3)},
		{[]protowire.Number{10}, uint64(1)}, {[]protowire.Number{11}, `{"sub":true}`}, {[]protowire.Number{12}, uint64(1)},
		{[]protowire.Number{13}, uint64(1)}, {[]protowire.Number{14}, uint64(1<<64 - 7)}, {[]protowire.Number{15}, uint64(1)},
		{[]protowire.Number{16}, uint64(1<<64 - 2)}, {[]protowire.Number{17}, "cur"}, {[]protowire.Number{19}, uint64(100)},
	} {
		if got := pbOne(t, sub, c.path...); got != c.want {
			t.Errorf("subscribe result %v: got %v want %v", c.path, got, c.want)
		}
	}
	if n := len(pbFieldsAt(t, sub, 7)); n != 2 {
		t.Errorf("publications: %d", n)
	}
	if n := len(pbFieldsAt(t, sub, 18)); n != 1 {
		t.Errorf("state: %d", n)
	}

	// One check per remaining Reply/Push field number.
	for _, c := range []struct {
		r    *Reply
		path []protowire.Number
		want any
	}{
		{&Reply{ID: 3, Error: &Error{Code: 103, Message: "m", Temporary: true}}, []protowire.Number{2, 1}, uint64(103)},
		{&Reply{ID: 3, Error: &Error{Code: 103, Message: "m", Temporary: true}}, []protowire.Number{2, 2}, "m"},
		{&Reply{ID: 3, Error: &Error{Code: 103, Message: "m", Temporary: true}}, []protowire.Number{2, 3}, uint64(1)},
		{&Reply{Push: &Push{ID: 9, Channel: "c"}}, []protowire.Number{4, 1}, uint64(9)},
		{&Reply{Push: &Push{Join: &Join{Info: ClientInfo{User: "u"}}}}, []protowire.Number{4, 5, 1, 1}, "u"},
		{&Reply{Push: &Push{Leave: &Leave{Info: ClientInfo{Client: "c"}}}}, []protowire.Number{4, 6, 1, 2}, "c"},
		{&Reply{Push: &Push{Unsubscribe: &Unsubscribe{Code: 2000, Reason: "r"}}}, []protowire.Number{4, 7, 2}, uint64(2000)},
		{&Reply{Push: &Push{Unsubscribe: &Unsubscribe{Code: 2000, Reason: "r"}}}, []protowire.Number{4, 7, 3}, "r"},
		{&Reply{Push: &Push{Message: &Message{Data: []byte("d")}}}, []protowire.Number{4, 8, 1}, "d"},
		{&Reply{Push: &Push{Subscribe: &Subscribe{Recoverable: true, Epoch: "e", Offset: 5, Positioned: true, Data: []byte("x")}}}, []protowire.Number{4, 9, 1}, uint64(1)},
		{&Reply{Push: &Push{Subscribe: &Subscribe{Recoverable: true, Epoch: "e", Offset: 5, Positioned: true, Data: []byte("x")}}}, []protowire.Number{4, 9, 4}, "e"},
		{&Reply{Push: &Push{Subscribe: &Subscribe{Recoverable: true, Epoch: "e", Offset: 5, Positioned: true, Data: []byte("x")}}}, []protowire.Number{4, 9, 5}, uint64(5)},
		{&Reply{Push: &Push{Subscribe: &Subscribe{Recoverable: true, Epoch: "e", Offset: 5, Positioned: true, Data: []byte("x")}}}, []protowire.Number{4, 9, 6}, uint64(1)},
		{&Reply{Push: &Push{Subscribe: &Subscribe{Recoverable: true, Epoch: "e", Offset: 5, Positioned: true, Data: []byte("x")}}}, []protowire.Number{4, 9, 7}, "x"},
		{&Reply{Push: &Push{Connect: &Connect{Data: []byte("d"), Expires: true, TTL: 6, Ping: 7, Session: "s", Node: "n", Time: 11}}}, []protowire.Number{4, 10, 3}, "d"},
		{&Reply{Push: &Push{Connect: &Connect{Data: []byte("d"), Expires: true, TTL: 6, Ping: 7, Session: "s", Node: "n", Time: 11}}}, []protowire.Number{4, 10, 5}, uint64(1)},
		{&Reply{Push: &Push{Connect: &Connect{Data: []byte("d"), Expires: true, TTL: 6, Ping: 7, Session: "s", Node: "n", Time: 11}}}, []protowire.Number{4, 10, 6}, uint64(6)},
		{&Reply{Push: &Push{Connect: &Connect{Data: []byte("d"), Expires: true, TTL: 6, Ping: 7, Session: "s", Node: "n", Time: 11}}}, []protowire.Number{4, 10, 7}, uint64(7)},
		{&Reply{Push: &Push{Connect: &Connect{Data: []byte("d"), Expires: true, TTL: 6, Ping: 7, Session: "s", Node: "n", Time: 11}}}, []protowire.Number{4, 10, 9}, "s"},
		{&Reply{Push: &Push{Connect: &Connect{Data: []byte("d"), Expires: true, TTL: 6, Ping: 7, Session: "s", Node: "n", Time: 11}}}, []protowire.Number{4, 10, 11}, uint64(11)},
		{&Reply{Push: &Push{Connect: &Connect{Subs: map[string]*SubscribeResult{"a": {}}}}}, []protowire.Number{4, 10, 4, 1}, "a"},
		{&Reply{Push: &Push{Disconnect: &Disconnect{Code: 3001, Reason: "shutdown", Reconnect: true}}}, []protowire.Number{4, 11, 1}, uint64(3001)},
		{&Reply{Push: &Push{Disconnect: &Disconnect{Code: 3001, Reason: "shutdown", Reconnect: true}}}, []protowire.Number{4, 11, 2}, "shutdown"},
		{&Reply{Push: &Push{Disconnect: &Disconnect{Code: 3001, Reason: "shutdown", Reconnect: true}}}, []protowire.Number{4, 11, 3}, uint64(1)},
		{&Reply{Push: &Push{Refresh: &Refresh{Expires: true, TTL: 3600}}}, []protowire.Number{4, 12, 1}, uint64(1)},
		{&Reply{Push: &Push{Refresh: &Refresh{Expires: true, TTL: 3600}}}, []protowire.Number{4, 12, 2}, uint64(3600)},
		{&Reply{ID: 1, Subscribe: &SubscribeResult{}}, []protowire.Number{6}, ""},
		{&Reply{ID: 1, Unsubscribe: &UnsubscribeResult{}}, []protowire.Number{7}, ""},
		{&Reply{ID: 1, Publish: &PublishResult{}}, []protowire.Number{8}, ""},
		{&Reply{ID: 1, Presence: &PresenceResult{Presence: map[string]*ClientInfo{"c": {User: "u"}}}}, []protowire.Number{9, 1, 1}, "c"},
		{&Reply{ID: 1, Presence: &PresenceResult{Presence: map[string]*ClientInfo{"c": {User: "u"}}}}, []protowire.Number{9, 1, 2, 1}, "u"},
		{&Reply{ID: 1, PresenceStats: &PresenceStatsResult{NumClients: 3, NumUsers: 2}}, []protowire.Number{10, 1}, uint64(3)},
		{&Reply{ID: 1, PresenceStats: &PresenceStatsResult{NumClients: 3, NumUsers: 2}}, []protowire.Number{10, 2}, uint64(2)},
		{&Reply{ID: 1, History: &HistoryResult{Publications: []*Publication{{Offset: 4}}, Epoch: "e", Offset: 4}}, []protowire.Number{11, 1, 6}, uint64(4)},
		{&Reply{ID: 1, History: &HistoryResult{Publications: []*Publication{{Offset: 4}}, Epoch: "e", Offset: 4}}, []protowire.Number{11, 2}, "e"},
		{&Reply{ID: 1, History: &HistoryResult{Publications: []*Publication{{Offset: 4}}, Epoch: "e", Offset: 4}}, []protowire.Number{11, 3}, uint64(4)},
		{&Reply{ID: 1, RPC: &RPCResult{Data: []byte("r")}}, []protowire.Number{13, 1}, "r"},
		{&Reply{ID: 1, Refresh: &RefreshResult{Client: "c", Version: "v", Expires: true, TTL: 4}}, []protowire.Number{14, 1}, "c"},
		{&Reply{ID: 1, Refresh: &RefreshResult{Client: "c", Version: "v", Expires: true, TTL: 4}}, []protowire.Number{14, 2}, "v"},
		{&Reply{ID: 1, Refresh: &RefreshResult{Client: "c", Version: "v", Expires: true, TTL: 4}}, []protowire.Number{14, 3}, uint64(1)},
		{&Reply{ID: 1, Refresh: &RefreshResult{Client: "c", Version: "v", Expires: true, TTL: 4}}, []protowire.Number{14, 4}, uint64(4)},
		{&Reply{ID: 1, SubRefresh: &SubRefreshResult{Expires: true, TTL: 2, Items: []*Publication{{Key: "k"}}}}, []protowire.Number{15, 1}, uint64(1)},
		{&Reply{ID: 1, SubRefresh: &SubRefreshResult{Expires: true, TTL: 2, Items: []*Publication{{Key: "k"}}}}, []protowire.Number{15, 2}, uint64(2)},
		{&Reply{ID: 1, SubRefresh: &SubRefreshResult{Expires: true, TTL: 2, Items: []*Publication{{Key: "k"}}}}, []protowire.Number{15, 3, 11}, "k"},
	} {
		b, _ := AppendReply(ProtocolProtobuf, nil, c.r)
		if got := pbOne(t, body(t, b), c.path...); got != c.want {
			t.Errorf("%+v %v: got %v want %v", c.r, c.path, got, c.want)
		}
	}
}

func TestProtobufCommandFieldNumbers(t *testing.T) {
	t.Parallel()
	enc := func(c *Command) []byte {
		b, _ := AppendCommand(ProtocolProtobuf, nil, c)
		return body(t, b)
	}
	sub := enc(sampleCommands()[3].c)
	for _, c := range []struct {
		path []protowire.Number
		want any
	}{
		{[]protowire.Number{1}, uint64(2)},
		{[]protowire.Number{5, 1}, "news"}, {[]protowire.Number{5, 2}, "tok"}, {[]protowire.Number{5, 3}, uint64(1)},
		{[]protowire.Number{5, 6}, "ep"}, {[]protowire.Number{5, 7}, uint64(1<<64 - 1)}, {[]protowire.Number{5, 8}, `{"d":[1,2,3]}`},
		{[]protowire.Number{5, 9}, uint64(1)}, {[]protowire.Number{5, 10}, uint64(1)}, {[]protowire.Number{5, 11}, uint64(1)},
		{[]protowire.Number{5, 12}, "fossil"}, {[]protowire.Number{5, 13, 1}, "and"}, {[]protowire.Number{5, 14}, uint64(1<<64 - 1)},
		{[]protowire.Number{5, 15}, uint64(1<<64 - 3)}, {[]protowire.Number{5, 16}, uint64(2)}, {[]protowire.Number{5, 17}, "c"},
		{[]protowire.Number{5, 18}, uint64(1<<64 - 100)}, {[]protowire.Number{5, 19}, uint64(1)},
	} {
		if got := pbOne(t, sub, c.path...); got != c.want {
			t.Errorf("subscribe %v: got %v want %v", c.path, got, c.want)
		}
	}
	// FilterNode: op 1, key 2, cmp 3, val 4, vals 5, nodes 6.
	leaf := pbFieldsAt(t, sub, 5, 13, 6)[0].([]byte)
	if pbOne(t, leaf, 2) != "a" || pbOne(t, leaf, 3) != "eq" || pbOne(t, leaf, 4) != "1" {
		t.Errorf("filter leaf %x", leaf)
	}
	not := pbFieldsAt(t, sub, 5, 13, 6)[1].([]byte)
	if vals := pbFieldsAt(t, not, 6, 5); len(vals) != 3 {
		t.Errorf("vals %v", vals)
	}

	conn := enc(sampleCommands()[1].c)
	for _, c := range []struct {
		path []protowire.Number
		want any
	}{
		{[]protowire.Number{4, 1}, "eyJ.x.y"}, {[]protowire.Number{4, 2}, `{"hello":"world"}`}, {[]protowire.Number{4, 4}, "js"},
		{[]protowire.Number{4, 5}, "5.0.0"}, {[]protowire.Number{4, 7}, uint64(1)},
	} {
		if got := pbOne(t, conn, c.path...); got != c.want {
			t.Errorf("connect %v: got %v want %v", c.path, got, c.want)
		}
	}
	if n := len(pbFieldsAt(t, conn, 4, 3)); n != 2 {
		t.Errorf("subs entries %d", n)
	}
	if n := len(pbFieldsAt(t, conn, 4, 6)); n != 2 {
		t.Errorf("headers entries %d", n)
	}
	for _, c := range []struct {
		c    *Command
		path []protowire.Number
		want any
	}{
		{&Command{ID: 1, Unsubscribe: &UnsubscribeRequest{Channel: "u"}}, []protowire.Number{6, 1}, "u"},
		{&Command{ID: 1, Publish: &PublishRequest{Channel: "p", Data: []byte("d"), Type: 1, Key: "k", Removed: true}}, []protowire.Number{7, 1}, "p"},
		{&Command{ID: 1, Publish: &PublishRequest{Channel: "p", Data: []byte("d"), Type: 1, Key: "k", Removed: true}}, []protowire.Number{7, 2}, "d"},
		{&Command{ID: 1, Publish: &PublishRequest{Channel: "p", Data: []byte("d"), Type: 1, Key: "k", Removed: true}}, []protowire.Number{7, 3}, uint64(1)},
		{&Command{ID: 1, Publish: &PublishRequest{Channel: "p", Data: []byte("d"), Type: 1, Key: "k", Removed: true}}, []protowire.Number{7, 4}, "k"},
		{&Command{ID: 1, Publish: &PublishRequest{Channel: "p", Data: []byte("d"), Type: 1, Key: "k", Removed: true}}, []protowire.Number{7, 5}, uint64(1)},
		{&Command{ID: 1, Presence: &PresenceRequest{Channel: "p"}}, []protowire.Number{8, 1}, "p"},
		{&Command{ID: 1, PresenceStats: &PresenceStatsRequest{Channel: "p"}}, []protowire.Number{9, 1}, "p"},
		{&Command{ID: 1, History: &HistoryRequest{Channel: "h", Limit: 5, Since: &StreamPosition{Offset: 3, Epoch: "e"}, Reverse: true}}, []protowire.Number{10, 1}, "h"},
		{&Command{ID: 1, History: &HistoryRequest{Channel: "h", Limit: 5, Since: &StreamPosition{Offset: 3, Epoch: "e"}, Reverse: true}}, []protowire.Number{10, 7}, uint64(5)},
		{&Command{ID: 1, History: &HistoryRequest{Channel: "h", Limit: 5, Since: &StreamPosition{Offset: 3, Epoch: "e"}, Reverse: true}}, []protowire.Number{10, 8, 1}, uint64(3)},
		{&Command{ID: 1, History: &HistoryRequest{Channel: "h", Limit: 5, Since: &StreamPosition{Offset: 3, Epoch: "e"}, Reverse: true}}, []protowire.Number{10, 8, 2}, "e"},
		{&Command{ID: 1, History: &HistoryRequest{Channel: "h", Limit: 5, Since: &StreamPosition{Offset: 3, Epoch: "e"}, Reverse: true}}, []protowire.Number{10, 9}, uint64(1)},
		{&Command{ID: 1, Ping: &PingRequest{}}, []protowire.Number{11}, ""},
		{&Command{Send: &SendRequest{Data: []byte("s")}}, []protowire.Number{12, 1}, "s"},
		{&Command{ID: 1, RPC: &RPCRequest{Data: []byte("r"), Method: "m"}}, []protowire.Number{13, 1}, "r"},
		{&Command{ID: 1, RPC: &RPCRequest{Data: []byte("r"), Method: "m"}}, []protowire.Number{13, 2}, "m"},
		{&Command{ID: 1, Refresh: &RefreshRequest{Token: "t"}}, []protowire.Number{14, 1}, "t"},
		{&Command{ID: 1, SubRefresh: &SubRefreshRequest{Channel: "c", Token: "t", Type: 2, Untrack: []string{"u"}}}, []protowire.Number{15, 1}, "c"},
		{&Command{ID: 1, SubRefresh: &SubRefreshRequest{Channel: "c", Token: "t", Type: 2, Untrack: []string{"u"}}}, []protowire.Number{15, 2}, "t"},
		{&Command{ID: 1, SubRefresh: &SubRefreshRequest{Channel: "c", Token: "t", Type: 2, Untrack: []string{"u"}}}, []protowire.Number{15, 3}, uint64(2)},
		{&Command{ID: 1, SubRefresh: &SubRefreshRequest{Channel: "c", Token: "t", Type: 2, Untrack: []string{"u"}}}, []protowire.Number{15, 5}, "u"},
		{&Command{ID: 1, SubRefresh: &SubRefreshRequest{Track: []*TrackBatch{{Signature: "s", Items: []*KeyedItem{{Key: "k", Version: 3}}}}}}, []protowire.Number{15, 4, 1}, "s"},
		{&Command{ID: 1, SubRefresh: &SubRefreshRequest{Track: []*TrackBatch{{Signature: "s", Items: []*KeyedItem{{Key: "k", Version: 3}}}}}}, []protowire.Number{15, 4, 2, 1}, "k"},
		{&Command{ID: 1, SubRefresh: &SubRefreshRequest{Track: []*TrackBatch{{Signature: "s", Items: []*KeyedItem{{Key: "k", Version: 3}}}}}}, []protowire.Number{15, 4, 2, 2}, uint64(3)},
	} {
		if got := pbOne(t, enc(c.c), c.path...); got != c.want {
			t.Errorf("%v: got %v want %v", c.path, got, c.want)
		}
	}
}

func TestProtobufGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"ping", AppendPing(ProtocolProtobuf, nil), "00"},
		// id=3 (08 03), error (12 15){code=103 (08 67), message (12 11)"permission denied"}
		{"error", AppendErrorReply(ProtocolProtobuf, nil, 3, 103, "permission denied", false),
			"19" + "0803" + "1215" + "0867" + "1211" + hex.EncodeToString([]byte("permission denied"))},
		// id=3, publish (42 00)
		{"publish", mustReply(t, ProtocolProtobuf, &Reply{ID: 3, Publish: &PublishResult{}}), "04" + "0803" + "4200"},
		// push (22 0d){channel (12 04)"news", pub (22 05){data (22 01)"1", offset (30 07)}}
		{"pub", AppendPublicationPush(ProtocolProtobuf, nil, "news", &Publication{Data: []byte("1"), Offset: 7}),
			"0f" + "220d" + "1204" + hex.EncodeToString([]byte("news")) + "2205" + "220131" + "3007"},
		// The first publication of an epoch carries it: push (22 11){channel, pub (22 09){
		// data, offset (30 01), epoch (72 02)"ep"}}
		{"pub_epoch", AppendPublicationPush(ProtocolProtobuf, nil, "news", &Publication{Data: []byte("1"), Offset: 1, Epoch: "ep"}),
			"13" + "2211" + "1204" + hex.EncodeToString([]byte("news")) + "2209" + "220131" + "3001" + "7202" + hex.EncodeToString([]byte("ep"))},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s: got %s want %s", c.name, got, c.want)
		}
	}
}

// TestProtobufLongLengths covers bodies whose length varint needs 2 and 3 bytes, where
// pbEnd shifts the body.
func TestProtobufLongLengths(t *testing.T) {
	t.Parallel()
	for _, n := range []int{126, 127, 128, 200, 16383, 16384, 70000} {
		data := bytes.Repeat([]byte("x"), n)
		r := &Reply{ID: 1, RPC: &RPCResult{Data: data}}
		b := mustReply(t, ProtocolProtobuf, r)
		d := NewReplyDecoder(ProtocolProtobuf)
		d.Reset(b)
		var got Reply
		if err := d.Decode(&got); err != nil || !reflect.DeepEqual(&got, r) {
			t.Fatalf("n=%d: %v", n, err)
		}
		m := &Reply{Push: &Push{Channel: "c", Message: &Message{Data: data}}}
		b = mustReply(t, ProtocolProtobuf, m)
		d.Reset(b)
		if err := d.Decode(&got); err != nil || !reflect.DeepEqual(&got, m) {
			t.Fatalf("message n=%d: %v", n, err)
		}
		pub := &Publication{Data: data, Info: &ClientInfo{ConnInfo: data}}
		b = AppendPublicationPush(ProtocolProtobuf, nil, "c", pub)
		d.Reset(b)
		if err := d.Decode(&got); err != nil || !reflect.DeepEqual(got.Push.Pub, pub) {
			t.Fatalf("pub n=%d: %v", n, err)
		}
	}
}

func TestProtobufDecodeFraming(t *testing.T) {
	t.Parallel()
	d := NewCommandDecoder(ProtocolProtobuf)
	var c Command

	d.Reset([]byte{0x00})
	if err := d.Decode(&c); err != nil || !reflect.DeepEqual(c, Command{}) {
		t.Fatalf("pong: %v %#v", err, c)
	}
	if err := d.Decode(&c); err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}

	d.Reset([]byte{0x00, 0x00, 0x02, 0x08, 0x05})
	for i, want := range []uint32{0, 0, 5} {
		if err := d.Decode(&c); err != nil || c.ID != want {
			t.Fatalf("msg %d: %v %d", i, err, c.ID)
		}
	}
	if err := d.Decode(&c); err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}

	// Unknown fields of every wire type are skipped, including in sub-messages.
	var msg []byte
	msg = protowire.AppendTag(msg, 1, protowire.VarintType)
	msg = protowire.AppendVarint(msg, 9)
	msg = protowire.AppendTag(msg, 99, protowire.Fixed32Type)
	msg = protowire.AppendFixed32(msg, 1)
	msg = protowire.AppendTag(msg, 100, protowire.Fixed64Type)
	msg = protowire.AppendFixed64(msg, 1)
	msg = protowire.AppendTag(msg, 101, protowire.StartGroupType)
	msg = protowire.AppendTag(msg, 1, protowire.VarintType)
	msg = protowire.AppendVarint(msg, 1)
	msg = protowire.AppendTag(msg, 101, protowire.EndGroupType)
	msg = protowire.AppendTag(msg, 2, protowire.BytesType) // reserved number
	msg = protowire.AppendString(msg, "ignored")
	var sub []byte
	sub = protowire.AppendTag(sub, 1, protowire.BytesType)
	sub = protowire.AppendString(sub, "ch")
	sub = protowire.AppendTag(sub, 500, protowire.VarintType)
	sub = protowire.AppendVarint(sub, 1)
	msg = protowire.AppendTag(msg, 5, protowire.BytesType)
	msg = protowire.AppendBytes(msg, sub)
	d.Reset(protowire.AppendBytes(nil, msg))
	if err := d.Decode(&c); err != nil || c.ID != 9 || c.Subscribe == nil || c.Subscribe.Channel != "ch" {
		t.Fatalf("unknown fields: %v %#v", err, c)
	}

	// Merging: a repeated sub-message merges, the last scalar wins.
	var m2 []byte
	m2 = protowire.AppendTag(m2, 5, protowire.BytesType)
	m2 = protowire.AppendBytes(m2, []byte{0x0a, 0x01, 'a'}) // channel a
	m2 = protowire.AppendTag(m2, 5, protowire.BytesType)
	m2 = protowire.AppendBytes(m2, []byte{0x12, 0x01, 't'}) // token t
	d.Reset(protowire.AppendBytes(nil, m2))
	if err := d.Decode(&c); err != nil || c.Subscribe == nil || c.Subscribe.Channel != "a" || c.Subscribe.Token != "t" {
		t.Fatalf("merge: %v %#v", err, c.Subscribe)
	}
}

func TestProtobufDecodeAliasing(t *testing.T) {
	t.Parallel()
	frame, _ := AppendCommand(ProtocolProtobuf, nil, &Command{ID: 1, Publish: &PublishRequest{Channel: "news", Data: []byte("payload"), Key: "k"}})
	frame = append(frame, 0x00)
	d := NewCommandDecoder(ProtocolProtobuf)
	d.Reset(frame)
	var c Command
	if err := d.Decode(&c); err != nil {
		t.Fatal(err)
	}
	_ = append(c.Publish.Data, "XXXXXXXX"...)
	if frame[len(frame)-1] != 0x00 || !bytes.Contains(frame, []byte("payload")) {
		t.Fatalf("append to payload wrote into frame: %x", frame)
	}
	for i := range frame {
		frame[i] = 0
	}
	if c.Publish.Channel != "news" || c.Publish.Key != "k" {
		t.Fatalf("strings alias the frame: %#v", c.Publish)
	}
}

func TestProtobufDecodeErrors(t *testing.T) {
	t.Parallel()
	wrap := func(msg ...byte) []byte { return protowire.AppendBytes(nil, msg) }
	deep := []byte{}
	for range maxDepth + 2 {
		// tf(13) → nodes(6) → nodes(6) …, each level a length-delimited field.
		inner := deep
		deep = protowire.AppendTag(nil, 6, protowire.BytesType)
		deep = protowire.AppendBytes(deep, inner)
	}
	deepCmd := protowire.AppendTag(nil, 13, protowire.BytesType)
	deepCmd = protowire.AppendBytes(deepCmd, deep)
	deepCmd = append(protowire.AppendTag(nil, 5, protowire.BytesType), protowire.AppendBytes(nil, deepCmd)...)
	cases := []struct {
		name  string
		frame []byte
	}{
		{"empty frame", nil},
		{"bad prefix", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"unterminated prefix", []byte{0x80}},
		{"length beyond frame", []byte{0x05, 0x08, 0x01}},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}},
		{"trailing garbage", append([]byte{0x00}, 0x80)},
		{"field number 0", wrap(0x00, 0x01)},
		{"bad tag", wrap(0x80)},
		{"truncated varint", wrap(0x08, 0x80)},
		{"wrong wire type id", wrap(0x0a, 0x00)},
		{"wrong wire type subscribe", wrap(0x28, 0x01)},
		{"truncated bytes", wrap(0x2a, 0x05, 0x0a)},
		{"bad sub-message", wrap(0x2a, 0x02, 0x0a, 0x05)},
		{"end group alone", wrap(0x0c)},
		{"unterminated group", wrap(0x0b, 0x08, 0x01)},
		{"bad map entry", wrap(0x22, 0x03, 0x1a, 0x01, 0x0a)},
		{"too deep", protowire.AppendBytes(nil, deepCmd)},
	}
	for _, c := range cases {
		d := NewCommandDecoder(ProtocolProtobuf)
		d.Reset(c.frame)
		var err error
		for range 3 {
			var cmd Command
			if err = d.Decode(&cmd); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", c.name, err)
		}
	}
}
