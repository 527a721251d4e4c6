package redis

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/engine"
)

// redisNode is an engine node whose broker, presence manager and controller are
// one Redis Broker on srv.
func redisNode(t *testing.T, srv *redistest.Server, name string) *engine.Node {
	t.Helper()
	b := newTestBroker(t, srv, Options{})
	n, err := engine.New(engine.Config{
		Name: name, Insecure: true,
		Broker: b, PresenceManager: b, Controller: b,
		WithoutNamespace: engine.NamespaceOptions{
			AllowSubscribeForClient: true,
			AllowHistoryForClient:   true,
			HistorySize:             10,
			HistoryTTL:              time.Minute,
			HistoryMetaTTL:          time.Hour,
			ForceRecovery:           true,
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Run()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// pubOffsets returns the offsets of the publication pushes of ch in msgs (JSON
// protocol frames).
func pubOffsets(t *testing.T, msgs []string, ch string) []uint64 {
	t.Helper()
	var out []uint64
	for _, frame := range msgs {
		for _, line := range strings.Split(frame, "\n") {
			var m struct {
				Push *struct {
					Channel string `json:"channel"`
					Pub     *struct {
						Offset uint64 `json:"offset"`
					} `json:"pub"`
				} `json:"push"`
			}
			if json.Unmarshal([]byte(line), &m) == nil && m.Push != nil && m.Push.Pub != nil && m.Push.Channel == ch {
				out = append(out, m.Push.Pub.Offset)
			}
		}
	}
	return out
}

// Two engine nodes on one Redis: a publication through node A reaches a client of
// node B with its offset, both nodes read the same history, and a client that
// comes back to node A recovers what it missed from the shared stream.
func TestEngineNodesShareHistory(t *testing.T) {
	srv := redistest.Start(t)
	a := redisNode(t, srv, "a")
	b := redisNode(t, srv, "b")

	cb, trb := anonClient(t, b)
	if !cb.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"chat"}}`)) {
		t.Fatal("subscribe refused")
	}
	waitUntil(t, "subscribe reply", func() bool {
		msgs, _ := trb.state()
		return len(msgs) >= 2 && strings.Contains(strings.Join(msgs, "\n"), `"id":2`)
	})
	msgs, _ := trb.state()
	var sub struct {
		Subscribe struct {
			Epoch       string `json:"epoch"`
			Recoverable bool   `json:"recoverable"`
		} `json:"subscribe"`
	}
	for _, m := range msgs {
		if strings.Contains(m, `"id":2`) {
			_ = json.Unmarshal([]byte(m), &sub)
		}
	}
	if !sub.Subscribe.Recoverable || !epochRe.MatchString(sub.Subscribe.Epoch) {
		t.Fatalf("subscribe reply %s", strings.Join(msgs, " | "))
	}

	for i := 1; i <= 3; i++ {
		r, err := a.Publish("chat", []byte(`{"n":1}`), engine.PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Offset != uint64(i) || r.Epoch != sub.Subscribe.Epoch {
			t.Fatalf("publish %d through a: %+v, subscribe epoch %s", i, r, sub.Subscribe.Epoch)
		}
	}
	waitUntil(t, "3 publications on b", func() bool {
		msgs, _ := trb.state()
		return len(pubOffsets(t, msgs, "chat")) == 3
	})
	msgs, _ = trb.state()
	if got := pubOffsets(t, msgs, "chat"); got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("b's client got offsets %v", got)
	}

	for _, n := range []*engine.Node{a, b} {
		h, err := n.History(engine.HistoryRequest{Channel: "chat", Limit: -1})
		if err != nil || h.Offset != 3 || h.Epoch != sub.Subscribe.Epoch || len(h.Publications) != 3 {
			t.Fatalf("history: %+v %v", h, err)
		}
	}

	// A client of a that was at offset 1 recovers 2 and 3.
	ca, tra := anonClient(t, a)
	cmd := `{"id":2,"subscribe":{"channel":"chat","recover":true,"offset":1,"epoch":"` + sub.Subscribe.Epoch + `"}}`
	if !ca.HandleFrame([]byte(cmd)) {
		t.Fatal("recovering subscribe refused")
	}
	waitUntil(t, "recovery reply", func() bool {
		msgs, _ := tra.state()
		return strings.Contains(strings.Join(msgs, "\n"), `"recovered":true`)
	})
	msgs, _ = tra.state()
	all := strings.Join(msgs, "\n")
	if !strings.Contains(all, `"offset":2`) || !strings.Contains(all, `"offset":3`) {
		t.Fatalf("recovery reply without the missed publications: %s", all)
	}
}
