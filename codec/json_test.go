package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// Golden JSON taken from shared/spec/client-protocol.md (§2, §4, §5, §7).
func TestJSONGoldenReplies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		r    *Reply
		want string
	}{
		{"connect", &Reply{ID: 1, Connect: &ConnectResult{Client: "6f9…", Version: "6.9.1 OSS", Ping: 25, Pong: true}},
			`{"id":1,"connect":{"client":"6f9…","version":"6.9.1 OSS","ping":25,"pong":true}}`},
		{"error", &Reply{ID: 3, Error: &Error{Code: 103, Message: "permission denied"}},
			`{"id":3,"error":{"code":103,"message":"permission denied"}}`},
		{"error_temporary", &Reply{ID: 3, Error: &Error{Code: 100, Message: "internal server error", Temporary: true}},
			`{"id":3,"error":{"code":100,"message":"internal server error","temporary":true}}`},
		{"publish", &Reply{ID: 3, Publish: &PublishResult{}}, `{"id":3,"publish":{}}`},
		{"unsubscribe", &Reply{ID: 4, Unsubscribe: &UnsubscribeResult{}}, `{"id":4,"unsubscribe":{}}`},
		{"subscribe_empty", &Reply{ID: 2, Subscribe: &SubscribeResult{}}, `{"id":2,"subscribe":{}}`},
		{"rpc_empty", &Reply{ID: 2, RPC: &RPCResult{}}, `{"id":2,"rpc":{}}`},
		{"ping", &Reply{}, `{}`},
		{"pub", &Reply{Push: &Push{Channel: "news", Pub: &Publication{Data: []byte(`{"x":1}`), Offset: 7}}},
			`{"push":{"channel":"news","pub":{"data":{"x":1},"offset":7}}}`},
		{"pub_t", &Reply{Push: &Push{Channel: "news", Pub: &Publication{Data: []byte(`{"t":"hi"}`), Offset: 12}}},
			`{"push":{"channel":"news","pub":{"data":{"t":"hi"},"offset":12}}}`},
		{"pub_first_of_epoch", &Reply{Push: &Push{Channel: "news", Pub: &Publication{Data: []byte(`{"x":1}`), Offset: 1, Epoch: "abcdEFGH"}}},
			`{"push":{"channel":"news","pub":{"data":{"x":1},"offset":1,"epoch":"abcdEFGH"}}}`},
		{"join", &Reply{Push: &Push{Channel: "chat", Join: &Join{Info: ClientInfo{User: "42", Client: "c1"}}}},
			`{"push":{"channel":"chat","join":{"info":{"user":"42","client":"c1"}}}}`},
		{"leave_anonymous", &Reply{Push: &Push{Channel: "chat", Leave: &Leave{Info: ClientInfo{Client: "c1"}}}},
			`{"push":{"channel":"chat","leave":{"info":{"user":"","client":"c1"}}}}`},
		{"unsubscribe_push", &Reply{Push: &Push{Channel: "chat", Unsubscribe: &Unsubscribe{Code: 2000, Reason: "server unsubscribe"}}},
			`{"push":{"channel":"chat","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}`},
		{"subscribe_push", &Reply{Push: &Push{Channel: "ch", Subscribe: &Subscribe{Recoverable: true, Epoch: "xY…", Offset: 3, Positioned: true}}},
			`{"push":{"channel":"ch","subscribe":{"recoverable":true,"epoch":"xY…","offset":3,"positioned":true}}}`},
		{"message", &Reply{Push: &Push{Message: &Message{Data: []byte(`{"a":1}`)}}}, `{"push":{"message":{"data":{"a":1}}}}`},
		{"refresh", &Reply{Push: &Push{Refresh: &Refresh{Expires: true, TTL: 3600}}}, `{"push":{"refresh":{"expires":true,"ttl":3600}}}`},
		{"disconnect", &Reply{Push: &Push{Disconnect: &Disconnect{Code: 3001, Reason: "shutdown"}}},
			`{"push":{"disconnect":{"code":3001,"reason":"shutdown"}}}`},
		{"presence_empty", &Reply{ID: 5, Presence: &PresenceResult{}}, `{"id":5,"presence":{"presence":{}}}`},
		{"presence", &Reply{ID: 5, Presence: &PresenceResult{Presence: map[string]*ClientInfo{
			"c2": {User: "2", Client: "c2", ConnInfo: []byte(`{"n":2}`)}, "c1": {Client: "c1"}}}},
			`{"id":5,"presence":{"presence":{"c1":{"user":"","client":"c1"},"c2":{"user":"2","client":"c2","conn_info":{"n":2}}}}}`},
		{"presence_stats_zero", &Reply{ID: 5, PresenceStats: &PresenceStatsResult{}}, `{"id":5,"presence_stats":{"num_clients":0,"num_users":0}}`},
		{"history_empty", &Reply{ID: 6, History: &HistoryResult{}}, `{"id":6,"history":{"publications":[],"epoch":"","offset":0}}`},
		{"history", &Reply{ID: 6, History: &HistoryResult{Publications: []*Publication{{Data: []byte(`1`), Offset: 1}, {Data: []byte(`"s"`), Offset: 2}}, Epoch: "ep", Offset: 2}},
			`{"id":6,"history":{"publications":[{"data":1,"offset":1},{"data":"s","offset":2}],"epoch":"ep","offset":2}}`},
		{"tags_sorted", &Reply{Push: &Push{Channel: "c", Pub: &Publication{Data: []byte(`{}`), Tags: map[string]string{"z": "1", "a": "2", "m": "3"}}}},
			`{"push":{"channel":"c","pub":{"data":{},"tags":{"a":"2","m":"3","z":"1"}}}}`},
		{"raw_newlines_removed", &Reply{Push: &Push{Channel: "c", Pub: &Publication{Data: []byte("{\n  \"a\": [1,\n 2]\n}\n")}}},
			`{"push":{"channel":"c","pub":{"data":{  "a": [1, 2]}}}}`},
		{"connect_subs", &Reply{ID: 1, Connect: &ConnectResult{Client: "c", Version: "v", Subs: map[string]*SubscribeResult{
			"b": {Recoverable: true, Positioned: true, Epoch: "e", Offset: 0}, "a": nil}}},
			`{"id":1,"connect":{"client":"c","version":"v","subs":{"a":{},"b":{"recoverable":true,"epoch":"e","positioned":true}}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendReply(ProtocolJSON, nil, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("\n got  %s\n want %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
}

func TestJSONGoldenPushes(t *testing.T) {
	t.Parallel()
	// Unidirectional transports send the Push itself.
	got, err := AppendPush(ProtocolJSON, nil, &Push{Connect: &Connect{Client: "c1", Version: "6.9.1 OSS", Ping: 25, Session: "s1"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"connect":{"client":"c1","version":"6.9.1 OSS","ping":25,"session":"s1"}}`; string(got) != want {
		t.Fatalf("got %s want %s", got, want)
	}
	pub := &Publication{Data: []byte(`{"x":1}`), Offset: 7}
	if got, want := string(AppendBarePublicationPush(ProtocolJSON, nil, "news", pub)), `{"channel":"news","pub":{"data":{"x":1},"offset":7}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if got, want := string(AppendPublicationPush(ProtocolJSON, nil, "news", pub)), `{"push":{"channel":"news","pub":{"data":{"x":1},"offset":7}}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	info := &ClientInfo{User: "42", Client: "c1", ChanInfo: []byte(`{"r":1}`)}
	if got, want := string(AppendJoinPush(ProtocolJSON, nil, "chat", info)), `{"push":{"channel":"chat","join":{"info":{"user":"42","client":"c1","chan_info":{"r":1}}}}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if got, want := string(AppendLeavePush(ProtocolJSON, nil, "chat", info)), `{"push":{"channel":"chat","leave":{"info":{"user":"42","client":"c1","chan_info":{"r":1}}}}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if got, want := string(AppendUnsubscribePush(ProtocolJSON, nil, "chat", 2500, "insufficient state")), `{"push":{"channel":"chat","unsubscribe":{"code":2500,"reason":"insufficient state"}}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if got, want := string(AppendErrorReply(ProtocolJSON, nil, 3, 103, "permission denied", false)), `{"id":3,"error":{"code":103,"message":"permission denied"}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if got := string(AppendPing(ProtocolJSON, []byte("x"))); got != "x{}" {
		t.Fatalf("ping: %s", got)
	}
}

func TestJSONInvalidRaw(t *testing.T) {
	t.Parallel()
	bad := [][]byte{[]byte("\x00\x01"), []byte("   "), []byte("{"), []byte("abc"), []byte(`"x`), []byte("[1,"), []byte("1."), []byte("\n")}
	for _, raw := range bad {
		dst := []byte("keep")
		out, err := AppendReply(ProtocolJSON, dst, &Reply{Push: &Push{Pub: &Publication{Data: raw}}})
		if !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("%q: want ErrInvalidJSON, got %v (%s)", raw, err, out)
		}
		if string(out) != "keep" {
			t.Errorf("%q: dst not restored: %q", raw, out)
		}
		if _, err := AppendCommand(ProtocolJSON, nil, &Command{ID: 1, Publish: &PublishRequest{Data: raw}}); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("command %q: want ErrInvalidJSON, got %v", raw, err)
		}
		// Protobuf carries any bytes.
		if _, err := AppendReply(ProtocolProtobuf, nil, &Reply{Push: &Push{Pub: &Publication{Data: raw}}}); err != nil {
			t.Errorf("protobuf %q: %v", raw, err)
		}
	}
	for _, raw := range []string{`{}`, `[]`, `""`, `0`, `-1.5e3`, `true`, `false`, `null`, ` {"a":1} `, "\t[1]\r"} {
		if _, err := AppendReply(ProtocolJSON, nil, &Reply{Push: &Push{Pub: &Publication{Data: []byte(raw)}}}); err != nil {
			t.Errorf("%q: %v", raw, err)
		}
	}
}

// TestJSONStringEscaping compares appendJSONString with encoding/json (HTML escaping
// off), which escapes the same set: quotes, backslash, control bytes, U+2028/2029, and
// replaces invalid UTF-8 with U+FFFD.
func TestJSONStringEscaping(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", `q"uote`, `back\slash`, "nl\nret\rtab\tbs\bff\f", "\x00\x01\x1f\x7f",
		"é日本🎉", "\u2028\u2029", "bad\xffutf8\xc3", "\xed\xa0\x80", "<&>", "/",
	} {
		if got, want := string(appendJSONString(nil, s)), stdJSONString(t, s); got != want {
			t.Errorf("%q: got %s want %s", s, got, want)
		}
	}
}

func stdJSONString(t testing.TB, s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// TestJSONDecodeSpecFrame decodes the connect frame of §8 as centrifuge-js sends it.
func TestJSONDecodeSpecFrame(t *testing.T) {
	t.Parallel()
	frame := []byte("{\"connect\":{\"token\":\"eyJ…\",\"name\":\"js\"},\"id\":1}\n{\"subscribe\":{\"channel\":\"news\",\"flag\":1},\"id\":2}")
	want := []*Command{
		{ID: 1, Connect: &ConnectRequest{Token: "eyJ…", Name: "js"}},
		{ID: 2, Subscribe: &SubscribeRequest{Channel: "news", Flag: 1}},
	}
	for _, f := range [][]byte{frame, append(frame, '\n')} {
		d := NewCommandDecoder(ProtocolJSON)
		d.Reset(f)
		for i, w := range want {
			var c Command
			if err := d.Decode(&c); err != nil {
				t.Fatalf("cmd %d: %v", i, err)
			}
			if !reflect.DeepEqual(&c, w) {
				t.Fatalf("cmd %d: got %#v want %#v", i, c, *w)
			}
		}
		var c Command
		if err := d.Decode(&c); err != io.EOF {
			t.Fatalf("want io.EOF, got %v", err)
		}
	}
}

func decodeOneJSON(t *testing.T, line string) *Command {
	t.Helper()
	d := NewCommandDecoder(ProtocolJSON)
	d.Reset([]byte(line))
	var c Command
	if err := d.Decode(&c); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return &c
}

func TestJSONDecodeDetails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want *Command
	}{
		{"pong", `{}`, &Command{}},
		{"pong_spaces", " \t{ }\r", &Command{}},
		{"null_line", "null", &Command{}}, // Centrifugo's decoder reads it as an empty command
		{"null_request", `{"id":1,"connect":null,"subscribe":{"channel":"a"}}`, &Command{ID: 1, Subscribe: &SubscribeRequest{Channel: "a"}}},
		{"null_scalars", `{"id":null,"subscribe":{"channel":null,"recover":null,"offset":null,"tf":null,"data":null}}`,
			&Command{Subscribe: &SubscribeRequest{Data: []byte("null")}}},
		{"unknown_fields", `{"x":{"y":[1,{"z":null}],"w":"\u00e9"},"id":2,"subscribe":{"channel":"a","future":true},"n":-0.5e-3}`,
			&Command{ID: 2, Subscribe: &SubscribeRequest{Channel: "a"}}},
		{"case_insensitive_names", `{"ID":7,"Subscribe":{"CHANNEL":"MiXed"}}`, &Command{ID: 7, Subscribe: &SubscribeRequest{Channel: "MiXed"}}},
		{"escaped_names", `{"\u0069d":7,"sub\u0073cribe":{"channel":"x"}}`, &Command{ID: 7, Subscribe: &SubscribeRequest{Channel: "x"}}},
		{"string_escapes", `{"id":1,"subscribe":{"channel":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\ud800x\udc00"}}`,
			&Command{ID: 1, Subscribe: &SubscribeRequest{Channel: "a\"b\\c/d\b\f\n\r\té😀\uFFFDx\uFFFD"}}},
		{"invalid_utf8_in_string", "{\"id\":1,\"subscribe\":{\"channel\":\"a\xffb\"}}", &Command{ID: 1, Subscribe: &SubscribeRequest{Channel: "a\uFFFDb"}}},
		{"raw_verbatim_object", `{"id":1,"publish":{"channel":"c","data": {"a" : [1, 2.5e1, "\n"]} }}`,
			&Command{ID: 1, Publish: &PublishRequest{Channel: "c", Data: []byte(`{"a" : [1, 2.5e1, "\n"]}`)}}},
		{"raw_verbatim_string", `{"id":1,"rpc":{"method":"m","data":"te\"xt"}}`, &Command{ID: 1, RPC: &RPCRequest{Method: "m", Data: []byte(`"te\"xt"`)}}},
		{"raw_verbatim_number", `{"send":{"data":-12.5E+2}}`, &Command{Send: &SendRequest{Data: []byte(`-12.5E+2`)}}},
		{"max_values", `{"id":4294967295,"subscribe":{"offset":18446744073709551615,"flag":-9223372036854775808,"limit":-2147483648,"type":2147483647}}`,
			&Command{ID: 1<<32 - 1, Subscribe: &SubscribeRequest{Offset: 1<<64 - 1, Flag: -1 << 63, Limit: -1 << 31, Type: 1<<31 - 1}}},
		{"ping", `{"id":3,"ping":{}}`, &Command{ID: 3, Ping: &PingRequest{}}},
		{"duplicate_last_wins", `{"id":1,"id":2,"subscribe":{"channel":"a"},"subscribe":{"token":"t"}}`,
			&Command{ID: 2, Subscribe: &SubscribeRequest{Channel: "a", Token: "t"}}},
		{"headers_map_keeps_case", `{"id":1,"connect":{"headers":{"X-Real":"v","x-real":"w"},"subs":{"Ch":{"recover":true},"n":null}}}`,
			&Command{ID: 1, Connect: &ConnectRequest{Headers: map[string]string{"X-Real": "v", "x-real": "w"},
				Subs: map[string]*SubscribeRequest{"Ch": {Recover: true}, "n": {}}}}},
		{"empty_collections", `{"id":1,"connect":{"headers":{},"subs":{}},"sub_refresh":{"track":[],"untrack":[]}}`,
			&Command{ID: 1, Connect: &ConnectRequest{}, SubRefresh: &SubRefreshRequest{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := decodeOneJSON(t, tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("\n got  %#v\n want %#v", *got, *tc.want)
			}
		})
	}
}

func TestJSONDecodeAliasing(t *testing.T) {
	t.Parallel()
	frame := []byte(`{"id":1,"publish":{"channel":"news","data":{"a":1}}}`)
	d := NewCommandDecoder(ProtocolJSON)
	d.Reset(frame)
	var c Command
	if err := d.Decode(&c); err != nil {
		t.Fatal(err)
	}
	// The raw payload aliases the frame, but its capacity is cut so an append
	// cannot write into the frame.
	_ = append(c.Publish.Data, "XXXX"...)
	if !bytes.HasSuffix(frame, []byte(`{"a":1}}}`)) {
		t.Fatalf("frame modified: %s", frame)
	}
	// Strings are copies: reusing the frame must not change them.
	for i := range frame {
		frame[i] = 'z'
	}
	if c.Publish.Channel != "news" {
		t.Fatalf("channel aliases the frame: %q", c.Publish.Channel)
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	cases := []string{
		"",          // no command
		"\n",        // one empty line
		"{}\n\n",    // two trailing newlines
		"\n{}",      // leading empty line
		"{}\n\n{}",  // empty line inside
		"{}\r\n\n",  // CR is whitespace, but the empty line still counts
		" ",         // blank line
		"{",         // truncated
		"[]",        // not an object
		`"x"`,       // not an object
		`{}{}`,      // two objects on one line
		`{"id":1}x`, // trailing garbage
		`{"id":1,}`, // trailing comma
		`{"id" 1}`,  // missing colon
		`{id:1}`,    // unquoted name
		`{"id":-1}`,
		`{"id":1.5}`,
		`{"id":1e2}`,
		`{"id":4294967296}`,
		`{"id":"1"}`,
		`{"id":01}`,
		`{"id":true}`,
		`{"connect":1}`,
		`{"connect":[]}`,
		`{"connect":{"token":1}}`,
		`{"connect":{"headers":{"a":1}}}`,
		`{"connect":{"subs":[]}}`,
		`{"subscribe":{"recover":"true"}}`,
		`{"subscribe":{"offset":18446744073709551616}}`,
		`{"subscribe":{"flag":9223372036854775808}}`,
		`{"subscribe":{"limit":2147483648}}`,
		`{"subscribe":{"limit":-}}`,
		`{"subscribe":{"tf":{"nodes":{}}}}`,
		`{"x":tru}`,
		`{"x":nul}`,
		`{"x":01}`,
		`{"x":1.}`,
		`{"x":.5}`,
		`{"x":1e}`,
		`{"x":+1}`,
		`{"x":"\q"}`,
		`{"x":"\u12"}`,
		"{\"x\":\"\x01\"}",
		"{\"x\":\"a\tb\"}",
		"{\"publish\":{\"data\":\"\xff\"}}", // invalid UTF-8 in a raw payload
		`{"x":"unterminated}`,
		`{"x":[1,2}`,
		`{"x":{"a":1]}`,
		`{"x":` + deep + `}`,
	}
	for _, in := range cases {
		d := NewCommandDecoder(ProtocolJSON)
		d.Reset([]byte(in))
		var err error
		for range 3 {
			var c Command
			if err = d.Decode(&c); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: want ErrMalformed, got %v", in, err)
			continue
		}
		var c Command
		if err2 := d.Decode(&c); err2 != err {
			t.Errorf("%q: error not sticky: %v then %v", in, err, err2)
		}
	}
}

func TestJSONDecodeEmptyFrameForReplies(t *testing.T) {
	t.Parallel()
	d := NewReplyDecoder(ProtocolJSON)
	d.Reset(nil)
	var r Reply
	if err := d.Decode(&r); err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}
	// An http_stream chunk: every message followed by '\n'.
	d.Reset([]byte("{}\n{\"id\":1,\"publish\":{}}\n"))
	if err := d.Decode(&r); err != nil || !reflect.DeepEqual(r, Reply{}) {
		t.Fatalf("ping: %v %#v", err, r)
	}
	if err := d.Decode(&r); err != nil || r.ID != 1 || r.Publish == nil {
		t.Fatalf("publish: %v %#v", err, r)
	}
	if err := d.Decode(&r); err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}
}

func TestValidJSON(t *testing.T) {
	t.Parallel()
	good := []string{`{}`, ` [ 1 , "a" , null , true , false , {"k":[]} ] `, `0`, `-0.0e+0`, `"\u00e9\ud83d\ude00"`, `"é"`, "\n{\"a\":\n1}\n"}
	bad := []string{``, ` `, `{`, `{}}`, `[1,]`, `01`, `"\x"`, "\"\xff\"", `{"a"}`, `nul`, `1 2`, "\"a\nb\""}
	for _, s := range good {
		if !ValidJSON([]byte(s)) {
			t.Errorf("ValidJSON(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidJSON([]byte(s)) {
			t.Errorf("ValidJSON(%q) = true", s)
		}
	}
}
