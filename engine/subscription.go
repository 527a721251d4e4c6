package engine

import (
	"slices"
	"time"

	"github.com/rotorhq/rotor/codec"
)

type subFlags uint8

const (
	subPresence      subFlags = 1 << iota // the client is listed in the channel's presence
	subJoinLeave                          // join/leave of this client are published
	subPushJoinLeave                      // the client receives join/leave pushes
	subPositioned
	subRecoverable
	subServerSide
)

// subscription is a client's state in one channel. Guarded by client.mu.
type subscription struct {
	flags    subFlags
	chanInfo []byte
	expireAt int64
	ns       *NamespaceOptions
	// refreshing is set while a sub_refresh proxy call for it is in flight.
	refreshing bool
	// joined is set by joinSub when it puts the subscription in the hub and presence
	// and pushes its join; only then do detach and OnClose undo those. Guarded by
	// the channel lock (chanLocks), not client.mu.
	joined bool
}

// subList is a client's subscriptions, searched linearly: clients hold few
// (client.channel_limit, 128 by default), and a map would cost about 250 B per client
// even for one subscription, against 32 B here. Guarded by client.mu.
type subList []chanSub

// chanSub is one entry of a subList.
type chanSub struct {
	ch  string
	sub *subscription
}

// get returns the subscription to ch.
func (l subList) get(ch string) (*subscription, bool) {
	for i := range l {
		if l[i].ch == ch {
			return l[i].sub, true
		}
	}
	return nil, false
}

// set adds or replaces the subscription to ch.
func (l *subList) set(ch string, sub *subscription) {
	for i := range *l {
		if (*l)[i].ch == ch {
			(*l)[i].sub = sub
			return
		}
	}
	*l = append(*l, chanSub{ch: ch, sub: sub})
}

// remove deletes the subscription to ch and returns it. The order of the others
// may change.
func (l *subList) remove(ch string) (*subscription, bool) {
	s := *l
	for i := range s {
		if s[i].ch == ch {
			sub := s[i].sub
			last := len(s) - 1
			s[i] = s[last]
			s[last] = chanSub{}
			*l = s[:last]
			return sub, true
		}
	}
	return nil, false
}

// subParams describes a subscription about to be attached.
type subParams struct {
	ns       *NamespaceOptions
	flags    subFlags
	chanInfo []byte
	data     []byte
	expireAt int64
	ttl      uint32
	// filter is the tags filter; delta marks a negotiated fossil delta subscription,
	// deltaReady that the subscribe result carried publications (the client holds a base).
	filter            *codec.FilterNode
	delta, deltaReady bool
	// skipUpTo is the stream offset a positioned subscriber of a remote broker
	// already has (from its result and missed publications) when it joins: the
	// publications up to it still on their way through Pub/Sub are not pushed again.
	skipUpTo uint64
	// acquired is set by prepareSub when it holds ch's broker subscription for this
	// join (remote broker); joinSub or brokerRelease gives it back.
	acquired bool
	// recovery request
	recover           bool
	since             codec.StreamPosition
	rejectUnrecovered bool
}

// defaultHistoryMetaTTL is channel.history_meta_ttl's default.
const defaultHistoryMetaTTL = 720 * time.Hour

func historyEnabled(ns *NamespaceOptions) bool { return ns.HistorySize > 0 && ns.HistoryTTL > 0 }

func metaTTL(ns *NamespaceOptions) time.Duration {
	if ns.HistoryMetaTTL > 0 {
		return ns.HistoryMetaTTL
	}
	return defaultHistoryMetaTTL
}

// namespaceFlags applies namespace defaults and the token/API override to a new
// subscription (channels-and-namespaces.md §3.1).
func namespaceFlags(ns *NamespaceOptions, o *SubscribeOverride) subFlags {
	pick := func(def bool, ov *bool) bool {
		if ov != nil {
			return *ov
		}
		return def
	}
	var ov SubscribeOverride
	if o != nil {
		ov = *o
	}
	var f subFlags
	if pick(ns.Presence, ov.Presence) {
		f |= subPresence
	}
	if pick(ns.JoinLeave, ov.JoinLeave) {
		f |= subJoinLeave
	}
	if pick(ns.ForcePushJoinLeave, ov.ForcePushJoinLeave) {
		f |= subPushJoinLeave
	}
	if pick(ns.ForcePositioning, ov.ForcePositioning) {
		f |= subPositioned
	}
	if pick(ns.ForceRecovery, ov.ForceRecovery) {
		f |= subRecoverable | subPositioned
	}
	return f
}

// attach subscribes c to ch with p and queues the message built by encode (the
// subscribe reply or push) before any publication of ch. It returns an *Error (112)
// when recovery must fail, and encode's error unchanged, with nothing attached. ft
// is the frame type the message is counted as. Must not hold c.mu.
func (c *Client) attach(ch string, p *subParams, ft frameType, encode func(res *codec.SubscribeResult) ([]byte, error)) error {
	res, pos, err := c.prepareSub(ch, p)
	if err != nil {
		return err
	}
	out, err := encode(&res)
	if err != nil {
		c.node.brokerRelease(ch, p)
		return err
	}
	c.countSent(ft, len(out))
	c.joinSub(ch, p, pos, out)
	return nil
}

// prepareSub computes the subscribe result of ch (position, recovery) and returns
// the stream position it was computed at. Must not hold c.mu.
func (c *Client) prepareSub(ch string, p *subParams) (codec.SubscribeResult, codec.StreamPosition, error) {
	res := codec.SubscribeResult{Expires: p.expireAt > 0, TTL: p.ttl, Data: p.data, Delta: p.delta}
	if p.ns != nil && p.ns.SubRefreshProxyEnabled {
		// The server refreshes the subscription through the sub_refresh proxy; told
		// it expires, the SDK would ask its app for a token it has no use for
		// (Centrifugo: ClientSideRefresh false, no expires/ttl).
		res.Expires, res.TTL = false, 0
	}
	var pos codec.StreamPosition
	// A remote broker delivers ch from before the position is read: a broker that
	// cannot subscribe fails the subscribe (100) before anything is sent.
	if err := c.node.brokerAcquire(ch, p); err != nil {
		return res, pos, err
	}
	if p.flags&subPositioned == 0 {
		return res, pos, nil
	}
	// One broker read gives the position and, when recovering, the publications
	// after the client's: the stream cannot move between the two.
	opts := HistoryOptions{MetaTTL: metaTTL(p.ns)}
	recovering := p.flags&subRecoverable != 0 && p.recover
	cache := recovering && p.ns.ForceRecoveryMode == "cache"
	switch {
	case cache:
		opts.Filter = HistoryFilter{Limit: 1, Reverse: true}
	case recovering:
		opts.Filter = HistoryFilter{Since: &codec.StreamPosition{Offset: p.since.Offset}, Limit: c.node.cfg.RecoveryMaxPublicationLimit}
	}
	pubs, top, err := c.node.broker.History(c.node.ctx, ch, opts)
	if err != nil {
		c.node.brokerRelease(ch, p)
		return res, pos, c.node.brokerError("history", ch, err)
	}
	pos = top
	res.Positioned, res.Epoch, res.Offset = true, top.Epoch, top.Offset
	if p.flags&subRecoverable != 0 {
		res.Recoverable = true
		if recovering {
			res.WasRecovering = true
			if cache {
				recoverCache(pubs, top, p, &res)
			} else {
				recoverStream(pubs, top, p, &res)
			}
			c.node.countAction(actHistoryRecover)
			c.node.metrics.recover[b2i(res.Recovered)][b2i(len(res.Publications) > 0)].Inc()
			if !res.Recovered && p.rejectUnrecovered {
				c.node.brokerRelease(ch, p)
				return res, pos, ErrorUnrecoverablePosition
			}
			if p.filter != nil {
				res.Publications = filterPubs(p.filter, res.Publications)
			}
			if p.delta && len(res.Publications) > 0 {
				res.Publications = deltaSequence(c.proto, res.Publications)
				p.deltaReady = true
			}
		}
	}
	return res, pos, nil
}

// filterPubs keeps the publications whose tags match f.
func filterPubs(f *codec.FilterNode, pubs []*codec.Publication) []*codec.Publication {
	out := pubs[:0:0]
	for _, pub := range pubs {
		if matchFilter(f, pub.Tags) {
			out = append(out, pub)
		}
	}
	return out
}

// joinReq is one subscription for joinSubs: its channel, parameters, and the
// stream position its reply was computed at (prepareSub).
type joinReq struct {
	ch  string
	p   *subParams
	pos codec.StreamPosition
}

// joinSub registers the subscription and adds c to the hub. For a positioned
// subscription it first sends whatever was published after pos (between the result
// and now), so the client sees every offset exactly once and in order.
//
// Everything after registering runs under the channel lock, as publishers' append
// and fan-out and detach/OnClose's removal do: a publication is either among the
// missed ones or reaches c through the hub, never both or neither; and the join
// happens entirely before or after a concurrent removal. The subscription joins only
// if, under that lock, it is still c's current subscription to ch and c is
// connected; otherwise a removal already took it out of c.subs, and presence and
// join are left alone (an OnClose racing a server-side subscribe used to leave a
// permanent presence entry and a join without a leave). Must not hold c.mu.
func (c *Client) joinSub(ch string, p *subParams, pos codec.StreamPosition, reply []byte) {
	reqs := [1]joinReq{{ch: ch, p: p, pos: pos}}
	c.joinSubs(reqs[:], reply)
}

// joinSubs is joinSub for several channels at once (a connect with server-side
// subscriptions): it holds every one of their channel locks, taken in lock index
// order (the only place that holds more than one), while it queues reply and joins
// them all, so a publication to any of them made as soon as the client reads
// reply reaches the client, after reply. Must not hold c.mu.
func (c *Client) joinSubs(reqs []joinReq, reply []byte) {
	n := c.node
	var subsArr [1]*subscription
	subs := subsArr[:0]
	c.mu.Lock()
	if c.state != stateConnected {
		c.mu.Unlock()
		if reply != nil {
			c.enqueue(reply)
		}
		for i := range reqs {
			n.brokerRelease(reqs[i].ch, reqs[i].p)
		}
		return
	}
	for i := range reqs {
		p := reqs[i].p
		sub := &subscription{flags: p.flags, chanInfo: p.chanInfo, expireAt: p.expireAt, ns: p.ns}
		c.subs.set(reqs[i].ch, sub)
		subs = append(subs, sub)
	}
	info := codec.ClientInfo{User: c.user, Client: c.id, ConnInfo: c.info}
	c.mu.Unlock()

	var lockArr [1]int
	locks := lockArr[:0]
	for i := range reqs {
		locks = append(locks, n.chans.index(reqs[i].ch))
	}
	if len(locks) > 1 {
		slices.Sort(locks)
		locks = slices.Compact(locks)
	}
	for _, k := range locks {
		n.chans.at(k).Lock()
	}
	// The reply goes out under the channel locks: before any publication of these
	// channels reaches c, and not before c is in their hub entries, since a
	// publication fans out under its channel's lock too. Queued earlier, a
	// transport that writes at once could deliver the reply while a publication
	// fanned out without c, and a client (or the backend it tells) publishing right
	// after the reply would miss that publication.
	if reply != nil {
		c.enqueue(reply)
	}
	var joinArr [1]joined
	joins := joinArr[:0]
	for i := range reqs {
		joins = append(joins, c.joinLocked(&reqs[i], subs[i], info))
	}
	for i := len(locks) - 1; i >= 0; i-- {
		n.chans.at(locks[i]).Unlock()
	}
	for i := range joins {
		if j := &joins[i]; j.last != nil {
			n.runEffects(j.q, j.last)
		}
	}
	for i := range joins {
		if !joins[i].lostPosition {
			continue
		}
		ch := reqs[i].ch
		c.mu.Lock()
		if cur, ok := c.subs.get(ch); ok && cur == subs[i] {
			c.subs.remove(ch)
		}
		c.mu.Unlock()
		c.insufficientState(ch, reqs[i].p.flags&subServerSide != 0)
	}
}

// joined is what joinLocked leaves to do once the channel lock is released: the
// join's presence and join push effects, and whether the position was lost.
type joined struct {
	q            *effectQueue
	last         *chanEffect
	lostPosition bool
}

// joinLocked is joinSubs' part for one channel: it sends a positioned subscriber
// what it missed and puts sub in the hub if sub is still c's current subscription to
// r.ch. Must hold r.ch's channel lock, not c.mu.
func (c *Client) joinLocked(r *joinReq, sub *subscription, info codec.ClientInfo) joined {
	n := c.node
	ch, p := r.ch, r.p
	info.ChanInfo = p.chanInfo
	c.mu.Lock()
	cur, ok := c.subs.get(ch)
	current := ok && cur == sub && c.state == stateConnected
	c.mu.Unlock()
	// A remote broker's subscription was taken in prepareSub; without it (a failed
	// prepareSub on the connect path) the client would miss publications.
	lostPosition := !n.local && !p.acquired
	first := !n.local && n.hub.numSubscribers(ch) == 0
	var top codec.StreamPosition
	if current && !lostPosition && p.flags&subPositioned != 0 {
		top, lostPosition = c.sendMissedLocked(ch, p, r.pos)
	} else if current && !lostPosition && first && historyEnabled(p.ns) {
		// A remote broker's first subscriber: later joiners get from history what
		// was published up to the top, Pub/Sub brings the rest.
		var err error
		if _, top, err = n.broker.History(n.ctx, ch, HistoryOptions{MetaTTL: metaTTL(p.ns)}); err != nil {
			n.log.Error("broker history failed", "channel", ch, "err", err)
			lostPosition = true
		}
	}
	j := joined{lostPosition: lostPosition}
	if current && !lostPosition {
		sub.joined = true
		n.hub.addSub(ch, c.entry(p))
		n.countAction(actAddSubscription)
		n.metrics.subsAccepted[c.nameIdx].Inc()
		n.metrics.subsInflight[c.nameIdx].Inc()
		if first {
			n.hub.setStreamPos(ch, top)
		}
		j.q, j.last = n.queueJoinLeave(ch, &info, p.flags, true)
	}
	n.brokerReleaseLocked(ch, p)
	return j
}

// sendMissedLocked enqueues to c the publications of ch after pos and reports
// whether pos is lost (epoch changed, or retention dropped what the client needs).
// It returns the stream top it read. Must hold ch's channel lock, so no publication
// is between append and fan-out (local broker) or being handed to the hub (remote
// broker). With a remote broker, c gets everything up to that top from history and
// its hub entry skips the publications up to it that Pub/Sub still brings.
func (c *Client) sendMissedLocked(ch string, p *subParams, pos codec.StreamPosition) (top codec.StreamPosition, lost bool) {
	n := c.node
	missed, top, err := n.broker.History(n.ctx, ch, HistoryOptions{
		Filter:  HistoryFilter{Since: &codec.StreamPosition{Offset: pos.Offset}, Limit: -1},
		MetaTTL: metaTTL(p.ns),
	})
	if err != nil {
		n.log.Error("broker history failed", "channel", ch, "err", err)
		return top, true
	}
	if top.Epoch != pos.Epoch {
		return top, true
	}
	upTo := top.Offset
	if !n.local {
		p.skipUpTo = upTo
	}
	if upTo <= pos.Offset {
		return top, false
	}
	if len(missed) == 0 || missed[0].Offset != pos.Offset+1 {
		return top, true
	}
	b := getBuf()
	var scratch []byte
	for _, pub := range missed {
		if p.filter != nil && !matchFilter(p.filter, pub.Tags) {
			continue
		}
		if p.delta {
			v := deltaVariant(c.proto, pub, pub.Data, false, &scratch)
			*b = codec.AppendPublicationPush(c.proto, (*b)[:0], ch, &v)
			p.deltaReady = true
		} else {
			*b = codec.AppendPublicationPush(c.proto, (*b)[:0], ch, pub)
		}
		c.enqueue(*b)
	}
	putBuf(b)
	return top, false
}

// entry builds c's hub entry for a subscription with p.
func (c *Client) entry(p *subParams) subEntry {
	e := subEntry{c: c}
	if jl := p.flags&subPushJoinLeave != 0; jl || p.delta || p.filter != nil || p.skipUpTo != 0 {
		e.x = &subExtras{joinLeave: jl, delta: p.delta, deltaReady: p.deltaReady, filter: p.filter, skipUpTo: p.skipUpTo}
	}
	return e
}

// insufficientState tells the client its position in ch is lost: an unsubscribe push
// 2500 for a client-side subscription (the SDK resubscribes and recovers), a 3010
// disconnect for a server-side one.
func (c *Client) insufficientState(ch string, serverSide bool) {
	if serverSide {
		c.Disconnect(DisconnectInsufficient)
		return
	}
	var buf [128]byte
	push := codec.AppendUnsubscribePush(c.proto, buf[:0], ch, 2500, "insufficient state")
	c.enqueue(push)
	c.countServerUnsubscribe(2500, len(push))
}

// recoverStream implements history-recovery.md §3.1 on pubs, the stream's
// publications after p.since (at most the recovery limit), and its top.
func recoverStream(pubs []*codec.Publication, top codec.StreamPosition, p *subParams, res *codec.SubscribeResult) {
	if p.since.Epoch != "" && p.since.Epoch != top.Epoch {
		return
	}
	if len(pubs) == 0 {
		res.Recovered = top.Offset == p.since.Offset
	} else {
		res.Recovered = pubs[0].Offset == p.since.Offset+1 && pubs[len(pubs)-1].Offset == top.Offset
	}
	if res.Recovered {
		res.Publications = pubs
		res.Offset = p.since.Offset
	}
}

// recoverCache implements the cache recovery mode of history-recovery.md §3.2 on
// latest, the stream's newest retained publication (at most one), and its top.
func recoverCache(latest []*codec.Publication, top codec.StreamPosition, p *subParams, res *codec.SubscribeResult) {
	hasState := p.since.Offset > 0 && p.since.Offset == top.Offset && p.since.Epoch == top.Epoch
	if len(latest) == 0 {
		res.Recovered = hasState
		if hasState {
			res.Offset = p.since.Offset
		}
		return
	}
	res.Recovered = latest[0].Offset == top.Offset
	if res.Recovered && !hasState {
		res.Publications = latest[:1]
	}
	if res.Recovered {
		res.Offset = p.since.Offset
	}
}

// detach removes c from ch: hub, presence, and a leave push to the others. It reports
// whether c was subscribed. Must not hold c.mu.
func (c *Client) detach(ch string) (*subscription, bool) {
	c.mu.Lock()
	sub, ok := c.subs.remove(ch)
	info := codec.ClientInfo{User: c.user, Client: c.id, ConnInfo: c.info}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	c.leave(ch, sub, &info)
	return sub, true
}

// leave undoes what joinSub did for sub, already removed from c.subs: hub entry,
// presence and a leave push. Under the channel lock, so it runs entirely before or
// after a joinSub of ch; a sub that never joined has nothing to undo. Must not hold
// c.mu.
func (c *Client) leave(ch string, sub *subscription, info *codec.ClientInfo) {
	n := c.node
	mu := n.chans.get(ch)
	mu.Lock()
	if !sub.joined {
		mu.Unlock()
		return
	}
	if n.hub.removeSub(ch, c) && n.pendingJoins(ch) == 0 {
		n.brokerUnsubscribeLocked(ch)
	}
	n.countAction(actRemoveSubscription)
	n.metrics.subsInflight[c.nameIdx].Dec()
	i := *info
	i.ChanInfo = sub.chanInfo
	q, last := n.queueJoinLeave(ch, &i, sub.flags, false)
	mu.Unlock()
	if last != nil {
		n.runEffects(q, last)
	}
}

// queueJoinLeave queues the effects of a join (or leave) of info to ch per the
// subscription's flags: the presence add (remove), then the join (leave) push, to
// the local subscribers with a local broker, through the broker (to every node,
// this one included) otherwise. It returns ch's queue and the last effect queued
// (nil: none), for runEffects once the channel lock is released. Must hold ch's
// channel lock.
func (n *Node) queueJoinLeave(ch string, info *codec.ClientInfo, flags subFlags, join bool) (*effectQueue, *chanEffect) {
	presence, joinLeave := flags&subPresence != 0, flags&subJoinLeave != 0
	if !presence && !joinLeave {
		return nil, nil
	}
	q := n.effects.queue(ch)
	var effs [2]chanEffect
	k := 0
	if presence {
		effs[k] = chanEffect{kind: effectPresenceRemove, ch: ch, info: *info}
		if join {
			effs[k].kind = effectPresenceAdd
		}
		k++
	}
	if joinLeave {
		effs[k] = chanEffect{kind: effectLeave, ch: ch, info: *info}
		if join {
			effs[k].kind = effectJoin
		}
		k++
	}
	if k == 1 {
		q.add(&effs[0])
	} else {
		q.add(&effs[0], &effs[1])
	}
	return q, &effs[k-1]
}
