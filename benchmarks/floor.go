package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Mode floor measures what this machine charges before any server does any work: a
// trivial system call, one small write and one small read on a loopback TCP socket,
// and the requests/s the publish client reaches against a server that parses nothing
// and answers every request with a fixed reply. From these it derives lower bounds
// that hold for every server measured here with client and server on the same cores:
// the CPU a broadcast to --subscribers sockets costs the kernel alone, the wall time
// it takes on all cores, and the API request rate no server can exceed against this
// client. It needs no server and uses loopback sockets only.

type floorOptions struct {
	pairs       int
	rounds      int
	msgSize     int
	subscribers int
	concurrency int
	duration    time.Duration
	size        int
}

func (o *floorOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.pairs, "n", 2000, "loopback TCP socket pairs for the write/read cost")
	fs.IntVar(&o.rounds, "rounds", 5, "write/read rounds over all pairs (the median is reported)")
	fs.IntVar(&o.msgSize, "msg-size", 64, "bytes per write (about one small publication frame)")
	fs.IntVar(&o.subscribers, "subscribers", 10000, "subscriber count for the derived broadcast bound")
	fs.IntVar(&o.concurrency, "c", 16, "publish workers against the null server (as in mode publish)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long to publish to the null server (0: skip)")
	fs.IntVar(&o.size, "size", 0, "publication payload size in bytes, as in mode publish (0: minimal)")
}

func (o *floorOptions) validate() error {
	switch {
	case o.pairs < 1:
		return errors.New("-n must be at least 1")
	case o.rounds < 1:
		return errors.New("--rounds must be at least 1")
	case o.msgSize < 1 || o.msgSize > 65536:
		return errors.New("--msg-size must be between 1 and 65536")
	case o.subscribers < 1:
		return errors.New("--subscribers must be at least 1")
	case o.concurrency < 1:
		return errors.New("-c must be at least 1")
	case o.duration < 0:
		return errors.New("--duration must not be negative")
	case o.size < 0:
		return errors.New("--size must not be negative")
	}
	return nil
}

type floorReport struct {
	Mode        string  `json:"mode"`
	Time        string  `json:"time"`
	Cores       int     `json:"cores"`
	Pairs       int     `json:"pairs"`
	Rounds      int     `json:"rounds"`
	MsgBytes    int     `json:"msg_bytes"`
	SyscallNs   float64 `json:"syscall_ns"`
	WriteUs     float64 `json:"write_us"`
	WriteMinUs  float64 `json:"write_min_us"`
	WriteMaxUs  float64 `json:"write_max_us"`
	ReadUs      float64 `json:"read_us"`
	ReadMinUs   float64 `json:"read_min_us"`
	ReadMaxUs   float64 `json:"read_max_us"`
	Subscribers int     `json:"subscribers"`
	// Kernel CPU for one message to each of Subscribers sockets (a write on the
	// server side plus a read on the client side), and that spread over all cores.
	BroadcastCPUMs  float64 `json:"broadcast_cpu_ms"`
	BroadcastWallMs float64 `json:"broadcast_wall_ms"`

	NullConcurrency int      `json:"null_concurrency"`
	NullRequests    int64    `json:"null_requests"`
	NullErrors      int64    `json:"null_errors"`
	NullRunS        float64  `json:"null_run_s"`
	NullReqPerS     float64  `json:"null_requests_per_s"`
	NullCPUPerReqUs *float64 `json:"null_cpu_us_per_request"` // client and null server together
	// The null server's own CPU per request (its loop threads' clocks; Linux).
	NullServerCPUPerReqUs *float64 `json:"null_server_cpu_us_per_request"`
	NullLatP50Ms          float64  `json:"null_latency_p50_ms"`
	NullLatP99Ms          float64  `json:"null_latency_p99_ms"`

	DurationS float64  `json:"duration_s"`
	TimedOut  bool     `json:"timed_out"`
	Warnings  []string `json:"warnings"`
	OK        bool     `json:"ok"`

	charts *charts // for --report
}

func (r *floorReport) passed() bool       { return r.OK }
func (r *floorReport) chartData() *charts { return r.charts }

func (r *floorReport) rows() []row {
	status := "OK"
	if !r.OK {
		status = "FAILED"
	}
	rows := []row{
		{"", fmt.Sprintf("floor  %d cores, %d loopback pairs × %d rounds, %d-byte writes  [%s]", r.Cores, r.Pairs, r.Rounds, r.MsgBytes, status)},
		{"system call (getppid)", fmt.Sprintf("%.0f ns", r.SyscallNs)},
		{"loopback write", fmt.Sprintf("%.2f µs (rounds %.2f–%.2f)", r.WriteUs, r.WriteMinUs, r.WriteMaxUs)},
		{"loopback read", fmt.Sprintf("%.2f µs (rounds %.2f–%.2f)", r.ReadUs, r.ReadMinUs, r.ReadMaxUs)},
		{fmt.Sprintf("broadcast to %d, kernel CPU", r.Subscribers), fmt.Sprintf("%.1f ms (%.1f ms over %d cores)", r.BroadcastCPUMs, r.BroadcastWallMs, r.Cores)},
	}
	if r.NullConcurrency > 0 {
		rows = append(rows,
			row{"", "null HTTP server (fixed reply; one epoll loop per core, one read and one write per request)"},
			row{"requests", fmt.Sprintf("%d ok, %d errors in %.2fs, c=%d", r.NullRequests, r.NullErrors, r.NullRunS, r.NullConcurrency)},
			row{"throughput", fmt.Sprintf("%.0f req/s", r.NullReqPerS)},
			row{"CPU per request", optFloat(r.NullCPUPerReqUs, "%.1f µs (client and null server together)")},
			row{"null server CPU per request", optFloat(r.NullServerCPUPerReqUs, "%.1f µs")},
			row{"latency p50 / p99", fmt.Sprintf("%.3f / %.3f ms", r.NullLatP50Ms, r.NullLatP99Ms)},
		)
	}
	rows = append(rows, row{"duration", fmt.Sprintf("%.2f s", r.DurationS)})
	for _, w := range r.Warnings {
		rows = append(rows, row{"warning", w})
	}
	return rows
}

func runFloor(ctx context.Context, cm *common, o *floorOptions, progress io.Writer) (report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := cm.checkFDs(2*o.pairs + 2*o.concurrency); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &floorReport{
		Mode: "floor", Time: start.UTC().Format(time.RFC3339), Cores: runtime.GOMAXPROCS(0),
		Pairs: o.pairs, Rounds: o.rounds, MsgBytes: o.msgSize, Subscribers: o.subscribers,
	}
	phase := atomic.Value{}
	phase.Store("system calls")
	tk := startProgress(progress, func() string { return "floor: " + phase.Load().(string) })
	defer tk.stop()

	rep.SyscallNs = round(measureSyscall())

	phase.Store(fmt.Sprintf("opening %d loopback pairs", o.pairs))
	writes, reads, err := measureLoopback(ctx, o.pairs, o.rounds, o.msgSize)
	if err != nil {
		rep.Warnings = append(rep.Warnings, "loopback: "+err.Error())
	} else {
		rep.WriteUs, rep.WriteMinUs, rep.WriteMaxUs = medianMinMax(writes)
		rep.ReadUs, rep.ReadMinUs, rep.ReadMaxUs = medianMinMax(reads)
		cpu := float64(o.subscribers) * (rep.WriteUs + rep.ReadUs) / 1000
		rep.BroadcastCPUMs = round(cpu)
		rep.BroadcastWallMs = round(cpu / float64(rep.Cores))
	}

	if o.duration > 0 && ctx.Err() == nil {
		phase.Store("publishing to the null server")
		if err := runNullPublish(ctx, cm, o, rep); err != nil {
			rep.Warnings = append(rep.Warnings, "null server: "+err.Error())
		}
	}
	tk.stop()
	rep.TimedOut = ctx.Err() != nil
	rep.DurationS = round(time.Since(start).Seconds())
	rep.OK = !rep.TimedOut && len(rep.Warnings) == 0 && rep.WriteUs > 0 && rep.ReadUs > 0 &&
		(o.duration == 0 || (rep.NullRequests > 0 && rep.NullErrors == 0))
	return rep, nil
}

// measureSyscall returns the cost of a system call that does nothing, in ns.
func measureSyscall() float64 {
	const n = 100000
	best := 0.0
	for range 3 {
		t := time.Now()
		for range n {
			syscall.Getppid()
		}
		if v := float64(time.Since(t).Nanoseconds()) / n; best == 0 || v < best {
			best = v
		}
	}
	return best
}

// measureLoopback opens pairs loopback TCP connections and, per round, writes one
// message on the accepted side of every pair and then reads it on the dialled side,
// timing each sweep. Nobody waits on these sockets, so no wake-up is counted: the
// figures are the kernel's own cost of one small send and one small receive.
func measureLoopback(ctx context.Context, pairs, rounds, size int) (writes, reads []float64, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	srv := make([]int, 0, pairs)
	cli := make([]int, 0, pairs)
	for range pairs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, err
		}
		conns = append(conns, c)
		s, err := ln.Accept()
		if err != nil {
			return nil, nil, err
		}
		conns = append(conns, s)
		sfd, err1 := rawFD(s)
		cfd, err2 := rawFD(c)
		if err := errors.Join(err1, err2); err != nil {
			return nil, nil, err
		}
		srv, cli = append(srv, sfd), append(cli, cfd)
	}
	msg := bytes.Repeat([]byte{'x'}, size)
	buf := make([]byte, size+512)
	// Both loops stay on one OS thread and issue raw system calls, so the Go
	// scheduler and netpoller add nothing to the figures.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for range rounds {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		t := time.Now()
		for _, fd := range srv {
			if n, err := syscall.Write(fd, msg); err != nil || n != size {
				return nil, nil, fmt.Errorf("write: %d bytes, %v", n, err)
			}
		}
		writes = append(writes, float64(time.Since(t).Nanoseconds())/float64(pairs)/1000)
		t = time.Now()
		for _, fd := range cli {
			got := 0
			for got < size { // loopback delivers at once; a short read is retried
				n, err := syscall.Read(fd, buf[got:])
				if err == syscall.EAGAIN || err == syscall.EINTR {
					continue
				}
				if err != nil || n <= 0 {
					return nil, nil, fmt.Errorf("read: %d bytes, %v", n, err)
				}
				got += n
			}
		}
		reads = append(reads, float64(time.Since(t).Nanoseconds())/float64(pairs)/1000)
	}
	return writes, reads, nil
}

// rawFD returns the descriptor behind c without changing its blocking mode.
func rawFD(c any) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(p uintptr) { fd = int(p) }); err != nil {
		return -1, err
	}
	return fd, nil
}

func medianMinMax(v []float64) (med, lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	return round(s[len(s)/2]), round(s[0]), round(s[len(s)-1])
}

// nullReply is the whole response of the null server: what a publish answers.
var nullReply = []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")

// nullRequestLen returns the length of the request at the start of b (head plus
// Content-Length body) once its head is complete.
func nullRequestLen(b []byte) (int, bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return 0, false
	}
	head := b[:end]
	body := 0
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("content-length")) {
			v, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || v < 0 {
				return 0, false
			}
			body = v
		}
	}
	return end + 4 + body, true
}

// runNullPublish runs mode publish against a null server for o.duration and fills
// the null_* figures.
func runNullPublish(ctx context.Context, cm *common, o *floorOptions, rep *floorReport) error {
	ns, err := startNullServer(rep.Cores)
	if err != nil {
		return err
	}
	pc := *cm
	pc.apiURL, pc.apiKey, pc.pid, pc.metricsURL = "http://"+ns.addr()+"/api", "", 0, ""
	po := &publishOptions{duration: o.duration, concurrency: o.concurrency, channel: "floor", size: o.size}
	r, err := runPublish(ctx, &pc, po, nil)
	srvCPU, srvOK := ns.close()
	if err != nil {
		return err
	}
	pr := r.(*publishReport)
	rep.NullConcurrency = o.concurrency
	rep.NullRequests, rep.NullErrors = pr.Succeeded, pr.Errors
	rep.NullRunS, rep.NullReqPerS = pr.RunS, pr.RequestsPerS
	rep.NullLatP50Ms, rep.NullLatP99Ms = pr.LatP50Ms, pr.LatP99Ms
	if pr.Succeeded > 0 {
		// The client and the null server share this process: its CPU is both.
		rep.NullCPUPerReqUs = ptr(round(pr.ClientCPUS * 1e6 / float64(pr.Succeeded)))
		if srvOK {
			rep.NullServerCPUPerReqUs = ptr(round(float64(srvCPU.Nanoseconds()) / 1000 / float64(pr.Succeeded)))
		}
	}
	if ch := pr.charts; ch != nil {
		for i := range ch.hists {
			ch.hists[i].name = "null server request latency (publish round trip)"
		}
		// Errors fail the run; of the rates only requests/s is worth a plot.
		ch.series = slices.DeleteFunc(ch.series, func(x series) bool { return x.Name != "requests" })
		rep.charts = ch
	}
	if pr.Errors > 0 {
		return fmt.Errorf("%d failed requests: %s", pr.Errors, strings.Join(pr.ErrorSamples, "; "))
	}
	return nil
}
