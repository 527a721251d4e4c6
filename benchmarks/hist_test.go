package benchmarks

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestHistIndexBounds(t *testing.T) {
	vals := []int64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 1 << 20, 123456789, 1<<40 + 12345, math.MaxInt64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		vals = append(vals, r.Int64N(1<<uint(r.IntN(62)+1)))
	}
	for _, v := range vals {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d out of range", v, i)
		}
		lo, hi := histBounds(i)
		if v < lo || v > hi {
			t.Fatalf("value %d not in bucket %d bounds [%d, %d]", v, i, lo, hi)
		}
		if histIndex(lo) != i || histIndex(hi) != i {
			t.Fatalf("bounds of bucket %d map elsewhere: %d %d", i, histIndex(lo), histIndex(hi))
		}
		if v >= 2*histSub && float64(hi-lo) > float64(lo)/histSub {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d", i, lo, hi, histSub)
		}
	}
	// Buckets are contiguous.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := histBounds(i - 1)
		lo, _ := histBounds(i)
		if prevHi == math.MaxInt64 {
			break
		}
		if lo != prevHi+1 {
			t.Fatalf("gap between bucket %d (hi %d) and %d (lo %d)", i-1, prevHi, i, lo)
		}
	}
}

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) int64
		n    int
	}{
		{"small exact", func(r *rand.Rand) int64 { return r.Int64N(200) }, 5000},
		{"uniform ms", func(r *rand.Rand) int64 { return 1e6 + r.Int64N(9e6) }, 20000},
		{"lognormal", func(r *rand.Rand) int64 { return int64(math.Exp(r.NormFloat64()*1.5 + 14)) }, 50000},
		{"single", func(*rand.Rand) int64 { return 4242 }, 1},
		{"constant", func(*rand.Rand) int64 { return 777777 }, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			h := newHistogram()
			vals := make([]int64, tc.n)
			for i := range vals {
				vals[i] = tc.gen(r)
				h.record(vals[i])
			}
			slices.Sort(vals)
			if got := h.count(); got != uint64(tc.n) {
				t.Fatalf("count %d, want %d", got, tc.n)
			}
			if h.maxValue() != vals[len(vals)-1] || h.minValue() != vals[0] {
				t.Fatalf("min/max %d/%d, want %d/%d", h.minValue(), h.maxValue(), vals[0], vals[len(vals)-1])
			}
			prev := int64(-1)
			for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1} {
				got, want := h.quantile(q), exactQuantile(vals, q)
				if got < want || float64(got-want) > float64(want)/histSub {
					t.Errorf("q%.3f = %d, exact %d (allowed +%.2f%%)", q, got, want, 100.0/histSub)
				}
				if got < prev {
					t.Errorf("quantiles not monotone: q%.3f = %d < %d", q, got, prev)
				}
				prev = got
			}
			if h.quantile(1) != h.maxValue() {
				t.Errorf("q1 %d != max %d", h.quantile(1), h.maxValue())
			}
			var sum float64
			for _, v := range vals {
				sum += float64(v)
			}
			if m := h.mean(); math.Abs(m-sum/float64(tc.n)) > 1e-6*m+1e-9 {
				t.Errorf("mean %f, want %f", m, sum/float64(tc.n))
			}
		})
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	h := newHistogram()
	if h.quantile(0.5) != 0 || h.maxValue() != 0 || h.minValue() != 0 || h.mean() != 0 {
		t.Fatal("empty histogram should report zeros")
	}
	h.record(-5)
	if h.quantile(0.5) != 0 || h.count() != 1 {
		t.Fatalf("negative value should count as 0, got q50 %d", h.quantile(0.5))
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := newHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10000 {
				h.record(int64(g*10000 + i))
			}
		}()
	}
	wg.Wait()
	if h.count() != 80000 || h.maxValue() != 79999 || h.minValue() != 0 {
		t.Fatalf("count %d max %d min %d", h.count(), h.maxValue(), h.minValue())
	}
}
