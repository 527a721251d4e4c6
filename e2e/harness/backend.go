package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Backend is an HTTP server on 127.0.0.1 standing in for the application
// backend that the server's proxies (connect, refresh, subscribe, publish,
// sub_refresh, RPC) call. Every request is recorded; the answer comes from the
// handler registered for the request path (404 when none).
//
// The backend is shut down when the test ends. Handlers that wait should
// select on BackendRequest.Ctx, which is cancelled when the caller gives up
// (closes the connection) or the backend stops.
type Backend struct {
	URL string // http://127.0.0.1:PORT

	srv      *http.Server
	mu       sync.Mutex
	handlers map[string]BackendHandler
	reqs     []BackendRequest
	stop     chan struct{}
}

// BackendRequest is one recorded proxy call.
type BackendRequest struct {
	Ctx    context.Context `json:"-"`
	Method string
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// Fields decodes the JSON body into a map (nil if the body is not a JSON object).
func (r BackendRequest) Fields() map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(r.Body, &m) != nil {
		return nil
	}
	return m
}

// Str returns the string member name of the JSON body ("" when absent or not a string).
func (r BackendRequest) Str(name string) string {
	var s string
	_ = json.Unmarshal(r.Fields()[name], &s)
	return s
}

// Keys returns the sorted member names of the JSON body.
func (r BackendRequest) Keys() []string {
	var keys []string
	for k := range r.Fields() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// BackendReply is what a handler answers: HTTP status (0 = 200) and a body
// (marshalled to JSON unless it is []byte, json.RawMessage or string).
type BackendReply struct {
	Status int
	Body   any
}

// BackendHandler answers one request.
type BackendHandler func(r BackendRequest) BackendReply

// StartBackend starts a backend on a free 127.0.0.1 port; it is closed when t ends.
func StartBackend(t testing.TB) *Backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("backend listen: %v", err)
	}
	b := &Backend{
		URL:      "http://" + l.Addr().String(),
		handlers: map[string]BackendHandler{},
		stop:     make(chan struct{}),
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = b.srv.Serve(l) }()
	t.Cleanup(func() {
		close(b.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = b.srv.Shutdown(ctx)
		_ = b.srv.Close()
	})
	return b
}

// Handle registers h for path (e.g. "/connect").
func (b *Backend) Handle(path string, h BackendHandler) {
	b.mu.Lock()
	b.handlers[path] = h
	b.mu.Unlock()
}

// Result is a handler answering {"result": result} with HTTP 200.
func Result(result any) BackendHandler {
	return func(BackendRequest) BackendReply {
		return BackendReply{Body: map[string]any{"result": result}}
	}
}

func (b *Backend) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req := BackendRequest{Ctx: ctx, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now()}
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	h := b.handlers[r.URL.Path]
	b.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	reply := h(req)
	var out []byte
	switch v := reply.Body.(type) {
	case nil:
	case []byte:
		out = v
	case json.RawMessage:
		out = v
	case string:
		out = []byte(v)
	default:
		var err error
		if out, err = json.Marshal(v); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// Requests returns the recorded requests to path, in arrival order.
func (b *Backend) Requests(path string) []BackendRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []BackendRequest
	for _, r := range b.reqs {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// WaitRequests waits until at least n requests to path were recorded.
func (b *Backend) WaitRequests(t testing.TB, path string, n int, timeout time.Duration) []BackendRequest {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := b.Requests(path)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend: %d requests to %s within %v, want %d; all requests:\n%s", len(got), path, timeout, n, b.Dump())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Dump describes every recorded request (for failure messages).
func (b *Backend) Dump() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, r := range b.reqs {
		fmt.Fprintf(&sb, "  %s %s %s\n", r.Method, r.Path, r.Body)
	}
	return sb.String()
}
