package codec

import (
	"encoding/hex"
	"reflect"
	"testing"
)

// The golden values are what github.com/centrifugal/protocol v0.23.1 (the version
// centrifuge v0.40.1 uses) produces with MarshalCF for the same messages: the bytes
// Centrifugo writes into Redis.
const (
	goldenPublicationHex = "22077b2261223a317d2a1a0a027531120263311a077b2278223a317d22077b2279223a327d3a060a016b12017640014880d095ffbc315a036b6579800107"
	goldenClientInfoHex  = "0a027531120263311a077b2278223a317d"
)

func goldenPublication() *Publication {
	return &Publication{
		Data:    []byte(`{"a":1}`),
		Info:    &ClientInfo{User: "u1", Client: "c1", ConnInfo: []byte(`{"x":1}`), ChanInfo: []byte(`{"y":2}`)},
		Tags:    map[string]string{"k": "v"},
		Time:    1700000000000,
		Delta:   true,
		Version: 7,
		Key:     "key",
	}
}

func TestPublicationProtoGolden(t *testing.T) {
	p := goldenPublication()
	got := AppendPublicationProto(nil, p)
	if hex.EncodeToString(got) != goldenPublicationHex {
		t.Fatalf("encoding\n got %x\nwant %s", got, goldenPublicationHex)
	}
	if n := PublicationProtoSize(p); n != len(got) {
		t.Fatalf("PublicationProtoSize = %d, encoded %d", n, len(got))
	}
	b, _ := hex.DecodeString(goldenPublicationHex)
	var dec Publication
	if err := DecodePublicationProto(b, &dec); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&dec, p) {
		t.Fatalf("decoded %+v, want %+v", dec, *p)
	}
	if err := DecodePublicationProto([]byte{0x22, 0x05, 'a'}, &dec); err == nil {
		t.Fatal("truncated Publication decoded without error")
	}
}

func TestClientInfoProtoGolden(t *testing.T) {
	ci := &ClientInfo{User: "u1", Client: "c1", ConnInfo: []byte(`{"x":1}`)}
	got := AppendClientInfoProto([]byte("__j__"), ci)
	if string(got[:5]) != "__j__" || hex.EncodeToString(got[5:]) != goldenClientInfoHex {
		t.Fatalf("encoding %x", got)
	}
	var dec ClientInfo
	if err := DecodeClientInfoProto(got[5:], &dec); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&dec, ci) {
		t.Fatalf("decoded %+v", dec)
	}
}
