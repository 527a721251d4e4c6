package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/codec"
)

func featureConfig() Config {
	cfg := testConfig()
	cfg.ChannelLimit = 0
	cfg.Namespaces = append(cfg.Namespaces, NamespaceOptions{
		Name: "room", Presence: true, JoinLeave: true, ForcePushJoinLeave: true,
		HistorySize: 3, HistoryTTL: time.Minute, ForceRecovery: true,
		AllowSubscribeForClient: true, AllowPublishForSubscriber: true,
		AllowPresenceForSubscriber: true, AllowHistoryForSubscriber: true,
	}, NamespaceOptions{
		Name: "feed", HistorySize: 10, HistoryTTL: time.Minute,
		AllowSubscribeForClient: true, AllowRecovery: true, AllowHistoryForClient: true,
	})
	return cfg
}

// send runs one frame and returns the messages it produced.
func send(t *testing.T, c *Client, tr *fakeTransport, frame string) []string {
	t.Helper()
	before := len(tr.messages())
	if !c.HandleFrame([]byte(frame)) {
		t.Fatalf("%s closed the session: %v", frame, tr.disconnect())
	}
	return tr.messages()[before:]
}

func TestHistoryAndPublishPositions(t *testing.T) {
	n := newTestNode(t, featureConfig())
	var last PublishResult
	for i := 1; i <= 5; i++ {
		res, err := n.Publish("feed:a", []byte(fmt.Sprintf(`{"i":%d}`, i)), PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Offset != uint64(i) || len(res.Epoch) != 8 {
			t.Fatalf("publish %d: %+v", i, res)
		}
		last = res
	}
	if res, _ := n.Publish("feed:a", []byte(`{}`), PublishOptions{SkipHistory: true}); res != (PublishResult{}) {
		t.Fatalf("skip_history result %+v", res)
	}
	cases := []struct {
		name string
		req  HistoryRequest
		want []uint64
		err  error
	}{
		{"limit 0: position only", HistoryRequest{Limit: 0}, nil, nil},
		{"all", HistoryRequest{Limit: -1}, []uint64{1, 2, 3, 4, 5}, nil},
		{"limit 2", HistoryRequest{Limit: 2}, []uint64{1, 2}, nil},
		{"reverse", HistoryRequest{Limit: 2, Reverse: true}, []uint64{5, 4}, nil},
		{"since", HistoryRequest{Limit: -1, Since: &codec.StreamPosition{Offset: 3, Epoch: last.Epoch}}, []uint64{4, 5}, nil},
		{"since reverse", HistoryRequest{Limit: -1, Reverse: true, Since: &codec.StreamPosition{Offset: 3}}, []uint64{2, 1}, nil},
		{"since top", HistoryRequest{Limit: -1, Since: &codec.StreamPosition{Offset: 5}}, nil, nil},
		{"epoch mismatch", HistoryRequest{Limit: -1, Since: &codec.StreamPosition{Offset: 1, Epoch: "xxxxxxxx"}}, nil, ErrorUnrecoverablePosition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Channel = "feed:a"
			res, err := n.History(tc.req)
			if err != tc.err {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			var got []uint64
			for _, p := range res.Publications {
				got = append(got, p.Offset)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || res.Offset != 5 || res.Epoch != last.Epoch {
				t.Fatalf("got %v top %d epoch %s, want %v top 5 epoch %s", got, res.Offset, res.Epoch, tc.want, last.Epoch)
			}
		})
	}
	if _, err := n.History(HistoryRequest{Channel: "news"}); err != ErrorNotAvailable {
		t.Fatalf("history on a channel without history: %v", err)
	}
	// history_size 3 keeps the newest three.
	for i := 0; i < 5; i++ {
		_, _ = n.Publish("room:r", []byte(`{}`), PublishOptions{})
	}
	res, _ := n.History(HistoryRequest{Channel: "room:r", Limit: -1})
	if len(res.Publications) != 3 || res.Publications[0].Offset != 3 {
		t.Fatalf("trimmed stream: %+v", res.Publications)
	}
	if err := n.HistoryRemove("room:r"); err != nil {
		t.Fatal(err)
	}
	res, _ = n.History(HistoryRequest{Channel: "room:r", Limit: -1})
	if len(res.Publications) != 0 || res.Offset != 5 {
		t.Fatalf("after history_remove: %+v", res)
	}
}

func TestIdempotentPublish(t *testing.T) {
	n := newTestNode(t, featureConfig())
	_, tr := connected(t, n, "1")
	a, _ := n.Publish("feed:x", []byte(`{}`), PublishOptions{IdempotencyKey: "k"})
	b, _ := n.Publish("feed:x", []byte(`{}`), PublishOptions{IdempotencyKey: "k"})
	if a != b || a.Offset != 1 {
		t.Fatalf("idempotent publishes: %+v %+v", a, b)
	}
	_ = tr
}

func TestRecoveryOnSubscribe(t *testing.T) {
	n := newTestNode(t, featureConfig())
	for i := 1; i <= 4; i++ {
		_, _ = n.Publish("feed:r", []byte(fmt.Sprintf(`{"i":%d}`, i)), PublishOptions{})
	}
	pos, _ := n.History(HistoryRequest{Channel: "feed:r"})
	ep := pos.Epoch
	cases := []struct {
		name, req, want string
	}{
		{"positioned", `"positioned":true`, `{"id":2,"subscribe":{"epoch":"` + ep + `","offset":4,"positioned":true}}`},
		{"recoverable without recover", `"recoverable":true`, `{"id":2,"subscribe":{"recoverable":true,"epoch":"` + ep + `","offset":4,"positioned":true}}`},
		{"recovered", `"recoverable":true,"recover":true,"offset":2,"epoch":"` + ep + `"`,
			`{"id":2,"subscribe":{"recoverable":true,"epoch":"` + ep + `","publications":[{"data":{"i":3},"offset":3},{"data":{"i":4},"offset":4}],"recovered":true,"offset":2,"positioned":true,"was_recovering":true}}`},
		{"recovered nothing missed", `"recoverable":true,"recover":true,"offset":4,"epoch":"` + ep + `"`,
			`{"id":2,"subscribe":{"recoverable":true,"epoch":"` + ep + `","recovered":true,"offset":4,"positioned":true,"was_recovering":true}}`},
		{"wrong epoch", `"recoverable":true,"recover":true,"offset":2,"epoch":"abcdefgh"`,
			`{"id":2,"subscribe":{"recoverable":true,"epoch":"` + ep + `","offset":4,"positioned":true,"was_recovering":true}}`},
		{"reject unrecovered", `"recoverable":true,"recover":true,"offset":2,"epoch":"abcdefgh","flag":2`,
			`{"id":2,"error":{"code":112,"message":"unrecoverable position"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, tr := connected(t, n, "1")
			got := send(t, c, tr, `{"id":2,"subscribe":{"channel":"feed:r",`+tc.req+`}}`)
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("got %q\nwant %s", got, tc.want)
			}
		})
	}
}

func TestPresenceJoinLeave(t *testing.T) {
	n := newTestNode(t, featureConfig())
	a, atr := connected(t, n, "1")
	b, btr := connected(t, n, "2")
	send(t, a, atr, `{"id":2,"subscribe":{"channel":"room:x"}}`)
	got := send(t, b, btr, `{"id":2,"subscribe":{"channel":"room:x"}}`)
	// force_recovery: the reply is positioned; then b sees its own join.
	if len(got) != 2 || !strings.Contains(got[0], `"positioned":true`) ||
		got[1] != `{"push":{"channel":"room:x","join":{"info":{"user":"2","client":"`+b.ID()+`"}}}}` {
		t.Fatalf("subscribe of b: %q", got)
	}
	if msgs := atr.messages(); msgs[len(msgs)-1] != got[1] {
		t.Fatalf("a did not see b's join: %q", msgs)
	}
	got = send(t, a, atr, `{"id":3,"presence_stats":{"channel":"room:x"}}`)
	if got[0] != `{"id":3,"presence_stats":{"num_clients":2,"num_users":2}}` {
		t.Fatalf("presence_stats %q", got)
	}
	got = send(t, a, atr, `{"id":4,"presence":{"channel":"room:x"}}`)
	if !strings.Contains(got[0], `"`+b.ID()+`":{"user":"2","client":"`+b.ID()+`"}`) {
		t.Fatalf("presence %q", got)
	}
	got = send(t, a, atr, `{"id":5,"presence":{"channel":"room:other"}}`)
	if got[0] != `{"id":5,"error":{"code":103,"message":"permission denied"}}` {
		t.Fatalf("presence without subscription %q", got)
	}
	send(t, b, btr, `{"id":3,"unsubscribe":{"channel":"room:x"}}`)
	if msgs := atr.messages(); msgs[len(msgs)-1] != `{"push":{"channel":"room:x","leave":{"info":{"user":"2","client":"`+b.ID()+`"}}}}` {
		t.Fatalf("a did not see b's leave: %q", msgs[len(msgs)-1])
	}
	if st, _ := n.PresenceStats("room:x"); st.NumClients != 1 {
		t.Fatalf("presence after leave: %+v", st)
	}
	got = send(t, a, atr, `{"id":6,"history":{"channel":"room:x","limit":10}}`)
	if !strings.HasPrefix(got[0], `{"id":6,"history":{"publications":[],"epoch":"`) {
		t.Fatalf("empty history %q", got)
	}
}

func TestServerSideOperations(t *testing.T) {
	n := newTestNode(t, featureConfig())
	c, tr := connected(t, n, "7")
	if err := n.Subscribe(ServerSubscribeRequest{User: "7", Channel: "news", Data: []byte(`{"hi":1}`)}); err != nil {
		t.Fatal(err)
	}
	msgs := tr.messages()
	if msgs[len(msgs)-1] != `{"push":{"channel":"news","subscribe":{"data":{"hi":1}}}}` {
		t.Fatalf("subscribe push %q", msgs[len(msgs)-1])
	}
	_, _ = n.Publish("news", []byte(`{"x":1}`), PublishOptions{})
	if msgs = tr.messages(); msgs[len(msgs)-1] != `{"push":{"channel":"news","pub":{"data":{"x":1}}}}` {
		t.Fatalf("publication after server subscribe %q", msgs[len(msgs)-1])
	}
	chans, _ := n.Channels("ne*")
	if chans["news"].NumClients != 1 || len(chans) != 1 {
		t.Fatalf("channels %+v", chans)
	}
	if err := n.Unsubscribe(ServerUnsubscribeRequest{User: "7", Channel: "news"}); err != nil {
		t.Fatal(err)
	}
	if msgs = tr.messages(); msgs[len(msgs)-1] != `{"push":{"channel":"news","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}` {
		t.Fatalf("unsubscribe push %q", msgs[len(msgs)-1])
	}
	exp := time.Now().Add(time.Hour).Unix()
	_ = n.Refresh(ServerRefreshRequest{User: "7", ExpireAt: exp})
	if msgs = tr.messages(); !strings.HasPrefix(msgs[len(msgs)-1], `{"push":{"refresh":{"expires":true,"ttl":`) {
		t.Fatalf("refresh push %q", msgs[len(msgs)-1])
	}
	_ = n.Disconnect(ServerDisconnectRequest{User: "7", Whitelist: []string{c.ID()}})
	if tr.disconnect() != nil {
		t.Fatal("whitelisted client was disconnected")
	}
	_ = n.Disconnect(ServerDisconnectRequest{User: "7", Disconnect: &Disconnect{Code: 4000, Reason: "bye"}})
	if d := tr.disconnect(); d == nil || d.Code != 4000 || d.Reason != "bye" {
		t.Fatalf("disconnect %v", d)
	}
	if err := n.Subscribe(ServerSubscribeRequest{User: "7", Channel: "nope:x"}); err != ErrorUnknownChannel {
		t.Fatalf("unknown namespace: %v", err)
	}
}

func TestSubscriptionTokenOverride(t *testing.T) {
	n := newTestNode(t, featureConfig())
	c, tr := connected(t, n, "1")
	tok := token(t, jwt.MapClaims{"sub": "1", "channel": "feed:p", "override": map[string]any{"force_positioning": map[string]any{"value": true}}})
	got := send(t, c, tr, fmt.Sprintf(`{"id":2,"subscribe":{"channel":"feed:p","token":%q}}`, tok))
	if len(got) != 1 || !strings.Contains(got[0], `"positioned":true`) {
		t.Fatalf("override force_positioning: %q", got)
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "anything", true}, {"chat:*", "chat:1", true}, {"chat:*", "news", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"[ab]x", "bx", true}, {"[!ab]x", "bx", false},
		{"{news,chat}:1", "chat:1", true}, {"{news,chat}:1", "feed:1", false}, {"a.b", "axb", false},
	}
	for _, tc := range cases {
		g, err := compileGlob(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := g.match(tc.s); got != tc.want {
			t.Errorf("%s ~ %s = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
	for _, bad := range []string{"[ab", "{a,b", "a}"} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}
