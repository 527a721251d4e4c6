// Command compare runs a matrix of load scenarios against Rotor and, when the user
// names one, against a Centrifugo binary with the same config, and writes a markdown
// table of medians, spreads and Rotor/other ratios.
//
//	go run ./scripts/compare                                  # Rotor only
//	CENTRIFUGO_BIN=/path/to/centrifugo go run ./scripts/compare
//	N=200 RUNS=1 HOLD=2s DURATION=2s RATE_SECONDS=2 go run ./scripts/compare   # smoke
//
// Scenarios: conns (N connections held for HOLD), fanout-max (N subscribers, M
// publications as fast as possible), fanout-rate (N subscribers, 3 publications/s for
// RATE_SECONDS, so 3N deliveries/s), publish (HTTP API at concurrency PUBLISH_C, no
// subscribers, for DURATION), churn (connect → subscribe → disconnect at concurrency
// CHURN_C, for DURATION), slow-base and slow (500 subscribers, 100 publications/s of
// 2 KB for RATE_SECONDS; slow adds 20 subscribers that stop reading, one every
// 500 ms, and reports what that did to the others and how the stalled ones were
// closed), floor (the machine, no server), and scenarios on the
// Redis engine: redis-publish (HTTP API publish into a channel with history, through
// Redis, at concurrency PUBLISH_C for DURATION) and redis-fanout (REDIS_N subscribers
// on node B, REDIS_M publications through the API of node A, both nodes on one
// Redis) and redis-fanout-rate (the same two nodes, 3 publications/s for
// RATE_SECONDS, for latency at a steady rate). A Redis scenario starts its own loopback redis-server (REDIS_SERVER,
// default redis-server on PATH) for each run, and stops it by its PID. Each run starts a fresh server on a free loopback port, runs
// the load tool (`$ROTOR_BIN bench`, the same client for both servers) and stops the
// server by its PID. Runs are interleaved: for each round, each scenario runs against
// Rotor, then the other server.
//
// It never builds or downloads a server: ROTOR_BIN (default bin/rotor) must exist, and
// Centrifugo runs only when CENTRIFUGO_BIN is set.
//
// Environment: ROTOR_BIN, CENTRIFUGO_BIN, LOADGEN (load tool command, default
// "$ROTOR_BIN bench"), N (10000), HOLD (20s), RUNS (3), M (200), RATE_SECONDS (20),
// DURATION (10s), PUBLISH_C (16), CHURN_C (16), REDIS_N (N), REDIS_M (M),
// REDIS_SERVER (redis-server), PROTOCOL (json), SCENARIOS (comma
// list, default all), OUT (bench-results.md; raw JSON lines go next to it with the
// extension .jsonl), REPORTS (a directory for the HTML report of every run; none by
// default), KEEP_LOGS (1: keep server logs of successful runs too), FROM_JSONL (rebuild
// the table from an earlier run's .jsonl instead of running; pass the same knobs).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Environ(), os.Stdout, os.Stderr))
}

// settings are the knobs read from the environment.
type settings struct {
	rotorBin, otherBin string
	loadgen            []string
	n, runs, m         int
	hold, duration     time.Duration
	rateSeconds        int
	publishC, churnC   int
	protocol           string
	scenarios          []string
	out, raw, reports  string
	keepLogs           bool
	configExtra        map[string]any // CONFIG_EXTRA: merged into every server's config
	fromJSONL          string
	redisN, redisM     int
	redisServer        string
}

func getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func parseSettings(env []string) (*settings, error) {
	s := &settings{}
	var errs []error
	str := func(key, def string) string {
		if v := getenv(env, key); v != "" {
			return v
		}
		return def
	}
	integer := func(key string, def, lo int) int {
		v := getenv(env, key)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo {
			errs = append(errs, fmt.Errorf("%s=%q: want an integer ≥ %d", key, v, lo))
		}
		return n
	}
	dur := func(key string, def time.Duration) time.Duration {
		v := getenv(env, key)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive duration such as 20s", key, v))
		}
		return d
	}
	s.rotorBin = str("ROTOR_BIN", "bin/rotor")
	s.otherBin = getenv(env, "CENTRIFUGO_BIN")
	if lg := getenv(env, "LOADGEN"); lg != "" {
		s.loadgen = strings.Fields(lg)
	} else {
		s.loadgen = []string{s.rotorBin, "bench"}
	}
	s.n = integer("N", 10000, 1)
	s.runs = integer("RUNS", 3, 1)
	s.m = integer("M", 200, 1)
	s.rateSeconds = integer("RATE_SECONDS", 20, 1)
	s.publishC = integer("PUBLISH_C", 16, 1)
	s.churnC = integer("CHURN_C", 16, 1)
	s.redisN = integer("REDIS_N", s.n, 1)
	s.redisM = integer("REDIS_M", s.m, 1)
	s.redisServer = str("REDIS_SERVER", "redis-server")
	s.hold = dur("HOLD", 20*time.Second)
	s.duration = dur("DURATION", 10*time.Second)
	s.protocol = str("PROTOCOL", "json")
	if s.protocol != "json" && s.protocol != "protobuf" {
		errs = append(errs, fmt.Errorf("PROTOCOL=%q: want json or protobuf", s.protocol))
	}
	s.out = str("OUT", "bench-results.md")
	s.raw = strings.TrimSuffix(s.out, filepath.Ext(s.out)) + ".jsonl"
	s.reports = getenv(env, "REPORTS")
	s.fromJSONL = getenv(env, "FROM_JSONL")
	s.keepLogs = getenv(env, "KEEP_LOGS") == "1"
	if v := getenv(env, "CONFIG_EXTRA"); v != "" {
		if err := json.Unmarshal([]byte(v), &s.configExtra); err != nil {
			errs = append(errs, fmt.Errorf("CONFIG_EXTRA: want a JSON object of config keys: %v", err))
		}
	}
	all := scenarioNames()
	if v := getenv(env, "SCENARIOS"); v != "" {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(all, name) {
				errs = append(errs, fmt.Errorf("SCENARIOS: unknown scenario %q (have %s)", name, strings.Join(all, ", ")))
				continue
			}
			s.scenarios = append(s.scenarios, name)
		}
	} else {
		s.scenarios = all
	}
	for _, b := range []struct{ key, path string }{{"ROTOR_BIN", s.rotorBin}, {"CENTRIFUGO_BIN", s.otherBin}} {
		if b.path == "" || s.fromJSONL != "" {
			continue
		}
		if st, err := os.Stat(b.path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("%s=%s is not an executable file (this script never builds or downloads a server; for Rotor run: go build -o bin/rotor ./cmd/rotor)", b.key, b.path))
		}
	}
	// Servers run in a scratch directory, so a relative binary path must be
	// resolved against the caller's directory first.
	for _, p := range []*string{&s.rotorBin, &s.otherBin} {
		if *p != "" && strings.ContainsRune(*p, filepath.Separator) {
			if abs, err := filepath.Abs(*p); err == nil {
				*p = abs
			}
		}
	}
	return s, errors.Join(errs...)
}

// metric is one figure of a scenario's table.
type metric struct {
	key    string // JSON key in the load tool's output
	label  string
	unit   string
	higher bool    // higher is better
	scale  float64 // shown value = JSON value × scale (0: 1)
	prec   int     // decimals shown
}

// scenario is one row group of the matrix.
type scenario struct {
	name    string
	mode    string
	args    func(s *settings) []string
	timeout func(s *settings) time.Duration // the load tool's --timeout
	metrics []metric
	note    func(s *settings) string
	// machine: the scenario measures the machine, not a server; it runs once per
	// round with no server started and gets its own section.
	machine bool
	// redis: the servers run with engine.type redis on a redis-server started for
	// the run; nodes is how many server processes (2: the load tool subscribes on
	// the second and publishes through the first's API, --publish-pid).
	redis bool
	nodes int
}

// machineLabel is the server label of machine scenarios in the raw results.
const machineLabel = "machine"

func scenarioNames() []string {
	var out []string
	for _, sc := range matrix {
		out = append(out, sc.name)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// connRate is how fast the fanout scenarios connect their subscribers: setup only,
// not measured.
const connRate = "2000"

var matrix = []scenario{
	{
		name: "floor", mode: "floor", machine: true,
		args: func(s *settings) []string {
			return []string{"-n", itoa(min(s.n, 5000)), "--subscribers", itoa(s.n), "--duration", s.duration.String(), "-c", itoa(s.publishC)}
		},
		timeout: func(s *settings) time.Duration { return s.duration + 90*time.Second },
		note: func(s *settings) string {
			return fmt.Sprintf("no server: one loopback write and read over %d socket pairs, and HTTP publish to a null server (fixed reply) from %d workers for %s", min(s.n, 5000), s.publishC, s.duration)
		},
		metrics: []metric{
			{key: "syscall_ns", label: "system call", unit: "ns"},
			{key: "write_us", label: "loopback write", unit: "µs", prec: 2},
			{key: "read_us", label: "loopback read", unit: "µs", prec: 2},
			{key: "broadcast_wall_ms", label: "kernel time of one broadcast over all cores", unit: "ms", prec: 1},
			{key: "null_server_cpu_us_per_request", label: "null server CPU per request", unit: "µs", prec: 1},
			{key: "null_requests_per_s", label: "null server requests", unit: "req/s", higher: true},
			{key: "null_cpu_us_per_request", label: "CPU per null request (client + server)", unit: "µs", prec: 1},
		},
	},
	{
		name: "conns", mode: "conns",
		args: func(s *settings) []string {
			return []string{"-n", itoa(s.n), "--hold", s.hold.String(), "--channels", "100", "--rate", "1000"}
		},
		timeout: func(s *settings) time.Duration { return time.Duration(s.n)*time.Millisecond + s.hold + 90*time.Second },
		note: func(s *settings) string {
			return fmt.Sprintf("%d connections at 1000/s, each subscribed to one of 100 channels, held %s", s.n, s.hold)
		},
		metrics: []metric{
			{key: "established", label: "established", unit: "conns", higher: true},
			{key: "dropped", label: "dropped during hold", unit: "conns"},
			{key: "connect_rate", label: "connect rate", unit: "conns/s", higher: true},
			{key: "handshake_p50_ms", label: "handshake p50", unit: "ms", prec: 2},
			{key: "handshake_p99_ms", label: "handshake p99", unit: "ms", prec: 2},
			{key: "server_rss_per_conn_bytes", label: "RSS per connection", unit: "KiB", scale: 1.0 / 1024, prec: 2},
			{key: "server_heap_inuse_per_conn_bytes", label: "heap in use per connection", unit: "KiB", scale: 1.0 / 1024, prec: 2},
			{key: "server_goroutines_per_conn", label: "goroutines per connection", unit: "", prec: 3},
			{key: "server_idle_cpu_pct", label: "idle CPU over hold", unit: "% of a core", prec: 2},
		},
	},
	{
		name: "fanout-max", mode: "fanout",
		args: func(s *settings) []string {
			return []string{"-n", itoa(s.n), "-m", itoa(s.m), "--concurrency", "4", "--conn-rate", connRate, "--channel", "fanout-max", "--drain", "30s"}
		},
		timeout: func(s *settings) time.Duration {
			return time.Duration(s.n)*time.Millisecond + time.Duration(s.n*s.m)*10*time.Microsecond + 120*time.Second
		},
		note: func(s *settings) string {
			return fmt.Sprintf("%d subscribers of one channel, %d publications from 4 publishers as fast as possible (%d deliveries)", s.n, s.m, s.n*s.m)
		},
		metrics: []metric{
			{key: "delivered_per_s", label: "deliveries", unit: "msg/s", higher: true},
			{key: "latency_p50_ms", label: "latency p50", unit: "ms", prec: 2},
			{key: "latency_p99_ms", label: "latency p99", unit: "ms", prec: 2},
			{key: "latency_max_ms", label: "latency max", unit: "ms", prec: 2},
			{key: "server_cpu_ns_per_delivery", label: "server CPU per delivery", unit: "ns"},
			{key: "lost", label: "lost", unit: "msgs"},
		},
	},
	{
		name: "fanout-rate", mode: "fanout",
		args: func(s *settings) []string {
			return []string{"-n", itoa(s.n), "-m", itoa(3 * s.rateSeconds), "--rate", "3", "--concurrency", "1", "--conn-rate", connRate, "--channel", "fanout-rate", "--drain", "30s"}
		},
		timeout: func(s *settings) time.Duration {
			return time.Duration(s.n)*time.Millisecond + time.Duration(s.rateSeconds)*time.Second + 120*time.Second
		},
		note: func(s *settings) string {
			return fmt.Sprintf("%d subscribers, 3 publications/s for %ds (%d deliveries/s)", s.n, s.rateSeconds, 3*s.n)
		},
		metrics: []metric{
			{key: "latency_p50_ms", label: "latency p50", unit: "ms", prec: 2},
			{key: "latency_p90_ms", label: "latency p90", unit: "ms", prec: 2},
			{key: "latency_p99_ms", label: "latency p99", unit: "ms", prec: 2},
			{key: "latency_p999_ms", label: "latency p99.9", unit: "ms", prec: 2},
			{key: "latency_max_ms", label: "latency max", unit: "ms", prec: 2},
			{key: "server_cpu_ns_per_delivery", label: "server CPU per delivery", unit: "ns"},
			{key: "lost", label: "lost", unit: "msgs"},
		},
	},
	{
		name: "publish", mode: "publish",
		args: func(s *settings) []string {
			return []string{"-n", "0", "--duration", s.duration.String(), "-c", itoa(s.publishC), "--channel", "publish"}
		},
		timeout: func(s *settings) time.Duration { return s.duration + 90*time.Second },
		note: func(s *settings) string {
			return fmt.Sprintf("HTTP API publish, %d in flight, no subscribers, for %s", s.publishC, s.duration)
		},
		metrics: []metric{
			{key: "requests_per_s", label: "requests", unit: "req/s", higher: true},
			{key: "latency_p50_ms", label: "latency p50", unit: "ms", prec: 3},
			{key: "latency_p90_ms", label: "latency p90", unit: "ms", prec: 3},
			{key: "latency_p99_ms", label: "latency p99", unit: "ms", prec: 3},
			{key: "latency_max_ms", label: "latency max", unit: "ms", prec: 2},
			{key: "server_cpu_us_per_request", label: "server CPU per request", unit: "µs", prec: 1},
			{key: "errors", label: "errors", unit: ""},
		},
	},
	{
		name: "redis-publish", mode: "publish", redis: true, nodes: 1,
		args: func(s *settings) []string {
			return []string{"-n", "0", "--duration", s.duration.String(), "-c", itoa(s.publishC), "--channel", "history:publish"}
		},
		timeout: func(s *settings) time.Duration { return s.duration + 90*time.Second },
		note: func(s *settings) string {
			return fmt.Sprintf("Redis engine: HTTP API publish into a channel with history (size %d, TTL %s) through Redis, %d in flight, no subscribers, for %s", historySize, historyTTL, s.publishC, s.duration)
		},
		metrics: []metric{
			{key: "requests_per_s", label: "requests", unit: "req/s", higher: true},
			{key: "requests_per_server_cpu_s", label: "requests per server CPU second", unit: "req/CPU-s", higher: true},
			{key: "server_cpu_us_per_request", label: "server CPU per request", unit: "µs", prec: 1},
			{key: "latency_p50_ms", label: "latency p50", unit: "ms", prec: 3},
			{key: "latency_p99_ms", label: "latency p99", unit: "ms", prec: 3},
			{key: "errors", label: "errors", unit: ""},
		},
	},
	{
		name: "redis-fanout", mode: "fanout", redis: true, nodes: 2,
		args: func(s *settings) []string {
			return []string{"-n", itoa(s.redisN), "-m", itoa(s.redisM), "--concurrency", "4", "--conn-rate", connRate, "--channel", "redis-fanout", "--drain", "60s"}
		},
		timeout: func(s *settings) time.Duration {
			return time.Duration(s.redisN)*time.Millisecond + time.Duration(s.redisN*s.redisM)*10*time.Microsecond + 120*time.Second
		},
		note: func(s *settings) string {
			return fmt.Sprintf("Redis engine, two nodes: %d subscribers of one channel on node B, %d publications through node A's HTTP API from 4 publishers as fast as possible (%d deliveries, each crossing Redis Pub/Sub); server CPU is both nodes'", s.redisN, s.redisM, s.redisN*s.redisM)
		},
		metrics: []metric{
			{key: "delivered_per_s", label: "deliveries", unit: "msg/s", higher: true},
			{key: "deliveries_per_server_cpu_s", label: "deliveries per server CPU second (A+B)", unit: "msg/CPU-s", higher: true},
			{key: "servers_cpu_ns_per_delivery", label: "server CPU per delivery (A+B)", unit: "ns"},
			{key: "server_cpu_ns_per_delivery", label: "node B CPU per delivery", unit: "ns"},
			{key: "latency_p50_ms", label: "latency p50", unit: "ms", prec: 2},
			{key: "latency_p99_ms", label: "latency p99", unit: "ms", prec: 2},
			{key: "latency_max_ms", label: "latency max", unit: "ms", prec: 2},
			{key: "lost", label: "lost", unit: "msgs"},
		},
	},
	{
		name: "redis-fanout-rate", mode: "fanout", redis: true, nodes: 2,
		args: func(s *settings) []string {
			return []string{"-n", itoa(s.redisN), "-m", itoa(3 * s.rateSeconds), "--rate", "3", "--concurrency", "1", "--conn-rate", connRate, "--channel", "redis-fanout-rate", "--drain", "30s"}
		},
		timeout: func(s *settings) time.Duration {
			return time.Duration(s.redisN)*time.Millisecond + time.Duration(s.rateSeconds)*time.Second + 120*time.Second
		},
		note: func(s *settings) string {
			return fmt.Sprintf("Redis engine, two nodes: %d subscribers on node B, 3 publications/s through node A's API for %ds (%d deliveries/s across Redis Pub/Sub); server CPU is both nodes'", s.redisN, s.rateSeconds, 3*s.redisN)
		},
		metrics: []metric{
			{key: "latency_p50_ms", label: "latency p50", unit: "ms", prec: 2},
			{key: "latency_p90_ms", label: "latency p90", unit: "ms", prec: 2},
			{key: "latency_p99_ms", label: "latency p99", unit: "ms", prec: 2},
			{key: "latency_max_ms", label: "latency max", unit: "ms", prec: 2},
			{key: "deliveries_per_server_cpu_s", label: "deliveries per server CPU second (A+B)", unit: "msg/CPU-s", higher: true},
			{key: "servers_cpu_ns_per_delivery", label: "server CPU per delivery (A+B)", unit: "ns"},
			{key: "lost", label: "lost", unit: "msgs"},
		},
	},
	{
		name: "slow-base", mode: "fanout",
		args: func(s *settings) []string { return slowArgs(s, false) },
		timeout: func(s *settings) time.Duration {
			return time.Duration(slowN)*time.Millisecond + time.Duration(s.rateSeconds)*time.Second + 120*time.Second
		},
		note: func(s *settings) string {
			return fmt.Sprintf("%d subscribers of one channel, %d publications/s of %d B for %ds; the baseline of slow", slowN, slowRate, slowSize, s.rateSeconds)
		},
		metrics: slowMetrics,
	},
	{
		name: "slow", mode: "fanout",
		args: func(s *settings) []string { return slowArgs(s, true) },
		timeout: func(s *settings) time.Duration {
			return time.Duration(slowN)*time.Millisecond + time.Duration(s.rateSeconds)*time.Second + 120*time.Second
		},
		note: func(s *settings) string {
			return fmt.Sprintf("as slow-base, plus %d subscribers that stop reading (4 KiB receive buffer, MSS 536) joining one every %s; figures are the %d normal subscribers', except the server's disconnect counts", slowStalled, slowStalledEvery, slowN)
		},
		metrics: append(slices.Clip(slowMetrics),
			metric{key: "server_disconnects_3008", label: "server disconnects 3008 (slow)", unit: "conns"},
			metric{key: "server_disconnects_3009", label: "server disconnects 3009 (write error)", unit: "conns"}),
	},
	{
		name: "churn", mode: "churn",
		args: func(s *settings) []string {
			return []string{"--duration", s.duration.String(), "-c", itoa(s.churnC), "--channels", "100"}
		},
		timeout: func(s *settings) time.Duration { return s.duration + 90*time.Second },
		note: func(s *settings) string {
			return fmt.Sprintf("connect → subscribe → close cycles, %d at once, for %s", s.churnC, s.duration)
		},
		metrics: []metric{
			{key: "cycles_per_s", label: "cycles", unit: "cycles/s", higher: true},
			{key: "handshake_p50_ms", label: "handshake p50", unit: "ms", prec: 2},
			{key: "handshake_p90_ms", label: "handshake p90", unit: "ms", prec: 2},
			{key: "handshake_p99_ms", label: "handshake p99", unit: "ms", prec: 2},
			{key: "handshake_max_ms", label: "handshake max", unit: "ms", prec: 2},
			{key: "server_cpu_us_per_cycle", label: "server CPU per cycle", unit: "µs", prec: 1},
			{key: "errors", label: "errors", unit: ""},
		},
	},
}

// The slow-base and slow scenarios: one slow client must not hurt the rest
// (500 subscribers, 100 publications/s of 2 KB, 20 stalled subscribers).
const (
	slowN            = 500
	slowRate         = 100
	slowSize         = 2048
	slowStalled      = 20
	slowStalledEvery = 500 * time.Millisecond
)

func slowArgs(s *settings, stalled bool) []string {
	args := []string{"-n", itoa(slowN), "-m", itoa(slowRate * s.rateSeconds), "--rate", itoa(slowRate), "--size", itoa(slowSize),
		"--concurrency", "1", "--conn-rate", connRate, "--channel", "slow", "--drain", "30s"}
	if stalled {
		args = append(args, "--stalled", itoa(slowStalled), "--stalled-every", slowStalledEvery.String())
	}
	return args
}

var slowMetrics = []metric{
	{key: "latency_p50_ms", label: "latency p50", unit: "ms", prec: 2},
	{key: "latency_p99_ms", label: "latency p99", unit: "ms", prec: 2},
	{key: "latency_max_ms", label: "latency max", unit: "ms", prec: 2},
	{key: "lost", label: "lost", unit: "msgs"},
	{key: "out_of_order", label: "out of order", unit: "msgs"},
	{key: "server_rss_peak_bytes", label: "server peak RSS", unit: "MiB", scale: 1.0 / (1 << 20), prec: 1},
	{key: "server_cpu_ns_per_delivery", label: "server CPU per delivery", unit: "ns"},
}

func findScenario(name string) *scenario {
	for i := range matrix {
		if matrix[i].name == name {
			return &matrix[i]
		}
	}
	return nil
}

// server is one binary under test.
type server struct {
	label string // "Rotor" or "Centrifugo"
	bin   string
}

// result is one run's outcome.
type result struct {
	Scenario string         `json:"scenario"`
	Server   string         `json:"server"`
	Run      int            `json:"run"`
	OK       bool           `json:"ok"`
	Err      string         `json:"error,omitempty"`
	Report   map[string]any `json:"report"`
}

const (
	apiKey = "bench-key"
	secret = "bench-secret"
)

// History of the channels of the Redis scenarios (namespace "history").
const (
	historySize = 100
	historyTTL  = "300s"
)

// serverConfig is the config both servers get, with Centrifugo v6 key names: Rotor
// needs health and prometheus for /health and /metrics, Centrifugo health and no usage
// stats; each ignores (or warns about) the keys it does not need.
func serverConfig(port int) []byte {
	return clusterConfig(port, "")
}

// clusterConfig is serverConfig with, when redisAddr is set, the Redis engine on
// that address and a namespace "history" whose channels keep history.
func clusterConfig(port int, redisAddr string) []byte {
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"client":      map[string]any{"token": map[string]any{"hmac_secret_key": secret}},
		"http_api":    map[string]any{"key": apiKey},
		"channel":     map[string]any{"without_namespace": map[string]any{"allow_subscribe_for_client": true}},
		"health":      map[string]any{"enabled": true},
		"prometheus":  map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true},
		"log":         map[string]any{"level": "error"},
	}
	if redisAddr != "" {
		cfg["engine"] = map[string]any{"type": "redis", "redis": map[string]any{"address": "redis://" + redisAddr}}
		ch := cfg["channel"].(map[string]any)
		ch["namespaces"] = []any{map[string]any{"name": "history", "allow_subscribe_for_client": true,
			"history_size": historySize, "history_ttl": historyTTL}}
	}
	mergeConfig(cfg, configExtra)
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return b
}

// configExtra is CONFIG_EXTRA, set once by run before any server starts.
var configExtra map[string]any

// mergeConfig merges extra into cfg: objects key by key, anything else replaces.
func mergeConfig(cfg, extra map[string]any) {
	for k, v := range extra {
		sub, ok := v.(map[string]any)
		if dst, isMap := cfg[k].(map[string]any); ok && isMap {
			mergeConfig(dst, sub)
			continue
		}
		cfg[k] = v
	}
}

func run(env []string, stdout, stderr io.Writer) int {
	s, err := parseSettings(env)
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 2
	}
	configExtra = s.configExtra
	servers := []server{{"Rotor", s.rotorBin}}
	if s.otherBin != "" {
		servers = append(servers, server{"Centrifugo", s.otherBin})
	}
	if s.fromJSONL != "" {
		return rerender(s, servers, stdout, stderr)
	}
	if s.reports != "" {
		if err := os.MkdirAll(s.reports, 0o755); err != nil {
			fmt.Fprintf(stderr, "compare: %v\n", err)
			return 2
		}
	}
	work, err := os.MkdirTemp("", "rotor-compare-")
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 1
	}
	if filepath.Clean(s.raw) == filepath.Clean(s.out) {
		fmt.Fprintf(stderr, "compare: OUT=%s would overwrite the raw results\n", s.out)
		return 2
	}
	rawF, err := os.Create(s.raw)
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 2
	}
	defer rawF.Close()

	started := time.Now()
	var results []result
	total := 0
	for _, name := range s.scenarios {
		if findScenario(name).machine {
			total += s.runs
		} else {
			total += s.runs * len(servers)
		}
	}
	k := 0
	logsKept := false
	for r := 1; r <= s.runs; r++ {
		for _, name := range s.scenarios {
			sc := findScenario(name)
			targets := servers
			if sc.machine {
				targets = []server{{machineLabel, ""}}
			}
			for _, srv := range targets {
				k++
				fmt.Fprintf(stderr, "[%d/%d] round %d: %s on %s … ", k, total, r, sc.name, srv.label)
				t0 := time.Now()
				res, keep := runOne(s, sc, srv, r, work)
				status := "ok"
				if !res.OK {
					status = "FAILED"
					if res.Err != "" {
						status += ": " + res.Err
					}
				}
				fmt.Fprintf(stderr, "%s (%.0fs)\n", status, time.Since(t0).Seconds())
				logsKept = logsKept || keep
				results = append(results, res)
				if b, err := json.Marshal(res); err == nil {
					rawF.Write(append(b, '\n'))
				}
			}
		}
	}
	md := renderMarkdown(s, servers, results, started, time.Since(started))
	if err := os.WriteFile(s.out, []byte(md), 0o644); err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 1
	}
	io.WriteString(stdout, md)
	fmt.Fprintf(stderr, "wrote %s and %s\n", s.out, s.raw)
	if logsKept {
		fmt.Fprintf(stderr, "server logs of failed runs are in %s\n", work)
	} else {
		os.RemoveAll(work)
	}
	for _, res := range results {
		if !res.OK {
			return 1
		}
	}
	return 0
}

// rerender rebuilds the table from the raw results of an earlier run (FROM_JSONL),
// without running anything. The knobs shown are those of the environment, so pass the
// ones the run used.
func rerender(s *settings, servers []server, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(s.fromJSONL)
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 2
	}
	var results []result
	seen := map[string]bool{}
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var r result
		if err := json.Unmarshal(line, &r); err != nil {
			fmt.Fprintf(stderr, "compare: %s line %d: %v\n", s.fromJSONL, i+1, err)
			return 2
		}
		results = append(results, r)
		seen[r.Server] = true
	}
	if seen["Centrifugo"] && len(servers) == 1 {
		servers = append(servers, server{"Centrifugo", "(from " + s.fromJSONL + ")"})
	}
	info, _ := os.Stat(s.fromJSONL)
	md := renderMarkdown(s, servers, results, info.ModTime(), 0)
	if s.out != "" && s.out != "-" {
		if err := os.WriteFile(s.out, []byte(md), 0o644); err != nil {
			fmt.Fprintf(stderr, "compare: %v\n", err)
			return 1
		}
	}
	io.WriteString(stdout, md)
	return 0
}

// runOne starts srv, runs sc against it, stops it, and reports whether its log was
// kept (on failure, or with KEEP_LOGS=1).
func runOne(s *settings, sc *scenario, srv server, round int, work string) (result, bool) {
	if sc.machine {
		return runMachine(s, sc, round), false
	}
	res := result{Scenario: sc.name, Server: srv.label, Run: round}
	tag := fmt.Sprintf("%s-%s-%d", sc.name, strings.ToLower(srv.label), round)
	dir := filepath.Join(work, tag)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.Err = err.Error()
		return res, false
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	redisAddr := ""
	if sc.redis {
		ra, stopRedis, err := startRedis(s.redisServer, dir)
		if err != nil {
			res.Err = err.Error()
			keep = true
			return res, true
		}
		defer stopRedis()
		redisAddr = ra
	}
	nodes := max(sc.nodes, 1)
	procs := make([]*node, 0, nodes)
	for i := range nodes {
		nd, err := startNode(srv.bin, dir, fmt.Sprintf("node%d", i+1), redisAddr)
		if nd != nil {
			defer nd.stop()
			procs = append(procs, nd)
		}
		if err != nil {
			res.Err = err.Error()
			keep = true
			return res, true
		}
	}
	// The load tool subscribes on the last node; with two nodes it publishes
	// through the first one's API.
	sub := procs[len(procs)-1]
	addr, pid := sub.addr, sub.pid

	timeout := sc.timeout(s)
	args := append([]string{sc.mode}, sc.args(s)...)
	args = append(args, "--addr", addr, "--secret", secret, "--api-key", apiKey, "--protocol", s.protocol,
		"--pid", strconv.Itoa(pid), "--metrics-url", "http://"+addr+"/metrics",
		"--timeout", timeout.String(), "--json")
	if len(procs) > 1 {
		args = append(args, "--api", "http://"+procs[0].addr+"/api", "--publish-pid", strconv.Itoa(procs[0].pid))
	}
	if s.reports != "" {
		args = append(args, "--report", filepath.Join(s.reports, tag+".html"))
	}
	runLoadTool(s, &res, args, timeout)
	// A server that died during the run fails it, whatever the figures say.
	for _, nd := range procs {
		select {
		case err := <-nd.exited:
			nd.exited <- err
			res.OK = false
			res.Err = fmt.Sprintf("server %s exited during the run: %v", nd.name, err)
		default:
		}
	}
	keep = !res.OK || s.keepLogs
	return res, keep
}

// node is one server process of a run.
type node struct {
	name   string
	addr   string
	pid    int
	cmd    *exec.Cmd
	exited chan error
	log    *os.File
}

// startNode starts bin with its own config (Redis engine when redisAddr is set) on a
// free loopback port and waits until /health answers. On error after the process
// started, the node is returned too, for the caller to stop.
func startNode(bin, dir, name, redisAddr string) (*node, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, name+".json")
	if err := os.WriteFile(cfgPath, clusterConfig(port, redisAddr), 0o600); err != nil {
		return nil, err
	}
	logF, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logF, logF
	if err := cmd.Start(); err != nil {
		logF.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	nd := &node{name: name, addr: "127.0.0.1:" + strconv.Itoa(port), pid: cmd.Process.Pid, cmd: cmd, exited: make(chan error, 1), log: logF}
	go func() { nd.exited <- cmd.Wait() }()
	if err := waitHealthy(nd.addr, nd.exited, 30*time.Second); err != nil {
		return nd, fmt.Errorf("%s: %w", name, err)
	}
	return nd, nil
}

func (nd *node) stop() {
	stopServer(nd.cmd, nd.exited)
	nd.log.Close()
}

// startRedis starts a loopback redis-server with no persistence on a free port in
// dir and returns its address and a function that stops it (by its PID).
func startRedis(bin, dir string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logF, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--dir", dir, "--protected-mode", "yes", "--maxclients", "10000")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logF, logF
	if err := cmd.Start(); err != nil {
		logF.Close()
		return "", nil, fmt.Errorf("start redis-server (REDIS_SERVER=%s): %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		stopServer(cmd, exited)
		logF.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if redisPing(addr) {
			return addr, stop, nil
		}
		select {
		case err := <-exited:
			exited <- err
			logF.Close()
			return "", nil, fmt.Errorf("redis-server exited at start: %v (see redis.log)", err)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server not answering PING on %s within 10s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// redisPing reports whether a Redis server answers PING on addr.
func redisPing(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := io.ReadAtLeast(c, buf, 7)
	return string(buf[:n]) == "+PONG\r\n"
}

// runMachine runs a machine scenario: the load tool alone, no server.
func runMachine(s *settings, sc *scenario, round int) result {
	res := result{Scenario: sc.name, Server: machineLabel, Run: round}
	timeout := sc.timeout(s)
	args := append([]string{sc.mode}, sc.args(s)...)
	args = append(args, "--timeout", timeout.String(), "--json")
	if s.reports != "" {
		args = append(args, "--report", filepath.Join(s.reports, fmt.Sprintf("%s-%d.html", sc.name, round)))
	}
	runLoadTool(s, &res, args, timeout)
	return res
}

// runLoadTool runs the load tool with args and fills res from its JSON line.
func runLoadTool(s *settings, res *result, args []string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+60*time.Second)
	defer cancel()
	lg := exec.CommandContext(ctx, s.loadgen[0], append(slices.Clone(s.loadgen[1:]), args...)...)
	var out, errOut bytes.Buffer
	lg.Stdout, lg.Stderr = &out, &errOut
	runErr := lg.Run()
	line := lastLine(out.Bytes())
	if len(line) > 0 {
		if err := json.Unmarshal(line, &res.Report); err != nil {
			res.Err = "bad JSON from the load tool: " + err.Error()
		}
	}
	if res.Report == nil && res.Err == "" {
		res.Err = fmt.Sprintf("load tool: %v: %s", runErr, strings.TrimSpace(errOut.String()))
	}
	res.OK = res.Report != nil && res.Report["ok"] == true && res.Err == ""
	if !res.OK && res.Err == "" {
		res.Err = failReason(res.Report)
		if msg := strings.TrimSpace(firstLine(errOut.String())); msg != "" {
			res.Err += "; " + msg
		}
	}
}

// failReason names what made a load-tool run fail, from its JSON line.
func failReason(rep map[string]any) string {
	var parts []string
	if rep["timed_out"] == true {
		parts = append(parts, "timed out")
	}
	for _, k := range []string{"failed", "dropped", "lost", "errors", "publish_errors", "close_errors", "protocol_errors", "bad_payloads"} {
		if v, ok := rep[k].(float64); ok && v != 0 {
			parts = append(parts, fmt.Sprintf("%s %g", strings.ReplaceAll(k, "_", " "), v))
		}
	}
	if codes, ok := rep["close_codes"].(map[string]any); ok && len(codes) > 0 {
		keys := make([]string, 0, len(codes))
		for k := range codes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var cs []string
		for _, k := range keys {
			cs = append(cs, fmt.Sprintf("%s×%v", k, codes[k]))
		}
		parts = append(parts, "close codes "+strings.Join(cs, " "))
	}
	if samples, ok := rep["error_samples"].([]any); ok && len(samples) > 0 {
		parts = append(parts, fmt.Sprintf("first error: %v", samples[0]))
	}
	if len(parts) == 0 {
		return "run did not meet its expectations (see its JSON line)"
	}
	return strings.Join(parts, ", ")
}

// stopServer sends SIGTERM to the server we started, waits for it, and kills it
// (this PID only) if it does not exit in time.
func stopServer(cmd *exec.Cmd, exited chan error) {
	select {
	case err := <-exited:
		exited <- err
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	// Let the kernel settle (TIME_WAIT, freed memory) before the next server.
	time.Sleep(time.Second)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHealthy polls /health until it answers 200, the server exits, or bound passes.
func waitHealthy(addr string, exited chan error, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("server exited at start: %v", err)
		default:
		}
		resp, err := hc.Get("http://" + addr + "/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("server not healthy on %s within %v", addr, bound)
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ---- statistics and the table ----

// stats summarises one metric over the runs of one server.
type stats struct {
	n                int // runs with a value
	median, min, max float64
}

func summarize(vals []float64) stats {
	if len(vals) == 0 {
		return stats{}
	}
	v := slices.Clone(vals)
	slices.Sort(v)
	st := stats{n: len(v), min: v[0], max: v[len(v)-1]}
	if len(v)%2 == 1 {
		st.median = v[len(v)/2]
	} else {
		st.median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return st
}

// values collects metric m of scenario sc on srv over all runs (missing or null
// values are skipped).
func values(results []result, sc, srv string, m metric) []float64 {
	var out []float64
	for _, r := range results {
		if r.Scenario != sc || r.Server != srv || r.Report == nil {
			continue
		}
		if v, ok := r.Report[m.key].(float64); ok && !math.IsNaN(v) {
			scale := m.scale
			if scale == 0 {
				scale = 1
			}
			out = append(out, v*scale)
		}
	}
	return out
}

func fmtNum(v float64, prec int) string {
	if math.Abs(v) >= 1e4 && prec == 0 {
		return groupThousands(strconv.FormatFloat(v, 'f', 0, 64))
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// groupThousands puts thin spaces between groups of three digits ("1 234 567").
func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u2009")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtStats(st stats, prec int) string {
	if st.n == 0 {
		return "n/a"
	}
	if st.n == 1 || st.min == st.max {
		return fmtNum(st.median, prec)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNum(st.median, prec), fmtNum(st.min, prec), fmtNum(st.max, prec))
}

// ratio formats a/b, or "—" when it is undefined.
func ratio(a, b stats) string {
	if a.n == 0 || b.n == 0 {
		return "—"
	}
	if b.median == 0 {
		if a.median == 0 {
			return "="
		}
		return "—"
	}
	r := a.median / b.median
	switch {
	case r == 0:
		return "0×"
	case r >= 100:
		return fmt.Sprintf("%.0f×", r)
	case r >= 10:
		return fmt.Sprintf("%.1f×", r)
	case r >= 0.1:
		return fmt.Sprintf("%.2f×", r)
	case r >= 0.001:
		return fmt.Sprintf("%.3f×", r)
	}
	return "<0.001×"
}

func machineInfo() string {
	model := ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				if kb, err := strconv.ParseFloat(strings.Fields(rest)[0], 64); err == nil {
					mem = fmt.Sprintf("%.0f GiB", kb/(1<<20))
				}
			}
		}
	}
	parts := []string{fmt.Sprintf("%d CPUs", runtime.NumCPU())}
	for _, p := range []string{model, mem, "Linux " + kernel} {
		if strings.TrimSpace(p) != "" && p != "Linux " {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

func binVersion(bin string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimSpace(firstLine(string(out)))
}

func renderMarkdown(s *settings, servers []server, results []result, started time.Time, took time.Duration) string {
	var b strings.Builder
	b.WriteString("# Benchmark results\n\n")
	when := "Run " + started.UTC().Format("2006-01-02 15:04 UTC")
	if took > 0 {
		when += fmt.Sprintf(" (took %s)", took.Round(time.Second))
	} else {
		when = "Rebuilt from " + s.fromJSONL + " (written " + started.UTC().Format("2006-01-02 15:04 UTC") + ")"
	}
	fmt.Fprintf(&b, "%s on %s. Load tool: `%s` (the same client for every server), protocol %s, on the same machine as the server.\n\n",
		when, machineInfo(), strings.Join(s.loadgen, " "), s.protocol)
	for _, srv := range servers {
		fmt.Fprintf(&b, "- **%s**: `%s` (%s)\n", srv.label, srv.bin, binVersion(srv.bin))
	}
	fmt.Fprintf(&b, "\nKnobs: N=%d HOLD=%s RUNS=%d M=%d RATE_SECONDS=%d DURATION=%s PUBLISH_C=%d CHURN_C=%d REDIS_N=%d REDIS_M=%d. "+
		"Each run starts a fresh server; runs are interleaved (each scenario against %s in turn, round after round). "+
		"Cells show the median over the runs, with the spread (min–max) in parentheses.",
		s.n, s.hold, s.runs, s.m, s.rateSeconds, s.duration, s.publishC, s.churnC, s.redisN, s.redisM, joinLabels(servers))
	if len(servers) > 1 {
		fmt.Fprintf(&b, " The ratio is %s's median divided by %s's; the arrow says whether higher (↑) or lower (↓) is better.", servers[0].label, servers[1].label)
	}
	b.WriteString("\n\n")

	// Header.
	b.WriteString("| scenario | metric | unit |")
	for _, srv := range servers {
		fmt.Fprintf(&b, " %s |", srv.label)
	}
	if len(servers) > 1 {
		fmt.Fprintf(&b, " %s/%s |", servers[0].label, servers[1].label)
	}
	b.WriteString("\n|---|---|---|")
	for range servers {
		b.WriteString("---:|")
	}
	if len(servers) > 1 {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, name := range s.scenarios {
		sc := findScenario(name)
		if sc.machine {
			continue
		}
		// First row: how many runs passed.
		fmt.Fprintf(&b, "| **%s** | runs ok | |", sc.name)
		for _, srv := range servers {
			okN, all := 0, 0
			for _, r := range results {
				if r.Scenario == sc.name && r.Server == srv.label {
					all++
					if r.OK {
						okN++
					}
				}
			}
			fmt.Fprintf(&b, " %d/%d |", okN, all)
		}
		if len(servers) > 1 {
			b.WriteString(" |")
		}
		b.WriteString("\n")
		for _, m := range sc.metrics {
			arrow := "↓"
			if m.higher {
				arrow = "↑"
			}
			fmt.Fprintf(&b, "| | %s %s | %s |", m.label, arrow, m.unit)
			var sts []stats
			for _, srv := range servers {
				st := summarize(values(results, sc.name, srv.label, m))
				sts = append(sts, st)
				fmt.Fprintf(&b, " %s |", fmtStats(st, m.prec))
			}
			if len(servers) > 1 {
				fmt.Fprintf(&b, " %s |", ratio(sts[0], sts[1]))
			}
			b.WriteString("\n")
		}
	}

	b.WriteString(renderMachine(s, servers, results))

	b.WriteString("\n## Scenarios\n\n")
	for _, name := range s.scenarios {
		sc := findScenario(name)
		if sc.machine {
			fmt.Fprintf(&b, "- **%s**: %s.\n  `%s %s %s --timeout %s --json`\n",
				sc.name, sc.note(s), strings.Join(s.loadgen, " "), sc.mode, strings.Join(sc.args(s), " "), sc.timeout(s))
			continue
		}
		extra := ""
		if sc.nodes > 1 {
			extra = " --api http://127.0.0.1:PORT_A/api --publish-pid PID_A"
		}
		fmt.Fprintf(&b, "- **%s**: %s.\n  `%s %s %s --addr 127.0.0.1:PORT --secret %s --api-key %s --protocol %s --pid PID --metrics-url http://127.0.0.1:PORT/metrics --timeout %s --json%s`\n",
			sc.name, sc.note(s), strings.Join(s.loadgen, " "), sc.mode, strings.Join(sc.args(s), " "), secret, apiKey, s.protocol, sc.timeout(s), extra)
	}
	redis := false
	for _, name := range s.scenarios {
		redis = redis || findScenario(name).redis
	}
	var failed []string
	for _, r := range results {
		if !r.OK {
			failed = append(failed, fmt.Sprintf("- %s on %s, round %d: %s", r.Scenario, r.Server, r.Run, r.Err))
		}
	}
	if len(failed) > 0 {
		b.WriteString("\n## Failed runs\n\n" + strings.Join(failed, "\n") + "\n")
	}
	b.WriteString("\nServer config (Centrifugo v6 key names, the same file for every server):\n\n```json\n")
	b.Write(serverConfig(8000))
	b.WriteString("\n```\n\n(The port differs per run: a free loopback port.)")
	if redis {
		fmt.Fprintf(&b, " The Redis scenarios start `%s --bind 127.0.0.1 --port PORT --save '' --appendonly no` for each run and give every node this config instead, with the node's own port:\n\n```json\n", s.redisServer)
		b.Write(clusterConfig(8000, "127.0.0.1:6379"))
		b.WriteString("\n```\n\n")
	} else {
		b.WriteString(" ")
	}
	b.WriteString("Raw figures: `" + filepath.Base(s.raw) + "`, one JSON line per run.\n")
	return b.String()
}

// renderMachine writes the machine floor section: what the kernel and the load tool
// cost with no server, and the bounds that follow for every server measured here.
func renderMachine(s *settings, servers []server, results []result) string {
	sc := findScenario("floor")
	if !slices.Contains(s.scenarios, sc.name) {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Machine floor\n\n")
	b.WriteString("What this machine charges before any server does any work (mode floor, no server running), median (min–max):\n\n")
	b.WriteString("| metric | unit | value |\n|---|---|---:|\n")
	med := map[string]stats{}
	for _, m := range sc.metrics {
		st := summarize(values(results, sc.name, machineLabel, m))
		med[m.key] = st
		fmt.Fprintf(&b, "| %s | %s | %s |\n", m.label, m.unit, fmtStats(st, m.prec))
	}
	if st := med["broadcast_wall_ms"]; st.n > 0 {
		fmt.Fprintf(&b, "\nOne publication to %d subscribers needs %d loopback writes and %d reads: about %s ms of kernel time even spread perfectly over all cores, before any server or client code runs; a delivery p99 at that fan-out cannot be much below it (the 99th percentile delivery needs about 99%% of that work done first).",
			s.n, s.n, s.n, fmtNum(st.median, 1))
	}
	if st := med["null_server_cpu_us_per_request"]; st.n > 0 && st.median > 0 {
		fmt.Fprintf(&b, " A server that only reads each request and writes a fixed reply spends %s µs of CPU per request here (the kernel's share; no server spends less)", fmtNum(st.median, 1))
		if slices.Contains(s.scenarios, "publish") {
			for _, srv := range servers {
				cpu := summarize(values(results, "publish", srv.label, metric{key: "server_cpu_us_per_request"}))
				if cpu.n == 0 {
					continue
				}
				fmt.Fprintf(&b, "; %s spends %s µs, %.1f× that", srv.label, fmtNum(cpu.median, 1), cpu.median/st.median)
			}
		}
		b.WriteString(".")
	}
	b.WriteString("\n")
	return b.String()
}

func joinLabels(servers []server) string {
	var l []string
	for _, s := range servers {
		l = append(l, s.label)
	}
	return strings.Join(l, " then ")
}
