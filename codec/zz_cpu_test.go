package codec

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, bm := range []struct {
		name string
		f    func(b *testing.B)
	}{
		{"AppendPublicationPush", BenchmarkAppendPublicationPush},
		{"AppendSmallPushes", BenchmarkAppendSmallPushes},
		{"AppendReply", BenchmarkAppendReply},
		{"DecodeCommand", BenchmarkDecodeCommand},
		{"ValidJSON", BenchmarkValidJSON},
		{"DecodeReply", BenchmarkDecodeReply},
	} {
		_ = bm
	}
	run := func(name string, n int, f func()) {
		f()
		best := 1e18
		for range 3 {
			start := cpuNow()
			k := 0
			for cpuNow()-start < 300*time.Millisecond {
				for range 1000 {
					f()
				}
				k += 1000
			}
			if d := float64(cpuNow()-start) / float64(k); d < best {
				best = d
			}
		}
		_ = n
		fmt.Printf("%-45s %8.1f ns/op (cpu)\n", name, best)
	}
	buf := make([]byte, 0, 8192)
	small := &Publication{Data: []byte(`{"input":"hello"}`), Offset: 42}
	it := &Publication{Data: []byte(`{"input":"hello"}`), Offset: 42, Info: sampleInfo(), Tags: map[string]string{"type": "msg", "room": "1", "prio": "high"}}
	big := &Publication{Data: benchPayload(1024), Offset: 42}
	info := &ClientInfo{User: "42", Client: "9f1c2b6e-5a4d-4e3b-8c7a-1d2e3f4a5b6c"}
	for _, p := range protocols {
		run(p.String()+" AppendPublicationPush small", 200000, func() { buf = AppendPublicationPush(p, buf[:0], "news:room1", small) })
		run(p.String()+" AppendPublicationPush info+3tags", 200000, func() { buf = AppendPublicationPush(p, buf[:0], "news:room1", it) })
		run(p.String()+" AppendPublicationPush 1KB", 200000, func() { buf = AppendPublicationPush(p, buf[:0], "news:room1", big) })
		run(p.String()+" AppendJoinPush", 200000, func() { buf = AppendJoinPush(p, buf[:0], "chat", info) })
		run(p.String()+" AppendErrorReply", 200000, func() { buf = AppendErrorReply(p, buf[:0], 7, 103, "permission denied", false) })
		run(p.String()+" AppendPing", 200000, func() { buf = AppendPing(p, buf[:0]) })
		for _, cc := range []struct {
			name string
			c    *Command
		}{
			{"pong", &Command{}},
			{"subscribe", &Command{ID: 2, Subscribe: &SubscribeRequest{Channel: "news:room1", Flag: 1}}},
			{"publish", &Command{ID: 3, Publish: &PublishRequest{Channel: "news:room1", Data: []byte(`{"input":"hello"}`)}}},
			{"publish1KB", &Command{ID: 3, Publish: &PublishRequest{Channel: "news:room1", Data: benchPayload(1024)}}},
		} {
			frame, _ := AppendCommand(p, nil, cc.c)
			d := NewCommandDecoder(p)
			var c Command
			run(p.String()+" Decode "+cc.name, 100000, func() { d.Reset(frame); _ = d.Decode(&c) })
		}
	}
	data := benchPayload(1024)
	run("ValidJSON 1KB", 20000, func() { ValidJSON(data) })
}
