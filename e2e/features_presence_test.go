package e2e_test

import (
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// TestFeatPresenceJoinLeave: presence and presence_stats of a channel; join
// and leave pushes go to subscribers that asked with JoinLeave (namespace
// join_leave) and to everyone with force_push_join_leave, never to the others.
func TestFeatPresenceJoinLeave(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, featuresConfig())
			alice, alog := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			carol, clog := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "carol")})
			bob, blog := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "bob")})
			bob2, b2log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "bob")})
			aev := connectAndWait(t, alice, alog)
			connectAndWait(t, carol, clog)
			bev := connectAndWait(t, bob, blog)
			b2ev := connectAndWait(t, bob2, b2log)

			// room: join_leave on, pushes only on request.
			as := newSubscriptionWith(t, alice, "room:a", centrifuge.SubscriptionConfig{JoinLeave: true})
			cs := newSubscriptionWith(t, carol, "room:a", centrifuge.SubscriptionConfig{})
			expectSubscribeResult(t, as, 0)
			expectSubscribeResult(t, cs, 0)
			// roomf: force_push_join_leave, no client flag.
			af := newSubscriptionWith(t, alice, "roomf:a", centrifuge.SubscriptionConfig{})
			expectSubscribeResult(t, af, 0)

			// The joining client with join/leave pushes sees its own join.
			self := waitEvent[centrifuge.JoinEvent](t, as.log, 5*time.Second, "own join", func(e centrifuge.JoinEvent) bool { return e.User == "alice" })
			if self.Client != aev.ClientID {
				t.Errorf("own join %+v, want client %s", self.ClientInfo, aev.ClientID)
			}

			bs := newSubscriptionWith(t, bob, "room:a", centrifuge.SubscriptionConfig{})
			b2s := newSubscriptionWith(t, bob2, "room:a", centrifuge.SubscriptionConfig{})
			bf := newSubscriptionWith(t, bob, "roomf:a", centrifuge.SubscriptionConfig{})
			expectSubscribeResult(t, bs, 0)
			expectSubscribeResult(t, b2s, 0)
			expectSubscribeResult(t, bf, 0)

			j := waitEvent[centrifuge.JoinEvent](t, as.log, 5*time.Second, "bob's join in room:a", func(e centrifuge.JoinEvent) bool { return e.Client == bev.ClientID })
			if j.User != "bob" {
				t.Errorf("join %+v, want user bob", j.ClientInfo)
			}
			waitEvent[centrifuge.JoinEvent](t, as.log, 5*time.Second, "bob2's join in room:a", func(e centrifuge.JoinEvent) bool { return e.Client == b2ev.ClientID })
			jf := waitEvent[centrifuge.JoinEvent](t, af.log, 5*time.Second, "bob's join in roomf:a (forced)", func(e centrifuge.JoinEvent) bool { return e.Client == bev.ClientID })
			if jf.User != "bob" {
				t.Errorf("forced join %+v, want user bob", jf.ClientInfo)
			}

			pr, err := as.Presence(ctx5())
			if err != nil {
				t.Fatalf("presence: %v", err)
			}
			if len(pr.Clients) != 4 {
				t.Errorf("presence has %d clients, want 4: %+v", len(pr.Clients), pr.Clients)
			}
			for id, user := range map[string]string{aev.ClientID: "alice", bev.ClientID: "bob", b2ev.ClientID: "bob"} {
				if ci, ok := pr.Clients[id]; !ok || ci.User != user || ci.Client != id {
					t.Errorf("presence[%s] = %+v, want user %s", id, ci, user)
				}
			}
			ps, err := as.PresenceStats(ctx5())
			if err != nil {
				t.Fatalf("presence_stats: %v", err)
			}
			if ps.NumClients != 4 || ps.NumUsers != 3 {
				t.Errorf("presence_stats %+v, want 4 clients / 3 users", ps.PresenceStats)
			}

			if err := bs.Unsubscribe(); err != nil {
				t.Fatal(err)
			}
			l := waitEvent[centrifuge.LeaveEvent](t, as.log, 5*time.Second, "bob's leave", func(e centrifuge.LeaveEvent) bool { return e.Client == bev.ClientID })
			if l.User != "bob" {
				t.Errorf("leave %+v, want user bob", l.ClientInfo)
			}
			// Disconnecting also leaves (roomf: forced pushes).
			bob.Close()
			waitEvent[centrifuge.LeaveEvent](t, af.log, 5*time.Second, "bob's leave on disconnect", func(e centrifuge.LeaveEvent) bool { return e.Client == bev.ClientID })

			deadline := time.Now().Add(5 * time.Second)
			for {
				ps, err = cs.PresenceStats(ctx5())
				if err != nil {
					t.Fatalf("presence_stats: %v", err)
				}
				if ps.NumClients == 3 && ps.NumUsers == 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("presence_stats after bob left: %+v, want 3 clients / 3 users", ps.PresenceStats)
				}
				time.Sleep(50 * time.Millisecond)
			}

			// A publication sent now reaches each subscriber of room:a after any
			// join/leave push sent before it: once it has arrived, the pushes that
			// must not come would have.
			srv.MustAPI(t, "publish", map[string]any{"channel": "room:a", "data": map[string]any{"marker": true}})
			for _, s := range []*subscription{as, cs, b2s} {
				if p := s.nextPublication(t, 5*time.Second); !saJSONEq(p.Data, []byte(`{"marker":true}`)) {
					t.Errorf("%s: publication %s, want the marker", s.Channel, p.Data)
				}
			}
			// Carol did not ask for join/leave and the namespace does not force it.
			if n := len(eventsOf[centrifuge.JoinEvent](cs.log)) + len(eventsOf[centrifuge.LeaveEvent](cs.log)); n != 0 {
				t.Errorf("carol got %d join/leave events without asking:\n%s", n, cs.log)
			}
			// Bob2 did not ask either.
			if n := len(eventsOf[centrifuge.JoinEvent](b2s.log)) + len(eventsOf[centrifuge.LeaveEvent](b2s.log)); n != 0 {
				t.Errorf("bob2 got %d join/leave events without asking:\n%s", n, b2s.log)
			}
			// A client does not get its own leave, alice got exactly one leave.
			if n := len(eventsOf[centrifuge.LeaveEvent](as.log)); n != 1 {
				t.Errorf("alice got %d leave events, want 1:\n%s", n, as.log)
			}
		})
	}
}
