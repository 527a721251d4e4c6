package e2e_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

var epochRe = regexp.MustCompile(`^[a-zA-Z]{8}$`)

type streamPos struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// apiPublish publishes {"n":n} and returns the position from the API result.
func apiPublish(t *testing.T, srv *harness.Server, channel string, n int) streamPos {
	t.Helper()
	res := srv.MustAPI(t, "publish", map[string]any{"channel": channel, "data": map[string]any{"n": n}})
	var pos streamPos
	if err := json.Unmarshal(res, &pos); err != nil {
		t.Fatalf("publish result %s: %v", res, err)
	}
	return pos
}

func pubN(t *testing.T, p centrifuge.Publication) int {
	t.Helper()
	var v struct {
		N int `json:"n"`
	}
	if err := json.Unmarshal(p.Data, &v); err != nil {
		t.Fatalf("publication data %q: %v", p.Data, err)
	}
	return v.N
}

// offsets lists the offsets of pubs and checks that each carries {"n":offset}.
func offsets(t *testing.T, pubs []centrifuge.Publication) []uint64 {
	t.Helper()
	out := make([]uint64, 0, len(pubs))
	for _, p := range pubs {
		if n := pubN(t, p); uint64(n) != p.Offset {
			t.Errorf("publication at offset %d carries n=%d", p.Offset, n)
		}
		out = append(out, p.Offset)
	}
	return out
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	if from <= to {
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
	} else {
		for i := from; i >= to; i-- {
			out = append(out, i)
		}
	}
	return out
}

func sameOffsets(a, b []uint64) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// TestFeatHistory: history through the SDK with limit, since and reverse; API
// publish positions; epoch; history_size trimming; 112 on a wrong epoch.
func TestFeatHistory(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			const ch = "histsub:h"
			var epoch string
			for i := 1; i <= 5; i++ {
				pos := apiPublish(t, srv, ch, i)
				if pos.Offset != uint64(i) || !epochRe.MatchString(pos.Epoch) {
					t.Fatalf("publish #%d result %+v, want offset %d and an 8-letter epoch", i, pos, i)
				}
				if epoch == "" {
					epoch = pos.Epoch
				} else if pos.Epoch != epoch {
					t.Fatalf("epoch changed %q → %q", epoch, pos.Epoch)
				}
			}

			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			connectAndWait(t, c, log)
			s := newSubscriptionWith(t, c, ch, centrifuge.SubscriptionConfig{})
			expectSubscribeResult(t, s, 0)

			check := func(what string, want []uint64, opts ...centrifuge.HistoryOption) centrifuge.HistoryResult {
				t.Helper()
				res, err := s.History(ctx5(), opts...)
				if err != nil {
					t.Fatalf("history %s: %v", what, err)
				}
				if got := offsets(t, res.Publications); !sameOffsets(got, want) {
					t.Errorf("history %s: offsets %v, want %v", what, got, want)
				}
				if res.Epoch != epoch {
					t.Errorf("history %s: epoch %q, want %q", what, res.Epoch, epoch)
				}
				return res
			}
			top := check("limit 0", nil)
			if top.Offset != 5 {
				t.Errorf("history top offset %d, want 5", top.Offset)
			}
			check("limit -1", seq(1, 5), centrifuge.WithHistoryLimit(-1))
			check("limit 2", seq(1, 2), centrifuge.WithHistoryLimit(2))
			check("since 2", seq(3, 5), centrifuge.WithHistoryLimit(10), centrifuge.WithHistorySince(&centrifuge.StreamPosition{Offset: 2, Epoch: epoch}))
			check("since top", nil, centrifuge.WithHistoryLimit(10), centrifuge.WithHistorySince(&centrifuge.StreamPosition{Offset: 5, Epoch: epoch}))
			check("reverse limit 2", seq(5, 4), centrifuge.WithHistoryLimit(2), centrifuge.WithHistoryReverse(true))
			check("reverse since 4", seq(3, 1), centrifuge.WithHistoryLimit(10), centrifuge.WithHistoryReverse(true),
				centrifuge.WithHistorySince(&centrifuge.StreamPosition{Offset: 4, Epoch: epoch}))

			_, err := s.History(ctx5(), centrifuge.WithHistoryLimit(10), centrifuge.WithHistorySince(&centrifuge.StreamPosition{Offset: 2, Epoch: "wrongepo"}))
			wantServerError(t, "history since a wrong epoch", err, 112)

			// history_size 10: after 17 publications only 8..17 remain.
			for i := 6; i <= 17; i++ {
				apiPublish(t, srv, ch, i)
			}
			res := check("after trimming", seq(8, 17), centrifuge.WithHistoryLimit(-1))
			if res.Offset != 17 {
				t.Errorf("top offset %d, want 17", res.Offset)
			}
			check("since 3 (trimmed) from oldest retained", seq(8, 10), centrifuge.WithHistoryLimit(3),
				centrifuge.WithHistorySince(&centrifuge.StreamPosition{Offset: 3, Epoch: epoch}))

			// The live stream continues with the next offset.
			for len(s.pubs) > 0 {
				<-s.pubs
			}
			apiPublish(t, srv, ch, 18)
			if p := s.nextPublication(t, 5*time.Second); p.Offset != 18 || pubN(t, p) != 18 {
				t.Errorf("live publication offset %d data %s, want offset 18", p.Offset, p.Data)
			}
			noDisconnects(t, log)
		})
	}
}

// TestFeatPositioning: force_positioning and the client's positioned flag
// (allow_positioning) give a stream position in the subscribed event;
// without them the subscription is not positioned.
func TestFeatPositioning(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			p1 := apiPublish(t, srv, "pos:p", 1)
			apiPublish(t, srv, "pos:p", 2)
			h1 := apiPublish(t, srv, "histsub:p", 1)

			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			connectAndWait(t, c, log)
			forced := newSubscriptionWith(t, c, "pos:p", centrifuge.SubscriptionConfig{})
			asked := newSubscriptionWith(t, c, "histsub:p", centrifuge.SubscriptionConfig{Positioned: true})
			plain := newSubscriptionWith(t, c, "hist:p", centrifuge.SubscriptionConfig{})
			for _, s := range []*subscription{forced, asked, plain} {
				expectSubscribeResult(t, s, 0)
			}
			for _, tc := range []struct {
				s          *subscription
				positioned bool
				pos        streamPos
			}{
				{forced, true, streamPos{2, p1.Epoch}},
				{asked, true, streamPos{1, h1.Epoch}},
				{plain, false, streamPos{}},
			} {
				ev := eventsOf[centrifuge.SubscribedEvent](tc.s.log)[0]
				if ev.Positioned != tc.positioned || ev.Recoverable || ev.WasRecovering || ev.Recovered {
					t.Errorf("%s: subscribed %+v, want positioned=%v and no recovery", tc.s.Channel, ev, tc.positioned)
				}
				if tc.positioned {
					if ev.StreamPosition == nil || ev.StreamPosition.Offset != tc.pos.Offset || ev.StreamPosition.Epoch != tc.pos.Epoch {
						t.Errorf("%s: stream position %+v, want %+v", tc.s.Channel, ev.StreamPosition, tc.pos)
					}
				} else if ev.StreamPosition != nil {
					t.Errorf("%s: unexpected stream position %+v", tc.s.Channel, *ev.StreamPosition)
				}
			}
			// Positioned subscriptions receive offsets on live publications.
			apiPublish(t, srv, "pos:p", 3)
			if p := forced.nextPublication(t, 5*time.Second); p.Offset != 3 {
				t.Errorf("live publication offset %d, want 3", p.Offset)
			}
		})
	}
}

// TestFeatRecovery: with force_recovery a client that was disconnected and
// missed publications gets them on reconnect, in order, with wasRecovering and
// recovered set; when history was trimmed past its position it is told
// recovered=false and gets nothing.
func TestFeatRecovery(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			first := apiPublish(t, srv, "rec:r", 1)
			apiPublish(t, srv, "rec:r", 2)
			apiPublish(t, srv, "rec2:r", 1)

			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			connectAndWait(t, c, log)
			s := newSubscriptionWith(t, c, "rec:r", centrifuge.SubscriptionConfig{})
			s2 := newSubscriptionWith(t, c, "rec2:r", centrifuge.SubscriptionConfig{})
			expectSubscribeResult(t, s, 0)
			expectSubscribeResult(t, s2, 0)
			ev := eventsOf[centrifuge.SubscribedEvent](s.log)[0]
			if !ev.Recoverable || !ev.Positioned || ev.WasRecovering || ev.Recovered ||
				ev.StreamPosition == nil || ev.StreamPosition.Offset != 2 || ev.StreamPosition.Epoch != first.Epoch {
				t.Errorf("first subscribe: %+v (pos %+v), want recoverable+positioned at offset 2 epoch %s, not recovering", ev, ev.StreamPosition, first.Epoch)
			}
			// A new subscriber does not get older publications.
			s.expectNoPublication(t, 100*time.Millisecond)

			apiPublish(t, srv, "rec:r", 3)
			if p := s.nextPublication(t, 5*time.Second); p.Offset != 3 {
				t.Fatalf("live publication offset %d, want 3", p.Offset)
			}

			if err := c.Disconnect(); err != nil {
				t.Fatal(err)
			}
			waitEvent[centrifuge.DisconnectedEvent](t, log, 5*time.Second, "disconnected", nil)
			for i := 4; i <= 8; i++ {
				apiPublish(t, srv, "rec:r", i)
			}
			for i := 2; i <= 5; i++ {
				apiPublish(t, srv, "rec2:r", i) // history_size 2 keeps 4, 5: offset 2, 3 lost
			}
			if err := c.Connect(); err != nil {
				t.Fatal(err)
			}
			ev2 := waitCount[centrifuge.SubscribedEvent](t, s.log, 2, 5*time.Second, "resubscribed", nil)[1]
			if !ev2.WasRecovering || !ev2.Recovered || !ev2.Recoverable || !ev2.Positioned {
				t.Errorf("resubscribe: %+v, want wasRecovering, recovered, recoverable, positioned", ev2)
			}
			if ev2.StreamPosition == nil || ev2.StreamPosition.Epoch != first.Epoch {
				t.Errorf("resubscribe stream position %+v, want epoch %s", ev2.StreamPosition, first.Epoch)
			}
			var got []uint64
			for i := 4; i <= 8; i++ {
				p := s.nextPublication(t, 5*time.Second)
				got = append(got, p.Offset)
				if pubN(t, p) != int(p.Offset) {
					t.Errorf("recovered publication offset %d data %s", p.Offset, p.Data)
				}
			}
			if !sameOffsets(got, seq(4, 8)) {
				t.Errorf("recovered offsets %v, want %v", got, seq(4, 8))
			}
			s.expectNoPublication(t, 100*time.Millisecond)
			apiPublish(t, srv, "rec:r", 9)
			if p := s.nextPublication(t, 5*time.Second); p.Offset != 9 {
				t.Errorf("live publication after recovery: offset %d, want 9", p.Offset)
			}

			ev3 := waitCount[centrifuge.SubscribedEvent](t, s2.log, 2, 5*time.Second, "rec2 resubscribed", nil)[1]
			if !ev3.WasRecovering || ev3.Recovered {
				t.Errorf("rec2 resubscribe after trimming: %+v, want wasRecovering=true recovered=false", ev3)
			}
			if ev3.StreamPosition == nil || ev3.StreamPosition.Offset != 5 {
				t.Errorf("rec2 resubscribe position %+v, want offset 5 (current top)", ev3.StreamPosition)
			}
			s2.expectNoPublication(t, 200*time.Millisecond)
		})
	}
}
