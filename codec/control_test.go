package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"testing"
)

// controlGoldens are the bytes centrifuge v0.40.1's generated controlpb code
// (Command.MarshalCF) writes for the same messages, so a Centrifugo node reads what
// Rotor writes and the other way round (history-recovery.md §5.5). They were produced
// by a throwaway program marshalling these values with that code; protobuf-go's
// deterministic Marshal gives the same bytes for each of them except -0 (see
// "metrics negative zero").
var controlGoldens = []struct {
	name string
	c    ControlCommand
	hex  string
}{
	{"shutdown", ControlCommand{UID: "n1", Shutdown: &ControlShutdown{}}, "0a026e313a00"},
	{"node", ControlCommand{UID: "2b8e0d0a-1b3c-4d5e-8f90-112233445566", Node: &ControlNode{
		UID: "2b8e0d0a-1b3c-4d5e-8f90-112233445566", Name: "host_8000", Version: "6.9.1 OSS",
		NumClients: 3, NumUsers: 2, NumChannels: 5, Uptime: 300, NumSubs: 7, Data: []byte("d"),
	}}, "0a2432623865306430612d316233632d346435652d386639302d313132323333343435353636224a0a" +
		"2432623865306430612d316233632d346435652d386639302d3131323233333434353536361209686f73" +
		"745f383030301a09362e392e31204f535320032802300538ac024a01645007"},
	{"node with metrics", ControlCommand{UID: "a", Node: &ControlNode{UID: "a", Name: "n",
		Metrics: &ControlMetrics{Interval: 60, Items: map[string]float64{"centrifugo_x": 1.5}}}},
		"0a0161222a0a016112016e4222090000000000004e4012170a0c63656e7472696675676f5f7811000000000000f83f"},
	{"metrics entry with empty key and zero value", ControlCommand{UID: "a", Node: &ControlNode{UID: "a",
		Metrics: &ControlMetrics{Items: map[string]float64{"": 0}}}},
		"0a016122120a0161420d120b0a00110000000000000000"},
	{"metrics negative zero", ControlCommand{Node: &ControlNode{Metrics: &ControlMetrics{Interval: math.Copysign(0, -1)}}},
		"22024200"},
	{"subscribe", ControlCommand{UID: "u", Subscribe: &ControlSubscribe{
		User: "42", Channel: "chat:index", EmitPresence: true, EmitJoinLeave: true, ExpireAt: 1700000000,
		Position: true, Recover: true, ChannelInfo: []byte(`{"a":1}`), Client: "c1", Data: []byte(`{"d":2}`),
		RecoverSince: &StreamPosition{Offset: 300, Epoch: "ep"}, Session: "s1", PushJoinLeave: true,
		Source: 4, LabelFilter: &FilterNode{Op: "and", Nodes: []*FilterNode{
			{Key: "k", Cmp: "in", Vals: []string{"x", ""}}, {Key: "z", Cmp: "eq", Val: "v"}}},
		AllUsers: true,
	}}, "0a017552690a023432120a636861743a696e646578180120012880e2cfaa063001380142077b2261223a317d4a" +
		"02633152077b2264223a327d5a0708ac021202657062027331680170047a1f0a03616e64320c12016b1a02696e" +
		"2a01782a00320a12017a1a026571220176800101"},
	{"subscribe negative expire_at, empty position", ControlCommand{UID: "u", Subscribe: &ControlSubscribe{
		Channel: "c", ExpireAt: -1, RecoverSince: &StreamPosition{}}},
		"0a0175521012016328ffffffffffffffffff015a00"},
	{"unsubscribe", ControlCommand{UID: "u", Unsubscribe: &ControlUnsubscribe{
		Channel: "news", User: "42", Client: "c1", Session: "s1", Code: 2000, Reason: "server unsubscribe",
		LabelFilter: &FilterNode{}, AllUsers: true,
	}}, "0a01752a2d0a046e657773120234321a0263312202733128d00f321273657276657220756e7375627363726962653a004001"},
	{"disconnect", ControlCommand{UID: "u", Disconnect: &ControlDisconnect{
		User: "42", Whitelist: []string{"c2", "", "c3"}, Code: 3503, Reason: "force disconnect", Reconnect: true,
		Client: "c1", Session: "s1", AllUsers: true,
	}}, "0a0175322f0a0234321202633212001202633318af1b2210666f72636520646973636f6e6e6563742801320263313a0273314801"},
	{"empty disconnect", ControlCommand{UID: "u", Disconnect: &ControlDisconnect{}}, "0a01753200"},
	{"refresh", ControlCommand{UID: "u", Refresh: &ControlRefresh{
		User: "42", Client: "c1", Expired: true, ExpireAt: 1900000000, Info: []byte(`{}`), Session: "s1",
		LabelFilter: &FilterNode{Key: "a", Cmp: "eq", Val: "b"}, AllUsers: true,
	}}, "0a017562260a0234321202633118012080e6fe89072a027b7d320273313a0a1201611a0265712201624001"},
	{"survey request", ControlCommand{UID: "u", SurveyRequest: &ControlSurveyRequest{
		ID: 1 << 40, Op: "channels", Data: []byte{0x0a, 0x01, '*'}}},
		"0a017542160880808080802012086368616e6e656c731a030a012a"},
	{"survey response", ControlCommand{UID: "u", SurveyResponse: &ControlSurveyResponse{ID: 7, Code: 3, Data: []byte{1, 2}}},
		"0a01754a08080710031a020102"},
	{"notification", ControlCommand{UID: "u", Notification: &ControlNotification{Op: "op", Data: []byte("x")}},
		"0a01755a070a026f70120178"},
	{"two-byte length", ControlCommand{UID: "u", SurveyResponse: &ControlSurveyResponse{ID: 1, Data: seq(200)}},
		"0a01754acd0108011ac801" + hex.EncodeToString(seq(200))},
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestControlGolden(t *testing.T) {
	for _, tc := range controlGoldens {
		t.Run(tc.name, func(t *testing.T) {
			want, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			got := AppendControlCommand([]byte("prefix"), &tc.c)
			if !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
				t.Fatalf("encode\n got %x\nwant %x", got[6:], want)
			}
			var dec ControlCommand
			if err := DecodeControlCommand(want, &dec); err != nil {
				t.Fatal(err)
			}
			exp := tc.c
			if exp.Node != nil && exp.Node.Metrics != nil && exp.Node.Metrics.Interval == 0 {
				// -0 is not written, so it reads back as +0; DeepEqual cannot tell
				// them apart anyway.
				exp.Node.Metrics.Interval = 0
			}
			if !reflect.DeepEqual(dec, exp) {
				t.Fatalf("decode\n got %+v\nwant %+v", dec, exp)
			}
		})
	}
}

// TestControlDecodeLenient: what Centrifugo's decoder accepts, Rotor's accepts too
// (unknown fields, the removed fields 2 and 3, a known field with another wire type,
// repeated sub-messages merging); invalid UTF-8 and truncation are errors.
func TestControlDecodeLenient(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		want ControlCommand
		err  bool
	}{
		{"wrong wire type skipped", "08010a0178", ControlCommand{UID: "x"}, false},
		{"removed fields 2 and 3", "12020a00" + "1a00" + "0a0178", ControlCommand{UID: "x"}, false},
		{"unknown fixed32 field", "fd0701020304" + "0a0178", ControlCommand{UID: "x"}, false},
		{"sub-messages merge", "3205" + "0a017a" + "1801" + "3203" + "220162",
			ControlCommand{Disconnect: &ControlDisconnect{User: "z", Code: 1, Reason: "b"}}, false},
		{"last scalar wins", "0a01610a0162", ControlCommand{UID: "b"}, false},
		{"uint32 truncates", "4a06" + "10" + "8180808010", ControlCommand{SurveyResponse: &ControlSurveyResponse{Code: 1}}, false},
		{"invalid utf-8", "0a01ff", ControlCommand{}, true},
		{"invalid utf-8 in a whitelist", "32031201ff", ControlCommand{}, true},
		{"truncated", "0a05616263", ControlCommand{}, true},
		{"truncated sub-message", "3205", ControlCommand{}, true},
		{"bad tag", "ff", ControlCommand{}, true},
		{"empty", "", ControlCommand{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			var got ControlCommand
			err = DecodeControlCommand(b, &got)
			if tc.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestControlBytesAlias: bytes fields alias the input with their capacity cut, so an
// append by the receiver cannot overwrite the rest of the message.
func TestControlBytesAlias(t *testing.T) {
	in := AppendControlCommand(nil, &ControlCommand{UID: "u", Notification: &ControlNotification{Op: "o", Data: []byte("ab")}})
	var c ControlCommand
	if err := DecodeControlCommand(in, &c); err != nil {
		t.Fatal(err)
	}
	if cap(c.Notification.Data) != 2 {
		t.Fatalf("cap = %d, want 2", cap(c.Notification.Data))
	}
	_ = append(c.Notification.Data, 'z')
	if in[len(in)-1] != 'b' {
		t.Fatal("append wrote into the input")
	}
}

// TestChannelsSurveyGolden: the "channels" survey payloads are Centrifugo's
// apiproto.ChannelsRequest and ChannelsResult, as protobuf-go writes them.
func TestChannelsSurveyGolden(t *testing.T) {
	if got := hex.EncodeToString(AppendChannelsSurveyRequest(nil, "chat:*")); got != "0a06636861743a2a" {
		t.Fatalf("request = %s", got)
	}
	if got := AppendChannelsSurveyRequest(nil, ""); len(got) != 0 {
		t.Fatalf("empty request = %x", got)
	}
	p, err := DecodeChannelsSurveyRequest([]byte("\x0a\x06chat:*"))
	if err != nil || p != "chat:*" {
		t.Fatalf("decode request = %q, %v", p, err)
	}
	chans := map[string]uint32{"a": 2, "b:c": 300, "z": 0}
	const want = "0a070a0161120208020a0a0a03623a63120308ac020a050a017a1200"
	if got := hex.EncodeToString(AppendChannelsSurveyResult(nil, chans)); got != want {
		t.Fatalf("result\n got %s\nwant %s", got, want)
	}
	b, _ := hex.DecodeString(want)
	dec, err := DecodeChannelsSurveyResult(b)
	if err != nil || !reflect.DeepEqual(dec, chans) {
		t.Fatalf("decode result = %v, %v", dec, err)
	}
	if dec, err := DecodeChannelsSurveyResult(nil); err != nil || len(dec) != 0 {
		t.Fatalf("decode empty = %v, %v", dec, err)
	}
	if _, err := DecodeChannelsSurveyResult([]byte{0x0a, 0x05, 0x0a}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
}

// FuzzControlCommand: no panic, every error wraps ErrMalformed, and what decodes
// re-encodes to bytes that decode to the same value and encode the same again.
func FuzzControlCommand(f *testing.F) {
	for _, tc := range controlGoldens {
		f.Add(AppendControlCommand(nil, &tc.c))
	}
	f.Add([]byte{0x08, 0x01, 0x0a, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c ControlCommand
		if err := DecodeControlCommand(b, &c); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		enc := AppendControlCommand(nil, &c)
		var again ControlCommand
		if err := DecodeControlCommand(enc, &again); err != nil {
			t.Fatalf("re-decode %x: %v", enc, err)
		}
		if enc2 := AppendControlCommand(nil, &again); !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encode differs\n %x\n %x", enc, enc2)
		}
		if !hasNaN(&c) && !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip mismatch\n %+v\n %+v", c, again)
		}
	})
}

func hasNaN(c *ControlCommand) bool {
	if c.Node == nil || c.Node.Metrics == nil {
		return false
	}
	if math.IsNaN(c.Node.Metrics.Interval) {
		return true
	}
	for _, v := range c.Node.Metrics.Items {
		if math.IsNaN(v) {
			return true
		}
	}
	return false
}

// FuzzChannelsSurvey: the survey payload decoders never panic and fail only with
// ErrMalformed; a decoded result re-encodes to an equal map.
func FuzzChannelsSurvey(f *testing.F) {
	f.Add(AppendChannelsSurveyResult(nil, map[string]uint32{"a": 1, "b": 0}))
	f.Add(AppendChannelsSurveyRequest(nil, "x*"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeChannelsSurveyRequest(b); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
		m, err := DecodeChannelsSurveyResult(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatal(err)
			}
			return
		}
		again, err := DecodeChannelsSurveyResult(AppendChannelsSurveyResult(nil, m))
		if err != nil || !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip: %v %v %v", m, again, err)
		}
	})
}
