package redis

import (
	"testing"

	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/broker/redis/redistest"
)

// BenchmarkPubSubReceive prices one delivery from the rueidis hook to the
// handler: queue hand-off, envelope parse, Protobuf decode (a __p1 envelope
// with info and tags).
func BenchmarkPubSubReceive(b *testing.B) {
	h := &signalHandler{done: make(chan struct{}, 1024)}
	br, err := New(Options{Address: []string{redistest.Start(b).URL()}})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	ps, err := newPubSub(pubSubConfig{Prefix: "centrifugo", Shards: br.shards, ChannelID: br.clientChannel, Workers: 1}, h)
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range ps.workers {
		ps.wg.Add(1)
		go ps.runWorker(w)
	}
	defer ps.close()
	m := rueidis.PubSubMessage{Channel: "centrifugo.client.news", Message: "__p1:42:AbCd__" + pbPub}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ps.dispatch(m)
		if i%512 == 511 {
			for range 512 {
				<-h.done
			}
		}
	}
	for range b.N % 512 {
		<-h.done
	}
}

// BenchmarkDeliver is the decode and handler call alone.
func BenchmarkDeliver(b *testing.B) {
	h := &signalHandler{done: make(chan struct{}, 1)}
	var e envelope
	var d decoded
	msg := "__p1:42:AbCd__" + pbPub
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := deliver(h, "news", msg, &e, &d); err != nil {
			b.Fatal(err)
		}
		<-h.done
	}
}
