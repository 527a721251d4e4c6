package engine

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// proxyCallBound caps a proxy call even if the caller's own timeout is missing.
const proxyCallBound = 30 * time.Second

// proxyRetryAfter is how long a connection or subscription is extended when a
// refresh proxy call fails (auth.md §5.3, §5.7).
const proxyRetryAfter = 60 * time.Second

// callProxy fills the fields common to every proxy request and calls p under the
// session's call context, so that a disconnect or shutdown cancels it. It holds no
// lock while the call is in flight. Must not hold c.mu.
func (c *Client) callProxy(p ProxyCaller, req *ProxyRequest) (*ProxyResponse, error) {
	c.mu.Lock()
	req.Client = c.id
	req.User = c.user
	req.Meta = c.meta
	req.Headers = c.headers
	if req.EmulatedHeaders == nil {
		req.EmulatedHeaders = c.emulatedHeaders
	}
	c.mu.Unlock()
	req.Transport = "websocket"
	req.Protocol = c.proto.String()
	// The call ends with the session or the node; the proxy applies its own
	// timeout, proxyCallBound backs it up.
	cctx, cs := c.beginCall()
	defer c.endCall(cs)
	ctx, cancel := context.WithTimeout(cctx, proxyCallBound)
	defer cancel()
	resp, err := p.CallProxy(ctx, req)
	if err == nil && resp == nil {
		resp = &ProxyResponse{}
	}
	return resp, err
}

// proxyFailed logs a failed proxy call with attrs: a warning, unless the session is
// ending, which cancels its calls on purpose. It takes no lock (callers may hold
// c.mu).
func (c *Client) proxyFailed(what string, err error, attrs ...any) {
	attrs = append(attrs, "err", err)
	if c.closing.Load() {
		c.node.log.Debug(what+" call cancelled: the session ended", attrs...)
		return
	}
	c.node.log.Warn(what+" call failed", attrs...)
}

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// proxySubs turns a connect proxy result's channels/subs into server-side
// subscriptions (subs wins over channels, as in tokens).
func proxySubs(r *ProxyResult) map[string]serverSub {
	switch {
	case len(r.Subs) > 0:
		out := make(map[string]serverSub, len(r.Subs))
		for ch, o := range r.Subs {
			out[ch] = serverSub{info: o.Info, data: o.Data, override: o.Override}
		}
		return out
	case len(r.Channels) > 0:
		out := make(map[string]serverSub, len(r.Channels))
		for _, ch := range r.Channels {
			out[ch] = serverSub{}
		}
		return out
	}
	return nil
}

// proxyName returns name or "default".
func proxyName(name string) string {
	if name == "" {
		return "default"
	}
	return name
}

// proxyRefreshConnection asks the refresh proxy to extend an expiring connection.
// Runs on its own short-lived goroutine.
func (c *Client) proxyRefreshConnection() {
	n := c.node
	resp, err := c.callProxy(n.cfg.RefreshProxy, &ProxyRequest{Kind: ProxyRefresh})
	c.mu.Lock()
	c.refreshing = false
	if c.state != stateConnected {
		c.mu.Unlock()
		return
	}
	newInfo := false
	// Like Centrifugo, an error or disconnect answer counts as "no result": expired.
	switch {
	case err != nil:
		c.proxyFailed("refresh proxy", err, "client", c.id)
		c.setExpiryLocked(time.Now().Add(proxyRetryAfter).Unix())
	case resp.Result == nil || resp.Result.Expired:
		c.mu.Unlock()
		c.Disconnect(DisconnectExpired)
		return
	default:
		r := resp.Result
		c.setExpiryLocked(r.ExpireAt)
		if len(r.Info) > 0 {
			c.info = r.Info
			newInfo = true
		}
		if len(r.Meta) > 0 {
			c.meta = r.Meta
		}
	}
	c.mu.Unlock()
	if newInfo {
		c.refreshPresence("")
	}
}

// proxyRefreshSubscription asks the sub_refresh proxy to extend an expiring
// subscription. Runs on its own short-lived goroutine.
func (c *Client) proxyRefreshSubscription(ch string, sub *subscription) {
	n := c.node
	p := n.cfg.SubRefreshProxies[proxyName(sub.ns.SubRefreshProxyName)]
	var (
		resp *ProxyResponse
		err  error
	)
	if p == nil {
		err = errNoProxy
	} else {
		resp, err = c.callProxy(p, &ProxyRequest{Kind: ProxySubRefresh, Channel: ch})
	}
	c.mu.Lock()
	sub.refreshing = false
	cur, _ := c.subs.get(ch)
	current := cur == sub && c.state == stateConnected
	serverSide := sub.flags&subServerSide != 0
	expire, newInfo := false, false
	if current {
		switch {
		case err != nil:
			c.proxyFailed("sub_refresh proxy", err, "client", c.id, "channel", ch)
			sub.expireAt = time.Now().Add(proxyRetryAfter).Unix()
		case resp.Result == nil || resp.Result.Expired:
			expire = true
		default:
			sub.expireAt = resp.Result.ExpireAt
			if len(resp.Result.Info) > 0 {
				sub.chanInfo = resp.Result.Info
				newInfo = true
			}
		}
	}
	c.mu.Unlock()
	if expire {
		c.expireSub(ch, serverSide)
	}
	if newInfo {
		c.refreshPresence(ch)
	}
}

// handleRPC routes an RPC call to the proxy of its method's namespace (auth.md §5.6).
func (c *Client) handleRPC(id uint32, req *codec.RPCRequest) error {
	n := c.node
	if n.cfg.RPCPingMethod != "" && req.Method == n.cfg.RPCPingMethod {
		return c.writeReply(&codec.Reply{ID: id, RPC: &codec.RPCResult{}})
	}
	if len(n.cfg.RPCProxies) == 0 {
		c.writeError(id, ErrorNotAvailable)
		return nil
	}
	co := n.chanOpts.Load()
	ns := &co.rpcWithout
	if i := strings.Index(req.Method, namespaceBoundary); i >= 0 {
		ns = nil
		for j := range co.rpcNamespaces {
			if co.rpcNamespaces[j].Name == req.Method[:i] {
				ns = &co.rpcNamespaces[j]
				break
			}
		}
		if ns == nil {
			c.writeError(id, ErrorMethodNotFound)
			return nil
		}
	}
	p := n.cfg.RPCProxies[proxyName(ns.ProxyName)]
	if !ns.ProxyEnabled || p == nil {
		c.writeError(id, ErrorNotAvailable)
		return nil
	}
	resp, err := c.callProxy(p, &ProxyRequest{Kind: ProxyRPC, Method: req.Method, Data: req.Data})
	if d, ok := proxyOutcome(c, id, resp, err); !ok {
		return d
	}
	var data []byte
	if resp.Result != nil {
		data = resp.Result.Data
	}
	return c.writeReply(&codec.Reply{ID: id, RPC: &codec.RPCResult{Data: data}})
}

// proxyOutcome handles a failed call, a disconnect and an error answer. ok is false
// when the command is finished (reply written or disconnect returned).
func proxyOutcome(c *Client, id uint32, resp *ProxyResponse, err error) (error, bool) {
	switch {
	case err != nil:
		c.proxyFailed("proxy", err)
		c.writeError(id, ErrorInternal)
		return nil, false
	case resp.Disconnect != nil:
		return *resp.Disconnect, false
	case resp.Error != nil:
		c.writeError(id, resp.Error)
		return nil, false
	}
	return nil, true
}
