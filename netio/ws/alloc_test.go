//go:build !race

package ws

import "testing"

func TestAllocs(t *testing.T) {
	f := clientFrame(true, OpText, make([]byte, 1000), [4]byte{1, 2, 3, 4})
	var hdr [MaxServerHeaderSize]byte
	p := make([]byte, 1000)
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	dst := make([]byte, 0, 64)
	cases := map[string]func(){
		"ParseHeader": func() { _, _, _ = ParseHeader(f) },
		"PutHeader":   func() { PutHeader(hdr[:], true, OpBinary, 70000) },
		"Unmask":      func() { Unmask(p, [4]byte{9, 8, 7, 6}, 1) },
		"AcceptKey":   func() { dst = AppendAcceptKey(dst[:0], key) },
		"ValidKey":    func() { ValidKey(key) },
		"AppendClose": func() { dst = AppendClose(dst[:0], 3001, "shutdown") },
		"ParseClose":  func() { _, _, _ = ParseClose([]byte("\x0b\xb9arrêt")) },
	}
	for name, f := range cases {
		f()
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
