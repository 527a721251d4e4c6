// Package engine holds Rotor's domain: the Node, its sharded Hub, client sessions and
// the client-visible error and disconnect codes. It declares the interfaces other
// packages implement (Transport) and never imports netio, api or broker.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/rotorhq/rotor/codec"
)

// DefaultVersion is reported when Config.Version is empty.
const DefaultVersion = "0.1.0 Rotor"

// Node is the root object of a Rotor server: config, hub and timer wheel.
type Node struct {
	cfg     Config
	uid     string
	started time.Time
	hub     *hub
	wheel   *wheel
	chans   *chanLocks
	// effects runs joins' and leaves' presence and join/leave calls after the
	// channel lock, in its order (chaneffects.go).
	effects  *chanEffects
	broker   Broker
	presence PresenceManager
	// local is broker.Local(): the engine fans out its own publications and
	// joins/leaves; otherwise they come back through the BrokerEventHandler methods.
	local bool
	// pending counts, per channel, subscriptions that hold a remote broker's
	// subscription but have not joined the hub yet (broker_node.go).
	pendMu  sync.Mutex
	pending map[string]int
	// verifier and chanOpts are replaced as a whole by Reload (reload.go).
	verifier atomic.Pointer[tokenVerifier]
	chanOpts atomic.Pointer[channelOptions]
	log      *slog.Logger

	pingInterval, pongTimeout, staleDelay, expiredDelay, expiredSubDelay time.Duration
	presenceInterval                                                     time.Duration

	// ctx is the parent of every blocking call (proxy, JWKS) made for the node's
	// sessions; cancel ends them all when Shutdown starts.
	ctx    context.Context
	cancel context.CancelFunc

	metrics      *nodeMetrics
	shuttingDown atomic.Bool
	// sessions counts live sessions (NewClient to OnClose), for connection_limit and
	// for a drained shutdown.
	sessions atomic.Int64
	// drained is closed (once, by drainOnce) when sessions reaches zero after
	// Shutdown began. A channel rather than a WaitGroup so that Shutdown can give up
	// at its deadline without leaving a goroutine blocked in Wait.
	drained   chan struct{}
	drainOnce sync.Once
	stopOnce  sync.Once

	// control is the node registry, surveys and server API commands between nodes
	// (control.go).
	control nodeControl
}

// New validates cfg and builds a Node. Call Run to start its timers.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Broker == nil || cfg.PresenceManager == nil {
		return nil, errors.New("engine: Config.Broker and Config.PresenceManager are required (broker/memory for one node)")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if cfg.HubShards == 0 {
		cfg.HubShards = 64
	}
	if cfg.ChannelLimit == 0 {
		cfg.ChannelLimit = 128
	}
	if cfg.HistoryMaxPublicationLimit == 0 {
		cfg.HistoryMaxPublicationLimit = 300
	}
	if cfg.RecoveryMaxPublicationLimit == 0 {
		cfg.RecoveryMaxPublicationLimit = 300
	}
	if cfg.ChannelMaxLength == 0 {
		cfg.ChannelMaxLength = 255
	}
	n := &Node{
		cfg:              cfg,
		uid:              newUUID(),
		started:          time.Now(),
		hub:              newHub(cfg.HubShards),
		chans:            newChanLocks(),
		effects:          newChanEffects(),
		broker:           cfg.Broker,
		presence:         cfg.PresenceManager,
		local:            cfg.Broker.Local(),
		pending:          make(map[string]int),
		drained:          make(chan struct{}),
		log:              log,
		pingInterval:     cfg.pingInterval(),
		pongTimeout:      cfg.pongTimeout(),
		staleDelay:       durOr(cfg.StaleCloseDelay, 10*time.Second),
		expiredDelay:     durOr(cfg.ExpiredCloseDelay, 25*time.Second),
		expiredSubDelay:  durOr(cfg.ExpiredSubCloseDelay, 25*time.Second),
		presenceInterval: durOr(cfg.PresenceUpdateInterval, 27*time.Second),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	v := newTokenVerifier(&cfg)
	v.bind(n.ctx)
	n.verifier.Store(v)
	n.chanOpts.Store(newChannelOptions(&n.cfg))
	n.registerMetrics()
	n.hub.m = n.metrics
	// Registered last but for the wheel: messages may arrive from now on.
	if err := n.initControl(); err != nil {
		return nil, err
	}
	// 100 ms ticks over 1024 slots: ~102 s per revolution covers the usual ping,
	// pong and stale delays without extra rounds.
	n.wheel = newWheel(100*time.Millisecond, 1024)
	if err := n.broker.RegisterBrokerEventHandler(n); err != nil {
		return nil, fmt.Errorf("engine: broker: %w", err)
	}
	return n, nil
}

func durOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Run starts the node's timer wheel. Call once.
func (n *Node) Run() {
	n.wheel.start()
	n.runSnapshots(n.control.stop)
	n.runControl()
}

// Config returns the node's effective configuration.
func (n *Node) Config() Config { return n.cfg }

// Shutdown disconnects every client with 3001 "shutdown" and waits until their
// transports have reported OnClose or ctx ends. New connections are closed with 3001.
// It leaves no goroutine behind when ctx ends first.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shuttingDown.Store(true)
	// Proxy calls and JWKS fetches in flight end now: their sessions are closing.
	n.cancel()
	// Paired with sessionEnded: whichever of the two sees the other's write signals.
	if n.sessions.Load() == 0 {
		n.signalDrained()
	}
	n.hub.eachConn(func(c *Client) { c.Disconnect(DisconnectShutdown) })
	// Sessions that have not connected yet are not in the hub, but each has its stale
	// timer armed in the wheel.
	n.wheel.each(func(c *Client) { c.Disconnect(DisconnectShutdown) })
	// The other nodes hear of the shutdown while the clients drain, not before
	// their 3001: a broker that hangs must not hold the disconnects back.
	ctlDone := make(chan struct{})
	go func() {
		defer close(ctlDone)
		n.stopControl(ctx)
	}()
	var err error
	select {
	case <-n.drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	<-ctlDone // bounded by ctx
	n.stopOnce.Do(func() {
		n.wheel.close()
		metrics.UnregisterSet(n.metrics.set, true)
		n.closeBrokers(ctx)
	})
	return err
}

// sessionEnded accounts for a session's OnClose and wakes Shutdown on the last one.
func (n *Node) sessionEnded() {
	if n.sessions.Add(-1) == 0 && n.shuttingDown.Load() {
		n.signalDrained()
	}
}

func (n *Node) signalDrained() { n.drainOnce.Do(func() { close(n.drained) }) }

// Publish delivers data to the channel's subscribers on every node, saving it to the
// channel's stream when the namespace keeps history. It returns *Error values for
// client-visible failures (107 empty channel or data, 102 unknown namespace, 100 when
// the broker fails). data is
// not retained after Publish returns (history keeps its own copy). Any goroutine;
// concurrent calls for one channel run one at a time (each waits for the previous
// one's fan-out), so all subscribers receive them in the same order.
func (n *Node) Publish(channel string, data []byte, opts PublishOptions) (PublishResult, error) {
	if channel == "" {
		return PublishResult{}, ErrorBadRequest
	}
	ns, _, ok := n.namespaceFor(channel)
	if !ok {
		return PublishResult{}, ErrorUnknownChannel
	}
	if !checkPublicationData(ns, data) {
		return PublishResult{}, ErrorBadRequest
	}
	n.metrics.msgSent[msgPublication].Inc()
	if !n.local {
		return n.publishRemote(channel, ns, data, &opts)
	}
	mu := n.chans.get(channel)
	mu.Lock()
	defer mu.Unlock()
	return n.publishLocked(channel, ns, data, &opts)
}

// publishLocked publishes through a local broker and fans out. The caller holds the
// channel's lock (n.chans), so every subscriber receives the channel's publications
// in one order, which is also offset order; the broker's own locks are taken only
// inside Publish, never across the fan-out, so readers of other channels' streams do
// not wait on it.
func (n *Node) publishLocked(channel string, ns *NamespaceOptions, data []byte, opts *PublishOptions) (PublishResult, error) {
	keep := historyEnabled(ns) && !opts.SkipHistory
	delta := nsAllowsDelta(ns)
	if !keep && !delta && opts.IdempotencyKey == "" {
		// The common case: nothing to store, so no broker call, no copy and no
		// allocation.
		pub := codec.Publication{Data: data, Info: opts.Info, Tags: opts.Tags}
		n.hub.broadcast(channel, &pub, nil)
		return PublishResult{}, nil
	}
	var pub *codec.Publication
	if keep || delta {
		// History keeps the publication, and the delta base outlives this call: both
		// need their own copy of data.
		pub = &codec.Publication{Data: append([]byte(nil), data...), Tags: copyTags(opts.Tags)}
		if opts.Info != nil {
			info := *opts.Info
			pub.Info = &info
		}
	} else {
		pub = &codec.Publication{Data: data, Info: opts.Info, Tags: opts.Tags}
	}
	// The options go through an interface call, so they would escape: pooled, the
	// history path allocates only the publication it stores.
	bo := publishOptsPool.Get().(*BrokerPublishOptions)
	n.brokerPublishOptions(bo, ns, keep, delta, opts)
	res, err := n.broker.Publish(n.ctx, channel, pub, bo)
	*bo = BrokerPublishOptions{}
	publishOptsPool.Put(bo)
	if err != nil {
		return PublishResult{}, n.brokerError("publish", channel, err)
	}
	out := PublishResult{Offset: res.Position.Offset, Epoch: res.Position.Epoch}
	if res.Suppressed {
		return out, nil
	}
	n.hub.broadcast(channel, pub, res.PrevData)
	return out, nil
}

// publishRemote publishes through a broker that delivers to every node, this one
// included (HandlePublication fans out). The broker does not keep pub, so nothing is
// copied.
func (n *Node) publishRemote(channel string, ns *NamespaceOptions, data []byte, opts *PublishOptions) (PublishResult, error) {
	keep := historyEnabled(ns) && !opts.SkipHistory
	pub := codec.Publication{Data: data, Info: opts.Info, Tags: opts.Tags}
	bo := publishOptsPool.Get().(*BrokerPublishOptions)
	n.brokerPublishOptions(bo, ns, keep, nsAllowsDelta(ns), opts)
	res, err := n.broker.Publish(n.ctx, channel, &pub, bo)
	*bo = BrokerPublishOptions{}
	publishOptsPool.Put(bo)
	if err != nil {
		return PublishResult{}, n.brokerError("publish", channel, err)
	}
	return PublishResult{Offset: res.Position.Offset, Epoch: res.Position.Epoch}, nil
}

var publishOptsPool = sync.Pool{New: func() any { return new(BrokerPublishOptions) }}

// brokerPublishOptions fills bo for a publish to a channel of ns.
func (n *Node) brokerPublishOptions(bo *BrokerPublishOptions, ns *NamespaceOptions, keep, delta bool, opts *PublishOptions) {
	*bo = BrokerPublishOptions{
		HistoryMetaTTL: metaTTL(ns),
		IdempotencyKey: opts.IdempotencyKey,
		UseDelta:       delta && (opts.Delta || ns.DeltaPublish),
		DeltaNamespace: delta,
	}
	if keep {
		bo.HistorySize, bo.HistoryTTL = ns.HistorySize, ns.HistoryTTL
	}
}

// brokerError logs a broker failure and returns the client-visible error: an *Error
// the broker returned (unrecoverable position) unchanged, anything else as 100.
func (n *Node) brokerError(op, channel string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	n.log.Error("broker "+op+" failed", "channel", channel, "err", err)
	return ErrorInternal
}

func copyTags(t map[string]string) map[string]string {
	if len(t) == 0 {
		return nil
	}
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

// Admit reports whether a new client connection may be accepted under
// client.connection_limit (transports answer HTTP 503 otherwise).
func (n *Node) Admit() bool {
	if n.cfg.ConnectionLimit <= 0 {
		return true
	}
	if n.sessions.Load() < int64(n.cfg.ConnectionLimit) {
		return true
	}
	n.metrics.connectionLimit.Inc()
	return false
}

// ShuttingDown reports whether Shutdown has started (the legacy API answers 503).
func (n *Node) ShuttingDown() bool { return n.shuttingDown.Load() }

// localInfo reports this node's counters (Info lists every node).
func (n *Node) localInfo() NodeInfo {
	clients, users, channels, subs := n.hub.counts()
	metrics, _ := n.latestSnapshot(false)
	return NodeInfo{
		UID:         n.uid,
		Name:        n.cfg.Name,
		Version:     n.cfg.Version,
		NumClients:  uint32(clients),
		NumUsers:    uint32(users),
		NumChannels: uint32(channels),
		NumSubs:     uint32(subs),
		Uptime:      uint32(time.Since(n.started).Seconds()),
		Metrics:     metrics,
	}
}

// NumSubscribers returns the local subscriber count of channel.
func (n *Node) NumSubscribers(channel string) int { return n.hub.numSubscribers(channel) }

// newUUID returns a random RFC 4122 version 4 UUID string.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(errors.New("engine: crypto/rand failed: " + err.Error())) // broken invariant
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
