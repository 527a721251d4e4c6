package benchmarks

import (
	"context"
	"sync/atomic"
	"time"
)

// schedule hands out the numbered turns of a run to its workers: turn k is due at
// start + k/rate (rate 0: at once). The run ends after n turns (n 0: no count bound),
// at stopAt (zero: no time bound) or when its context ends.
type schedule struct {
	n      int64
	rate   float64
	start  time.Time
	stopAt time.Time
	next   atomic.Int64
}

// newSchedule starts a schedule now; d > 0 bounds it in time.
func newSchedule(n int, rate float64, d time.Duration) *schedule {
	s := &schedule{n: int64(n), rate: rate, start: time.Now()}
	if d > 0 {
		s.stopAt = s.start.Add(d)
	}
	return s
}

// take claims the next turn and waits, on the worker's own timer, until it is due.
// It returns the turn and the time it began, or false when the run is over.
func (s *schedule) take(ctx context.Context, timer *time.Timer) (int64, time.Time, bool) {
	if ctx.Err() != nil {
		return 0, time.Time{}, false
	}
	k := s.next.Add(1) - 1
	if s.n > 0 && k >= s.n {
		return 0, time.Time{}, false
	}
	if !waitDue(ctx, timer, s.start, k, s.rate, s.stopAt) {
		return 0, time.Time{}, false
	}
	t0 := time.Now()
	if !s.stopAt.IsZero() && !t0.Before(s.stopAt) {
		return 0, time.Time{}, false
	}
	return k, t0, true
}

// waitDue waits on timer until turn k of a run paced at rate per second from start
// is due (rate 0: it is due at once). It returns false when ctx ends first or the
// turn falls after stopAt (zero: no bound).
func waitDue(ctx context.Context, timer *time.Timer, start time.Time, k int64, rate float64, stopAt time.Time) bool {
	if rate <= 0 {
		return true
	}
	due := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return true
	}
	if !stopAt.IsZero() && due.After(stopAt) {
		return false
	}
	timer.Reset(d)
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stoppedTimer returns a timer for waitDue and take that has not been started.
func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}
