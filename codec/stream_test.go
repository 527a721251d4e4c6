package codec

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestDecodeConnectRequest(t *testing.T) {
	var req ConnectRequest
	for _, s := range []string{"", "  ", "null", " null "} {
		if err := DecodeConnectRequest([]byte(s), &req); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	}
	if err := DecodeConnectRequest([]byte(`{"token":"t","name":"curl","subs":{"news":{"recover":true,"offset":3,"epoch":"e"}},"data":{"a":1}}`), &req); err != nil {
		t.Fatal(err)
	}
	if req.Token != "t" || req.Name != "curl" || req.Subs["news"] == nil || req.Subs["news"].Offset != 3 || string(req.Data) != `{"a":1}` {
		t.Fatalf("decoded %+v", req)
	}
	for _, s := range []string{"{", `{"token":1}`, `[]`, `{} {}`, `"x"`} {
		if err := DecodeConnectRequest([]byte(s), &req); err == nil {
			t.Fatalf("%q accepted", s)
		}
	}
}

func TestUnquoteJSONString(t *testing.T) {
	got, err := UnquoteJSONString([]byte(`"{\"id\":1}\n{\"id\":2}"`))
	if err != nil || string(got) != "{\"id\":1}\n{\"id\":2}" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, s := range []string{``, `{}`, `"x" 1`, `"\x"`} {
		if _, err := UnquoteJSONString([]byte(s)); err == nil {
			t.Fatalf("%q accepted", s)
		}
	}
}

func FuzzDecodeConnectRequest(f *testing.F) {
	for _, s := range []string{"", "null", "{}", `{"token":"x","subs":{"a":{"recover":true,"offset":1,"epoch":"e"}},"headers":{"h":"v"}}`, `{"data":[1,{"x":null}]}`, "{"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req ConnectRequest
		if err := DecodeConnectRequest(b, &req); err == nil && len(bytes.TrimSpace(b)) > 0 && !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
	})
}

func FuzzDecodeEmulationRequest(f *testing.F) {
	for _, s := range []string{`{"node":"n","session":"s","data":"{\"id\":1}"}`, `{"data":{"id":1}}`, `{}`, `{"data":null}`, "\x0a\x01n\x12\x01s\x1a\x02\x00\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req EmulationRequest
		if err := DecodeEmulationRequest(ProtocolJSON, b, &req); err == nil {
			if !json.Valid(b) {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			// What a node forwards (data quoted again) decodes to the same commands.
			back, err := UnquoteJSONString(AppendJSONStringBytes(nil, req.Data))
			if err != nil || string(back) != string(req.Data) {
				t.Fatalf("requote %q: %q %v", req.Data, back, err)
			}
		}
		_ = DecodeEmulationRequest(ProtocolProtobuf, b, &req)
	})
}
