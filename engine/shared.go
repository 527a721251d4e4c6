package engine

import "sync"

// SharedMessage is one encoded message a broadcast hands to many transports (a
// publication push in one protocol). Besides the message, it carries forms of it
// that transports derive once per broadcast and reuse for every connection that
// needs the same form: netio keeps the permessage-deflate frame here, so a
// compressed broadcast is compressed once per variant, not once per subscriber.
//
// A SharedMessage is valid only during the EnqueueShared call; transports copy
// what they keep. The broadcast that owns it calls EnqueueShared from one
// goroutine, so Derived needs no lock.
type SharedMessage struct {
	// Msg is the encoded message, as Transport.Enqueue would get it.
	Msg []byte
	// forms are the derived forms built so far in this broadcast.
	forms [maxSharedForms]sharedForm
	n     int
}

// maxSharedForms bounds the forms cached per message: one per compression setting
// in use (netio has one per server). More are built on every call.
const maxSharedForms = 4

type sharedForm struct {
	key   int
	buf   *[]byte
	start int
}

// SharedEnqueuer is a Transport that does better with a SharedMessage than with
// its bytes (e.g. it compresses them once per broadcast). The engine checks for
// it once per connection, when the client is created.
type SharedEnqueuer interface {
	// EnqueueShared is Enqueue for a message queued for many transports at once;
	// the same rules apply (never blocks, never retains m or its bytes).
	EnqueueShared(m *SharedMessage) error
	// SharesBroadcasts reports whether EnqueueShared is worth calling for this
	// connection; fixed for the connection's life.
	SharesBroadcasts() bool
}

// Derived returns the form of m identified by key, building it with build on the
// first call for that key in this broadcast. build appends the form to dst and
// returns the result and the offset where the form starts in it (so it may
// reserve room in front). The result is valid until the broadcast ends. key and
// build must correspond one to one; build should be a function value that does
// not capture (so passing it does not allocate).
func (m *SharedMessage) Derived(key int, build func(dst, msg []byte, key int) ([]byte, int)) []byte {
	for i := 0; i < m.n; i++ {
		if f := &m.forms[i]; f.key == key {
			return (*f.buf)[f.start:]
		}
	}
	b := getBuf()
	out, start := build((*b)[:0], m.Msg, key)
	*b = out
	if m.n == maxSharedForms {
		// Unreachable with one compression setting per server; stay correct anyway.
		form := append([]byte(nil), out[start:]...)
		putBuf(b)
		return form
	}
	m.forms[m.n] = sharedForm{key: key, buf: b, start: start}
	m.n++
	return out[start:]
}

var sharedPool = sync.Pool{New: func() any { return new(SharedMessage) }}

// getShared returns an empty SharedMessage for msg; the broadcast owns it until
// releaseShared.
func getShared(msg []byte) *SharedMessage {
	m := sharedPool.Get().(*SharedMessage)
	m.Msg = msg
	return m
}

func releaseShared(m *SharedMessage) {
	for i := 0; i < m.n; i++ {
		putBuf(m.forms[i].buf)
		m.forms[i] = sharedForm{}
	}
	m.n = 0
	m.Msg = nil
	sharedPool.Put(m)
}
