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
