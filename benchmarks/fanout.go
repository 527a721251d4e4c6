package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// fanoutOptions are the flags of mode fanout.
type fanoutOptions struct {
	n           int
	m           int
	concurrency int
	rate        float64
	connRate    float64
	channel     string
	size        int
	drain       time.Duration

	stalled      int
	stalledEvery time.Duration

	publishPID int
}

func (o *fanoutOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.n, "n", 100, "subscribers of the channel")
	fs.IntVar(&o.m, "m", 1000, "publications to send through the HTTP API")
	fs.IntVar(&o.concurrency, "concurrency", 4, "publishers running at once (each waits for its previous publish)")
	fs.Float64Var(&o.rate, "rate", 0, "publications per second over all publishers (0: as fast as possible)")
	fs.Float64Var(&o.connRate, "conn-rate", 1000, "new subscriber connections per second (0: as fast as --inflight allows)")
	fs.StringVar(&o.channel, "channel", "bench", "channel to subscribe and publish to")
	fs.IntVar(&o.size, "size", 0, "pad each payload to at least this many bytes (the bare payload is about 45)")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "how long to wait for outstanding deliveries after the last publish")
	fs.IntVar(&o.stalled, "stalled", 0, "extra subscribers that stop reading after their subscribe reply (small receive buffer, capped MSS); they read again only after the run, to report how the server closed them")
	fs.IntVar(&o.publishPID, "publish-pid", 0, "process id of the server that takes the publications when --api names another node than --addr (a cluster); its CPU is reported and counted in the per-delivery figures")
	fs.DurationVar(&o.stalledEvery, "stalled-every", 500*time.Millisecond, "interval between stalled subscribers, the first one interval after publishing starts")
}

func (o *fanoutOptions) validate() error {
	switch {
	case o.n < 1:
		return errors.New("-n must be at least 1")
	case o.m < 1:
		return errors.New("-m must be at least 1")
	case o.concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	case o.rate < 0 || o.connRate < 0:
		return errors.New("--rate and --conn-rate must not be negative")
	case o.channel == "":
		return errors.New("--channel must not be empty")
	case o.size < 0 || o.size > 1<<20:
		return errors.New("--size must be between 0 and 1 MiB")
	case o.drain < 0:
		return errors.New("--drain must not be negative")
	case o.stalled < 0:
		return errors.New("--stalled must not be negative")
	case o.stalledEvery <= 0:
		return errors.New("--stalled-every must be positive")
	case o.publishPID < 0:
		return errors.New("--publish-pid must not be negative")
	}
	return nil
}

// fanoutReport holds every figure of a fanout run. Latencies are end to end: from just
// before the publisher sends its HTTP request to the arrival of the frame carrying the
// publication at the subscriber (one clock, one process).
type fanoutReport struct {
	Mode        string  `json:"mode"`
	Time        string  `json:"time"`
	Protocol    string  `json:"protocol"`
	URL         string  `json:"url"`
	APIURL      string  `json:"api_url"`
	N           int     `json:"n"`
	M           int     `json:"m"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate"`
	PayloadB    int     `json:"payload_bytes"`

	Established    int64            `json:"established"`
	Failed         int64            `json:"failed"`
	Dropped        int64            `json:"dropped"`
	Unsubscribed   int64            `json:"unsubscribed"`
	Pings          int64            `json:"pings_answered"`
	ProtocolErrors int64            `json:"protocol_errors"`
	CloseCodes     map[string]int64 `json:"close_codes"`
	ErrorSamples   []string         `json:"error_samples"`

	Published     int64   `json:"published"`
	PublishErrors int64   `json:"publish_errors"`
	PublishS      float64 `json:"publish_s"`
	PublishRate   float64 `json:"publish_rate"`
	PublishP50Ms  float64 `json:"publish_p50_ms"`
	PublishP99Ms  float64 `json:"publish_p99_ms"`

	Expected       int64    `json:"expected"`
	Received       int64    `json:"received"`
	Lost           int64    `json:"lost"`
	Extra          int64    `json:"extra"`
	OutOfOrder     int64    `json:"out_of_order"`
	BadPayloads    int64    `json:"bad_payloads"`
	DeliverS       float64  `json:"deliver_s"`
	DeliveredPerS  float64  `json:"delivered_per_s"`
	LatMeanMs      float64  `json:"latency_mean_ms"`
	LatP50Ms       float64  `json:"latency_p50_ms"`
	LatP90Ms       float64  `json:"latency_p90_ms"`
	LatP99Ms       float64  `json:"latency_p99_ms"`
	LatP999Ms      float64  `json:"latency_p999_ms"`
	LatMaxMs       float64  `json:"latency_max_ms"`
	LatMinMs       float64  `json:"latency_min_ms"`
	DrainTimedOut  bool     `json:"drain_timed_out"`
	ServerCPUS     *float64 `json:"server_cpu_s"`
	ServerCPUPerNs *float64 `json:"server_cpu_ns_per_delivery"`
	ServerRSSAfter *int64   `json:"server_rss_after_bytes"`
	// ServerRSSPeak is the server's peak RSS since it started (VmHWM, with --pid):
	// against a run without --stalled, what the stalled subscribers made it hold.
	ServerRSSPeak *int64 `json:"server_rss_peak_bytes"`

	// With --publish-pid: the publishing node's CPU, and the figures over both
	// nodes (the subscribers' node of --pid plus the publishing node).
	PublishPID        int      `json:"publish_pid,omitempty"`
	PublishServerCPUS *float64 `json:"publish_server_cpu_s"`
	ServersCPUS       *float64 `json:"servers_cpu_s"`
	ServersCPUPerNs   *float64 `json:"servers_cpu_ns_per_delivery"`
	DeliveredPerCPUS  *float64 `json:"deliveries_per_server_cpu_s"`

	// Stalled subscribers (--stalled): not part of the figures above, which are the
	// normal subscribers' alone.
	Stalled            int              `json:"stalled"`
	StalledEveryMs     float64          `json:"stalled_every_ms"`
	StalledEstablished int64            `json:"stalled_established"`
	StalledOutcomes    map[string]int64 `json:"stalled_outcomes"`
	StalledReadBytes   int64            `json:"stalled_read_bytes"`
	// Stalled3008 is how many stalled subscribers the server closed with 3008
	// (slow: its queue for them passed client.queue_max_size).
	Stalled3008 int64 `json:"stalled_3008"`
	// ServerSlow and ServerWriteErr are the server's own counts (with
	// --metrics-url) of clients it disconnected with 3008 (slow) and 3009 (write
	// error: a write timed out), all subscribers included; a stalled subscriber
	// whose close frame could not be written shows here, not in StalledOutcomes.
	ServerSlow     *int64 `json:"server_disconnects_3008"`
	ServerWriteErr *int64 `json:"server_disconnects_3009"`

	ClientCPUS float64  `json:"client_cpu_s"`
	DurationS  float64  `json:"duration_s"`
	TimedOut   bool     `json:"timed_out"`
	Warnings   []string `json:"warnings"`
	OK         bool     `json:"ok"`

	charts *charts // for --report
}

func (r *fanoutReport) passed() bool       { return r.OK }
func (r *fanoutReport) chartData() *charts { return r.charts }

// publisher sends publications through the HTTP server API.
type publisher struct {
	hc      *fasthttp.HostClient
	uri     string
	apiKey  string
	channel string
	size    int
}

func newPublisher(apiURL, apiKey, channel string, size, conns int) (*publisher, error) {
	u, err := url.Parse(apiURL)
	if err != nil {
		return nil, err
	}
	u.Path = trimSlash(u.Path) + "/publish"
	return &publisher{
		hc: &fasthttp.HostClient{
			Addr:                          u.Host,
			IsTLS:                         u.Scheme == "https",
			MaxConns:                      conns,
			ReadTimeout:                   10 * time.Second,
			WriteTimeout:                  10 * time.Second,
			MaxIdemponentCallAttempts:     1,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
		},
		uri:     u.String(),
		apiKey:  apiKey,
		channel: channel,
		size:    size,
	}, nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

var errAPI = errors.New("bench: API error")

// publish sends one publication; body is scratch space, returned grown.
func (p *publisher) publish(req *fasthttp.Request, resp *fasthttp.Response, body []byte, pl payload) ([]byte, error) {
	body = append(body[:0], `{"channel":`...)
	body = strconv.AppendQuote(body, p.channel)
	body = append(body, `,"data":`...)
	body = appendPayload(body, pl, p.size)
	body = append(body, '}')
	req.Reset()
	req.SetRequestURI(p.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if p.apiKey != "" {
		req.Header.Set("X-API-Key", p.apiKey)
	}
	req.SetBodyRaw(body)
	resp.Reset()
	if err := p.hc.DoTimeout(req, resp, 10*time.Second); err != nil {
		return body, err
	}
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		return body, fmt.Errorf("%w: HTTP %d: %.200s", errAPI, sc, resp.Body())
	}
	if b := resp.Body(); bytes.Contains(b, []byte(`"error"`)) {
		return body, fmt.Errorf("%w: %.200s", errAPI, b)
	}
	return body, nil
}

func runFanout(ctx context.Context, cm *common, o *fanoutOptions, progress io.Writer) (report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := cm.checkFDs(o.n + o.stalled + o.concurrency); err != nil {
		return nil, err
	}
	pub, err := newPublisher(cm.apiURL, cm.apiKey, o.channel, o.size, o.concurrency)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cpu0 := selfCPU()
	rep := &fanoutReport{
		Mode: "fanout", Time: start.UTC().Format(time.RFC3339), Protocol: cm.proto.String(),
		URL: cm.wsURL, APIURL: pub.uri, N: o.n, M: o.m, Concurrency: o.concurrency, Rate: o.rate,
		PayloadB: len(appendPayload(nil, payload{ts: time.Now().UnixNano(), seq: int64(o.m), pub: o.concurrency}, o.size)),
	}
	var wmu sync.Mutex
	warn := func(s string) {
		wmu.Lock()
		defer wmu.Unlock()
		if !slices.Contains(rep.Warnings, s) {
			rep.Warnings = append(rep.Warnings, s)
		}
	}

	lat := newHistogram()
	var received, ooo, bad atomic.Int64
	channel := o.channel
	publishers := o.concurrency
	onPub := func(c *benchConn, ch, data []byte, now int64) {
		if string(ch) != channel {
			return
		}
		pl, ok := parsePayload(data)
		if !ok || pl.pub < 0 || pl.pub >= publishers {
			bad.Add(1)
			return
		}
		lat.record(now - pl.ts)
		if pl.seq < c.lastSeq[pl.pub] {
			ooo.Add(1)
		} else {
			c.lastSeq[pl.pub] = pl.seq
		}
		c.lastRecv.Store(now)
		received.Add(1)
	}
	chans := []string{channel}
	spec := clientSpec{
		user:     func(i int) string { return "bench-" + strconv.Itoa(i) },
		channels: func(int) []string { return chans },
		onPub:    onPub,
		prepare: func(c *benchConn) {
			c.lastSeq = make([]int64, publishers)
			for i := range c.lastSeq {
				c.lastSeq[i] = -1
			}
		},
	}

	p := newPool(cm.clientOptions(), o.n, cm.inflight)
	stalled := newStalledSet(cm.clientOptions(), o.stalled, o.stalledEvery)
	cnt := p.cnt
	var published, pubErrors atomic.Int64
	var expected atomic.Int64
	phase := atomic.Value{}
	phase.Store("connecting")
	tk := startProgress(progress, func() string {
		return fmt.Sprintf("%s: up %d/%d failed %d | published %d/%d errors %d | received %d/%d",
			phase.Load(), cnt.established.Load(), o.n, cnt.failed.Load(),
			published.Load(), o.m, pubErrors.Load(), received.Load(), expected.Load())
	})
	defer tk.stop()
	tl := newTimeline(cm.sampleIntv)
	tl.rate("deliveries", "msg/s", received.Load)
	tl.rate("publications", "publish/s", published.Load)
	tl.rate("subscribers connected", "conns/s", cnt.established.Load)
	tl.procTracks(cm.pid)
	tl.run()
	defer tl.stop()

	p.start(ctx, o.connRate, spec)
	settled := p.waitSettled(ctx)
	subscribers := cnt.established.Load()

	var pubDur, deliverDur time.Duration
	pubHist := newHistogram()
	var before, after sample
	var pubBefore, pubAfter procSample
	var pubBeforeOK, pubAfterOK bool
	if settled && subscribers > 0 {
		phase.Store("publishing")
		before = takeSample(ctx, cm, warn)
		pubBefore, pubBeforeOK = readPublishProc(o.publishPID, warn)
		stalled.start(ctx, channel)
		var wg sync.WaitGroup
		sch := newSchedule(o.m, o.rate, 0)
		pubStart := sch.start
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
					var err error
					body, err = pub.publish(req, resp, body, payload{ts: t0.UnixNano(), seq: k, pub: w})
					pubHist.record(int64(time.Since(t0)))
					if err != nil {
						pubErrors.Add(1)
						cnt.noteSample(fmt.Errorf("publish: %w", err))
						continue
					}
					published.Add(1)
					expected.Add(subscribers)
				}
			}()
		}
		wg.Wait()
		pubDur = time.Since(pubStart)

		// Drain: wait for the deliveries still in flight.
		phase.Store("draining")
		drainEnd := time.Now().Add(o.drain)
		for received.Load() < expected.Load() && time.Now().Before(drainEnd) && ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
		rep.DrainTimedOut = received.Load() < expected.Load()
		after = takeSample(context.Background(), cm, warn)
		pubAfter, pubAfterOK = readPublishProc(o.publishPID, warn)
		var last int64
		p.each(func(c *benchConn) { last = max(last, c.lastRecv.Load()) })
		if last > 0 {
			deliverDur = time.Duration(last - pubStart.UnixNano())
		}
	}
	rep.TimedOut = ctx.Err() != nil
	tk.stop()
	tl.stop()
	sres := stalled.finish(5 * time.Second)
	p.closeAll(10 * time.Second)
	rep.Stalled, rep.StalledEveryMs = o.stalled, ms(int64(o.stalledEvery))
	rep.StalledEstablished, rep.StalledOutcomes, rep.StalledReadBytes = sres.established, sres.outcomes, sres.readBytes
	rep.Stalled3008 = sres.outcomes["3008"]
	if cm.metricsURL != "" {
		// Counted once the stalled subscribers are closed; a series not shown yet
		// (no such disconnect so far) is 0.
		m, err := scrapeMetrics(context.Background(), cm.metricsURL)
		if err != nil {
			warn(fmt.Sprintf("scraping %s: %v", cm.metricsURL, err))
		} else {
			rep.ServerSlow, rep.ServerWriteErr = ptr(int64(m[metricSlowDisconnects])), ptr(int64(m[metricWriteDisconnects]))
		}
	}

	rep.Established = subscribers
	rep.Failed = cnt.failed.Load()
	rep.Dropped = cnt.dropped.Load()
	rep.Unsubscribed = cnt.unsubs.Load()
	rep.Pings = cnt.pings.Load()
	rep.ProtocolErrors = cnt.protoErrors.Load()
	rep.CloseCodes, rep.ErrorSamples = cnt.snapshotErrors()

	rep.Published = published.Load()
	rep.PublishErrors = pubErrors.Load()
	rep.PublishS = round(pubDur.Seconds())
	if pubDur > 0 {
		rep.PublishRate = round(float64(rep.Published) / pubDur.Seconds())
	}
	rep.PublishP50Ms, rep.PublishP99Ms = ms(pubHist.quantile(0.5)), ms(pubHist.quantile(0.99))

	rep.Expected = expected.Load()
	rep.Received = received.Load()
	rep.Lost = max(0, rep.Expected-rep.Received)
	rep.Extra = max(0, rep.Received-rep.Expected)
	rep.OutOfOrder = ooo.Load()
	rep.BadPayloads = bad.Load()
	rep.DeliverS = round(deliverDur.Seconds())
	if deliverDur > 0 {
		rep.DeliveredPerS = round(float64(rep.Received) / deliverDur.Seconds())
	}
	rep.LatMeanMs = round(lat.mean() / 1e6)
	rep.LatP50Ms, rep.LatP90Ms, rep.LatP99Ms = ms(lat.quantile(0.5)), ms(lat.quantile(0.9)), ms(lat.quantile(0.99))
	rep.LatP999Ms, rep.LatMaxMs, rep.LatMinMs = ms(lat.quantile(0.999)), ms(lat.maxValue()), ms(lat.minValue())
	rep.charts = &charts{
		hists:  []namedHist{{"end-to-end latency (publish request sent → frame received)", lat}, {"publish call latency (HTTP API round trip)", pubHist}},
		series: tl.series(),
	}

	if before.procOK && after.procOK {
		cpu := (after.proc.cpu - before.proc.cpu).Seconds()
		rep.ServerCPUS = ptr(round(cpu))
		if rep.Received > 0 {
			rep.ServerCPUPerNs = ptr(round(cpu * 1e9 / float64(rep.Received)))
		}
	}
	if v, ok := after.rss(); ok {
		rep.ServerRSSAfter = ptr(v)
	}
	if after.procOK {
		rep.ServerRSSPeak = ptr(after.proc.hwm)
	}
	rep.PublishPID = o.publishPID
	if before.procOK && after.procOK {
		// Server CPU of every node involved: the subscribers' node, plus the
		// publishing node when it is another process.
		cpu := (after.proc.cpu - before.proc.cpu).Seconds()
		if o.publishPID > 0 && pubBeforeOK && pubAfterOK {
			pcpu := (pubAfter.cpu - pubBefore.cpu).Seconds()
			rep.PublishServerCPUS = ptr(round(pcpu))
			cpu += pcpu
		}
		if o.publishPID == 0 || (pubBeforeOK && pubAfterOK) {
			rep.ServersCPUS = ptr(round(cpu))
			if rep.Received > 0 {
				rep.ServersCPUPerNs = ptr(round(cpu * 1e9 / float64(rep.Received)))
			}
			if cpu > 0 {
				rep.DeliveredPerCPUS = ptr(round(float64(rep.Received) / cpu))
			}
		}
	}
	rep.ClientCPUS = round((selfCPU() - cpu0).Seconds())
	rep.DurationS = round(time.Since(start).Seconds())
	rep.OK = !rep.TimedOut && rep.Established == int64(o.n) && rep.Published == int64(o.m) &&
		rep.PublishErrors == 0 && rep.Lost == 0 && rep.Dropped == 0 && rep.ProtocolErrors == 0 && rep.BadPayloads == 0
	if rep.TimedOut {
		return rep, fmt.Errorf("run exceeded --timeout %s", cm.timeout)
	}
	return rep, nil
}

func (r *fanoutReport) rows() []row {
	status := "OK"
	if !r.OK {
		status = "FAILED"
	}
	rate := "max"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%g/s", r.Rate)
	}
	rows := []row{
		{"", fmt.Sprintf("fanout  %s  protocol=%s n=%d m=%d concurrency=%d rate=%s payload=%dB  [%s]", r.URL, r.Protocol, r.N, r.M, r.Concurrency, rate, r.PayloadB, status)},
		{"subscribers", fmt.Sprintf("%d / %d (failed %d, dropped %d)", r.Established, r.N, r.Failed, r.Dropped)},
		{"published", fmt.Sprintf("%d / %d in %.2fs (%.0f/s), errors %d", r.Published, r.M, r.PublishS, r.PublishRate, r.PublishErrors)},
		{"publish call p50/p99", fmt.Sprintf("%.3f / %.3f ms", r.PublishP50Ms, r.PublishP99Ms)},
		{"received / expected", fmt.Sprintf("%d / %d", r.Received, r.Expected)},
		{"lost / extra", fmt.Sprintf("%d / %d%s", r.Lost, r.Extra, map[bool]string{true: " (drain timed out)", false: ""}[r.DrainTimedOut])},
		{"out of order", fmt.Sprint(r.OutOfOrder)},
		{"bad payloads", fmt.Sprint(r.BadPayloads)},
		{"delivered", fmt.Sprintf("%.0f msg/s over %.2fs", r.DeliveredPerS, r.DeliverS)},
		{"latency p50 / p90 / p99", fmt.Sprintf("%.3f / %.3f / %.3f ms", r.LatP50Ms, r.LatP90Ms, r.LatP99Ms)},
		{"latency p99.9 / max", fmt.Sprintf("%.3f / %.3f ms", r.LatP999Ms, r.LatMaxMs)},
		{"latency min / mean", fmt.Sprintf("%.3f / %.3f ms", r.LatMinMs, r.LatMeanMs)},
		{"server CPU", fmt.Sprintf("%s s (%s ns per delivery)", optFloat(r.ServerCPUS, "%.2f"), optFloat(r.ServerCPUPerNs, "%.0f"))},
		{"server RSS after / peak", fmt.Sprintf("%s / %s", optBytes(i64f(r.ServerRSSAfter)), optBytes(i64f(r.ServerRSSPeak)))},
		{"deliveries per server CPU second", optFloat(r.DeliveredPerCPUS, "%.0f")},
		{"pings answered", fmt.Sprint(r.Pings)},
		{"unsubscribe pushes", fmt.Sprint(r.Unsubscribed)},
		{"protocol errors", fmt.Sprint(r.ProtocolErrors)},
		{"close codes", fmtCodes(r.CloseCodes)},
	}
	if r.PublishPID > 0 {
		rows = append(rows,
			row{"publishing node CPU", fmt.Sprintf("%s s (pid %d)", optFloat(r.PublishServerCPUS, "%.2f"), r.PublishPID)},
			row{"both nodes' CPU", fmt.Sprintf("%s s (%s ns per delivery)", optFloat(r.ServersCPUS, "%.2f"), optFloat(r.ServersCPUPerNs, "%.0f"))})
	}
	if r.Stalled > 0 {
		rows = append(rows,
			row{"stalled subscribers", fmt.Sprintf("%d / %d established, one every %.0f ms", r.StalledEstablished, r.Stalled, r.StalledEveryMs)},
			row{"stalled: how closed", fmtCodes(r.StalledOutcomes)},
			row{"stalled: read at the end", fmtBytes(float64(r.StalledReadBytes))},
			row{"server disconnects 3008 / 3009", fmt.Sprintf("%s / %s", optInt(r.ServerSlow), optInt(r.ServerWriteErr))})
	}
	rows = append(rows, []row{
		{"client CPU", fmt.Sprintf("%.2f s", r.ClientCPUS)},
		{"duration", fmt.Sprintf("%.2f s", r.DurationS)},
	}...)
	for _, s := range r.ErrorSamples {
		rows = append(rows, row{"error sample", s})
	}
	for _, w := range r.Warnings {
		rows = append(rows, row{"warning", w})
	}
	return rows
}

// readPublishProc samples the publishing node's /proc (--publish-pid); false when
// there is none or it cannot be read (with a warning).
func readPublishProc(pid int, warn func(string)) (procSample, bool) {
	if pid <= 0 {
		return procSample{}, false
	}
	p, err := readProc(pid)
	if err != nil {
		warn(fmt.Sprintf("reading /proc/%d (--publish-pid): %v", pid, err))
		return procSample{}, false
	}
	return p, true
}
