package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/codec"
)

const testSecret = "test-secret"

func testConfig() Config {
	return Config{
		TokenHMACSecretKey: testSecret,
		WithoutNamespace:   NamespaceOptions{AllowSubscribeForClient: true},
		Namespaces: []NamespaceOptions{
			{Name: "chat", AllowSubscribeForClient: true, AllowPublishForSubscriber: true},
			{Name: "closed"},
			{Name: "dm", AllowUserLimitedChannels: true},
		},
		ChannelLimit: 3,
	}
}

func newTestNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, err := New(withBroker(cfg), nil)
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

func token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func userToken(t testing.TB, user string) string {
	return token(t, jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()})
}

func newTestClient(n *Node) (*Client, *fakeTransport) {
	tr := newFakeTransport(codec.ProtocolJSON)
	c := n.NewClient(tr, nil)
	tr.mu.Lock()
	tr.client = c
	tr.mu.Unlock()
	return c, tr
}

// connected returns a client that has connected as user.
func connected(t *testing.T, n *Node, user string) (*Client, *fakeTransport) {
	t.Helper()
	c, tr := newTestClient(n)
	frame := fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, userToken(t, user))
	if !c.HandleFrame([]byte(frame)) {
		t.Fatalf("connect closed the session: %v", tr.disconnect())
	}
	msgs := tr.messages()
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], `{"id":1,"connect":{"client":"`) {
		t.Fatalf("connect reply: %q", msgs)
	}
	return c, tr
}

func TestConnectReply(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := connected(t, n, "42")
	reply := tr.messages()[0]
	for _, want := range []string{`"version":"` + DefaultVersion + `"`, `"expires":true`, `"ping":25`, `"pong":true`} {
		if !strings.Contains(reply, want) {
			t.Errorf("connect reply %s lacks %s", reply, want)
		}
	}
	if len(c.ID()) != 36 {
		t.Errorf("client id %q is not a UUID", c.ID())
	}
	if info := n.localInfo(); info.NumClients != 1 || info.NumUsers != 1 {
		t.Errorf("info = %+v", info)
	}
}

func TestConnectFailures(t *testing.T) {
	n := newTestNode(t, testConfig())
	cases := []struct {
		name      string
		frame     string
		wantReply string
		wantDisc  uint32
	}{
		{"bad signature", fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, userToken(t, "1")+"x"), "", 3500},
		{"expired", fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(t, jwt.MapClaims{"sub": "1", "exp": time.Now().Add(-time.Minute).Unix()})), `{"id":1,"error":{"code":109,"message":"token expired"}}`, 0},
		{"channel claim", fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(t, jwt.MapClaims{"sub": "1", "channel": "x"})), "", 3500},
		{"no credentials", `{"id":1,"connect":{}}`, "", 3501},
		{"not connect first", `{"id":1,"subscribe":{"channel":"news"}}`, "", 3501},
		{"connect with id 0", `{"connect":{}}`, "", 3501},
		{"malformed", `{"id":1,`, "", 3501},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, tr := newTestClient(n)
			c.HandleFrame([]byte(tc.frame))
			if tc.wantReply != "" {
				if msgs := tr.messages(); len(msgs) != 1 || msgs[0] != tc.wantReply {
					t.Fatalf("replies %q, want %s", msgs, tc.wantReply)
				}
			}
			d := tr.disconnect()
			switch {
			case tc.wantDisc == 0 && d != nil:
				t.Fatalf("unexpected disconnect %v", *d)
			case tc.wantDisc != 0 && (d == nil || d.Code != tc.wantDisc):
				t.Fatalf("disconnect %v, want %d", d, tc.wantDisc)
			}
		})
	}
}

func TestExpiredConnectMakesSessionUnusable(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := newTestClient(n)
	expired := token(t, jwt.MapClaims{"sub": "1", "exp": time.Now().Add(-time.Minute).Unix()})
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, expired)))
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":2,"connect":{"token":%q}}`, userToken(t, "1"))))
	if d := tr.disconnect(); d == nil || d.Code != 3501 {
		t.Fatalf("disconnect %v, want 3501", d)
	}
}

func TestSubscribeChecks(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := connected(t, n, "42")
	steps := []struct{ frame, want string }{
		{`{"id":2,"subscribe":{"channel":"news"}}`, `{"id":2,"subscribe":{}}`},
		{`{"id":3,"subscribe":{"channel":"news"}}`, `{"id":3,"error":{"code":105,"message":"already subscribed"}}`},
		{`{"id":4,"subscribe":{"channel":"nope:x"}}`, `{"id":4,"error":{"code":102,"message":"unknown channel"}}`},
		{`{"id":5,"subscribe":{"channel":"closed:x"}}`, `{"id":5,"error":{"code":103,"message":"permission denied"}}`},
		{`{"id":6,"subscribe":{"channel":"$private"}}`, `{"id":6,"error":{"code":103,"message":"permission denied"}}`},
		{`{"id":7,"subscribe":{"channel":"dm:#42,43"}}`, `{"id":7,"subscribe":{}}`},
		{`{"id":8,"subscribe":{"channel":"dm:#43,44"}}`, `{"id":8,"error":{"code":103,"message":"permission denied"}}`},
		{`{"id":9,"subscribe":{"channel":"` + strings.Repeat("a", 256) + `"}}`, `{"id":9,"error":{"code":107,"message":"bad request"}}`},
		{`{"id":10,"subscribe":{"channel":"naïve"}}`, `{"id":10,"error":{"code":107,"message":"bad request"}}`},
		{`{"id":11,"subscribe":{"channel":"chat:a"}}`, `{"id":11,"subscribe":{}}`},
		{`{"id":12,"subscribe":{"channel":"chat:b"}}`, `{"id":12,"error":{"code":106,"message":"limit exceeded"}}`},
		{`{"id":13,"unsubscribe":{"channel":"never"}}`, `{"id":13,"unsubscribe":{}}`},
		{`{"id":14,"presence":{"channel":"news"}}`, `{"id":14,"error":{"code":108,"message":"not available"}}`},
		{`{"id":15,"history":{"channel":"nope:x"}}`, `{"id":15,"error":{"code":102,"message":"unknown channel"}}`},
		{`{"id":16,"rpc":{"method":"m"}}`, `{"id":16,"error":{"code":108,"message":"not available"}}`},
	}
	for _, s := range steps {
		before := len(tr.messages())
		if !c.HandleFrame([]byte(s.frame)) {
			t.Fatalf("%s closed the session: %v", s.frame, tr.disconnect())
		}
		msgs := tr.messages()
		if len(msgs) != before+1 || msgs[before] != s.want {
			t.Fatalf("%s → %q, want %s", s.frame, msgs[before:], s.want)
		}
	}
	if got := n.NumSubscribers("news"); got != 1 {
		t.Fatalf("news has %d subscribers", got)
	}
}

func TestProtocolViolations(t *testing.T) {
	n := newTestNode(t, testConfig())
	cases := map[string]uint32{
		`{"id":2,"subscribe":{"channel":""}}`:                  3501,
		`{"id":2,"subscribe":{"channel":"a","delta":"zip"}}`:   3501,
		`{"id":2,"connect":{}}`:                                3501,
		`{"id":2,"ping":{}}`:                                   3501,
		`{}`:                                                   3501, // pong without ping
		`{"id":2,"send":{"data":{}}}`:                          3508,
		`{"send":{"data":{}}}`:                                 3508,
		`{"id":2,"unsubscribe":{"channel":""}}`:                3501,
		`{"id":2,"publish":{"channel":"","data":{}}}`:          3501,
		"{\"id\":2,\"unsubscribe\":{\"channel\":\"a\"}}\n\n{}": 3501,
	}
	for frame, code := range cases {
		c, tr := connected(t, n, "1")
		c.HandleFrame([]byte(frame))
		if d := tr.disconnect(); d == nil || d.Code != code {
			t.Errorf("%s: disconnect %v, want %d", frame, d, code)
		}
	}
}

func TestPublicationDelivery(t *testing.T) {
	n := newTestNode(t, testConfig())
	sub, str := connected(t, n, "1")
	pbTr := newFakeTransport(codec.ProtocolProtobuf)
	pbSub := n.NewClient(pbTr, nil)
	var buf []byte
	buf, _ = codec.AppendCommand(codec.ProtocolProtobuf, buf, &codec.Command{ID: 1, Connect: &codec.ConnectRequest{Token: userToken(t, "2")}})
	buf, _ = codec.AppendCommand(codec.ProtocolProtobuf, buf, &codec.Command{ID: 2, Subscribe: &codec.SubscribeRequest{Channel: "chat:room"}})
	if !pbSub.HandleFrame(buf) {
		t.Fatalf("protobuf client closed: %v", pbTr.disconnect())
	}
	sub.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"chat:room"}}` + "\n" + `{"id":3,"publish":{"channel":"chat:room","data":{"hello":"world"}}}`))
	msgs := str.messages()
	if len(msgs) != 4 {
		t.Fatalf("messages %q", msgs)
	}
	if msgs[1] != `{"id":2,"subscribe":{}}` {
		t.Fatalf("subscribe reply %s", msgs[1])
	}
	wantPush := `{"push":{"channel":"chat:room","pub":{"data":{"hello":"world"},"info":{"user":"1","client":"` + sub.ID() + `"}}}}`
	if msgs[2] != wantPush || msgs[3] != `{"id":3,"publish":{}}` {
		t.Fatalf("got %q\nwant push %s then publish reply", msgs[2:], wantPush)
	}
	if _, err := n.Publish("chat:room", []byte(`{"n":1}`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := str.messages()[4]; got != `{"push":{"channel":"chat:room","pub":{"data":{"n":1}}}}` {
		t.Fatalf("api publication %s", got)
	}
	// The protobuf subscriber got both publications as Protobuf pushes.
	var replies []*codec.Reply
	dec := codec.NewReplyDecoder(codec.ProtocolProtobuf)
	for _, m := range pbTr.messages() {
		dec.Reset([]byte(m))
		r := new(codec.Reply)
		if err := dec.Decode(r); err != nil {
			t.Fatal(err)
		}
		replies = append(replies, r)
	}
	if len(replies) != 4 || replies[3].Push == nil || string(replies[3].Push.Pub.Data) != `{"n":1}` {
		t.Fatalf("protobuf replies: %+v", replies)
	}
}

func TestPublishPermissionsAndErrors(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := connected(t, n, "1")
	steps := []struct{ frame, want string }{
		{`{"id":2,"publish":{"channel":"chat:x","data":{}}}`, `{"id":2,"error":{"code":103,"message":"permission denied"}}`},
		{`{"id":3,"publish":{"channel":"nope:x","data":{}}}`, `{"id":3,"error":{"code":102,"message":"unknown channel"}}`},
		{`{"id":4,"publish":{"channel":"news"}}`, `{"id":4,"error":{"code":107,"message":"bad request"}}`},
	}
	for _, s := range steps {
		before := len(tr.messages())
		c.HandleFrame([]byte(s.frame))
		if msgs := tr.messages(); len(msgs) != before+1 || msgs[before] != s.want {
			t.Fatalf("%s → %q, want %s", s.frame, msgs[before:], s.want)
		}
	}
	if _, err := n.Publish("", []byte(`{}`), PublishOptions{}); err != ErrorBadRequest {
		t.Errorf("empty channel: %v", err)
	}
	if _, err := n.Publish("nope:x", []byte(`{}`), PublishOptions{}); err != ErrorUnknownChannel {
		t.Errorf("unknown namespace: %v", err)
	}
	if _, err := n.Publish("news", nil, PublishOptions{}); err != ErrorBadRequest {
		t.Errorf("empty data: %v", err)
	}
}

func TestPingPongAndNoPong(t *testing.T) {
	cfg := testConfig()
	cfg.PingInterval = 600 * time.Millisecond
	cfg.PongTimeout = 300 * time.Millisecond
	n := newTestNode(t, cfg)
	answering, atr := connected(t, n, "1")
	_, silent := connected(t, n, "2")
	// The answering client replies {} to each ping it sees.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := 1
		for {
			select {
			case <-stop:
				return
			case <-atr.notify:
			}
			msgs := atr.messages()
			for ; seen < len(msgs); seen++ {
				if msgs[seen] == "{}" {
					answering.HandleFrame([]byte("{}"))
				}
			}
		}
	}()
	waitFor(t, 3*time.Second, "3012 for the silent client", func() bool {
		d := silent.disconnect()
		return d != nil && d.Code == 3012
	})
	// The answering client must outlive several more ping rounds: each ping it
	// gets was sent after the pong check of the previous one passed, so a 3012
	// would have come before it.
	before := countPings(atr)
	waitFor(t, 5*time.Second, "three more pings to the answering client", func() bool {
		return countPings(atr) >= before+3 || atr.disconnect() != nil
	})
	close(stop)
	<-done
	if d := atr.disconnect(); d != nil {
		t.Fatalf("answering client disconnected: %v", *d)
	}
}

// countPings counts the pings (empty messages) sent to tr.
func countPings(tr *fakeTransport) int {
	pings := 0
	for _, m := range tr.messages() {
		if m == "{}" {
			pings++
		}
	}
	return pings
}

func TestStaleConnectionClosed(t *testing.T) {
	cfg := testConfig()
	cfg.StaleCloseDelay = 200 * time.Millisecond
	n := newTestNode(t, cfg)
	_, tr := newTestClient(n)
	waitFor(t, 2*time.Second, "3502", func() bool {
		d := tr.disconnect()
		return d != nil && d.Code == 3502
	})
}

func TestSlowConsumerDisconnected(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := connected(t, n, "1")
	c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"news"}}`))
	tr.mu.Lock()
	tr.limit = len(tr.msgs) + 1
	tr.mu.Unlock()
	for i := 0; i < 3; i++ {
		_, _ = n.Publish("news", []byte(`{}`), PublishOptions{})
	}
	if d := tr.disconnect(); d == nil || d.Code != 3008 {
		t.Fatalf("disconnect %v, want 3008", d)
	}
	waitFor(t, time.Second, "cleanup", func() bool { return n.NumSubscribers("news") == 0 })
}

func TestShutdownDisconnectsAll(t *testing.T) {
	n, err := New(withBroker(testConfig()), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Run()
	_, a := connected(t, n, "1")
	_, pending := newTestClient(n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*fakeTransport{a, pending} {
		if d := tr.disconnect(); d == nil || d.Code != 3001 {
			t.Fatalf("disconnect %v, want 3001", d)
		}
	}
}

func TestRefresh(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := connected(t, n, "1")
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":2,"refresh":{"token":%q}}`, userToken(t, "1"))))
	if msgs := tr.messages(); !strings.HasPrefix(msgs[1], `{"id":2,"refresh":{"expires":true,"ttl":`) {
		t.Fatalf("refresh reply %q", msgs[1])
	}
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":3,"refresh":{"token":%q}}`, userToken(t, "2"))))
	if d := tr.disconnect(); d == nil || d.Code != 3500 {
		t.Fatalf("user mismatch: disconnect %v, want 3500", d)
	}
}

func TestPrivateChannelWithToken(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, tr := connected(t, n, "1")
	good := token(t, jwt.MapClaims{"sub": "1", "channel": "$secret", "exp": time.Now().Add(time.Hour).Unix()})
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":2,"subscribe":{"channel":"$secret","token":%q}}`, good)))
	if msgs := tr.messages(); !strings.HasPrefix(msgs[1], `{"id":2,"subscribe":{"expires":true,"ttl":`) {
		t.Fatalf("subscribe reply %q", msgs[1])
	}
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":3,"subscribe":{"channel":"$other","token":%q}}`, good+"x")))
	if msgs := tr.messages(); msgs[2] != `{"id":3,"error":{"code":103,"message":"permission denied"}}` {
		t.Fatalf("bad signature reply %q", msgs[2])
	}
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":4,"subscribe":{"channel":"$other","token":%q}}`, good)))
	if d := tr.disconnect(); d == nil || d.Code != 3500 {
		t.Fatalf("channel mismatch: disconnect %v, want 3500", d)
	}
}

// TestClientRefreshRearmsExpiry: a refresh token that brings the expiry closer is
// enforced at the new expiry (plus expired_close_delay), not when the client's timer
// next wakes for a ping an interval later.
func TestClientRefreshRearmsExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.PingInterval = 40 * time.Second
	cfg.PongTimeout = 5 * time.Second
	cfg.ExpiredCloseDelay = 50 * time.Millisecond
	n := newTestNode(t, cfg)
	c, tr := connected(t, n, "1")
	expireAt := time.Now().Unix() + 2
	c.HandleFrame([]byte(fmt.Sprintf(`{"id":2,"refresh":{"token":%q}}`, token(t, jwt.MapClaims{"sub": "1", "exp": expireAt}))))
	if msgs := tr.messages(); len(msgs) != 2 || !strings.HasPrefix(msgs[1], `{"id":2,"refresh":{"expires":true,"ttl":`) {
		t.Fatalf("refresh reply %q", msgs)
	}
	d := tr.waitClosed(4 * time.Second)
	late := time.Since(time.Unix(expireAt, 0))
	if d == nil || d.Code != 3005 {
		t.Fatalf("disconnect %v within 4 s of a refresh expiring in 2 s, want 3005", d)
	}
	if late < 0 || late > 1500*time.Millisecond {
		t.Fatalf("3005 %v after the refreshed expiry", late)
	}
}

// TestDisconnectDropQueue pins which disconnects tell the transport to discard the
// client's backlog rather than send it before the close frame.
func TestDisconnectDropQueue(t *testing.T) {
	for _, tt := range []struct {
		d    Disconnect
		drop bool
	}{
		{DisconnectSlow, true},
		{DisconnectConnectionClosed, true},
		{DisconnectShutdown, false},
		{DisconnectForceReconnect, false},
		{DisconnectInvalidToken, false},
		{Disconnect{Code: 4001, Reason: "custom"}, false},
	} {
		if got := tt.d.DropQueue(); got != tt.drop {
			t.Errorf("%d %q: DropQueue() = %v, want %v", tt.d.Code, tt.d.Reason, got, tt.drop)
		}
	}
}
