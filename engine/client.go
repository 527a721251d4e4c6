package engine

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotorhq/rotor/codec"
)

type clientState uint8

const (
	stateNew       clientState = iota // waiting for connect
	stateConnected                    // authenticated
	stateFailed                       // connect answered with an error: unusable
	stateClosed                       // OnClose ran
)

type timerKind uint8

const (
	timerStale timerKind = iota // no connect yet
	timerPing                   // next server ping
	timerPong                   // check the answer to the last ping
)

// Client is one session. A transport feeds it frames (HandleFrame, from one
// goroutine at a time) and reports the end of the connection (OnClose, once).
//
// Lock order (LOCKS.md): channel lock → client.mu → wheel.mu; client.mu is never
// held while taking a channel, stream, hub or presence lock or calling the
// transport.
type Client struct {
	timerNode // guarded by node.wheel.mu

	node  *Node
	t     Transport
	proto codec.Protocol
	// tname, emulation, uni and session describe transports other than the
	// WebSocket (stream.go); fixed in NewClient.
	tname          string
	emulation, uni bool
	session        string
	// frameMu serialises frames arriving over HTTP (HandleEmulated, ConnectUni).
	frameMu sync.Mutex
	// refusal, while ConnectUniRefusal runs, receives a connect error instead of
	// the disconnect; guarded by mu.
	refusal *Error
	// se is t when it takes broadcasts as shared messages (SharedEnqueuer), else nil.
	se SharedEnqueuer
	// closing is set by the first Disconnect; frames after it are ignored.
	closing atomic.Bool
	// tm are the series of c's transport.
	tm *transportMetrics
	// disc is the disconnect the server closed the session with (nil: none, or the
	// peer went first), for OnClose to log.
	disc atomic.Pointer[Disconnect]
	// method is the command being handled, for the counters of the replies it
	// writes. Owned by the goroutine running HandleFrame.
	method frameType
	// nameIdx and versionIdx are the client_name/client_version label values of c
	// (clientLabelIndex), set at connect.
	nameIdx, versionIdx uint8

	mu      sync.Mutex // guards the fields below
	state   clientState
	tkind   timerKind
	pingOut bool // a ping is waiting for its pong
	// pingSent is when the last ping was queued (unix nanos), for the ping/pong
	// duration.
	pingSent int64
	id       string
	user     string
	info     []byte
	// expireAt is the unix second the connection expires at; 0 never.
	expireAt int64
	// subs holds the subscribed channels; nil until the first subscribe.
	subs subList
	// meta is the connection meta from the token or connect proxy, for proxies.
	meta []byte
	// headers are request headers proxies may forward; nil when none are configured.
	headers map[string]string
	// emulatedHeaders are the connect request's headers (headers emulation), which
	// proxies forward when whitelisted.
	emulatedHeaders map[string]string
	// refreshing is set while a refresh proxy call is in flight.
	refreshing bool
	// pingDue and presenceDue are when the next ping/pong step and the next
	// subscription expiry sweep are due (unix nanos); see scheduleLocked.
	pingDue, presenceDue int64

	// callMu guards call. A leaf lock of its own, not client.mu: Disconnect takes
	// it and is called under hub and stream locks (slow consumers).
	callMu sync.Mutex
	// call is the context of the blocking calls (proxy, JWKS) in flight for the
	// session, nil when there are none: sessions pay for a context only while they
	// wait on something, not for their whole life.
	call *callScope
}

// callScope is a client's context for blocking calls, shared by the calls in flight
// and cancelled by the session's end or the last call's.
type callScope struct {
	ctx    context.Context
	cancel context.CancelFunc
	n      int // calls in flight; guarded by Client.callMu
}

// cancelledCtx is handed to calls begun after the session ended.
var cancelledCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// beginCall returns the context a blocking call made for c must run under: it ends
// when the session ends (Disconnect, the peer going away, OnClose) or the node shuts
// down. Pass the scope to endCall when the call returns. Any goroutine; must not
// hold c.callMu.
func (c *Client) beginCall() (context.Context, *callScope) {
	c.callMu.Lock()
	defer c.callMu.Unlock()
	if c.closing.Load() {
		return cancelledCtx, nil
	}
	if c.call == nil {
		ctx, cancel := context.WithCancel(c.node.ctx)
		c.call = &callScope{ctx: ctx, cancel: cancel}
	}
	c.call.n++
	return c.call.ctx, c.call
}

// endCall ends a call begun with beginCall; the last one releases the context.
func (c *Client) endCall(cs *callScope) {
	if cs == nil {
		return
	}
	c.callMu.Lock()
	cs.n--
	if cs.n == 0 {
		cs.cancel()
		if c.call == cs {
			c.call = nil
		}
	}
	c.callMu.Unlock()
}

// cancelCalls cancels the blocking calls in flight. c.closing must be set first, so
// that no call begins with a live context after it.
func (c *Client) cancelCalls() {
	c.callMu.Lock()
	if c.call != nil {
		c.call.cancel()
		c.call = nil
	}
	c.callMu.Unlock()
}

// tokenCall returns the context for checking a connection (sub false) or
// subscription token: a JWKS fetch may block, so then it is a call context (end it
// with endCall); static keys never block and cost no context.
func (c *Client) tokenCall(sub bool) (context.Context, *callScope) {
	if !c.node.verifier.Load().fetches(sub) {
		return context.Background(), nil
	}
	return c.beginCall()
}

// PeerGone tells the session that the transport saw the peer go away while the
// session may still be busy (a handler blocked on a proxy call keeps OnClose from
// running): blocking calls made for it are cancelled at once and no new command is
// handled. Non-blocking, any goroutine (also a netpoll poller).
func (c *Client) PeerGone() {
	c.closing.Store(true)
	c.cancelCalls()
}

// NewClient creates the session of a freshly accepted transport and arms its stale
// timer. The transport must later call OnClose exactly once. headers are the request
// headers backend proxies may forward (nil when none are configured).
func (n *Node) NewClient(t Transport, headers map[string]string) *Client {
	c := &Client{node: n, t: t, proto: t.Protocol(), headers: headers, tm: n.metrics.transport(transportName(t))}
	if se, ok := t.(SharedEnqueuer); ok && se.SharesBroadcasts() {
		c.se = se
	}
	c.tslot = -1
	c.initTransport()
	n.sessions.Add(1)
	if n.shuttingDown.Load() {
		c.Disconnect(DisconnectShutdown)
		return c
	}
	n.wheel.schedule(c, n.staleDelay)
	return c
}

// header returns the request header name (case-insensitive), "" when absent or not
// kept (only headers proxies or user_id_http_header need are kept).
func (c *Client) header(name string) string {
	for k, v := range c.headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// ID returns the client ID, "" before connect.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// Disconnect closes the session with d. Idempotent, non-blocking, any goroutine
// (also under hub and channel locks: it counts the disconnect, and OnClose logs it).
func (c *Client) Disconnect(d Disconnect) {
	if c.closing.CompareAndSwap(false, true) {
		if d.Code != DisconnectConnectionClosed.Code {
			c.countServerDisconnect(d.Code)
			dc := d
			c.disc.Store(&dc)
		}
		c.cancelCalls()
		c.t.Close(d)
	}
}

// WriteFailed reports that the transport could not write to the peer (an I/O error,
// or websocket.write_timeout on a socket that stayed full) and is closing the
// connection: the session ends as Centrifugo's 3009 "write error", counted and
// logged at close like a disconnect, though no close frame can reach the peer.
// Non-blocking, any goroutine; nothing happens when the session is already ending.
func (c *Client) WriteFailed() {
	if c.closing.CompareAndSwap(false, true) {
		m := c.node.metrics
		m.code(codeKey{kind: codeServerDisconnect, code: DisconnectWriteError.Code}).Inc()
		d := DisconnectWriteError
		c.disc.Store(&d)
		c.cancelCalls()
	}
}

// enqueueFailed handles an Enqueue error: a full queue ends the session with 3008.
func (c *Client) enqueueFailed(err error) {
	if err == ErrSlowConsumer {
		c.Disconnect(DisconnectSlow)
	}
}

func (c *Client) enqueue(b []byte) {
	if err := c.t.Enqueue(b); err != nil {
		c.enqueueFailed(err)
	}
}

var decoderPools = [2]sync.Pool{
	{New: func() any { return codec.NewCommandDecoder(codec.ProtocolJSON) }},
	{New: func() any { return codec.NewCommandDecoder(codec.ProtocolProtobuf) }},
}

var commandPool = sync.Pool{New: func() any { return new(codec.Command) }}

// HandleFrame processes every command of one transport frame, in order. Byte slices
// of payload are not retained. It returns false once the session is closing, so the
// transport stops reading. Called from one goroutine at a time per client.
func (c *Client) HandleFrame(payload []byte) bool {
	if c.closing.Load() {
		return false
	}
	if len(payload) == 0 {
		c.Disconnect(DisconnectBadRequest)
		return false
	}
	dec := decoderPools[c.proto].Get().(*codec.CommandDecoder)
	cmd := commandPool.Get().(*codec.Command)
	dec.Reset(payload)
	for !c.closing.Load() {
		err := dec.Decode(cmd)
		if err == io.EOF {
			break
		}
		if err != nil {
			c.node.log.Debug("malformed command", "client", c.ID(), "err", err)
			c.Disconnect(DisconnectBadRequest)
			break
		}
		ft := commandType(cmd)
		c.method = ft
		if tm := c.tm; tm != nil {
			// The frame's size goes to its first command: per-command sizes would
			// need the decoder's offsets, and frames usually carry one command.
			tm.received[ft].Inc()
			tm.recvSize[ft].Add(len(payload))
			payload = nil
		}
		started := time.Now()
		err = c.dispatch(cmd)
		if ft <= ftUnknown {
			m := c.node.metrics
			observeDuration(m.cmdSummary[ft], m.cmdHistogram[ft], time.Since(started))
		}
		if err != nil {
			var d Disconnect
			if errors.As(err, &d) {
				c.Disconnect(d)
				break
			}
			c.writeError(cmd.ID, ErrorInternal)
		}
	}
	cmd.Reset()
	commandPool.Put(cmd)
	dec.Reset(nil)
	decoderPools[c.proto].Put(dec)
	return !c.closing.Load()
}

// dispatch runs one command (client-protocol.md §6). A returned error is a
// Disconnect; reply errors are written by the handlers.
func (c *Client) dispatch(cmd *codec.Command) error {
	if cmd.ID == 0 {
		if cmd.Send != nil {
			return c.handleSend()
		}
		return c.handlePong()
	}
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st != stateConnected {
		if st == stateNew && cmd.Connect != nil {
			return c.handleConnect(cmd.ID, cmd.Connect)
		}
		return DisconnectBadRequest
	}
	switch {
	case cmd.Connect != nil:
		return DisconnectBadRequest
	case cmd.Subscribe != nil:
		return c.handleSubscribe(cmd.ID, cmd.Subscribe)
	case cmd.Unsubscribe != nil:
		return c.handleUnsubscribe(cmd.ID, cmd.Unsubscribe)
	case cmd.Publish != nil:
		return c.handlePublish(cmd.ID, cmd.Publish)
	case cmd.Presence != nil:
		return c.handlePresence(cmd.ID, cmd.Presence.Channel)
	case cmd.PresenceStats != nil:
		return c.handlePresenceStats(cmd.ID, cmd.PresenceStats.Channel)
	case cmd.History != nil:
		return c.handleHistory(cmd.ID, cmd.History)
	case cmd.RPC != nil:
		return c.handleRPC(cmd.ID, cmd.RPC)
	case cmd.Send != nil:
		return c.handleSend()
	case cmd.Refresh != nil:
		return c.handleRefresh(cmd.ID, cmd.Refresh)
	case cmd.SubRefresh != nil:
		return c.handleSubRefresh(cmd.ID, cmd.SubRefresh)
	}
	return DisconnectBadRequest
}

func (c *Client) writeError(id uint32, e *Error) {
	b := getBuf()
	*b = codec.AppendErrorReply(c.proto, (*b)[:0], id, e.Code, e.Message, e.Temporary)
	c.enqueue(*b)
	c.countSent(c.method, len(*b))
	c.node.metrics.code(codeKey{kind: codeReplyError, method: c.method, code: e.Code}).Inc()
	putBuf(b)
}

// replyError answers a client-visible *Error with an error reply; any other error
// (a Disconnect) is returned for the dispatcher to act on.
func (c *Client) replyError(id uint32, err error) error {
	if e, ok := err.(*Error); ok {
		c.writeError(id, e)
		return nil
	}
	return err
}

func (c *Client) writeReply(r *codec.Reply) error {
	b := getBuf()
	defer putBuf(b)
	out, err := codec.AppendReply(c.proto, (*b)[:0], r)
	*b = out
	if err != nil {
		// A payload that cannot travel in this protocol (binary data on JSON).
		return DisconnectBadProtocol
	}
	c.enqueue(out)
	c.countSent(c.method, len(out))
	return nil
}

func (c *Client) handleSend() error {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st != stateConnected {
		return DisconnectBadRequest
	}
	// Rotor, like Centrifugo OSS, installs no async message handler.
	return DisconnectNotAvailable
}

func (c *Client) handlePong() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateConnected || !c.pingOut {
		return DisconnectBadRequest
	}
	c.pingOut = false
	if c.tm != nil && c.pingSent != 0 {
		c.tm.pingPong.Update(float64(time.Now().UnixNano()-c.pingSent) / 1e9)
	}
	return nil
}

func (c *Client) handleConnect(id uint32, req *codec.ConnectRequest) error {
	n := c.node
	if n.shuttingDown.Load() {
		return DisconnectShutdown
	}
	// The client ID exists before credentials are checked: the connect proxy
	// receives it.
	c.mu.Lock()
	c.id = newUUID()
	c.mu.Unlock()
	var (
		vt          verifiedToken
		connectData []byte
		fromHeader  bool
	)
	switch {
	case req.Token != "":
		ctx, cs := c.tokenCall(false)
		var err error
		vt, err = n.verifier.Load().verifyConnection(ctx, req.Token)
		c.endCall(cs)
		if err == errTokenExpired {
			c.failConnect(id, ErrorTokenExpired)
			return nil
		}
		if err != nil {
			n.log.Debug("invalid connection token", "err", err)
			return DisconnectInvalidToken
		}
		if vt.user == "" && n.cfg.DisallowAnonymousConnectionTokens {
			return DisconnectPermissionDenied
		}
	case n.cfg.ConnectProxy != nil:
		resp, err := c.callProxy(n.cfg.ConnectProxy, defaultProxy, &ProxyRequest{
			Kind: ProxyConnect, Name: req.Name, Version: req.Version, Data: req.Data, Channels: sortedKeys(req.Subs),
			EmulatedHeaders: req.Headers,
		})
		switch {
		case err != nil:
			c.proxyFailed("connect", err)
			c.failConnect(id, ErrorInternal)
			return nil
		case resp.Disconnect != nil:
			return *resp.Disconnect
		case resp.Error != nil:
			c.failConnect(id, resp.Error)
			return nil
		case resp.Result == nil:
			if !n.cfg.AllowAnonymousConnectWithoutToken && !n.cfg.Insecure {
				return DisconnectBadRequest
			}
		default:
			r := resp.Result
			vt = verifiedToken{user: r.User, info: r.Info, expireAt: r.ExpireAt, meta: r.Meta}
			connectData = r.Data
			vt.subs = proxySubs(r)
		}
	case n.cfg.AllowAnonymousConnectWithoutToken || n.cfg.Insecure:
	case n.cfg.UserIDHTTPHeader != "" && c.header(n.cfg.UserIDHTTPHeader) != "":
		// Credentials attached to the HTTP request by a trusted proxy in front. Like
		// Centrifugo, such connections get no personal channel subscription.
		vt.user = c.header(n.cfg.UserIDHTTPHeader)
		fromHeader = true
	default:
		n.log.Debug("client credentials not found")
		return DisconnectBadRequest
	}
	if c.uni && len(req.Subs) > 0 && (req.Token != "" || n.cfg.ConnectProxy == nil) {
		var err error
		if vt.subs, err = n.uniRequestedSubs(req.Subs, vt.user, vt.subs); err != nil {
			return err
		}
	}
	vt.expireAt = n.effectiveExpiry(vt.expireAt)
	ttl, ok := ttlUntil(vt.expireAt)
	if !ok {
		c.failConnect(id, ErrorExpired)
		return nil
	}
	if lim := n.cfg.UserConnectionLimit; lim > 0 && vt.user != "" && len(n.hub.userConns(vt.user)) >= lim {
		return DisconnectConnectionLimit
	}
	if pc := n.cfg.PersonalChannel; pc.Enabled && vt.user != "" && !fromHeader {
		ch := n.personalChannel(vt.user)
		if pc.SingleConnection && n.personalPresent(ch) {
			// One connection per user: the older ones go (auth.md, personal channel).
			for _, other := range n.hub.userConns(vt.user) {
				if other != c {
					other.Disconnect(DisconnectConnectionLimit)
				}
			}
		}
		if vt.subs == nil {
			vt.subs = make(map[string]serverSub, 1)
		}
		vt.subs[ch] = serverSub{}
	}
	// Server-side subscriptions: every channel must resolve to a namespace (102).
	type pendingSub struct {
		ch  string
		p   subParams
		pos codec.StreamPosition
	}
	pending := make([]pendingSub, 0, len(vt.subs))
	for ch, ss := range vt.subs {
		ns, _, ok := n.namespaceFor(ch)
		if !ok {
			c.failConnect(id, ErrorUnknownChannel)
			return nil
		}
		p := subParams{ns: ns, flags: namespaceFlags(ns, ss.override) | subServerSide, chanInfo: ss.info, data: ss.data}
		if r := req.Subs[ch]; r != nil && r.Recover && p.flags&subRecoverable != 0 {
			p.recover, p.since = true, codec.StreamPosition{Offset: r.Offset, Epoch: r.Epoch}
		}
		pending = append(pending, pendingSub{ch: ch, p: p})
	}
	if len(pending) > n.cfg.ChannelLimit {
		return DisconnectChannelLimit
	}

	c.mu.Lock()
	c.user = vt.user
	c.info = append([]byte(nil), vt.info...)
	c.meta = vt.meta
	c.emulatedHeaders = req.Headers
	c.expireAt = vt.expireAt
	c.state = stateConnected
	c.tkind = timerPing
	clientID := c.id
	c.nameIdx, c.versionIdx = uint8(clientLabelIndex(req.Name)), uint8(clientLabelIndex(req.Version))
	c.mu.Unlock()
	n.hub.addConn(c)
	n.countAction(actAddClient)
	if tm := c.tm; tm != nil {
		tm.accepted[c.nameIdx][c.versionIdx].Inc()
		tm.inflight[c.nameIdx][c.versionIdx].Inc()
	}

	res := codec.ConnectResult{Client: clientID, Version: n.cfg.Version, Expires: vt.expireAt > 0, TTL: ttl, Data: connectData}
	if n.cfg.RefreshProxy != nil {
		// The server refreshes the connection itself through the refresh proxy.
		res.Expires, res.TTL = false, 0
	}
	if n.pingInterval > 0 {
		res.Ping = uint32(n.pingInterval / time.Second)
		res.Pong = true
	}
	if n.cfg.ConnectIncludeServerTime {
		res.Time = time.Now().UnixMilli()
	}
	c.streamConnectResult(&res)
	if len(pending) > 0 {
		res.Subs = make(map[string]*codec.SubscribeResult, len(pending))
		for i := range pending {
			ps := &pending[i]
			sr, pos, _ := c.prepareSub(ps.ch, &ps.p) // no reject flag on server-side subscriptions
			ps.pos = pos
			res.Subs[ps.ch] = &sr
		}
	}
	if len(pending) > 0 {
		// The reply is queued under the channels' locks as a subscribe reply is
		// (joinSubs), so a publication made as soon as the client reads it reaches
		// the client, on each of its server-side channels; the client never sees
		// a channel push before it, and positioned subscriptions catch up there.
		b := getBuf()
		out, err := codec.AppendReply(c.proto, (*b)[:0], c.connectReply(id, &res))
		*b = out
		if err != nil {
			putBuf(b)
			for i := range pending {
				n.brokerRelease(pending[i].ch, &pending[i].p)
			}
			return DisconnectBadProtocol
		}
		c.countSent(c.method, len(out))
		reqs := make([]joinReq, len(pending))
		for i := range pending {
			reqs[i] = joinReq{ch: pending[i].ch, p: &pending[i].p, pos: pending[i].pos}
		}
		c.joinSubs(reqs, out)
		putBuf(b)
	} else if err := c.writeReply(c.connectReply(id, &res)); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	c.mu.Lock()
	c.pingDue = noDeadline
	if n.pingInterval > 0 {
		// The first ping goes out at a random moment in [interval/2, interval) so
		// that clients connected together do not ping together.
		half := n.pingInterval / 2
		c.pingDue = now + int64(half+rand.N(half))
	}
	c.presenceDue = now + int64(n.presenceInterval)
	c.scheduleLocked(now)
	c.mu.Unlock()
	return nil
}

// noDeadline marks a timer phase that never fires.
const noDeadline = int64(1<<63 - 1)

// scheduleLocked arms the wheel for the earliest of c's deadlines: the next ping or
// pong check, the next expiry sweep of subscriptions, and the connection's expiry.
// Must hold c.mu (the wheel lock nests inside it: the wheel never takes client.mu).
func (c *Client) scheduleLocked(now int64) {
	n := c.node
	next := c.pingDue
	if c.presenceDue < next {
		next = c.presenceDue
	}
	if d := c.expiryDeadlineLocked(); d < next {
		next = d
	}
	if next == noDeadline {
		n.wheel.cancel(c)
		return
	}
	d := time.Duration(next - now)
	if d < 0 {
		d = 0
	}
	n.wheel.schedule(c, d)
}

// expiryDeadlineLocked is when the connection's expiry needs attention: the refresh
// proxy call at expire_at, or the 3005 close after expired_close_delay. Must hold
// c.mu.
func (c *Client) expiryDeadlineLocked() int64 {
	if c.expireAt <= 0 {
		return noDeadline
	}
	if c.node.cfg.RefreshProxy != nil {
		if c.refreshing {
			return noDeadline
		}
		return unixNanoSat(c.expireAt, 0)
	}
	return unixNanoSat(c.expireAt, c.node.expiredDelay)
}

// setExpiryLocked records a new connection expiry and re-arms the wheel for it. The
// client's one timer may be armed for the old expiry or for a ping or sweep far
// ahead: without re-arming, an earlier expiry would be enforced up to a ping interval
// late, and a later one would wake the client for nothing. Must hold c.mu.
func (c *Client) setExpiryLocked(expireAt int64) {
	c.expireAt = expireAt
	if c.state == stateConnected {
		c.scheduleLocked(time.Now().UnixNano())
	}
}

// refreshPresence rewrites c's presence entries after its conn info changed (ch ""),
// or after the chan info of ch changed, so that presence shows what a refresh
// brought (Centrifugo rewrites presence with the current info on its presence tick),
// and, called for every channel on the presence tick, keeps a remote presence
// manager's entries from expiring. Each entry is written under the channel lock and
// only while the subscription is still c's and joined: an unsubscribe racing with
// this must not be undone. Must not hold c.mu; may block on the presence manager.
func (c *Client) refreshPresence(ch string) {
	type update struct {
		ch  string
		sub *subscription
	}
	var updates []update
	c.mu.Lock()
	if c.state == stateConnected {
		for _, e := range c.subs {
			if e.sub.flags&subPresence == 0 || (ch != "" && e.ch != ch) {
				continue
			}
			updates = append(updates, update{e.ch, e.sub})
		}
	}
	c.mu.Unlock()
	n := c.node
	for _, u := range updates {
		mu := n.chans.get(u.ch)
		mu.Lock()
		c.mu.Lock()
		cur, ok := c.subs.get(u.ch)
		live := ok && cur == u.sub && u.sub.joined && c.state == stateConnected
		info := codec.ClientInfo{User: c.user, Client: c.id, ConnInfo: c.info, ChanInfo: u.sub.chanInfo}
		c.mu.Unlock()
		if !live {
			mu.Unlock()
			continue
		}
		// Queued under the channel lock and run after it, in the lock's order
		// (chaneffects.go): an unsubscribe that follows removes the entry after
		// this add, never before it.
		q := n.effects.queue(u.ch)
		e := &chanEffect{kind: effectPresenceAdd, ch: u.ch, info: info}
		q.add(e)
		mu.Unlock()
		n.runEffects(q, e)
	}
}

// hasPresenceLocked reports whether one of c's subscriptions is listed in presence.
// Must hold c.mu.
func (c *Client) hasPresenceLocked() bool {
	for _, e := range c.subs {
		if e.sub.flags&subPresence != 0 {
			return true
		}
	}
	return false
}

// personalPresent reports whether the personal channel ch lists a client (a failing
// presence manager counts as none: the new connection is kept).
func (n *Node) personalPresent(ch string) bool {
	st, err := n.presence.PresenceStats(n.ctx, ch)
	if err != nil {
		n.log.Error("presence stats failed", "channel", ch, "err", err)
		return false
	}
	return st.NumClients >= 1
}

// failConnect answers a connect with an error; the connection is unusable after it
// (the next command gets 3501) and the stale timer still closes it.
func (c *Client) failConnect(id uint32, e *Error) {
	if c.uni {
		c.mu.Lock()
		r := c.refusal
		if r != nil {
			*r = *e
		}
		c.mu.Unlock()
		if r == nil {
			c.Disconnect(uniConnectError(e))
		}
		return
	}
	c.mu.Lock()
	c.state = stateFailed
	c.mu.Unlock()
	c.writeError(id, e)
}

// ttlUntil returns the seconds until expireAt (0 = never) capped at maxTTL; ok is
// false when expireAt is already past.
func ttlUntil(expireAt int64) (ttl uint32, ok bool) {
	if expireAt == 0 {
		return 0, true
	}
	now := time.Now().Unix()
	if expireAt <= now { // compared, not subtracted: expireAt may be far in the past
		return 0, false
	}
	left := expireAt - now
	if max := int64(maxTTL / time.Second); left > max {
		left = max
	}
	return uint32(left), true
}

// onTimer runs on the wheel goroutine when c's deadline passes. It must not block.
func (c *Client) onTimer() {
	n := c.node
	c.mu.Lock()
	switch c.state {
	case stateClosed:
		c.mu.Unlock()
		return
	case stateNew, stateFailed:
		c.mu.Unlock()
		c.Disconnect(DisconnectStale)
		return
	}
	now := time.Now().UnixNano()
	if c.expireAt > 0 && n.cfg.RefreshProxy == nil && now >= c.expiryDeadlineLocked() {
		c.mu.Unlock()
		c.Disconnect(DisconnectExpired)
		return
	}
	var expired []expiredSub
	refreshConn, refreshPres := false, false
	if now >= c.presenceDue {
		// The periodic sweep (client.presence_update_interval, like Centrifugo's
		// presence tick) ends or refreshes expired subscriptions.
		expired = c.expiredSubsLocked(now)
		c.presenceDue = now + int64(n.presenceInterval)
		// A remote presence manager expires entries that are not refreshed.
		refreshPres = !n.local && c.hasPresenceLocked()
	}
	if n.cfg.RefreshProxy != nil && c.expireAt > 0 && !c.refreshing && now >= unixNanoSat(c.expireAt, 0) {
		c.refreshing = true
		refreshConn = true
	}
	sendPing := false
	if now >= c.pingDue {
		switch c.tkind {
		case timerPing:
			c.pingOut = !c.uni // unidirectional clients never answer
			c.pingSent = now
			c.tkind = timerPong
			c.pingDue = now + int64(n.pongTimeout)
			sendPing = true
		case timerPong:
			if c.pingOut {
				c.mu.Unlock()
				c.Disconnect(DisconnectNoPong)
				return
			}
			c.tkind = timerPing
			c.pingDue = now + int64(n.pingInterval-n.pongTimeout)
		}
	}
	c.scheduleLocked(now)
	c.mu.Unlock()
	for _, e := range expired {
		c.expireSub(e.ch, e.serverSide)
	}
	if refreshConn {
		// Proxy calls may take up to their timeout: never on the wheel goroutine.
		go c.proxyRefreshConnection()
	}
	if refreshPres {
		// Presence manager I/O: never on the wheel goroutine.
		go c.refreshPresence("")
	}
	if sendPing {
		var buf [2]byte
		ping := codec.AppendPing(c.proto, buf[:0])
		c.enqueue(ping)
		c.countSent(ftServerPing, len(ping))
	}
}

type expiredSub struct {
	ch         string
	serverSide bool
}

// expiredSubsLocked lists subscriptions past expiry plus the grace delay. Checked on
// each ping tick, like Centrifugo's presence tick. Must hold c.mu.
func (c *Client) expiredSubsLocked(now int64) []expiredSub {
	var out []expiredSub
	for _, e := range c.subs {
		ch, sub := e.ch, e.sub
		if sub.expireAt == 0 || sub.refreshing {
			continue
		}
		if sub.ns != nil && sub.ns.SubRefreshProxyEnabled {
			if now >= unixNanoSat(sub.expireAt, 0) {
				sub.refreshing = true
				go c.proxyRefreshSubscription(ch, sub)
			}
			continue
		}
		if now >= unixNanoSat(sub.expireAt, c.node.expiredSubDelay) {
			out = append(out, expiredSub{ch: ch, serverSide: sub.flags&subServerSide != 0})
		}
	}
	return out
}

// expireSub ends a subscription whose token was not refreshed: unsubscribe push 2501
// for a client-side subscription, disconnect 3006 for a server-side one.
func (c *Client) expireSub(ch string, serverSide bool) {
	if serverSide {
		c.Disconnect(DisconnectSubExpired)
		return
	}
	if _, ok := c.detach(ch); ok {
		var buf [128]byte
		push := codec.AppendUnsubscribePush(c.proto, buf[:0], ch, 2501, "subscription expired")
		c.enqueue(push)
		c.countServerUnsubscribe(2501, len(push))
	}
}

// OnClose releases everything the session holds: its timer, subscriptions and
// registration. Called by the transport exactly once, never on a poller goroutine.
func (c *Client) OnClose() {
	c.closing.Store(true)
	c.cancelCalls()
	n := c.node
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	wasConnected := c.state == stateConnected
	c.state = stateClosed
	subs := c.subs
	c.subs = nil
	info := codec.ClientInfo{User: c.user, Client: c.id, ConnInfo: c.info}
	c.mu.Unlock()
	if d := c.disc.Load(); d != nil {
		n.logDisconnect(info.Client, info.User, d)
	}
	n.wheel.cancel(c)
	for _, e := range subs {
		c.leave(e.ch, e.sub, &info)
	}
	if wasConnected {
		n.hub.removeConn(c)
		n.countAction(actRemoveClient)
		if tm := c.tm; tm != nil {
			tm.inflight[c.nameIdx][c.versionIdx].Dec()
		}
	}
	c.streamClosed()
	n.sessionEnded()
}
