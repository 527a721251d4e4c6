package engine

import (
	"crypto/rand"
	"hash/maphash"
	"sync"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// streamStore is the in-memory stream engine (history-recovery.md §1, §4): per channel
// a bounded list of publications with offsets, an epoch, a retention and a meta TTL,
// plus the idempotency cache. A shard mutex guards the shard's maps and streams; it
// is held only for reads and updates, never across a fan-out. Publication order is
// the business of the per-channel lock (chanLocks), which publishers hold around
// append and fan-out, and which joinSub takes before this one so that a positioned
// subscriber joins the hub without gap or duplicate.
type streamStore struct {
	seed   maphash.Seed
	shards [64]streamShard
}

type streamShard struct {
	mu      sync.Mutex
	streams map[string]*stream
	idem    map[string]idemEntry // channel + "_" + key
}

type stream struct {
	epoch string
	top   uint64
	// pubs holds the retained publications, oldest first; each Publication's Offset
	// is set.
	pubs []*codec.Publication
	// retainUntil is when pubs are dropped (unix nanos); metaUntil when the whole
	// stream, epoch included, is forgotten.
	retainUntil, metaUntil int64
	// prevData is the payload of the channel's last publication, the base of the next
	// delta (namespaces allowing fossil deltas only). Guarded by the channel lock
	// (chanLocks), not the shard lock: only publishers touch it.
	prevData []byte
}

type idemEntry struct {
	res   PublishResult
	until int64
}

const idempotencyWindow = 300 * time.Second

func newStreamStore() *streamStore {
	s := &streamStore{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].streams = make(map[string]*stream)
		s.shards[i].idem = make(map[string]idemEntry)
	}
	return s
}

func (s *streamStore) shard(ch string) *streamShard {
	return &s.shards[maphash.String(s.seed, ch)%uint64(len(s.shards))]
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

// appendLocked stores pub (copying nothing: the caller hands over ownership) and
// sets its offset. Must hold the stream's shard lock.
func (st *stream) appendLocked(pub *codec.Publication, size int, ttl time.Duration, now int64) {
	st.top++
	pub.Offset = st.top
	if pub.Offset == 1 {
		// The first publication of an epoch carries it (client-protocol.md §3.3, as
		// Centrifugo v6.9), in its push and in history and recovery replies alike, so
		// that clients learn the epoch from the stream itself.
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
		return nil, ErrorUnrecoverablePosition
	}
	if limit == 0 || len(st.pubs) == 0 {
		return nil, nil
	}
	var sel []*codec.Publication
	switch {
	case !reverse:
		from := 0
		if since != nil {
			for from < len(st.pubs) && st.pubs[from].Offset <= since.Offset {
				from++
			}
		}
		sel = st.pubs[from:]
		if limit > 0 && len(sel) > limit {
			sel = sel[:limit]
		}
		return append([]*codec.Publication(nil), sel...), nil
	default:
		to := len(st.pubs)
		if since != nil {
			for to > 0 && st.pubs[to-1].Offset >= since.Offset {
				to--
			}
		}
		out := make([]*codec.Publication, 0, to)
		for i := to - 1; i >= 0 && (limit < 0 || len(out) < limit); i-- {
			out = append(out, st.pubs[i])
		}
		return out, nil
	}
}

// sweep forgets expired streams and idempotency entries. Called periodically.
func (s *streamStore) sweep(now int64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
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
		sh.mu.Unlock()
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
			panic("engine: crypto/rand failed: " + err.Error())
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
