// Package benchmarks holds Rotor's load tool (`rotor bench`, or the standalone
// benchmarks/cmd/loadgen). It drives a server through the Centrifugo client protocol v2
// over WebSocket (JSON or Protobuf) and the HTTP server API, so it runs unchanged
// against Rotor and against Centrifugo v6, and reports what the server costs: memory,
// goroutines and idle CPU per connection (mode conns), and delivery rate, end-to-end
// latency and CPU per delivery of a broadcast (mode fanout), API publish throughput and
// latency (mode publish), and connection churn (mode churn). --report adds an HTML
// page with latency histograms and rates over time.
//
// Every run is bounded in count and time and talks to loopback addresses only.
package benchmarks

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// Exit codes of Main.
const (
	exitOK    = 0 // the run completed and met its expectations
	exitFail  = 1 // the run completed badly (errors, losses) or timed out
	exitUsage = 2 // bad arguments
)

const usageText = `usage: rotor bench <mode> [flags]

modes:
  conns    open -n connections (connect + one subscription each over --channels
           channels), hold them for --hold answering server pings, and report server
           memory, goroutines and idle CPU per connection
  fanout   subscribe -n clients to one channel, publish -m messages through the HTTP
           API, and report delivery rate, end-to-end latency, losses and server CPU
           per delivery
  publish  send publish requests through the HTTP API from -c workers (optionally
           with --subscribers on the channel), and report requests/s, latency
           percentiles, errors and server CPU per request
  churn    run connect → subscribe → disconnect cycles from -c workers for
           --duration or -n cycles, and report cycles/s, handshake latency
           percentiles and errors
  floor    measure this machine without a server: a system call, one small
           loopback write and read, and the requests/s the publish client reaches
           against a null HTTP server; report the kernel's share of a broadcast
           to --subscribers sockets and the API ceiling no server can pass here

Every mode takes --json (one line), --report FILE (an HTML report with latency
histograms and rates over time) and --timeout.

Run "rotor bench <mode> -h" for the flags of a mode.
`

// Main runs the load tool with args (mode first), writing the report to stdout and
// diagnostics to stderr, and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usageText)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	mode, rest := args[0], args[1:]
	var run func(context.Context, *common, io.Writer) (report, error)
	fs := flag.NewFlagSet("rotor bench "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cm := &common{}
	cm.register(fs)
	switch mode {
	case "conns":
		o := &connsOptions{}
		o.register(fs)
		run = func(ctx context.Context, cm *common, progress io.Writer) (report, error) {
			return runConns(ctx, cm, o, progress)
		}
	case "fanout":
		o := &fanoutOptions{}
		o.register(fs)
		run = func(ctx context.Context, cm *common, progress io.Writer) (report, error) {
			return runFanout(ctx, cm, o, progress)
		}
	case "publish":
		o := &publishOptions{}
		o.register(fs)
		run = func(ctx context.Context, cm *common, progress io.Writer) (report, error) {
			return runPublish(ctx, cm, o, progress)
		}
	case "churn":
		o := &churnOptions{}
		o.register(fs)
		run = func(ctx context.Context, cm *common, progress io.Writer) (report, error) {
			return runChurn(ctx, cm, o, progress)
		}
	case "floor":
		o := &floorOptions{}
		o.register(fs)
		run = func(ctx context.Context, cm *common, progress io.Writer) (report, error) {
			return runFloor(ctx, cm, o, progress)
		}
	default:
		fmt.Fprintf(stderr, "rotor bench: unknown mode %q\n\n%s", mode, usageText)
		return exitUsage
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rotor bench %s: unexpected arguments %q\n", mode, fs.Args())
		return exitUsage
	}
	if err := cm.finish(); err != nil {
		fmt.Fprintf(stderr, "rotor bench %s: %v\n", mode, err)
		return exitUsage
	}
	if lim, err := raiseNoFileLimit(); err != nil {
		fmt.Fprintf(stderr, "rotor bench: raising RLIMIT_NOFILE: %v\n", err)
	} else {
		cm.noFile = lim
	}

	// Create the report file now, so that a bad path fails before the run, not after.
	var reportOut *os.File
	if cm.reportFile != "" {
		f, err := os.Create(cm.reportFile)
		if err != nil {
			fmt.Fprintf(stderr, "rotor bench %s: --report: %v\n", mode, err)
			return exitUsage
		}
		reportOut = f
		defer func() {
			if reportOut != nil { // the run ended without a report: leave no empty file
				reportOut.Close()
				os.Remove(cm.reportFile)
			}
		}()
	}
	if cm.cpuProfile != "" {
		f, err := os.Create(cm.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "rotor bench: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "rotor bench: %v\n", err)
			return exitUsage
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), cm.timeout)
	defer cancel()
	var progress io.Writer
	if isTerminal(stdout) && !cm.jsonOut {
		progress = stdout
	}
	rep, err := run(ctx, cm, progress)
	if err != nil && rep == nil {
		fmt.Fprintf(stderr, "rotor bench %s: %v\n", mode, err)
		return exitUsage
	}
	if cm.jsonOut {
		if err := writeJSON(stdout, rep); err != nil {
			fmt.Fprintf(stderr, "rotor bench: %v\n", err)
			return exitFail
		}
	} else {
		writeTable(stdout, rep)
	}
	if reportOut != nil {
		werr := writeHTML(reportOut, mode, rep)
		if cerr := reportOut.Close(); werr == nil {
			werr = cerr
		}
		reportOut = nil
		if werr != nil {
			fmt.Fprintf(stderr, "rotor bench %s: writing %s: %v\n", mode, cm.reportFile, werr)
			return exitFail
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "rotor bench %s: %v\n", mode, err)
		return exitFail
	}
	if !rep.passed() {
		return exitFail
	}
	return exitOK
}

// common holds the flags every mode shares.
type common struct {
	addr       string
	wsURL      string
	apiURL     string
	apiKey     string
	secret     string
	protocol   string
	tokenTTL   time.Duration
	pid        int
	metricsURL string
	timeout    time.Duration
	handshake  time.Duration
	inflight   int
	jsonOut    bool
	cpuProfile string
	reportFile string
	sampleIntv time.Duration

	proto  codec.Protocol
	noFile uint64 // RLIMIT_NOFILE in force
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8000", "server host:port (loopback only); --url and --api default to it")
	fs.StringVar(&c.wsURL, "url", "", "WebSocket endpoint (default ws://ADDR/connection/websocket)")
	fs.StringVar(&c.apiURL, "api", "", "HTTP server API base; publish goes to API/publish (default http://ADDR/api)")
	fs.StringVar(&c.apiKey, "api-key", "", "server API key, sent as X-API-Key")
	fs.StringVar(&c.secret, "secret", "", "HMAC secret for HS256 connection tokens (empty: connect without a token)")
	fs.StringVar(&c.protocol, "protocol", "json", "client protocol: json or protobuf (subprotocol centrifuge-protobuf)")
	fs.DurationVar(&c.tokenTTL, "token-ttl", 0, "put an exp claim this far ahead in connection tokens (0: no exp)")
	fs.IntVar(&c.pid, "pid", 0, "server process id, for RSS (VmRSS) and CPU (utime+stime) from /proc")
	fs.StringVar(&c.metricsURL, "metrics-url", "", "server Prometheus endpoint, for process_resident_memory_bytes, go_memstats_heap_inuse_bytes and go_goroutines")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "bound on the whole run")
	fs.DurationVar(&c.handshake, "handshake-timeout", 10*time.Second, "bound on one client's dial + connect + subscribe")
	fs.IntVar(&c.inflight, "inflight", 512, "most handshakes in progress at once")
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON line with all figures instead of the table")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the load tool itself to this file")
	fs.StringVar(&c.reportFile, "report", "", "also write a self-contained HTML report (histograms, percentiles, rates over time) to this file")
	fs.DurationVar(&c.sampleIntv, "sample-interval", 250*time.Millisecond, "how often rates and server CPU/RSS are sampled for the report's time plots (250ms to 1s)")
}

// finish validates the shared flags and derives the URLs.
func (c *common) finish() error {
	switch strings.ToLower(c.protocol) {
	case "json":
		c.proto = codec.ProtocolJSON
	case "protobuf", "proto", "pb":
		c.proto = codec.ProtocolProtobuf
	default:
		return fmt.Errorf("--protocol must be json or protobuf, not %q", c.protocol)
	}
	if c.wsURL == "" {
		c.wsURL = "ws://" + c.addr + "/connection/websocket"
	}
	if c.apiURL == "" {
		c.apiURL = "http://" + c.addr + "/api"
	}
	if err := checkLoopback(c.wsURL, "ws"); err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if err := checkLoopback(c.apiURL, "http"); err != nil {
		return fmt.Errorf("--api: %w", err)
	}
	if c.metricsURL != "" {
		if err := checkLoopback(c.metricsURL, "http"); err != nil {
			return fmt.Errorf("--metrics-url: %w", err)
		}
	}
	if c.timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	if c.handshake <= 0 {
		return errors.New("--handshake-timeout must be positive")
	}
	if c.inflight < 1 {
		return errors.New("--inflight must be at least 1")
	}
	if c.pid < 0 {
		return errors.New("--pid must not be negative")
	}
	if c.sampleIntv < minSampleInterval || c.sampleIntv > maxSampleInterval {
		return fmt.Errorf("--sample-interval must be between %v and %v", minSampleInterval, maxSampleInterval)
	}
	return nil
}

func (c *common) clientOptions() clientOptions {
	return clientOptions{
		wsURL:     c.wsURL,
		proto:     c.proto,
		secret:    []byte(c.secret),
		tokenTTL:  c.tokenTTL,
		handshake: c.handshake,
	}
}

// checkFDs fails early when n sockets would not fit under RLIMIT_NOFILE.
func (c *common) checkFDs(n int) error {
	const reserve = 64
	if c.noFile > 0 && uint64(n)+reserve > c.noFile {
		return fmt.Errorf("%d sockets exceed RLIMIT_NOFILE %d (minus %d spare)", n, c.noFile, reserve)
	}
	return nil
}

// checkLoopback accepts only URLs of the given scheme family on a loopback host.
func checkLoopback(raw, scheme string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != scheme && u.Scheme != scheme+"s" {
		return fmt.Errorf("scheme must be %s, got %q", scheme, u.Scheme)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not a loopback address", host)
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ticker prints a live progress line every interval until stop is called; with a nil
// writer it does nothing.
type ticker struct {
	stop func()
}

func startProgress(w io.Writer, line func() string) *ticker {
	if w == nil {
		return &ticker{stop: func() {}}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s", line())
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			}
		}
	}()
	stopped := false
	return &ticker{stop: func() {
		if !stopped {
			stopped = true
			close(done)
			<-finished
		}
	}}
}
