package memory

import (
	"context"
	"hash/maphash"
	"sync"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// presenceShard maps channel → client ID → ClientInfo for the channels hashed to it.
// Entries go away on unsubscribe and disconnect, so no TTL is needed on one node.
type presenceShard struct {
	mu       sync.RWMutex
	channels map[string]map[string]*codec.ClientInfo
}

func (b *Broker) presenceShard(ch string) *presenceShard {
	return &b.presence[maphash.String(b.seed, ch)%uint64(len(b.presence))]
}

// AddPresence implements engine.PresenceManager. info is kept, not copied.
func (b *Broker) AddPresence(_ context.Context, ch, clientID string, info *codec.ClientInfo) error {
	sh := b.presenceShard(ch)
	sh.mu.Lock()
	m := sh.channels[ch]
	if m == nil {
		m = make(map[string]*codec.ClientInfo, 1)
		sh.channels[ch] = m
	}
	m[clientID] = info
	sh.mu.Unlock()
	return nil
}

// RemovePresence implements engine.PresenceManager.
func (b *Broker) RemovePresence(_ context.Context, ch, clientID, _ string) error {
	sh := b.presenceShard(ch)
	sh.mu.Lock()
	if m := sh.channels[ch]; m != nil {
		delete(m, clientID)
		if len(m) == 0 {
			delete(sh.channels, ch)
		}
	}
	sh.mu.Unlock()
	return nil
}

// Presence implements engine.PresenceManager: a copy of ch's entries.
func (b *Broker) Presence(_ context.Context, ch string) (map[string]*codec.ClientInfo, error) {
	sh := b.presenceShard(ch)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	out := make(map[string]*codec.ClientInfo, len(sh.channels[ch]))
	for id, info := range sh.channels[ch] {
		cp := *info
		out[id] = &cp
	}
	return out, nil
}

// PresenceStats implements engine.PresenceManager.
func (b *Broker) PresenceStats(_ context.Context, ch string) (engine.PresenceStats, error) {
	sh := b.presenceShard(ch)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	m := sh.channels[ch]
	users := make(map[string]struct{}, len(m))
	for _, info := range m {
		users[info.User] = struct{}{}
	}
	return engine.PresenceStats{NumClients: uint32(len(m)), NumUsers: uint32(len(users))}, nil
}
