package benchmarks

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestConnsReportJSONAndTable(t *testing.T) {
	before, after := ptr(int64(50<<20)), ptr(int64(100<<20))
	rep := &connsReport{
		Mode: "conns", Protocol: "json", URL: "ws://127.0.0.1:1/connection/websocket", N: 1000, Channels: 10,
		Established: 1000, RSSSource: "proc", RSSBefore: before, RSSAfter: after,
		RSSPerConn: perConn(i64f(before), i64f(after), 1000), IdleCPUPct: ptr(1.5),
		CloseCodes: map[string]int64{"3012": 2, "none": 1}, OK: true,
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want exactly one line, got %q", out)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["mode"] != "conns" || m["established"] != float64(1000) || m["ok"] != true {
		t.Errorf("bad fields: %v", m)
	}
	if got := m["server_rss_per_conn_bytes"]; got != float64(50<<20)/1000 {
		t.Errorf("rss per conn %v", got)
	}
	if v, present := m["server_goroutines_per_conn"]; !present || v != nil {
		t.Errorf("unmeasured figure should be present and null, got %v %v", v, present)
	}
	buf.Reset()
	writeTable(&buf, rep)
	table := buf.String()
	for _, want := range []string{"established", "1000 / 1000", "RSS per connection", "52429 B", "3012×2 none×1", "n/a", "[OK]"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestFanoutReportJSON(t *testing.T) {
	rep := &fanoutReport{Mode: "fanout", N: 2, M: 3, Expected: 6, Received: 5, Lost: 1, LatP50Ms: 1.5, LatP99Ms: 2, LatMaxMs: 3}
	var buf bytes.Buffer
	if err := writeJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]float64{"lost": 1, "received": 5, "latency_p50_ms": 1.5, "latency_max_ms": 3} {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if rep.passed() {
		t.Error("report with OK=false passed")
	}
}

func TestPerConnAndFormat(t *testing.T) {
	if perConn(nil, ptr(1.0), 10) != nil || perConn(ptr(1.0), ptr(2.0), 0) != nil {
		t.Error("perConn should be nil without both samples and a count")
	}
	if v := perConn(ptr(100.0), ptr(50.0), 10); v == nil || *v != -5 {
		t.Errorf("perConn(100, 50, 10) = %v", v)
	}
	for v, want := range map[float64]string{512: "512 B", 2048: "2.0 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.00 GiB"} {
		if got := fmtBytes(v); got != want {
			t.Errorf("fmtBytes(%v) = %q, want %q", v, got, want)
		}
	}
	if ms(1_234_567) != 1.235 {
		t.Errorf("ms rounding: %v", ms(1_234_567))
	}
}

func TestMainUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "usage"},
		{[]string{"help"}, exitOK, "usage"},
		{[]string{"nosuch"}, exitUsage, "unknown mode"},
		{[]string{"conns", "-h"}, exitOK, "-hold"},
		{[]string{"conns", "--bogus"}, exitUsage, "bogus"},
		{[]string{"conns", "--addr", "10.1.2.3:8000"}, exitUsage, "not a loopback"},
		{[]string{"fanout", "--api", "http://example.com/api"}, exitUsage, "not a loopback"},
		{[]string{"conns", "--protocol", "xml"}, exitUsage, "json or protobuf"},
		{[]string{"conns", "-n", "0"}, exitUsage, "-n must"},
		{[]string{"fanout", "--concurrency", "0"}, exitUsage, "concurrency"},
		{[]string{"conns", "-n", "100000000"}, exitUsage, "RLIMIT_NOFILE"},
		{[]string{"conns", "extra"}, exitUsage, "unexpected"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		code := Main(tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.msg) {
			t.Errorf("Main(%q) = %d, stderr %q; want %d containing %q", tc.args, code, errOut.String(), tc.code, tc.msg)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for raw, ok := range map[string]bool{
		"ws://127.0.0.1:8000/connection/websocket": true,
		"ws://localhost:1/x":                       true,
		"ws://[::1]:1/x":                           true,
		"ws://127.9.9.9:1/x":                       true,
		"ws://192.168.1.1:1/x":                     false,
		"http://127.0.0.1:1/x":                     false, // wrong scheme for ws
		"ws://example.com/x":                       false,
	} {
		if err := checkLoopback(raw, "ws"); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
}
