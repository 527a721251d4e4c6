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
	"time"
)

// connsOptions are the flags of mode conns.
type connsOptions struct {
	n        int
	channels int
	channel  string
	rate     float64
	hold     time.Duration
}

func (o *connsOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.n, "n", 1000, "connections to open")
	fs.IntVar(&o.channels, "channels", 100, "channels the connections are spread over (client i subscribes to CHANNEL-(i mod K))")
	fs.StringVar(&o.channel, "channel", "bench", "channel name prefix")
	fs.Float64Var(&o.rate, "rate", 1000, "new connections per second (0: as fast as --inflight allows)")
	fs.Float64Var(&o.rate, "conn-rate", 1000, "same as --rate")
	fs.DurationVar(&o.hold, "hold", 20*time.Second, "how long to hold the connections once all are up")
}

func (o *connsOptions) validate() error {
	switch {
	case o.n < 1:
		return errors.New("-n must be at least 1")
	case o.channels < 1:
		return errors.New("--channels must be at least 1")
	case o.channel == "":
		return errors.New("--channel must not be empty")
	case o.rate < 0:
		return errors.New("--rate must not be negative")
	case o.hold < 0:
		return errors.New("--hold must not be negative")
	}
	return nil
}

// connsReport holds every figure of a conns run. Figures that could not be measured
// (no --pid or --metrics-url, or a failed read) are null.
type connsReport struct {
	Mode     string  `json:"mode"`
	Time     string  `json:"time"`
	Protocol string  `json:"protocol"`
	URL      string  `json:"url"`
	N        int     `json:"n"`
	Channels int     `json:"channels"`
	Rate     float64 `json:"rate"`
	HoldS    float64 `json:"hold_s"`

	Established     int64            `json:"established"`
	Failed          int64            `json:"failed"`
	DialErrors      int64            `json:"dial_errors"`
	ConnectErrors   int64            `json:"connect_errors"`
	SubscribeErrors int64            `json:"subscribe_errors"`
	Dropped         int64            `json:"dropped"`
	Unsubscribed    int64            `json:"unsubscribed"`
	Pings           int64            `json:"pings_answered"`
	PongErrors      int64            `json:"pong_errors"`
	ProtocolErrors  int64            `json:"protocol_errors"`
	CloseCodes      map[string]int64 `json:"close_codes"`
	ErrorSamples    []string         `json:"error_samples"`

	ConnectS       float64 `json:"connect_s"`
	ConnectRate    float64 `json:"connect_rate"`
	HandshakeP50Ms float64 `json:"handshake_p50_ms"`
	HandshakeP99Ms float64 `json:"handshake_p99_ms"`
	HandshakeMaxMs float64 `json:"handshake_max_ms"`
	DialP50Ms      float64 `json:"dial_p50_ms"`
	DialP99Ms      float64 `json:"dial_p99_ms"`
	HeldS          float64 `json:"held_s"`

	RSSSource         string   `json:"rss_source"`
	RSSBefore         *int64   `json:"server_rss_before_bytes"`
	RSSConnected      *int64   `json:"server_rss_connected_bytes"`
	RSSAfter          *int64   `json:"server_rss_after_bytes"`
	RSSPerConn        *float64 `json:"server_rss_per_conn_bytes"`
	HeapBefore        *float64 `json:"server_heap_inuse_before_bytes"`
	HeapAfter         *float64 `json:"server_heap_inuse_after_bytes"`
	HeapPerConn       *float64 `json:"server_heap_inuse_per_conn_bytes"`
	GoroutinesBefore  *float64 `json:"server_goroutines_before"`
	GoroutinesAfter   *float64 `json:"server_goroutines_after"`
	GoroutinesPerConn *float64 `json:"server_goroutines_per_conn"`
	IdleCPUS          *float64 `json:"server_idle_cpu_s"`
	IdleCPUPct        *float64 `json:"server_idle_cpu_pct"`
	IdleCPUPerConnUs  *float64 `json:"server_idle_cpu_us_per_conn_per_s"`

	ClientCPUS float64  `json:"client_cpu_s"`
	DurationS  float64  `json:"duration_s"`
	TimedOut   bool     `json:"timed_out"`
	Warnings   []string `json:"warnings"`
	OK         bool     `json:"ok"`

	charts *charts // for --report
}

func (r *connsReport) passed() bool       { return r.OK }
func (r *connsReport) chartData() *charts { return r.charts }

func runConns(ctx context.Context, cm *common, o *connsOptions, progress io.Writer) (report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := cm.checkFDs(o.n); err != nil {
		return nil, err
	}
	start := time.Now()
	cpu0 := selfCPU()
	rep := &connsReport{
		Mode: "conns", Time: start.UTC().Format(time.RFC3339), Protocol: cm.proto.String(),
		URL: cm.wsURL, N: o.n, Channels: o.channels, Rate: o.rate, HoldS: o.hold.Seconds(),
	}
	var wmu sync.Mutex
	warn := func(s string) {
		wmu.Lock()
		defer wmu.Unlock()
		if !slices.Contains(rep.Warnings, s) {
			rep.Warnings = append(rep.Warnings, s)
		}
	}

	names := make([]string, o.channels)
	for i := range names {
		names[i] = o.channel + "-" + strconv.Itoa(i)
	}
	subs := make([][]string, o.channels)
	for i := range subs {
		subs[i] = names[i : i+1]
	}
	spec := clientSpec{
		user:     func(i int) string { return "bench-" + strconv.Itoa(i) },
		channels: func(i int) []string { return subs[i%o.channels] },
	}

	before := takeSample(ctx, cm, warn)
	p := newPool(cm.clientOptions(), o.n, cm.inflight)
	cnt := p.cnt
	phase := "connecting"
	var holdStart time.Time
	var phaseMu sync.Mutex
	tk := startProgress(progress, func() string {
		phaseMu.Lock()
		ph, hs := phase, holdStart
		phaseMu.Unlock()
		s := fmt.Sprintf("%s: up %d/%d failed %d dropped %d pings %d", ph,
			cnt.established.Load(), o.n, cnt.failed.Load(), cnt.dropped.Load(), cnt.pings.Load())
		if !hs.IsZero() {
			s += fmt.Sprintf(" held %.0fs/%.0fs", time.Since(hs).Seconds(), o.hold.Seconds())
		}
		return s
	})
	defer tk.stop()
	tl := newTimeline(cm.sampleIntv)
	tl.rate("connections established", "conns/s", cnt.established.Load)
	tl.gauge("connections open", "connections", 1, func() (float64, bool) {
		return float64(cnt.established.Load() - cnt.dropped.Load()), true
	})
	tl.rate("server pings answered", "pings/s", cnt.pings.Load)
	tl.procTracks(cm.pid)
	tl.run()
	defer tl.stop()

	connStart := time.Now()
	p.start(ctx, o.rate, spec)
	settled := p.waitSettled(ctx)
	connDur := time.Since(connStart)

	var connected, after sample
	if settled && cnt.established.Load() > 0 {
		connected = takeSample(ctx, cm, warn)
		phaseMu.Lock()
		phase, holdStart = "holding", time.Now()
		phaseMu.Unlock()
		hold := time.NewTimer(o.hold)
		select {
		case <-hold.C:
		case <-ctx.Done():
		}
		hold.Stop()
		rep.HeldS = round(time.Since(holdStart).Seconds())
		after = takeSample(context.Background(), cm, warn)
	}
	rep.TimedOut = ctx.Err() != nil
	tk.stop()
	tl.stop()
	p.closeAll(10 * time.Second)

	// Connection figures.
	rep.Established = cnt.established.Load()
	rep.Failed = cnt.failed.Load()
	rep.DialErrors = cnt.dialErrors.Load()
	rep.ConnectErrors = cnt.connErrors.Load()
	rep.SubscribeErrors = cnt.subErrors.Load()
	rep.Dropped = cnt.dropped.Load()
	rep.Unsubscribed = cnt.unsubs.Load()
	rep.Pings = cnt.pings.Load()
	rep.PongErrors = cnt.pongErrors.Load()
	rep.ProtocolErrors = cnt.protoErrors.Load()
	rep.CloseCodes, rep.ErrorSamples = cnt.snapshotErrors()
	rep.ConnectS = round(connDur.Seconds())
	if connDur > 0 {
		rep.ConnectRate = round(float64(rep.Established) / connDur.Seconds())
	}
	h := cnt.handshakeHist
	rep.HandshakeP50Ms, rep.HandshakeP99Ms, rep.HandshakeMaxMs = ms(h.quantile(0.5)), ms(h.quantile(0.99)), ms(h.maxValue())
	rep.DialP50Ms, rep.DialP99Ms = ms(cnt.dialHist.quantile(0.5)), ms(cnt.dialHist.quantile(0.99))
	rep.charts = &charts{
		hists:  []namedHist{{"handshake latency (dial → connect and subscribe replies)", h}, {"dial + WebSocket upgrade latency", cnt.dialHist}},
		series: tl.series(),
	}

	// Server figures.
	if !connected.at.IsZero() {
		fillServerFigures(rep, before, connected, after)
	}
	rep.ClientCPUS = round((selfCPU() - cpu0).Seconds())
	rep.DurationS = round(time.Since(start).Seconds())
	rep.OK = !rep.TimedOut && rep.Established == int64(o.n) && rep.Dropped == 0 && rep.PongErrors == 0 && rep.ProtocolErrors == 0
	if rep.TimedOut {
		return rep, fmt.Errorf("run exceeded --timeout %s", cm.timeout)
	}
	return rep, nil
}

func fillServerFigures(rep *connsReport, before, connected, after sample) {
	n := rep.Established
	if before.procOK {
		rep.RSSSource = "proc"
	} else if _, ok := before.metrics[metricRSS]; ok {
		rep.RSSSource = "metrics"
	}
	if v, ok := before.rss(); ok {
		rep.RSSBefore = ptr(v)
	}
	if v, ok := connected.rss(); ok {
		rep.RSSConnected = ptr(v)
	}
	if v, ok := after.rss(); ok {
		rep.RSSAfter = ptr(v)
	}
	rep.RSSPerConn = perConn(i64f(rep.RSSBefore), i64f(rep.RSSAfter), n)
	if v, ok := before.metric(metricHeapInuse); ok {
		rep.HeapBefore = ptr(v)
	}
	if v, ok := after.metric(metricHeapInuse); ok {
		rep.HeapAfter = ptr(v)
	}
	rep.HeapPerConn = perConn(rep.HeapBefore, rep.HeapAfter, n)
	if v, ok := before.metric(metricGoroutines); ok {
		rep.GoroutinesBefore = ptr(v)
	}
	if v, ok := after.metric(metricGoroutines); ok {
		rep.GoroutinesAfter = ptr(v)
	}
	rep.GoroutinesPerConn = perConn(rep.GoroutinesBefore, rep.GoroutinesAfter, n)
	if connected.procOK && after.procOK {
		cpu := (after.proc.cpu - connected.proc.cpu).Seconds()
		wall := after.proc.taken.Sub(connected.proc.taken).Seconds()
		rep.IdleCPUS = ptr(round(cpu))
		if wall > 0 {
			rep.IdleCPUPct = ptr(round(100 * cpu / wall))
			if n > 0 {
				rep.IdleCPUPerConnUs = ptr(round(cpu / wall / float64(n) * 1e6))
			}
		}
	}
}

func (r *connsReport) rows() []row {
	status := "OK"
	if !r.OK {
		status = "FAILED"
	}
	rows := []row{
		{"", fmt.Sprintf("conns  %s  protocol=%s n=%d channels=%d rate=%g/s hold=%gs  [%s]", r.URL, r.Protocol, r.N, r.Channels, r.Rate, r.HoldS, status)},
		{"established", fmt.Sprintf("%d / %d", r.Established, r.N)},
		{"failed", fmt.Sprintf("%d (dial %d, connect %d, subscribe %d)", r.Failed, r.DialErrors, r.ConnectErrors, r.SubscribeErrors)},
		{"dropped during hold", fmt.Sprint(r.Dropped)},
		{"unsubscribe pushes", fmt.Sprint(r.Unsubscribed)},
		{"pings answered", fmt.Sprintf("%d (pong errors %d)", r.Pings, r.PongErrors)},
		{"protocol errors", fmt.Sprint(r.ProtocolErrors)},
		{"close codes", fmtCodes(r.CloseCodes)},
		{"connect phase", fmt.Sprintf("%.2fs (%.0f conns/s)", r.ConnectS, r.ConnectRate)},
		{"handshake p50/p99/max", fmt.Sprintf("%.2f / %.2f / %.2f ms (dial+upgrade p50/p99 %.2f / %.2f ms)", r.HandshakeP50Ms, r.HandshakeP99Ms, r.HandshakeMaxMs, r.DialP50Ms, r.DialP99Ms)},
		{"held", fmt.Sprintf("%.1fs", r.HeldS)},
		{"", "server"},
		{"RSS before / connected / after", fmt.Sprintf("%s / %s / %s (%s)", optBytes(i64f(r.RSSBefore)), optBytes(i64f(r.RSSConnected)), optBytes(i64f(r.RSSAfter)), orNA(r.RSSSource))},
		{"RSS per connection", optFloat(r.RSSPerConn, "%.0f B")},
		{"heap in use before / after", fmt.Sprintf("%s / %s", optBytes(r.HeapBefore), optBytes(r.HeapAfter))},
		{"heap in use per connection", optFloat(r.HeapPerConn, "%.0f B")},
		{"goroutines before / after", fmt.Sprintf("%s / %s", optFloat(r.GoroutinesBefore, "%.0f"), optFloat(r.GoroutinesAfter, "%.0f"))},
		{"goroutines per connection", optFloat(r.GoroutinesPerConn, "%.3f")},
		{"idle CPU over hold", fmt.Sprintf("%s s (%s%% of a core)", optFloat(r.IdleCPUS, "%.2f"), optFloat(r.IdleCPUPct, "%.2f"))},
		{"idle CPU per connection", optFloat(r.IdleCPUPerConnUs, "%.3f µs/s")},
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

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}
