package api

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

func batchTestNode() *fakeNode {
	return &fakeNode{
		errs:    standardErrs(),
		results: map[string]engine.PublishResult{"h": {Offset: 3, Epoch: "E"}},
		presence: map[string]map[string]*codec.ClientInfo{
			"chat": {"c1": {User: "u1", Client: "c1"}},
		},
		stats: map[string]engine.PresenceStats{"chat": {NumClients: 1, NumUsers: 1}},
		history: map[string]engine.HistoryResult{
			"chat":   {Epoch: "ep", Offset: 2, Publications: []*codec.Publication{{Data: []byte(`{"a":1}`), Offset: 2}}},
			"binary": {Epoch: "e", Publications: []*codec.Publication{{Data: []byte("\x00"), Offset: 1}}},
		},
		channels: map[string]engine.ChannelInfo{"chat": {NumClients: 1}},
		info:     engine.NodeInfo{UID: "u", Name: "n", Version: "v", NumClients: 1},
	}
}

func TestBatchSequential(t *testing.T) {
	t.Parallel()
	node := batchTestNode()
	h := newTestHandler(Config{}, node)
	cmds := []struct{ cmd, reply string }{
		{`{"publish":{"channel":"h","data":{"x":1}}}`, `{"publish":{"offset":3,"epoch":"E"}}`},
		{`{"broadcast":{"channels":["h","nope:x",""],"data":1}}`, `{"broadcast":{"responses":[{"result":{"offset":3,"epoch":"E"}},{"error":{"code":102,"message":"unknown channel"}},{"error":{"code":107,"message":"bad request"}}]}}`},
		{`{"subscribe":{"channel":"c","user":"u"}}`, `{"subscribe":{}}`},
		{`{"unsubscribe":{"channel":"c","user":"u"}}`, `{"unsubscribe":{}}`},
		{`{"disconnect":{"user":"u"}}`, `{"disconnect":{}}`},
		{`{"presence":{"channel":"chat"}}`, `{"presence":{"presence":{"c1":{"user":"u1","client":"c1"}}}}`},
		{`{"presence_stats":{"channel":"chat"}}`, `{"presence_stats":{"num_clients":1,"num_users":1}}`},
		{`{"history":{"channel":"chat","limit":-1}}`, `{"history":{"publications":[{"data":{"a":1},"offset":2}],"epoch":"ep","offset":2}}`},
		{`{"history_remove":{"channel":"chat"}}`, `{"history_remove":{}}`},
		{`{"info":{}}`, `{"info":{"nodes":[{"uid":"u","name":"n","version":"v","num_clients":1,"num_users":0,"num_channels":0,"num_subs":0}]}}`},
		{`{"rpc":{"method":"x"}}`, `{"error":{"code":104,"message":"not found"}}`},
		{`{"refresh":{"user":"u","expire_at":5}}`, `{"refresh":{}}`},
		{`{"channels":{}}`, `{"channels":{"channels":{"chat":{"num_clients":1}}}}`},
		{`null`, `{"error":{"code":107,"message":"bad request"}}`},
		{`{}`, `{"error":{"code":104,"message":"not found"}}`},
		{`{"connections":{"user":"u"}}`, `{"error":{"code":104,"message":"not found"}}`},
		{`{"map_publish":{"channel":"m","key":"k","data":{}}}`, `{"error":{"code":104,"message":"not found"}}`},
		{`{"publish":{"channel":""}}`, `{"error":{"code":107,"message":"bad request"}}`},
		{`{"presence":{"channel":"nope:x"}}`, `{"error":{"code":102,"message":"unknown channel"}}`},
		{`{"history":{"channel":"broken"}}`, `{"error":{"code":100,"message":"internal server error"}}`},
		{`{"publish":null,"presence_stats":{"channel":"chat"}}`, `{"presence_stats":{"num_clients":1,"num_users":1}}`},
		// Centrifugo's precedence: history is checked before presence.
		{`{"presence":{"channel":"chat"},"history":{"channel":"empty"}}`, `{"history":{"publications":[],"epoch":"","offset":0}}`},
		{`{"PUBLISH":{"channel":"h","data":1}}`, `{"publish":{"offset":3,"epoch":"E"}}`},
	}
	var body, want strings.Builder
	body.WriteString(`{"commands":[`)
	want.WriteString(`{"replies":[`)
	for i, c := range cmds {
		if i > 0 {
			body.WriteString(",\n")
			want.WriteString(",")
		}
		body.WriteString(c.cmd)
		want.WriteString(c.reply)
	}
	body.WriteString("]}")
	want.WriteString("]}")
	for _, hdr := range []map[string]string{authed(), authed("X-Centrifugo-Error-Mode", "transport")} {
		resp := serve(t, h, request{uri: "/api/batch", body: body.String(), headers: hdr})
		if resp.status != 200 || resp.contentType != "application/json" || resp.body != want.String() {
			t.Fatalf("%d %q\n got %s\nwant %s", resp.status, resp.contentType, resp.body, want.String())
		}
	}
	// Sequential: the node saw the calls in command order.
	var order []string
	for _, c := range node.serverCalls() {
		order = append(order, c.method)
	}
	wantOrder := "subscribe unsubscribe disconnect presence presence_stats history history_remove refresh channels presence history presence_stats history"
	if got := strings.Join(order[:len(order)/2], " "); got != wantOrder {
		t.Fatalf("call order:\n got %s\nwant %s", got, wantOrder)
	}
}

func TestBatchParallelKeepsOrder(t *testing.T) {
	t.Parallel()
	const n = 8
	node := &fakeNode{stats: map[string]engine.PresenceStats{}}
	for i := range n {
		node.stats[fmt.Sprintf("p%d", i)] = engine.PresenceStats{NumClients: uint32(i), NumUsers: uint32(100 + i)}
	}
	// Every call waits until all n are in flight: a sequential run would time out.
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	timedOut := false
	node.onCall = func(_, key string) {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(5 * time.Second):
			mu.Lock()
			timedOut = true
			mu.Unlock()
		}
		// Finish in reverse order of the commands.
		var i int
		_, _ = fmt.Sscanf(key, "p%d", &i)
		time.Sleep(time.Duration(n-i) * 2 * time.Millisecond)
	}
	h := newTestHandler(Config{}, node)
	var body, want strings.Builder
	body.WriteString(`{"parallel":true,"commands":[`)
	want.WriteString(`{"replies":[`)
	for i := range n {
		if i > 0 {
			body.WriteString(",")
			want.WriteString(",")
		}
		fmt.Fprintf(&body, `{"presence_stats":{"channel":"p%d"}}`, i)
		fmt.Fprintf(&want, `{"presence_stats":{"num_clients":%d,"num_users":%d}}`, i, 100+i)
	}
	body.WriteString("]}")
	want.WriteString("]}")
	resp := serve(t, h, request{uri: "/api/batch", body: body.String(), headers: authed()})
	if resp.status != 200 || resp.body != want.String() {
		t.Fatalf("%d\n got %s\nwant %s", resp.status, resp.body, want.String())
	}
	if timedOut {
		t.Fatal("parallel batch did not run its commands concurrently")
	}
}

func TestBatchParallelMixed(t *testing.T) {
	t.Parallel()
	h := newTestHandler(Config{}, batchTestNode())
	body := `{"commands":[{"publish":{"channel":"h","data":1}},null,{"history":{"channel":"chat","limit":1}},{},{"presence":{"channel":"nope:x"}},{"broadcast":{"channels":["h","h"],"data":1}}],"parallel":true}`
	want := `{"replies":[{"publish":{"offset":3,"epoch":"E"}},{"error":{"code":107,"message":"bad request"}},{"history":{"publications":[{"data":{"a":1},"offset":2}],"epoch":"ep","offset":2}},{"error":{"code":104,"message":"not found"}},{"error":{"code":102,"message":"unknown channel"}},{"broadcast":{"responses":[{"result":{"offset":3,"epoch":"E"}},{"result":{"offset":3,"epoch":"E"}}]}}]}`
	for range 20 {
		resp := serve(t, h, request{uri: "/api/batch", body: body, headers: authed()})
		if resp.status != 200 || resp.body != want {
			t.Fatalf("%d\n got %s\nwant %s", resp.status, resp.body, want)
		}
	}
}

func TestBatchEdges(t *testing.T) {
	t.Parallel()
	node := batchTestNode()
	h := newTestHandler(Config{}, node)
	cases := []struct{ body, status, want string }{
		{`{}`, "200", `{}`},
		{`null`, "200", `{}`},
		{`{"commands":[]}`, "200", `{}`},
		{`{"commands":null,"parallel":true}`, "200", `{}`},
		{`{"commands":[{"info":{}}],"parallel":true}`, "200", `{"replies":[{"info":{"nodes":[{"uid":"u","name":"n","version":"v","num_clients":1,"num_users":0,"num_channels":0,"num_subs":0}]}}]}`},
		{`{"commands":[{"info":null}]}`, "200", `{"replies":[{"error":{"code":104,"message":"not found"}}]}`},
		{`{"commands":[{"history":{"channel":"binary","limit":-1}}]}`, "500", "Internal Server Error\n"},
		{`{"commands":[{"info":{}},{"history":{"channel":"binary","limit":-1}}],"parallel":true}`, "500", "Internal Server Error\n"},
		// Anything that does not decode as Centrifugo's BatchRequest is a 400 before
		// any command runs.
		{`{"commands":[{"publish":{"channel":1}}]}`, "400", "Bad Request\n"},
		{`{"commands":[{"subscribe":{"channel":"a"}},{"publish":{"channel":"a","b64data":1}}]}`, "400", "Bad Request\n"},
		{`{"commands":[{"publish":{"channel":"a"},"broadcast":{"b64data":[]}}]}`, "400", "Bad Request\n"},
		{`{"commands":[{"subscribe":{"channel":"a"}},{"history":{"limit":"x"}}]}`, "400", "Bad Request\n"},
		{`{"commands":[{"subscribe":{"channel":"a"}},{"info":1}]}`, "400", "Bad Request\n"},
		{`{"commands":{}}`, "400", "Bad Request\n"},
		{`{"commands":[1]}`, "400", "Bad Request\n"},
		{`{"parallel":"yes"}`, "400", "Bad Request\n"},
		{``, "400", "Bad Request\n"},
	}
	for _, tc := range cases {
		resp := serve(t, h, request{uri: "/api/batch", body: tc.body, headers: authed()})
		if fmt.Sprint(resp.status) != tc.status || resp.body != tc.want {
			t.Errorf("%s: %d %q, want %s %q", tc.body, resp.status, resp.body, tc.status, tc.want)
		}
	}
	for _, c := range node.serverCalls() {
		if c.method == "subscribe" {
			t.Fatalf("a command ran from an undecodable batch: %+v", c)
		}
	}
}
