package engine

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// hub holds the node's subscriptions sharded by channel and its connections sharded
// by user. Lock order: hub shard → client.mu is forbidden (see LOCKS.md); hub shard
// (R) → transport outMu is allowed because outMu is a leaf.
type hub struct {
	seed  maphash.Seed
	mask  uint64
	subs  []subShard
	conns []connShard
	// m is the node's metrics; nil for a hub built alone (tests).
	m *nodeMetrics
}

type subShard struct {
	mu       sync.RWMutex
	channels map[string]*channelSubs
	_        [40]byte // keep shards on separate cache lines
}

// channelSubs is the subscriber set of one channel: a dense slice for the broadcast
// loop plus an index for O(1) removal.
type channelSubs struct {
	clients []subEntry
	index   map[*Client]int
	// pos is the last publication position delivered here by a remote broker (zero:
	// unknown). Guarded by the channel lock (chanLocks), not the shard lock.
	pos codec.StreamPosition
}

// subEntry is one subscriber and what its broadcasts need; it lives here, not in the
// client, so broadcasts never take client.mu. Plain subscriptions (no join/leave
// pushes, delta or filter) have x == nil, keeping entries at two words: the broadcast
// loop over 10k subscribers stays as dense as a slice of pointers.
type subEntry struct {
	c *Client
	x *subExtras
}

// subExtras are the per-subscriber options of non-plain subscriptions.
type subExtras struct {
	// joinLeave marks subscribers that receive join/leave pushes.
	joinLeave bool
	// delta marks a fossil delta subscription; deltaReady that it holds the previous
	// publication (written only under the channel's publish lock).
	delta, deltaReady bool
	// filter is the subscription's tags filter, nil for none.
	filter *codec.FilterNode
	// skipUpTo: publications at or below this offset are not pushed (subParams).
	skipUpTo uint64
}

type connShard struct {
	mu sync.RWMutex
	// users maps a user ID to its connections on this node ("" = anonymous).
	users map[string][]*Client
	n     int
	_     [40]byte
}

func newHub(shards int) *hub {
	h := &hub{
		seed:  maphash.MakeSeed(),
		mask:  uint64(shards - 1),
		subs:  make([]subShard, shards),
		conns: make([]connShard, shards),
	}
	for i := range h.subs {
		h.subs[i].channels = make(map[string]*channelSubs)
		h.conns[i].users = make(map[string][]*Client)
	}
	return h
}

func (h *hub) subShard(ch string) *subShard {
	return &h.subs[maphash.String(h.seed, ch)&h.mask]
}

func (h *hub) connShard(user string) *connShard {
	return &h.conns[maphash.String(h.seed, user)&h.mask]
}

// addSub adds e.c to channel's subscribers. Callers outside tests hold the channel
// lock (chanLocks), so that no publication is between append and fan-out while a
// subscriber joins. Must not hold c.mu.
func (h *hub) addSub(channel string, e subEntry) {
	sh := h.subShard(channel)
	sh.mu.Lock()
	cs := sh.channels[channel]
	if cs == nil {
		cs = &channelSubs{index: make(map[*Client]int, 1)}
		sh.channels[channel] = cs
	}
	if _, ok := cs.index[e.c]; !ok {
		cs.index[e.c] = len(cs.clients)
		cs.clients = append(cs.clients, e)
	}
	sh.mu.Unlock()
}

// removeSub removes c from channel and reports whether the channel has no local
// subscribers left. Must not hold c.mu.
func (h *hub) removeSub(channel string, c *Client) (last bool) {
	sh := h.subShard(channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cs := sh.channels[channel]
	if cs == nil {
		return false
	}
	i, ok := cs.index[c]
	if !ok {
		return false
	}
	lastIdx := len(cs.clients) - 1
	if i != lastIdx {
		moved := cs.clients[lastIdx]
		cs.clients[i] = moved
		cs.index[moved.c] = i
	}
	cs.clients[lastIdx] = subEntry{}
	cs.clients = cs.clients[:lastIdx]
	delete(cs.index, c)
	if len(cs.clients) == 0 {
		delete(sh.channels, channel)
		return true
	}
	return false
}

// numSubscribers returns the local subscriber count of channel.
func (h *hub) numSubscribers(channel string) int {
	sh := h.subShard(channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if cs := sh.channels[channel]; cs != nil {
		return len(cs.clients)
	}
	return 0
}

// broadcast delivers pub to every local subscriber of channel. The push is encoded
// at most once per protocol present and copied into each subscriber's outbound
// queue; nothing is allocated per subscriber. It returns the number of subscribers
// the message was queued for.
//
// prev is the previous publication's data of a delta-enabled publication (nil
// otherwise); delta subscribers then get a patch against it. Callers passing prev
// hold the channel's publish lock.
func (h *hub) broadcast(channel string, pub *codec.Publication, prev []byte) int {
	if h.m != nil {
		h.m.msgReceived[msgPublication].Inc()
	}
	sh := h.subShard(channel)
	sh.mu.RLock()
	cs := sh.channels[channel]
	if cs == nil {
		sh.mu.RUnlock()
		return 0
	}
	var started time.Time
	if h.m != nil {
		started = time.Now()
	}
	var encoded [2]*[]byte // indexed by codec.Protocol
	var shared [2]*SharedMessage
	var deltas *deltaCache
	var sent sentCounts
	n, filtered := 0, 0
	for i := range cs.clients {
		e := &cs.clients[i]
		if x := e.x; x != nil {
			if x.filter != nil && !matchFilter(x.filter, pub.Tags) {
				filtered++
				continue
			}
			if x.skipUpTo != 0 && pub.Offset != 0 && pub.Offset <= x.skipUpTo {
				continue // the subscriber got it with its subscription (remote broker)
			}
			if x.delta {
				if deltas == nil {
					deltas = new(deltaCache)
				}
				if size := h.sendDelta(e, channel, pub, prev, deltas); size > 0 {
					sent.add(e.c.tm, size)
				}
				n++
				continue
			}
		}
		c := e.c
		p := c.proto
		b := encoded[p]
		if b == nil {
			b = getBuf()
			*b = codec.AppendPublicationPush(p, (*b)[:0], channel, pub)
			encoded[p] = b
		}
		var err error
		if c.se != nil {
			// A transport that derives something from the push (a compressed
			// frame) does it once per variant through the shared message.
			if shared[p] == nil {
				shared[p] = getShared(*b)
			}
			err = c.se.EnqueueShared(shared[p])
		} else {
			err = c.t.Enqueue(*b)
		}
		if err != nil {
			c.enqueueFailed(err)
			continue
		}
		sent.add(c.tm, len(*b))
		n++
	}
	sh.mu.RUnlock()
	for i, b := range encoded {
		if b != nil {
			putBuf(b)
		}
		if shared[i] != nil {
			releaseShared(shared[i])
		}
	}
	if deltas != nil {
		deltas.release()
	}
	sent.flush(ftPushPublication)
	if h.m != nil {
		if filtered > 0 {
			h.m.tagsFilterDropped.Add(filtered)
		}
		h.m.broadcastDuration.Update(time.Since(started).Seconds())
	}
	return n
}

// sentCounts adds up, during one broadcast, the messages and bytes queued per
// transport, so that the transport counters take one atomic add per broadcast
// rather than one per subscriber. A channel's subscribers use one or two transports;
// a third one is counted directly.
type sentCounts [2]struct {
	tm       *transportMetrics
	n, bytes int
}

// add counts one message of size bytes queued on a tm connection (nil: a client
// without metrics, in tests).
func (s *sentCounts) add(tm *transportMetrics, size int) {
	for i := range s {
		e := &s[i]
		if e.tm == tm {
			e.n++
			e.bytes += size
			return
		}
		if e.tm == nil {
			e.tm, e.n, e.bytes = tm, 1, size
			return
		}
	}
	if tm != nil {
		tm.sent[ftPushPublication].Inc()
		tm.sentSize[ftPushPublication].Add(size)
	}
}

// flush adds the counts to the ft series of each transport.
func (s *sentCounts) flush(ft frameType) {
	for i := range s {
		if e := &s[i]; e.tm != nil {
			e.tm.sent[ft].Add(e.n)
			e.tm.sentSize[ft].Add(e.bytes)
		}
	}
}

// broadcastJoinLeave pushes a join (or leave) of info to the subscribers of channel
// that asked for join/leave pushes.
func (h *hub) broadcastJoinLeave(channel string, info *codec.ClientInfo, join bool) {
	if h.m != nil {
		if join {
			h.m.msgReceived[msgJoin].Inc()
		} else {
			h.m.msgReceived[msgLeave].Inc()
		}
	}
	sh := h.subShard(channel)
	sh.mu.RLock()
	cs := sh.channels[channel]
	if cs == nil {
		sh.mu.RUnlock()
		return
	}
	var encoded [2]*[]byte
	var sent sentCounts
	for i := range cs.clients {
		e := &cs.clients[i]
		if e.x == nil || !e.x.joinLeave {
			continue
		}
		p := e.c.proto
		b := encoded[p]
		if b == nil {
			b = getBuf()
			if join {
				*b = codec.AppendJoinPush(p, (*b)[:0], channel, info)
			} else {
				*b = codec.AppendLeavePush(p, (*b)[:0], channel, info)
			}
			encoded[p] = b
		}
		if err := e.c.t.Enqueue(*b); err != nil {
			e.c.enqueueFailed(err)
			continue
		}
		sent.add(e.c.tm, len(*b))
	}
	sh.mu.RUnlock()
	if join {
		sent.flush(ftPushJoin)
	} else {
		sent.flush(ftPushLeave)
	}
	for _, b := range encoded {
		if b != nil {
			putBuf(b)
		}
	}
}

// channels returns the channels with local subscribers and their counts, filtered by
// match when not nil.
func (h *hub) channels(match func(string) bool) map[string]ChannelInfo {
	out := make(map[string]ChannelInfo)
	for i := range h.subs {
		sh := &h.subs[i]
		sh.mu.RLock()
		for ch, cs := range sh.channels {
			if match == nil || match(ch) {
				out[ch] = ChannelInfo{NumClients: uint32(len(cs.clients))}
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// userConns returns a snapshot of user's connections on this node.
func (h *hub) userConns(user string) []*Client {
	sh := h.connShard(user)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return append([]*Client(nil), sh.users[user]...)
}

// addConn registers c under its user. Must not hold c.mu.
func (h *hub) addConn(c *Client) {
	sh := h.connShard(c.user)
	sh.mu.Lock()
	sh.users[c.user] = append(sh.users[c.user], c)
	sh.n++
	sh.mu.Unlock()
}

// removeConn unregisters c. Must not hold c.mu.
func (h *hub) removeConn(c *Client) {
	sh := h.connShard(c.user)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.users[c.user]
	for i, x := range list {
		if x == c {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			list = list[:last]
			sh.n--
			if len(list) == 0 {
				delete(sh.users, c.user)
			} else {
				sh.users[c.user] = list
			}
			return
		}
	}
}

// counts returns connection, user, channel and subscription totals.
func (h *hub) counts() (clients, users, channels, subs int) {
	for i := range h.conns {
		sh := &h.conns[i]
		sh.mu.RLock()
		clients += sh.n
		users += len(sh.users)
		sh.mu.RUnlock()
	}
	for i := range h.subs {
		sh := &h.subs[i]
		sh.mu.RLock()
		channels += len(sh.channels)
		for _, cs := range sh.channels {
			subs += len(cs.clients)
		}
		sh.mu.RUnlock()
	}
	return
}

// eachConn calls fn for every registered connection, outside the shard locks.
func (h *hub) eachConn(fn func(*Client)) {
	var batch []*Client
	for i := range h.conns {
		sh := &h.conns[i]
		sh.mu.RLock()
		for _, list := range sh.users {
			batch = append(batch, list...)
		}
		sh.mu.RUnlock()
	}
	for _, c := range batch {
		fn(c)
	}
}

// Buffer pool for per-broadcast and per-reply encoding. *[]byte so Put does not
// allocate.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // let oversized buffers go rather than pin them
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
