package engine

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeProxy answers with a fixed response per kind and records requests.
type fakeProxy struct {
	mu    sync.Mutex
	reqs  []ProxyRequest
	resp  map[ProxyKind]*ProxyResponse
	err   error
	delay time.Duration
}

func (p *fakeProxy) CallProxy(ctx context.Context, req *ProxyRequest) (*ProxyResponse, error) {
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, *req)
	return p.resp[req.Kind], p.err
}

func (p *fakeProxy) last() ProxyRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reqs[len(p.reqs)-1]
}

func proxyConfig(p *fakeProxy) Config {
	cfg := featureConfig()
	cfg.ConnectProxy = p
	cfg.SubscribeProxies = map[string]ProxyCaller{"default": p}
	cfg.PublishProxies = map[string]ProxyCaller{"default": p}
	cfg.RPCProxies = map[string]ProxyCaller{"default": p}
	cfg.RPCWithoutNamespace = RPCNamespace{ProxyEnabled: true}
	cfg.RPCNamespaces = []RPCNamespace{{Name: "off"}}
	cfg.Namespaces = append(cfg.Namespaces, NamespaceOptions{Name: "px", SubscribeProxyEnabled: true, PublishProxyEnabled: true})
	return cfg
}

func TestConnectProxy(t *testing.T) {
	p := &fakeProxy{resp: map[ProxyKind]*ProxyResponse{
		ProxyConnect: {Result: &ProxyResult{User: "77", Info: []byte(`{"n":"x"}`), Data: []byte(`{"welcome":1}`), Channels: []string{"news"}}},
	}}
	n := newTestNode(t, proxyConfig(p))
	c, tr := newTestClient(n)
	c.HandleFrame([]byte(`{"id":1,"connect":{"name":"js","version":"5","data":{"a":1},"subs":{"feed:x":{}}}}`))
	reply := tr.messages()[0]
	if !strings.Contains(reply, `"data":{"welcome":1},"subs":{"news":{}}`) {
		t.Fatalf("connect reply %s", reply)
	}
	req := p.last()
	if req.Kind != ProxyConnect || req.Name != "js" || string(req.Data) != `{"a":1}` || req.Channels[0] != "feed:x" || req.Transport != "websocket" || req.Protocol != "json" {
		t.Fatalf("connect proxy request %+v", req)
	}
	if n.NumSubscribers("news") != 1 {
		t.Fatal("proxy channels not subscribed")
	}
	// The proxy's answers: error, disconnect, no result.
	p.resp[ProxyConnect] = &ProxyResponse{Error: &Error{Code: 1000, Message: "custom"}}
	c, tr = newTestClient(n)
	c.HandleFrame([]byte(`{"id":1,"connect":{}}`))
	if tr.messages()[0] != `{"id":1,"error":{"code":1000,"message":"custom"}}` {
		t.Fatalf("proxy error: %q", tr.messages())
	}
	p.resp[ProxyConnect] = &ProxyResponse{Disconnect: &Disconnect{Code: 4500, Reason: "go away"}}
	c, tr = newTestClient(n)
	c.HandleFrame([]byte(`{"id":1,"connect":{}}`))
	if d := tr.disconnect(); d == nil || d.Code != 4500 {
		t.Fatalf("proxy disconnect: %v", d)
	}
	p.resp[ProxyConnect] = &ProxyResponse{}
	c, tr = newTestClient(n)
	c.HandleFrame([]byte(`{"id":1,"connect":{}}`))
	if d := tr.disconnect(); d == nil || d.Code != 3501 {
		t.Fatalf("proxy without result: %v", d)
	}
	p.err = context.DeadlineExceeded
	c, tr = newTestClient(n)
	c.HandleFrame([]byte(`{"id":1,"connect":{}}`))
	if tr.messages()[0] != `{"id":1,"error":{"code":100,"message":"internal server error","temporary":true}}` {
		t.Fatalf("proxy failure: %q", tr.messages())
	}
}

func TestSubscribePublishRPCProxies(t *testing.T) {
	p := &fakeProxy{resp: map[ProxyKind]*ProxyResponse{
		ProxySubscribe: {Result: &ProxyResult{Data: []byte(`{"s":1}`)}},
		ProxyPublish:   {Result: &ProxyResult{Data: []byte(`{"replaced":true}`)}},
		ProxyRPC:       {Result: &ProxyResult{Data: []byte(`{"answer":42}`)}},
	}}
	cfg := proxyConfig(p)
	cfg.ConnectProxy = nil
	n := newTestNode(t, cfg)
	c, tr := connected(t, n, "1")
	got := send(t, c, tr, `{"id":2,"subscribe":{"channel":"px:a","data":{"q":1}}}`)
	if got[0] != `{"id":2,"subscribe":{"data":{"s":1}}}` {
		t.Fatalf("subscribe via proxy %q", got)
	}
	if r := p.last(); r.Kind != ProxySubscribe || r.User != "1" || r.Channel != "px:a" || string(r.Data) != `{"q":1}` {
		t.Fatalf("subscribe proxy request %+v", r)
	}
	got = send(t, c, tr, `{"id":3,"publish":{"channel":"px:a","data":{"orig":true}}}`)
	if len(got) != 2 || !strings.Contains(got[0], `"pub":{"data":{"replaced":true}`) || got[1] != `{"id":3,"publish":{}}` {
		t.Fatalf("publish via proxy %q", got)
	}
	got = send(t, c, tr, `{"id":4,"rpc":{"method":"sum","data":{"a":1}}}`)
	if got[0] != `{"id":4,"rpc":{"data":{"answer":42}}}` {
		t.Fatalf("rpc %q", got)
	}
	got = send(t, c, tr, `{"id":5,"rpc":{"method":"nope:x"}}`)
	if got[0] != `{"id":5,"error":{"code":104,"message":"method not found"}}` {
		t.Fatalf("rpc unknown namespace %q", got)
	}
	got = send(t, c, tr, `{"id":6,"rpc":{"method":"off:x"}}`)
	if got[0] != `{"id":6,"error":{"code":108,"message":"not available"}}` {
		t.Fatalf("rpc namespace without proxy %q", got)
	}
	p.resp[ProxySubscribe] = &ProxyResponse{Error: &Error{Code: 403, Message: "nope", Temporary: true}}
	got = send(t, c, tr, `{"id":7,"subscribe":{"channel":"px:b"}}`)
	if got[0] != `{"id":7,"error":{"code":403,"message":"nope","temporary":true}}` {
		t.Fatalf("subscribe proxy error %q", got)
	}
}

func TestRefreshProxy(t *testing.T) {
	p := &fakeProxy{resp: map[ProxyKind]*ProxyResponse{
		ProxyConnect: {Result: &ProxyResult{User: "1", ExpireAt: time.Now().Unix() + 1}},
		ProxyRefresh: {Result: &ProxyResult{ExpireAt: time.Now().Unix() + 3600}},
	}}
	cfg := proxyConfig(p)
	cfg.RefreshProxy = p
	cfg.PingInterval = 400 * time.Millisecond
	cfg.PongTimeout = 200 * time.Millisecond
	n := newTestNode(t, cfg)
	c, tr := newTestClient(n)
	c.HandleFrame([]byte(`{"id":1,"connect":{}}`))
	if reply := tr.messages()[0]; strings.Contains(reply, `"expires"`) {
		t.Fatalf("server-refreshed connection must not expire client-side: %s", reply)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		seen := 0
		for {
			select {
			case <-stop:
				return
			case <-tr.notify:
			}
			msgs := tr.messages()
			for ; seen < len(msgs); seen++ {
				if msgs[seen] == "{}" {
					c.HandleFrame([]byte("{}"))
				}
			}
		}
	}()
	waitFor(t, 5*time.Second, "refresh proxy call", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, r := range p.reqs {
			if r.Kind == ProxyRefresh && r.User == "1" {
				return true
			}
		}
		return false
	})
	// The answer is applied after the call returns; two more ping rounds later
	// (each after a pong check of a live connection) the connection is still up.
	before := countPings(tr)
	waitFor(t, 5*time.Second, "two more pings after the refresh", func() bool {
		return countPings(tr) >= before+2 || tr.disconnect() != nil
	})
	if d := tr.disconnect(); d != nil {
		t.Fatalf("refreshed connection closed: %v", *d)
	}
}
