//go:build !race

package api

import "testing"

// publishAllocBudget is the agreed per-request allocation budget of the publish
// handler with a non-allocating Node: the copy of the channel string (see
// decodeOptions). Raising it needs a reason in the commit.
const publishAllocBudget = 1

func TestPublishHandlerAllocBudget(t *testing.T) {
	h := New(Config{Key: testKey}, nopNode{})
	ctx := newBenchCtx("/api/publish", `{"channel":"chat:index","data":{"text":"hello"}}`)
	for range 10 {
		h.ServeHTTP(ctx)
	}
	n := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h.ServeHTTP(ctx)
	})
	if n > publishAllocBudget {
		t.Fatalf("publish handler: %.1f allocs per request, budget %d", n, publishAllocBudget)
	}
	if got := string(ctx.Response.Body()); got != `{"result":{"offset":42,"epoch":"abcdEFGH"}}` {
		t.Fatalf("body %q", got)
	}
}

func TestInfoHandlerAllocBudget(t *testing.T) {
	h := New(Config{Key: testKey}, nopNode{})
	ctx := newBenchCtx("/api/info", `{}`)
	for range 10 {
		h.ServeHTTP(ctx)
	}
	n := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h.ServeHTTP(ctx)
	})
	if n > 0 {
		t.Fatalf("info handler: %.1f allocs per request", n)
	}
}
