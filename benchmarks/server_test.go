package benchmarks

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestAgainstServer runs every mode, in both protocols, against a real server binary:
// ROTOR_BIN names it (Rotor, or Centrifugo v6 for comparison; both take --config). The
// test writes a config with Centrifugo's key names, starts the server on 127.0.0.1,
// and kills it by PID at the end. Each run is small (a few seconds) and checked for
// sanity: nothing lost or failed, 0 < p50 ≤ p90 ≤ p99 ≤ max, rates above zero, and an
// HTML report written.
func TestAgainstServer(t *testing.T) {
	bin := os.Getenv("ROTOR_BIN")
	if bin == "" {
		t.Skip("ROTOR_BIN not set")
	}
	port := freePort(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	conf := fmt.Sprintf(`{"http_server":{"address":"127.0.0.1","port":%d},"client":{"token":{"hmac_secret_key":"s"}},"http_api":{"key":"k"},"channel":{"without_namespace":{"allow_subscribe_for_client":true}},"health":{"enabled":true},"prometheus":{"enabled":true},"usage_stats":{"disabled":true}}`, port)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // this PID only: the server we started
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	waitListening(t, addr, 15*time.Second)
	common := []string{"--addr", addr, "--secret", "s", "--api-key", "k", "--pid", strconv.Itoa(pid), "--timeout", "60s",
		"--metrics-url", "http://" + addr + "/metrics"}
	reportOK := func(t *testing.T, path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(b, []byte("<svg ")) || !bytes.Contains(b, []byte("<polyline")) {
			t.Errorf("report %s: %d bytes, err %v", path, len(b), err)
		}
	}

	for _, proto := range []string{"json", "protobuf"} {
		t.Run("conns/"+proto, func(t *testing.T) {
			report := filepath.Join(dir, "conns-"+proto+".html")
			m, code, stderr := runJSON(t, append([]string{"conns", "-n", "200", "--hold", "2s", "--channels", "10", "--protocol", proto, "--report", report}, common...)...)
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			if num(t, m, "established") != 200 || num(t, m, "failed") != 0 || num(t, m, "dropped") != 0 {
				t.Errorf("report %v", m)
			}
			rss := num(t, m, "server_rss_after_bytes")
			if rss <= 0 || m["server_rss_per_conn_bytes"] == nil || m["server_idle_cpu_s"] == nil {
				t.Errorf("server figures missing: %v", m)
			}
			checkOrdered(t, m, "handshake_p50_ms", "handshake_p99_ms", "handshake_max_ms")
			if num(t, m, "connect_rate") <= 0 {
				t.Errorf("connect rate: %v", m)
			}
			reportOK(t, report)
			t.Logf("conns/%s: RSS per conn %v B, idle CPU %v%%, handshake p50 %v ms", proto,
				m["server_rss_per_conn_bytes"], m["server_idle_cpu_pct"], m["handshake_p50_ms"])
		})
		t.Run("fanout/"+proto, func(t *testing.T) {
			report := filepath.Join(dir, "fanout-"+proto+".html")
			m, code, stderr := runJSON(t, append([]string{"fanout", "-n", "50", "-m", "200", "--protocol", proto, "--channel", "bench-" + proto, "--report", report}, common...)...)
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			for k, want := range map[string]float64{"established": 50, "published": 200, "expected": 10000, "received": 10000, "lost": 0, "out_of_order": 0} {
				if got := num(t, m, k); got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			p50, p99, mx := num(t, m, "latency_p50_ms"), num(t, m, "latency_p99_ms"), num(t, m, "latency_max_ms")
			if !(p50 > 0 && p50 <= p99 && p99 <= mx) {
				t.Errorf("latencies p50 %v p99 %v max %v", p50, p99, mx)
			}
			checkOrdered(t, m, "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms")
			if num(t, m, "delivered_per_s") <= 0 || num(t, m, "publish_rate") <= 0 {
				t.Errorf("rates: %v", m)
			}
			reportOK(t, report)
			t.Logf("fanout/%s: %v msg/s, p50 %v ms, p99 %v ms, max %v ms, CPU %v ns/delivery", proto,
				m["delivered_per_s"], p50, p99, mx, m["server_cpu_ns_per_delivery"])
		})
		t.Run("publish/"+proto, func(t *testing.T) {
			report := filepath.Join(dir, "publish-"+proto+".html")
			// Without subscribers: the API alone.
			m, code, stderr := runJSON(t, append([]string{"publish", "-n", "3000", "-c", "8", "--protocol", proto, "--channel", "pub0-" + proto}, common...)...)
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			for k, want := range map[string]float64{"requests": 3000, "succeeded": 3000, "errors": 0} {
				if got := num(t, m, k); got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			checkOrdered(t, m, "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms")
			if num(t, m, "requests_per_s") <= 0 {
				t.Errorf("rate: %v", m)
			}
			t.Logf("publish/%s: %v req/s, p50 %v ms, p99 %v ms, max %v ms, CPU %v µs/request", proto,
				m["requests_per_s"], m["latency_p50_ms"], m["latency_p99_ms"], m["latency_max_ms"], m["server_cpu_us_per_request"])
			// With subscribers, for about two seconds: every publication reaches each.
			m, code, stderr = runJSON(t, append([]string{"publish", "-n", "0", "--duration", "2s", "-c", "4", "--rate", "500",
				"--subscribers", "20", "--protocol", proto, "--channel", "pub20-" + proto, "--report", report}, common...)...)
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			if num(t, m, "lost") != 0 || num(t, m, "out_of_order") != 0 || num(t, m, "established") != 20 ||
				num(t, m, "received") != 20*num(t, m, "succeeded") || num(t, m, "succeeded") < 500 {
				t.Errorf("deliveries: %v", m)
			}
			checkOrdered(t, m, "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms")
			checkOrdered(t, m, "delivery_p50_ms", "delivery_p99_ms", "delivery_max_ms")
			reportOK(t, report)
		})
		t.Run("churn/"+proto, func(t *testing.T) {
			report := filepath.Join(dir, "churn-"+proto+".html")
			m, code, stderr := runJSON(t, append([]string{"churn", "--duration", "2s", "-c", "8", "--channels", "10", "--protocol", proto,
				"--channel", "churn-" + proto, "--report", report}, common...)...)
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			if num(t, m, "errors") != 0 || num(t, m, "cycles") != num(t, m, "started") || num(t, m, "cycles_per_s") <= 0 {
				t.Errorf("cycles: %v", m)
			}
			checkOrdered(t, m, "handshake_p50_ms", "handshake_p90_ms", "handshake_p99_ms", "handshake_max_ms")
			checkOrdered(t, m, "close_p50_ms", "close_p99_ms")
			reportOK(t, report)
			t.Logf("churn/%s: %v cycles/s, handshake p50 %v ms, p99 %v ms, CPU %v µs/cycle", proto,
				m["cycles_per_s"], m["handshake_p50_ms"], m["handshake_p99_ms"], m["server_cpu_us_per_cycle"])
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, addr string, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not listen on %s within %v", addr, bound)
}
