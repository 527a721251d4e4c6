package benchmarks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/broker/memory"
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// The pipeline benchmarks measure one publication's whole in-process path, without
// sockets: the API handler (`POST /api/publish`: key check, decode), engine.Node.Publish,
// the hub broadcast (encode once per protocol variant) and Transport.Enqueue on every
// subscriber. The transports are sinkTransport: they copy each message into a reused
// buffer, as a real transport copies into its outbound chunks, and count it; framing
// and the write syscall are not part of the figure (netio's own benchmarks cover them).
//
// Besides ns/op (one API request), each reports ns/delivery (ns/op divided by the
// subscribers) and checks afterwards that every subscriber got every publication.

// sinkTransport is an engine.Transport that keeps the last few KiB of what it is sent.
type sinkTransport struct {
	proto  codec.Protocol
	mu     sync.Mutex
	buf    []byte
	msgs   int64
	closed bool
	client *engine.Client
}

func (t *sinkTransport) Protocol() codec.Protocol { return t.proto }

func (t *sinkTransport) Enqueue(msg []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return engine.ErrTransportClosed
	}
	if len(t.buf)+len(msg) > cap(t.buf) {
		t.buf = t.buf[:0] // "flushed"
	}
	t.buf = append(t.buf, msg...)
	t.msgs++
	return nil
}

func (t *sinkTransport) Close(engine.Disconnect) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	c := t.client
	t.mu.Unlock()
	if c != nil {
		go c.OnClose() // as netio does: never on the caller's goroutine
	}
}

func (t *sinkTransport) count() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.msgs
}

const (
	pipelineSecret = "bench-secret"
	pipelineKey    = "bench-key"
	pipelineChan   = "bench"
)

// pipeline is a node with subs connected and subscribed sink clients, and an API
// handler in front of it.
type pipeline struct {
	node  *engine.Node
	h     *api.Handler
	sinks []*sinkTransport
}

func newPipeline(tb testing.TB, subs int, proto codec.Protocol) *pipeline {
	tb.Helper()
	m := memory.New()
	node, err := engine.New(engine.Config{
		Broker:             m,
		PresenceManager:    m,
		TokenHMACSecretKey: pipelineSecret,
		PingInterval:       -1, // no pings during the measurement
		WithoutNamespace:   engine.NamespaceOptions{AllowSubscribeForClient: true},
	}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	node.Run()
	p := &pipeline{node: node, h: api.New(api.Config{Key: pipelineKey}, node)}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := node.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	co := clientOptions{secret: []byte(pipelineSecret), proto: proto}
	var frame []byte
	for i := range subs {
		t := &sinkTransport{proto: proto, buf: make([]byte, 0, 4096)}
		c := node.NewClient(t, nil)
		t.mu.Lock()
		t.client = c
		t.mu.Unlock()
		tok, err := co.token("bench-" + strconv.Itoa(i))
		if err != nil {
			tb.Fatal(err)
		}
		frame, err = codec.AppendCommand(proto, frame[:0], &codec.Command{ID: 1, Connect: &codec.ConnectRequest{Token: tok}})
		if err != nil {
			tb.Fatal(err)
		}
		if proto == codec.ProtocolJSON {
			frame = append(frame, '\n')
		}
		frame, err = codec.AppendCommand(proto, frame, &codec.Command{ID: 2, Subscribe: &codec.SubscribeRequest{Channel: pipelineChan}})
		if err != nil {
			tb.Fatal(err)
		}
		if !c.HandleFrame(frame) {
			tb.Fatalf("client %d closed during connect/subscribe", i)
		}
		p.sinks = append(p.sinks, t)
	}
	if n := node.NumSubscribers(pipelineChan); n != subs {
		tb.Fatalf("%d subscribers, want %d", n, subs)
	}
	// Each sink holds the connect and subscribe replies; start counting from here.
	for i, t := range p.sinks {
		if got := t.count(); got != 2 {
			tb.Fatalf("client %d got %d replies, want 2", i, got)
		}
		t.mu.Lock()
		t.msgs = 0
		t.mu.Unlock()
	}
	return p
}

func newPublishCtx(body string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.SetRequestURI("/api/publish")
	ctx.Request.Header.Set("X-API-Key", pipelineKey)
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetBodyString(body)
	return ctx
}

const pipelineBody = `{"channel":"` + pipelineChan + `","data":{"text":"hello, subscribers","user":"42","seq":1}}`

func BenchmarkPublishPipeline(b *testing.B) {
	for _, proto := range []codec.Protocol{codec.ProtocolJSON, codec.ProtocolProtobuf} {
		for _, subs := range []int{1, 100, 10000} {
			b.Run(fmt.Sprintf("%s/subs=%d", proto, subs), func(b *testing.B) {
				p := newPipeline(b, subs, proto)
				ctx := newPublishCtx(pipelineBody)
				b.SetBytes(int64(len(pipelineBody)))
				b.ReportAllocs()
				b.ResetTimer()
				n := 0
				for b.Loop() {
					ctx.Response.Reset()
					p.h.ServeHTTP(ctx)
					n++
				}
				b.StopTimer()
				if sc := ctx.Response.StatusCode(); sc != fasthttp.StatusOK || strings.Contains(string(ctx.Response.Body()), `"error"`) {
					b.Fatalf("status %d body %s", sc, ctx.Response.Body())
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n)/float64(subs), "ns/delivery")
				for i, t := range p.sinks {
					if got := t.count(); got != int64(n) {
						b.Fatalf("subscriber %d got %d publications, want %d", i, got, n)
					}
				}
			})
		}
	}
}

// BenchmarkPublishPipelineParallel is the same path with GOMAXPROCS API workers
// publishing at once to 100 subscribers, as fasthttp workers do under load.
func BenchmarkPublishPipelineParallel(b *testing.B) {
	const subs = 100
	p := newPipeline(b, subs, codec.ProtocolJSON)
	var total atomic.Int64
	b.SetBytes(int64(len(pipelineBody)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := newPublishCtx(pipelineBody)
		var n int64
		for pb.Next() {
			ctx.Response.Reset()
			p.h.ServeHTTP(ctx)
			n++
		}
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			b.Errorf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		total.Add(n)
	})
	b.StopTimer()
	for i, t := range p.sinks {
		if got := t.count(); got != total.Load() {
			b.Fatalf("subscriber %d got %d publications, want %d", i, got, total.Load())
		}
	}
}

// TestPublishPipeline checks the benchmark's setup and its delivery accounting once,
// so a broken pipeline fails `go test` and not only `go test -bench`.
func TestPublishPipeline(t *testing.T) {
	for _, proto := range []codec.Protocol{codec.ProtocolJSON, codec.ProtocolProtobuf} {
		p := newPipeline(t, 3, proto)
		ctx := newPublishCtx(pipelineBody)
		for range 5 {
			ctx.Response.Reset()
			p.h.ServeHTTP(ctx)
			if ctx.Response.StatusCode() != fasthttp.StatusOK {
				t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		for i, s := range p.sinks {
			if got := s.count(); got != 5 {
				t.Errorf("%s: subscriber %d got %d publications, want 5", proto, i, got)
			}
			s.mu.Lock()
			last := string(s.buf)
			s.mu.Unlock()
			if proto == codec.ProtocolJSON && (!strings.Contains(last, `"channel":"bench"`) || !strings.Contains(last, `hello, subscribers`)) {
				t.Errorf("json push %q", last)
			}
		}
	}
}
