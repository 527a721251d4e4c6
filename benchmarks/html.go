package benchmarks

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// --report FILE writes a self-contained HTML page: the table of figures, one latency
// histogram (log-scaled time axis, percentile markers) with its percentiles per
// measured latency, one line chart per sampled quantity over time, and the JSON line.
// It uses inline SVG and CSS only: no script, no external asset.

// charts is what a mode hands to the HTML report besides its table and JSON.
type charts struct {
	hists  []namedHist
	series []series
}

type namedHist struct {
	name string
	h    *histogram
}

// charter is implemented by reports that carry charts (every mode's report).
type charter interface {
	chartData() *charts
}

const htmlStyle = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:980px;color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}
.ok{color:#12803c}.fail{color:#b3261e}.sub{color:#5b6475;margin:0 0 12px}
table{border-collapse:collapse;margin:6px 0 10px}td,th{padding:2px 12px 2px 0;text-align:left;vertical-align:top}
th{font-weight:600;color:#3a4252}td.v{font-variant-numeric:tabular-nums}tr.sec td{font-weight:600;padding-top:10px}
.pct td{font-variant-numeric:tabular-nums;padding-right:18px}
svg{display:block;margin:4px 0 14px;background:#fbfcfe;border:1px solid #e3e7ee;border-radius:4px}
svg text{font:11px system-ui,sans-serif;fill:#4a5263}svg .t{font-size:12px;fill:#1d2330;font-weight:600}
pre{white-space:pre-wrap;word-break:break-all;background:#f4f6fa;padding:8px;border-radius:4px;font-size:12px}
.note{color:#5b6475;font-size:12px}`

// writeHTML writes the HTML report of rep (mode is the mode's name) to w.
func writeHTML(w io.Writer, mode string, rep report) error {
	var sb strings.Builder
	rows := rep.rows()
	title := "rotor bench " + mode
	status := `<span class="ok">OK</span>`
	if !rep.passed() {
		status = `<span class="fail">FAILED</span>`
	}
	fmt.Fprintf(&sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title><style>%s</style></head><body>\n",
		html.EscapeString(title), htmlStyle)
	fmt.Fprintf(&sb, "<h1>%s — %s</h1>\n", html.EscapeString(title), status)
	if len(rows) > 0 && rows[0].label == "" {
		fmt.Fprintf(&sb, "<p class=\"sub\">%s</p>\n", html.EscapeString(rows[0].value))
		rows = rows[1:]
	}

	sb.WriteString("<h2>Figures</h2>\n<table>\n")
	for _, r := range rows {
		if r.label == "" {
			fmt.Fprintf(&sb, "<tr class=\"sec\"><td colspan=\"2\">%s</td></tr>\n", html.EscapeString(r.value))
			continue
		}
		fmt.Fprintf(&sb, "<tr><th>%s</th><td class=\"v\">%s</td></tr>\n", html.EscapeString(r.label), html.EscapeString(r.value))
	}
	sb.WriteString("</table>\n")

	var ch *charts
	if c, ok := rep.(charter); ok {
		ch = c.chartData()
	}
	if ch != nil {
		for _, nh := range ch.hists {
			fmt.Fprintf(&sb, "<h2>%s</h2>\n", html.EscapeString(nh.name))
			if nh.h == nil || nh.h.count() == 0 {
				sb.WriteString("<p class=\"note\">no values recorded</p>\n")
				continue
			}
			writePercentiles(&sb, nh.h)
			writeHistogramSVG(&sb, nh.name, nh.h)
		}
		if len(ch.series) > 0 {
			sb.WriteString("<h2>Over time</h2>\n<p class=\"note\">Rates are increases per sampling interval, divided by its length; levels are the value read at each sample.</p>\n")
			for _, s := range ch.series {
				writeSeriesSVG(&sb, s)
			}
		}
	}

	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	fmt.Fprintf(&sb, "<h2>JSON</h2>\n<pre>%s</pre>\n</body></html>\n", html.EscapeString(string(b)))
	_, err = io.WriteString(w, sb.String())
	return err
}

// percentileQs are the quantiles shown in tables and marked on histograms.
var percentileQs = []struct {
	label string
	q     float64
}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p99.9", 0.999}}

func writePercentiles(sb *strings.Builder, h *histogram) {
	sb.WriteString("<table class=\"pct\"><tr><th>count</th><th>min</th>")
	for _, p := range percentileQs {
		fmt.Fprintf(sb, "<th>%s</th>", p.label)
	}
	sb.WriteString("<th>max</th><th>mean</th></tr>\n<tr>")
	fmt.Fprintf(sb, "<td>%d</td><td>%s</td>", h.count(), fmtDur(float64(h.minValue())))
	for _, p := range percentileQs {
		fmt.Fprintf(sb, "<td>%s</td>", fmtDur(float64(h.quantile(p.q))))
	}
	fmt.Fprintf(sb, "<td>%s</td><td>%s</td></tr></table>\n", fmtDur(float64(h.maxValue())), fmtDur(h.mean()))
}

// fmtDur formats nanoseconds for axis labels and tables.
func fmtDur(ns float64) string {
	switch a := math.Abs(ns); {
	case a >= 1e9:
		return sig3(ns/1e9) + " s"
	case a >= 1e6:
		return sig3(ns/1e6) + " ms"
	case a >= 1e3:
		return sig3(ns/1e3) + " µs"
	}
	return sig3(ns) + " ns"
}

// sig3 formats v with about three significant digits, never in exponent form.
func sig3(v float64) string {
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return trimZeros(fmt.Sprintf("%.3g", v))
}

func trimZeros(s string) string {
	if strings.ContainsAny(s, "e") || !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// histBin is one bar of a plotted histogram: values in [lo, hi) nanoseconds.
type histBin struct {
	lo, hi float64
	count  uint64
}

// histBins regroups h's buckets into at most k bins of equal width on a log scale
// between its minimum and maximum. Bins never get narrower than about two of h's
// buckets, so a narrow range does not show bucket aliasing.
func histBins(h *histogram, k int) []histBin {
	if h.count() == 0 {
		return nil
	}
	lo := math.Max(float64(h.minValue()), 1)
	hi := math.Max(float64(h.maxValue()), lo)
	span := math.Log(hi / lo)
	if minW := math.Log(1 + 2.0/histSub); span/float64(k) < minW {
		k = max(1, int(math.Ceil(span/minW)))
	}
	if span == 0 {
		return []histBin{{lo: lo, hi: lo * (1 + 1.0/histSub), count: h.count()}}
	}
	bins := make([]histBin, k)
	for j := range bins {
		bins[j].lo = lo * math.Exp(span*float64(j)/float64(k))
		bins[j].hi = lo * math.Exp(span*float64(j+1)/float64(k))
	}
	for i := range h.counts {
		c := h.counts[i].Load()
		if c == 0 {
			continue
		}
		blo, bhi := histBounds(i)
		a, b := math.Max(float64(blo), lo), math.Min(float64(bhi), hi)
		if b < a {
			b = a
		}
		mid := math.Sqrt(a * b)
		j := int(float64(k) * math.Log(mid/lo) / span)
		j = min(max(j, 0), k-1)
		bins[j].count += c
	}
	return bins
}

// labelRows is how many rows of percentile labels a histogram has.
const labelRows = 4

// plot geometry shared by both chart kinds.
const (
	svgW                           = 900
	svgH                   float64 = 280
	padL, padR, padT, padB float64 = 72, 24, 30, 42
)

func writeHistogramSVG(sb *strings.Builder, name string, h *histogram) {
	bins := histBins(h, 60)
	lo, hi := bins[0].lo, bins[len(bins)-1].hi
	var top uint64
	for _, b := range bins {
		top = max(top, b.count)
	}
	yMax := ceilToStep(float64(top), 5)
	// A band above the plot holds the percentile labels, in staggered rows.
	const band = labelRows*13 + 2
	top0 := padT + band
	height := svgH + band
	pw, ph := svgW-padL-padR, height-top0-padB
	lx := func(v float64) float64 {
		if hi <= lo {
			return padL + pw/2
		}
		return padL + pw*math.Log(v/lo)/math.Log(hi/lo)
	}
	ly := func(c float64) float64 { return top0 + ph - ph*c/yMax }

	fmt.Fprintf(sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%g" viewBox="0 0 %d %g" role="img" aria-label="%s histogram">`+"\n",
		svgW, height, svgW, height, html.EscapeString(name))
	fmt.Fprintf(sb, `<text class="t" x="%g" y="18">%s — count per bin (log time axis)</text>`+"\n", padL, html.EscapeString(name))
	// Horizontal grid and y labels.
	for _, v := range linearTicks(0, yMax, 5) {
		y := ly(v)
		fmt.Fprintf(sb, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#e6e9ef"/>`, padL, y, padL+pw, y)
		fmt.Fprintf(sb, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, y+4, fmtCount(v))
	}
	// Bars.
	sb.WriteString(`<g fill="#4c78a8">`)
	for _, b := range bins {
		if b.count == 0 {
			continue
		}
		x0, x1 := lx(b.lo), lx(b.hi)
		if hi <= lo {
			x0, x1 = padL+pw/2-4, padL+pw/2+4
		}
		y := ly(float64(b.count))
		fmt.Fprintf(sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s – %s: %d</title></rect>`,
			x0, y, math.Max(x1-x0-0.5, 0.8), top0+ph-y, fmtDur(b.lo), fmtDur(b.hi), b.count)
	}
	sb.WriteString("</g>\n")
	// X axis with log ticks.
	fmt.Fprintf(sb, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#8a93a5"/>`+"\n", padL, top0+ph, padL+pw, top0+ph)
	for _, v := range logTicks(lo, hi) {
		x := lx(v)
		fmt.Fprintf(sb, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#8a93a5"/><text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n",
			x, top0+ph, x, top0+ph+4, x, top0+ph+17, fmtDur(v))
	}
	// Percentile markers, labels staggered so neighbours stay legible.
	type mark struct {
		label string
		v     float64
	}
	var marks []mark
	for _, p := range percentileQs {
		marks = append(marks, mark{p.label, float64(h.quantile(p.q))})
	}
	marks = append(marks, mark{"max", float64(h.maxValue())})
	colors := []string{"#e45756", "#f58518", "#b279a2", "#9d755d", "#54a24b"}
	// Labels sit in the band above the plot, matched to their marker by colour; the
	// markers stop at the band so they never cross a label. Greedy row placement: each
	// label (in increasing x) takes the first row where it clears the previous label,
	// or the row whose last label ends earliest.
	const charW, rowH = 6.3, 13.0
	var rowEnd [labelRows]float64
	for i := range rowEnd {
		rowEnd[i] = math.Inf(-1)
	}
	for i, m := range marks {
		col := colors[i%len(colors)]
		x := lx(math.Max(m.v, lo))
		text := m.label + " " + fmtDur(m.v)
		w := charW * float64(len([]rune(text)))
		anchor, x0 := "middle", x-w/2
		switch {
		case x+w/2 > padL+pw+padR-2:
			anchor, x0 = "end", x-w
		case x-w/2 < 2:
			anchor, x0 = "start", x
		}
		r := 0
		for j := range rowEnd {
			if rowEnd[j]+4 <= x0 {
				r = j
				break
			}
			if rowEnd[j] < rowEnd[r] {
				r = j
			}
		}
		rowEnd[r] = x0 + w
		ty := padT + 9 + float64(r)*rowH
		fmt.Fprintf(sb, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="%s" stroke-dasharray="4 3"/>`, x, top0-4, x, top0+ph, col)
		fmt.Fprintf(sb, `<text x="%.1f" y="%g" text-anchor="%s" style="fill:%s">%s</text>`+"\n", x, ty, anchor, col, text)
	}
	fmt.Fprintf(sb, `<text x="%g" y="%g" text-anchor="middle">latency</text>`, padL+pw/2, height-6)
	sb.WriteString("</svg>\n")
}

func writeSeriesSVG(sb *strings.Builder, s series) {
	tMax := 0.0
	vMax := 0.0
	sum := 0.0
	for i := range s.T {
		tMax = math.Max(tMax, s.T[i])
		vMax = math.Max(vMax, s.V[i])
		sum += s.V[i]
	}
	if tMax <= 0 {
		tMax = 1
	}
	xMax := ceilToStep(tMax, 10)
	yMax := ceilToStep(vMax, 5)
	if yMax <= 0 {
		yMax = 1
	}
	pw, ph := svgW-padL-padR, svgH-padT-padB
	lx := func(t float64) float64 { return padL + pw*t/xMax }
	ly := func(v float64) float64 { return padT + ph - ph*math.Max(v, 0)/yMax }
	kind := "rate"
	if s.Gauge {
		kind = "level"
	}
	fmt.Fprintf(sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%g" viewBox="0 0 %d %g" role="img" aria-label="%s over time">`+"\n",
		svgW, svgH, svgW, svgH, html.EscapeString(s.Name))
	fmt.Fprintf(sb, `<text class="t" x="%g" y="18">%s (%s, %s) — peak %s, mean %s</text>`+"\n", padL,
		html.EscapeString(s.Name), html.EscapeString(s.Unit), kind, fmtCount(vMax), fmtCount(sum/float64(len(s.V))))
	for _, v := range linearTicks(0, yMax, 5) {
		y := ly(v)
		fmt.Fprintf(sb, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#e6e9ef"/>`, padL, y, padL+pw, y)
		fmt.Fprintf(sb, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, y+4, fmtCount(v))
	}
	fmt.Fprintf(sb, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#8a93a5"/>`+"\n", padL, padT+ph, padL+pw, padT+ph)
	for _, t := range linearTicks(0, xMax, 10) {
		x := lx(t)
		fmt.Fprintf(sb, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#8a93a5"/><text x="%.1f" y="%g" text-anchor="middle">%ss</text>`+"\n",
			x, padT+ph, x, padT+ph+4, x, padT+ph+17, fmtCount(t))
	}
	var pts strings.Builder
	for i := range s.T {
		fmt.Fprintf(&pts, "%.1f,%.1f ", lx(s.T[i]), ly(s.V[i]))
	}
	fmt.Fprintf(sb, `<polyline fill="none" stroke="#4c78a8" stroke-width="1.6" points="%s"/>`+"\n", strings.TrimSpace(pts.String()))
	if len(s.T) <= 120 {
		sb.WriteString(`<g fill="#4c78a8">`)
		for i := range s.T {
			fmt.Fprintf(sb, `<circle cx="%.1f" cy="%.1f" r="2"><title>%.2fs: %s</title></circle>`, lx(s.T[i]), ly(s.V[i]), s.T[i], fmtCount(s.V[i]))
		}
		sb.WriteString("</g>\n")
	}
	fmt.Fprintf(sb, `<text x="%g" y="%g" text-anchor="middle">time since start (s)</text>`, padL+pw/2, svgH-6)
	sb.WriteString("</svg>\n")
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten (0 stays 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// ceilToStep rounds v up to a multiple of the round step that splits it into about n
// intervals, so an axis ends close to its data.
func ceilToStep(v float64, n int) float64 {
	if v <= 0 {
		return 0
	}
	step := niceCeil(v / float64(n))
	return math.Ceil(v/step*(1-1e-9)) * step
}

// linearTicks returns about n round tick values from lo to hi inclusive.
func linearTicks(lo, hi float64, n int) []float64 {
	if hi <= lo || n < 1 {
		return []float64{lo}
	}
	step := niceCeil((hi - lo) / float64(n))
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi*(1+1e-9); v += step {
		out = append(out, v)
	}
	return out
}

// logTicks returns 1-2-5 ticks between lo and hi (positive), or their ends when the
// range holds fewer than two of them.
func logTicks(lo, hi float64) []float64 {
	var out []float64
	for d := math.Floor(math.Log10(lo)); d <= math.Ceil(math.Log10(hi)); d++ {
		p := math.Pow(10, d)
		for _, m := range []float64{1, 2, 5} {
			if v := m * p; v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
				out = append(out, v)
			}
		}
	}
	if len(out) < 2 {
		out = []float64{lo, hi}
		if hi <= lo {
			out = out[:1]
		}
	}
	return out
}

// fmtCount formats axis values: integers plainly, large values with k/M suffixes.
func fmtCount(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return sig3(v/1e6) + "M"
	case a >= 1e4:
		return sig3(v/1e3) + "k"
	case a >= 100 || a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	}
	return sig3(v)
}
