//go:build !race

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
		c := &Client{node: node, t: tr, proto: tr.proto, state: stateConnected, id: strconv.Itoa(i)}
		c.tslot = -1
		node.hub.addSub(channel, c, nil)
		sinks[i] = tr
	}
	return sinks
}

func TestBroadcastAllocsPerSubscriber(t *testing.T) {
	node, err := New(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sinks := subscribeSinks(t, node, "news", 1000)
	data := []byte(`{"price":42,"symbol":"ROTR"}`)
	info := &codec.ClientInfo{User: "7", Client: "c"}
	tags := map[string]string{"k": "v"}
	allocs := testing.AllocsPerRun(1000, func() {
		pub := codec.Publication{Data: data, Info: info, Tags: tags, Offset: 9}
		node.hub.broadcast("news", &pub)
	})
	if allocs != 0 {
		t.Fatalf("hub broadcast to %d subscribers: %v allocs per run, want 0", len(sinks), allocs)
	}
	if sinks[0].n.Load() == 0 || sinks[1].n.Load() == 0 {
		t.Fatal("subscribers received nothing")
	}
	allocs = testing.AllocsPerRun(1000, func() {
		_, _ = node.Publish("news", data, PublishOptions{})
	})
	if allocs != 0 {
		t.Fatalf("Node.Publish to %d subscribers: %v allocs per run, want 0", len(sinks), allocs)
	}
}
