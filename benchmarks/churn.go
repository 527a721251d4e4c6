package benchmarks

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// churnOptions are the flags of mode churn.
type churnOptions struct {
	n            int
	duration     time.Duration
	concurrency  int
	rate         float64
	channels     int
	channel      string
	closeTimeout time.Duration
}

func (o *churnOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.n, "n", 0, "cycles to run (0: no count bound, use --duration)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "stop starting cycles after this long (0: no time bound, use -n)")
	fs.IntVar(&o.concurrency, "c", 16, "cycles in progress at once")
	fs.IntVar(&o.concurrency, "concurrency", 16, "same as -c")
	fs.Float64Var(&o.rate, "rate", 0, "cycles started per second over all workers (0: as fast as possible)")
	fs.IntVar(&o.channels, "channels", 100, "channels the cycles are spread over (cycle k subscribes to CHANNEL-(k mod K))")
	fs.StringVar(&o.channel, "channel", "churn", "channel name prefix")
	fs.DurationVar(&o.closeTimeout, "close-timeout", 5*time.Second, "how long to wait for the server to answer our close frame")
}

func (o *churnOptions) validate() error {
	switch {
	case o.n < 0 || o.duration < 0:
		return errors.New("-n and --duration must not be negative")
	case o.n == 0 && o.duration == 0:
		return errors.New("give -n or --duration (or both) to bound the run")
	case o.concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	case o.rate < 0:
		return errors.New("--rate must not be negative")
	case o.channels < 1:
		return errors.New("--channels must be at least 1")
	case o.channel == "":
		return errors.New("--channel must not be empty")
	case o.closeTimeout <= 0:
		return errors.New("--close-timeout must be positive")
	}
	return nil
}

// churnReport holds every figure of a churn run. One cycle is: dial and upgrade, send
// connect plus one subscribe in a frame, wait for both replies (the handshake), send a
// close frame (1000) and wait for the server's close frame, close the socket.
type churnReport struct {
	Mode        string  `json:"mode"`
	Time        string  `json:"time"`
	Protocol    string  `json:"protocol"`
	URL         string  `json:"url"`
	N           int     `json:"n"`
	DurationLim float64 `json:"duration_limit_s"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate"`
	Channels    int     `json:"channels"`

	Started         int64            `json:"started"`
	Cycles          int64            `json:"cycles"`
	Failed          int64            `json:"failed"`
	DialErrors      int64            `json:"dial_errors"`
	ConnectErrors   int64            `json:"connect_errors"`
	SubscribeErrors int64            `json:"subscribe_errors"`
	CloseErrors     int64            `json:"close_errors"`
	ProtocolErrors  int64            `json:"protocol_errors"`
	Errors          int64            `json:"errors"`
	CloseCodes      map[string]int64 `json:"close_codes"`
	ErrorSamples    []string         `json:"error_samples"`

	RunS           float64 `json:"run_s"`
	CyclesPerS     float64 `json:"cycles_per_s"`
	HandshakeMean  float64 `json:"handshake_mean_ms"`
	HandshakeMinMs float64 `json:"handshake_min_ms"`
	HandshakeP50Ms float64 `json:"handshake_p50_ms"`
	HandshakeP90Ms float64 `json:"handshake_p90_ms"`
	HandshakeP99Ms float64 `json:"handshake_p99_ms"`
	HandshakeP999  float64 `json:"handshake_p999_ms"`
	HandshakeMaxMs float64 `json:"handshake_max_ms"`
	DialP50Ms      float64 `json:"dial_p50_ms"`
	DialP99Ms      float64 `json:"dial_p99_ms"`
	CloseP50Ms     float64 `json:"close_p50_ms"`
	CloseP99Ms     float64 `json:"close_p99_ms"`
	CycleP50Ms     float64 `json:"cycle_p50_ms"`
	CycleP99Ms     float64 `json:"cycle_p99_ms"`

	ServerCPUS         *float64 `json:"server_cpu_s"`
	ServerCPUPerCycleU *float64 `json:"server_cpu_us_per_cycle"`
	ServerRSSBefore    *int64   `json:"server_rss_before_bytes"`
	ServerRSSAfter     *int64   `json:"server_rss_after_bytes"`
	GoroutinesBefore   *float64 `json:"server_goroutines_before"`
	GoroutinesAfter    *float64 `json:"server_goroutines_after"`

	ClientCPUS float64  `json:"client_cpu_s"`
	DurationS  float64  `json:"duration_s"`
	TimedOut   bool     `json:"timed_out"`
	Warnings   []string `json:"warnings"`
	OK         bool     `json:"ok"`

	charts *charts
}

func (r *churnReport) passed() bool       { return r.OK }
func (r *churnReport) chartData() *charts { return r.charts }

// closeAndWait sends a close frame (1000) and reads until the server's close frame
// arrives or bound passes, then closes the socket. Frames that arrive in between
// (a ping, a late push) are ignored. It returns nil when the server answered with a
// normal close (1000, or no status), the *websocket.CloseError for any other code, and
// the read error otherwise.
func (c *benchConn) closeAndWait(bound time.Duration) error {
	c.closing.Store(true)
	defer c.ws.Close()
	deadline := time.Now().Add(bound)
	if err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline); err != nil {
		return err
	}
	if err := c.ws.SetReadDeadline(deadline); err != nil {
		return err
	}
	for {
		err := c.readFrame()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseNoStatusReceived {
				return nil
			}
			return ce
		}
		return fmt.Errorf("close not answered: %w", err)
	}
}

func runChurn(ctx context.Context, cm *common, o *churnOptions, progress io.Writer) (report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := cm.checkFDs(o.concurrency); err != nil {
		return nil, err
	}
	start := time.Now()
	cpu0 := selfCPU()
	rep := &churnReport{
		Mode: "churn", Time: start.UTC().Format(time.RFC3339), Protocol: cm.proto.String(), URL: cm.wsURL,
		N: o.n, DurationLim: o.duration.Seconds(), Concurrency: o.concurrency, Rate: o.rate, Channels: o.channels,
	}
	var wmu sync.Mutex
	warn := func(s string) {
		wmu.Lock()
		defer wmu.Unlock()
		if !slices.Contains(rep.Warnings, s) {
			rep.Warnings = append(rep.Warnings, s)
		}
	}
	names := make([][]string, o.channels)
	for i := range names {
		names[i] = []string{o.channel + "-" + strconv.Itoa(i)}
	}

	opts := cm.clientOptions()
	dialer := newDialer(&opts)
	cnt := newCounters()
	closeHist, cycleHist := newHistogram(), newHistogram()
	var cycles, closeErrs atomic.Int64

	tk := startProgress(progress, func() string {
		return fmt.Sprintf("churning: cycles %d failed %d close errors %d", cycles.Load(), cnt.failed.Load(), closeErrs.Load())
	})
	defer tk.stop()
	tl := newTimeline(cm.sampleIntv)
	tl.rate("cycles", "cycles/s", cycles.Load)
	tl.rate("errors", "errors/s", func() int64 { return cnt.failed.Load() + closeErrs.Load() })
	tl.procTracks(cm.pid)
	tl.run()
	defer tl.stop()

	before := takeSample(ctx, cm, warn)
	var wg sync.WaitGroup
	sch := newSchedule(o.n, o.rate, o.duration)
	runStart := sch.start
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timer := stoppedTimer()
			for {
				k, t0, ok := sch.take(ctx, timer)
				if !ok {
					return
				}
				cnt.started.Add(1)
				c := &benchConn{proto: opts.proto}
				err := c.handshake(ctx, &opts, dialer, "bench-"+strconv.FormatInt(k, 10), names[k%int64(o.channels)], nil, cnt)
				if err != nil {
					if ctx.Err() != nil && c.ws == nil {
						return // the run timed out mid-dial: not the server's fault
					}
					cnt.failed.Add(1)
					cnt.noteError(err)
					if c.ws != nil {
						_ = c.ws.Close()
					}
					continue
				}
				cnt.handshakeHist.record(int64(time.Since(t0)))
				cnt.established.Add(1)
				t1 := time.Now()
				if err := c.closeAndWait(o.closeTimeout); err != nil {
					closeErrs.Add(1)
					cnt.noteError(err)
					continue
				}
				end := time.Now()
				closeHist.record(int64(end.Sub(t1)))
				cycleHist.record(int64(end.Sub(t0)))
				cycles.Add(1)
			}
		}()
	}
	wg.Wait()
	runDur := time.Since(runStart)
	rep.TimedOut = ctx.Err() != nil
	after := takeSample(context.Background(), cm, warn)
	tk.stop()
	tl.stop()

	rep.Started = cnt.started.Load()
	rep.Cycles = cycles.Load()
	rep.Failed = cnt.failed.Load()
	rep.DialErrors = cnt.dialErrors.Load()
	rep.ConnectErrors = cnt.connErrors.Load()
	rep.SubscribeErrors = cnt.subErrors.Load()
	rep.CloseErrors = closeErrs.Load()
	rep.ProtocolErrors = cnt.protoErrors.Load()
	rep.Errors = rep.Failed + rep.CloseErrors
	rep.CloseCodes, rep.ErrorSamples = cnt.snapshotErrors()
	rep.RunS = round(runDur.Seconds())
	if runDur > 0 {
		rep.CyclesPerS = round(float64(rep.Cycles) / runDur.Seconds())
	}
	h := cnt.handshakeHist
	rep.HandshakeMean = round(h.mean() / 1e6)
	rep.HandshakeMinMs, rep.HandshakeMaxMs = ms(h.minValue()), ms(h.maxValue())
	rep.HandshakeP50Ms, rep.HandshakeP90Ms, rep.HandshakeP99Ms, rep.HandshakeP999 = ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)), ms(h.quantile(0.999))
	rep.DialP50Ms, rep.DialP99Ms = ms(cnt.dialHist.quantile(0.5)), ms(cnt.dialHist.quantile(0.99))
	rep.CloseP50Ms, rep.CloseP99Ms = ms(closeHist.quantile(0.5)), ms(closeHist.quantile(0.99))
	rep.CycleP50Ms, rep.CycleP99Ms = ms(cycleHist.quantile(0.5)), ms(cycleHist.quantile(0.99))

	if before.procOK && after.procOK {
		cpu := (after.proc.cpu - before.proc.cpu).Seconds()
		rep.ServerCPUS = ptr(round(cpu))
		if rep.Cycles > 0 {
			rep.ServerCPUPerCycleU = ptr(round(cpu * 1e6 / float64(rep.Cycles)))
		}
	}
	if v, ok := before.rss(); ok {
		rep.ServerRSSBefore = ptr(v)
	}
	if v, ok := after.rss(); ok {
		rep.ServerRSSAfter = ptr(v)
	}
	if v, ok := before.metric(metricGoroutines); ok {
		rep.GoroutinesBefore = ptr(v)
	}
	if v, ok := after.metric(metricGoroutines); ok {
		rep.GoroutinesAfter = ptr(v)
	}
	rep.charts = &charts{
		hists: []namedHist{
			{"handshake latency (dial → connect and subscribe replies)", h},
			{"close latency (close frame sent → server's close frame)", closeHist},
			{"cycle latency (dial → close answered)", cycleHist},
		},
		series: tl.series(),
	}
	rep.ClientCPUS = round((selfCPU() - cpu0).Seconds())
	rep.DurationS = round(time.Since(start).Seconds())
	rep.OK = !rep.TimedOut && rep.Cycles > 0 && rep.Errors == 0 && rep.ProtocolErrors == 0 &&
		(o.duration > 0 || rep.Cycles == int64(o.n))
	if rep.TimedOut {
		return rep, fmt.Errorf("run exceeded --timeout %s", cm.timeout)
	}
	return rep, nil
}

func (r *churnReport) rows() []row {
	status := "OK"
	if !r.OK {
		status = "FAILED"
	}
	rate := "max"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%g/s", r.Rate)
	}
	bound := fmt.Sprintf("n=%d", r.N)
	if r.DurationLim > 0 {
		bound = fmt.Sprintf("duration=%gs", r.DurationLim)
		if r.N > 0 {
			bound += fmt.Sprintf(" n=%d", r.N)
		}
	}
	rows := []row{
		{"", fmt.Sprintf("churn  %s  protocol=%s %s c=%d rate=%s channels=%d  [%s]", r.URL, r.Protocol, bound, r.Concurrency, rate, r.Channels, status)},
		{"cycles", fmt.Sprintf("%d completed of %d started in %.2fs", r.Cycles, r.Started, r.RunS)},
		{"throughput", fmt.Sprintf("%.0f cycles/s", r.CyclesPerS)},
		{"errors", fmt.Sprintf("%d (dial %d, connect %d, subscribe %d, close %d)", r.Errors, r.DialErrors, r.ConnectErrors, r.SubscribeErrors, r.CloseErrors)},
		{"protocol errors", fmt.Sprint(r.ProtocolErrors)},
		{"close codes", fmtCodes(r.CloseCodes)},
		{"handshake p50 / p90 / p99", fmt.Sprintf("%.3f / %.3f / %.3f ms", r.HandshakeP50Ms, r.HandshakeP90Ms, r.HandshakeP99Ms)},
		{"handshake p99.9 / max", fmt.Sprintf("%.3f / %.3f ms", r.HandshakeP999, r.HandshakeMaxMs)},
		{"handshake min / mean", fmt.Sprintf("%.3f / %.3f ms", r.HandshakeMinMs, r.HandshakeMean)},
		{"dial+upgrade p50 / p99", fmt.Sprintf("%.3f / %.3f ms", r.DialP50Ms, r.DialP99Ms)},
		{"close p50 / p99", fmt.Sprintf("%.3f / %.3f ms", r.CloseP50Ms, r.CloseP99Ms)},
		{"cycle p50 / p99", fmt.Sprintf("%.3f / %.3f ms", r.CycleP50Ms, r.CycleP99Ms)},
		{"", "server"},
		{"server CPU", fmt.Sprintf("%s s (%s µs per cycle)", optFloat(r.ServerCPUS, "%.2f"), optFloat(r.ServerCPUPerCycleU, "%.1f"))},
		{"RSS before / after", fmt.Sprintf("%s / %s", optBytes(i64f(r.ServerRSSBefore)), optBytes(i64f(r.ServerRSSAfter)))},
		{"goroutines before / after", fmt.Sprintf("%s / %s", optFloat(r.GoroutinesBefore, "%.0f"), optFloat(r.GoroutinesAfter, "%.0f"))},
		{"", "client"},
		{"client CPU", fmt.Sprintf("%.2f s", r.ClientCPUS)},
		{"duration", fmt.Sprintf("%.2f s", r.DurationS)},
	}
	for _, s := range r.ErrorSamples {
		rows = append(rows, row{"error sample", s})
	}
	for _, w := range r.Warnings {
		rows = append(rows, row{"warning", w})
	}
	return rows
}
