package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rotorhq/rotor/engine"
)

// BenchmarkCallProxy measures one connect proxy call against a loopback backend,
// from parallel callers (keep-alive connections reused): the client side's cost
// per call, with the backend on the same machine.
func BenchmarkCallProxy(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"result":{"user":"42","info":{"a":1}}}`)
	}))
	defer srv.Close()
	p, err := NewHTTP(HTTPConfig{Endpoint: srv.URL, HTTPHeaders: []string{"Authorization"}})
	if err != nil {
		b.Fatal(err)
	}
	req := &engine.ProxyRequest{Kind: engine.ProxyConnect, Client: "c1", Transport: "websocket", Protocol: "json",
		Data: []byte(`{"k":"v"}`), Headers: map[string]string{"Authorization": "Bearer x"}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.CallProxy(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
