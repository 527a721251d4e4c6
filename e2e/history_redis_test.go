package e2e_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// Two nodes on one Redis share one stream: a client reads publications 1–3 on
// node A, goes away while node A's API publishes 4–6, and comes back on node B
// with its position: node B recovers 4–6 from the shared history. Both nodes'
// history APIs answer the same stream.
func TestRedisRecoveryOnAnotherNode(t *testing.T) {
	r := harness.StartRedis(t)
	a := harness.Start(t, historyRedisConfig(r.Addr(), "node-a"))
	b := harness.Start(t, historyRedisConfig(r.Addr(), "node-b"))
	const ch = "hist:move"

	client, clog := newClient(t, a, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "u1")})
	connectAndWait(t, client, clog)
	sub := newSubscription(t, client, ch)
	subscribeAndWait(t, sub)
	for i := 1; i <= 3; i++ {
		b.MustAPI(t, "publish", map[string]any{"channel": ch, "data": map[string]int{"n": i}})
	}
	for i := 1; i <= 3; i++ {
		if p := sub.nextPublication(t, 5*time.Second); p.Offset != uint64(i) {
			t.Fatalf("publication %d at offset %d", i, p.Offset)
		}
	}
	client.Close()

	for i := 4; i <= 6; i++ {
		a.MustAPI(t, "publish", map[string]any{"channel": ch, "data": map[string]int{"n": i}})
	}
	type history struct {
		Publications []struct {
			Data   json.RawMessage `json:"data"`
			Offset uint64          `json:"offset"`
		} `json:"publications"`
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	}
	var ha, hb history
	_ = json.Unmarshal(a.MustAPI(t, "history", map[string]any{"channel": ch, "limit": -1}), &ha)
	_ = json.Unmarshal(b.MustAPI(t, "history", map[string]any{"channel": ch, "limit": -1}), &hb)
	if ha.Offset != 6 || ha.Epoch == "" || len(ha.Publications) != 6 || hb.Offset != ha.Offset || hb.Epoch != ha.Epoch || len(hb.Publications) != 6 {
		t.Fatalf("history on a %+v, on b %+v", ha, hb)
	}

	conn := b.DialRaw(t)
	conn.Send(`{"id":1,"connect":{"token":"` + harness.UserToken(t, "u1") + `"}}`)
	conn.Read(5 * time.Second)
	conn.Send(fmt.Sprintf(`{"id":2,"subscribe":{"channel":%q,"recover":true,"offset":3,"epoch":%q}}`, ch, ha.Epoch))
	var reply struct {
		ID        int `json:"id"`
		Subscribe struct {
			Recovered    bool   `json:"recovered"`
			Epoch        string `json:"epoch"`
			Publications []struct {
				Data   json.RawMessage `json:"data"`
				Offset uint64          `json:"offset"`
			} `json:"publications"`
		} `json:"subscribe"`
	}
	raw := conn.Read(5 * time.Second)
	if err := json.Unmarshal(raw, &reply); err != nil || reply.ID != 2 {
		t.Fatalf("subscribe reply %s: %v", raw, err)
	}
	s := reply.Subscribe
	if !s.Recovered || s.Epoch != ha.Epoch || len(s.Publications) != 3 {
		t.Fatalf("recovery on node b: %s", raw)
	}
	for i, p := range s.Publications {
		if want := fmt.Sprintf(`{"n":%d}`, i+4); p.Offset != uint64(i+4) || string(p.Data) != want {
			t.Fatalf("recovered %d: %s at %d, want %s at %d", i, p.Data, p.Offset, want, i+4)
		}
	}
}
