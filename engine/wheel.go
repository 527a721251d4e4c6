package engine

import (
	"sync"
	"time"
)

// wheel is a hashed timing wheel: one goroutine for the whole node instead of a
// time.Timer per connection. Each Client carries one intrusive timer node (it only ever
// needs its next deadline), so scheduling allocates nothing.
//
// Lock order: wheel.mu is taken alone; callbacks run after it is released.
type wheel struct {
	tick  time.Duration
	mu    sync.Mutex
	slots []timerList
	// cur is the index of the slot the next tick will fire.
	cur  int
	stop chan struct{}
	done chan struct{}
	due  []*Client
}

type timerList struct{ head *Client }

// timerNode is embedded in Client. Guarded by wheel.mu.
type timerNode struct {
	tprev, tnext *Client
	tslot        int32 // -1 when not scheduled
	trounds      int32
}

func newWheel(tick time.Duration, slots int) *wheel {
	w := &wheel{
		tick:  tick,
		slots: make([]timerList, slots),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	return w
}

func (w *wheel) start() { go w.run() }

func (w *wheel) close() {
	close(w.stop)
	<-w.done
}

func (w *wheel) run() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.advance()
		}
	}
}

// advance fires the current slot. Clients whose deadline lies rounds ahead stay.
func (w *wheel) advance() {
	w.mu.Lock()
	l := &w.slots[w.cur]
	due := w.due[:0]
	for c := l.head; c != nil; {
		next := c.tnext
		if c.trounds > 0 {
			c.trounds--
		} else {
			w.unlinkLocked(c)
			due = append(due, c)
		}
		c = next
	}
	w.cur = (w.cur + 1) % len(w.slots)
	w.mu.Unlock()
	for i, c := range due {
		c.onTimer()
		due[i] = nil
	}
	w.due = due[:0]
}

// schedule arms c's timer to fire after d (rounded up to a tick), replacing any
// earlier deadline. Must not hold wheel.mu.
func (w *wheel) schedule(c *Client, d time.Duration) {
	ticks := int((d + w.tick - 1) / w.tick)
	if ticks < 1 {
		ticks = 1
	}
	w.mu.Lock()
	if c.tslot >= 0 {
		w.unlinkLocked(c)
	}
	// The slot at cur fires on the next tick, so ticks-1 steps ahead of it.
	slot := (w.cur + ticks - 1) % len(w.slots)
	c.trounds = int32((ticks - 1) / len(w.slots))
	c.tslot = int32(slot)
	l := &w.slots[slot]
	c.tprev = nil
	c.tnext = l.head
	if l.head != nil {
		l.head.tprev = c
	}
	l.head = c
	w.mu.Unlock()
}

// cancel removes c's timer if armed. Must not hold wheel.mu.
func (w *wheel) cancel(c *Client) {
	w.mu.Lock()
	if c.tslot >= 0 {
		w.unlinkLocked(c)
	}
	w.mu.Unlock()
}

func (w *wheel) unlinkLocked(c *Client) {
	l := &w.slots[c.tslot]
	if c.tprev != nil {
		c.tprev.tnext = c.tnext
	} else {
		l.head = c.tnext
	}
	if c.tnext != nil {
		c.tnext.tprev = c.tprev
	}
	c.tprev, c.tnext = nil, nil
	c.tslot = -1
}

// each calls fn for every client with an armed timer, outside the wheel lock.
func (w *wheel) each(fn func(*Client)) {
	var batch []*Client
	w.mu.Lock()
	for i := range w.slots {
		for c := w.slots[i].head; c != nil; c = c.tnext {
			batch = append(batch, c)
		}
	}
	w.mu.Unlock()
	for _, c := range batch {
		fn(c)
	}
}
