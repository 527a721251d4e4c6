package engine

import (
	"fmt"
	"regexp"
)

// channelOptions is the namespace configuration channel lookups read; Reload
// replaces it as a whole, so a lookup sees either the old or the new options.
type channelOptions struct {
	without *NamespaceOptions
	byName  map[string]*NamespaceOptions
	regexps map[*NamespaceOptions]*regexp.Regexp
	// rpcWithout and rpcNamespaces route RPC methods (handleRPC).
	rpcWithout    RPCNamespace
	rpcNamespaces []RPCNamespace
}

// newChannelOptions indexes the validated options of cfg (Validate compiled every
// regex).
func newChannelOptions(cfg *Config) *channelOptions {
	without, namespaces := cfg.WithoutNamespace, cfg.Namespaces
	co := &channelOptions{
		without:       &without,
		byName:        make(map[string]*NamespaceOptions, len(namespaces)),
		regexps:       map[*NamespaceOptions]*regexp.Regexp{},
		rpcWithout:    cfg.RPCWithoutNamespace,
		rpcNamespaces: cfg.RPCNamespaces,
	}
	all := []*NamespaceOptions{co.without}
	for i := range namespaces {
		ns := namespaces[i]
		co.byName[ns.Name] = &ns
		all = append(all, &ns)
	}
	for _, ns := range all {
		if ns.ChannelRegex != "" {
			co.regexps[ns] = regexp.MustCompile(ns.ChannelRegex)
		}
	}
	return co
}

// Reload applies what Centrifugo reloads on SIGHUP: the channel options
// (WithoutNamespace, Namespaces), the RPC routing (RPCWithoutNamespace,
// RPCNamespaces) and the token verification settings (Token,
// TokenHMACSecretKey, SubscriptionToken, SubscriptionTokenEnabled,
// InsecureSkipTokenSignatureVerify) of cfg. Everything else in cfg is ignored; the
// proxies the namespaces name must be among those the node started with.
// Connected clients stay; operations from now on use the new options, and
// subscriptions already made keep the options they were made with. On error
// nothing changes.
func (n *Node) Reload(cfg Config) error {
	next := n.cfg
	next.WithoutNamespace = cfg.WithoutNamespace
	next.Namespaces = cfg.Namespaces
	next.RPCWithoutNamespace = cfg.RPCWithoutNamespace
	next.RPCNamespaces = cfg.RPCNamespaces
	next.Token = cfg.Token
	next.TokenHMACSecretKey = cfg.TokenHMACSecretKey
	next.SubscriptionToken = cfg.SubscriptionToken
	next.SubscriptionTokenEnabled = cfg.SubscriptionTokenEnabled
	next.InsecureSkipTokenSignatureVerify = cfg.InsecureSkipTokenSignatureVerify
	if err := next.Validate(); err != nil {
		return err
	}
	for _, ns := range append([]NamespaceOptions{next.WithoutNamespace}, next.Namespaces...) {
		for _, p := range []struct {
			enabled bool
			name    string
			callers map[string]ProxyCaller
			what    string
		}{
			{ns.SubscribeProxyEnabled, ns.SubscribeProxyName, next.SubscribeProxies, "subscribe"},
			{ns.PublishProxyEnabled, ns.PublishProxyName, next.PublishProxies, "publish"},
			{ns.SubRefreshProxyEnabled, ns.SubRefreshProxyName, next.SubRefreshProxies, "sub_refresh"},
		} {
			if p.enabled && p.callers[proxyName(p.name)] == nil {
				return fmt.Errorf("namespace %q: %s proxy %q was not configured at start; proxies are not reloaded", ns.Name, p.what, proxyName(p.name))
			}
		}
	}
	for _, ns := range append([]RPCNamespace{next.RPCWithoutNamespace}, next.RPCNamespaces...) {
		if ns.ProxyEnabled && next.RPCProxies[proxyName(ns.ProxyName)] == nil {
			return fmt.Errorf("rpc namespace %q: proxy %q was not configured at start; proxies are not reloaded", ns.Name, proxyName(ns.ProxyName))
		}
	}
	v, err := buildTokenVerifier(&next)
	if err != nil {
		return err
	}
	v.bind(n.ctx)
	n.verifier.Store(v)
	n.chanOpts.Store(newChannelOptions(&next))
	return nil
}
