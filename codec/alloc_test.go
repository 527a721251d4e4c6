//go:build !race

package codec

import (
	"strconv"
	"testing"
)

// Allocation budgets. Encoders append into a buffer with enough capacity, as the engine
// does with its pooled buffers, so any allocation measured is the encoder's own.
func TestAllocsEncode(t *testing.T) {
	buf := make([]byte, 0, 64<<10)
	pub := samplePub() // info, 3 tags, every field set
	pub16, pub17 := samplePub(), samplePub()
	pub16.Tags, pub17.Tags = map[string]string{}, map[string]string{}
	for i := range sortBuf + 1 {
		if i < sortBuf {
			pub16.Tags["tag"+strconv.Itoa(i)] = strconv.Itoa(i)
		}
		pub17.Tags["tag"+strconv.Itoa(i)] = strconv.Itoa(i)
	}
	info := sampleInfo()
	connect := sampleReplies()[14].r
	for _, p := range protocols {
		cases := []struct {
			name   string
			budget float64
			f      func()
		}{
			{"AppendPublicationPush", 0, func() { buf = AppendPublicationPush(p, buf[:0], "news", pub) }},
			{"AppendPublicationPush/16tags", 0, func() { buf = AppendPublicationPush(p, buf[:0], "news", pub16) }},
			// Above sortBuf tags, one slice is allocated to sort them.
			{"AppendPublicationPush/17tags", 1, func() { buf = AppendPublicationPush(p, buf[:0], "news", pub17) }},
			{"AppendBarePublicationPush", 0, func() { buf = AppendBarePublicationPush(p, buf[:0], "news", pub) }},
			{"AppendJoinPush", 0, func() { buf = AppendJoinPush(p, buf[:0], "chat", info) }},
			{"AppendLeavePush", 0, func() { buf = AppendLeavePush(p, buf[:0], "chat", info) }},
			{"AppendUnsubscribePush", 0, func() { buf = AppendUnsubscribePush(p, buf[:0], "chat", 2500, "insufficient state") }},
			{"AppendPing", 0, func() { buf = AppendPing(p, buf[:0]) }},
			{"AppendErrorReply", 0, func() { buf = AppendErrorReply(p, buf[:0], 7, 103, "permission denied", false) }},
			// The generic encoder is not on a hot path but allocates nothing either.
			{"AppendReply/connect", 0, func() { buf, _ = AppendReply(p, buf[:0], connect) }},
		}
		for _, c := range cases {
			c.f() // warm up
			if n := testing.AllocsPerRun(1000, c.f); n != c.budget {
				t.Errorf("%s %s: %v allocs, budget %v", p, c.name, n, c.budget)
			}
		}
	}
}

// Decode budget: 0 for a pong; one per request struct plus one per non-empty string
// for everything else.
func TestAllocsDecode(t *testing.T) {
	cases := []struct {
		name   string
		cmd    *Command
		budget float64
	}{
		{"pong", &Command{}, 0},
		{"subscribe", &Command{ID: 2, Subscribe: &SubscribeRequest{Channel: "news", Flag: 1}}, 2},
		{"subscribe_recover", &Command{ID: 2, Subscribe: &SubscribeRequest{Channel: "news", Recover: true, Epoch: "abcd", Offset: 42, Flag: 1}}, 3},
		{"publish", &Command{ID: 3, Publish: &PublishRequest{Channel: "news", Data: []byte(`{"input":"hello"}`)}}, 2},
	}
	for _, p := range protocols {
		d := NewCommandDecoder(p)
		for _, c := range cases {
			frame, err := AppendCommand(p, nil, c.cmd)
			if err != nil {
				t.Fatal(err)
			}
			var cmd Command
			f := func() {
				d.Reset(frame)
				if err := d.Decode(&cmd); err != nil {
					t.Fatal(err)
				}
			}
			f()
			if n := testing.AllocsPerRun(1000, f); n != c.budget {
				t.Errorf("%s decode %s: %v allocs, budget %v", p, c.name, n, c.budget)
			}
		}
	}
	// ValidJSON never allocates.
	data := []byte(`{"a":[1,2,{"b":"c\u00e9"}],"d":null}`)
	if n := testing.AllocsPerRun(1000, func() { ValidJSON(data) }); n != 0 {
		t.Errorf("ValidJSON: %v allocs", n)
	}
}
