//go:build !race

package engine

import (
	"testing"

	"github.com/rotorhq/rotor/codec"
)

func TestBroadcastAllocsPerSubscriber(t *testing.T) {
	node, err := New(withBroker(testConfig()), nil)
	if err != nil {
		t.Fatal(err)
	}
	sinks := subscribeSinks(t, node, "news", 1000)
	data := []byte(`{"price":42,"symbol":"ROTR"}`)
	info := &codec.ClientInfo{User: "7", Client: "c"}
	tags := map[string]string{"k": "v"}
	allocs := testing.AllocsPerRun(1000, func() {
		pub := codec.Publication{Data: data, Info: info, Tags: tags, Offset: 9}
		node.hub.broadcast("news", &pub, nil)
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

// TestAllocsSharedBroadcast: a broadcast through transports that take shared
// messages (compressing netio connections) allocates nothing once pools are warm.
func TestAllocsSharedBroadcast(t *testing.T) {
	node := newTestNode(t, testConfig())
	for i := 0; i < 20; i++ {
		tr := &sharedSink{sinkTransport: sinkTransport{proto: codec.Protocol(i % 2)}, shares: true}
		c := node.NewClient(tr, nil)
		c.state = stateConnected
		node.hub.addSub("news", subEntry{c: c})
	}
	pub := &codec.Publication{Data: []byte(`{"x":1}`)}
	allocs := testing.AllocsPerRun(100, func() { node.hub.broadcast("news", pub, nil) })
	if allocs != 0 {
		t.Fatalf("%v allocs per shared broadcast to 20 subscribers", allocs)
	}
}
