package e2e_test

// Delta compression (fossil), publication tags filters, and the client
// commands a plain server cannot serve (send → disconnect 3508, rpc without a
// proxy → error 108), through centrifuge-go (JSON and Protobuf), plus a raw
// JSON check of what the SDK hides (subscribe result `delta`, publication
// `delta` flags and the JSON-string data encoding).
//
// centrifuge-go panics when a fossil delta does not apply to its base, which
// would end the whole test binary; the SDK delta tests therefore run in a
// child process (dfIsolated) so that such a failure stays a failure of that
// test.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// dfConfig: namespaces for delta and tags filter tests.
func dfConfig() harness.Config {
	cfg := harness.DefaultConfig()
	cfg.Set("client.ping_interval", "10s")
	cfg.Set("client.pong_timeout", "5s")
	cfg.Set("websocket.message_size_limit", 65536)
	ns := func(name string, kv ...any) map[string]any {
		m := map[string]any{"name": name, "allow_subscribe_for_client": true}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	fossil := []string{"fossil"}
	cfg.Set("channel.namespaces", []any{
		ns("chat", "allow_publish_for_subscriber", true),
		ns("delta", "allowed_delta_types", fossil, "history_size", 100, "history_ttl", "300s", "force_recovery", true),
		ns("deltapub", "allowed_delta_types", fossil, "delta_publish", true),
		ns("nodelta"),
		ns("tagged", "allow_tags_filter", true),
		ns("taggedrec", "allow_tags_filter", true, "history_size", 100, "history_ttl", "300s", "force_recovery", true),
	})
	return cfg
}

// dfIsolated reports whether the test body should run here. In the parent
// process it re-runs exactly this test in a child process (the test binary
// itself, bounded to 60 s), reports the child's verdict and returns false.
func dfIsolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv("ROTOR_E2E_DF_CHILD") == t.Name() {
		return true
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "ROTOR_E2E_DF_CHILD="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("test process for %s: %v\n%s", t.Name(), err, out)
	}
	return false
}

// dfPayloads returns n similar JSON documents (a long common text with a few
// changing fields, non-ASCII characters and escapes) so that fossil deltas
// are much smaller than the documents; the document at index reset is short
// and unrelated, so the one after it cannot be a useful delta.
func dfPayloads(prefix string, from, n, reset int) [][]byte {
	text := strings.Repeat("the quick brown fox jumps over the lazy dog; ", 8)
	var out [][]byte
	for i := from; i < from+n; i++ {
		if i == reset {
			out = append(out, []byte(fmt.Sprintf(`{"reset":%d}`, i)))
			continue
		}
		out = append(out, []byte(fmt.Sprintf(
			`{"id":"%s-%d","price":%d.25,"text":"%s","note":"caf\u00e9 — \"quoted\" \\ ✓","list":[1,2,3,%d],"flag":%t}`,
			prefix, i, 1000+i*7, text, i*i, i%2 == 0)))
	}
	return out
}

func dfPublish(t *testing.T, srv *harness.Server, channel string, data []byte, delta bool) {
	t.Helper()
	body := map[string]any{"channel": channel, "data": json.RawMessage(data)}
	if delta {
		body["delta"] = true
	}
	srv.MustAPI(t, "publish", body)
}

// dfExpect reads len(want) publications and compares their data byte for byte.
func dfExpect(t *testing.T, s *subscription, what string, want [][]byte) {
	t.Helper()
	for i, w := range want {
		p := s.nextPublication(t, 5*time.Second)
		if !bytes.Equal(p.Data, w) {
			t.Fatalf("%s: publication %d of %d: data\n  %s\nwant\n  %s", what, i+1, len(want), p.Data, w)
		}
	}
}

// TestDeltaFossilSDK: subscriptions asking for fossil deltas receive the
// exact published documents in order, whether the publisher asked for delta
// (API delta:true) or the namespace forces it (delta_publish); a subscriber
// without delta on the same channel and a delta subscriber on a namespace
// without allowed_delta_types get plain publications; recovery after a
// reconnect (force_recovery + history) gives the missed documents exactly,
// and live deltas continue afterwards.
func TestDeltaFossilSDK(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			if !dfIsolated(t) {
				return
			}
			srv := harness.Start(t, dfConfig())
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			connectAndWait(t, c, log)
			plainC, plog := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "bob")})
			connectAndWait(t, plainC, plog)

			fossil := centrifuge.SubscriptionConfig{Delta: centrifuge.DeltaTypeFossil}
			sd := newSubscriptionWith(t, c, "delta:a", fossil)
			sp := newSubscriptionWith(t, c, "deltapub:a", fossil)
			sn := newSubscriptionWith(t, c, "nodelta:a", fossil)
			plain := newSubscriptionWith(t, plainC, "delta:a", centrifuge.SubscriptionConfig{})
			for _, s := range []*subscription{sd, sp, sn, plain} {
				expectSubscribeResult(t, s, 0)
			}

			// One publication in the middle is published without delta: the
			// next delta must still be relative to what the client last got.
			live := dfPayloads("d", 1, 10, 5)
			for i, p := range live {
				dfPublish(t, srv, "delta:a", p, i != 7)
			}
			dfExpect(t, sd, "delta:a (fossil, API delta:true)", live)
			dfExpect(t, plain, "delta:a (subscriber without delta)", live)

			// Only the documents are checked: Centrifugo v6.9.1 sends no deltas
			// for delta_publish namespaces although its docs say it should.
			forced := dfPayloads("p", 1, 6, -1)
			for _, p := range forced {
				dfPublish(t, srv, "deltapub:a", p, false)
			}
			dfExpect(t, sp, "deltapub:a (namespace delta_publish)", forced)

			nod := dfPayloads("n", 1, 4, -1)
			for _, p := range nod {
				dfPublish(t, srv, "nodelta:a", p, true)
			}
			dfExpect(t, sn, "nodelta:a (delta not allowed: plain publications)", nod)

			// A delta subscriber joining mid-stream must get a full document
			// first (it has no base yet).
			lateC, llog := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "carol")})
			connectAndWait(t, lateC, llog)
			late := newSubscriptionWith(t, lateC, "delta:a", fossil)
			expectSubscribeResult(t, late, 0)

			// Recovery with delta: the missed documents come back in the
			// subscribe reply (first full, then deltas), decoded exactly.
			if err := c.Disconnect(); err != nil {
				t.Fatal(err)
			}
			waitEvent[centrifuge.DisconnectedEvent](t, log, 5*time.Second, "disconnected", nil)
			missed := dfPayloads("r", 20, 5, -1)
			for _, p := range missed {
				dfPublish(t, srv, "delta:a", p, true)
			}
			dfExpect(t, plain, "delta:a plain subscriber during the gap", missed)
			dfExpect(t, late, "delta:a delta subscriber that joined mid-stream", missed)
			if err := c.Connect(); err != nil {
				t.Fatal(err)
			}
			ev := waitCount[centrifuge.SubscribedEvent](t, sd.log, 2, 5*time.Second, "delta:a resubscribed", nil)[1]
			if !ev.WasRecovering || !ev.Recovered {
				t.Errorf("delta:a resubscribe: %+v, want wasRecovering and recovered", ev)
			}
			dfExpect(t, sd, "delta:a recovered publications", missed)
			after := dfPayloads("r", 25, 3, -1)
			for _, p := range after {
				dfPublish(t, srv, "delta:a", p, true)
			}
			dfExpect(t, sd, "delta:a live after recovery", after)
			dfExpect(t, plain, "delta:a plain subscriber after recovery", after)
			sd.expectNoPublication(t, 100*time.Millisecond)
			noDisconnectsExceptOne(t, log)
		})
	}
}

// noDisconnectsExceptOne: the client was disconnected only by the test's own
// Disconnect call (one DisconnectedEvent, code 0).
func noDisconnectsExceptOne(t *testing.T, log *eventLog) {
	t.Helper()
	ds := eventsOf[centrifuge.DisconnectedEvent](log)
	if len(ds) != 1 || ds[0].Code != 0 {
		t.Errorf("disconnects %+v, want only the test's own; events:\n%s", ds, log)
	}
}

// dfRawPush is the part of a JSON publication push the raw test looks at.
type dfRawPush struct {
	ID     uint32 `json:"id"`
	Result *struct {
		Delta bool `json:"delta"`
	} `json:"subscribe"`
	Error *struct {
		Code    uint32 `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Push *struct {
		Channel string `json:"channel"`
		Pub     *struct {
			Data   json.RawMessage `json:"data"`
			Delta  bool            `json:"delta"`
			Offset uint64          `json:"offset"`
		} `json:"pub"`
	} `json:"push"`
}

// dfRawReader returns the JSON messages of conn one by one (a frame may hold
// several, newline-separated), skipping pings.
type dfRawReader struct {
	conn    *harness.RawConn
	pending [][]byte
}

func (rd *dfRawReader) next(t *testing.T) dfRawPush {
	t.Helper()
	for {
		for len(rd.pending) > 0 {
			line := bytes.TrimSpace(rd.pending[0])
			rd.pending = rd.pending[1:]
			if len(line) == 0 || string(line) == "{}" {
				continue // ping
			}
			var r dfRawPush
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("message %q: %v", line, err)
			}
			return r
		}
		rd.pending = bytes.Split(rd.conn.Read(5*time.Second), []byte("\n"))
	}
}

// TestDeltaFossilRawJSON: on the JSON protocol the subscribe result says
// delta:true only where fossil is allowed; on a delta subscription every
// publication's data is a JSON string (the document text for the first one,
// a fossil delta marked delta:true for a similar follower); on a namespace
// without allowed_delta_types the request is silently downgraded.
func TestDeltaFossilRawJSON(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, dfConfig())
	conn := srv.DialRaw(t)
	rawConnect(t, srv, conn)
	rd := &dfRawReader{conn: conn}

	conn.Send(`{"id":2,"subscribe":{"channel":"delta:raw","delta":"fossil"}}`)
	r := rd.next(t)
	if r.ID != 2 || r.Error != nil || r.Result == nil || !r.Result.Delta {
		t.Fatalf("subscribe delta:raw with delta fossil: reply %+v, want a result with delta:true", r)
	}
	conn.Send(`{"id":3,"subscribe":{"channel":"nodelta:raw","delta":"fossil"}}`)
	r = rd.next(t)
	if r.ID != 3 || r.Error != nil || r.Result == nil || r.Result.Delta {
		t.Fatalf("subscribe nodelta:raw with delta fossil: reply %+v, want a result without delta", r)
	}

	docs := dfPayloads("raw", 1, 3, -1)
	for _, d := range docs {
		dfPublish(t, srv, "delta:raw", d, true)
	}
	for i, d := range docs {
		r = rd.next(t)
		if r.Push == nil || r.Push.Pub == nil || r.Push.Channel != "delta:raw" {
			t.Fatalf("publication %d: got %+v", i+1, r)
		}
		var s string
		if err := json.Unmarshal(r.Push.Pub.Data, &s); err != nil {
			t.Fatalf("publication %d on a delta subscription: data %s is not a JSON string", i+1, r.Push.Pub.Data)
		}
		if i == 0 {
			if r.Push.Pub.Delta || s != string(d) {
				t.Errorf("first publication: delta=%v data %q, want the full document %q without delta", r.Push.Pub.Delta, s, d)
			}
		} else if !r.Push.Pub.Delta || len(s) >= len(d) {
			t.Errorf("publication %d: delta=%v, %d bytes (document %d bytes), want a shorter delta:true patch", i+1, r.Push.Pub.Delta, len(s), len(d))
		}
	}

	dfPublish(t, srv, "nodelta:raw", docs[0], true)
	dfPublish(t, srv, "nodelta:raw", docs[1], true)
	for i := 0; i < 2; i++ {
		r = rd.next(t)
		if r.Push == nil || r.Push.Pub == nil || r.Push.Channel != "nodelta:raw" {
			t.Fatalf("nodelta publication %d: got %+v", i+1, r)
		}
		if r.Push.Pub.Delta || !bytes.Equal(r.Push.Pub.Data, docs[i]) {
			t.Errorf("nodelta publication %d: delta=%v data %s, want the plain document %s", i+1, r.Push.Pub.Delta, r.Push.Pub.Data, docs[i])
		}
	}
}

// TestTagsFilterSDK: a subscription with a tags filter on a namespace with
// allow_tags_filter receives only the publications whose tags match, in
// order and with their tags; the same filter on a namespace without the
// option is refused with 107 and the connection stays.
func TestTagsFilterSDK(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, dfConfig())
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			connectAndWait(t, c, log)

			eq := newSubscriptionWith(t, c, "tagged:eq", centrifuge.SubscriptionConfig{
				TagsFilter: centrifuge.FilterEq("ticker", "AAPL"),
			})
			complexF := newSubscriptionWith(t, c, "tagged:cx", centrifuge.SubscriptionConfig{
				TagsFilter: centrifuge.FilterAnd(
					centrifuge.FilterIn("ticker", "AAPL", "MSFT"),
					centrifuge.FilterGt("price", "100"),
					centrifuge.FilterNot(centrifuge.FilterExists("halted")),
				),
			})
			all := newSubscriptionWith(t, c, "tagged:all", centrifuge.SubscriptionConfig{})
			for _, s := range []*subscription{eq, complexF, all} {
				expectSubscribeResult(t, s, 0)
			}

			type pub struct {
				tags   map[string]string
				eq, cx bool
			}
			pubs := []pub{
				{map[string]string{"ticker": "AAPL", "price": "150"}, true, true},
				{map[string]string{"ticker": "GOOG", "price": "150"}, false, false},
				{map[string]string{"ticker": "MSFT", "price": "99.5"}, false, false},
				{map[string]string{"ticker": "MSFT", "price": "101"}, false, true},
				{nil, false, false},
				{map[string]string{"ticker": "AAPL", "price": "150", "halted": "1"}, true, false},
				{map[string]string{"ticker": "aapl", "price": "500"}, false, false},
				{map[string]string{"ticker": "AAPL", "price": "100"}, true, false},
				{map[string]string{"ticker": "AAPL", "price": "1000.5"}, true, true},
			}
			var wantEq, wantCx, wantAll [][]byte
			for i, p := range pubs {
				for _, ch := range []string{"tagged:eq", "tagged:cx", "tagged:all"} {
					data := []byte(fmt.Sprintf(`{"i":%d,"ch":"%s"}`, i, ch))
					body := map[string]any{"channel": ch, "data": json.RawMessage(data)}
					if p.tags != nil {
						body["tags"] = p.tags
					}
					srv.MustAPI(t, "publish", body)
					switch {
					case ch == "tagged:eq" && p.eq:
						wantEq = append(wantEq, data)
					case ch == "tagged:cx" && p.cx:
						wantCx = append(wantCx, data)
					case ch == "tagged:all":
						wantAll = append(wantAll, data)
					}
				}
			}
			check := func(s *subscription, want [][]byte) {
				t.Helper()
				for _, w := range want {
					p := s.nextPublication(t, 5*time.Second)
					if !bytes.Equal(p.Data, w) {
						t.Fatalf("%s: publication %s, want %s", s.Channel, p.Data, w)
					}
					var d struct{ I int }
					_ = json.Unmarshal(p.Data, &d)
					if want := pubs[d.I].tags; len(want) != len(p.Tags) || !tagsEqual(p.Tags, want) {
						t.Errorf("%s: publication %s tags %v, want %v", s.Channel, p.Data, p.Tags, want)
					}
				}
				// A marker matching every filter proves nothing else is queued.
				marker := []byte(fmt.Sprintf(`{"marker":"%s"}`, s.Channel))
				srv.MustAPI(t, "publish", map[string]any{"channel": s.Channel, "data": json.RawMessage(marker),
					"tags": map[string]string{"ticker": "AAPL", "price": "200"}})
				if p := s.nextPublication(t, 5*time.Second); !bytes.Equal(p.Data, marker) {
					t.Errorf("%s: got %s, want only the matching publications then the marker %s", s.Channel, p.Data, marker)
				}
			}
			check(eq, wantEq)
			check(complexF, wantCx)
			check(all, wantAll)

			// Recovery applies the filter: after a reconnect only the missed
			// publications that match come back.
			rec := newSubscriptionWith(t, c, "taggedrec:r", centrifuge.SubscriptionConfig{
				TagsFilter: centrifuge.FilterEq("k", "yes"),
			})
			expectSubscribeResult(t, rec, 0)
			recPub := func(i int, k string) []byte {
				data := []byte(fmt.Sprintf(`{"rec":%d}`, i))
				srv.MustAPI(t, "publish", map[string]any{"channel": "taggedrec:r", "data": json.RawMessage(data), "tags": map[string]string{"k": k}})
				return data
			}
			wantRec := [][]byte{recPub(1, "yes")}
			recPub(2, "no")
			dfExpect(t, rec, "taggedrec:r live", wantRec)
			if err := c.Disconnect(); err != nil {
				t.Fatal(err)
			}
			waitEvent[centrifuge.DisconnectedEvent](t, log, 5*time.Second, "disconnected", nil)
			wantRec = nil
			for i := 3; i <= 10; i++ {
				if i%3 == 0 {
					wantRec = append(wantRec, recPub(i, "yes"))
				} else {
					recPub(i, "no")
				}
			}
			if err := c.Connect(); err != nil {
				t.Fatal(err)
			}
			ev := waitCount[centrifuge.SubscribedEvent](t, rec.log, 2, 5*time.Second, "taggedrec:r resubscribed", nil)[1]
			if !ev.WasRecovering || !ev.Recovered {
				t.Errorf("taggedrec:r resubscribe: %+v, want wasRecovering and recovered", ev)
			}
			dfExpect(t, rec, "taggedrec:r recovered (filtered)", wantRec)
			recPub(11, "no")
			dfExpect(t, rec, "taggedrec:r live after recovery", [][]byte{recPub(12, "yes")})

			// A filter where the namespace does not allow it → 107.
			bad := newSubscriptionWith(t, c, "chat:tf", centrifuge.SubscriptionConfig{
				TagsFilter: centrifuge.FilterEq("ticker", "AAPL"),
			})
			expectSubscribeResult(t, bad, 107)
			noDisconnectsExceptOne(t, log)
		})
	}
}

func tagsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSendAndRPCWithoutHandlers: without an RPC proxy an rpc call is answered
// with error 108 and the connection stays; a send command (asynchronous, no
// reply) makes the server close the connection with 3508 "not available",
// after which the SDK does not reconnect.
func TestSendAndRPCWithoutHandlers(t *testing.T) {
	t.Parallel()
	for _, proto := range bothProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := harness.Start(t, dfConfig())
			c, log := newClient(t, srv, proto, centrifuge.Config{Token: harness.UserToken(t, "alice")})
			connectAndWait(t, c, log)

			_, err := c.RPC(ctx5(), "anything", []byte(`{"x":1}`))
			wantServerError(t, "rpc without proxy", err, 108)
			if se, ok := serverError(err); ok && se.Message != "not available" {
				t.Errorf("rpc error message %q, want \"not available\"", se.Message)
			}
			noDisconnects(t, log)

			if err := c.Send(ctx5(), []byte(`{"hello":"server"}`)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			d := waitEvent[centrifuge.DisconnectedEvent](t, log, 5*time.Second, "disconnect after send", nil)
			if d.Code != 3508 || d.Reason != "not available" {
				t.Errorf("after send: disconnected %d %q, want 3508 \"not available\"", d.Code, d.Reason)
			}
			time.Sleep(1200 * time.Millisecond)
			if n := len(eventsOf[centrifuge.ConnectingEvent](log)); n != 1 {
				t.Errorf("%d connecting events after 3508, want no reconnect:\n%s", n, log)
			}
		})
	}
}
