package redis

import (
	"bytes"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rotorhq/rotor/codec"
)

// pbPub is a Publication encoded the way centrifuge's MarshalVT does it
// (ascending field numbers, empty fields left out): data {"x":1}, info
// {user u1, client c1}, tags {k:v}, time 7.
var pbPub = string([]byte{
	0x22, 0x07, '{', '"', 'x', '"', ':', '1', '}', // 4: data
	0x2a, 0x08, 0x0a, 0x02, 'u', '1', 0x12, 0x02, 'c', '1', // 5: info
	0x3a, 0x06, 0x0a, 0x01, 'k', 0x12, 0x01, 'v', // 7: tags entry
	0x48, 0x07, // 9: time
})

// pbPrev is the previous Publication of a delta envelope: data {"x":0}.
var pbPrev = string([]byte{0x22, 0x07, '{', '"', 'x', '"', ':', '0', '}'})

// pbInfo is a ClientInfo: user u1, client c1, conn_info {}, chan_info [].
var pbInfo = string([]byte{0x0a, 0x02, 'u', '1', 0x12, 0x02, 'c', '1', 0x1a, 0x02, '{', '}', 0x22, 0x02, '[', ']'})

// The envelopes below are built exactly as centrifuge writes them: the Lua
// of broker_history_add_stream.lua / _list.lua ("__" .. "p1:" .. top_offset ..
// ":" .. current_epoch .. "__" .. payload, and the d1 variant with #lengths),
// and publishJoin/publishLeave (append("__j__"/"__l__", info...)).
func TestParseEnvelopeCentrifugoBytes(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want envelope
	}{
		{"raw", pbPub, envelope{kind: envPublication, payload: pbPub}},
		{"p1", "__p1:42:AbCd__" + pbPub, envelope{kind: envPublication, payload: pbPub, offset: 42, epoch: "AbCd"}},
		{"p1 epoch with colon", "__p1:1:a:b__" + pbPub, envelope{kind: envPublication, payload: pbPub, offset: 1, epoch: "a:b"}},
		{"d1", "__d1:43:AbCd:" + strconv.Itoa(len(pbPrev)) + ":" + pbPrev + ":" + strconv.Itoa(len(pbPub)) + ":" + pbPub,
			envelope{kind: envPublication, payload: pbPub, prev: pbPrev, offset: 43, epoch: "AbCd", delta: true}},
		{"d1 first in epoch", "__d1:1:AbCd:0::" + strconv.Itoa(len(pbPub)) + ":" + pbPub,
			envelope{kind: envPublication, payload: pbPub, offset: 1, epoch: "AbCd", delta: true}},
		{"d1 payload with colons", "__d1:2:e:3:a:b:4:c:d:",
			envelope{kind: envPublication, payload: "c:d:", prev: "a:b", offset: 2, epoch: "e", delta: true}},
		{"join", "__j__" + pbInfo, envelope{kind: envJoin, payload: pbInfo}},
		{"leave", "__l__" + pbInfo, envelope{kind: envLeave, payload: pbInfo}},
		{"empty raw", "", envelope{kind: envPublication}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e envelope
			if err := parseEnvelope(tt.msg, &e); err != nil {
				t.Fatal(err)
			}
			if e != tt.want {
				t.Fatalf("got %+v\nwant %+v", e, tt.want)
			}
		})
	}
}

func TestParseEnvelopeRejects(t *testing.T) {
	for _, msg := range []string{
		"__", "__x", "__p", "__p1", "__p1:__x", "__p:1:e__x", "__p1:1e__x", "__p1::e__x", "__p1:-1:e__x",
		"__p1:18446744073709551616:e__x", "__px:1:e__x", "__j", "__l", "___j", "__d1", "__d1:1:e",
		"__d1:1:e:5:ab:1:x", "__d1:1:e:2:ab", "__d1:1:e:2:ab:", "__d1:1:e:2:abX1:x", "__d1:1:e:-1::1:x",
		"__d1:1:e:0::5:x", "__d1:x:e:0::1:x", "__d2:1:e:0::1:x",
	} {
		var e envelope
		if err := parseEnvelope(msg, &e); err == nil {
			t.Errorf("%q: accepted as %+v", msg, e)
		}
	}
}

func TestDecodePublication(t *testing.T) {
	var d decoded
	if err := decodePublication(pbPub, &d.pub, &d.info, &d.tags); err != nil {
		t.Fatal(err)
	}
	p := d.pub
	if string(p.Data) != `{"x":1}` || p.Info == nil || p.Info.User != "u1" || p.Info.Client != "c1" ||
		p.Tags["k"] != "v" || len(p.Tags) != 1 || p.Time != 7 {
		t.Fatalf("%+v %+v", p, p.Info)
	}
	// Reuse: a second decode of a publication without info or tags clears them.
	if err := decodePublication(pbPrev, &d.pub, &d.info, &d.tags); err != nil {
		t.Fatal(err)
	}
	if d.pub.Info != nil || d.pub.Tags != nil || string(d.pub.Data) != `{"x":0}` {
		t.Fatalf("%+v", d.pub)
	}
	var ci codec.ClientInfo
	if err := decodeClientInfo(pbInfo, &ci); err != nil {
		t.Fatal(err)
	}
	if ci.User != "u1" || ci.Client != "c1" || string(ci.ConnInfo) != "{}" || string(ci.ChanInfo) != "[]" {
		t.Fatalf("%+v", ci)
	}
	if got := string(codec.AppendClientInfoProto(nil, &ci)); got != pbInfo {
		t.Fatalf("AppendClientInfoProto = %x, want %x", got, pbInfo)
	}
	for _, bad := range []string{"\x22\x09abc", "\x2a\x03\x0a\x05x", "\xff"} {
		if err := decodePublication(bad, &d.pub, &d.info, &d.tags); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

// recordingHandler copies what it is given (the arguments are views).
type recordingHandler struct {
	pubs   []recPub
	joins  []codec.ClientInfo
	leaves []codec.ClientInfo
}

type recPub struct {
	ch    string
	data  string
	sp    codec.StreamPosition
	delta bool
	prev  string
	user  string
	tags  map[string]string
}

func (h *recordingHandler) HandlePublication(ch string, pub *codec.Publication, sp codec.StreamPosition, delta bool, prev *codec.Publication) error {
	r := recPub{ch: ch, data: string(pub.Data), sp: codec.StreamPosition{Offset: sp.Offset, Epoch: string([]byte(sp.Epoch))}, delta: delta}
	if prev != nil {
		r.prev = string(prev.Data)
	}
	if pub.Info != nil {
		r.user = string([]byte(pub.Info.User))
	}
	if len(pub.Tags) > 0 {
		r.tags = map[string]string{}
		for k, v := range pub.Tags {
			r.tags[string([]byte(k))] = string([]byte(v))
		}
	}
	h.pubs = append(h.pubs, r)
	return nil
}

func (h *recordingHandler) HandleJoin(ch string, info *codec.ClientInfo) error {
	h.joins = append(h.joins, codec.ClientInfo{User: string([]byte(info.User)), Client: string([]byte(info.Client))})
	return nil
}

func (h *recordingHandler) HandleStreamGap(string) {}

func (h *recordingHandler) HandleLeave(ch string, info *codec.ClientInfo) error {
	h.leaves = append(h.leaves, codec.ClientInfo{User: string([]byte(info.User)), Client: string([]byte(info.Client))})
	return nil
}

func TestDeliver(t *testing.T) {
	var h recordingHandler
	var e envelope
	var d decoded
	msgs := []string{
		"__p1:42:AbCd__" + pbPub,
		"__d1:43:AbCd:" + strconv.Itoa(len(pbPrev)) + ":" + pbPrev + ":" + strconv.Itoa(len(pbPub)) + ":" + pbPub,
		pbPub,
		"__j__" + pbInfo,
		"__l__" + pbInfo,
	}
	for _, m := range msgs {
		if err := deliver(&h, "news", m, &e, &d); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.pubs) != 3 || len(h.joins) != 1 || len(h.leaves) != 1 {
		t.Fatalf("%+v", h)
	}
	p := h.pubs[0]
	if p.ch != "news" || p.data != `{"x":1}` || p.sp != (codec.StreamPosition{Offset: 42, Epoch: "AbCd"}) || p.delta || p.user != "u1" || p.tags["k"] != "v" {
		t.Fatalf("p1: %+v", p)
	}
	p = h.pubs[1]
	if p.sp != (codec.StreamPosition{Offset: 43, Epoch: "AbCd"}) || !p.delta || p.prev != `{"x":0}` {
		t.Fatalf("d1: %+v", p)
	}
	p = h.pubs[2]
	if p.sp != (codec.StreamPosition{}) || p.delta || p.data != `{"x":1}` {
		t.Fatalf("raw: %+v", p)
	}
	if h.joins[0].User != "u1" || h.leaves[0].Client != "c1" {
		t.Fatalf("%+v", h)
	}
	// Without history the delta flag and previous data travel in the Publication.
	raw := protowire.AppendTag(nil, 4, protowire.BytesType)
	raw = protowire.AppendString(raw, "b")
	raw = protowire.AppendTag(raw, 8, protowire.VarintType)
	raw = protowire.AppendVarint(raw, 1)
	raw = protowire.AppendTag(raw, 15, protowire.BytesType)
	raw = protowire.AppendString(raw, "a")
	h.pubs = nil
	if err := deliver(&h, "news", string(raw), &e, &d); err != nil {
		t.Fatal(err)
	}
	if p := h.pubs[0]; !p.delta || p.prev != "a" || p.data != "b" {
		t.Fatalf("%+v", p)
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add("__p1:42:AbCd__" + pbPub)
	f.Add("__d1:43:AbCd:" + strconv.Itoa(len(pbPrev)) + ":" + pbPrev + ":" + strconv.Itoa(len(pbPub)) + ":" + pbPub)
	f.Add("__j__" + pbInfo)
	f.Add("__l__" + pbInfo)
	f.Add(pbPub)
	f.Add("__d1:1:e:0::1:x")
	f.Fuzz(func(t *testing.T, msg string) {
		var e envelope
		if err := parseEnvelope(msg, &e); err != nil {
			return
		}
		// Every accepted envelope's parts are pieces of msg, and a rebuilt
		// envelope parses to the same thing.
		var rebuilt string
		switch {
		case e.kind == envJoin || e.kind == envLeave:
			if !bytes.HasSuffix([]byte(msg), []byte(e.payload)) {
				t.Fatalf("payload not a suffix")
			}
			return
		case e.delta:
			rebuilt = "__d1:" + strconv.FormatUint(e.offset, 10) + ":" + e.epoch + ":" + strconv.Itoa(len(e.prev)) + ":" + e.prev + ":" + strconv.Itoa(len(e.payload)) + ":" + e.payload
		case msg != e.payload:
			rebuilt = "__p1:" + strconv.FormatUint(e.offset, 10) + ":" + e.epoch + "__" + e.payload
		default:
			return
		}
		var e2 envelope
		if err := parseEnvelope(rebuilt, &e2); err != nil {
			t.Fatalf("rebuilt %q: %v", rebuilt, err)
		}
		if e2 != e {
			t.Fatalf("%+v != %+v", e2, e)
		}
		var d decoded
		var h recordingHandler
		_ = deliver(&h, "ch", msg, &e, &d)
	})
}

func FuzzDecodePublication(f *testing.F) {
	f.Add(pbPub)
	f.Add(pbPrev)
	f.Add(pbInfo)
	f.Fuzz(func(t *testing.T, b string) {
		var d decoded
		if err := decodePublication(b, &d.pub, &d.info, &d.tags); err != nil {
			return
		}
		if d.pub.Info != nil && d.pub.Info != &d.info {
			t.Fatal("info not reused")
		}
		var ci codec.ClientInfo
		if decodeClientInfo(b, &ci) == nil {
			// Re-encoding the decoded info and decoding again is stable.
			var ci2 codec.ClientInfo
			if err := decodeClientInfo(string(codec.AppendClientInfoProto(nil, &ci)), &ci2); err != nil {
				t.Fatal(err)
			}
			if ci.User != ci2.User || ci.Client != ci2.Client || !bytes.Equal(ci.ConnInfo, ci2.ConnInfo) || !bytes.Equal(ci.ChanInfo, ci2.ChanInfo) {
				t.Fatalf("%+v != %+v", ci, ci2)
			}
		}
	})
}
