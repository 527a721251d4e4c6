package ws

import "testing"

func BenchmarkParseHeader(b *testing.B) {
	f := clientFrame(true, OpText, make([]byte, 300), [4]byte{1, 2, 3, 4})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseHeader(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutHeader(b *testing.B) {
	var buf [MaxServerHeaderSize]byte
	b.ReportAllocs()
	for b.Loop() {
		PutHeader(buf[:], true, OpText, 70000)
	}
}

func benchUnmask(b *testing.B, n int) {
	p := make([]byte, n)
	key := [4]byte{1, 2, 3, 4}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		Unmask(p, key, 0)
	}
}

func BenchmarkUnmask64(b *testing.B)  { benchUnmask(b, 64) }
func BenchmarkUnmask1K(b *testing.B)  { benchUnmask(b, 1024) }
func BenchmarkUnmask64K(b *testing.B) { benchUnmask(b, 65536) }

func BenchmarkAcceptKey(b *testing.B) {
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendAcceptKey(dst[:0], key)
	}
}
