package main

import (
	"bytes"
	"io"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/engine"
)

func init() {
	// HELP and TYPE lines, as Prometheus client libraries (and Centrifugo) write
	// them; writeMetrics fills in the HELP texts.
	metrics.ExposeMetadata(true)
}

// serveMetrics answers GET /metrics (prometheus.handler_prefix).
func serveMetrics(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	writeMetrics(ctx)
}

// otherHelp describes the families Rotor has beyond Centrifugo's (engine.Families)
// and the commonest process and Go ones.
var otherHelp = map[string]string{
	"rotor_netio_recovered_panics_total": "Panics recovered in netio's connection handlers (each closed its connection).",
	"rotor_netio_stalled_writes_total":   "Writes that found a client's socket full and were finished off the shared flush workers.",
	"process_cpu_seconds_total":          "Total user and system CPU time spent in seconds.",
	"process_cpu_seconds_user_total":     "User CPU time spent in seconds.",
	"process_cpu_seconds_system_total":   "System CPU time spent in seconds.",
	"process_resident_memory_bytes":      "Resident memory size in bytes.",
	"process_virtual_memory_bytes":       "Virtual memory size in bytes.",
	"process_open_fds":                   "Number of open file descriptors.",
	"process_max_fds":                    "Maximum number of open file descriptors.",
	"process_start_time_seconds":         "Start time of the process since the Unix epoch in seconds.",
	"process_num_threads":                "Number of OS threads in the process.",
	"go_goroutines":                      "Number of goroutines that currently exist.",
	"go_threads":                         "Number of OS threads created.",
	"go_gc_duration_seconds":             "Summary of the pause duration of garbage collection cycles.",
	"go_memstats_alloc_bytes":            "Number of bytes allocated in heap and currently in use.",
	"go_memstats_alloc_bytes_total":      "Total number of bytes allocated in heap until now.",
	"go_memstats_heap_inuse_bytes":       "Number of heap bytes in use.",
	"go_memstats_heap_objects":           "Number of currently allocated objects.",
	"go_memstats_sys_bytes":              "Number of bytes obtained from the OS.",
	"go_memstats_next_gc_bytes":          "Heap size at which the next garbage collection cycle starts.",
	"go_memstats_mallocs_total":          "Total number of heap objects allocated.",
	"go_memstats_frees_total":            "Total number of heap objects freed.",
	"go_info":                            "Information about the Go environment.",
}

var metricsBufPool sync.Pool

// writeMetrics writes every registered series with its process and Go metrics in
// the Prometheus text format, each family with a HELP text where Rotor has one.
func writeMetrics(w io.Writer) {
	bb, _ := metricsBufPool.Get().(*bytes.Buffer)
	if bb == nil {
		bb = new(bytes.Buffer)
	}
	bb.Reset()
	metrics.WritePrometheus(bb, true)
	metrics.WriteFDMetrics(bb) // process_open_fds, process_max_fds, as Centrifugo has
	out := make([]byte, 0, bb.Len()+8<<10)
	text := bb.Bytes()
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i+1], text[i+1:]
		} else {
			text = nil
		}
		if name, ok := bytes.CutPrefix(bytes.TrimRight(line, "\n"), []byte("# HELP ")); ok && bytes.IndexByte(name, ' ') < 0 {
			help, _ := engine.FamilyHelp(string(name))
			if help == "" {
				help = otherHelp[string(name)]
			}
			if help != "" {
				out = append(out, "# HELP "...)
				out = append(out, name...)
				out = append(out, ' ')
				out = append(out, help...)
				out = append(out, '\n')
				continue
			}
		}
		out = append(out, line...)
	}
	metricsBufPool.Put(bb)
	w.Write(out)
}
