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

	"github.com/valyala/fasthttp"
)

// publishOptions are the flags of mode publish.
type publishOptions struct {
	n           int
	duration    time.Duration
	concurrency int
	rate        float64
	subscribers int
	connRate    float64
	channel     string
	size        int
	drain       time.Duration
}

func (o *publishOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.n, "n", 10000, "publish requests to send (0: no count bound, use --duration)")
	fs.DurationVar(&o.duration, "duration", 0, "stop sending after this long (0: no time bound, use -n)")
	fs.IntVar(&o.concurrency, "c", 16, "requests in flight at once (each worker waits for its previous reply)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "same as -c")
	fs.Float64Var(&o.rate, "rate", 0, "requests per second over all workers (0: as fast as possible)")
	fs.IntVar(&o.subscribers, "subscribers", 0, "WebSocket subscribers of the channel, connected before the first request")
	fs.Float64Var(&o.connRate, "conn-rate", 1000, "new subscriber connections per second (0: as fast as --inflight allows)")
	fs.StringVar(&o.channel, "channel", "bench-publish", "channel to publish to (and subscribe to)")
	fs.IntVar(&o.size, "size", 0, "pad each payload to at least this many bytes (the bare payload is about 45)")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "with subscribers: how long to wait for outstanding deliveries after the last reply")
}

func (o *publishOptions) validate() error {
	switch {
	case o.n < 0 || o.duration < 0:
		return errors.New("-n and --duration must not be negative")
	case o.n == 0 && o.duration == 0:
		return errors.New("give -n or --duration (or both) to bound the run")
	case o.concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	case o.rate < 0 || o.connRate < 0:
		return errors.New("--rate and --conn-rate must not be negative")
	case o.subscribers < 0:
		return errors.New("--subscribers must not be negative")
	case o.channel == "":
		return errors.New("--channel must not be empty")
	case o.size < 0 || o.size > 1<<20:
		return errors.New("--size must be between 0 and 1 MiB")
	case o.drain < 0:
		return errors.New("--drain must not be negative")
	}
	return nil
}

// publishReport holds every figure of a publish run. Request latency is the HTTP
// round trip of successful requests, from just before the request is written to the
// end of the reply; delivery latency (with subscribers) is from the same instant to
// the arrival of the frame carrying the publication.
type publishReport struct {
	Mode        string  `json:"mode"`
	Time        string  `json:"time"`
	Protocol    string  `json:"protocol"`
	URL         string  `json:"url"`
	APIURL      string  `json:"api_url"`
	N           int     `json:"n"`
	DurationLim float64 `json:"duration_limit_s"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate"`
	Subscribers int     `json:"subscribers"`
	PayloadB    int     `json:"payload_bytes"`

	Requests        int64    `json:"requests"`
	Succeeded       int64    `json:"succeeded"`
	Errors          int64    `json:"errors"`
	APIErrors       int64    `json:"api_errors"`
	TransportErrors int64    `json:"transport_errors"`
	ErrorSamples    []string `json:"error_samples"`
	RunS            float64  `json:"run_s"`
	RequestsPerS    float64  `json:"requests_per_s"`
	LatMeanMs       float64  `json:"latency_mean_ms"`
	LatMinMs        float64  `json:"latency_min_ms"`
	LatP50Ms        float64  `json:"latency_p50_ms"`
	LatP90Ms        float64  `json:"latency_p90_ms"`
	LatP99Ms        float64  `json:"latency_p99_ms"`
	LatP999Ms       float64  `json:"latency_p999_ms"`
	LatMaxMs        float64  `json:"latency_max_ms"`

	Established    int64            `json:"established"`
	Failed         int64            `json:"failed"`
	Dropped        int64            `json:"dropped"`
	ProtocolErrors int64            `json:"protocol_errors"`
	CloseCodes     map[string]int64 `json:"close_codes"`
	Expected       int64            `json:"expected"`
	Received       int64            `json:"received"`
	Lost           int64            `json:"lost"`
	Extra          int64            `json:"extra"`
	OutOfOrder     int64            `json:"out_of_order"`
	BadPayloads    int64            `json:"bad_payloads"`
	DrainTimedOut  bool             `json:"drain_timed_out"`
	DeliveredPerS  float64          `json:"delivered_per_s"`
	DelivP50Ms     float64          `json:"delivery_p50_ms"`
	DelivP99Ms     float64          `json:"delivery_p99_ms"`
	DelivMaxMs     float64          `json:"delivery_max_ms"`

	ServerCPUS       *float64 `json:"server_cpu_s"`
	ServerCPUPerReqU *float64 `json:"server_cpu_us_per_request"`
	ReqPerCPUS       *float64 `json:"requests_per_server_cpu_s"`
	ServerRSSAfter   *int64   `json:"server_rss_after_bytes"`

	ClientCPUS float64  `json:"client_cpu_s"`
	DurationS  float64  `json:"duration_s"`
	TimedOut   bool     `json:"timed_out"`
	Warnings   []string `json:"warnings"`
	OK         bool     `json:"ok"`

	charts *charts
}

func (r *publishReport) passed() bool       { return r.OK }
func (r *publishReport) chartData() *charts { return r.charts }

// deliveryTracker checks the publications subscribers receive: latency from the
// payload's timestamp, order within each publisher's sequence, malformed payloads.
type deliveryTracker struct {
	channel    string
	publishers int
	lat        *histogram
	received   atomic.Int64
	ooo        atomic.Int64
	bad        atomic.Int64
}

func newDeliveryTracker(channel string, publishers int) *deliveryTracker {
	return &deliveryTracker{channel: channel, publishers: publishers, lat: newHistogram()}
}

// onPub is the subscribers' pubHandler (reader goroutine of c).
func (d *deliveryTracker) onPub(c *benchConn, ch, data []byte, now int64) {
	if string(ch) != d.channel {
		return
	}
	pl, ok := parsePayload(data)
	if !ok || pl.pub < 0 || pl.pub >= d.publishers {
		d.bad.Add(1)
		return
	}
	d.lat.record(now - pl.ts)
	if pl.seq < c.lastSeq[pl.pub] {
		d.ooo.Add(1)
	} else {
		c.lastSeq[pl.pub] = pl.seq
	}
	c.lastRecv.Store(now)
	d.received.Add(1)
}

func (d *deliveryTracker) spec() clientSpec {
	chans := []string{d.channel}
	return clientSpec{
		user:     func(i int) string { return "bench-" + strconv.Itoa(i) },
		channels: func(int) []string { return chans },
		onPub:    d.onPub,
		prepare: func(c *benchConn) {
			c.lastSeq = make([]int64, d.publishers)
			for i := range c.lastSeq {
				c.lastSeq[i] = -1
			}
		},
	}
}

func runPublish(ctx context.Context, cm *common, o *publishOptions, progress io.Writer) (report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := cm.checkFDs(o.subscribers + o.concurrency); err != nil {
		return nil, err
	}
	pub, err := newPublisher(cm.apiURL, cm.apiKey, o.channel, o.size, o.concurrency)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cpu0 := selfCPU()
	rep := &publishReport{
		Mode: "publish", Time: start.UTC().Format(time.RFC3339), Protocol: cm.proto.String(),
		URL: cm.wsURL, APIURL: pub.uri, N: o.n, DurationLim: o.duration.Seconds(), Concurrency: o.concurrency,
		Rate: o.rate, Subscribers: o.subscribers,
		PayloadB: len(appendPayload(nil, payload{ts: time.Now().UnixNano(), seq: int64(max(o.n, 1)), pub: o.concurrency}, o.size)),
	}
	var wmu sync.Mutex
	warn := func(s string) {
		wmu.Lock()
		defer wmu.Unlock()
		if !slices.Contains(rep.Warnings, s) {
			rep.Warnings = append(rep.Warnings, s)
		}
	}

	dt := newDeliveryTracker(o.channel, o.concurrency)
	var p *pool
	cnt := newCounters()
	if o.subscribers > 0 {
		p = newPool(cm.clientOptions(), o.subscribers, cm.inflight)
		cnt = p.cnt
	}
	var sent, succeeded, apiErrs, trErrs, expected atomic.Int64
	phase := atomic.Value{}
	phase.Store("connecting")
	tk := startProgress(progress, func() string {
		s := fmt.Sprintf("%s: requests %d ok %d errors %d", phase.Load(), sent.Load(), succeeded.Load(), apiErrs.Load()+trErrs.Load())
		if o.subscribers > 0 {
			s += fmt.Sprintf(" | subscribers %d/%d | received %d/%d", cnt.established.Load(), o.subscribers, dt.received.Load(), expected.Load())
		}
		return s
	})
	defer tk.stop()
	tl := newTimeline(cm.sampleIntv)
	tl.rate("requests", "req/s", succeeded.Load)
	tl.rate("errors", "errors/s", func() int64 { return apiErrs.Load() + trErrs.Load() })
	if o.subscribers > 0 {
		tl.rate("deliveries", "msg/s", dt.received.Load)
	}
	tl.procTracks(cm.pid)
	tl.run()
	defer tl.stop()

	subscribers := int64(0)
	ready := true
	if p != nil {
		p.start(ctx, o.connRate, dt.spec())
		ready = p.waitSettled(ctx)
		subscribers = cnt.established.Load()
		ready = ready && subscribers > 0
	}

	lat := newHistogram()
	var runDur time.Duration
	var before, after sample
	if ready {
		phase.Store("publishing")
		before = takeSample(ctx, cm, warn)
		var wg sync.WaitGroup
		sch := newSchedule(o.n, o.rate, o.duration)
		runStart := sch.start
		for w := range o.concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				var body []byte
				timer := stoppedTimer()
				for {
					k, t0, ok := sch.take(ctx, timer)
					if !ok {
						return
					}
					sent.Add(1)
					var err error
					body, err = pub.publish(req, resp, body, payload{ts: t0.UnixNano(), seq: k, pub: w})
					if err != nil {
						if errors.Is(err, errAPI) {
							apiErrs.Add(1)
						} else {
							trErrs.Add(1)
						}
						cnt.noteSample(fmt.Errorf("publish: %w", err))
						continue
					}
					lat.record(int64(time.Since(t0)))
					succeeded.Add(1)
					expected.Add(subscribers)
				}
			}()
		}
		wg.Wait()
		runDur = time.Since(runStart)

		if subscribers > 0 {
			phase.Store("draining")
			drainEnd := time.Now().Add(o.drain)
			for dt.received.Load() < expected.Load() && time.Now().Before(drainEnd) && ctx.Err() == nil {
				time.Sleep(2 * time.Millisecond)
			}
			rep.DrainTimedOut = dt.received.Load() < expected.Load()
			var last int64
			p.each(func(c *benchConn) { last = max(last, c.lastRecv.Load()) })
			if d := time.Duration(last - runStart.UnixNano()); last > 0 && d > 0 {
				rep.DeliveredPerS = round(float64(dt.received.Load()) / d.Seconds())
			}
		}
		after = takeSample(context.Background(), cm, warn)
	}
	rep.TimedOut = ctx.Err() != nil
	tk.stop()
	tl.stop()
	if p != nil {
		p.closeAll(10 * time.Second)
	}

	rep.Requests = sent.Load()
	rep.Succeeded = succeeded.Load()
	rep.APIErrors = apiErrs.Load()
	rep.TransportErrors = trErrs.Load()
	rep.Errors = rep.APIErrors + rep.TransportErrors
	rep.RunS = round(runDur.Seconds())
	if runDur > 0 {
		rep.RequestsPerS = round(float64(rep.Succeeded) / runDur.Seconds())
	}
	rep.LatMeanMs = round(lat.mean() / 1e6)
	rep.LatMinMs, rep.LatMaxMs = ms(lat.minValue()), ms(lat.maxValue())
	rep.LatP50Ms, rep.LatP90Ms, rep.LatP99Ms, rep.LatP999Ms = ms(lat.quantile(0.5)), ms(lat.quantile(0.9)), ms(lat.quantile(0.99)), ms(lat.quantile(0.999))

	rep.Established = subscribers
	rep.Failed = cnt.failed.Load()
	rep.Dropped = cnt.dropped.Load()
	rep.ProtocolErrors = cnt.protoErrors.Load()
	rep.CloseCodes, rep.ErrorSamples = cnt.snapshotErrors()
	rep.Expected = expected.Load()
	rep.Received = dt.received.Load()
	rep.Lost = max(0, rep.Expected-rep.Received)
	rep.Extra = max(0, rep.Received-rep.Expected)
	rep.OutOfOrder = dt.ooo.Load()
	rep.BadPayloads = dt.bad.Load()
	rep.DelivP50Ms, rep.DelivP99Ms, rep.DelivMaxMs = ms(dt.lat.quantile(0.5)), ms(dt.lat.quantile(0.99)), ms(dt.lat.maxValue())

	if before.procOK && after.procOK {
		cpu := (after.proc.cpu - before.proc.cpu).Seconds()
		rep.ServerCPUS = ptr(round(cpu))
		if rep.Succeeded > 0 {
			rep.ServerCPUPerReqU = ptr(round(cpu * 1e6 / float64(rep.Succeeded)))
		}
		if cpu > 0 {
			rep.ReqPerCPUS = ptr(round(float64(rep.Succeeded) / cpu))
		}
	}
	if v, ok := after.rss(); ok {
		rep.ServerRSSAfter = ptr(v)
	}
	hists := []namedHist{{"request latency (HTTP API publish round trip)", lat}}
	if o.subscribers > 0 {
		hists = append(hists, namedHist{"delivery latency (request sent → frame received by a subscriber)", dt.lat})
	}
	rep.charts = &charts{hists: hists, series: tl.series()}
	rep.ClientCPUS = round((selfCPU() - cpu0).Seconds())
	rep.DurationS = round(time.Since(start).Seconds())
	rep.OK = !rep.TimedOut && ready && rep.Errors == 0 && rep.Succeeded > 0 &&
		(o.duration > 0 || rep.Succeeded == int64(o.n)) &&
		rep.Established == int64(o.subscribers) && rep.Lost == 0 && rep.Dropped == 0 &&
		rep.ProtocolErrors == 0 && rep.BadPayloads == 0
	if rep.TimedOut {
		return rep, fmt.Errorf("run exceeded --timeout %s", cm.timeout)
	}
	return rep, nil
}

func (r *publishReport) rows() []row {
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
		bound += fmt.Sprintf(" duration=%gs", r.DurationLim)
	}
	rows := []row{
		{"", fmt.Sprintf("publish  %s  %s c=%d rate=%s subscribers=%d payload=%dB  [%s]", r.APIURL, bound, r.Concurrency, rate, r.Subscribers, r.PayloadB, status)},
		{"requests", fmt.Sprintf("%d sent, %d ok in %.2fs", r.Requests, r.Succeeded, r.RunS)},
		{"throughput", fmt.Sprintf("%.0f req/s", r.RequestsPerS)},
		{"errors", fmt.Sprintf("%d (API %d, transport %d)", r.Errors, r.APIErrors, r.TransportErrors)},
		{"latency p50 / p90 / p99", fmt.Sprintf("%.3f / %.3f / %.3f ms", r.LatP50Ms, r.LatP90Ms, r.LatP99Ms)},
		{"latency p99.9 / max", fmt.Sprintf("%.3f / %.3f ms", r.LatP999Ms, r.LatMaxMs)},
		{"latency min / mean", fmt.Sprintf("%.3f / %.3f ms", r.LatMinMs, r.LatMeanMs)},
		{"server CPU", fmt.Sprintf("%s s (%s µs per request)", optFloat(r.ServerCPUS, "%.2f"), optFloat(r.ServerCPUPerReqU, "%.1f"))},
		{"requests per server CPU second", optFloat(r.ReqPerCPUS, "%.0f")},
		{"server RSS after", optBytes(i64f(r.ServerRSSAfter))},
	}
	if r.Subscribers > 0 {
		rows = append(rows,
			row{"", "subscribers"},
			row{"subscribers", fmt.Sprintf("%d / %d (failed %d, dropped %d)", r.Established, r.Subscribers, r.Failed, r.Dropped)},
			row{"received / expected", fmt.Sprintf("%d / %d", r.Received, r.Expected)},
			row{"lost / extra", fmt.Sprintf("%d / %d%s", r.Lost, r.Extra, map[bool]string{true: " (drain timed out)", false: ""}[r.DrainTimedOut])},
			row{"out of order / bad payloads", fmt.Sprintf("%d / %d", r.OutOfOrder, r.BadPayloads)},
			row{"delivered", fmt.Sprintf("%.0f msg/s", r.DeliveredPerS)},
			row{"delivery p50 / p99 / max", fmt.Sprintf("%.3f / %.3f / %.3f ms", r.DelivP50Ms, r.DelivP99Ms, r.DelivMaxMs)},
			row{"protocol errors", fmt.Sprint(r.ProtocolErrors)},
			row{"close codes", fmtCodes(r.CloseCodes)},
		)
	}
	rows = append(rows,
		row{"", "client"},
		row{"client CPU", fmt.Sprintf("%.2f s", r.ClientCPUS)},
		row{"duration", fmt.Sprintf("%.2f s", r.DurationS)},
	)
	for _, s := range r.ErrorSamples {
		rows = append(rows, row{"error sample", s})
	}
	for _, w := range r.Warnings {
		rows = append(rows, row{"warning", w})
	}
	return rows
}
