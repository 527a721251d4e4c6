package codec

// Fully populated sample messages shared by the round-trip, differential and benchmark
// tests. Raw payloads are compact JSON so they survive the JSON encoder unchanged.

func sampleInfo() *ClientInfo {
	return &ClientInfo{User: "42", Client: "c1", ConnInfo: []byte(`{"name":"alice"}`), ChanInfo: []byte(`[1,2]`)}
}

func samplePub() *Publication {
	return &Publication{
		Data:     []byte(`{"x":1,"s":"h\u00e9llo"}`),
		Info:     sampleInfo(),
		Offset:   1<<63 + 5,
		Tags:     map[string]string{"b": "2", "a": "1", "z\"q": "é\n"},
		Delta:    true,
		Time:     1700000000123,
		Channel:  "news",
		Key:      "k1",
		Removed:  true,
		Score:    -12345,
		Epoch:    "xyz",
		PrevData: []byte(`"prev"`),
		Version:  9,
	}
}

func sampleSubResult() *SubscribeResult {
	return &SubscribeResult{
		Expires: true, TTL: 60, Recoverable: true, Epoch: "ep",
		Publications: []*Publication{samplePub(), {Data: []byte(`2`), Offset: 2}},
		Recovered:    true, Offset: 3, Positioned: true, Data: []byte(`{"sub":true}`),
		WasRecovering: true, Delta: true, ID: -7, Type: 1, Phase: -2, Cursor: "cur",
		State: []*Publication{{Key: "k", Version: 3}}, PublishDebounce: 100,
	}
}

func sampleSubRequest() *SubscribeRequest {
	return &SubscribeRequest{
		Channel: "news", Token: "tok", Recover: true, Epoch: "ep", Offset: 1<<64 - 1,
		Data: []byte(`{"d":[1,2,3]}`), Positioned: true, Recoverable: true, JoinLeave: true,
		Delta: "fossil",
		Tf: &FilterNode{Op: "and", Nodes: []*FilterNode{
			{Key: "a", Cmp: "eq", Val: "1"},
			{Op: "not", Nodes: []*FilterNode{{Key: "b", Cmp: "in", Vals: []string{"x", "", "y"}}}},
		}},
		Flag: -1, Type: -3, Phase: 2, Cursor: "c", Limit: -100, Asc: true,
	}
}

type namedReply struct {
	name string
	r    *Reply
}

func sampleReplies() []namedReply {
	return []namedReply{
		{"ping", &Reply{}},
		{"error", &Reply{ID: 3, Error: &Error{Code: 100, Message: "internal server error", Temporary: true}}},
		{"error_empty", &Reply{ID: 3, Error: &Error{}}},
		{"push_pub", &Reply{Push: &Push{Channel: "news", Pub: samplePub()}}},
		{"push_pub_empty", &Reply{Push: &Push{Pub: &Publication{}}}},
		{"push_join", &Reply{Push: &Push{ID: 5, Channel: "chat", Join: &Join{Info: *sampleInfo()}}}},
		{"push_leave", &Reply{Push: &Push{Channel: "chat", Leave: &Leave{Info: ClientInfo{User: "u"}}}}},
		{"push_unsubscribe", &Reply{Push: &Push{Channel: "chat", Unsubscribe: &Unsubscribe{Code: 2000, Reason: "server unsubscribe"}}}},
		{"push_message", &Reply{Push: &Push{Message: &Message{Data: []byte(`"hi"`)}}}},
		{"push_subscribe", &Reply{Push: &Push{Channel: "ch", Subscribe: &Subscribe{Recoverable: true, Epoch: "e", Offset: 3, Positioned: true, Data: []byte(`{}`)}}}},
		{"push_connect", &Reply{Push: &Push{Connect: &Connect{
			Client: "c", Version: "1.0 OSS", Data: []byte(`{"a":1}`),
			Subs:    map[string]*SubscribeResult{"s2": sampleSubResult(), "s1": {}},
			Expires: true, TTL: 10, Ping: 25, Pong: true, Session: "sess", Node: "node", Time: -1,
		}}}},
		{"push_disconnect", &Reply{Push: &Push{Disconnect: &Disconnect{Code: 3001, Reason: "shutdown", Reconnect: true}}}},
		{"push_refresh", &Reply{Push: &Push{Refresh: &Refresh{Expires: true, TTL: 3600}}}},
		{"push_empty", &Reply{Push: &Push{}}},
		{"connect", &Reply{ID: 1, Connect: &ConnectResult{
			Client: "6f9", Version: "6.9.1 OSS", Expires: true, TTL: 100, Data: []byte(`{"k":"v"}`),
			Subs: map[string]*SubscribeResult{"personal:1": sampleSubResult()},
			Ping: 25, Pong: true, Session: "s", Node: "n", Time: 1700000000000,
		}}},
		{"connect_empty", &Reply{ID: 1, Connect: &ConnectResult{}}},
		{"subscribe", &Reply{ID: 2, Subscribe: sampleSubResult()}},
		{"subscribe_empty", &Reply{ID: 2, Subscribe: &SubscribeResult{}}},
		{"unsubscribe", &Reply{ID: 4, Unsubscribe: &UnsubscribeResult{}}},
		{"publish", &Reply{ID: 5, Publish: &PublishResult{}}},
		{"presence", &Reply{ID: 6, Presence: &PresenceResult{Presence: map[string]*ClientInfo{"c1": sampleInfo(), "c0": {User: "u0", Client: "c0"}}}}},
		{"presence_empty", &Reply{ID: 6, Presence: &PresenceResult{}}},
		{"presence_stats", &Reply{ID: 7, PresenceStats: &PresenceStatsResult{NumClients: 3, NumUsers: 2}}},
		{"presence_stats_zero", &Reply{ID: 7, PresenceStats: &PresenceStatsResult{}}},
		{"history", &Reply{ID: 8, History: &HistoryResult{Publications: []*Publication{samplePub(), {Offset: 1}}, Epoch: "e", Offset: 10}}},
		{"history_empty", &Reply{ID: 8, History: &HistoryResult{}}},
		{"rpc", &Reply{ID: 9, RPC: &RPCResult{Data: []byte(`[true,false,null]`)}}},
		{"rpc_empty", &Reply{ID: 9, RPC: &RPCResult{}}},
		{"refresh", &Reply{ID: 10, Refresh: &RefreshResult{Client: "c", Version: "v", Expires: true, TTL: 5}}},
		{"sub_refresh", &Reply{ID: 11, SubRefresh: &SubRefreshResult{Expires: true, TTL: 6, Items: []*Publication{{Key: "a"}}}}},
		{"max_id", &Reply{ID: 1<<32 - 1, Publish: &PublishResult{}}},
	}
}

type namedCommand struct {
	name string
	c    *Command
}

func sampleCommands() []namedCommand {
	return []namedCommand{
		{"pong", &Command{}},
		{"connect", &Command{ID: 1, Connect: &ConnectRequest{
			Token: "eyJ.x.y", Data: []byte(`{"hello":"world"}`),
			Subs: map[string]*SubscribeRequest{"b": {Recover: true, Offset: 5, Epoch: "e"}, "a": {}},
			Name: "js", Version: "5.0.0",
			Headers: map[string]string{"X-Y": "1", "A": ""},
			Flag:    1,
		}}},
		{"connect_empty", &Command{ID: 1, Connect: &ConnectRequest{}}},
		{"subscribe", &Command{ID: 2, Subscribe: sampleSubRequest()}},
		{"subscribe_js", &Command{ID: 2, Subscribe: &SubscribeRequest{Channel: "news", Flag: 1}}},
		{"unsubscribe", &Command{ID: 3, Unsubscribe: &UnsubscribeRequest{Channel: "news"}}},
		{"publish", &Command{ID: 4, Publish: &PublishRequest{Channel: "news", Data: []byte(`{"input":"hi"}`), Type: 1, Key: "k", Removed: true}}},
		{"presence", &Command{ID: 5, Presence: &PresenceRequest{Channel: "p"}}},
		{"presence_stats", &Command{ID: 6, PresenceStats: &PresenceStatsRequest{Channel: "p"}}},
		{"history", &Command{ID: 7, History: &HistoryRequest{Channel: "h", Limit: -1, Since: &StreamPosition{Offset: 9, Epoch: "e"}, Reverse: true}}},
		{"history_since_empty", &Command{ID: 7, History: &HistoryRequest{Channel: "h", Since: &StreamPosition{}}}},
		{"ping", &Command{ID: 8, Ping: &PingRequest{}}},
		{"send", &Command{Send: &SendRequest{Data: []byte(`"msg"`)}}},
		{"rpc", &Command{ID: 9, RPC: &RPCRequest{Data: []byte(`{"q":1.5e3}`), Method: "m"}}},
		{"refresh", &Command{ID: 10, Refresh: &RefreshRequest{Token: "t"}}},
		{"sub_refresh", &Command{ID: 11, SubRefresh: &SubRefreshRequest{
			Channel: "c", Token: "t", Type: 1,
			Track:   []*TrackBatch{{Signature: "sig", Items: []*KeyedItem{{Key: "k", Version: 2}, {}}}, {}},
			Untrack: []string{"a", ""},
		}}},
		{"all", &Command{ID: 12, Subscribe: &SubscribeRequest{Channel: "x"}, Publish: &PublishRequest{Channel: "y"}}},
	}
}
