package engine

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/rotorhq/rotor/codec"
)

// sharedSink is a transport that takes broadcasts as shared messages and derives
// a form from them, counting how often the form is built.
type sharedSink struct {
	sinkTransport
	shares bool
	builds *atomic.Int64
	last   []byte
}

func (t *sharedSink) SharesBroadcasts() bool { return t.shares }

func (t *sharedSink) EnqueueShared(m *SharedMessage) error {
	f := m.Derived(7, func(dst, msg []byte, key int) ([]byte, int) {
		sharedBuilds.Add(1)
		dst = append(dst, "....form:"...)
		return append(dst, msg...), 4
	})
	t.last = append(t.last[:0], f...)
	t.n.Add(1)
	return nil
}

// sharedBuilds counts form builds (the build function must not capture).
var sharedBuilds atomic.Int64

// TestSharedBroadcastBuildsOncePerVariant: a broadcast to many subscribers whose
// transports derive a form (netio: the compressed frame) builds it once per
// protocol, and every subscriber gets the same bytes; transports that do not share
// get plain Enqueue.
func TestSharedBroadcastBuildsOncePerVariant(t *testing.T) {
	node := newTestNode(t, testConfig())
	var sinks []*sharedSink
	for i := 0; i < 20; i++ {
		tr := &sharedSink{sinkTransport: sinkTransport{proto: codec.Protocol(i % 2)}, shares: i < 16}
		c := node.NewClient(tr, nil)
		c.state = stateConnected
		c.id = strconv.Itoa(i)
		node.hub.addSub("news", subEntry{c: c})
		sinks = append(sinks, tr)
	}
	before := sharedBuilds.Load()
	pub := &codec.Publication{Data: []byte(`{"x":1}`)}
	if n := node.hub.broadcast("news", pub, nil); n != 20 {
		t.Fatalf("delivered to %d", n)
	}
	if got := sharedBuilds.Load() - before; got != 2 {
		t.Fatalf("%d builds for one broadcast in two protocols, want 2", got)
	}
	for i, s := range sinks {
		if s.n.Load() != 1 {
			t.Fatalf("sink %d got %d", i, s.n.Load())
		}
		if i < 16 {
			want := "form:" + string(codec.AppendPublicationPush(s.proto, nil, "news", pub))
			if string(s.last) != want {
				t.Fatalf("sink %d: %q, want %q", i, s.last, want)
			}
		}
	}
}
