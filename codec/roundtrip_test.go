package codec

import (
	"errors"
	"io"
	"reflect"
	"testing"
)

var protocols = []Protocol{ProtocolJSON, ProtocolProtobuf}

func TestRoundTripReplies(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		for _, tc := range sampleReplies() {
			t.Run(p.String()+"/"+tc.name, func(t *testing.T) {
				b, err := AppendReply(p, nil, tc.r)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				d := NewReplyDecoder(p)
				d.Reset(b)
				var got Reply
				if err := d.Decode(&got); err != nil {
					t.Fatalf("decode %q: %v", b, err)
				}
				if !reflect.DeepEqual(&got, tc.r) {
					t.Fatalf("round trip mismatch\nencoded %q\n got  %#v\n want %#v", b, got, *tc.r)
				}
				if err := d.Decode(&got); err != io.EOF {
					t.Fatalf("want io.EOF after the reply, got %v", err)
				}
			})
		}
	}
}

func TestRoundTripBarePushes(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		for _, tc := range sampleReplies() {
			if tc.r.Push == nil {
				continue
			}
			t.Run(p.String()+"/"+tc.name, func(t *testing.T) {
				b, err := AppendPush(p, nil, tc.r.Push)
				if err != nil {
					t.Fatal(err)
				}
				d := NewReplyDecoder(p)
				d.Reset(b)
				var got Push
				if err := d.DecodePush(&got); err != nil {
					t.Fatalf("decode %q: %v", b, err)
				}
				if !reflect.DeepEqual(&got, tc.r.Push) {
					t.Fatalf("mismatch\n got  %#v\n want %#v", got, *tc.r.Push)
				}
			})
		}
	}
}

func TestRoundTripCommands(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		for _, tc := range sampleCommands() {
			t.Run(p.String()+"/"+tc.name, func(t *testing.T) {
				b, err := AppendCommand(p, nil, tc.c)
				if err != nil {
					t.Fatal(err)
				}
				d := NewCommandDecoder(p)
				d.Reset(b)
				var got Command
				if err := d.Decode(&got); err != nil {
					t.Fatalf("decode %q: %v", b, err)
				}
				if !reflect.DeepEqual(&got, tc.c) {
					t.Fatalf("mismatch\nencoded %q\n got  %#v\n want %#v", b, got, *tc.c)
				}
				if err := d.Decode(&got); err != io.EOF {
					t.Fatalf("want io.EOF, got %v", err)
				}
			})
		}
	}
}

// TestRoundTripFrame joins every sample command into one frame, as a client batches
// them, and decodes them back in order.
func TestRoundTripFrame(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.String(), func(t *testing.T) {
			var frame []byte
			cmds := sampleCommands()
			for i, tc := range cmds {
				if p == ProtocolJSON && i > 0 {
					frame = append(frame, '\n')
				}
				var err error
				if frame, err = AppendCommand(p, frame, tc.c); err != nil {
					t.Fatal(err)
				}
			}
			d := NewCommandDecoder(p)
			d.Reset(frame)
			for _, tc := range cmds {
				var got Command
				if err := d.Decode(&got); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if !reflect.DeepEqual(&got, tc.c) {
					t.Fatalf("%s: mismatch\n got  %#v\n want %#v", tc.name, got, *tc.c)
				}
			}
			var c Command
			if err := d.Decode(&c); err != io.EOF {
				t.Fatalf("want io.EOF, got %v", err)
			}
		})
	}
}

// TestHotPathsMatchAppendReply checks the dedicated push encoders against the generic
// one, byte for byte, wrapped and bare.
func TestHotPathsMatchAppendReply(t *testing.T) {
	t.Parallel()
	info := sampleInfo()
	pubs := []*Publication{samplePub(), {Data: []byte(`{"x":1}`), Offset: 7}, {}}
	for _, p := range protocols {
		for _, ch := range []string{"news", ""} {
			for i, pub := range pubs {
				want := mustReply(t, p, &Reply{Push: &Push{Channel: ch, Pub: pub}})
				if got := AppendPublicationPush(p, nil, ch, pub); string(got) != string(want) {
					t.Errorf("%s pub %d %q: got %q want %q", p, i, ch, got, want)
				}
				wantBare, _ := AppendPush(p, nil, &Push{Channel: ch, Pub: pub})
				if got := AppendBarePublicationPush(p, nil, ch, pub); string(got) != string(wantBare) {
					t.Errorf("%s bare pub %d: got %q want %q", p, i, got, wantBare)
				}
			}
			cases := []struct {
				name      string
				got, want []byte
			}{
				{"join", AppendJoinPush(p, nil, ch, info), mustReply(t, p, &Reply{Push: &Push{Channel: ch, Join: &Join{Info: *info}}})},
				{"join_nil", AppendJoinPush(p, nil, ch, nil), mustReply(t, p, &Reply{Push: &Push{Channel: ch, Join: &Join{}}})},
				{"leave", AppendLeavePush(p, nil, ch, info), mustReply(t, p, &Reply{Push: &Push{Channel: ch, Leave: &Leave{Info: *info}}})},
				{"unsub", AppendUnsubscribePush(p, nil, ch, 2500, "insufficient state"), mustReply(t, p, &Reply{Push: &Push{Channel: ch, Unsubscribe: &Unsubscribe{Code: 2500, Reason: "insufficient state"}}})},
				{"unsub_zero", AppendUnsubscribePush(p, nil, ch, 0, ""), mustReply(t, p, &Reply{Push: &Push{Channel: ch, Unsubscribe: &Unsubscribe{}}})},
				{"bare_join", AppendBareJoinPush(p, nil, ch, info), mustPush(t, p, &Push{Channel: ch, Join: &Join{Info: *info}})},
				{"bare_leave", AppendBareLeavePush(p, nil, ch, info), mustPush(t, p, &Push{Channel: ch, Leave: &Leave{Info: *info}})},
				{"bare_unsub", AppendBareUnsubscribePush(p, nil, ch, 2000, "x"), mustPush(t, p, &Push{Channel: ch, Unsubscribe: &Unsubscribe{Code: 2000, Reason: "x"}})},
				{"error", AppendErrorReply(p, nil, 3, 103, "permission denied", false), mustReply(t, p, &Reply{ID: 3, Error: &Error{Code: 103, Message: "permission denied"}})},
				{"error_tmp", AppendErrorReply(p, nil, 0, 0, "", true), mustReply(t, p, &Reply{Error: &Error{Temporary: true}})},
				{"ping", AppendPing(p, nil), mustReply(t, p, &Reply{})},
			}
			for _, c := range cases {
				if string(c.got) != string(c.want) {
					t.Errorf("%s %s %q: got %q want %q", p, c.name, ch, c.got, c.want)
				}
			}
		}
	}
}

func mustReply(t *testing.T, p Protocol, r *Reply) []byte {
	t.Helper()
	b, err := AppendReply(p, nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPush(t *testing.T, p Protocol, push *Push) []byte {
	t.Helper()
	b, err := AppendPush(p, nil, push)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppendKeepsPrefix checks that encoders append: existing bytes of dst survive,
// including when a Protobuf length needs more than one byte and the body is shifted.
func TestAppendKeepsPrefix(t *testing.T) {
	t.Parallel()
	big := &Reply{ID: 1, History: &HistoryResult{Publications: []*Publication{samplePub(), samplePub(), samplePub()}}}
	for _, p := range protocols {
		for _, tc := range append(sampleReplies(), namedReply{"big", big}) {
			prefix := []byte("PREFIX")
			b, err := AppendReply(p, prefix, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:6]) != "PREFIX" {
				t.Fatalf("%s/%s: prefix clobbered", p, tc.name)
			}
			alone := mustReply(t, p, tc.r)
			if string(b[6:]) != string(alone) {
				t.Fatalf("%s/%s: appended %q, alone %q", p, tc.name, b[6:], alone)
			}
		}
	}
}

func TestEmulationRequestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		cmds, _ := AppendCommand(p, nil, &Command{ID: 1, Connect: &ConnectRequest{Token: "t"}})
		req := &EmulationRequest{Node: "n1", Session: "s1", Data: cmds}
		body := AppendEmulationRequest(p, nil, req)
		var got EmulationRequest
		if err := DecodeEmulationRequest(p, body, &got); err != nil {
			t.Fatalf("%s: %v (%q)", p, err, body)
		}
		if !reflect.DeepEqual(&got, req) {
			t.Fatalf("%s: got %#v want %#v", p, got, *req)
		}
	}
	// What centrifuge-js sends: data is a JSON string with the newline-joined commands.
	body := []byte(`{"session":"s","node":"n","data":"{\"id\":1,\"subscribe\":{\"channel\":\"a\"}}\n{\"id\":2,\"subscribe\":{\"channel\":\"b\"}}"}`)
	var req EmulationRequest
	if err := DecodeEmulationRequest(ProtocolJSON, body, &req); err != nil {
		t.Fatal(err)
	}
	d := NewCommandDecoder(ProtocolJSON)
	d.Reset(req.Data)
	var c Command
	for _, ch := range []string{"a", "b"} {
		if err := d.Decode(&c); err != nil || c.Subscribe == nil || c.Subscribe.Channel != ch {
			t.Fatalf("emulated command: %v %#v", err, c)
		}
	}
	if err := DecodeEmulationRequest(ProtocolJSON, []byte(`{"data":`), &req); !errors.Is(err, ErrMalformed) {
		t.Fatalf("want ErrMalformed, got %v", err)
	}
}
