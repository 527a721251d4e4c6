//go:build !race

package engine

import (
	"testing"

	"github.com/rotorhq/rotor/codec"
)

// TestHandlePublicationAllocs: the remote broker's delivery into the node
// (HandlePublication: channel lock, position check, fan-out) allocates nothing per
// publication, with and without stream positions.
func TestHandlePublicationAllocs(t *testing.T) {
	r, pm := newLoopRemote(t)
	cfg := featureConfig()
	cfg.Broker, cfg.PresenceManager = r, pm
	node, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sinks := subscribeSinks(t, node, "feed:x", 1000)
	data := []byte(`{"price":42,"symbol":"ROTR"}`)
	info := &codec.ClientInfo{User: "7", Client: "c"}
	pub := codec.Publication{Data: data, Info: info}
	offset := uint64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		offset++
		pub.Offset = offset
		_ = node.HandlePublication("feed:x", &pub, codec.StreamPosition{Offset: offset, Epoch: "abcdefgh"}, false, nil)
	})
	if allocs != 0 {
		t.Fatalf("HandlePublication with positions to %d subscribers: %v allocs per run, want 0", len(sinks), allocs)
	}
	before := sinks[0].n.Load()
	if before < 1000 {
		t.Fatalf("subscriber received %d of the publications", before)
	}
	plain := codec.Publication{Data: data}
	allocs = testing.AllocsPerRun(1000, func() {
		_ = node.HandlePublication("feed:x", &plain, codec.StreamPosition{}, false, nil)
	})
	if allocs != 0 {
		t.Fatalf("HandlePublication without positions: %v allocs per run, want 0", allocs)
	}
	if sinks[1].n.Load() <= before {
		t.Fatal("subscribers received nothing")
	}
}
