package engine

import (
	"fmt"
	"testing"

	"github.com/rotorhq/rotor/codec"
)

func BenchmarkHubBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			node, err := New(withBroker(testConfig()), nil)
			if err != nil {
				b.Fatal(err)
			}
			subscribeSinks(b, node, "news", n)
			pub := codec.Publication{Data: []byte(`{"price":42,"symbol":"ROTR"}`), Offset: 1}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				node.hub.broadcast("news", &pub, nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
