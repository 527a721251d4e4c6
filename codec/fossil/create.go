package fossil

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"unicode/utf8"
)

const (
	// blockSize is the length of the source blocks that are indexed and of
	// the rolling window moved over the target, as in Fossil.
	blockSize = 16
	// maxCandidates bounds how many indexed source blocks sharing a hash
	// bucket are tried at one target position.
	maxCandidates = 64
	// maxStale stops the search once that many candidates in a row failed
	// to improve on the best copy (long chains of equal blocks).
	maxStale = 16
	// hashMul is the multiplier of the polynomial rolling hash.
	hashMul uint32 = 0x01000193
	// bucketMul spreads the rolling hash over the bucket index bits
	// (Fibonacci hashing).
	bucketMul uint32 = 0x9E3779B1
	// maxPooledBlocks keeps encoders indexing very large sources out of the
	// pool so that one huge publication doesn't pin memory forever.
	maxPooledBlocks = 1 << 18
	maxPooledBuf    = 1 << 22
)

// hashOutMul is hashMul^(blockSize-1): the weight of the byte leaving the
// window.
var hashOutMul = func() uint32 {
	m := uint32(1)
	for i := 0; i < blockSize-1; i++ {
		m *= hashMul
	}
	return m
}()

// blockHash hashes b[:blockSize].
func blockHash(b []byte) uint32 {
	b = b[:blockSize]
	var h uint32
	for _, c := range b {
		h = h*hashMul + uint32(c)
	}
	return h
}

// rollHash moves the window one byte: out leaves, in enters.
func rollHash(h uint32, out, in byte) uint32 {
	return (h-uint32(out)*hashOutMul)*hashMul + uint32(in)
}

// encoder holds the reusable scratch of one Create call.
type encoder struct {
	head  []int32  // bucket -> 1 + index of the first block in it, 0 = empty
	chain []int32  // block -> 1 + index of the next block in its bucket
	hash  []uint32 // block -> its full rolling hash, to skip bucket collisions
	shift uint
	buf   []byte
}

var encoderPool = sync.Pool{New: func() any { return new(encoder) }}

func getEncoder() *encoder { return encoderPool.Get().(*encoder) }

func putEncoder(e *encoder) {
	if cap(e.chain) > maxPooledBlocks || cap(e.buf) > maxPooledBuf {
		return
	}
	e.buf = e.buf[:0]
	encoderPool.Put(e)
}

// index builds the hash table over the non-overlapping full blocks of src.
func (e *encoder) index(src []byte, nBlocks int) {
	tableBits := bits.Len(uint(nBlocks)) // table size >= nBlocks+1
	size := 1 << tableBits
	if cap(e.head) < size {
		e.head = make([]int32, size)
	} else {
		e.head = e.head[:size]
		clear(e.head)
	}
	if cap(e.chain) < nBlocks {
		e.chain = make([]int32, nBlocks)
		e.hash = make([]uint32, nBlocks)
	} else {
		e.chain = e.chain[:nBlocks]
		e.hash = e.hash[:nBlocks]
	}
	e.shift = uint(32 - tableBits)
	// Insert from the end so that each chain lists blocks in source order:
	// in repetitive data the earliest equal block allows the longest copy.
	for blk := nBlocks - 1; blk >= 0; blk-- {
		h := blockHash(src[blk*blockSize:])
		b := e.bucket(h)
		e.hash[blk] = h
		e.chain[blk] = e.head[b]
		e.head[b] = int32(blk + 1)
	}
}

func (e *encoder) bucket(h uint32) uint32 {
	// For a one-bucket table shift is 32 and the Go shift yields 0.
	return (h * bucketMul) >> e.shift
}

// Create returns a Fossil delta that turns src into target. Apply(src, delta)
// returns target, and so does the `fossil-delta` package's applyDelta used by
// centrifuge-js.
//
// The delta is built like Fossil's: src is indexed by the hash of its
// 16-byte blocks, a 16-byte window rolls over target, and each hash hit is
// extended forwards and backwards into the longest copy that is worth its
// command; everything else is inserted literally. When target is valid
// UTF-8, no command boundary splits one of its characters, so the delta is
// valid UTF-8 too and survives being carried in a JSON string (as
// Centrifugo's JSON protocol does) and re-encoded by the client.
//
// The result is a new slice of exactly the delta's length.
func Create(src, target []byte) []byte {
	e := getEncoder()
	e.buf = e.encode(e.buf[:0], src, target)
	out := make([]byte, len(e.buf))
	copy(out, e.buf)
	putEncoder(e)
	return out
}

// AppendCreate appends the delta that Create would return to dst and returns
// the extended slice, so callers with their own buffers avoid an allocation.
func AppendCreate(dst, src, target []byte) []byte {
	e := getEncoder()
	dst = e.encode(dst, src, target)
	putEncoder(e)
	return dst
}

func appendInsert(dst, lit []byte) []byte {
	dst = appendInt(dst, uint64(len(lit)))
	dst = append(dst, ':')
	return append(dst, lit...)
}

func (e *encoder) encode(dst, src, target []byte) []byte {
	dst = appendInt(dst, uint64(len(target)))
	dst = append(dst, '\n')
	base := 0 // start of the pending literal in target
	nBlocks := len(src) / blockSize
	if nBlocks > 0 && len(target) >= blockSize {
		e.index(src, nBlocks)
		charAligned := utf8.Valid(target)
		pos := 0 // start of the rolling window in target
		h := blockHash(target)
		for {
			bestCnt, bestStart, bestOfst, bestN := 0, 0, 0, 0
			cand := e.head[e.bucket(h)]
			for n := 0; cand != 0 && n < maxCandidates && n-bestN < maxStale; n++ {
				blk := int(cand - 1)
				cand = e.chain[blk]
				if e.hash[blk] != h {
					continue // another hash sharing the bucket
				}
				s := blk * blockSize
				fwd := commonPrefix(src[s:], target[pos:])
				back := commonSuffix(src[:s], target[base:pos])
				start, end, ofst := pos-back, pos+fwd, s-back
				if charAligned {
					for start < end && isContinuation(target[start]) {
						start++
						ofst++
					}
					if end < len(target) {
						for end > start && isContinuation(target[end]) {
							end--
						}
					}
				}
				cnt := end - start
				if cnt <= bestCnt {
					continue
				}
				// A copy must pay for its own command and for splitting the
				// literal around it.
				if cnt < intLen(start-base)+intLen(cnt)+intLen(ofst)+3 {
					continue
				}
				bestCnt, bestStart, bestOfst, bestN = cnt, start, ofst, n
				if end == len(target) {
					break // nothing can beat a copy reaching the end
				}
			}
			if bestCnt > 0 {
				if bestStart > base {
					dst = appendInsert(dst, target[base:bestStart])
				}
				dst = appendInt(dst, uint64(bestCnt))
				dst = append(dst, '@')
				dst = appendInt(dst, uint64(bestOfst))
				dst = append(dst, ',')
				base = bestStart + bestCnt
				pos = base
				if pos+blockSize > len(target) {
					break
				}
				h = blockHash(target[pos:])
				continue
			}
			if pos+blockSize >= len(target) {
				break
			}
			h = rollHash(h, target[pos], target[pos+blockSize])
			pos++
		}
	}
	if base < len(target) {
		dst = appendInsert(dst, target[base:])
	}
	dst = appendInt(dst, uint64(checksum(target)))
	return append(dst, ';')
}

// isContinuation reports whether c is a UTF-8 continuation byte.
func isContinuation(c byte) bool { return c&0xC0 == 0x80 }

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}

// commonSuffix returns the length of the longest common suffix of a and b.
func commonSuffix(a, b []byte) int {
	n := min(len(a), len(b))
	la, lb := len(a), len(b)
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.BigEndian.Uint64(a[la-i-8:]) ^ binary.BigEndian.Uint64(b[lb-i-8:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n && a[la-i-1] == b[lb-i-1]; i++ {
	}
	return i
}
