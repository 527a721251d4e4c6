package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// clientFrame builds a masked client frame the way a browser would.
func clientFrame(fin bool, op Opcode, payload []byte, key [4]byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, 0x80|byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, key[:]...)
	masked := append([]byte(nil), payload...)
	for i := range masked {
		masked[i] ^= key[i&3]
	}
	return append(out, masked...)
}

func TestParseHeaderLengths(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
		payload := bytes.Repeat([]byte{'x'}, n)
		f := clientFrame(true, OpBinary, payload, key)
		h, hn, err := ParseHeader(f)
		if err != nil {
			t.Fatalf("len %d: %v", n, err)
		}
		wantHN := 6
		if n > 125 {
			wantHN = 8
		}
		if n > 65535 {
			wantHN = 14
		}
		if hn != wantHN || h.Length != int64(n) || !h.Fin || h.Op != OpBinary || !h.Masked || h.Mask != key {
			t.Fatalf("len %d: got %+v hn=%d", n, h, hn)
		}
		p := append([]byte(nil), f[hn:]...)
		Unmask(p, h.Mask, 0)
		if !bytes.Equal(p, payload) {
			t.Fatalf("len %d: unmask mismatch", n)
		}
		// Every strict prefix of the header is incomplete and asks for more.
		for i := 0; i < hn; i++ {
			_, need, err := ParseHeader(f[:i])
			if !errors.Is(err, ErrIncomplete) || need <= i || need > hn {
				t.Fatalf("len %d prefix %d: need=%d err=%v", n, i, need, err)
			}
		}
	}
}

func TestParseHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"rsv2", []byte{0x80 | 0x20 | 0x1, 0x80}, ErrReservedBits},
		{"rsv3", []byte{0x80 | 0x10 | 0x1, 0x80}, ErrReservedBits},
		{"opcode 3", []byte{0x83, 0x80}, ErrReservedOpcode},
		{"opcode 0xB", []byte{0x8B, 0x80}, ErrReservedOpcode},
		{"fragmented ping", []byte{0x09, 0x80}, ErrControlFragmented},
		{"long ping", []byte{0x89, 0x80 | 126, 0, 126}, ErrControlTooLong},
		{"long close", []byte{0x88, 0x80 | 127}, ErrControlTooLong},
		{"64-bit msb", []byte{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, ErrLengthOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseHeader(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseHeaderUnmasked(t *testing.T) {
	h, n, err := ParseHeader([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'})
	if err != nil || n != 2 || h.Masked || h.Length != 5 {
		t.Fatalf("got %+v n=%d err=%v", h, n, err)
	}
}

func TestPutHeaderRoundTrip(t *testing.T) {
	for _, n := range []int{0, 5, 125, 126, 65535, 65536, 3 << 20} {
		for _, op := range []Opcode{OpText, OpBinary, OpContinuation} {
			var buf [MaxServerHeaderSize]byte
			hn := PutHeader(buf[:], n%2 == 0, op, n)
			if hn != HeaderSize(n) {
				t.Fatalf("n=%d: size %d want %d", n, hn, HeaderSize(n))
			}
			h, pn, err := ParseHeader(buf[:hn])
			if err != nil || pn != hn || h.Length != int64(n) || h.Op != op || h.Fin != (n%2 == 0) || h.Masked {
				t.Fatalf("n=%d op=%d: %+v pn=%d err=%v", n, op, h, pn, err)
			}
			if got := AppendHeader(nil, n%2 == 0, op, n); !bytes.Equal(got, buf[:hn]) {
				t.Fatalf("AppendHeader differs")
			}
		}
	}
	if PutHeader(make([]byte, 1), true, OpText, 0) != 0 {
		t.Fatal("short dst must give 0")
	}
}

func TestUnmaskOffsets(t *testing.T) {
	key := [4]byte{0xA1, 0xB2, 0xC3, 0xD4}
	for n := 0; n < 100; n++ {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i * 7)
		}
		want := append([]byte(nil), src...)
		for i := range want {
			want[i] ^= key[i&3]
		}
		// Whole.
		got := append([]byte(nil), src...)
		if pos := Unmask(got, key, 0); pos != n&3 {
			t.Fatalf("pos %d", pos)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("n=%d whole mismatch", n)
		}
		// In two pieces at every split point.
		for split := 0; split <= n; split++ {
			got := append([]byte(nil), src...)
			pos := Unmask(got[:split], key, 0)
			Unmask(got[split:], key, pos)
			if !bytes.Equal(got, want) {
				t.Fatalf("n=%d split=%d mismatch", n, split)
			}
		}
	}
}

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455 §1.3.
	got := AppendAcceptKey(nil, []byte("dGhlIHNhbXBsZSBub25jZQ=="))
	if string(got) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("got %q", got)
	}
	if !ValidKey([]byte("dGhlIHNhbXBsZSBub25jZQ==")) {
		t.Fatal("valid key rejected")
	}
	for _, k := range []string{"", "abc", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZ===", "dGhlIHNhbXBsZSBub25j!Q=="} {
		if ValidKey([]byte(k)) {
			t.Fatalf("invalid key %q accepted", k)
		}
	}
}

func TestClosePayload(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		code    uint16
		reason  string
		err     bool
	}{
		{"empty", nil, CloseNoStatus, "", false},
		{"one byte", []byte{3}, 0, "", true},
		{"normal", []byte{0x03, 0xE8}, 1000, "", false},
		{"app code", append([]byte{0x0B, 0xB9}, "shutdown"...), 3001, "shutdown", false},
		{"1005 on wire", []byte{0x03, 0xED}, 0, "", true},
		{"1006 on wire", []byte{0x03, 0xEE}, 0, "", true},
		{"999", []byte{0x03, 0xE7}, 0, "", true},
		{"5000", []byte{0x13, 0x88}, 0, "", true},
		{"4999", []byte{0x13, 0x87}, 4999, "", false},
		{"utf-8 reason", append([]byte{0x0B, 0xB9}, "arrêt ✓"...), 3001, "arrêt ✓", false},
		{"invalid utf-8 reason", []byte{0x0B, 0xB9, 'o', 0xC3, 0x28}, 3001, "", true},
		{"truncated utf-8 reason", []byte{0x0B, 0xB9, 0xE2, 0x9C}, 3001, "", true},
		{"surrogate in reason", []byte{0x03, 0xE8, 0xED, 0xA0, 0x80}, 1000, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := ParseClose(tt.payload)
			if (err != nil) != tt.err || code != tt.code || string(reason) != tt.reason {
				t.Fatalf("got %d %q %v", code, reason, err)
			}
		})
	}
}

func TestAppendClose(t *testing.T) {
	f := AppendClose(nil, 3008, "slow")
	h, n, err := ParseHeader(f)
	if err != nil || h.Op != OpClose || !h.Fin || h.Length != 6 || n != 2 {
		t.Fatalf("%+v %v", h, err)
	}
	code, reason, err := ParseClose(f[n:])
	if err != nil || code != 3008 || string(reason) != "slow" {
		t.Fatalf("%d %q %v", code, reason, err)
	}
	if len(f) != CloseFrameSize(3008, 4) {
		t.Fatal("CloseFrameSize")
	}
	long := string(bytes.Repeat([]byte{'r'}, 200))
	f = AppendClose(nil, 4000, long)
	if len(f) != 2+MaxControlPayload || len(f) != CloseFrameSize(4000, 200) {
		t.Fatalf("long reason not cut: %d", len(f))
	}
	// A reason cut at the limit keeps its last character whole.
	for pad := 0; pad < 4; pad++ {
		r := strings.Repeat("r", 120+pad) + "✓✓"
		f = AppendClose(nil, 4000, r)
		code, reason, err := ParseClose(f[2:])
		if err != nil || code != 4000 || len(reason) > MaxCloseReason || !strings.HasPrefix(r, string(reason)) ||
			len(f) > CloseFrameSize(4000, len(r)) {
			t.Fatalf("pad %d: cut reason %q: %v", pad, reason, err)
		}
	}
	if f := AppendClose(nil, CloseNoStatus, "x"); !bytes.Equal(f, []byte{0x88, 0}) {
		t.Fatalf("empty close: %x", f)
	}
	p := AppendControl(nil, OpPong, bytes.Repeat([]byte{1}, 130))
	if len(p) != 2+MaxControlPayload || p[0] != 0x8A {
		t.Fatalf("pong: %x", p[:2])
	}
}

// FuzzClose checks ParseClose and AppendClose together: an accepted payload has a
// valid code and a UTF-8 reason and survives a round trip; AppendClose never
// writes a payload ParseClose refuses, whatever reason it is given.
func FuzzClose(f *testing.F) {
	f.Add([]byte{0x03, 0xE8}, "bye")
	f.Add([]byte{0x0B, 0xB9, 0xE2, 0x9C}, "a"+strings.Repeat("✓", 60))
	f.Add([]byte{0x03}, "")
	f.Fuzz(func(t *testing.T, p []byte, reason string) {
		code, r, err := ParseClose(p)
		if err == nil && code != CloseNoStatus {
			if !ValidCloseCode(code) || !utf8.Valid(r) {
				t.Fatalf("accepted %x", p)
			}
			f := AppendClose(nil, code, string(r))
			if len(r) <= MaxCloseReason && !bytes.Equal(f[2:], p) {
				t.Fatalf("round trip %x → %x", p, f)
			}
		}
		if !utf8.ValidString(reason) {
			return // a server never sends an invalid reason of its own making
		}
		f := AppendClose(nil, 3001, reason)
		if c, r2, err := ParseClose(f[2:]); err != nil || c != 3001 || !strings.HasPrefix(reason, string(r2)) {
			t.Fatalf("AppendClose(%q) → %x: %v", reason, f, err)
		}
	})
}

func TestParseHeaderRsv1(t *testing.T) {
	h, _, err := ParseHeader([]byte{0x80 | 0x40 | 0x1, 0x80, 1, 2, 3, 4})
	if err != nil || !h.Rsv1 {
		t.Fatalf("rsv1 frame: %+v %v", h, err)
	}
	var b [MaxServerHeaderSize]byte
	n := PutCompressedHeader(b[:], OpBinary, 300)
	h, hn, err := ParseHeader(b[:n])
	if err != nil || hn != n || !h.Rsv1 || !h.Fin || h.Op != OpBinary || h.Length != 300 {
		t.Fatalf("compressed header: %+v %d %v", h, hn, err)
	}
}
