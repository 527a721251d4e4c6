package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// report is the outcome of one run: a JSON object (one line with --json) and a table.
type report interface {
	passed() bool
	rows() []row
}

// row is one line of the table; a row with an empty label is a section title.
type row struct{ label, value string }

func writeJSON(w io.Writer, r report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeTable(w io.Writer, r report) {
	rows := r.rows()
	width := 0
	for _, x := range rows {
		width = max(width, len(x.label))
	}
	var sb strings.Builder
	for _, x := range rows {
		if x.label == "" {
			fmt.Fprintf(&sb, "%s\n", x.value)
			continue
		}
		fmt.Fprintf(&sb, "  %-*s  %s\n", width, x.label, x.value)
	}
	io.WriteString(w, sb.String())
}

// ---- server samples ----

// sample is one reading of the server's cost, from /proc and/or the metrics endpoint.
type sample struct {
	at      time.Time
	procOK  bool
	proc    procSample
	metrics map[string]float64 // nil when not scraped
}

// takeSample reads what --pid and --metrics-url make available; failures become
// warnings, never errors, so a run still reports what it could measure.
func takeSample(ctx context.Context, cm *common, warn func(string)) sample {
	s := sample{at: time.Now()}
	if cm.pid > 0 {
		p, err := readProc(cm.pid)
		if err != nil {
			warn(fmt.Sprintf("reading /proc/%d: %v", cm.pid, err))
		} else {
			s.proc, s.procOK = p, true
		}
	}
	if cm.metricsURL != "" {
		m, err := scrapeMetrics(ctx, cm.metricsURL)
		if err != nil {
			warn(fmt.Sprintf("scraping %s: %v", cm.metricsURL, err))
		} else {
			s.metrics = m
		}
	}
	return s
}

// rss returns the resident set size: VmRSS when --pid was given, else the metric.
func (s sample) rss() (int64, bool) {
	if s.procOK {
		return s.proc.rss, true
	}
	if v, ok := s.metrics[metricRSS]; ok {
		return int64(v), true
	}
	return 0, false
}

func (s sample) metric(name string) (float64, bool) {
	v, ok := s.metrics[name]
	return v, ok
}

// ---- small helpers for optional figures ----

func ptr[T any](v T) *T { return &v }

// perConn returns (after-before)/n, or nil when either side is missing or n is 0.
func perConn(before, after *float64, n int64) *float64 {
	if before == nil || after == nil || n <= 0 {
		return nil
	}
	return ptr(round((*after - *before) / float64(n)))
}

// round keeps three decimals, so the JSON line stays readable.
func round(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

func ms(ns int64) float64 { return round(float64(ns) / 1e6) }

func fmtBytes(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func optBytes(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmtBytes(*v)
}

func optInt(v *int64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprint(*v)
}

func optFloat(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}

func i64f(v *int64) *float64 {
	if v == nil {
		return nil
	}
	return ptr(float64(*v))
}

func fmtCodes(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
