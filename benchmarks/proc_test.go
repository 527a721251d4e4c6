package benchmarks

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tcentrifugo\nVmPeak:\t 2879880 kB\nVmHWM:\t  700100 kB\nVmRSS:\t  628692 kB\nRssAnon:\t  590000 kB\n"
	got, err := parseVmRSS([]byte(status))
	if err != nil || got != 628692*1024 {
		t.Fatalf("got %d %v", got, err)
	}
	if got, err := parseVmHWM([]byte(status)); err != nil || got != 700100*1024 {
		t.Fatalf("VmHWM: got %d %v", got, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("missing VmRSS accepted")
	}
	if _, err := parseVmRSS([]byte("VmRSS:\t abc kB\n")); err == nil {
		t.Fatal("bad VmRSS accepted")
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command name holds spaces and a ')' – fields are counted from the last ')'.
	stat := "29537 (weird) name) S 1 29537 29537 0 -1 4194560 12345 0 0 0 731 412 0 0 20 0 14 0 4417 2949 160000 18446744073709551615\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 731+412 {
		t.Fatalf("got %d %v, want 1143", got, err)
	}
	if _, err := parseStatCPU([]byte("1 (x) S 1 2")); err == nil {
		t.Fatal("short stat accepted")
	}
	if _, err := parseStatCPU([]byte("no paren")); err == nil {
		t.Fatal("stat without ')' accepted")
	}
}

func TestReadProcSelf(t *testing.T) {
	// Burn a little CPU so utime moves off zero on any machine.
	deadline := time.Now().Add(30 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	_ = x
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.rss < 1<<20 || s.rss > 64<<30 {
		t.Errorf("implausible RSS %d", s.rss)
	}
	if s.cpu < 0 || s.cpu > time.Hour {
		t.Errorf("implausible CPU %v", s.cpu)
	}
	if hz := clockTicks(); hz < 1 || hz > 10000 {
		t.Errorf("implausible USER_HZ %d", hz)
	}
}

func TestParseAuxv(t *testing.T) {
	var b []byte
	put := func(k, v uint64) {
		b = binary.NativeEndian.AppendUint64(b, k)
		b = binary.NativeEndian.AppendUint64(b, v)
	}
	put(6, 4096) // AT_PAGESZ
	put(17, 250) // AT_CLKTCK
	put(0, 0)
	if got := parseAuxvClockTicks(b); got != 250 {
		t.Fatalf("got %d, want 250", got)
	}
	if got := parseAuxvClockTicks(nil); got != 100 {
		t.Fatalf("default %d, want 100", got)
	}
}

func TestPromValues(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 21680
go_memstats_heap_inuse_bytes 1.835928e+08
process_resident_memory_bytes{instance="a",note="x}y \"q\""} 100 1700000000000
process_resident_memory_bytes{instance="b"} 23
go_goroutines_other 5
unrelated{a="b"} 1
centrifugo_client_num_server_disconnects{code="3008"} 4
centrifugo_client_num_server_disconnects{client_name="x",code="3008"} 2
centrifugo_client_num_server_disconnects{code="30080"} 7
centrifugo_client_num_server_disconnects{xcode="3009"} 7

badline
go_memstats_heap_inuse_bytes_total NaN
`
	m, err := promValues(strings.NewReader(text), metricRSS, metricHeapInuse, metricGoroutines, metricSlowDisconnects, metricWriteDisconnects)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{metricGoroutines: 21680, metricHeapInuse: 1.835928e+08, metricRSS: 123, metricSlowDisconnects: 6}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("unexpected metrics: %v", m)
	}
}

func TestRaiseNoFileLimit(t *testing.T) {
	lim, err := raiseNoFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if lim < 64 {
		t.Fatalf("RLIMIT_NOFILE %d", lim)
	}
}
