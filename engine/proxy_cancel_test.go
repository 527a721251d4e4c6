package engine

import (
	"context"
	"testing"
	"time"
)

// hangingProxy answers nothing until its context ends (or a long backstop passes):
// it stands for a backend that hangs.
type hangingProxy struct {
	entered  chan struct{}
	returned chan error
}

func newHangingProxy() *hangingProxy {
	return &hangingProxy{entered: make(chan struct{}, 16), returned: make(chan error, 16)}
}

func (p *hangingProxy) CallProxy(ctx context.Context, req *ProxyRequest) (*ProxyResponse, error) {
	p.entered <- struct{}{}
	select {
	case <-ctx.Done():
		p.returned <- ctx.Err()
		return nil, ctx.Err()
	case <-time.After(20 * time.Second):
		p.returned <- nil
		return &ProxyResponse{}, nil
	}
}

// waitSignal waits for one value on ch.
func waitSignal[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// TestProxyCallCancelled: a proxy call in flight ends as soon as its session ends,
// whatever ends it: the peer going away (reported by the transport while the handler
// is still blocked), a server-side disconnect, or the node shutting down.
func TestProxyCallCancelled(t *testing.T) {
	cases := []struct {
		name string
		end  func(n *Node, c *Client, tr *fakeTransport)
	}{
		// netio reports the hang-up, then closes the connection itself.
		{"peer gone", func(n *Node, c *Client, tr *fakeTransport) { c.PeerGone(); tr.Close(DisconnectConnectionClosed) }},
		{"disconnect", func(n *Node, c *Client, tr *fakeTransport) { c.Disconnect(DisconnectForce) }},
		{"shutdown", func(n *Node, c *Client, tr *fakeTransport) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := n.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newHangingProxy()
			cfg := testConfig()
			cfg.ConnectProxy = p
			n := newTestNode(t, cfg)
			c, tr := newTestClient(n)
			handled := make(chan struct{})
			go func() {
				c.HandleFrame([]byte(`{"id":1,"connect":{}}`))
				close(handled)
			}()
			waitSignal(t, p.entered, 5*time.Second, "the connect proxy call")
			start := time.Now()
			tc.end(n, c, tr)
			if err := waitSignal(t, p.returned, 2*time.Second, "the proxy call to end"); err == nil {
				t.Fatal("the proxy call ran to its end instead of being cancelled")
			}
			waitSignal(t, handled, 2*time.Second, "the connect handler to return")
			t.Logf("call ended %v after the session did", time.Since(start))
		})
	}
}

// TestRefreshProxyCallCancelled: the refresh proxy call, which runs on its own
// goroutine, is cancelled by a disconnect too.
func TestRefreshProxyCallCancelled(t *testing.T) {
	p := newHangingProxy()
	cfg := proxyConfig(&fakeProxy{resp: map[ProxyKind]*ProxyResponse{
		ProxyConnect: {Result: &ProxyResult{User: "1", ExpireAt: time.Now().Unix() + 1}},
	}})
	cfg.RefreshProxy = p
	n := newTestNode(t, cfg)
	c, tr := newTestClient(n)
	c.HandleFrame([]byte(`{"id":1,"connect":{}}`))
	if len(tr.messages()) != 1 {
		t.Fatalf("connect: %q", tr.messages())
	}
	waitSignal(t, p.entered, 15*time.Second, "the refresh proxy call")
	c.Disconnect(DisconnectForce)
	if err := waitSignal(t, p.returned, 2*time.Second, "the refresh call to end"); err == nil {
		t.Fatal("the refresh call ran to its end instead of being cancelled")
	}
}
