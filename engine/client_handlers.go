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
	_, already := c.subs[ch]
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
	private := strings.HasPrefix(ch, privatePrefix)
	if private && req.Token == "" {
		c.writeError(id, ErrorPermissionDenied)
		return nil
	}
	var res codec.SubscribeResult
	switch {
	case req.Token != "":
		vt, err := n.verifier.verifySubscription(req.Token)
		if err == errTokenExpired {
			c.writeError(id, ErrorTokenExpired)
			return nil
		}
		if err != nil {
			c.writeError(id, ErrorPermissionDenied)
			return nil
		}
		if vt.channel != ch || vt.user != user || (vt.client != "" && vt.client != clientID) {
			return DisconnectInvalidToken
		}
		if n.cfg.Insecure {
			vt.expireAt = 0
		}
		ttl, ok := ttlUntil(vt.expireAt)
		if !ok {
			c.writeError(id, ErrorExpired)
			return nil
		}
		res.Expires, res.TTL, res.Data = vt.expireAt > 0, ttl, vt.data
	default:
		limited, users := isUserLimited(ns, ch)
		allowed := (limited && userInList(users, user)) ||
			(!limited && ns.AllowSubscribeForClient && (user != "" || ns.AllowSubscribeForAnonymous)) ||
			n.cfg.Insecure
		if !allowed {
			c.writeError(id, ErrorPermissionDenied)
			return nil
		}
	}

	b := getBuf()
	defer putBuf(b)
	out, err := codec.AppendReply(c.proto, (*b)[:0], &codec.Reply{ID: id, Subscribe: &res})
	*b = out
	if err != nil {
		return DisconnectBadProtocol
	}
	c.mu.Lock()
	if c.state != stateConnected {
		c.mu.Unlock()
		return nil
	}
	if c.subs == nil {
		c.subs = make(map[string]struct{}, 1)
	}
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	// The reply is queued under the channel's shard lock, so no publication of ch can
	// overtake it.
	n.hub.addSub(ch, c, func() { c.enqueue(out) })
	// OnClose may have run between the state check and addSub and missed ch.
	c.mu.Lock()
	closed := c.state == stateClosed
	c.mu.Unlock()
	if closed {
		n.hub.removeSub(ch, c)
	}
	return nil
}

func (c *Client) handleUnsubscribe(id uint32, req *codec.UnsubscribeRequest) error {
	ch := req.Channel
	if ch == "" {
		return DisconnectBadRequest
	}
	c.mu.Lock()
	_, ok := c.subs[ch]
	delete(c.subs, ch)
	c.mu.Unlock()
	if ok {
		c.node.hub.removeSub(ch, c)
	}
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
	_, subscribed := c.subs[ch]
	info := codec.ClientInfo{User: c.user, Client: c.id, ConnInfo: c.info}
	c.mu.Unlock()
	anonOK := info.User != "" || ns.AllowPublishForAnonymous
	allowed := (ns.AllowPublishForClient && anonOK) ||
		(ns.AllowPublishForSubscriber && subscribed && anonOK) ||
		n.cfg.Insecure
	if !allowed {
		c.writeError(id, ErrorPermissionDenied)
		return nil
	}
	if _, err := n.Publish(ch, req.Data, PublishOptions{Info: &info}); err != nil {
		if e, ok := err.(*Error); ok {
			c.writeError(id, e)
			return nil
		}
		return err
	}
	return c.writeReply(&codec.Reply{ID: id, Publish: &codec.PublishResult{}})
}

type feature uint8

const (
	featurePresence feature = iota
	featureHistory
)

// handleFeature answers presence, presence_stats and history for channels whose
// namespace does not enable the feature (channels-and-namespaces.md §3.3, §3.4):
// 102 for an unknown namespace, 107 for a bad name, 108 when the feature is off.
func (c *Client) handleFeature(id uint32, ch string, f feature) error {
	n := c.node
	if ch == "" {
		return DisconnectBadRequest
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
	// Presence and history stores arrive with the complete client protocol; until
	// then every namespace reports the feature as not available.
	c.writeError(id, ErrorNotAvailable)
	return nil
}

// handleRefresh renews the connection's expiry with a fresh token (auth.md §2).
func (c *Client) handleRefresh(id uint32, req *codec.RefreshRequest) error {
	n := c.node
	if req.Token == "" {
		return DisconnectBadRequest
	}
	vt, err := n.verifier.verifyConnection(req.Token)
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
	if n.cfg.Insecure {
		vt.expireAt = 0
	}
	ttl, ok := ttlUntil(vt.expireAt)
	if !ok {
		c.writeError(id, ErrorExpired)
		return nil
	}
	c.mu.Lock()
	c.expireAt = vt.expireAt
	if len(vt.info) > 0 {
		c.info = append([]byte(nil), vt.info...)
	}
	c.mu.Unlock()
	return c.writeReply(&codec.Reply{ID: id, Refresh: &codec.RefreshResult{Expires: vt.expireAt > 0, TTL: ttl}})
}

// handleSubRefresh renews a subscription token (auth.md §3).
func (c *Client) handleSubRefresh(id uint32, req *codec.SubRefreshRequest) error {
	n := c.node
	if req.Channel == "" {
		return DisconnectBadRequest
	}
	c.mu.Lock()
	_, subscribed := c.subs[req.Channel]
	user, clientID := c.user, c.id
	c.mu.Unlock()
	if !subscribed {
		c.writeError(id, ErrorPermissionDenied)
		return nil
	}
	if req.Token == "" {
		c.writeError(id, ErrorBadRequest)
		return nil
	}
	vt, err := n.verifier.verifySubscription(req.Token)
	if err == errTokenExpired {
		c.writeError(id, ErrorTokenExpired)
		return nil
	}
	if err != nil || vt.channel != req.Channel || vt.user != user || (vt.client != "" && vt.client != clientID) {
		return DisconnectInvalidToken
	}
	if n.cfg.Insecure {
		vt.expireAt = 0
	}
	ttl, ok := ttlUntil(vt.expireAt)
	if !ok {
		c.writeError(id, ErrorExpired)
		return nil
	}
	return c.writeReply(&codec.Reply{ID: id, SubRefresh: &codec.SubRefreshResult{Expires: vt.expireAt > 0, TTL: ttl}})
}
