package engine

import (
	"github.com/rotorhq/rotor/codec"
)

// History queries channel's stream (history-recovery.md §2). Limit < 0 means all.
// It returns 107 for an empty channel, 102 for an unknown namespace, 108 when the
// namespace keeps no history and 112 for an epoch mismatch in Since.
func (n *Node) History(req HistoryRequest) (HistoryResult, error) {
	if req.Channel == "" {
		return HistoryResult{}, ErrorBadRequest
	}
	ns, _, ok := n.namespaceFor(req.Channel)
	if !ok {
		return HistoryResult{}, ErrorUnknownChannel
	}
	if !historyEnabled(ns) {
		return HistoryResult{}, ErrorNotAvailable
	}
	n.countAction(actHistory)
	pubs, top, err := n.broker.History(n.ctx, req.Channel, HistoryOptions{
		Filter:  HistoryFilter{Since: req.Since, Limit: req.Limit, Reverse: req.Reverse},
		MetaTTL: metaTTL(ns),
	})
	if err != nil {
		return HistoryResult{}, n.brokerError("history", req.Channel, err)
	}
	return HistoryResult{Publications: pubs, Epoch: top.Epoch, Offset: top.Offset}, nil
}

// HistoryRemove drops channel's stored publications; its position and epoch stay.
func (n *Node) HistoryRemove(channel string) error {
	if channel == "" {
		return ErrorBadRequest
	}
	ns, _, ok := n.namespaceFor(channel)
	if !ok {
		return ErrorUnknownChannel
	}
	if !historyEnabled(ns) {
		return ErrorNotAvailable
	}
	n.countAction(actHistoryRemove)
	if err := n.broker.RemoveHistory(n.ctx, channel); err != nil {
		return n.brokerError("history remove", channel, err)
	}
	return nil
}

// Presence returns channel's presence map keyed by client ID.
func (n *Node) Presence(channel string) (map[string]*codec.ClientInfo, error) {
	if err := n.checkPresenceChannel(channel); err != nil {
		return nil, err
	}
	n.countAction(actPresence)
	m, err := n.presence.Presence(n.ctx, channel)
	if err != nil {
		return nil, n.brokerError("presence", channel, err)
	}
	return m, nil
}

// PresenceStats counts channel's present clients and users.
func (n *Node) PresenceStats(channel string) (PresenceStats, error) {
	if err := n.checkPresenceChannel(channel); err != nil {
		return PresenceStats{}, err
	}
	n.countAction(actPresenceStats)
	st, err := n.presence.PresenceStats(n.ctx, channel)
	if err != nil {
		return PresenceStats{}, n.brokerError("presence stats", channel, err)
	}
	return st, nil
}

func (n *Node) checkPresenceChannel(channel string) error {
	if channel == "" {
		return ErrorBadRequest
	}
	ns, _, ok := n.namespaceFor(channel)
	if !ok {
		return ErrorUnknownChannel
	}
	if !ns.Presence {
		return ErrorNotAvailable
	}
	return nil
}

// Channels lists the channels with subscribers on any node whose name matches pattern
// (glob syntax of server-api.md §4.10; "" matches all), with their subscriber counts
// summed over the nodes. With other nodes present it runs Centrifugo's "channels"
// survey (at most 10 s); an invalid pattern or a failed survey is ErrorInternal (100)
// or a plain error (100 as well).
func (n *Node) Channels(pattern string) (map[string]ChannelInfo, error) {
	if pattern != "" {
		if _, err := compileGlob(pattern); err != nil {
			return nil, ErrorInternal
		}
	}
	return n.clusterChannels(pattern)
}

// matching returns the connections of user narrowed to client when set. Rotor has no
// emulation sessions yet, so a session filter matches nothing.
func (n *Node) matching(user, client, session string) []*Client {
	if session != "" {
		return nil
	}
	conns := n.hub.userConns(user)
	if client == "" {
		return conns
	}
	for _, c := range conns {
		if c.ID() == client {
			return []*Client{c}
		}
	}
	return nil
}

// Subscribe subscribes the matching connections of every node to req.Channel
// server-side; each gets a subscribe push. A connection at its channel limit is
// disconnected with 3505. When the push cannot be built for a connection of this node
// (data that its protocol cannot carry), that connection stays as it was and
// Subscribe, after trying the others, returns ErrorInternal (100), as Centrifugo's API
// does for a failed subscribe.
func (n *Node) Subscribe(req ServerSubscribeRequest) error {
	if req.Channel == "" {
		return ErrorBadRequest
	}
	ns, _, ok := n.namespaceFor(req.Channel)
	if !ok {
		return ErrorUnknownChannel
	}
	// The other nodes get the options resolved here (namespace and override), as
	// Centrifugo sends them, so every node subscribes alike.
	f := namespaceFlags(ns, req.Override)
	s := codec.ControlSubscribe{
		User: req.User, Channel: req.Channel, Client: req.Client, Session: req.Session,
		EmitPresence: f&subPresence != 0, EmitJoinLeave: f&subJoinLeave != 0,
		PushJoinLeave: f&subPushJoinLeave != 0, Position: f&subPositioned != 0,
		Recover: f&subRecoverable != 0, ExpireAt: req.ExpireAt,
		ChannelInfo: req.Info, Data: req.Data, RecoverSince: req.RecoverSince,
		Source: subSourceServerAPI,
	}
	if err := n.broadcastControl(&codec.ControlCommand{Subscribe: &s}); err != nil {
		return err
	}
	return n.subscribeLocal(&s)
}

// subSourceServerAPI is Centrifugo's subscription source of server API subscribes
// (its subsource.ServerAPI), sent in the control Subscribe.
const subSourceServerAPI = 10

// serverSubscribe attaches a server-side subscription and sends the subscribe push.
// It returns ErrorInternal, with nothing attached, when the push cannot be encoded.
func (c *Client) serverSubscribe(ch string, p *subParams) error {
	c.mu.Lock()
	_, already := c.subs.get(ch)
	numSubs := len(c.subs)
	c.mu.Unlock()
	if already {
		return nil
	}
	if numSubs >= c.node.cfg.ChannelLimit {
		c.Disconnect(DisconnectChannelLimit)
		return nil
	}
	err := c.attach(ch, p, ftPushSubscribe, func(res *codec.SubscribeResult) ([]byte, error) {
		push := codec.Push{Channel: ch, Subscribe: &codec.Subscribe{
			Recoverable: res.Recoverable, Epoch: res.Epoch, Offset: res.Offset,
			Positioned: res.Positioned, Data: res.Data,
		}}
		return codec.AppendReply(c.proto, nil, &codec.Reply{Push: &push})
	})
	if err != nil {
		// Not a lost position (server-side subscriptions never reject an unrecovered
		// one), so not 3010: an encode failure is an internal error. The client's
		// state is consistent (attach attached nothing), so it keeps its connection
		// and the API caller learns of the failure.
		c.node.log.Warn("server-side subscribe failed", "channel", ch, "client", c.ID(), "err", err)
		return ErrorInternal
	}
	return nil
}

// Unsubscribe removes req.Channel from the matching connections of every node, each
// of which gets an unsubscribe push 2000 "server unsubscribe".
func (n *Node) Unsubscribe(req ServerUnsubscribeRequest) error {
	if req.Channel == "" {
		return nil // nothing can match, as in Centrifugo
	}
	if _, _, ok := n.namespaceFor(req.Channel); !ok {
		return ErrorUnknownChannel
	}
	u := codec.ControlUnsubscribe{
		Channel: req.Channel, User: req.User, Client: req.Client, Session: req.Session,
		Code: 2000, Reason: "server unsubscribe",
	}
	if err := n.broadcastControl(&codec.ControlCommand{Unsubscribe: &u}); err != nil {
		return err
	}
	n.unsubscribeLocal(&u)
	return nil
}

// Disconnect closes the matching connections of every node, except those in the
// whitelist, with req.Disconnect (default 3503 "force disconnect").
func (n *Node) Disconnect(req ServerDisconnectRequest) error {
	d := DisconnectForce
	if req.Disconnect != nil {
		d = *req.Disconnect
	}
	m := codec.ControlDisconnect{
		User: req.User, Whitelist: req.Whitelist, Code: d.Code, Reason: d.Reason,
		Client: req.Client, Session: req.Session,
	}
	if err := n.broadcastControl(&codec.ControlCommand{Disconnect: &m}); err != nil {
		return err
	}
	n.disconnectLocal(&m)
	return nil
}

// Refresh updates the expiry (and info) of the matching connections of every node,
// which get a refresh push; Expired, or an expire_at already past, disconnects them
// with 3005.
func (n *Node) Refresh(req ServerRefreshRequest) error {
	r := codec.ControlRefresh{
		User: req.User, Client: req.Client, Session: req.Session,
		Expired: req.Expired, ExpireAt: req.ExpireAt, Info: req.Info,
	}
	if err := n.broadcastControl(&codec.ControlCommand{Refresh: &r}); err != nil {
		return err
	}
	n.refreshLocal(&r)
	return nil
}
