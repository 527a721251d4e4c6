package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

func TestLegacyCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want string // 200 body; "400"/"500" for a plain-text error
	}{
		{"gocent publish", `{"method":"publish","params":{"channel":"h","data":{"x":1}}}` + "\n", `{"result":{"offset":3,"epoch":"E"}}`},
		{"several, ids, any white space", "{\"id\":1,\"method\":\"publish\",\"params\":{\"channel\":\"news\",\"data\":1}}\r\n\t {\"id\":2,\"method\":\"presence_stats\",\"params\":{\"channel\":\"chat\"}}{\"id\":3,\"method\":\"info\"}",
			`{"id":1,"result":{}}` + "\n" + `{"id":2,"result":{"num_clients":1,"num_users":1}}` + "\n" + `{"id":3,"result":{"nodes":[{"uid":"u","name":"n","version":"v","num_clients":1,"num_users":0,"num_channels":0,"num_subs":0}]}}`},
		{"missing method is publish", `{"params":{"channel":"h","data":1}}`, `{"result":{"offset":3,"epoch":"E"}}`},
		{"method case-insensitive", `{"method":"PreSence","params":{"channel":"chat"}}`, `{"result":{"presence":{"c1":{"user":"u1","client":"c1"}}}}`},
		{"method by number", `{"method":5,"params":{"channel":"chat"}}`, `{"result":{"num_clients":1,"num_users":1}}`},
		{"unicode upper-casing", `{"method":"publiſh","params":{"channel":"h","data":1}}`, `{"result":{"offset":3,"epoch":"E"}}`},
		{"number truncated to int32", `{"method":4294967305,"params":{}}`, `{"result":{"nodes":[{"uid":"u","name":"n","version":"v","num_clients":1,"num_users":0,"num_channels":0,"num_subs":0}]}}`},
		{"known but unsupported", `{"id":7,"method":"connections","params":{}}`, `{"id":7,"error":{"code":104,"message":"not found"}}`},
		{"map methods unsupported", `{"method":"map_publish","params":{"channel":"m","key":"k"}}`, `{"error":{"code":104,"message":"not found"}}`},
		{"unassigned number", `{"method":13}`, `{"error":{"code":104,"message":"not found"}}`},
		{"negative number", `{"method":-1}`, `{"error":{"code":104,"message":"not found"}}`},
		{"missing params", `{"method":"presence"}`, resp107},
		{"params null decodes as empty", `{"method":"presence","params":null}`, resp107},
		{"params null is fine for channels", `{"method":"channels","params":null}`, `{"result":{"channels":{"chat":{"num_clients":1}}}}`},
		{"params wrong shape", `{"id":4,"method":"presence","params":[]}`, `{"id":4,"error":{"code":107,"message":"bad request"}}`},
		{"params field type", `{"method":"history","params":{"channel":"chat","limit":"x"}}`, resp107},
		{"params b64data type", `{"method":"publish","params":{"channel":"h","b64data":1}}`, resp107},
		{"info ignores params", `{"method":"info","params":"garbage"}`, `{"result":{"nodes":[{"uid":"u","name":"n","version":"v","num_clients":1,"num_users":0,"num_channels":0,"num_subs":0}]}}`},
		{"null command is publish without params", `null`, resp107},
		{"null commands back to back", `nullnull`, resp107 + "\n" + resp107},
		{"node errors stay in replies", `{"id":9,"method":"history","params":{"channel":"stale"}}`, `{"id":9,"error":{"code":112,"message":"unrecoverable position"}}`},
		{"rpc", `{"method":"rpc","params":{"method":"m"}}` + "\n" + `{"method":"rpc","params":{}}`, resp104 + "\n" + resp107},
		{"all methods",
			`{"method":"broadcast","params":{"channels":["h"],"data":1}}` +
				`{"method":"subscribe","params":{"channel":"c","user":"u"}}` +
				`{"method":"unsubscribe","params":{"channel":"c","user":"u"}}` +
				`{"method":"disconnect","params":{"user":"u"}}` +
				`{"method":"history","params":{"channel":"chat","limit":-1}}` +
				`{"method":"history_remove","params":{"channel":"chat"}}` +
				`{"method":"refresh","params":{"user":"u"}}`,
			`{"result":{"responses":[{"result":{"offset":3,"epoch":"E"}}]}}` + "\n" + respOK + "\n" + respOK + "\n" + respOK + "\n" +
				`{"result":{"publications":[{"data":{"a":1},"offset":2}],"epoch":"ep","offset":2}}` + "\n" + respOK + "\n" + respOK},
		{"white space only", " \n\t", ""},
		{"empty", "", "400"},
		{"unknown method name", `{"method":"publishx","params":{}}`, "400"},
		{"escaped method name", `{"method":"pub\u006cish","params":{}}`, "400"},
		{"method null", `{"method":null}`, "400"},
		{"method empty string", `{"method":""}`, "400"},
		{"method numeric string", `{"method":"5"}`, "400"},
		{"method float", `{"method":5.0}`, "400"},
		{"id negative", `{"id":-1,"method":"info"}`, "400"},
		{"id too large", `{"id":4294967296,"method":"info"}`, "400"},
		{"array", `[]`, "400"},
		{"number", `1`, "400"},
		{"string", `"x"`, "400"},
		{"truncated", `{"method":"info"`, "400"},
		{"trailing garbage after a command", `{"method":"info"} x`, "400"},
		{"history binary data", `{"method":"history","params":{"channel":"binary","limit":-1}}`, "500"},
	}
	for _, tc := range cases {
		h := newTestHandler(Config{}, batchTestNode())
		for _, hdr := range []map[string]string{authed(), authed("X-Centrifugo-Error-Mode", "transport")} {
			resp := serve(t, h, request{uri: "/api", body: tc.body, headers: hdr})
			switch tc.want {
			case "400", "500":
				want := map[string]string{"400": "Bad Request\n", "500": "Internal Server Error\n"}[tc.want]
				if fmt.Sprint(resp.status) != tc.want || resp.body != want {
					t.Errorf("%s: %d %q, want %s", tc.name, resp.status, resp.body, tc.want)
				}
			default:
				if resp.status != 200 || resp.contentType != "application/json" || resp.body != tc.want {
					t.Errorf("%s:\n got %d %q\nwant 200 %q", tc.name, resp.status, resp.body, tc.want)
				}
			}
		}
	}
}

// A command that decodes runs at once: a later undecodable one makes the response a
// 400 after the earlier commands had their effect, as in Centrifugo.
func TestLegacyRunsCommandsBeforeALaterError(t *testing.T) {
	t.Parallel()
	node := batchTestNode()
	h := newTestHandler(Config{}, node)
	body := `{"method":"publish","params":{"channel":"first","data":1}}` + "\n" + `{"method":"unknown"}` + "\n" + `{"method":"publish","params":{"channel":"third","data":1}}`
	resp := serve(t, h, request{uri: "/api", body: body, headers: authed()})
	if resp.status != 400 {
		t.Fatalf("%d %q", resp.status, resp.body)
	}
	calls := node.lastCalls()
	if len(calls) != 1 || calls[0].channel != "first" {
		t.Fatalf("calls %+v", calls)
	}
}

// gocent v3 (github.com/centrifugal/gocent) sends commands encoded one per line by a
// json.Encoder, with "Authorization: apikey KEY", and reads the replies back with a
// json.Decoder into {"error","result"}. These mirror its request structs.
type gocentCommand struct {
	Method string `json:"method"`
	Params any    `json:"params"`
}

type gocentReply struct {
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Result json.RawMessage `json:"result"`
}

type gocentDisconnect struct {
	Code      uint32 `json:"code,omitempty"`
	Reason    string `json:"reason"`
	Reconnect bool   `json:"reconnect"`
}

type gocentDisconnectOptions struct {
	Disconnect      *gocentDisconnect
	ClientWhitelist []string
	ClientID        string `json:"client,omitempty"`
}

func TestLegacyGocentOverRealServer(t *testing.T) {
	t.Parallel()
	node := batchTestNode()
	ln := fasthttputil.NewInmemoryListener()
	h := newTestHandler(Config{}, node)
	srv := &fasthttp.Server{Handler: h.ServeHTTP}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	client := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}

	commands := []gocentCommand{
		{"publish", struct {
			Channel     string          `json:"channel"`
			Data        json.RawMessage `json:"data"`
			SkipHistory bool            `json:"skip_history,omitempty"`
		}{"h", json.RawMessage(`{"text":"hi"}`), true}},
		{"publish", struct {
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
		}{"nil-data", nil}}, // gocent sends "data":null for nil data
		{"broadcast", map[string]any{"channels": []string{"h", "nope:x"}, "data": json.RawMessage(`1`)}},
		{"subscribe", map[string]any{"channel": "c", "user": "u", "info": json.RawMessage(`{"i":1}`), "presence": true, "recover_since": map[string]any{"offset": 4, "epoch": "ep"}}},
		{"unsubscribe", map[string]any{"channel": "c", "user": "u"}},
		{"disconnect", struct {
			User string `json:"user"`
			gocentDisconnectOptions
		}{"u", gocentDisconnectOptions{Disconnect: &gocentDisconnect{Code: 4500, Reason: "bye"}, ClientWhitelist: []string{"keep"}}}},
		{"presence", map[string]any{"channel": "chat"}},
		{"presence_stats", map[string]any{"channel": "chat"}},
		{"history", map[string]any{"channel": "chat", "limit": -1, "since": map[string]any{"offset": 1, "epoch": "ep"}}},
		{"history_remove", map[string]any{"channel": "chat"}},
		{"channels", struct {
			Pattern string `json:"pattern,omitempty"`
		}{}},
		{"info", map[string]any{}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, c := range commands {
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod("POST")
	req.SetRequestURI("http://127.0.0.1/api")
	req.Header.Set("Authorization", "apikey "+testKey)
	req.Header.SetContentType("application/json")
	req.SetBody(buf.Bytes())
	resp := &fasthttp.Response{}
	if err := client.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
	}
	var replies []gocentReply
	dec := json.NewDecoder(bytes.NewReader(resp.Body()))
	for {
		var r gocentReply
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, r)
	}
	want := []string{
		`{"offset":3,"epoch":"E"}`,
		`{}`,
		`{"responses":[{"result":{"offset":3,"epoch":"E"}},{"error":{"code":102,"message":"unknown channel"}}]}`,
		`{}`, `{}`, `{}`,
		`{"presence":{"c1":{"user":"u1","client":"c1"}}}`,
		`{"num_clients":1,"num_users":1}`,
		`{"publications":[{"data":{"a":1},"offset":2}],"epoch":"ep","offset":2}`,
		`{}`,
		`{"channels":{"chat":{"num_clients":1}}}`,
		`{"nodes":[{"uid":"u","name":"n","version":"v","num_clients":1,"num_users":0,"num_channels":0,"num_subs":0}]}`,
	}
	if len(replies) != len(want) {
		t.Fatalf("%d replies, want %d: %s", len(replies), len(want), resp.Body())
	}
	for i, w := range want {
		if replies[i].Error != nil || string(replies[i].Result) != w {
			t.Errorf("reply %d: error %+v result %s, want %s", i, replies[i].Error, replies[i].Result, w)
		}
	}
	// What reached the node.
	calls := node.lastCalls()
	if len(calls) != 4 || calls[0].channel != "h" || calls[0].data != `{"text":"hi"}` || !calls[0].opts.SkipHistory ||
		calls[1].channel != "nil-data" || calls[1].data != "null" {
		t.Errorf("publishes %+v", calls)
	}
	var sub engine.ServerSubscribeRequest
	var disc engine.ServerDisconnectRequest
	var hist engine.HistoryRequest
	for _, c := range node.serverCalls() {
		switch r := c.req.(type) {
		case engine.ServerSubscribeRequest:
			sub = r
		case engine.ServerDisconnectRequest:
			disc = r
		case engine.HistoryRequest:
			hist = r
		}
	}
	if sub.Channel != "c" || sub.User != "u" || string(sub.Info) != `{"i":1}` || sub.Override != nil ||
		sub.RecoverSince == nil || *sub.RecoverSince != (codec.StreamPosition{Offset: 4, Epoch: "ep"}) {
		t.Errorf("subscribe %+v", sub)
	}
	// gocent's untagged "Disconnect" field matches "disconnect" case-insensitively;
	// "ClientWhitelist" matches nothing, as with encoding/json in Centrifugo.
	if disc.User != "u" || disc.Disconnect == nil || *disc.Disconnect != (engine.Disconnect{Code: 4500, Reason: "bye"}) || disc.Whitelist != nil {
		t.Errorf("disconnect %+v %+v", disc, disc.Disconnect)
	}
	if hist.Channel != "chat" || hist.Limit != -1 || hist.Since == nil || *hist.Since != (codec.StreamPosition{Offset: 1, Epoch: "ep"}) {
		t.Errorf("history %+v", hist)
	}
}

// refLegacyMethod is Centrifugo's CommandMethodType decoding, written plainly, as
// the reference for the decoder's fast path.
type refLegacyMethod int32

func (m *refLegacyMethod) UnmarshalJSON(data []byte) error {
	if len(data) > 2 {
		if v, ok := legacyMethodNames[strings.ToUpper(string(data[1:len(data)-1]))]; ok {
			*m = refLegacyMethod(v)
			return nil
		}
	}
	val, err := strconv.Atoi(string(data))
	if err != nil {
		return err
	}
	*m = refLegacyMethod(val)
	return nil
}

// refRawIn copies the raw value, as Centrifugo's apiproto.Raw does.
type refRawIn []byte

func (r *refRawIn) UnmarshalJSON(data []byte) error {
	*r = append((*r)[0:0], data...)
	return nil
}

type refLegacyCommand struct {
	ID     uint32          `json:"id,omitempty"`
	Method refLegacyMethod `json:"method,omitempty"`
	Params refRawIn        `json:"params,omitempty"`
}

// refLegacyDecode decodes a legacy body as Centrifugo does: a json.Decoder, one
// command per Decode, stopping at the first error.
func refLegacyDecode(body []byte) ([]refLegacyCommand, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var cmds []refLegacyCommand
	for {
		var c refLegacyCommand
		err := dec.Decode(&c)
		if err == io.EOF {
			return cmds, nil
		}
		if err != nil {
			return cmds, err
		}
		cmds = append(cmds, c)
	}
}

// decodeLegacyBody runs legacyDecoder over body to the end or the first error.
func decodeLegacyBody(body []byte) ([]legacyCommand, error) {
	d := legacyDecoder{body: body}
	var cmds []legacyCommand
	for {
		var c legacyCommand
		err := d.next(&c)
		if err == io.EOF {
			return cmds, nil
		}
		if err != nil {
			return cmds, err
		}
		c.Params = bytes.Clone(c.Params)
		cmds = append(cmds, c)
	}
}

func TestLegacyMethodTable(t *testing.T) {
	t.Parallel()
	for name, num := range map[string]legacyMethod{"PUBLISH": 0, "INFO": 9, "SUBSCRIBE": 11, "REFRESH": 12, "CONNECTIONS": 14, "SHARED_POLL_PUBLISH": 39} {
		if legacyMethodNames[name] != num {
			t.Errorf("%s = %d, want %d", name, legacyMethodNames[name], num)
		}
	}
	for name := range legacyMethodNames {
		if len(name) > maxLegacyName {
			t.Errorf("%s is longer than maxLegacyName", name)
		}
	}
	for num, m := range legacyMethods {
		var found bool
		for name, n := range legacyMethodNames {
			if n == num && strings.EqualFold(name, m.String()) {
				found = true
			}
		}
		if !found {
			t.Errorf("legacy %d maps to %s, which has another number", num, m)
		}
	}
}

func FuzzLegacyAPIDecode(f *testing.F) {
	seeds := []string{
		`{"method":"publish","params":{"channel":"news","data":{"x":1}}}` + "\n",
		`{"id":1,"method":"PRESENCE","params":{"channel":"c"}} {"id":2,"method":9}{"method":"info"}`,
		`null null`, `nullnull`, `{}{}`, `{"method":"publiſh"}`, `{"method":"ınfo"}`, `{"METHOD":"info","ID":3,"Params":{}}`,
		`{"method":"bogus","method":"info"}`, `{"method":"info","method":"bogus"}`, `{"method":null}`, `{"method":""}`,
		`{"method":"5"}`, `{"method":5.0}`, `{"method":99999999999}`, `{"method":-1}`, `{"method":[1]}`, `{"method":{}}`,
		`{"id":-1}`, `{"id":"1"}`, `{"params":null}`, `{"params":[1, 2 ]}`, `{"a":"}"}`, `{"a":"\"}"} {}`,
		`[]`, `1`, `"x"`, `true`, `{`, `{"method":"info"} x`, `{"a":1]`, `{"a":[}`, ` `, "\t\r\n",
		"{\"m\":\"\xff\"}", "{\"m\":\"\x01\"}", `{"method":"pub\u006cish"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	h := New(Config{Insecure: true}, nopNode{})
	f.Fuzz(func(t *testing.T, body []byte) {
		// The whole endpoint: 400 exactly when the body does not decode, else one
		// JSON reply per command, newline-separated.
		resp := serve(t, h, request{uri: "/api", body: string(body)})
		got, gotErr := decodeLegacyBody(body)
		switch {
		case len(body) == 0 || gotErr != nil:
			if resp.status != 400 {
				t.Fatalf("%q: status %d, want 400", body, resp.status)
			}
		case resp.status != 200:
			t.Fatalf("%q: status %d %q", body, resp.status, resp.body)
		case len(got) == 0:
			if resp.body != "" {
				t.Fatalf("%q: body %q for no commands", body, resp.body)
			}
		default:
			lines := strings.Split(resp.body, "\n")
			if len(lines) != len(got) {
				t.Fatalf("%q: %d replies for %d commands: %q", body, len(lines), len(got), resp.body)
			}
			for _, l := range lines {
				if !json.Valid([]byte(l)) {
					t.Fatalf("%q: reply %q is not JSON", body, l)
				}
			}
		}

		want, wantErr := refLegacyDecode(body)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q: err %v, encoding/json err %v", body, gotErr, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d commands, encoding/json %d", body, len(got), len(want))
		}
		// With invalid UTF-8 anywhere in the body, sonic (OptionValidateString) decodes
		// a copy with the bad bytes replaced by U+FFFD, so raw params differ from the
		// body there; decoded strings agree with encoding/json, which does the same.
		validUTF8 := utf8.Valid(body)
		for i := range got {
			g, w := got[i], want[i]
			sameParams := bytes.Equal(g.Params, w.Params) || !validUTF8
			if g.ID != w.ID || int32(g.Method) != int32(w.Method) || !sameParams || (g.Params == nil) != (w.Params == nil) {
				t.Fatalf("%q: command %d = {%d %d %q}, encoding/json {%d %d %q}", body, i, g.ID, g.Method, g.Params, w.ID, w.Method, w.Params)
			}
		}
	})
}

// stoppingNode reports that it is shutting down.
type stoppingNode struct{ fakeNode }

func (*stoppingNode) ShuttingDown() bool { return true }

func TestLegacyShutdown(t *testing.T) {
	t.Parallel()
	node := &stoppingNode{}
	h := newTestHandler(Config{}, node)
	resp := serve(t, h, request{uri: "/api", body: `{"method":"publish","params":{"channel":"a","data":1}}`, headers: authed()})
	if resp.status != 503 || resp.body != "" || resp.contentType != "" {
		t.Fatalf("%d %q %q", resp.status, resp.contentType, resp.body)
	}
	// Auth still comes first, and the per-method endpoints keep serving.
	if resp := serve(t, h, request{uri: "/api", body: "{}"}); resp.status != 401 {
		t.Fatalf("unauthenticated: %d", resp.status)
	}
	if resp := serve(t, h, request{uri: "/api/publish", body: `{"channel":"a","data":1}`, headers: authed()}); resp.status != 200 {
		t.Fatalf("publish: %d", resp.status)
	}
	if len(node.lastCalls()) != 1 {
		t.Fatalf("calls %+v", node.lastCalls())
	}
}
