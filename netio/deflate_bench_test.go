package netio

import (
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rotorhq/rotor/engine"
)

// benchBook is a 900-byte JSON publication (an order book snapshot).
var benchBook = []byte(`{"symbol":"ROTR","bid":101.25,"ask":101.5,"venue":"XNAS","book":[` +
	strings.Repeat(`{"price":101.25,"size":300,"orders":4},`, 20) + `{"price":100,"size":1,"orders":1}]}`)

// BenchmarkAppendDeflate is the compression a broadcast does once per variant
// (and a connection does per batch): benchBook at the given level.
func BenchmarkAppendDeflate(b *testing.B) {
	for _, level := range []int{1, 6, 9} {
		b.Run("level="+string(rune('0'+level)), func(b *testing.B) {
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(benchBook)))
			for b.Loop() {
				dst = appendDeflate(dst[:0], benchBook, level)
			}
			b.ReportMetric(float64(len(dst)), "out-B")
		})
	}
}

// plainTransport hides engine.SharedEnqueuer, so a compressing connection gets
// broadcasts through Enqueue and compresses them per connection at flush time:
// what a broadcast would cost without the shared frame.
type plainTransport struct{ engine.Transport }

// BenchmarkCompressedDelivery measures whole deliveries of one publication to
// 200 subscribers through the engine, the flush workers and loopback TCP:
// uncompressed, compressed once per broadcast (the shared frame), and compressed
// once per connection (shared frame disabled). Each op publishes once and waits
// until every subscriber has read the frame. Besides ns/op it reports the
// process CPU time (user+system, from getrusage) per delivery, which includes
// the clients' reads, and the bytes each subscriber read per delivery.
//
//	go test -run '^$' -bench CompressedDelivery -benchtime 2000x ./netio
func BenchmarkCompressedDelivery(b *testing.B) {
	data := benchBook
	for _, tc := range []struct {
		name   string
		cfg    Config
		head   string
		shared bool
	}{
		{"plain", Config{}, "", true},
		{"deflate-shared", Config{Compression: true, CompressionLevel: 1}, compressedHead, true},
		{"deflate-per-conn", Config{Compression: true, CompressionLevel: 1}, compressedHead, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const subscribers = 200
			var wrap func(engine.Transport, *UpgradeRequest) engine.Transport
			if !tc.shared {
				wrap = func(t engine.Transport, _ *UpgradeRequest) engine.Transport { return plainTransport{t} }
			}
			ns := startNodeServer(b, tc.cfg, engine.Config{Insecure: true, PingInterval: -1}, wrap)
			addr := ns.srv.Addr().String()
			var total, target atomic.Int64
			reached := make(chan struct{}, 1)
			first := make(chan int64, subscribers)
			for i := 0; i < subscribers; i++ {
				wc := dialSubscribeHead(b, nil, addr, "bench", tc.head)
				go func() {
					buf := make([]byte, 16<<10)
					seen := false
					for {
						n, err := wc.c.Read(buf)
						if err != nil {
							return
						}
						if !seen {
							seen = true
							first <- int64(n)
						}
						if tg := target.Load(); total.Add(int64(n)) >= tg && tg > 0 {
							select {
							case reached <- struct{}{}:
							default:
							}
						}
					}
				}()
			}
			if _, err := ns.node.Publish("bench", data, engine.PublishOptions{}); err != nil {
				b.Fatal(err)
			}
			var frame int64
			for i := 0; i < subscribers; i++ {
				select {
				case n := <-first:
					frame = n
				case <-time.After(10 * time.Second):
					b.Fatal("a subscriber got nothing")
				}
			}
			publish := func() {
				select {
				case <-reached:
				default:
				}
				target.Store(total.Load() + frame*subscribers)
				if _, err := ns.node.Publish("bench", data, engine.PublishOptions{}); err != nil {
					b.Fatal(err)
				}
				for total.Load() < target.Load() {
					<-reached
				}
			}
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ReportAllocs()
			ops := 0
			for b.Loop() {
				publish()
				ops++
			}
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(ops*subscribers), "cpu-ns/delivery")
			b.ReportMetric(float64(frame), "wire-B/delivery")
		})
	}
}
