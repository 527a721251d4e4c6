package engine

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPublish measures Node.Publish with its channel lock: one channel with
// 100 subscribers, with and without history, and many channels published in
// parallel (unrelated channels must not wait on each other's fan-out).
func BenchmarkPublish(b *testing.B) {
	cfg := testConfig()
	cfg.Namespaces = append(cfg.Namespaces, NamespaceOptions{Name: "hist", HistorySize: 10, HistoryTTL: time.Minute})
	data := []byte(`{"price":42,"symbol":"ROTR"}`)
	for _, ch := range []string{"news", "hist:x"} {
		b.Run("channel="+ch+"/subs=100", func(b *testing.B) {
			node, err := New(withBroker(cfg), nil)
			if err != nil {
				b.Fatal(err)
			}
			subscribeSinks(b, node, ch, 100)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, _ = node.Publish(ch, data, PublishOptions{})
			}
		})
	}
	for _, prefix := range []string{"news", "hist:"} {
		b.Run("parallel/channel="+prefix+"*/channels=256/subs=100", func(b *testing.B) {
			node, err := New(withBroker(cfg), nil)
			if err != nil {
				b.Fatal(err)
			}
			chans := make([]string, 256)
			for i := range chans {
				chans[i] = fmt.Sprint(prefix, i)
				subscribeSinks(b, node, chans[i], 100)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1)) * 37
				for pb.Next() {
					i++
					_, _ = node.Publish(chans[i%len(chans)], data, PublishOptions{})
				}
			})
		})
	}
}
