package benchmarks

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestHistBins(t *testing.T) {
	h := newHistogram()
	for i := range 10000 {
		h.record(int64(50_000 + i*37)) // 50 µs … 420 µs
	}
	h.record(5_000_000) // one outlier at 5 ms
	bins := histBins(h, 60)
	if len(bins) == 0 || len(bins) > 60 {
		t.Fatalf("%d bins", len(bins))
	}
	var total uint64
	for i, b := range bins {
		total += b.count
		if b.hi <= b.lo || (i > 0 && math.Abs(b.lo-bins[i-1].hi) > 1e-6*b.lo) {
			t.Errorf("bin %d [%v, %v) not contiguous", i, b.lo, b.hi)
		}
	}
	if total != h.count() {
		t.Errorf("bins hold %d values, histogram %d", total, h.count())
	}
	if bins[len(bins)-1].count != 1 {
		t.Errorf("last bin holds %d, want the outlier alone", bins[len(bins)-1].count)
	}
	// A narrow range gets fewer, wider bins, and one distinct value one bin.
	n := newHistogram()
	for range 100 {
		n.record(1_000_000)
	}
	n.record(1_010_000)
	if b := histBins(n, 60); len(b) > 2 {
		t.Errorf("narrow range: %d bins", len(b))
	}
	one := newHistogram()
	one.record(7)
	if b := histBins(one, 60); len(b) != 1 || b[0].count != 1 {
		t.Errorf("single value: %v", b)
	}
	if histBins(newHistogram(), 60) != nil {
		t.Error("empty histogram has bins")
	}
}

func TestAxisHelpers(t *testing.T) {
	for v, want := range map[float64]float64{0: 0, 0.7: 1, 3: 5, 12: 20, 230: 250, 1000: 1000, 4100: 5000} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
	for v, want := range map[float64]float64{3.04: 3.5, 3552: 4000, 10: 10, 0: 0} {
		if got := ceilToStep(v, 10); v == 3552 {
			if got = ceilToStep(v, 5); got != want {
				t.Errorf("ceilToStep(%v, 5) = %v, want %v", v, got, want)
			}
		} else if got != want {
			t.Errorf("ceilToStep(%v, 10) = %v, want %v", v, got, want)
		}
	}
	if got := linearTicks(0, 100, 5); len(got) != 6 || got[5] != 100 {
		t.Errorf("linearTicks(0, 100, 5) = %v", got)
	}
	got := logTicks(300_000, 20_000_000)
	want := []float64{500_000, 1e6, 2e6, 5e6, 1e7, 2e7}
	if len(got) != len(want) {
		t.Fatalf("logTicks = %v, want %v", got, want)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-6*want[i] {
			t.Errorf("logTicks = %v, want %v", got, want)
		}
	}
	for ns, want := range map[float64]string{512: "512 ns", 1500: "1.5 µs", 2_340_000: "2.34 ms", 999_000_000: "999 ms", 1.5e9: "1.5 s", 123_456: "123 µs"} {
		if got := fmtDur(ns); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", ns, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 2.5: "2.5", 150: "150", 25_000: "25k", 3_200_000: "3.2M"} {
		if got := fmtCount(v); got != want {
			t.Errorf("fmtCount(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestTimelineSeries(t *testing.T) {
	tl := newTimeline(minSampleInterval)
	var c int64
	level := 0.0
	tl.rate("things", "things/s", func() int64 { return c })
	tl.gauge("level", "units", 2, func() (float64, bool) { return level, level > 0 })
	// Drive the samples by hand: at 0, 0.25, 0.5, 0.51 (a short closing interval).
	tl.start = time.Now()
	tl.at = nil
	for i, at := range []float64{0, 0.25, 0.5, 0.51} {
		c = int64(i * 100)
		level = float64(i)
		tl.at = append(tl.at, at)
		for _, tr := range tl.tracks {
			v, ok := tr.read()
			tr.vals = append(tr.vals, v)
			tr.ok = append(tr.ok, ok)
		}
	}
	ss := tl.series()
	if len(ss) != 2 {
		t.Fatalf("series %v", ss)
	}
	r := ss[0]
	if r.Gauge || len(r.V) != 2 || math.Abs(r.V[0]-400) > 1e-9 || math.Abs(r.V[1]-400) > 1e-9 || r.T[1] != 0.5 {
		t.Errorf("rate series %+v, want 400/s at 0.25 and 0.5 (the 10 ms tail dropped)", r)
	}
	g := ss[1]
	if !g.Gauge || len(g.V) != 3 || g.V[0] != 2 || g.V[2] != 6 {
		t.Errorf("gauge series %+v, want 2, 4, 6 (the first reading was absent)", g)
	}
}

func TestTimelineRunStop(t *testing.T) {
	tl := newTimeline(minSampleInterval)
	var n int64
	tl.rate("n", "/s", func() int64 { n += 10; return n })
	tl.stop() // before run: a no-op
	tl = newTimeline(minSampleInterval)
	tl.rate("n", "/s", func() int64 { n += 10; return n })
	tl.run()
	time.Sleep(600 * time.Millisecond)
	tl.stop()
	tl.stop()
	ss := tl.series()
	if len(ss) != 1 || len(ss[0].V) < 2 {
		t.Fatalf("series %+v", ss)
	}
}

func TestWriteHTMLEscapes(t *testing.T) {
	h := newHistogram()
	h.record(1000)
	h.record(2000)
	rep := &fanoutReport{Mode: "fanout", URL: "ws://127.0.0.1:1/<x>", Warnings: []string{`<script>alert("x")</script>`},
		charts: &charts{hists: []namedHist{{"lat <a>", h}, {"empty", newHistogram()}}, series: []series{{Name: "rate", Unit: "msg/s", T: []float64{0.25, 0.5}, V: []float64{10, 20}}}}}
	var buf bytes.Buffer
	if err := writeHTML(&buf, "fanout", rep); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if strings.Contains(page, "<script") || strings.Contains(page, "<x>") || strings.Contains(page, "lat <a>") {
		t.Error("text not escaped")
	}
	for _, want := range []string{"FAILED", "lat &lt;a&gt;", "no values recorded", "<polyline", "peak 20"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
