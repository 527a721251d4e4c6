package api

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/engine"
)

// nopNode answers every publish with a fixed position and allocates nothing.
type nopNode struct{ baseNode }

func (nopNode) Publish(string, []byte, engine.PublishOptions) (engine.PublishResult, error) {
	return engine.PublishResult{Offset: 42, Epoch: "abcdEFGH"}, nil
}

// nopNodes is what nopNode.Info returns: a fixed slice, so that the info alloc
// budget measures the handler alone.
var nopNodes = []engine.NodeInfo{{UID: "u", Name: "n", Version: "v"}}

func (nopNode) Info() []engine.NodeInfo { return nopNodes }

func newBenchCtx(uri, body string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.Set("X-API-Key", testKey)
	ctx.Request.SetBodyString(body)
	return ctx
}

func benchmarkServe(b *testing.B, uri, body string) {
	h := New(Config{Key: testKey}, nopNode{})
	ctx := newBenchCtx(uri, body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Response.Reset()
		h.ServeHTTP(ctx)
	}
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

func BenchmarkPublishHandler(b *testing.B) {
	benchmarkServe(b, "/api/publish", `{"channel":"chat:index","data":{"text":"hello","user":"42"}}`)
}

func BenchmarkPublishHandlerTags(b *testing.B) {
	benchmarkServe(b, "/api/publish", `{"channel":"chat:index","data":{"text":"hello"},"tags":{"a":"1","b":"2"},"idempotency_key":"k1"}`)
}

func BenchmarkPublishHandlerB64(b *testing.B) {
	benchmarkServe(b, "/api/publish", `{"channel":"chat:index","b64data":"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ="}`)
}

func BenchmarkBroadcastHandler(b *testing.B) {
	benchmarkServe(b, "/api/broadcast", `{"channels":["a","b","c","d"],"data":{"text":"hello"}}`)
}

func BenchmarkInfoHandler(b *testing.B) {
	benchmarkServe(b, "/api/info", `{}`)
}

func BenchmarkLegacyPublish(b *testing.B) {
	benchmarkServe(b, "/api", `{"method":"publish","params":{"channel":"chat:index","data":{"text":"hello"}}}`+"\n")
}

func BenchmarkLegacyPipe(b *testing.B) {
	benchmarkServe(b, "/api", `{"method":"publish","params":{"channel":"a","data":1}}`+"\n"+
		`{"method":"presence_stats","params":{"channel":"a"}}`+"\n"+`{"method":"info","params":{}}`+"\n")
}

func BenchmarkBatchHandler(b *testing.B) {
	benchmarkServe(b, "/api/batch", `{"commands":[{"publish":{"channel":"a","data":1}},{"presence_stats":{"channel":"a"}},{"history":{"channel":"a","limit":10}}]}`)
}

func BenchmarkBatchHandlerParallel(b *testing.B) {
	benchmarkServe(b, "/api/batch", `{"parallel":true,"commands":[{"publish":{"channel":"a","data":1}},{"publish":{"channel":"b","data":1}},{"publish":{"channel":"c","data":1}},{"publish":{"channel":"d","data":1}}]}`)
}

func BenchmarkHistoryHandler(b *testing.B) {
	benchmarkServe(b, "/api/history", `{"channel":"a","limit":10}`)
}
