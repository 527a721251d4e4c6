package engine

import (
	"hash/maphash"
	"sync"

	"github.com/rotorhq/rotor/codec"
)

// effectQueueCount is the number of effect queues. A channel always uses the same
// one; channels that share a queue only wait on each other's presence and join/leave
// calls, never on each other's channel lock.
const effectQueueCount = 1024

// effectKind is what a chanEffect does.
type effectKind uint8

const (
	effectPresenceAdd effectKind = iota + 1
	effectPresenceRemove
	effectJoin
	effectLeave
)

// chanEffect is one side effect of a join or leave of ch: a presence add or
// remove, or the join/leave push, with the client's info.
type chanEffect struct {
	kind effectKind
	ch   string
	info codec.ClientInfo
	// done is set, under the queue's lock, once the effect has run.
	done bool
}

// effectQueue orders the effects of the channels that hash to it.
type effectQueue struct {
	mu   sync.Mutex
	cond sync.Cond // on mu: signalled when a batch has run
	ops  []*chanEffect
	// running: a goroutine is running a batch taken from ops.
	running bool
}

// chanEffects takes the presence manager and join/leave calls of joins and leaves
// (Redis I/O with a remote broker or presence manager) out from under the channel
// lock, in the lock's order. Under the channel lock, joinSub, leave and
// refreshPresence queue their effects (queue.add); after releasing it, each runs
// queued effects (Node.runEffects) until its own have run. A queue runs one batch
// at a time, in queue order, so one channel's effects run in the order its lock was
// taken: a client's presence add before its remove, its join before its leave, and
// a presence entry before the join push that announces it. Publishers of the
// channel no longer wait for a subscriber's presence or join/leave round trip.
type chanEffects struct {
	seed   maphash.Seed
	queues [effectQueueCount]effectQueue
}

func newChanEffects() *chanEffects {
	e := &chanEffects{seed: maphash.MakeSeed()}
	for i := range e.queues {
		e.queues[i].cond.L = &e.queues[i].mu
	}
	return e
}

// queue returns ch's effect queue.
func (e *chanEffects) queue(ch string) *effectQueue {
	return &e.queues[maphash.String(e.seed, ch)%effectQueueCount]
}

// add appends effs. The caller holds their channel's lock, so effects queue in the
// order the lock was taken.
func (q *effectQueue) add(effs ...*chanEffect) {
	q.mu.Lock()
	q.ops = append(q.ops, effs...)
	q.mu.Unlock()
}

// runEffects returns once last (queued on q) has run. While no other goroutine runs
// q, it runs the queued effects itself, batch after batch; otherwise it waits for
// the running one. Must not hold a channel lock or c.mu (the effects take channel
// locks and do broker I/O).
func (n *Node) runEffects(q *effectQueue, last *chanEffect) {
	q.mu.Lock()
	for !last.done {
		if q.running {
			q.cond.Wait()
			continue
		}
		q.running = true
		batch := q.ops
		q.ops = nil
		q.mu.Unlock()
		for _, e := range batch {
			n.applyEffect(e)
		}
		q.mu.Lock()
		for _, e := range batch {
			e.done = true
		}
		q.running = false
		q.cond.Broadcast()
	}
	q.mu.Unlock()
}

// applyEffect runs e. A failure is logged: the join or leave itself stands (as in
// Centrifugo, which logs a failed presence or join/leave publish of a subscription).
func (n *Node) applyEffect(e *chanEffect) {
	switch e.kind {
	case effectPresenceAdd:
		n.countAction(actAddPresence)
		// The manager may keep &e.info: nothing modifies it after the effect is queued.
		if err := n.presence.AddPresence(n.ctx, e.ch, e.info.Client, &e.info); err != nil {
			n.log.Error("presence add failed", "channel", e.ch, "err", err)
		}
	case effectPresenceRemove:
		n.countAction(actRemovePresence)
		if err := n.presence.RemovePresence(n.ctx, e.ch, e.info.Client, e.info.User); err != nil {
			n.log.Error("presence remove failed", "channel", e.ch, "err", err)
		}
	case effectJoin, effectLeave:
		join := e.kind == effectJoin
		if join {
			n.metrics.msgSent[msgJoin].Inc()
		} else {
			n.metrics.msgSent[msgLeave].Inc()
		}
		if n.local {
			// The push goes to local subscribers under the channel lock, as a
			// remote broker's HandleJoin/HandleLeave does.
			mu := n.chans.get(e.ch)
			mu.Lock()
			n.hub.broadcastJoinLeave(e.ch, &e.info, join)
			mu.Unlock()
			return
		}
		var err error
		if join {
			err = n.broker.PublishJoin(n.ctx, e.ch, &e.info)
		} else {
			err = n.broker.PublishLeave(n.ctx, e.ch, &e.info)
		}
		if err != nil {
			n.log.Error("broker join/leave failed", "channel", e.ch, "err", err)
		}
	}
}
