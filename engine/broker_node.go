package engine

import (
	"time"

	"context"

	"github.com/rotorhq/rotor/codec"
)

// The Node side of the broker interfaces (broker.go): the BrokerEventHandler methods
// a remote broker calls, and the per-channel bookkeeping of remote delivery.
//
// With a remote broker (Redis) every publication reaches this node's subscribers
// through HandlePublication, the node's own included (as in Centrifugo, where the
// publishing node gets its publication back through Pub/Sub), so each is delivered
// once. Positioned subscribers stay gap-free and duplicate-free through the hub's
// per-channel last delivered position (channelSubs.pos), read and written under the
// channel lock: joinSub sends a joiner the history after its position up to that one,
// and HandlePublication drops a publication at or below it (already sent from
// history) and reports a jump beyond the next offset as a gap (insufficient state).

var _ BrokerEventHandler = (*Node)(nil)

// HandlePublication implements BrokerEventHandler: it fans pub out to ch's local
// subscribers under the channel lock. It allocates nothing.
func (n *Node) HandlePublication(ch string, pub *codec.Publication, sp codec.StreamPosition, useDelta bool, prevPub *codec.Publication) error {
	if pub.Time > 0 {
		// Stamped by the publishing node (Redis broker): the Pub/Sub lag.
		lag := time.Now().UnixMilli() - pub.Time
		if lag < 0 {
			lag = -lag
		}
		n.metrics.pubSubLag.Update(float64(lag) / 1000)
	}
	mu := n.chans.get(ch)
	mu.Lock()
	if sp.Offset > 0 {
		last, known := n.hub.streamPos(ch)
		if known && last.Offset > 0 {
			if last.Epoch == sp.Epoch && sp.Offset <= last.Offset {
				mu.Unlock()
				return nil // sent from history to the subscribers that joined since
			}
			if last.Epoch != sp.Epoch || sp.Offset != last.Offset+1 {
				mu.Unlock()
				n.HandleStreamGap(ch)
				mu.Lock()
			}
		}
		n.hub.setStreamPos(ch, sp)
	}
	var prev []byte
	if useDelta && prevPub != nil {
		prev = prevPub.Data
	}
	n.hub.broadcast(ch, pub, prev)
	mu.Unlock()
	return nil
}

// HandleJoin implements BrokerEventHandler.
func (n *Node) HandleJoin(ch string, info *codec.ClientInfo) error {
	mu := n.chans.get(ch)
	mu.Lock()
	n.hub.broadcastJoinLeave(ch, info, true)
	mu.Unlock()
	return nil
}

// HandleLeave implements BrokerEventHandler.
func (n *Node) HandleLeave(ch string, info *codec.ClientInfo) error {
	mu := n.chans.get(ch)
	mu.Lock()
	n.hub.broadcastJoinLeave(ch, info, false)
	mu.Unlock()
	return nil
}

// HandleStreamGap implements BrokerEventHandler: ch's positioned subscribers on this
// node lose their subscription with "insufficient state" (they resubscribe and
// recover from history), and the channel's last delivered position is forgotten.
// Must not hold the channel lock.
func (n *Node) HandleStreamGap(ch string) {
	mu := n.chans.get(ch)
	mu.Lock()
	n.hub.setStreamPos(ch, codec.StreamPosition{})
	mu.Unlock()
	for _, c := range n.hub.subscribers(ch) {
		c.mu.Lock()
		sub, ok := c.subs.get(ch)
		positioned := ok && sub.flags&subPositioned != 0
		c.mu.Unlock()
		if !positioned {
			continue
		}
		if sub, ok := c.detach(ch); ok {
			c.insufficientState(ch, sub.flags&subServerSide != 0)
		}
	}
}

// brokerAcquire makes a remote broker deliver ch to this node from now on, for a
// subscription about to join: the first such join (no local subscriber, none pending)
// Subscribe's the broker; every one counts as pending until joinSub or brokerRelease,
// so a last subscriber leaving meanwhile does not Unsubscribe. Local brokers: nothing.
func (n *Node) brokerAcquire(ch string, p *subParams) error {
	if n.local || p.acquired {
		return nil
	}
	mu := n.chans.get(ch)
	mu.Lock()
	defer mu.Unlock()
	if n.hub.numSubscribers(ch) == 0 && n.pendingJoins(ch) == 0 {
		if err := n.broker.Subscribe(n.ctx, ch); err != nil {
			return n.brokerError("subscribe", ch, err)
		}
	}
	n.pendMu.Lock()
	n.pending[ch]++
	n.pendMu.Unlock()
	p.acquired = true
	return nil
}

// brokerRelease gives back what brokerAcquire took for p, unsubscribing the broker
// when nothing else holds ch. Must not hold ch's channel lock.
func (n *Node) brokerRelease(ch string, p *subParams) {
	if !p.acquired {
		return
	}
	mu := n.chans.get(ch)
	mu.Lock()
	n.brokerReleaseLocked(ch, p)
	mu.Unlock()
}

// brokerReleaseLocked is brokerRelease under ch's channel lock.
func (n *Node) brokerReleaseLocked(ch string, p *subParams) {
	if !p.acquired {
		return
	}
	p.acquired = false
	n.pendMu.Lock()
	left := n.pending[ch] - 1
	if left <= 0 {
		delete(n.pending, ch)
	} else {
		n.pending[ch] = left
	}
	n.pendMu.Unlock()
	if left <= 0 && n.hub.numSubscribers(ch) == 0 {
		n.brokerUnsubscribeLocked(ch)
	}
}

// pendingJoins counts ch's subscriptions between brokerAcquire and their join.
func (n *Node) pendingJoins(ch string) int {
	if n.local {
		return 0
	}
	n.pendMu.Lock()
	defer n.pendMu.Unlock()
	return n.pending[ch]
}

// brokerUnsubscribeLocked tells a remote broker that ch has no local subscriber
// left. Must hold ch's channel lock.
func (n *Node) brokerUnsubscribeLocked(ch string) {
	if n.local {
		return
	}
	if err := n.broker.Unsubscribe(n.ctx, ch); err != nil {
		n.log.Error("broker unsubscribe failed", "channel", ch, "err", err)
	}
}

// closeBrokers closes the broker, presence manager and controller that hold
// resources, each once.
func (n *Node) closeBrokers(ctx context.Context) {
	seen := make(map[any]bool, 3)
	for _, x := range []any{n.broker, n.presence, n.cfg.Controller} {
		if x == nil || seen[x] {
			continue
		}
		seen[x] = true
		if c, ok := x.(Closer); ok {
			if err := c.Close(ctx); err != nil {
				n.log.Error("broker close failed", "err", err)
			}
		}
	}
}

// streamPos returns ch's last delivered position and whether ch has local
// subscribers. Must hold ch's channel lock.
func (h *hub) streamPos(ch string) (codec.StreamPosition, bool) {
	sh := h.subShard(ch)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if cs := sh.channels[ch]; cs != nil {
		return cs.pos, true
	}
	return codec.StreamPosition{}, false
}

// setStreamPos records ch's last delivered position, when ch has local subscribers.
// Must hold ch's channel lock.
func (h *hub) setStreamPos(ch string, sp codec.StreamPosition) {
	sh := h.subShard(ch)
	sh.mu.RLock()
	if cs := sh.channels[ch]; cs != nil {
		cs.pos = sp
	}
	sh.mu.RUnlock()
}

// subscribers returns a snapshot of ch's local subscribers.
func (h *hub) subscribers(ch string) []*Client {
	sh := h.subShard(ch)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	cs := sh.channels[ch]
	if cs == nil {
		return nil
	}
	out := make([]*Client, len(cs.clients))
	for i := range cs.clients {
		out[i] = cs.clients[i].c
	}
	return out
}
