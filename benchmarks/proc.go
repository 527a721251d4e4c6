package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server-side figures come from /proc (with --pid) and from a Prometheus text endpoint
// (with --metrics-url). Both are optional; a missing figure is reported as absent, not
// as zero.

var errNoField = errors.New("bench: field not found")

// parseVmRSS returns VmRSS in bytes from the text of /proc/PID/status.
func parseVmRSS(status []byte) (int64, error) { return parseStatusBytes(status, "VmRSS") }

// parseVmHWM returns VmHWM, the peak resident set size, in bytes from the text of
// /proc/PID/status.
func parseVmHWM(status []byte) (int64, error) { return parseStatusBytes(status, "VmHWM") }

// parseStatusBytes returns the size field name of /proc/PID/status in bytes.
func parseStatusBytes(status []byte, name string) (int64, error) {
	prefix := []byte(name + ":")
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) == 0 {
			return 0, errNoField
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: %s: %w", name, err)
		}
		mult := int64(1024) // the kernel always writes kB
		if len(f) > 1 && !strings.EqualFold(f[1], "kB") {
			mult = 1
		}
		return v * mult, nil
	}
	return 0, errNoField
}

// parseStatCPU returns utime+stime, in clock ticks, from the text of /proc/PID/stat.
// The command name (field 2) may contain spaces and parentheses, so fields are counted
// from the last ')'.
func parseStatCPU(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errNoField
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errNoField
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: bad /proc stat times %q %q", f[11], f[12])
	}
	return ut + st, nil
}

// clockTicks returns the kernel's USER_HZ from the auxiliary vector (AT_CLKTCK), or 100,
// its value on every mainstream Linux configuration.
func clockTicks() uint64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	return parseAuxvClockTicks(b)
}

func parseAuxvClockTicks(b []byte) uint64 {
	const atClkTck = 17
	for len(b) >= 16 {
		k := binary.NativeEndian.Uint64(b)
		v := binary.NativeEndian.Uint64(b[8:])
		b = b[16:]
		if k == 0 {
			break
		}
		if k == atClkTck && v > 0 {
			return v
		}
	}
	return 100
}

// procSample is one reading of a process's memory and CPU.
type procSample struct {
	rss   int64         // bytes
	hwm   int64         // peak RSS since the process started, bytes
	cpu   time.Duration // user+system since start
	taken time.Time
}

func readProc(pid int) (procSample, error) {
	s := procSample{taken: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	if s.rss, err = parseVmRSS(status); err != nil {
		return s, err
	}
	if s.hwm, err = parseVmHWM(status); err != nil {
		return s, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	ticks, err := parseStatCPU(stat)
	if err != nil {
		return s, err
	}
	hz := clockTicks()
	s.cpu = time.Duration(ticks) * time.Second / time.Duration(hz)
	return s, nil
}

// promValues reads the Prometheus text exposition format and returns, for each wanted
// metric, the sum of its samples (a metric without labels has one sample). A wanted
// metric is a name, or a name with one label pair, `name{label="value"}`, which sums
// the samples of that name whose label set holds that pair. Comments, blank lines
// and other metrics are skipped; timestamps are ignored.
func promValues(r io.Reader, wanted ...string) (map[string]float64, error) {
	type pairWant struct{ key, pair string }
	want := make(map[string]bool, len(wanted))
	pairs := make(map[string][]pairWant)
	for _, w := range wanted {
		if name, pair, ok := strings.Cut(w, "{"); ok {
			pairs[name] = append(pairs[name], pairWant{w, strings.TrimSuffix(pair, "}")})
			continue
		}
		want[w] = true
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		nameEnd := strings.IndexAny(line, "{ \t")
		if nameEnd < 0 {
			continue
		}
		name := line[:nameEnd]
		if !want[name] && pairs[name] == nil {
			continue
		}
		rest, labels := line[nameEnd:], ""
		if rest[0] == '{' {
			j := closingBrace(rest)
			if j < 0 {
				continue
			}
			labels, rest = rest[1:j], rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		if want[name] {
			out[name] += v
		}
		for _, p := range pairs[name] {
			if hasLabelPair(labels, p.pair) {
				out[p.key] += v
			}
		}
	}
	return out, sc.Err()
}

// hasLabelPair reports whether the label set text labels (without braces) holds
// pair, `label="value"`, as a whole pair.
func hasLabelPair(labels, pair string) bool {
	for rest := labels; ; {
		i := strings.Index(rest, pair)
		if i < 0 {
			return false
		}
		before, after := rest[:i], rest[i+len(pair):]
		if (before == "" || strings.HasSuffix(before, ",")) && (after == "" || after[0] == ',') {
			return true
		}
		rest = after
	}
}

// closingBrace returns the index of the '}' ending the label set that s starts with,
// skipping quoted label values.
func closingBrace(s string) int {
	inStr := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && c == '}':
			return i
		}
	}
	return -1
}

const (
	metricRSS        = "process_resident_memory_bytes"
	metricHeapInuse  = "go_memstats_heap_inuse_bytes"
	metricGoroutines = "go_goroutines"
	// The server's disconnects of slow clients (3008) and of clients whose write
	// failed or timed out (3009), as Centrifugo and Rotor count them.
	metricSlowDisconnects  = `centrifugo_client_num_server_disconnects{code="3008"}`
	metricWriteDisconnects = `centrifugo_client_num_server_disconnects{code="3009"}`
)

// scrapeMetrics fetches url and returns the process metrics and disconnect counts
// the tool reports.
func scrapeMetrics(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: GET %s: %s", url, resp.Status)
	}
	return promValues(io.LimitReader(resp.Body, 64<<20), metricRSS, metricHeapInuse, metricGoroutines,
		metricSlowDisconnects, metricWriteDisconnects)
}

// raiseNoFileLimit raises RLIMIT_NOFILE's soft limit to the hard limit and returns the
// soft limit now in force.
func raiseNoFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
