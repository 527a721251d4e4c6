//go:build !race

package netio

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestIdleStreamMemory measures what an idle uni_http_stream session costs the
// process (heap and goroutine stacks, engine session included) and pins a budget:
// a stream holds the goroutine fasthttp serves its connection on, its buffers and a
// small queue, and nothing grows while it idles.
func TestIdleStreamMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1000 connections")
	}
	const n = 1000
	node, addr := startStreamServer(t, 0)
	measure := func() (heap, stack uint64, g int) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine()
	}
	h0, s0, g0 := measure()
	for i := 0; i < n; i++ {
		openUni(t, addr, "idle", 0)
	}
	waitFor(t, "all subscribed", func() bool { return node.NumSubscribers("idle") == n })
	h1, s1, g1 := measure()
	heap, stack := (int64(h1)-int64(h0))/n, (int64(s1)-int64(s0))/n
	t.Logf("per idle stream: heap %d B, stacks %d B, goroutines %.2f (both ends of the connection are in this process)",
		heap, stack, float64(g1-g0)/n)
	if heap+stack > 96<<10 { // measured ≈59 KB: room for other machines, not for a second goroutine and pipe
		t.Fatalf("an idle stream costs %d B", heap+stack)
	}
}
