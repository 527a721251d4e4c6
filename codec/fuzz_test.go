package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"
)

// decodeAll decodes every command of frame; it returns them with the error that ended
// the frame (io.EOF when all went well).
func decodeAll(p Protocol, frame []byte) ([]*Command, error) {
	d := NewCommandDecoder(p)
	d.Reset(frame)
	var out []*Command
	for {
		c := new(Command)
		if err := d.Decode(c); err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

// fuzzCommands is shared by both command fuzz targets: no panic, every error wraps
// ErrMalformed, and every decoded command re-encodes and re-decodes to an equal value.
func fuzzCommands(t *testing.T, p Protocol, frame []byte) {
	cmds, err := decodeAll(p, frame)
	if err != io.EOF && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error does not wrap ErrMalformed: %v", err)
	}
	for i, c := range cmds {
		b, err := AppendCommand(p, nil, c)
		if err != nil {
			t.Fatalf("cmd %d: re-encode: %v (%#v)", i, err, c)
		}
		if p == ProtocolJSON && !json.Valid(b) {
			t.Fatalf("cmd %d: re-encoded JSON invalid: %q", i, b)
		}
		again, err := decodeAll(p, b)
		if err != io.EOF || len(again) != 1 {
			t.Fatalf("cmd %d: re-decode %q: %v (%d cmds)", i, b, err, len(again))
		}
		if !reflect.DeepEqual(again[0], c) {
			t.Fatalf("cmd %d: round trip mismatch\n encoded %q\n first  %#v\n again  %#v", i, b, c, again[0])
		}
	}
}

func addCommandSeeds(f *testing.F, p Protocol) {
	var frame []byte
	for i, tc := range sampleCommands() {
		b, err := AppendCommand(p, nil, tc.c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if p == ProtocolJSON && i > 0 {
			frame = append(frame, '\n')
		}
		frame = append(frame, b...)
	}
	f.Add(frame)
}

func FuzzDecodeJSONCommands(f *testing.F) {
	addCommandSeeds(f, ProtocolJSON)
	for _, s := range []string{
		"", "\n", "{}", "{}\n", "{}\n\n", `{"id":1,"connect":null}`,
		"{\"connect\":{\"token\":\"eyJ…\",\"name\":\"js\"},\"id\":1}\n{\"subscribe\":{\"channel\":\"news\",\"flag\":1},\"id\":2}",
		`{"ID":1,"Publish":{"channel":"a\u00e9\ud83d","data":{"x":[1,2.5e3,"\n",null,true]}}}`,
		`{"id":1,"subscribe":{"tf":{"op":"and","nodes":[{"key":"a","cmp":"in","vals":["1","2"]},null]}}}`,
		`{"x":[[[[{}]]]],"id":18446744073709551615}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		fuzzCommands(t, ProtocolJSON, frame)
		// A line the decoder accepted is valid JSON.
		cmds, _ := decodeAll(ProtocolJSON, frame)
		lines := bytes.Split(bytes.TrimSuffix(frame, []byte("\n")), []byte("\n"))
		for i := range cmds {
			if !json.Valid(lines[i]) {
				t.Fatalf("accepted invalid JSON line %q", lines[i])
			}
		}
	})
}

func FuzzDecodeProtobufCommands(f *testing.F) {
	addCommandSeeds(f, ProtocolProtobuf)
	for _, s := range [][]byte{nil, {0x00}, {0x00, 0x00}, {0x02, 0x08, 0x01}, {0x80}, {0x03, 0x0b, 0x08, 0x01}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		fuzzCommands(t, ProtocolProtobuf, frame)
	})
}

// FuzzDecodeReplies runs the client-side decoder on arbitrary frames (the first byte
// picks the protocol) with the same round-trip property, replies and bare pushes.
func FuzzDecodeReplies(f *testing.F) {
	for _, p := range protocols {
		for _, tc := range sampleReplies() {
			b, err := AppendReply(p, nil, tc.r)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(append([]byte{byte(p)}, b...))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		p := Protocol(in[0] & 1)
		d := NewReplyDecoder(p)
		d.Reset(in[1:])
		for {
			var r Reply
			err := d.Decode(&r)
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error does not wrap ErrMalformed: %v", err)
				}
				break
			}
			b, err := AppendReply(p, nil, &r)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			d2 := NewReplyDecoder(p)
			d2.Reset(b)
			var again Reply
			if err := d2.Decode(&again); err != nil || !reflect.DeepEqual(&again, &r) {
				t.Fatalf("round trip: %v\n encoded %q\n first %#v\n again %#v", err, b, r, again)
			}
		}
		d.Reset(in[1:])
		for {
			var push Push
			if err := d.DecodePush(&push); err != nil {
				break
			}
			b, err := AppendPush(p, nil, &push)
			if err != nil {
				t.Fatalf("push re-encode: %v", err)
			}
			d2 := NewReplyDecoder(p)
			d2.Reset(b)
			var again Push
			if err := d2.DecodePush(&again); err != nil || !reflect.DeepEqual(&again, &push) {
				t.Fatalf("push round trip: %v\n encoded %q", err, b)
			}
		}
	})
}

// FuzzAppendJSONString compares the string escaper with encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\u2028", "bad\xff", "é🎉", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1024 {
			// Long inputs add no coverage but make the engine's minimization slow
			// enough to overrun -fuzztime.
			return
		}
		if got, want := string(appendJSONString(nil, s)), stdJSONString(t, s); got != want {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}

// FuzzValidJSON compares ValidJSON with encoding/json.Valid plus UTF-8 validity.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[1,"a",{"b":null}]`, `01`, `"\ud800"`, "\"\xff\"", ` -1.5e+3 `, `{"a":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > maxDepth-10 {
			return // our nesting limit is lower than encoding/json's
		}
		want := json.Valid(b) && utf8.Valid(b)
		if got := ValidJSON(b); got != want {
			t.Fatalf("ValidJSON(%q) = %v, want %v", b, got, want)
		}
	})
}
