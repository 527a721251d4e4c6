package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want stats
	}{
		{nil, stats{}},
		{[]float64{5}, stats{n: 1, median: 5, min: 5, max: 5}},
		{[]float64{3, 1, 2}, stats{n: 3, median: 2, min: 1, max: 3}},
		{[]float64{4, 1, 3, 2}, stats{n: 4, median: 2.5, min: 1, max: 4}},
	} {
		if got := summarize(tc.in); got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestRatioAndFormat(t *testing.T) {
	st := func(m float64) stats { return stats{n: 1, median: m, min: m, max: m} }
	for _, tc := range []struct {
		a, b stats
		want string
	}{
		{st(2), st(1), "2.00×"},
		{st(1), st(4), "0.25×"},
		{st(150), st(10), "15.0×"},
		{st(5000), st(10), "500×"},
		{st(0), st(0), "="},
		{st(0), st(2), "0×"},
		{st(1.36), st(501.22), "0.003×"},
		{st(1e-4), st(1), "<0.001×"},
		{st(1), st(0), "—"},
		{stats{}, st(1), "—"},
	} {
		if got := ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tc.a.median, tc.b.median, got, tc.want)
		}
	}
	if got := fmtStats(stats{n: 3, median: 2, min: 1, max: 3.5}, 1); got != "2.0 (1.0–3.5)" {
		t.Errorf("fmtStats = %q", got)
	}
	if got := fmtStats(stats{}, 1); got != "n/a" {
		t.Errorf("fmtStats(empty) = %q", got)
	}
	if got := fmtNum(1234567, 0); got != "1\u2009234\u2009567" {
		t.Errorf("fmtNum = %q", got)
	}
	if got := fmtNum(9999, 0); got != "9999" {
		t.Errorf("fmtNum = %q", got)
	}
}

func TestParseSettings(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "rotor")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := parseSettings([]string{"ROTOR_BIN=" + bin, "N=200", "RUNS=1", "HOLD=2s", "SCENARIOS=churn, conns", "OUT=" + filepath.Join(dir, "r.md")})
	if err != nil {
		t.Fatal(err)
	}
	if s.n != 200 || s.runs != 1 || s.hold != 2*time.Second || s.duration != 10*time.Second || s.otherBin != "" ||
		s.redisN != 200 || s.redisM != 200 || s.redisServer != "redis-server" {
		t.Errorf("settings %+v", s)
	}
	if strings.Join(s.scenarios, ",") != "churn,conns" || s.raw != filepath.Join(dir, "r.jsonl") {
		t.Errorf("scenarios %v raw %s", s.scenarios, s.raw)
	}
	if strings.Join(s.loadgen, " ") != bin+" bench" {
		t.Errorf("loadgen %v", s.loadgen)
	}
	_, err = parseSettings([]string{"ROTOR_BIN=" + filepath.Join(dir, "missing"), "N=0", "HOLD=x", "SCENARIOS=nope", "CENTRIFUGO_BIN=" + dir})
	for _, want := range []string{"never builds", "N=", "HOLD=", "nope", "CENTRIFUGO_BIN"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestServerConfig(t *testing.T) {
	var m map[string]map[string]any
	if err := json.Unmarshal(serverConfig(1234), &m); err != nil {
		t.Fatal(err)
	}
	if m["http_server"]["port"] != float64(1234) || m["health"]["enabled"] != true ||
		m["prometheus"]["enabled"] != true || m["usage_stats"]["disabled"] != true || m["http_api"]["key"] != apiKey {
		t.Errorf("config %v", m)
	}
}

func TestRenderMarkdown(t *testing.T) {
	s := &settings{loadgen: []string{"bin/rotor", "bench"}, n: 200, runs: 2, m: 10, hold: 2 * time.Second, duration: time.Second,
		rateSeconds: 2, publishC: 16, churnC: 16, protocol: "json", scenarios: []string{"publish"}, raw: "bench-results.jsonl"}
	servers := []server{{"Rotor", "/nonexistent/rotor"}, {"Centrifugo", "/nonexistent/centrifugo"}}
	rep := func(rps, p50 float64) map[string]any {
		return map[string]any{"ok": true, "requests_per_s": rps, "latency_p50_ms": p50, "errors": 0.0, "server_cpu_us_per_request": nil}
	}
	results := []result{
		{Scenario: "publish", Server: "Rotor", Run: 1, OK: true, Report: rep(30000, 0.2)},
		{Scenario: "publish", Server: "Centrifugo", Run: 1, OK: true, Report: rep(15000, 0.4)},
		{Scenario: "publish", Server: "Rotor", Run: 2, OK: true, Report: rep(20000, 0.3)},
		{Scenario: "publish", Server: "Centrifugo", Run: 2, OK: false, Err: "boom", Report: rep(10000, 0.6)},
	}
	md := renderMarkdown(s, servers, results, time.Now(), time.Minute)
	for _, want := range []string{
		"| scenario | metric | unit | Rotor | Centrifugo | Rotor/Centrifugo |",
		"| **publish** | runs ok | | 2/2 | 1/2 |",
		"| | requests ↑ | req/s | 25\u2009000 (20\u2009000–30\u2009000) | 12\u2009500 (10\u2009000–15\u2009000) | 2.00× |",
		"| | latency p50 ↓ | ms | 0.250 (0.200–0.300) | 0.500 (0.400–0.600) | 0.50× |",
		"| | server CPU per request ↓ | µs | n/a | n/a | — |",
		"publish on Centrifugo, round 2: boom",
		`"usage_stats"`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Rotor alone: no ratio column.
	md = renderMarkdown(s, servers[:1], results[:1], time.Now(), time.Minute)
	if strings.Contains(md, "Rotor/") || !strings.Contains(md, "| scenario | metric | unit | Rotor |\n") {
		t.Errorf("single-server table:\n%s", md)
	}
}

func TestLastLine(t *testing.T) {
	if got := lastLine([]byte("progress\n{\"a\":1}\n")); !bytes.Equal(got, []byte(`{"a":1}`)) {
		t.Errorf("lastLine = %q", got)
	}
}

func TestRerender(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "old.jsonl")
	lines := `{"scenario":"churn","server":"Rotor","run":1,"ok":true,"report":{"cycles_per_s":3000,"errors":0}}
{"scenario":"churn","server":"Centrifugo","run":1,"ok":true,"report":{"cycles_per_s":2000,"errors":0}}
`
	if err := os.WriteFile(raw, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "r.md")
	var stdout, stderr bytes.Buffer
	code := run([]string{"ROTOR_BIN=/nonexistent", "FROM_JSONL=" + raw, "OUT=" + out, "SCENARIOS=churn"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	md, _ := os.ReadFile(out)
	if !bytes.Equal(md, stdout.Bytes()) || !strings.Contains(string(md), "| | cycles ↑ | cycles/s | 3000 | 2000 | 1.50× |") ||
		!strings.Contains(string(md), "Rebuilt from") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestFailReason(t *testing.T) {
	rep := map[string]any{"ok": false, "lost": 262.0, "dropped": 2.0, "failed": 0.0, "close_codes": map[string]any{"1006": 2.0},
		"error_samples": []any{"websocket: close 1006 (abnormal closure): unexpected EOF"}}
	want := "dropped 2, lost 262, close codes 1006×2, first error: websocket: close 1006 (abnormal closure): unexpected EOF"
	if got := failReason(rep); got != want {
		t.Errorf("failReason = %q, want %q", got, want)
	}
	if got := failReason(map[string]any{"ok": false}); !strings.Contains(got, "expectations") {
		t.Errorf("failReason(empty) = %q", got)
	}
}

func TestRenderMachineFloor(t *testing.T) {
	s := &settings{loadgen: []string{"bin/rotor", "bench"}, n: 10000, runs: 1, m: 10, hold: 2 * time.Second, duration: 5 * time.Second,
		rateSeconds: 2, publishC: 16, churnC: 16, protocol: "json", scenarios: []string{"floor", "publish"}, raw: "bench-results.jsonl"}
	servers := []server{{"Rotor", "/nonexistent/rotor"}, {"Centrifugo", "/nonexistent/centrifugo"}}
	floor := map[string]any{"ok": true, "syscall_ns": 1100.0, "write_us": 8.0, "read_us": 3.0, "broadcast_wall_ms": 55.0,
		"null_requests_per_s": 50000.0, "null_cpu_us_per_request": 24.0, "null_server_cpu_us_per_request": 12.5}
	results := []result{
		{Scenario: "floor", Server: machineLabel, Run: 1, OK: true, Report: floor},
		{Scenario: "publish", Server: "Rotor", Run: 1, OK: true, Report: map[string]any{"ok": true, "requests_per_s": 45000.0, "server_cpu_us_per_request": 18.75}},
		{Scenario: "publish", Server: "Centrifugo", Run: 1, OK: true, Report: map[string]any{"ok": true, "requests_per_s": 25000.0, "server_cpu_us_per_request": 35.0}},
	}
	md := renderMarkdown(s, servers, results, time.Now(), time.Minute)
	for _, want := range []string{
		"## Machine floor",
		"| loopback write | µs | 8.00 |",
		"| null server requests | req/s | 50\u2009000 |",
		"about 55.0 ms of kernel time",
		"spends 12.5 µs of CPU per request here (the kernel's share; no server spends less); Rotor spends 18.8 µs, 1.5× that; Centrifugo spends 35.0 µs, 2.8× that.",
		"- **floor**: no server",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// The floor is not a server's row in the comparison table.
	if strings.Contains(md, "| **floor** |") {
		t.Errorf("floor appears in the server table:\n%s", md)
	}
}

func TestClusterConfig(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(clusterConfig(1234, "127.0.0.1:6390"), &m); err != nil {
		t.Fatal(err)
	}
	eng := m["engine"].(map[string]any)
	if eng["type"] != "redis" || eng["redis"].(map[string]any)["address"] != "redis://127.0.0.1:6390" {
		t.Errorf("engine %v", eng)
	}
	ns := m["channel"].(map[string]any)["namespaces"].([]any)[0].(map[string]any)
	if ns["name"] != "history" || ns["history_size"] != float64(historySize) || ns["history_ttl"] != historyTTL {
		t.Errorf("namespace %v", ns)
	}
	// The plain config has no engine section: the in-memory engine.
	m = nil
	if err := json.Unmarshal(serverConfig(1234), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["engine"]; ok {
		t.Errorf("serverConfig names an engine: %v", m)
	}
}

func TestRenderRedisScenarios(t *testing.T) {
	s := &settings{loadgen: []string{"bin/rotor", "bench"}, n: 200, runs: 1, m: 10, redisN: 10000, redisM: 50, hold: 2 * time.Second, duration: time.Second,
		rateSeconds: 2, publishC: 16, churnC: 16, protocol: "json", scenarios: []string{"redis-publish", "redis-fanout"}, raw: "bench-results.jsonl", redisServer: "redis-server"}
	servers := []server{{"Rotor", "/nonexistent/rotor"}, {"Centrifugo", "/nonexistent/centrifugo"}}
	results := []result{
		{Scenario: "redis-publish", Server: "Rotor", Run: 1, OK: true, Report: map[string]any{"ok": true, "requests_per_s": 20000.0, "requests_per_server_cpu_s": 40000.0}},
		{Scenario: "redis-publish", Server: "Centrifugo", Run: 1, OK: true, Report: map[string]any{"ok": true, "requests_per_s": 15000.0, "requests_per_server_cpu_s": 16000.0}},
		{Scenario: "redis-fanout", Server: "Rotor", Run: 1, OK: true, Report: map[string]any{"ok": true, "deliveries_per_server_cpu_s": 900000.0, "latency_p99_ms": 30.0}},
		{Scenario: "redis-fanout", Server: "Centrifugo", Run: 1, OK: true, Report: map[string]any{"ok": true, "deliveries_per_server_cpu_s": 300000.0, "latency_p99_ms": 60.0}},
	}
	md := renderMarkdown(s, servers, results, time.Now(), time.Minute)
	for _, want := range []string{
		"| | requests per server CPU second ↑ | req/CPU-s | 40\u2009000 | 16\u2009000 | 2.50× |",
		"| | deliveries per server CPU second (A+B) ↑ | msg/CPU-s | 900\u2009000 | 300\u2009000 | 3.00× |",
		"| | latency p99 ↓ | ms | 30.00 | 60.00 | 0.50× |",
		"REDIS_N=10000 REDIS_M=50",
		"10000 subscribers of one channel on node B, 50 publications through node A's HTTP API",
		"--channel history:publish",
		"--api http://127.0.0.1:PORT_A/api --publish-pid PID_A`",
		"redis-server --bind 127.0.0.1",
		`"type": "redis"`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Without a Redis scenario, no Redis config is shown.
	s.scenarios = []string{"publish"}
	if md := renderMarkdown(s, servers, results, time.Now(), time.Minute); strings.Contains(md, "redis") {
		t.Errorf("Redis config shown without a Redis scenario:\n%s", md)
	}
}

// TestStartRedis starts a real loopback redis-server as the Redis scenarios do and
// stops it by its PID.
func TestStartRedis(t *testing.T) {
	dir := t.TempDir()
	addr, stop, err := startRedis("redis-server", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || !redisPing(addr) {
		t.Fatalf("redis-server on %s does not answer PING", addr)
	}
	stop()
	if redisPing(addr) {
		t.Errorf("redis-server on %s still answers after stop", addr)
	}
	if _, _, err := startRedis(filepath.Join(dir, "no-such-redis"), dir); err == nil || !strings.Contains(err.Error(), "REDIS_SERVER") {
		t.Errorf("missing binary: err %v", err)
	}
}

func TestConfigExtra(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "rotor")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := parseSettings([]string{"ROTOR_BIN=" + bin, `CONFIG_EXTRA={"websocket":{"write_timeout":"10s"},"client":{"queue_max_size":65536}}`})
	if err != nil {
		t.Fatal(err)
	}
	configExtra = s.configExtra
	defer func() { configExtra = nil }()
	var m map[string]map[string]any
	if err := json.Unmarshal(serverConfig(1234), &m); err != nil {
		t.Fatal(err)
	}
	if m["websocket"]["write_timeout"] != "10s" || m["client"]["queue_max_size"] != float64(65536) || m["client"]["token"] == nil {
		t.Errorf("config %v", m)
	}
	if _, err := parseSettings([]string{"ROTOR_BIN=" + bin, "CONFIG_EXTRA=[1]"}); err == nil {
		t.Error("CONFIG_EXTRA that is not an object accepted")
	}
}
