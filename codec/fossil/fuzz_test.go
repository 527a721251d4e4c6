package fossil

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func FuzzApply(f *testing.F) {
	f.Add([]byte("abcdefghijklmnopqrstuvwxyz"), []byte("4\n2@0,2:cd"+string(appendInt(nil, uint64(checksum([]byte("abcd")))))+";"))
	f.Add([]byte(""), []byte("0\n0;"))
	f.Add([]byte("x"), []byte("3~~~~~\n1@0,"))
	f.Add([]byte("hello world hello world"), Create([]byte("hello world hello world"), []byte("hello brave new world hello world")))
	f.Fuzz(func(t *testing.T, src, delta []byte) {
		out, err := Apply(src, delta)
		if err != nil {
			if out != nil {
				t.Fatalf("non-nil output with error %v", err)
			}
			return
		}
		n, err := OutputSize(delta)
		if err != nil || n != len(out) {
			t.Fatalf("Apply succeeded with %d bytes but OutputSize = %d, %v", len(out), n, err)
		}
		if checksum(out) != checksumOf(t, delta) {
			t.Fatalf("accepted output with a different checksum")
		}
	})
}

// checksumOf re-parses the trailer of a delta that Apply accepted.
func checksumOf(t *testing.T, delta []byte) uint32 {
	t.Helper()
	_, i, _ := readInt(delta, 0)
	i++
	for {
		cnt, j, err := readInt(delta, i)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		op := delta[j]
		i = j + 1
		switch op {
		case '@':
			_, i, _ = readInt(delta, i)
			i++
		case ':':
			i += int(cnt)
		case ';':
			return uint32(cnt)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(""), []byte(""))
	f.Add([]byte(`{"a":1,"b":"hello world, a longer string value"}`), []byte(`{"a":2,"b":"hello world, a longer string value!"}`))
	f.Add([]byte("héllo wörld héllo wörld héllo wörld"), []byte("héllo wèrld héllo wörld héllo wörld"))
	f.Add(bytes.Repeat([]byte("ab"), 40), bytes.Repeat([]byte("ba"), 41))
	f.Fuzz(func(t *testing.T, src, target []byte) {
		d := Create(src, target)
		out, err := Apply(src, d)
		if err != nil {
			t.Fatalf("Apply(Create): %v; delta %q", err, d)
		}
		if !bytes.Equal(out, target) {
			t.Fatalf("round trip mismatch; delta %q", d)
		}
		if utf8.Valid(target) && !utf8.Valid(d) {
			t.Fatalf("valid UTF-8 target produced invalid UTF-8 delta %q", d)
		}
		// A delta never needs to be much larger than the target itself.
		if len(d) > len(target)+24 {
			t.Fatalf("delta %d bytes for %d-byte target", len(d), len(target))
		}
	})
}
