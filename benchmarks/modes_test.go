package benchmarks

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkOrdered fails unless 0 < p50 ≤ p90 ≤ p99 ≤ max for the given JSON keys.
func checkOrdered(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	prev := 0.0
	for i, k := range keys {
		v := num(t, m, k)
		if (i == 0 && v <= 0) || v < prev {
			t.Errorf("%s = %v out of order (previous %v); want 0 < %s", k, v, prev, strings.Join(keys, " ≤ "))
		}
		prev = v
	}
}

func TestFakePublish(t *testing.T) {
	for _, proto := range []string{"json", "protobuf"} {
		t.Run(proto, func(t *testing.T) {
			f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
			addr := startFakeServer(t, f)
			m, code, stderr := runJSON(t, "publish", "--addr", addr, "--api-key", "k", "--secret", "s", "--protocol", proto,
				"-n", "300", "-c", "4", "--timeout", "20s", "--pid", strconv.Itoa(os.Getpid()))
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			for k, want := range map[string]float64{"requests": 300, "succeeded": 300, "errors": 0, "subscribers": 0, "received": 0, "lost": 0} {
				if got := num(t, m, k); got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			if f.pubs.Load() != 300 {
				t.Errorf("server saw %d publications", f.pubs.Load())
			}
			checkOrdered(t, m, "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms")
			if num(t, m, "requests_per_s") <= 0 || m["server_cpu_us_per_request"] == nil || m["requests_per_server_cpu_s"] == nil {
				t.Errorf("rate or CPU missing: %v", m)
			}

			// With subscribers, every successful publish reaches each of them.
			m, code, stderr = runJSON(t, "publish", "--addr", addr, "--api-key", "k", "--secret", "s", "--protocol", proto,
				"-n", "100", "-c", "2", "--subscribers", "10", "--channel", "with-subs", "--timeout", "20s")
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			for k, want := range map[string]float64{"established": 10, "succeeded": 100, "expected": 1000, "received": 1000, "lost": 0, "out_of_order": 0} {
				if got := num(t, m, k); got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			checkOrdered(t, m, "delivery_p50_ms", "delivery_p99_ms", "delivery_max_ms")
		})
	}
}

func TestFakePublishDurationAndErrors(t *testing.T) {
	f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
	addr := startFakeServer(t, f)
	start := time.Now()
	m, code, stderr := runJSON(t, "publish", "--addr", addr, "--api-key", "k", "-n", "0", "--duration", "400ms", "-c", "2", "--timeout", "20s")
	if code != exitOK || m["ok"] != true || num(t, m, "succeeded") < 1 {
		t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 5*time.Second {
		t.Errorf("duration bound not applied: run took %v", d)
	}
	if rs := num(t, m, "run_s"); rs < 0.39 || rs > 2 {
		t.Errorf("run_s %v", rs)
	}

	m, code, _ = runJSON(t, "publish", "--addr", addr, "--api-key", "wrong", "-n", "20", "-c", "2", "--timeout", "20s")
	if code != exitFail || num(t, m, "api_errors") != 20 || num(t, m, "succeeded") != 0 {
		t.Errorf("bad key: exit %d report %v", code, m)
	}
}

func TestFakeChurn(t *testing.T) {
	for _, proto := range []string{"json", "protobuf"} {
		t.Run(proto, func(t *testing.T) {
			f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
			addr := startFakeServer(t, f)
			m, code, stderr := runJSON(t, "churn", "--addr", addr, "--secret", "s", "--protocol", proto,
				"-n", "120", "--duration", "0", "-c", "4", "--channels", "3", "--timeout", "20s", "--pid", strconv.Itoa(os.Getpid()))
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			for k, want := range map[string]float64{"started": 120, "cycles": 120, "errors": 0, "close_errors": 0, "failed": 0} {
				if got := num(t, m, k); got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			checkOrdered(t, m, "handshake_p50_ms", "handshake_p90_ms", "handshake_p99_ms", "handshake_max_ms")
			if num(t, m, "cycles_per_s") <= 0 || num(t, m, "close_p50_ms") <= 0 || m["server_cpu_us_per_cycle"] == nil {
				t.Errorf("figures missing: %v", m)
			}
		})
	}
}

func TestFakeChurnDurationAndBadToken(t *testing.T) {
	f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
	addr := startFakeServer(t, f)
	start := time.Now()
	m, code, stderr := runJSON(t, "churn", "--addr", addr, "--secret", "s", "--duration", "300ms", "-c", "2", "--rate", "100", "--timeout", "20s")
	if code != exitOK || m["ok"] != true {
		t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
	}
	// 300 ms at 100 cycles/s starts about 30 cycles.
	if c := num(t, m, "cycles"); c < 20 || c > 32 {
		t.Errorf("cycles %v, want about 30", c)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %v", d)
	}

	m, code, _ = runJSON(t, "churn", "--addr", addr, "--secret", "wrong", "-n", "5", "--duration", "0", "-c", "1", "--timeout", "20s")
	if code != exitFail || num(t, m, "connect_errors") != 5 || num(t, m, "cycles") != 0 {
		t.Errorf("bad token: exit %d report %v", code, m)
	}
}

// TestReportFile runs every mode against the fake server with --report and checks the
// HTML: produced, self-contained, and holding the histogram, percentile table and the
// time plots.
func TestReportFile(t *testing.T) {
	f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
	addr := startFakeServer(t, f)
	dir := t.TempDir()
	pid := strconv.Itoa(os.Getpid())
	base := []string{"--addr", addr, "--secret", "s", "--api-key", "k", "--timeout", "20s", "--pid", pid}
	cases := map[string][]string{
		"conns":   {"conns", "-n", "20", "--channels", "2", "--hold", "600ms"},
		"fanout":  {"fanout", "-n", "10", "-m", "60", "--rate", "100"},
		"publish": {"publish", "-n", "0", "--duration", "700ms", "-c", "2", "--rate", "300", "--subscribers", "3"},
		"churn":   {"churn", "--duration", "700ms", "-c", "2"},
	}
	for mode, args := range cases {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(dir, mode+".html")
			var out, errOut bytes.Buffer
			code := Main(append(append(args, base...), "--report", path), &out, &errOut)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %q, output %s", code, errOut.String(), out.String())
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			page := string(b)
			for _, want := range []string{"<!DOCTYPE html>", "rotor bench " + mode, "histogram", "<rect ", "p50", "p99.9",
				"Over time", "<polyline", "server CPU", "server RSS", "<h2>JSON</h2>", "&#34;mode&#34;:&#34;" + mode} {
				if !strings.Contains(page, want) {
					t.Errorf("report lacks %q", want)
				}
			}
			if n := strings.Count(page, "<svg "); n < 3 {
				t.Errorf("%d SVG plots, want a histogram and time plots", n)
			}
			// Self-contained: no script, no external reference (the SVG namespace is
			// an identifier, not a fetch).
			rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
			rest = strings.ReplaceAll(rest, "http://"+addr, "") // the API URL, quoted as text
			for _, bad := range []string{"<script", "<link", "<img", "http://", "https://", "@import", "url("} {
				if strings.Contains(rest, bad) {
					t.Errorf("report contains %q", bad)
				}
			}
			if regexp.MustCompile(`(?i)(src|href)\s*=`).MatchString(rest) {
				t.Error("report references an external asset")
			}
			// Each time plot has points: at least two samples over the run.
			if !regexp.MustCompile(`points="[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+`).MatchString(page) {
				t.Error("no time plot with two points or more")
			}
		})
	}
}

func TestReportBadPathAndNoEmptyFile(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main([]string{"churn", "--report", filepath.Join(t.TempDir(), "missing", "r.html")}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "--report") {
		t.Errorf("exit %d stderr %q", code, errOut.String())
	}
	path := filepath.Join(t.TempDir(), "r.html")
	code = Main([]string{"churn", "-n", "0", "--duration", "0", "--report", path}, &out, &errOut)
	if code != exitUsage {
		t.Errorf("exit %d", code)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a run that did not start left %s behind (%v)", path, err)
	}
}

func TestModeUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"publish", "-h"}, exitOK, "-subscribers"},
		{[]string{"churn", "-h"}, exitOK, "-close-timeout"},
		{[]string{"publish", "-n", "0"}, exitUsage, "bound the run"},
		{[]string{"churn", "--duration", "0"}, exitUsage, "bound the run"},
		{[]string{"publish", "-c", "0"}, exitUsage, "concurrency"},
		{[]string{"churn", "--concurrency", "0"}, exitUsage, "concurrency"},
		{[]string{"publish", "--subscribers", "-1"}, exitUsage, "subscribers"},
		{[]string{"churn", "--channels", "0"}, exitUsage, "channels"},
		{[]string{"publish", "--api", "http://10.0.0.1/api"}, exitUsage, "not a loopback"},
		{[]string{"conns", "--sample-interval", "10ms"}, exitUsage, "sample-interval"},
		{[]string{"fanout", "--sample-interval", "5s"}, exitUsage, "sample-interval"},
		{[]string{"fanout", "--publish-pid", "-1"}, exitUsage, "publish-pid"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		code := Main(tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.msg) {
			t.Errorf("Main(%q) = %d, stderr %q; want %d containing %q", tc.args, code, errOut.String(), tc.code, tc.msg)
		}
	}
}
