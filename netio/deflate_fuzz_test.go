package netio

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/rotorhq/rotor/netio/ws"
)

// FuzzInflate: any input either inflates to at most limit bytes or fails with
// errMessageTooBig or errBadDeflate; never a panic or an oversized buffer. The
// input compressed by appendDeflate inflates back to itself.
func FuzzInflate(f *testing.F) {
	f.Add([]byte("hello"), 100)
	f.Add(appendDeflate(nil, bytes.Repeat([]byte("ab"), 1000), 9), 50)
	f.Add([]byte{0x00, 0x00, 0xff, 0xff}, 10)
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, 5)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		limit = 1 + abs(limit)%(1<<16)
		out, err := inflate(data, limit)
		switch {
		case err == nil:
			if len(out.b) > limit {
				t.Fatalf("%d bytes over limit %d", len(out.b), limit)
			}
			putBuf(out)
		case err != errMessageTooBig && err != errBadDeflate:
			t.Fatalf("error %v", err)
		}
		z := appendDeflate(nil, data, 1+len(data)%9)
		back, err := inflate(z, len(data)+1)
		if err != nil || !bytes.Equal(back.b, data) {
			t.Fatalf("round trip: %v", err)
		}
		putBuf(back)
	})
}

func abs(i int) int {
	if i < 0 {
		if i = -i; i < 0 {
			return 0
		}
	}
	return i
}

// FuzzOffersDeflate: the Sec-WebSocket-Extensions parser never panics, and only a
// value naming permessage-deflate can offer it.
func FuzzOffersDeflate(f *testing.F) {
	for _, s := range []string{"permessage-deflate; client_max_window_bits", `a; b="c,\"d"`, "x, permessage-deflate;q=1", ";;,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if offersDeflate(v) && !bytes.Contains(v, []byte("permessage-deflate")) {
			t.Fatalf("%q offers deflate", v)
		}
	})
}

// FuzzCompressedFrameParser is FuzzFrameParser with permessage-deflate negotiated:
// the same events and error whether the stream arrives whole or a byte at a time.
func FuzzCompressedFrameParser(f *testing.F) {
	z := appendDeflate(nil, []byte(`{"id":1,"connect":{}}`), 1)
	c := cframe(true, ws.OpText, z)
	c[0] |= 0x40
	f.Add(c)
	first := cframe(false, ws.OpText, z[:3])
	first[0] |= 0x40
	f.Add(cat(first, cframe(true, ws.OpPing, nil), cframe(true, ws.OpContinuation, z[3:])))
	f.Add(cframe(true, ws.OpBinary, []byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := frameReader{limit: 1024, deflate: true, inflateLimit: 4096}
		want, wantErr := readStreamWith(fr, data, nil)
		ones := make([]int, len(data))
		for i := range ones {
			ones[i] = 1
		}
		got, err := readStreamWith(fr, data, ones)
		if err != wantErr || !reflect.DeepEqual(got, want) {
			t.Fatalf("byte by byte: %v %v, whole: %v %v", got, err, want, wantErr)
		}
		for _, e := range got {
			if len(e.payload) > 4096 {
				t.Fatalf("%d-byte message over the inflate limit", len(e.payload))
			}
		}
	})
}
