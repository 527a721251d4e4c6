package benchmarks

import (
	"context"
	"testing"
	"time"
)

func TestScheduleBounds(t *testing.T) {
	ctx := context.Background()
	timer := stoppedTimer()

	// A count bound, unpaced: turns 0..4, then the end.
	s := newSchedule(5, 0, 0)
	for want := int64(0); want < 5; want++ {
		if k, _, ok := s.take(ctx, timer); !ok || k != want {
			t.Fatalf("take = %d, %v; want %d, true", k, ok, want)
		}
	}
	if _, _, ok := s.take(ctx, timer); ok {
		t.Fatal("a sixth turn of a 5-turn schedule")
	}

	// Paced at 100/s for 100ms: about 10 turns, each not before it is due.
	s = newSchedule(0, 100, 100*time.Millisecond)
	n := 0
	for {
		k, t0, ok := s.take(ctx, timer)
		if !ok {
			break
		}
		if due := s.start.Add(time.Duration(k) * 10 * time.Millisecond); t0.Before(due) {
			t.Fatalf("turn %d began %v before it was due", k, due.Sub(t0))
		}
		n++
	}
	if n < 3 || n > 10 { // 10 at most; fewer only when the machine stalls
		t.Fatalf("%d turns in 100ms at 100/s", n)
	}

	// A cancelled context ends the run, also while a turn is awaited.
	cctx, cancel := context.WithCancel(ctx)
	s = newSchedule(0, 1, 0)
	if _, _, ok := s.take(cctx, timer); !ok { // turn 0 is due at once
		t.Fatal("turn 0 refused")
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, _, ok := s.take(cctx, timer); ok {
		t.Fatal("a turn after the context ended")
	}
}
