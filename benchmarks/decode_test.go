package benchmarks

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/codec"
)

func decodeAll(t *testing.T, p codec.Protocol, frame []byte) ([]reply, error) {
	t.Helper()
	var out []reply
	it := frameIter{proto: p, rest: frame}
	var r reply
	for {
		ok, err := it.next(&r)
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		cp := r
		cp.channel = append([]byte(nil), r.channel...)
		cp.data = append([]byte(nil), r.data...)
		cp.errMsg = append([]byte(nil), r.errMsg...)
		out = append(out, cp)
	}
}

func TestDecodeJSONReplies(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  []reply
	}{
		{"ping", `{}`, []reply{{kind: kindPing}}},
		{"ping with spaces", " { } \n", []reply{{kind: kindPing}}},
		{"connect", `{"id":1,"connect":{"client":"6f9","version":"6.9.1 OSS","ping":25,"pong":true}}`, []reply{{kind: kindConnect, id: 1}}},
		{"connect id last", `{"connect":{"client":"x","subs":{"a":{"recoverable":true}}},"id":7}`, []reply{{kind: kindConnect, id: 7}}},
		{"subscribe", `{"id":2,"subscribe":{}}`, []reply{{kind: kindSubscribe, id: 2}}},
		{"error", `{"id":3,"error":{"code":103,"message":"permission \"denied\"","temporary":true}}`,
			[]reply{{kind: kindError, id: 3, errCode: 103, errMsg: []byte(`permission \"denied\"`)}}},
		{"pub", `{"push":{"channel":"news","pub":{"data":{"ts":1,"s":"a}b\"{","arr":[1,{"x":[]}]},"offset":7}}}`,
			[]reply{{kind: kindPub, channel: []byte("news"), data: []byte(`{"ts":1,"s":"a}b\"{","arr":[1,{"x":[]}]}`)}}},
		{"pub string data", `{"push":{"pub":{"offset":1,"data":"hello"},"channel":"c"}}`,
			[]reply{{kind: kindPub, channel: []byte("c"), data: []byte(`"hello"`)}}},
		{"unsubscribe push", `{"push":{"channel":"c","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}`,
			[]reply{{kind: kindUnsubscribe, channel: []byte("c"), code: 2000}}},
		{"disconnect push", `{"push":{"disconnect":{"code":3001,"reason":"shutdown"}}}`,
			[]reply{{kind: kindDisconnect, code: 3001}}},
		{"join push", `{"push":{"channel":"chat","join":{"info":{"user":"42","client":"c1"}}}}`,
			[]reply{{kind: kindOther, channel: []byte("chat")}}},
		{"other reply", `{"id":9,"presence":{"presence":{}}}`, []reply{{kind: kindOther, id: 9}}},
		{"batch with ping and trailing newline",
			"{\"push\":{\"channel\":\"a\",\"pub\":{\"data\":1}}}\n{}\n{\"id\":2,\"subscribe\":{\"epoch\":\"e\"}}\n",
			[]reply{{kind: kindPub, channel: []byte("a"), data: []byte("1")}, {kind: kindPing}, {kind: kindSubscribe, id: 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAll(t, codec.ProtocolJSON, []byte(tc.frame))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d messages, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				if !sameReply(got[i], tc.want[i]) {
					t.Errorf("message %d: got %+v, want %+v", i, show(got[i]), show(tc.want[i]))
				}
			}
		})
	}
}

func sameReply(a, b reply) bool {
	return a.kind == b.kind && a.id == b.id && a.errCode == b.errCode && a.code == b.code &&
		string(a.errMsg) == string(b.errMsg) && string(a.channel) == string(b.channel) && string(a.data) == string(b.data)
}

func show(r reply) string {
	return strings.Join([]string{string(rune('0' + r.kind)), string(r.channel), string(r.data), string(r.errMsg)}, "|")
}

func TestDecodeJSONMalformed(t *testing.T) {
	for _, frame := range []string{`{`, `{"id":}`, `{"id":1,}`, `[1]`, `{"push":{"channel":1}}`, `{"id":1}x`, `{"id":-1}`, `{"id":"1"}`, `{"a" 1}`, `{"a":"unterminated}`} {
		if _, err := decodeAll(t, codec.ProtocolJSON, []byte(frame)); !errors.Is(err, errBadJSON) {
			t.Errorf("%q: err %v, want errBadJSON", frame, err)
		}
	}
}

func TestDecodeProtobufMalformed(t *testing.T) {
	for _, frame := range [][]byte{{0x05, 0x08}, {0x80}, {0x02, 0x22, 0x05}, {0x01, 0x07}} {
		if _, err := decodeAll(t, codec.ProtocolProtobuf, frame); !errors.Is(err, errBadProto) {
			t.Errorf("% x: err %v, want errBadProto", frame, err)
		}
	}
}

// TestDecodeMatchesCodec encodes replies with the server's codec and checks that the
// load tool's lean decoder and the codec's own ReplyDecoder read the same thing, in both
// protocols, for frames holding several messages.
func TestDecodeMatchesCodec(t *testing.T) {
	replies := []*codec.Reply{
		nil, // ping
		{ID: 1, Connect: &codec.ConnectResult{Client: "c-1", Version: "0.0.0 OSS", Ping: 25, Pong: true}},
		{ID: 2, Subscribe: &codec.SubscribeResult{Recoverable: true, Epoch: "ep", Offset: 5}},
		{ID: 3, Error: &codec.Error{Code: 103, Message: "permission denied"}},
		{Push: &codec.Push{Channel: "bench", Pub: &codec.Publication{Data: []byte(`{"ts":123,"seq":4,"p":0}`), Offset: 9}}},
		{Push: &codec.Push{Channel: "x", Unsubscribe: &codec.Unsubscribe{Code: 2500, Reason: "r"}}},
		{Push: &codec.Push{Channel: "chat", Join: &codec.Join{Info: codec.ClientInfo{User: "u", Client: "c"}}}},
		{ID: 4, Publish: &codec.PublishResult{}},
	}
	for _, p := range []codec.Protocol{codec.ProtocolJSON, codec.ProtocolProtobuf} {
		t.Run(p.String(), func(t *testing.T) {
			var frame []byte
			for i, r := range replies {
				if p == codec.ProtocolJSON && i > 0 {
					frame = append(frame, '\n')
				}
				var err error
				frame, err = codec.AppendReply(p, frame, r)
				if err != nil {
					t.Fatal(err)
				}
			}
			got, err := decodeAll(t, p, frame)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(got) != len(replies) {
				t.Fatalf("got %d messages, want %d", len(got), len(replies))
			}
			dec := codec.NewReplyDecoder(p)
			dec.Reset(frame)
			for i := range replies {
				var cr codec.Reply
				if err := dec.Decode(&cr); err != nil {
					t.Fatalf("codec decode %d: %v", i, err)
				}
				g := got[i]
				if g.id != cr.ID {
					t.Errorf("%d: id %d, codec %d", i, g.id, cr.ID)
				}
				want := kindOther
				switch {
				case cr.Error != nil:
					want = kindError
					if g.errCode != cr.Error.Code || string(g.errMsg) != cr.Error.Message {
						t.Errorf("%d: error %d %q, codec %d %q", i, g.errCode, g.errMsg, cr.Error.Code, cr.Error.Message)
					}
				case cr.Connect != nil:
					want = kindConnect
				case cr.Subscribe != nil:
					want = kindSubscribe
				case cr.Push != nil:
					if string(g.channel) != cr.Push.Channel {
						t.Errorf("%d: channel %q, codec %q", i, g.channel, cr.Push.Channel)
					}
					switch {
					case cr.Push.Pub != nil:
						want = kindPub
						if string(g.data) != string(cr.Push.Pub.Data) {
							t.Errorf("%d: data %q, codec %q", i, g.data, cr.Push.Pub.Data)
						}
					case cr.Push.Unsubscribe != nil:
						want = kindUnsubscribe
						if g.code != cr.Push.Unsubscribe.Code {
							t.Errorf("%d: code %d, codec %d", i, g.code, cr.Push.Unsubscribe.Code)
						}
					}
				case cr == (codec.Reply{}):
					want = kindPing
				}
				if g.kind != want {
					t.Errorf("%d: kind %d, want %d", i, g.kind, want)
				}
			}
			var cr codec.Reply
			if err := dec.Decode(&cr); err != io.EOF {
				t.Errorf("codec: trailing message or error %v", err)
			}
		})
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{0, 10, 60, 61, 100, 1000} {
		pl := payload{ts: 1763900000123456789, seq: 123456, pub: 7}
		b := appendPayload([]byte("prefix"), pl, size)
		if string(b[:6]) != "prefix" {
			t.Fatal("prefix lost")
		}
		b = b[6:]
		if len(b) < size {
			t.Errorf("size %d: payload %d bytes", size, len(b))
		}
		if size > 60 && len(b) != size {
			t.Errorf("size %d: payload %d bytes, want exact", size, len(b))
		}
		got, ok := parsePayload(b)
		if !ok || got != pl {
			t.Errorf("size %d: parse %+v %v, want %+v (%s)", size, got, ok, pl, b)
		}
	}
	got, ok := parsePayload([]byte(` { "x" : [1,{"y":"}"}], "p":2 , "seq" : 5, "ts":-3 } `))
	if !ok || got != (payload{ts: -3, seq: 5, pub: 2}) {
		t.Errorf("reordered payload: %+v %v", got, ok)
	}
	for _, bad := range []string{`{"ts":1,"seq":2}`, `{"ts":"1","seq":2,"p":0}`, `{"ts":1.5,"seq":2,"p":0}`, `[]`, ``, `{"ts":99999999999999999999,"seq":2,"p":0}`} {
		if _, ok := parsePayload([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	pub, _ := codec.AppendReply(codec.ProtocolJSON, nil, &codec.Reply{Push: &codec.Push{Channel: "bench", Pub: &codec.Publication{Data: appendPayload(nil, payload{ts: 1, seq: 2}, 0)}}})
	pbPub, _ := codec.AppendReply(codec.ProtocolProtobuf, nil, &codec.Reply{Push: &codec.Push{Channel: "bench", Pub: &codec.Publication{Data: appendPayload(nil, payload{ts: 1, seq: 2}, 0)}}})
	var r reply
	for _, tc := range []struct {
		p     codec.Protocol
		frame []byte
	}{{codec.ProtocolJSON, pub}, {codec.ProtocolProtobuf, pbPub}} {
		allocs := testing.AllocsPerRun(100, func() {
			it := frameIter{proto: tc.p, rest: tc.frame}
			for {
				ok, err := it.next(&r)
				if err != nil || !ok {
					break
				}
				if _, ok := parsePayload(r.data); !ok {
					panic("bad payload")
				}
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocs per publication, want 0", tc.p, allocs)
		}
	}
}
