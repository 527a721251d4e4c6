//go:build !race

package netio

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/engine"
)

// TestAllocsDeliveryThroughWorker counts allocations of whole deliveries on the
// real path: engine Node.Publish → hub broadcast → netio Enqueue → flush worker
// (woken, frames, sends with send(2)) → bytes read by N subscribed clients over
// loopback TCP. Each run publishes once and waits until every client has read the
// frame, so the workers' share is inside the count. testing.AllocsPerRun counts
// the whole process; the client goroutines read into fixed buffers and allocate
// nothing. The budget is 0.
func TestAllocsDeliveryThroughWorker(t *testing.T) {
	allocsDelivery(t, Config{}, "", nil)
}

// TestAllocsCompressedDeliveryThroughWorker is the same with permessage-deflate
// negotiated by every subscriber: the publication is compressed once per
// broadcast (engine.SharedMessage), and each delivery copies the frame. The
// budget is 0 per publish, so 0 per delivery.
func TestAllocsCompressedDeliveryThroughWorker(t *testing.T) {
	var shared atomic.Int64
	wrap := func(tr engine.Transport, _ *UpgradeRequest) engine.Transport {
		return &sharedCounter{conn: tr.(*conn), n: &shared}
	}
	allocsDelivery(t, Config{Compression: true, CompressionLevel: 1}, compressedHead, wrap)
	// Every delivery took the shared (compressed once per broadcast) path.
	if got := shared.Load(); got < 50*700 {
		t.Fatalf("%d shared enqueues, want one per delivery (%d)", got, 50*701)
	}
}

// sharedCounter is a compressing connection that counts EnqueueShared calls.
type sharedCounter struct {
	*conn
	n *atomic.Int64
}

func (s *sharedCounter) EnqueueShared(m *engine.SharedMessage) error {
	s.n.Add(1)
	return s.conn.EnqueueShared(m)
}

func allocsDelivery(t *testing.T, cfg Config, head string, wrap func(engine.Transport, *UpgradeRequest) engine.Transport) {
	const subscribers = 50
	ns := startNodeServer(t, cfg, engine.Config{Insecure: true, PingInterval: -1}, wrap)
	addr := ns.srv.Addr().String()
	// The reader that brings total to target wakes the publisher: blocking on a
	// channel (not spinning) lets the scheduler poll the network at once.
	var total, target atomic.Int64
	reached := make(chan struct{}, 1)
	per := make([]atomic.Int64, subscribers)
	for i := 0; i < subscribers; i++ {
		wc := dialSubscribeHead(t, nil, addr, "news", head)
		if wc.br.Buffered() != 0 {
			t.Fatal("unexpected data after the subscribe reply")
		}
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := wc.c.Read(buf)
				if err != nil {
					return
				}
				per[i].Add(int64(n))
				if tg := target.Load(); total.Add(int64(n)) >= tg && tg > 0 {
					select {
					case reached <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	data := []byte(`{"price":42,"symbol":"ROTR","text":"a publication of a realistic size, more or less"}`)
	// The first delivery fixes the frame size (no history: no offset, so every
	// frame is the same).
	if _, err := ns.node.Publish("news", data, engine.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range per {
		for deadline := time.Now().Add(10 * time.Second); per[i].Load() == 0; {
			if time.Now().After(deadline) {
				t.Fatalf("subscriber %d got nothing", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	frame := per[0].Load()
	for i := range per {
		if per[i].Load() != frame {
			t.Fatalf("subscriber %d got %d bytes, subscriber 0 %d", i, per[i].Load(), frame)
		}
	}
	publish := func() {
		select {
		case <-reached: // a stale wake-up
		default:
		}
		target.Store(total.Load() + frame*subscribers)
		if _, err := ns.node.Publish("news", data, engine.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		for total.Load() < target.Load() {
			<-reached
		}
	}
	for i := 0; i < 200; i++ {
		publish() // warm the pools
	}
	start := time.Now()
	allocs := testing.AllocsPerRun(500, publish)
	t.Logf("%v per publish", time.Since(start)/500)
	t.Logf("%.2f allocs per publish to %d subscribers (%d-byte frames)", allocs, subscribers, frame)
	if allocs != 0 {
		t.Errorf("%v allocs per publish delivered to %d subscribers through the workers, want 0", allocs, subscribers)
	}
}
