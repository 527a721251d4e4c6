package redis

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// BenchmarkPublishHistory publishes with history (the Lua script, auto-pipelined)
// from parallel goroutines over 64 channels.
func BenchmarkPublishHistory(b *testing.B) {
	srv := redistest.Start(b)
	br, err := New(Options{Address: []string{srv.URL()}})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	opts := &engine.BrokerPublishOptions{HistorySize: 100, HistoryTTL: time.Minute, HistoryMetaTTL: time.Hour}
	var n atomic.Uint64
	chans := make([]string, 64)
	for i := range chans {
		chans[i] = "bench" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.SetParallelism(32) // many callers, as API requests are: auto-pipelining batches them
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			pub := &codec.Publication{Data: []byte(`{"price":123.45,"symbol":"ABC"}`), Time: 1}
			if _, err := br.Publish(ctx, chans[i%64], pub, opts); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHistoryRead reads the 10 newest publications of a channel.
func BenchmarkHistoryRead(b *testing.B) {
	srv := redistest.Start(b)
	br, err := New(Options{Address: []string{srv.URL()}})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	opts := &engine.BrokerPublishOptions{HistorySize: 100, HistoryTTL: time.Minute}
	for i := 0; i < 100; i++ {
		if _, err := br.Publish(ctx, "h", &codec.Publication{Data: []byte(`{"i":1}`), Time: 1}, opts); err != nil {
			b.Fatal(err)
		}
	}
	hopts := engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: 10, Reverse: true}}
	b.ReportAllocs()
	b.SetParallelism(32) // many callers, as API requests are: auto-pipelining batches them
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if pubs, _, err := br.History(ctx, "h", hopts); err != nil || len(pubs) != 10 {
				b.Error(err, len(pubs))
				return
			}
		}
	})
}
