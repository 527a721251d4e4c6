package netio

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/netio/ws"
)

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func TestFrameReader(t *testing.T) {
	big := strings.Repeat("a", 70000)
	mid := strings.Repeat("b", 300)
	tests := []struct {
		name  string
		limit int
		in    []byte
		want  []event
		err   error
	}{
		{
			name: "text", limit: 1024,
			in:   cframe(true, ws.OpText, []byte("hello")),
			want: []event{{evMessage, ws.OpText, "hello"}},
		},
		{
			name: "binary and empty", limit: 1024,
			in:   cat(cframe(true, ws.OpBinary, []byte{0, 1, 2}), cframe(true, ws.OpText, nil)),
			want: []event{{evMessage, ws.OpBinary, "\x00\x01\x02"}, {evMessage, ws.OpText, ""}},
		},
		{
			name: "fragmented", limit: 1024,
			in: cat(cframe(false, ws.OpText, []byte("he")), cframe(false, ws.OpContinuation, []byte("l")),
				cframe(false, ws.OpContinuation, nil), cframe(true, ws.OpContinuation, []byte("lo"))),
			want: []event{{evMessage, ws.OpText, "hello"}},
		},
		{
			name: "control frames between fragments", limit: 1024,
			in: cat(cframe(false, ws.OpBinary, []byte("ab")), cframe(true, ws.OpPing, []byte("p1")),
				cframe(false, ws.OpContinuation, []byte("cd")), cframe(true, ws.OpPong, nil),
				cframe(true, ws.OpContinuation, []byte("ef")), cframe(true, ws.OpText, []byte("next"))),
			want: []event{{evControl, ws.OpPing, "p1"}, {evControl, ws.OpPong, ""},
				{evMessage, ws.OpBinary, "abcdef"}, {evMessage, ws.OpText, "next"}},
		},
		{
			name: "16-bit length", limit: 1024,
			in:   cframe(true, ws.OpText, []byte(mid)),
			want: []event{{evMessage, ws.OpText, mid}},
		},
		{
			name: "64-bit length", limit: 100000,
			in:   cframe(true, ws.OpBinary, []byte(big)),
			want: []event{{evMessage, ws.OpBinary, big}},
		},
		{
			name: "exactly at limit", limit: 300,
			in:   cframe(true, ws.OpText, []byte(mid)),
			want: []event{{evMessage, ws.OpText, mid}},
		},
		{
			name: "over limit in one frame", limit: 299,
			in:   cframe(true, ws.OpText, []byte(mid)),
			want: []event{{kind: evTooBig}},
		},
		{
			name: "over limit across fragments", limit: 5,
			in:   cat(cframe(false, ws.OpText, []byte("abc")), cframe(true, ws.OpContinuation, []byte("def"))),
			want: []event{{kind: evTooBig}},
		},
		{
			name: "64-bit length over limit, then close", limit: 65536,
			in:   cat(cframe(true, ws.OpBinary, []byte(big)), cframe(true, ws.OpClose, []byte{0x03, 0xE8})),
			want: []event{{kind: evTooBig}, {evControl, ws.OpClose, "\x03\xe8"}},
		},
		{
			name: "oversized fragment is skipped with its continuations", limit: 100,
			in: cat(cframe(false, ws.OpText, []byte(mid)), cframe(true, ws.OpPing, []byte("p")),
				cframe(false, ws.OpContinuation, []byte("x")), cframe(true, ws.OpContinuation, []byte(mid)),
				cframe(true, ws.OpText, []byte("after"))),
			want: []event{{kind: evTooBig}, {evControl, ws.OpPing, "p"}, {evMessage, ws.OpText, "after"}},
		},
		{
			name: "oversized middle fragment", limit: 100,
			in: cat(cframe(false, ws.OpText, []byte("ab")), cframe(false, ws.OpContinuation, []byte(mid)),
				cframe(true, ws.OpContinuation, []byte("x")), cframe(true, ws.OpText, []byte("after"))),
			want: []event{{kind: evTooBig}, {evMessage, ws.OpText, "after"}},
		},
		{
			name: "length beyond skipping", limit: 100,
			in:  []byte{0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF9, 1, 2, 3, 4},
			err: errFrameTooLong,
		},
		{
			name: "data frame while discarding", limit: 100,
			in:   cat(cframe(false, ws.OpText, []byte(mid)), cframe(true, ws.OpText, []byte("x"))),
			want: []event{{kind: evTooBig}},
			err:  errBadFragment,
		},
		{
			name: "close", limit: 1024,
			in:   cframe(true, ws.OpClose, []byte{0x03, 0xE8, 'b', 'y', 'e'}),
			want: []event{{evControl, ws.OpClose, "\x03\xe8bye"}},
		},
		{
			name: "unmasked", limit: 1024,
			in:  cframeKey(true, ws.OpText, []byte("x"), [4]byte{}, false),
			err: errUnmasked,
		},
		{
			name: "continuation without start", limit: 1024,
			in:  cframe(true, ws.OpContinuation, []byte("x")),
			err: errBadFragment,
		},
		{
			name: "data frame inside fragmented message", limit: 1024,
			in:  cat(cframe(false, ws.OpText, []byte("a")), cframe(true, ws.OpText, []byte("b"))),
			err: errBadFragment,
		},
		{
			name: "fragmented ping", limit: 1024,
			in:  cframe(false, ws.OpPing, nil),
			err: ws.ErrControlFragmented,
		},
		{
			name: "long ping", limit: 1024,
			in:  cframe(true, ws.OpPing, make([]byte, 126)),
			err: ws.ErrControlTooLong,
		},
		{
			name: "reserved bits", limit: 1024,
			in:  []byte{0xC1, 0x80, 0, 0, 0, 0},
			err: ws.ErrReservedBits,
		},
		{
			name: "reserved opcode", limit: 1024,
			in:  []byte{0x83, 0x80, 0, 0, 0, 0},
			err: ws.ErrReservedOpcode,
		},
		{
			name: "text with multi-byte characters", limit: 1024,
			in:   cframe(true, ws.OpText, []byte("héllo ✓ 😀")),
			want: []event{{evMessage, ws.OpText, "héllo ✓ 😀"}},
		},
		{
			name: "invalid utf-8 text after a valid one", limit: 1024,
			in:   cat(cframe(true, ws.OpText, []byte("ok")), cframe(true, ws.OpText, []byte{'a', 0xFF, 'b'})),
			want: []event{{evMessage, ws.OpText, "ok"}},
			err:  errInvalidUTF8,
		},
		{
			name: "overlong encoding", limit: 1024,
			in:  cframe(true, ws.OpText, []byte{0xC0, 0xAF}),
			err: errInvalidUTF8,
		},
		{
			name: "utf-16 surrogate", limit: 1024,
			in:  cframe(true, ws.OpText, []byte{0xED, 0xA0, 0x80}),
			err: errInvalidUTF8,
		},
		{
			name: "invalid bytes in binary message", limit: 1024,
			in:   cframe(true, ws.OpBinary, []byte{0xFF, 0xC0}),
			want: []event{{evMessage, ws.OpBinary, "\xff\xc0"}},
		},
		{
			// "✓" is E2 9C 93: fragments may split a character.
			name: "character split across fragments", limit: 1024,
			in: cat(cframe(false, ws.OpText, []byte{'a', 0xE2}), cframe(false, ws.OpContinuation, []byte{0x9C}),
				cframe(true, ws.OpPing, nil), cframe(true, ws.OpContinuation, []byte{0x93, 'b'})),
			want: []event{{evControl, ws.OpPing, ""}, {evMessage, ws.OpText, "a✓b"}},
		},
		{
			name: "fragmented text ending inside a character", limit: 1024,
			in:  cat(cframe(false, ws.OpText, []byte("ab")), cframe(true, ws.OpContinuation, []byte{'c', 0xE2, 0x9C})),
			err: errInvalidUTF8,
		},
		{
			name: "fragmented text with an invalid byte", limit: 1024,
			in:  cat(cframe(false, ws.OpText, []byte{0xFF}), cframe(true, ws.OpContinuation, []byte("ok"))),
			err: errInvalidUTF8,
		},
		{
			name: "fragmented binary ending inside a character", limit: 1024,
			in:   cat(cframe(false, ws.OpBinary, []byte("ab")), cframe(true, ws.OpContinuation, []byte{0xE2})),
			want: []event{{evMessage, ws.OpBinary, "ab\xe2"}},
		},
		{
			name: "truncated", limit: 1024,
			in:   cat(cframe(true, ws.OpText, []byte("ok")), cframe(true, ws.OpText, []byte("cut"))[:5]),
			want: []event{{evMessage, ws.OpText, "ok"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			splits := [][]int{nil, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {3}, {7, 2}}
			for _, chunks := range splits {
				got, err := readStream(tt.limit, tt.in, chunks)
				if !errors.Is(err, tt.err) {
					t.Fatalf("chunks %v: err %v, want %v", chunks, err, tt.err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("chunks %v: got %v, want %v", chunks, got, tt.want)
				}
			}
		})
	}
}

func TestCloseCodeFor(t *testing.T) {
	if closeCodeFor(errMessageTooBig) != 1009 || closeCodeFor(errUnmasked) != 1002 || closeCodeFor(errFrameTooLong) != 1009 ||
		closeCodeFor(ws.ErrReservedBits) != 1002 || closeCodeFor(errInvalidUTF8) != 1007 ||
		closeCodeFor(ws.ErrInvalidUTF8) != 1007 || closeCodeFor(ws.ErrBadClosePayload) != 1002 {
		t.Fatal("wrong close codes")
	}
}
