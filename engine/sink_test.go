package engine

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/rotorhq/rotor/codec"
)

// sinkTransport copies each message into a fixed buffer, as a real transport copies
// into its pooled outbound chunks, without allocating.
type sinkTransport struct {
	proto codec.Protocol
	buf   [1024]byte
	n     atomic.Int64
}

func (t *sinkTransport) Protocol() codec.Protocol { return t.proto }
func (t *sinkTransport) Enqueue(msg []byte) error {
	copy(t.buf[:], msg)
	t.n.Add(1)
	return nil
}
func (t *sinkTransport) Close(Disconnect) {}

// subscribeSinks registers n subscribers of channel directly in the hub, half of them
// JSON and half Protobuf.
func subscribeSinks(tb testing.TB, node *Node, channel string, n int) []*sinkTransport {
	tb.Helper()
	sinks := make([]*sinkTransport, n)
	for i := range sinks {
		tr := &sinkTransport{proto: codec.Protocol(i % 2)}
		// With its transport's series, so that benchmarks and alloc tests count
		// deliveries as production does.
		c := &Client{node: node, t: tr, proto: tr.proto, state: stateConnected, id: strconv.Itoa(i), tm: node.metrics.transport("websocket")}
		c.tslot = -1
		node.hub.addSub(channel, subEntry{c: c})
		sinks[i] = tr
	}
	return sinks
}
