package engine

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// blockingTransport blocks in its first Enqueue until released, standing for a
// fan-out that takes long (many subscribers).
type blockingTransport struct {
	entered, release chan struct{}
	once             sync.Once
}

func (t *blockingTransport) Protocol() codec.Protocol { return codec.ProtocolJSON }
func (t *blockingTransport) Close(Disconnect)         {}
func (t *blockingTransport) Enqueue([]byte) error {
	t.once.Do(func() {
		close(t.entered)
		<-t.release
	})
	return nil
}

// TestUnrelatedChannelsDoNotWaitOnFanout holds a fan-out of channel a (history on)
// in progress and checks that a publication to, and a history read of, another
// history channel b complete meanwhile. The stream shard lock used to be held across
// the fan-out, so b waited for a's subscribers; now the broker's locks are released
// when Publish returns, before the fan-out, and b is tried in many shards.
func TestUnrelatedChannelsDoNotWaitOnFanout(t *testing.T) {
	n := newTestNode(t, featureConfig())
	a := "feed:a"
	var bs []string
	for i := 0; i < 100000 && len(bs) < 256; i++ {
		ch := fmt.Sprint("feed:b", i)
		if n.chans.get(ch) != n.chans.get(a) {
			bs = append(bs, ch)
		}
	}
	if len(bs) < 256 {
		t.Fatal("every channel shares a's lock")
	}
	tr := &blockingTransport{entered: make(chan struct{}), release: make(chan struct{})}
	c := &Client{node: n, t: tr, proto: codec.ProtocolJSON, state: stateConnected, id: "slow"}
	c.tslot = -1
	n.hub.addSub(a, subEntry{c: c})
	go func() { _, _ = n.Publish(a, []byte(`{}`), PublishOptions{}) }()
	<-tr.entered
	defer close(tr.release)

	done := make(chan error, 1)
	go func() {
		for _, b := range bs {
			if _, err := n.Publish(b, []byte(`{}`), PublishOptions{}); err != nil {
				done <- err
				return
			}
			if _, err := n.History(HistoryRequest{Channel: b, Limit: -1}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("publishes to and history of other channels waited on the fan-out of %s", a)
	}
}
