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

// TestAgainstServer runs both modes against a real server binary: ROTOR_BIN names it
// (Rotor, or Centrifugo v6 for comparison; both take --config). The test writes a
// config with Centrifugo's key names, starts the server on 127.0.0.1, and kills it by
// PID at the end.
func TestAgainstServer(t *testing.T) {
	bin := os.Getenv("ROTOR_BIN")
	if bin == "" {
		t.Skip("ROTOR_BIN not set")
	}
	port := freePort(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	conf := fmt.Sprintf(`{"http_server":{"address":"127.0.0.1","port":%d},"client":{"token":{"hmac_secret_key":"s"}},"http_api":{"key":"k"},"channel":{"without_namespace":{"allow_subscribe_for_client":true}}}`, port)
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
	common := []string{"--addr", addr, "--secret", "s", "--api-key", "k", "--pid", strconv.Itoa(pid), "--timeout", "60s"}

	for _, proto := range []string{"json", "protobuf"} {
		t.Run("conns/"+proto, func(t *testing.T) {
			m, code, stderr := runJSON(t, append([]string{"conns", "-n", "200", "--hold", "2s", "--channels", "10", "--protocol", proto}, common...)...)
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
			t.Logf("conns/%s: RSS per conn %v B, idle CPU %v%%, handshake p50 %v ms", proto,
				m["server_rss_per_conn_bytes"], m["server_idle_cpu_pct"], m["handshake_p50_ms"])
		})
		t.Run("fanout/"+proto, func(t *testing.T) {
			m, code, stderr := runJSON(t, append([]string{"fanout", "-n", "50", "-m", "200", "--protocol", proto, "--channel", "bench-" + proto}, common...)...)
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
			t.Logf("fanout/%s: %v msg/s, p50 %v ms, p99 %v ms, max %v ms, CPU %v ns/delivery", proto,
				m["delivered_per_s"], p50, p99, mx, m["server_cpu_ns_per_delivery"])
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
