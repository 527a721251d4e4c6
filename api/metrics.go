package api

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Server API series under Centrifugo v6's names (protocol "http"):
// centrifugo_api_command_duration_seconds (summary) and its _histogram twin by
// method, and centrifugo_api_command_errors_total by method and error code. Each
// Handler has its own metrics.Set, registered for /metrics; a method's series are
// created on its first call (as Centrifugo's appear), then found with one atomic
// load.
type apiMetrics struct {
	set     *metrics.Set
	methods [methodBatch + 1]atomic.Pointer[methodMetrics]

	mu   sync.Mutex
	errs map[apiErrKey]*metrics.Counter
}

type methodMetrics struct {
	summary   *metrics.Summary
	histogram *metrics.PrometheusHistogram
}

type apiErrKey struct {
	m    method
	code uint32
}

// Centrifugo's summary objectives and Prometheus' default buckets.
var (
	apiQuantiles = []float64{0.5, 0.99, 0.999}
	apiBuckets   = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

func newAPIMetrics() *apiMetrics {
	m := &apiMetrics{set: metrics.NewSet(), errs: make(map[apiErrKey]*metrics.Counter)}
	metrics.RegisterSet(m.set)
	return m
}

func (am *apiMetrics) method(m method) *methodMetrics {
	if mm := am.methods[m].Load(); mm != nil {
		return mm
	}
	am.mu.Lock()
	defer am.mu.Unlock()
	if mm := am.methods[m].Load(); mm != nil {
		return mm
	}
	l := `{method="` + m.String() + `",protocol="http"}`
	mm := &methodMetrics{
		summary:   am.set.NewSummaryExt("centrifugo_api_command_duration_seconds"+l, time.Minute, apiQuantiles),
		histogram: am.set.NewPrometheusHistogramExt("centrifugo_api_command_duration_seconds_histogram"+l, apiBuckets),
	}
	am.methods[m].Store(mm)
	return mm
}

// observe records a call of m that started at started.
func (am *apiMetrics) observe(m method, started time.Time) {
	mm := am.method(m)
	d := time.Since(started).Seconds()
	mm.summary.Update(d)
	mm.histogram.Update(d)
}

// countError counts an error reply of m with code.
func (am *apiMetrics) countError(m method, code uint32) {
	k := apiErrKey{m, code}
	am.mu.Lock()
	c := am.errs[k]
	if c == nil {
		c = am.set.NewCounter(`centrifugo_api_command_errors_total{error="` + strconv.FormatUint(uint64(code), 10) + `",method="` + m.String() + `",protocol="http"}`)
		am.errs[k] = c
	}
	am.mu.Unlock()
	c.Inc()
}
