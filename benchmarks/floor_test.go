package benchmarks

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestFloorMode(t *testing.T) {
	html := filepath.Join(t.TempDir(), "floor.html")
	m, code, stderr := runJSON(t, "floor", "-n", "50", "--rounds", "3", "--duration", "300ms", "-c", "2", "--subscribers", "1000", "--timeout", "20s", "--report", html)
	if code != exitOK || m["ok"] != true {
		t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	// A latency histogram of the null server and its requests/s over time.
	if n := bytes.Count(page, []byte("<svg")); n != 2 || !bytes.Contains(page, []byte("null server request latency")) {
		t.Errorf("report has %d plots:\n%.2000s", n, page)
	}
	for _, k := range []string{"syscall_ns", "write_us", "read_us", "broadcast_cpu_ms", "broadcast_wall_ms", "null_requests", "null_requests_per_s", "null_cpu_us_per_request", "null_latency_p50_ms"} {
		if num(t, m, k) <= 0 {
			t.Errorf("%s = %v, want > 0", k, m[k])
		}
	}
	if runtime.GOOS == "linux" && num(t, m, "null_server_cpu_us_per_request") <= 0 {
		t.Errorf("null server CPU per request missing: %v", m)
	}
	if m["null_server_cpu_us_per_request"] != nil && num(t, m, "null_server_cpu_us_per_request") > num(t, m, "null_cpu_us_per_request") {
		t.Errorf("null server CPU per request exceeds the whole process's: %v", m)
	}
	if num(t, m, "null_errors") != 0 {
		t.Errorf("null server errors: %v", m)
	}
	for _, g := range [][3]string{{"write_min_us", "write_us", "write_max_us"}, {"read_min_us", "read_us", "read_max_us"}} {
		if !(num(t, m, g[0]) <= num(t, m, g[1]) && num(t, m, g[1]) <= num(t, m, g[2])) {
			t.Errorf("%s ≤ %s ≤ %s does not hold: %v", g[0], g[1], g[2], m)
		}
	}
	// The broadcast bound is subscribers × (write + read), and that over the cores.
	want := 1000 * (num(t, m, "write_us") + num(t, m, "read_us")) / 1000
	if got := num(t, m, "broadcast_cpu_ms"); math.Abs(got-want) > 0.01 {
		t.Errorf("broadcast_cpu_ms = %v, want %v", got, want)
	}
	if got, want := num(t, m, "broadcast_wall_ms"), num(t, m, "broadcast_cpu_ms")/num(t, m, "cores"); math.Abs(got-want) > 0.01 {
		t.Errorf("broadcast_wall_ms = %v, want %v", got, want)
	}
	if num(t, m, "null_latency_p50_ms") > num(t, m, "null_latency_p99_ms") {
		t.Errorf("null latency percentiles out of order: %v", m)
	}
}

func TestFloorBadArgs(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"--rounds", "0"}, {"--msg-size", "0"}, {"-c", "0"}, {"--duration", "-1s"}} {
		var out, errOut bytes.Buffer
		if code := Main(append([]string{"floor"}, args...), &out, &errOut); code != exitUsage || errOut.Len() == 0 {
			t.Errorf("floor %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestNullRequestLen(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 63, true},
		{"POST / HTTP/1.1\r\ncontent-length:  3 \r\n\r\nabcPOST", 43, true},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, true},
		{"GET / HTTP/1.1\r\nHost: x\r\n", 0, false},
		{"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 0, false},
		{"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 0, false},
	} {
		got, ok := nullRequestLen([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("nullRequestLen(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzNullRequestLen(f *testing.F) {
	f.Add([]byte("POST /api/publish HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok := nullRequestLen(b)
		if !ok {
			if n != 0 {
				t.Fatalf("not ok but length %d", n)
			}
			return
		}
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 || n < end+4 {
			t.Fatalf("length %d shorter than the head (%d)", n, end+4)
		}
	})
}
