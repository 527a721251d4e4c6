package codec

import (
	"bytes"
	"strconv"
	"testing"
)

func benchPayload(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n-20; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":` + strconv.Itoa(i) + `,"v":"value"}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func BenchmarkAppendPublicationPush(b *testing.B) {
	pubs := []struct {
		name string
		pub  *Publication
	}{
		{"small", &Publication{Data: []byte(`{"input":"hello"}`), Offset: 42}},
		{"info_tags", &Publication{Data: []byte(`{"input":"hello"}`), Offset: 42, Info: sampleInfo(),
			Tags: map[string]string{"type": "msg", "room": "1", "prio": "high"}}},
		{"1KB", &Publication{Data: benchPayload(1024), Offset: 42}},
	}
	for _, p := range protocols {
		for _, pc := range pubs {
			b.Run(p.String()+"/"+pc.name, func(b *testing.B) {
				buf := make([]byte, 0, 4096)
				buf = AppendPublicationPush(p, buf, "news:room1", pc.pub)
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				for b.Loop() {
					buf = AppendPublicationPush(p, buf[:0], "news:room1", pc.pub)
				}
			})
		}
	}
}

func BenchmarkAppendSmallPushes(b *testing.B) {
	info := &ClientInfo{User: "42", Client: "9f1c2b6e-5a4d-4e3b-8c7a-1d2e3f4a5b6c"}
	for _, p := range protocols {
		b.Run(p.String()+"/join", func(b *testing.B) {
			buf := AppendJoinPush(p, nil, "chat", info)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendJoinPush(p, buf[:0], "chat", info)
			}
		})
		b.Run(p.String()+"/error", func(b *testing.B) {
			buf := AppendErrorReply(p, nil, 7, 103, "permission denied", false)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendErrorReply(p, buf[:0], 7, 103, "permission denied", false)
			}
		})
		b.Run(p.String()+"/ping", func(b *testing.B) {
			buf := AppendPing(p, nil)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendPing(p, buf[:0])
			}
		})
	}
}

func BenchmarkAppendReply(b *testing.B) {
	hist := &HistoryResult{Epoch: "abcd", Offset: 100}
	for i := range 100 {
		hist.Publications = append(hist.Publications, &Publication{Data: []byte(`{"input":"hello"}`), Offset: uint64(i + 1)})
	}
	replies := []struct {
		name string
		r    *Reply
	}{
		{"connect", &Reply{ID: 1, Connect: &ConnectResult{Client: "9f1c2b6e-5a4d-4e3b-8c7a-1d2e3f4a5b6c", Version: "6.9.1 OSS", Ping: 25, Pong: true}}},
		{"subscribe", &Reply{ID: 2, Subscribe: &SubscribeResult{Recoverable: true, Positioned: true, Epoch: "abcd", Offset: 100}}},
		{"history100", &Reply{ID: 3, History: hist}},
	}
	for _, p := range protocols {
		for _, rc := range replies {
			b.Run(p.String()+"/"+rc.name, func(b *testing.B) {
				buf, _ := AppendReply(p, nil, rc.r)
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				for b.Loop() {
					buf, _ = AppendReply(p, buf[:0], rc.r)
				}
			})
		}
	}
}

func BenchmarkDecodeCommand(b *testing.B) {
	cmds := []struct {
		name string
		c    *Command
	}{
		{"pong", &Command{}},
		{"subscribe", &Command{ID: 2, Subscribe: &SubscribeRequest{Channel: "news:room1", Flag: 1}}},
		{"publish", &Command{ID: 3, Publish: &PublishRequest{Channel: "news:room1", Data: []byte(`{"input":"hello"}`)}}},
		{"publish1KB", &Command{ID: 3, Publish: &PublishRequest{Channel: "news:room1", Data: benchPayload(1024)}}},
		{"connect", &Command{ID: 1, Connect: &ConnectRequest{Token: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.abcdefghijklmnopqrstuvwxyz012345678901234", Name: "js"}}},
	}
	for _, p := range protocols {
		for _, cc := range cmds {
			b.Run(p.String()+"/"+cc.name, func(b *testing.B) {
				frame, err := AppendCommand(p, nil, cc.c)
				if err != nil {
					b.Fatal(err)
				}
				d := NewCommandDecoder(p)
				var c Command
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				for b.Loop() {
					d.Reset(frame)
					if err := d.Decode(&c); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkValidJSON(b *testing.B) {
	data := benchPayload(1024)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if !ValidJSON(data) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkDecodeReply(b *testing.B) {
	for _, p := range protocols {
		b.Run(p.String()+"/publication_push", func(b *testing.B) {
			frame := AppendPublicationPush(p, nil, "news:room1", &Publication{Data: []byte(`{"input":"hello"}`), Offset: 42})
			d := NewReplyDecoder(p)
			var r Reply
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				d.Reset(frame)
				if err := d.Decode(&r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
