package engine

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentPublishersOneOrder publishes from several goroutines at once to one
// channel per namespace kind and checks that every subscriber receives the same
// sequence: the per-channel publish lock serializes publications with and without
// history alike (ARCHITECTURE.md §3, rule a).
func TestConcurrentPublishersOneOrder(t *testing.T) {
	for _, ch := range []string{"news", "feed:x", "room:x"} {
		t.Run(ch, func(t *testing.T) {
			n := newTestNode(t, featureConfig())
			const subscribers, publishers, perPublisher = 16, 8, 300
			trs := make([]*fakeTransport, subscribers)
			for i := range trs {
				c, tr := connected(t, n, fmt.Sprint("u", i))
				send(t, c, tr, fmt.Sprintf(`{"id":2,"subscribe":{"channel":%q}}`, ch))
				trs[i] = tr
			}
			if ch == "room:x" {
				// Join pushes of later subscribers precede the test's publications.
				time.Sleep(10 * time.Millisecond)
			}
			start := make([]int, subscribers)
			for i, tr := range trs {
				start[i] = len(tr.messages())
			}
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for p := 0; p < publishers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					for i := 0; i < perPublisher; i++ {
						data := []byte(fmt.Sprintf(`{"p":%d,"i":%d}`, p, i))
						if _, err := n.Publish(ch, data, PublishOptions{}); err != nil {
							t.Error(err)
							return
						}
						if i%16 == 0 {
							runtime.Gosched()
						}
					}
				}()
			}
			close(gate)
			wg.Wait()
			want := trs[0].messages()[start[0]:]
			if len(want) != publishers*perPublisher {
				t.Fatalf("subscriber 0 got %d publications, want %d", len(want), publishers*perPublisher)
			}
			for s := 1; s < subscribers; s++ {
				got := trs[s].messages()[start[s]:]
				if len(got) != len(want) {
					t.Fatalf("subscriber %d got %d publications, want %d", s, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("subscriber %d diverges from subscriber 0 at message %d: %s vs %s", s, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// TestPositionedSubscribeDuringPublishes subscribes positioned clients while
// publishers run and checks that each receives, after its subscribe reply, every
// offset after the reply's exactly once and in order: joinSub's catch-up and the
// publishers' fan-out interlock on the channel lock.
func TestPositionedSubscribeDuringPublishes(t *testing.T) {
	cfg := featureConfig()
	cfg.Namespaces = append(cfg.Namespaces, NamespaceOptions{
		Name: "pos", HistorySize: 100000, HistoryTTL: time.Minute, ForcePositioning: true,
		AllowSubscribeForClient: true,
	})
	// A loaded machine can stretch the run past the ping interval; a ping between
	// publications is not what this test counts.
	cfg.PingInterval = -1
	n := newTestNode(t, cfg)
	const publishers, subscribers = 4, 100
	var (
		wg        sync.WaitGroup
		stop      atomic.Bool
		published atomic.Uint64
	)
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := n.Publish("pos:x", []byte(`{}`), PublishOptions{}); err != nil {
					t.Error(err)
					return
				}
				published.Add(1)
			}
		}()
	}
	type sub struct {
		tr    *fakeTransport
		reply int
	}
	subs := make([]sub, subscribers)
	for i := range subs {
		c, tr := connected(t, n, fmt.Sprint("s", i))
		subs[i] = sub{tr: tr, reply: len(tr.messages())}
		send(t, c, tr, `{"id":2,"subscribe":{"channel":"pos:x"}}`)
		runtime.Gosched()
	}
	stop.Store(true)
	wg.Wait()
	total := published.Load()
	for i, s := range subs {
		msgs := s.tr.messages()[s.reply:]
		var res struct {
			Subscribe struct {
				Offset uint64 `json:"offset"`
			} `json:"subscribe"`
		}
		if err := json.Unmarshal([]byte(msgs[0]), &res); err != nil {
			t.Fatalf("subscriber %d reply %s: %v", i, msgs[0], err)
		}
		next := res.Subscribe.Offset + 1
		for _, m := range msgs[1:] {
			var push struct {
				Push struct {
					Pub struct {
						Offset uint64 `json:"offset"`
					} `json:"pub"`
				} `json:"push"`
			}
			if err := json.Unmarshal([]byte(m), &push); err != nil {
				t.Fatal(err)
			}
			if push.Push.Pub.Offset != next {
				t.Fatalf("subscriber %d (subscribed at %d): got offset %d, want %d (message %.200s)", i, res.Subscribe.Offset, push.Push.Pub.Offset, next, m)
			}
			next++
		}
		if next-1 != total {
			t.Fatalf("subscriber %d ended at offset %d, want %d", i, next-1, total)
		}
	}
}
