package benchmarks

import (
	"sync"
	"time"
)

// A timeline samples a few counters and gauges at a fixed interval while a run is in
// progress, for the throughput-over-time plots of --report. Sampling costs a handful of
// atomic loads per tick (and, with --pid, two small /proc reads), so it runs whether or
// not a report was asked for.
type timeline struct {
	interval time.Duration
	tracks   []*track

	mu      sync.Mutex
	start   time.Time
	at      []float64 // seconds since start, one per sample
	stopped bool
	done    chan struct{}
	wg      sync.WaitGroup
}

// trackKind says how a track's readings become plotted values.
type trackKind uint8

const (
	trackRate  trackKind = iota // a monotonic counter: plot its increase per second
	trackGauge                  // a level: plot the reading itself
)

// track is one sampled quantity.
type track struct {
	name  string // e.g. "deliveries"
	unit  string // of the plotted value, e.g. "msg/s" or "connections"
	kind  trackKind
	read  func() (float64, bool) // ok=false: no reading this tick (a gap in the plot)
	vals  []float64              // raw readings; NaN-free, aligned with ok
	ok    []bool
	scale float64 // plotted value = reading × scale (after differencing for rates)
}

// series is a plotted track: time (s) and value pairs.
type series struct {
	Name  string
	Unit  string
	T     []float64
	V     []float64
	Gauge bool
}

// minSampleInterval and maxSampleInterval bound --sample-interval.
const (
	minSampleInterval = 250 * time.Millisecond
	maxSampleInterval = time.Second
)

func newTimeline(interval time.Duration) *timeline {
	return &timeline{interval: interval, done: make(chan struct{})}
}

// rate tracks a monotonic counter, plotted as its increase per second.
func (tl *timeline) rate(name, unit string, read func() int64) {
	tl.tracks = append(tl.tracks, &track{name: name, unit: unit, kind: trackRate, scale: 1,
		read: func() (float64, bool) { return float64(read()), true }})
}

// gauge tracks a level, plotted as read × scale.
func (tl *timeline) gauge(name, unit string, scale float64, read func() (float64, bool)) {
	tl.tracks = append(tl.tracks, &track{name: name, unit: unit, kind: trackGauge, scale: scale, read: read})
}

// procTracks adds the server's CPU (% of one core) and RSS (MiB) from /proc/pid.
func (tl *timeline) procTracks(pid int) {
	if pid <= 0 {
		return
	}
	var mu sync.Mutex
	var last procSample
	var cur procSample
	var curOK bool
	// The CPU track reads /proc once per tick and keeps the sample for the RSS track,
	// which is always read right after it (tracks are read in order under tl.mu).
	tl.tracks = append(tl.tracks, &track{name: "server CPU", unit: "% of a core", kind: trackGauge, scale: 1,
		read: func() (float64, bool) {
			mu.Lock()
			defer mu.Unlock()
			s, err := readProc(pid)
			cur, curOK = s, err == nil
			if !curOK {
				last = procSample{}
				return 0, false
			}
			if last.taken.IsZero() {
				last = s
				return 0, false
			}
			// CPU time moves in clock ticks (10 ms): a short interval (the closing
			// sample) would read as noise, so it waits for a longer one.
			wall := s.taken.Sub(last.taken)
			if wall < tl.interval/2 {
				return 0, false
			}
			prev := last
			last = s
			return 100 * (s.cpu - prev.cpu).Seconds() / wall.Seconds(), true
		}})
	tl.tracks = append(tl.tracks, &track{name: "server RSS", unit: "MiB", kind: trackGauge, scale: 1.0 / (1 << 20),
		read: func() (float64, bool) {
			mu.Lock()
			defer mu.Unlock()
			return float64(cur.rss), curOK
		}})
}

// run starts sampling; the first sample is taken at once.
func (tl *timeline) run() {
	tl.mu.Lock()
	tl.start = time.Now()
	tl.sampleLocked()
	tl.mu.Unlock()
	tl.wg.Add(1)
	go func() {
		defer tl.wg.Done()
		t := time.NewTicker(tl.interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				tl.mu.Lock()
				if !tl.stopped {
					tl.sampleLocked()
				}
				tl.mu.Unlock()
			case <-tl.done:
				return
			}
		}
	}()
}

// stop takes a last sample and ends sampling. Idempotent; a no-op before run.
func (tl *timeline) stop() {
	tl.mu.Lock()
	if tl.stopped || tl.start.IsZero() {
		tl.stopped = true
		tl.mu.Unlock()
		return
	}
	tl.sampleLocked()
	tl.stopped = true
	tl.mu.Unlock()
	close(tl.done)
	tl.wg.Wait()
}

// sampleLocked reads every track once. Must hold tl.mu.
func (tl *timeline) sampleLocked() {
	tl.at = append(tl.at, time.Since(tl.start).Seconds())
	for _, tr := range tl.tracks {
		v, ok := tr.read()
		tr.vals = append(tr.vals, v)
		tr.ok = append(tr.ok, ok)
	}
}

// series returns the plotted tracks. Call it after stop. A rate's point sits at the
// end of its interval; an interval shorter than a tenth of the sampling interval (the
// closing sample right after a tick) is folded into the next one, or dropped at the
// end.
func (tl *timeline) series() []series {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := make([]series, 0, len(tl.tracks))
	minGap := tl.interval.Seconds() / 10
	for _, tr := range tl.tracks {
		s := series{Name: tr.name, Unit: tr.unit, Gauge: tr.kind == trackGauge}
		switch tr.kind {
		case trackRate:
			prev := -1
			for i := range tl.at {
				if !tr.ok[i] {
					continue
				}
				if prev < 0 {
					prev = i
					continue
				}
				dt := tl.at[i] - tl.at[prev]
				if dt < minGap || dt <= 0 {
					continue // too short to be a fair rate: fold it into the next interval
				}
				s.T = append(s.T, tl.at[i])
				s.V = append(s.V, (tr.vals[i]-tr.vals[prev])/dt*tr.scale)
				prev = i
			}
		case trackGauge:
			for i := range tl.at {
				if tr.ok[i] {
					s.T = append(s.T, tl.at[i])
					s.V = append(s.V, tr.vals[i]*tr.scale)
				}
			}
		}
		if len(s.T) > 0 {
			out = append(out, s)
		}
	}
	return out
}
