package engine

import (
	"hash/maphash"
	"sync"

	"github.com/rotorhq/rotor/codec"
)

// presenceStore is the in-memory presence map: channel → client ID → ClientInfo.
// Entries go away on unsubscribe and disconnect, so no TTL is needed on one node.
type presenceStore struct {
	seed   maphash.Seed
	shards [64]presenceShard
}

type presenceShard struct {
	mu       sync.RWMutex
	channels map[string]map[string]*codec.ClientInfo
}

func newPresenceStore() *presenceStore {
	p := &presenceStore{seed: maphash.MakeSeed()}
	for i := range p.shards {
		p.shards[i].channels = make(map[string]map[string]*codec.ClientInfo)
	}
	return p
}

func (p *presenceStore) shard(ch string) *presenceShard {
	return &p.shards[maphash.String(p.seed, ch)%uint64(len(p.shards))]
}

// add records info (not copied: the caller hands it over) under ch.
func (p *presenceStore) add(ch string, info *codec.ClientInfo) {
	sh := p.shard(ch)
	sh.mu.Lock()
	m := sh.channels[ch]
	if m == nil {
		m = make(map[string]*codec.ClientInfo, 1)
		sh.channels[ch] = m
	}
	m[info.Client] = info
	sh.mu.Unlock()
}

// replace swaps the entry of info.Client under ch for info (not copied), only when
// the client is listed: a caller racing with an unsubscribe must not bring back an
// entry the unsubscribe removed.
func (p *presenceStore) replace(ch string, info *codec.ClientInfo) {
	sh := p.shard(ch)
	sh.mu.Lock()
	if m := sh.channels[ch]; m != nil {
		if _, ok := m[info.Client]; ok {
			m[info.Client] = info
		}
	}
	sh.mu.Unlock()
}

func (p *presenceStore) remove(ch, clientID string) {
	sh := p.shard(ch)
	sh.mu.Lock()
	if m := sh.channels[ch]; m != nil {
		delete(m, clientID)
		if len(m) == 0 {
			delete(sh.channels, ch)
		}
	}
	sh.mu.Unlock()
}

// get returns a copy of ch's presence map (always non-nil).
func (p *presenceStore) get(ch string) map[string]*codec.ClientInfo {
	sh := p.shard(ch)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	out := make(map[string]*codec.ClientInfo, len(sh.channels[ch]))
	for id, info := range sh.channels[ch] {
		cp := *info
		out[id] = &cp
	}
	return out
}

func (p *presenceStore) stats(ch string) PresenceStats {
	sh := p.shard(ch)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	m := sh.channels[ch]
	users := make(map[string]struct{}, len(m))
	for _, info := range m {
		users[info.User] = struct{}{}
	}
	return PresenceStats{NumClients: uint32(len(m)), NumUsers: uint32(len(users))}
}
