package engine

import (
	"hash/maphash"
	"sync"
)

// chanLockCount is the size of the channel lock array. Channels share a lock only
// on a hash collision, so with 4096 locks (as centrifuge) two busy channels rarely
// wait on each other's fan-out, unlike the 64 stream shards that used to serve as
// publish locks.
const chanLockCount = 4096

// chanLocks serializes, per channel, everything whose order subscribers observe:
// each publication's append and fan-out, and a subscriber joining or leaving (hub
// entry, presence, join/leave push). Holding it over the fan-out is what makes every
// subscriber see one sequence; it is not held for anything else, so history reads
// and other channels' publications do not wait on it.
type chanLocks struct {
	seed  maphash.Seed
	locks [chanLockCount]paddedMutex
}

// paddedMutex keeps each lock on its own cache line so publishers of unrelated
// channels do not contend on a shared line.
type paddedMutex struct {
	sync.Mutex
	_ [64 - 8]byte
}

func newChanLocks() *chanLocks { return &chanLocks{seed: maphash.MakeSeed()} }

// get returns ch's lock. It allocates nothing.
func (l *chanLocks) get(ch string) *sync.Mutex { return l.at(l.index(ch)) }

// index returns the index of ch's lock, for taking several locks in index order.
func (l *chanLocks) index(ch string) int {
	return int(maphash.String(l.seed, ch) % chanLockCount)
}

// at returns the lock at index i.
func (l *chanLocks) at(i int) *sync.Mutex { return &l.locks[i].Mutex }
