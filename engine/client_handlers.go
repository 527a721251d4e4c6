package engine

import (
	"strings"

	"github.com/rotorhq/rotor/codec"
)

// handleSubscribe follows the permission order of channels-and-namespaces.md §3.1.
func (c *Client) handleSubscribe(id uint32, req *codec.SubscribeRequest) error {
	n := c.node
	ch := req.Channel
	if ch == "" {
		return DisconnectBadRequest
	}
	if req.Delta != "" && req.Delta != "fossil" {
		return DisconnectBadRequest
	}
	if len(ch) > n.cfg.ChannelMaxLength {
		c.writeError(id, ErrorBadRequest)
		return nil
	}
	c.mu.Lock()
	_, already := c.subs.get(ch)
	numSubs := len(c.subs)
	user, clientID := c.user, c.id
	c.mu.Unlock()
	if already {
		c.writeError(id, ErrorAlreadySubscribed)
		return nil
	}
	if numSubs >= n.cfg.ChannelLimit {
		c.writeError(id, ErrorLimitExceeded)
		return nil
	}
	ns, rest, ok := n.namespaceFor(ch)
	if !ok {
		c.writeError(id, ErrorUnknownChannel)
		return nil
	}
	if !n.validChannelName(ns, ch, rest) {
		c.writeError(id, ErrorBadRequest)
		return nil
	}
	if req.Tf != nil && (!ns.AllowTagsFilter || validateFilter(req.Tf) != nil) {
		c.writeError(id, ErrorBadRequest)
		return nil
	}
	private := strings.HasPrefix(ch, privatePrefix)
	if private && req.Token == "" {
		c.writeError(id, ErrorPermissionDenied)
		return nil
	}
	// An unsupported delta request is downgraded silently (client-protocol.md §10).
	p := subParams{ns: ns, filter: req.Tf, delta: req.Delta == "fossil" && nsAllowsDelta(ns)}
	switch {
	case req.Token != "":
		ctx, cs := c.tokenCall(true)
		vt, err := n.verifier.Load().verifySubscription(ctx, req.Token)
		c.endCall(cs)
		if err == errTokenExpired {
			c.writeError(id, ErrorTokenExpired)
			return nil
		}
		if err != nil {
			c.writeError(id, ErrorPermissionDenied)
			return nil
		}
		if !vt.matches(ch, user, clientID) {
			return DisconnectInvalidToken
		}
		vt.expireAt = n.effectiveExpiry(vt.expireAt)
		ttl, ok := ttlUntil(vt.expireAt)
		if !ok {
			c.writeError(id, ErrorExpired)
			return nil
		}
		p.expireAt, p.ttl, p.data, p.chanInfo = vt.expireAt, ttl, vt.data, vt.info
		p.flags = namespaceFlags(ns, vt.override)
	default:
		limited, users := isUserLimited(ns, ch)
		if !(limited && userInList(users, user)) && !limited && ns.SubscribeProxyEnabled {
			return c.subscribeViaProxy(id, req, &p)
		}
		allowed := (limited && userInList(users, user)) ||
			(!limited && ns.AllowSubscribeForClient && (user != "" || ns.AllowSubscribeForAnonymous)) ||
			n.cfg.Insecure
		if !allowed {
			c.writeError(id, ErrorPermissionDenied)
			return nil
		}
		p.flags = namespaceFlags(ns, nil)
	}
	// Client flags add to what the namespace grants (§3.1, "counting it as subscribed").
	if req.Positioned && (ns.AllowPositioning || n.historyAccess(ns, user, true)) {
		p.flags |= subPositioned
	}
	if req.Recoverable && (ns.AllowRecovery || n.historyAccess(ns, user, true)) {
		p.flags |= subRecoverable | subPositioned
	}
	if req.JoinLeave && ns.JoinLeave && n.presenceAccess(ns, user, true) {
		p.flags |= subPushJoinLeave
	}
	autoCache := ns.AutoCacheRecover && ns.ForceRecoveryMode == "cache"
	if p.flags&subRecoverable != 0 && (req.Recover || autoCache) {
		p.recover = true
		p.since = codec.StreamPosition{Offset: req.Offset, Epoch: req.Epoch}
		p.rejectUnrecovered = req.Flag&2 != 0
	}
	return c.finishSubscribe(id, ch, &p)
}

// finishSubscribe attaches a granted client-side subscription and writes its reply.
func (c *Client) finishSubscribe(id uint32, ch string, p *subParams) error {
	err := c.attach(ch, p, ftSubscribe, func(res *codec.SubscribeResult) ([]byte, error) {
		b := getBuf()
		defer putBuf(b)
		out, err := codec.AppendReply(c.proto, (*b)[:0], &codec.Reply{ID: id, Subscribe: res})
		*b = out
		if err != nil {
			return nil, DisconnectBadProtocol
		}
		return append([]byte(nil), out...), nil
	})
	return c.replyError(id, err)
}

// subscribeViaProxy lets the subscribe proxy decide (§3.1 step 10). Client-requested
// positioning/recovery flags do not apply on this path, only namespace options and
// the proxy's override.
func (c *Client) subscribeViaProxy(id uint32, req *codec.SubscribeRequest, p *subParams) error {
	n := c.node
	proxy := n.cfg.SubscribeProxies[proxyName(p.ns.SubscribeProxyName)]
	if proxy == nil {
		c.writeError(id, ErrorNotAvailable)
		return nil
	}
	resp, err := c.callProxy(proxy, &ProxyRequest{Kind: ProxySubscribe, Channel: req.Channel, Token: req.Token, Data: req.Data})
	if d, ok := proxyOutcome(c, id, resp, err); !ok {
		return d
	}
	var override *SubscribeOverride
	if r := resp.Result; r != nil {
		ttl, ok := ttlUntil(r.ExpireAt)
		if !ok {
			c.writeError(id, ErrorExpired)
			return nil
		}
		p.expireAt, p.ttl, p.chanInfo, p.data = r.ExpireAt, ttl, r.Info, r.Data
		override = r.Override
	}
	p.flags = namespaceFlags(p.ns, override)
	return c.finishSubscribe(id, req.Channel, p)
}

// historyAccess reports whether user may read ch's history (§3.4).
func (n *Node) historyAccess(ns *NamespaceOptions, user string, subscribed bool) bool {
	if !historyEnabled(ns) {
		return false
	}
	anonOK := user != "" || ns.AllowHistoryForAnonymous
	return (ns.AllowHistoryForClient && anonOK) || (ns.AllowHistoryForSubscriber && subscribed && anonOK) || n.cfg.Insecure
}

// presenceAccess reports whether user may read ch's presence (§3.3).
func (n *Node) presenceAccess(ns *NamespaceOptions, user string, subscribed bool) bool {
	if !ns.Presence {
		return false
	}
	anonOK := user != "" || ns.AllowPresenceForAnonymous
	return (ns.AllowPresenceForClient && anonOK) || (ns.AllowPresenceForSubscriber && subscribed && anonOK) || n.cfg.Insecure
}

func (c *Client) handleUnsubscribe(id uint32, req *codec.UnsubscribeRequest) error {
	ch := req.Channel
	if ch == "" {
		return DisconnectBadRequest
	}
	c.detach(ch)
	return c.writeReply(&codec.Reply{ID: id, Unsubscribe: &codec.UnsubscribeResult{}})
}

// handlePublish follows channels-and-namespaces.md §3.2.
func (c *Client) handlePublish(id uint32, req *codec.PublishRequest) error {
	n := c.node
	ch := req.Channel
	if ch == "" {
		return DisconnectBadRequest
	}
	ns, rest, ok := n.namespaceFor(ch)
	if !ok {
		c.writeError(id, ErrorUnknownChannel)
		return nil
	}
	if !n.validChannelName(ns, ch, rest) || !checkPublicationData(ns, req.Data) {
		c.writeError(id, ErrorBadRequest)
		return nil
	}
	c.mu.Lock()
	sub, subscribed := c.subs.get(ch)
	info := codec.ClientInfo{User: c.user, Client: c.id, ConnInfo: c.info}
	if subscribed {
		info.ChanInfo = sub.chanInfo
	}
	c.mu.Unlock()
	if ns.PublishProxyEnabled {
		return c.publishViaProxy(id, req, ns, &info)
	}
	anonOK := info.User != "" || ns.AllowPublishForAnonymous
	allowed := (ns.AllowPublishForClient && anonOK) ||
		(ns.AllowPublishForSubscriber && subscribed && anonOK) ||
		n.cfg.Insecure
	if !allowed {
		c.writeError(id, ErrorPermissionDenied)
		return nil
	}
	if _, err := n.Publish(ch, req.Data, PublishOptions{Info: &info}); err != nil {
		return c.replyError(id, err)
	}
	return c.writeReply(&codec.Reply{ID: id, Publish: &codec.PublishResult{}})
}

// checkReadable applies the checks shared by presence, presence_stats and history
// (§3.3, §3.4): 102 unknown namespace, 107 bad name, 108 feature off, 103 no access.
func (c *Client) checkReadable(id uint32, ch string, history bool) (*NamespaceOptions, bool, error) {
	n := c.node
	if ch == "" {
		return nil, false, DisconnectBadRequest
	}
	ns, rest, ok := n.namespaceFor(ch)
	if !ok {
		c.writeError(id, ErrorUnknownChannel)
		return nil, false, nil
	}
	if !n.validChannelName(ns, ch, rest) {
		c.writeError(id, ErrorBadRequest)
		return nil, false, nil
	}
	if (history && !historyEnabled(ns)) || (!history && !ns.Presence) {
		c.writeError(id, ErrorNotAvailable)
		return nil, false, nil
	}
	c.mu.Lock()
	_, subscribed := c.subs.get(ch)
	user := c.user
	c.mu.Unlock()
	allowed := n.presenceAccess(ns, user, subscribed)
	if history {
		allowed = n.historyAccess(ns, user, subscribed)
	}
	if !allowed {
		c.writeError(id, ErrorPermissionDenied)
		return nil, false, nil
	}
	return ns, true, nil
}

func (c *Client) handlePresence(id uint32, ch string) error {
	if _, ok, err := c.checkReadable(id, ch, false); !ok {
		return err
	}
	c.node.countAction(actPresence)
	m, err := c.node.presence.Presence(c.node.ctx, ch)
	if err != nil {
		return c.replyError(id, c.node.brokerError("presence", ch, err))
	}
	return c.writeReply(&codec.Reply{ID: id, Presence: &codec.PresenceResult{Presence: m}})
}

func (c *Client) handlePresenceStats(id uint32, ch string) error {
	if _, ok, err := c.checkReadable(id, ch, false); !ok {
		return err
	}
	c.node.countAction(actPresenceStats)
	st, err := c.node.presence.PresenceStats(c.node.ctx, ch)
	if err != nil {
		return c.replyError(id, c.node.brokerError("presence stats", ch, err))
	}
	return c.writeReply(&codec.Reply{ID: id, PresenceStats: &codec.PresenceStatsResult{NumClients: st.NumClients, NumUsers: st.NumUsers}})
}

func (c *Client) handleHistory(id uint32, req *codec.HistoryRequest) error {
	if _, ok, err := c.checkReadable(id, req.Channel, true); !ok {
		return err
	}
	limit := int(req.Limit)
	if max := c.node.cfg.HistoryMaxPublicationLimit; limit < 0 || limit > max {
		limit = max
	}
	if req.Reverse && req.Since != nil && req.Since.Offset == 0 {
		c.writeError(id, ErrorBadRequest)
		return nil
	}
	res, err := c.node.History(HistoryRequest{Channel: req.Channel, Limit: limit, Since: req.Since, Reverse: req.Reverse})
	if err != nil {
		return c.replyError(id, err)
	}
	return c.writeReply(&codec.Reply{ID: id, History: &codec.HistoryResult{Publications: res.Publications, Epoch: res.Epoch, Offset: res.Offset}})
}

// handleRefresh renews the connection's expiry with a fresh token (auth.md §2).
func (c *Client) handleRefresh(id uint32, req *codec.RefreshRequest) error {
	n := c.node
	if req.Token == "" || n.cfg.RefreshProxy != nil {
		return DisconnectBadRequest
	}
	ctx, cs := c.tokenCall(false)
	vt, err := n.verifier.Load().verifyConnection(ctx, req.Token)
	c.endCall(cs)
	if err == errTokenExpired {
		return DisconnectExpired
	}
	if err != nil {
		return DisconnectInvalidToken
	}
	c.mu.Lock()
	user := c.user
	c.mu.Unlock()
	if vt.user != user {
		return DisconnectInvalidToken
	}
	vt.expireAt = n.effectiveExpiry(vt.expireAt)
	ttl, ok := ttlUntil(vt.expireAt)
	if !ok {
		c.writeError(id, ErrorExpired)
		return nil
	}
	c.mu.Lock()
	c.setExpiryLocked(vt.expireAt)
	if len(vt.info) > 0 {
		c.info = append([]byte(nil), vt.info...)
	}
	c.mu.Unlock()
	if len(vt.info) > 0 {
		c.refreshPresence("")
	}
	return c.writeReply(&codec.Reply{ID: id, Refresh: &codec.RefreshResult{Expires: vt.expireAt > 0, TTL: ttl}})
}

// handleSubRefresh renews a subscription token (auth.md §3).
func (c *Client) handleSubRefresh(id uint32, req *codec.SubRefreshRequest) error {
	n := c.node
	if req.Channel == "" {
		return DisconnectBadRequest
	}
	c.mu.Lock()
	sub, subscribed := c.subs.get(req.Channel)
	user, clientID := c.user, c.id
	c.mu.Unlock()
	if !subscribed {
		c.writeError(id, ErrorPermissionDenied)
		return nil
	}
	if sub.ns != nil && sub.ns.SubRefreshProxyEnabled {
		// The server refreshes this subscription itself (Centrifugo: "server-side
		// sub refresh expected").
		return DisconnectBadRequest
	}
	if req.Token == "" {
		c.writeError(id, ErrorBadRequest)
		return nil
	}
	ctx, cs := c.tokenCall(true)
	vt, err := n.verifier.Load().verifySubscription(ctx, req.Token)
	c.endCall(cs)
	if err == errTokenExpired {
		c.writeError(id, ErrorTokenExpired)
		return nil
	}
	if err != nil || !vt.matches(req.Channel, user, clientID) {
		return DisconnectInvalidToken
	}
	vt.expireAt = n.effectiveExpiry(vt.expireAt)
	ttl, ok := ttlUntil(vt.expireAt)
	if !ok {
		c.writeError(id, ErrorExpired)
		return nil
	}
	c.mu.Lock()
	if sub, _ := c.subs.get(req.Channel); sub != nil {
		sub.expireAt = vt.expireAt
		if len(vt.info) > 0 {
			sub.chanInfo = vt.info
		}
	}
	c.mu.Unlock()
	if len(vt.info) > 0 {
		c.refreshPresence(req.Channel)
	}
	return c.writeReply(&codec.Reply{ID: id, SubRefresh: &codec.SubRefreshResult{Expires: vt.expireAt > 0, TTL: ttl}})
}

// publishViaProxy lets the publish proxy decide and shape the publication (§3.2 step 5).
func (c *Client) publishViaProxy(id uint32, req *codec.PublishRequest, ns *NamespaceOptions, info *codec.ClientInfo) error {
	n := c.node
	proxy := n.cfg.PublishProxies[proxyName(ns.PublishProxyName)]
	if proxy == nil {
		c.writeError(id, ErrorNotAvailable)
		return nil
	}
	resp, err := c.callProxy(proxy, &ProxyRequest{Kind: ProxyPublish, Channel: req.Channel, Data: req.Data})
	if d, ok := proxyOutcome(c, id, resp, err); !ok {
		return d
	}
	data := req.Data
	opts := PublishOptions{Info: info}
	if r := resp.Result; r != nil {
		if len(r.Data) > 0 {
			data = r.Data
		}
		opts.SkipHistory, opts.Tags, opts.IdempotencyKey, opts.Delta = r.SkipHistory, r.Tags, r.IdempotencyKey, r.Delta
	}
	if _, err := n.Publish(req.Channel, data, opts); err != nil {
		return c.replyError(id, err)
	}
	return c.writeReply(&codec.Reply{ID: id, Publish: &codec.PublishResult{}})
}
