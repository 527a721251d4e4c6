package benchmarks

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// histogram is a log-linear histogram of non-negative int64 values (nanoseconds here)
// that many goroutines may record into at once (atomic adds, no lock). Values below
// 2*histSub are counted exactly; above, each power of two is split into histSub equal
// buckets, so a bucket is at most 1/histSub (0.8%) of its values wide. It covers the
// whole int64 range in histBuckets counters (about 58 KB).
type histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // saturates far beyond any benchmark
	min    atomic.Int64  // valid when n > 0
	max    atomic.Int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // buckets per power of two
	histBuckets = (64-histSubBits-1)*histSub + 2*histSub
)

func newHistogram() *histogram {
	h := &histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// histIndex maps v ≥ 0 to its bucket.
func histIndex(v int64) int {
	u := uint64(v)
	if u < 2*histSub {
		return int(u)
	}
	shift := bits.Len64(u) - histSubBits - 1
	return shift*histSub + int(u>>uint(shift))
}

// histBounds returns the smallest and largest value that land in bucket i.
func histBounds(i int) (lo, hi int64) {
	if i < 2*histSub {
		return int64(i), int64(i)
	}
	shift := i/histSub - 1
	top := uint64(i - shift*histSub)
	lo64 := top << uint(shift)
	hi64 := (top+1)<<uint(shift) - 1
	if hi64 > math.MaxInt64 {
		hi64 = math.MaxInt64
	}
	return int64(lo64), int64(hi64)
}

// record adds one value; negative values (clock skew) count as 0.
func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if v >= m || h.min.CompareAndSwap(m, v) {
			break
		}
	}
}

// count returns the number of recorded values.
func (h *histogram) count() uint64 { return h.n.Load() }

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the value at rank
// ceil(q*N) in sorted order, reported as the upper bound of its bucket clipped to the
// observed [min, max] (exact for small values, within 0.8% above). It returns 0 for an
// empty histogram. Call it after recording has stopped.
func (h *histogram) quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := histBounds(i)
			if mx := h.max.Load(); hi > mx {
				hi = mx
			}
			if mn := h.min.Load(); hi < mn {
				hi = mn
			}
			return hi
		}
	}
	return h.max.Load()
}

// mean returns the arithmetic mean, or 0 when empty.
func (h *histogram) mean() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// maxValue returns the largest recorded value, or 0 when empty.
func (h *histogram) maxValue() int64 {
	if h.n.Load() == 0 {
		return 0
	}
	return h.max.Load()
}

// minValue returns the smallest recorded value, or 0 when empty.
func (h *histogram) minValue() int64 {
	if h.n.Load() == 0 {
		return 0
	}
	return h.min.Load()
}
