package netio

import "sync"

// obuf is a pooled byte buffer. The pools hold *obuf, so Put never allocates; the
// owner of an *obuf is always named in a comment where it is handed over.
type obuf struct{ b []byte }

// bufTiers are the capacities of the pooled buffers. A request larger than the
// last tier gets an unpooled buffer that putBuf drops.
var bufTiers = [...]int{256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}

var bufPools [len(bufTiers)]sync.Pool

func init() {
	for i := range bufPools {
		size := bufTiers[i]
		bufPools[i].New = func() any { return &obuf{b: make([]byte, 0, size)} }
	}
}

// tierFor returns the index of the smallest tier holding n bytes, or -1.
func tierFor(n int) int {
	for i, s := range bufTiers {
		if n <= s {
			return i
		}
	}
	return -1
}

// getBuf returns an empty buffer with capacity of at least n. The caller owns it.
func getBuf(n int) *obuf {
	t := tierFor(n)
	if t < 0 {
		return &obuf{b: make([]byte, 0, n)}
	}
	p := bufPools[t].Get().(*obuf)
	p.b = p.b[:0]
	return p
}

// putBuf returns p to its pool. The caller must not use p afterwards, and must be
// sure nothing else (netpoll included) still references p.b.
func putBuf(p *obuf) {
	if p == nil {
		return
	}
	c := cap(p.b)
	t := tierFor(c)
	if t < 0 || bufTiers[t] != c {
		return
	}
	bufPools[t].Put(p)
}

// growBuf returns a buffer holding p's bytes with room for extra more, replacing p
// (which goes back to its pool) when it is too small.
func growBuf(p *obuf, extra int) *obuf {
	need := len(p.b) + extra
	if need <= cap(p.b) {
		return p
	}
	// Grow at least 2×, so a queue built by many small appends copies O(n) bytes.
	size := 2 * cap(p.b)
	if size < need {
		size = need
	}
	q := getBuf(size)
	q.b = append(q.b, p.b...)
	putBuf(p)
	return q
}
