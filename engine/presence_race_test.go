package engine

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestServerSubscribeRacingClose runs a server API subscribe to a presence and
// join/leave channel concurrently with the client's close. Whatever wins, the
// channel must end with no presence entry for the client, and an observer must
// never see a join of it without a later leave. Before the fix both failed: the
// leave of a subscription OnClose took before joinSub added it came without a join,
// and an OnClose between joinSub's closed check and presence.add left the entry for
// good (run with -race -count=20).
func TestServerSubscribeRacingClose(t *testing.T) {
	n := newTestNode(t, featureConfig())
	obs, otr := connected(t, n, "observer")
	send(t, obs, otr, `{"id":2,"subscribe":{"channel":"room:x"}}`)
	for i := 0; i < 500; i++ {
		user := fmt.Sprint("racer", i)
		c, _ := connected(t, n, user)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_ = n.Subscribe(ServerSubscribeRequest{User: user, Channel: "room:x"})
		}()
		go func() {
			defer wg.Done()
			c.OnClose()
		}()
		wg.Wait()
		id := c.ID()
		if p, _ := n.Presence("room:x"); p[id] != nil {
			t.Fatalf("iteration %d: closed client %s left a presence entry", i, id)
		}
		joins, leaves := 0, 0
		for _, m := range otr.messages() {
			if !strings.Contains(m, `"client":"`+id+`"`) {
				continue
			}
			switch {
			case strings.Contains(m, `"join":`):
				joins++
			case strings.Contains(m, `"leave":`):
				leaves++
				if leaves > joins {
					t.Fatalf("iteration %d: leave of %s before its join", i, id)
				}
			}
		}
		if joins != leaves {
			t.Fatalf("iteration %d: observer saw %d joins and %d leaves of closed client %s", i, joins, leaves, id)
		}
	}
	if p, _ := n.Presence("room:x"); len(p) != 1 {
		t.Fatalf("presence after all closes: %d entries, want the observer only", len(p))
	}
}
