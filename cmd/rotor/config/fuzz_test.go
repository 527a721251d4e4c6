package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeOrdered: the order-keeping JSON decoder of defaultconfig accepts what
// encoding/json accepts (for objects at the top), never panics, and re-encodes to
// equal JSON.
func FuzzDecodeOrdered(f *testing.F) {
	f.Add(centrifugoDefaults)
	f.Add([]byte(`{"a":{"b":[1,2,{"c":null}]},"a":true}`))
	f.Add([]byte(`{"x":1} trailing`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeOrdered(data)
		var std any
		stdErr := json.Unmarshal(data, &std)
		if err != nil {
			return
		}
		if stdErr != nil {
			t.Fatalf("decodeOrdered accepted what encoding/json refuses: %q", data)
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var a, b any
		if json.Unmarshal(out, &a) != nil || json.Unmarshal(data, &b) != nil {
			t.Fatalf("re-encoded JSON does not parse: %s", out)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("round trip changed the value:\n%s\n%s", ja, jb)
		}
	})
}

// FuzzLoadJSON: any config file either loads or returns an error; a loaded one
// has a report whose Err does not panic, and any path of the report resolves.
func FuzzLoadJSON(f *testing.F) {
	f.Add([]byte(`{"grpc_api":{"enabled":true},"channel":{"namespaces":[{"name":"a","x":1}]}}`))
	f.Add([]byte(`{"http_server":{"internal_port":""},"proxies":[{"name":"p","endpoint":"http://x"}]}`))
	f.Add(centrifugoDefaults)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "c.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, []string{"CENTRIFUGO_SSE_ENABLED=false", "CENTRIFUGO_X=1"})
		if err != nil {
			return
		}
		_ = c.Report.Err()
		for _, p := range c.Ignored {
			defaultOf(p)
		}
	})
}
