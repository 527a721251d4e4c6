// Package memory is Rotor's single-node broker: channel streams with offsets, epochs,
// retention and meta TTL, the idempotency cache, delta bases (Broker), presence
// (PresenceManager) and a control transport that loops back to the node
// (Controller). It implements the interfaces of engine/broker.go; Local reports
// true, so the engine fans out publications itself under its channel lock.
package memory

import (
	"context"
	"crypto/rand"
	"hash/maphash"
	"sync"
	"time"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// Broker is the in-memory engine.Broker, engine.PresenceManager and
// engine.Controller. The zero value is not usable; call New.
type Broker struct {
	seed     maphash.Seed
	shards   [64]streamShard
	presence [64]presenceShard

	ctlMu   sync.RWMutex
	nodeID  string
	control engine.ControlEventHandler
}

var (
	_ engine.Broker          = (*Broker)(nil)
	_ engine.PresenceManager = (*Broker)(nil)
	_ engine.Controller      = (*Broker)(nil)
)

// sweepEvery is how often a shard drops expired streams and idempotency entries; the
// sweep runs on the next access to the shard after that, so the broker needs no
// goroutine.
const sweepEvery = 10 * time.Second

// defaultIdempotentResultTTL applies when BrokerPublishOptions.IdempotentResultTTL is 0
// (Centrifugo's 5 minutes).
const defaultIdempotentResultTTL = 300 * time.Second

// New returns an empty broker.
func New() *Broker {
	b := &Broker{seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].streams = make(map[string]*stream)
		b.shards[i].idem = make(map[string]idemEntry)
	}
	for i := range b.presence {
		b.presence[i].channels = make(map[string]map[string]*codec.ClientInfo)
	}
	return b
}

// streamShard guards the streams and idempotency entries of the channels hashed to
// it. Held only for short reads and updates, never across a fan-out (the engine
// fans out after Publish returns).
type streamShard struct {
	mu        sync.Mutex
	streams   map[string]*stream
	idem      map[string]idemEntry // channel + "_" + key
	lastSweep int64
}

type stream struct {
	epoch string
	top   uint64
	// pubs holds the retained publications, oldest first, each with its Offset set.
	pubs []*codec.Publication
	// retainUntil is when pubs are dropped (unix nanos); metaUntil when the whole
	// stream, epoch included, is forgotten (0: never).
	retainUntil, metaUntil int64
	// version and versionEpoch are the last versioned publication's (versioned
	// publish suppresses older ones).
	version      uint64
	versionEpoch string
	// prevData is the payload of the channel's last publication in a delta
	// namespace, the base of the next delta.
	prevData []byte
}

type idemEntry struct {
	pos   codec.StreamPosition
	until int64
}

func (b *Broker) shard(ch string) *streamShard {
	return &b.shards[maphash.String(b.seed, ch)%uint64(len(b.shards))]
}

// RegisterBrokerEventHandler implements engine.Broker. A local broker never calls
// the handler, so it keeps nothing.
func (b *Broker) RegisterBrokerEventHandler(engine.BrokerEventHandler) error { return nil }

// Local implements engine.Broker: true.
func (b *Broker) Local() bool { return true }

// Subscribe implements engine.Broker: nothing to do on one node.
func (b *Broker) Subscribe(context.Context, string) error { return nil }

// Unsubscribe implements engine.Broker: nothing to do on one node.
func (b *Broker) Unsubscribe(context.Context, string) error { return nil }

// PublishJoin implements engine.Broker: the engine pushes joins itself.
func (b *Broker) PublishJoin(context.Context, string, *codec.ClientInfo) error { return nil }

// PublishLeave implements engine.Broker: the engine pushes leaves itself.
func (b *Broker) PublishLeave(context.Context, string, *codec.ClientInfo) error { return nil }

// Publish implements engine.Broker: idempotency check, versioned publish check,
// stream append, delta base. It keeps pub when the channel has history.
func (b *Broker) Publish(_ context.Context, ch string, pub *codec.Publication, opts *engine.BrokerPublishOptions) (engine.BrokerPublishResult, error) {
	now := time.Now().UnixNano()
	sh := b.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.maybeSweep(now)
	idemKey := ""
	if opts.IdempotencyKey != "" {
		idemKey = ch + "_" + opts.IdempotencyKey
		if e, ok := sh.idem[idemKey]; ok && now < e.until {
			return engine.BrokerPublishResult{Position: e.pos, Suppressed: true}, nil
		}
	}
	keep := opts.HistorySize > 0 && opts.HistoryTTL > 0
	var res engine.BrokerPublishResult
	if keep || opts.DeltaNamespace || opts.UseDelta {
		st := sh.getLocked(ch, now, opts.HistoryMetaTTL)
		if keep && opts.Version > 0 && (opts.VersionEpoch == "" || opts.VersionEpoch == st.versionEpoch) && opts.Version <= st.version {
			return engine.BrokerPublishResult{Position: codec.StreamPosition{Offset: st.top, Epoch: st.epoch}, Suppressed: true}, nil
		}
		if keep {
			st.appendLocked(pub, opts.HistorySize, opts.HistoryTTL, now)
			res.Position = codec.StreamPosition{Offset: pub.Offset, Epoch: st.epoch}
			if opts.Version > 0 {
				st.version, st.versionEpoch = opts.Version, opts.VersionEpoch
			}
		}
		if opts.UseDelta {
			res.PrevData = st.prevData
		}
		if opts.DeltaNamespace || opts.UseDelta {
			st.prevData = pub.Data
		}
	}
	if idemKey != "" {
		ttl := opts.IdempotentResultTTL
		if ttl <= 0 {
			ttl = defaultIdempotentResultTTL
		}
		sh.idem[idemKey] = idemEntry{pos: res.Position, until: now + int64(ttl)}
	}
	return res, nil
}

// History implements engine.Broker. The publications returned are the stored ones.
func (b *Broker) History(_ context.Context, ch string, opts engine.HistoryOptions) ([]*codec.Publication, codec.StreamPosition, error) {
	now := time.Now().UnixNano()
	sh := b.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.maybeSweep(now)
	st := sh.getLocked(ch, now, opts.MetaTTL)
	pos := codec.StreamPosition{Offset: st.top, Epoch: st.epoch}
	pubs, err := st.query(opts.Filter.Since, opts.Filter.Limit, opts.Filter.Reverse)
	return pubs, pos, err
}

// RemoveHistory implements engine.Broker: the stream's position and epoch stay.
func (b *Broker) RemoveHistory(_ context.Context, ch string) error {
	sh := b.shard(ch)
	sh.mu.Lock()
	if st := sh.streams[ch]; st != nil {
		st.pubs = nil
		st.retainUntil = 0
	}
	sh.mu.Unlock()
	return nil
}

// getLocked returns ch's live stream, creating it with a fresh epoch when missing or
// expired, and extends its meta TTL. Must hold sh.mu.
func (sh *streamShard) getLocked(ch string, now int64, metaTTL time.Duration) *stream {
	st := sh.streams[ch]
	if st != nil && st.metaUntil != 0 && now >= st.metaUntil {
		st = nil
	}
	if st == nil {
		st = &stream{epoch: newEpoch()}
		sh.streams[ch] = st
	}
	if st.retainUntil != 0 && now >= st.retainUntil {
		st.pubs = nil
		st.retainUntil = 0
	}
	if metaTTL > 0 {
		st.metaUntil = now + int64(metaTTL)
	}
	return st
}

// appendLocked stores pub (not copied: the caller hands it over) and sets its offset.
// Must hold the stream's shard lock.
func (st *stream) appendLocked(pub *codec.Publication, size int, ttl time.Duration, now int64) {
	st.top++
	pub.Offset = st.top
	if pub.Offset == 1 {
		// The first publication of an epoch carries it (client-protocol.md §3.3, as
		// Centrifugo v6.9), in its push and in history and recovery replies alike.
		pub.Epoch = st.epoch
	}
	if len(st.pubs) >= size {
		n := copy(st.pubs, st.pubs[len(st.pubs)-size+1:])
		for i := n; i < len(st.pubs); i++ {
			st.pubs[i] = nil
		}
		st.pubs = st.pubs[:n]
	}
	st.pubs = append(st.pubs, pub)
	st.retainUntil = now + int64(ttl)
}

// query returns publications per history-recovery.md §2. limit < 0 means all.
func (st *stream) query(since *codec.StreamPosition, limit int, reverse bool) ([]*codec.Publication, error) {
	if since != nil && since.Epoch != "" && since.Epoch != st.epoch {
		return nil, engine.ErrorUnrecoverablePosition
	}
	if limit == 0 || len(st.pubs) == 0 {
		return nil, nil
	}
	if !reverse {
		from := 0
		if since != nil {
			for from < len(st.pubs) && st.pubs[from].Offset <= since.Offset {
				from++
			}
		}
		sel := st.pubs[from:]
		if limit > 0 && len(sel) > limit {
			sel = sel[:limit]
		}
		if len(sel) == 0 {
			return nil, nil
		}
		return append([]*codec.Publication(nil), sel...), nil
	}
	to := len(st.pubs)
	if since != nil {
		for to > 0 && st.pubs[to-1].Offset >= since.Offset {
			to--
		}
	}
	n := to
	if limit > 0 && n > limit {
		n = limit
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]*codec.Publication, 0, n)
	for i := to - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, st.pubs[i])
	}
	return out, nil
}

// maybeSweep forgets the shard's expired streams and idempotency entries when the
// last sweep is sweepEvery old. Must hold sh.mu.
func (sh *streamShard) maybeSweep(now int64) {
	if now-sh.lastSweep < int64(sweepEvery) {
		return
	}
	sh.lastSweep = now
	for ch, st := range sh.streams {
		if st.metaUntil != 0 && now >= st.metaUntil {
			delete(sh.streams, ch)
		} else if st.retainUntil != 0 && now >= st.retainUntil {
			st.pubs = nil
			st.retainUntil = 0
		}
	}
	for k, e := range sh.idem {
		if now >= e.until {
			delete(sh.idem, k)
		}
	}
}

const epochLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// newEpoch returns 8 letters drawn uniformly from [a-zA-Z].
func newEpoch() string {
	var b [8]byte
	var r [16]byte
	out := b[:0]
	for len(out) < 8 {
		if _, err := rand.Read(r[:]); err != nil {
			panic("memory: crypto/rand failed: " + err.Error())
		}
		for _, x := range r {
			// 52*4 = 208: reject bytes ≥ 208 to keep the draw uniform.
			if x < 208 && len(out) < 8 {
				out = append(out, epochLetters[x%52])
			}
		}
	}
	return string(out)
}

// RegisterControlEventHandler implements engine.Controller.
func (b *Broker) RegisterControlEventHandler(nodeID string, h engine.ControlEventHandler) error {
	b.ctlMu.Lock()
	b.nodeID, b.control = nodeID, h
	b.ctlMu.Unlock()
	return nil
}

// PublishControl implements engine.Controller: a message for all nodes or for this
// node goes to this node's handler, on the caller's goroutine; one for another node
// goes nowhere (there is none).
func (b *Broker) PublishControl(_ context.Context, data []byte, nodeID string) error {
	b.ctlMu.RLock()
	h, self := b.control, b.nodeID
	b.ctlMu.RUnlock()
	if h == nil || (nodeID != "" && nodeID != self) {
		return nil
	}
	return h.HandleControl(data)
}
