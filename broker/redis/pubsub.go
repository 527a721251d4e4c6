package redis

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// pubSubHandler is the engine's event handler (engine.BrokerEventHandler).
// Arguments are valid only during the call: they view the Redis message and a
// worker's reusable structs.
type pubSubHandler = engine.BrokerEventHandler

const (
	// subscribeBatchLimit caps the channels of one SUBSCRIBE command.
	subscribeBatchLimit = 512
	// pubSubQueueSize is each worker's buffer of undelivered messages.
	pubSubQueueSize = 4096
	// pubSubOpTimeout is the default of pubSubConfig.OpTimeout.
	pubSubOpTimeout = 4 * time.Second
)

var (
	errPubSubUnavailable = errors.New("redis: pub/sub connection unavailable")
	errPubSubClosed      = errors.New("redis: pub/sub closed")
	errPubSubTimeout     = errors.New("redis: pub/sub subscribe timed out")
)

// Centrifugo's metrics: messages dropped because a worker's buffer was full,
// Pub/Sub connection failures and undecodable messages.
var (
	pubSubDroppedTotal    = metrics.GetOrCreateCounter(`centrifugo_broker_redis_pub_sub_dropped_messages{broker_name="",channel_type="client"}`)
	pubSubConnErrorsTotal = metrics.GetOrCreateCounter(`centrifugo_broker_redis_pub_sub_errors{broker_name="",error="connection"}`)
	pubSubMsgErrorsTotal  = metrics.GetOrCreateCounter(`centrifugo_broker_redis_pub_sub_errors{broker_name="",error="handle_client_message"}`)
)

// pubSubWarnEvery spaces warnings about bad or dropped messages.
const pubSubWarnEvery = 10 * time.Second

// due reports whether a rate-limited warning stamped in at may be logged now.
func due(at *atomic.Int64) bool {
	now := time.Now().Unix()
	last := at.Load()
	return now-last >= int64(pubSubWarnEvery/time.Second) && at.CompareAndSwap(last, now)
}

type pubSubConfig struct {
	Prefix string
	Shards []*shard
	// ShardOf picks a channel's shard among len(Shards) (client-side sharding).
	ShardOf func(ch string) int
	// ChannelID names ch's Redis Pub/Sub channel on shard s.
	ChannelID func(s *shard, ch string) string
	Workers   int
	QueueSize int
	// OpTimeout bounds each (un)subscribe command and a Subscribe/Unsubscribe
	// call's wait (engine.redis.io_timeout).
	OpTimeout time.Duration
	Log       *slog.Logger
}

// pubSub keeps the node's Redis Pub/Sub subscriptions to P.client.CH: one
// dedicated connection per (shard, partition) slot, subscribe/unsubscribe
// commands coalesced per slot, and messages handed from the rueidis hook to
// workers chosen by channel hash (so a channel's messages stay in order).
type pubSub struct {
	cfg       pubSubConfig
	msgPrefix string // P.client.
	cluster   bool   // Redis Cluster: channel names carry a {hash tag}
	handler   pubSubHandler
	log       *slog.Logger
	parts     int // sharded Pub/Sub partitions (0: plain Pub/Sub)

	slots   [][]*psSlot // [shard][partition]
	workers []*psWorker

	mu       sync.Mutex
	channels map[string]struct{} // channels the node wants subscribed

	dropped atomic.Uint64
	errors  atomic.Uint64
	// Unix seconds of the last warning about bad messages / drops: at most one
	// warning per pubSubWarnEvery, whatever the message rate.
	badWarnAt  atomic.Int64
	dropWarnAt atomic.Int64
	dropWarned atomic.Uint64 // drops counted in earlier warnings

	closeOnce sync.Once
	closeCh   chan struct{}
	wg        sync.WaitGroup
}

type psOp struct {
	unsub bool
	slot  *psSlot
	ids   []string // Redis channel names
	done  chan error
}

type psSlot struct {
	ps      *pubSub
	shard   int
	part    int
	sharded bool
	ops     chan *psOp

	mu   sync.Mutex
	up   bool
	conn rueidis.DedicatedClient

	everUp   bool
	downLogd bool
}

type psWorker struct {
	ch chan rueidis.PubSubMessage
	d  decoded
	e  envelope

	// Channels whose messages may have been lost (dropped here, or their
	// connection was lost): the worker calls HandleStreamGap for them, in
	// order with the channel's messages.
	gapMu   sync.Mutex
	gaps    map[string]struct{}
	hasGaps atomic.Bool
	wake    chan struct{}
}

func newPubSub(cfg pubSubConfig, h pubSubHandler) (*pubSub, error) {
	if len(cfg.Shards) == 0 {
		return nil, errors.New("redis: pub/sub needs at least one shard")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = pubSubQueueSize
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = pubSubOpTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ps := &pubSub{
		cfg:       cfg,
		msgPrefix: cfg.Prefix + ".client.",
		handler:   h,
		log:       cfg.Log,
		channels:  make(map[string]struct{}),
		closeCh:   make(chan struct{}),
	}
	for _, s := range cfg.Shards {
		ps.cluster = ps.cluster || s.cluster
		if s.partitions > ps.parts {
			ps.parts = s.partitions
		}
	}
	ps.slots = make([][]*psSlot, len(cfg.Shards))
	for i, sh := range cfg.Shards {
		parts := max(sh.partitions, 1)
		ps.slots[i] = make([]*psSlot, parts)
		for j := range parts {
			ps.slots[i][j] = &psSlot{ps: ps, shard: i, part: j, sharded: sh.partitions > 0, ops: make(chan *psOp, 1024)}
		}
	}
	ps.workers = make([]*psWorker, cfg.Workers)
	for i := range ps.workers {
		ps.workers[i] = &psWorker{ch: make(chan rueidis.PubSubMessage, cfg.QueueSize), wake: make(chan struct{}, 1)}
	}
	return ps, nil
}

// start runs the workers and the slot connections and waits for every slot's
// first connection: an unreachable Redis fails the start.
func (ps *pubSub) start(ctx context.Context) error {
	for _, w := range ps.workers {
		ps.wg.Add(1)
		go ps.runWorker(w)
	}
	var firsts []chan error
	for _, row := range ps.slots {
		for _, s := range row {
			first := make(chan error, 1)
			firsts = append(firsts, first)
			ps.wg.Add(1)
			go s.run(first)
		}
	}
	for _, f := range firsts {
		select {
		case err := <-f:
			if err != nil {
				ps.close()
				return err
			}
		case <-ctx.Done():
			ps.close()
			return ctx.Err()
		}
	}
	return nil
}

func (ps *pubSub) close() {
	ps.closeOnce.Do(func() { close(ps.closeCh) })
	ps.wg.Wait()
}

// shardOf returns the client-side shard of ch.
func (ps *pubSub) shardOf(ch string) int {
	if len(ps.cfg.Shards) == 1 || ps.cfg.ShardOf == nil {
		return 0
	}
	return ps.cfg.ShardOf(ch)
}

func (ps *pubSub) slotOf(ch string) *psSlot {
	i := ps.shardOf(ch)
	part := 0
	if p := ps.cfg.Shards[i].partitions; p > 0 {
		part = shardIndex(ch, p)
	}
	return ps.slots[i][part]
}

// channelID is the Redis Pub/Sub channel of ch (P.client.CH, P.client.{CH} in
// a cluster, P.client.{<partition>}.CH with sharded Pub/Sub).
func (ps *pubSub) channelID(ch string) string {
	return ps.cfg.ChannelID(ps.cfg.Shards[ps.shardOf(ch)], ch)
}

// channelOf is the inverse of channelID; "" when id is not a client channel.
func (ps *pubSub) channelOf(id string) string {
	if len(id) < len(ps.msgPrefix) || id[:len(ps.msgPrefix)] != ps.msgPrefix {
		return ""
	}
	ch := id[len(ps.msgPrefix):]
	if ps.parts > 0 {
		if ch == "" || ch[0] != '{' {
			return ""
		}
		i := indexByte(ch, '}')
		if i <= 0 || i+1 >= len(ch) || ch[i+1] != '.' {
			return ""
		}
		return ch[i+2:]
	}
	if ps.cluster {
		if len(ch) < 2 || ch[0] != '{' || ch[len(ch)-1] != '}' {
			return ""
		}
		return ch[1 : len(ch)-1]
	}
	return ch
}

// shardChannel is the dummy channel a slot subscribes first (binding a cluster
// connection to the partition's node).
func (s *psSlot) shardChannel() string {
	c := s.ps.cfg.Prefix + ".shard.0"
	if s.sharded {
		c += ".{" + strconv.Itoa(s.part) + "}"
	}
	return c
}

// subscribe subscribes the node to channels, coalescing with concurrent calls
// into as few SUBSCRIBE commands as possible, and returns once Redis confirmed
// every one (so nothing published after the return is missed).
func (ps *pubSub) subscribe(channels ...string) error {
	return ps.do(context.Background(), false, channels)
}

func (ps *pubSub) unsubscribe(channels ...string) error {
	return ps.do(context.Background(), true, channels)
}

func (ps *pubSub) do(ctx context.Context, unsub bool, channels []string) error {
	if len(channels) == 0 {
		return nil
	}
	select {
	case <-ps.closeCh:
		return errPubSubClosed
	default:
	}
	ps.mu.Lock()
	for _, ch := range channels {
		if unsub {
			delete(ps.channels, ch)
		} else {
			ps.channels[ch] = struct{}{}
		}
	}
	ps.mu.Unlock()

	// One operation per slot carries all of this call's channels of that slot.
	var ops []*psOp
	var err error
	for _, ch := range channels {
		sl := ps.slotOf(ch)
		var op *psOp
		for _, o := range ops {
			if o.slot == sl {
				op = o
				break
			}
		}
		if op == nil {
			op = &psOp{unsub: unsub, slot: sl, done: make(chan error, 1)}
			ops = append(ops, op)
		}
		op.ids = append(op.ids, ps.channelID(ch))
	}
	timer := time.NewTimer(ps.cfg.OpTimeout)
	defer timer.Stop()
	sent := ops[:0]
	for _, op := range ops {
		op.slot.mu.Lock()
		up := op.slot.up
		op.slot.mu.Unlock()
		if !up {
			// Unsubscribing a dead connection is done: the next connection
			// resubscribes only what is still wanted.
			if !unsub {
				err = errPubSubUnavailable
			}
			continue
		}
		select {
		case op.slot.ops <- op:
			sent = append(sent, op)
		case <-timer.C:
			return ps.failed(unsub, channels, errPubSubTimeout)
		case <-ctx.Done():
			return ps.failed(unsub, channels, ctx.Err())
		case <-ps.closeCh:
			return errPubSubClosed
		}
	}
	ops = sent
	for _, op := range ops {
		select {
		case e := <-op.done:
			if e != nil && err == nil {
				err = e
			}
		case <-timer.C:
			if err == nil {
				err = errPubSubTimeout
			}
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
		case <-ps.closeCh:
			return errPubSubClosed
		}
		if err == errPubSubTimeout || err == ctx.Err() && err != nil {
			break
		}
	}
	return ps.failed(unsub, channels, err)
}

// failed returns err; a subscribe that failed forgets its channels (the
// engine does not keep a subscriber whose Subscribe failed).
func (ps *pubSub) failed(unsub bool, channels []string, err error) error {
	if err != nil && !unsub {
		ps.mu.Lock()
		for _, ch := range channels {
			delete(ps.channels, ch)
		}
		ps.mu.Unlock()
	}
	return err
}

// channelsOf lists the wanted channels that live on slot s.
func (ps *pubSub) channelsOf(s *psSlot) []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]string, 0, len(ps.channels))
	for ch := range ps.channels {
		if ps.slotOf(ch) == s {
			out = append(out, ch)
		}
	}
	return out
}

// run keeps slot s connected: dedicate a connection, install the hooks,
// subscribe the shard channel and every wanted channel, then serve coalesced
// subscribe/unsubscribe operations until the connection breaks; then again.
func (s *psSlot) run(first chan error) {
	ps := s.ps
	defer ps.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-ps.closeCh:
			s.failPending(errPubSubClosed)
			return
		default:
		}
		err := s.session(&first)
		if first != nil {
			// The first connection failed: start reports it.
			first <- err
			return
		}
		select {
		case <-ps.closeCh:
			s.failPending(errPubSubClosed)
			return
		default:
		}
		if err != nil {
			ps.errors.Add(1)
			pubSubConnErrorsTotal.Inc()
			if !s.downLogd {
				s.downLogd = true
				ps.log.Error("redis pub/sub connection lost, reconnecting", "shard", s.shard, "partition", s.part, "error", err)
			}
		}
		s.failPending(errPubSubUnavailable)
		select {
		case <-ps.closeCh:
			return
		case <-time.After(backoff):
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

// failPending answers queued operations with err.
func (s *psSlot) failPending(err error) {
	for {
		select {
		case op := <-s.ops:
			op.done <- err
		default:
			return
		}
	}
}

// session runs one connection until it breaks. *first (non-nil until a
// connection came up) is answered and cleared once the connection is up.
func (s *psSlot) session(first *chan error) error {
	ps := s.ps
	shard := ps.cfg.Shards[s.shard]
	conn, cancel := shard.client.Dedicate()
	defer cancel()
	defer conn.Close()

	restart := make(chan struct{})
	var restartOnce sync.Once
	shardCh := s.shardChannel()
	wait := conn.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: ps.dispatch,
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			// In a cluster, a slot migration ends the sharded subscriptions
			// with an sunsubscribe of our shard channel: start over.
			if s.sharded && sub.Kind == "sunsubscribe" && sub.Channel == shardCh {
				restartOnce.Do(func() { close(restart) })
			}
		},
	})

	ctx := context.Background()
	if err := s.command(ctx, conn, false, []string{shardCh}); err != nil {
		return err
	}
	chans := s.ps.channelsOf(s)
	ids := make([]string, 0, subscribeBatchLimit)
	for i, ch := range chans {
		ids = append(ids, ps.channelID(ch))
		if len(ids) == subscribeBatchLimit || i == len(chans)-1 {
			if err := s.command(ctx, conn, false, ids); err != nil {
				return err
			}
			ids = ids[:0]
		}
	}
	s.mu.Lock()
	s.up = true
	s.conn = conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.up = false
		s.conn = nil
		s.mu.Unlock()
	}()
	if *first != nil {
		*first <- nil
		*first = nil
	}
	if s.everUp {
		ps.log.Info("redis pub/sub connection restored, channels resubscribed", "shard", s.shard, "partition", s.part, "channels", len(chans))
		// Publications sent while the connection was down are lost: the engine
		// makes the channels' subscribers recover from history.
		for _, ch := range chans {
			ps.markGap(ps.channelID(ch))
		}
	}
	s.everUp = true
	s.downLogd = false

	batch := make([]*psOp, 0, subscribeBatchLimit)
	for {
		select {
		case err := <-wait:
			if err == nil {
				err = errors.New("redis: pub/sub connection closed")
			}
			return err
		case <-restart:
			return errors.New("redis: sharded pub/sub slot moved")
		case <-ps.closeCh:
			return nil
		case op := <-s.ops:
			batch = append(batch[:0], op)
		more:
			for len(batch) < 64 {
				select {
				case op := <-s.ops:
					batch = append(batch, op)
				default:
					break more
				}
			}
			if err := s.runBatch(ctx, conn, batch); err != nil {
				return err
			}
		}
	}
}

// runBatch sends batch (in order), coalescing runs of same-kind operations
// into commands of at most subscribeBatchLimit channels, and answers each
// operation once all its channels are confirmed.
func (s *psSlot) runBatch(ctx context.Context, conn rueidis.DedicatedClient, batch []*psOp) error {
	ids := make([]string, 0, subscribeBatchLimit)
	for i := 0; i < len(batch); {
		j := i
		ids = ids[:0]
		var err error
		for j < len(batch) && batch[j].unsub == batch[i].unsub && err == nil {
			for _, id := range batch[j].ids {
				ids = append(ids, id)
				if len(ids) == subscribeBatchLimit {
					err = s.command(ctx, conn, batch[i].unsub, ids)
					ids = ids[:0]
					if err != nil {
						break
					}
				}
			}
			j++
		}
		if err == nil && len(ids) > 0 {
			err = s.command(ctx, conn, batch[i].unsub, ids)
		}
		for _, op := range batch[i:j] {
			op.done <- err
		}
		if err != nil {
			for _, op := range batch[j:] {
				op.done <- err
			}
			return err
		}
		i = j
	}
	return nil
}

// command sends one (S)SUBSCRIBE or (S)UNSUBSCRIBE for ids and waits for
// Redis to confirm every channel.
func (s *psSlot) command(ctx context.Context, conn rueidis.DedicatedClient, unsub bool, ids []string) error {
	ctx, cancel := context.WithTimeout(ctx, s.ps.cfg.OpTimeout)
	defer cancel()
	var cmd rueidis.Completed
	switch {
	case s.sharded && unsub:
		cmd = conn.B().Sunsubscribe().Channel(ids...).Build()
	case s.sharded:
		cmd = conn.B().Ssubscribe().Channel(ids...).Build()
	case unsub:
		cmd = conn.B().Unsubscribe().Channel(ids...).Build()
	default:
		cmd = conn.B().Subscribe().Channel(ids...).Build()
	}
	return conn.Do(ctx, cmd).Error()
}

func (ps *pubSub) workerOf(id string) *psWorker {
	return ps.workers[fnv32(id)%uint32(len(ps.workers))]
}

// dispatch runs in the rueidis hook: hand m to its channel's worker, or drop
// it, count it and flag the channel's gap if that worker is full. It never
// blocks on the worker.
func (ps *pubSub) dispatch(m rueidis.PubSubMessage) {
	w := ps.workerOf(m.Channel)
	select {
	case w.ch <- m:
	default:
		ps.dropped.Add(1)
		pubSubDroppedTotal.Inc()
		ps.markGap(m.Channel)
	}
}

// markGap flags that messages of the Redis channel id may be lost.
func (ps *pubSub) markGap(id string) {
	w := ps.workerOf(id)
	w.gapMu.Lock()
	if w.gaps == nil {
		w.gaps = make(map[string]struct{})
	}
	w.gaps[id] = struct{}{}
	w.hasGaps.Store(true)
	w.gapMu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (ps *pubSub) runWorker(w *psWorker) {
	defer ps.wg.Done()
	for {
		select {
		case m := <-w.ch:
			if err := ps.handle(w, m); err != nil {
				ps.errors.Add(1)
				pubSubMsgErrorsTotal.Inc()
				if due(&ps.badWarnAt) {
					ps.log.Warn("redis pub/sub: undecodable message skipped (further ones within 10s not logged)", "channel", m.Channel, "error", err)
				}
			}
		case <-w.wake:
		case <-ps.closeCh:
			return
		}
		if w.hasGaps.Load() {
			ps.reportGaps(w)
		}
	}
}

// reportGaps tells the handler about w's flagged channels.
func (ps *pubSub) reportGaps(w *psWorker) {
	w.gapMu.Lock()
	gaps := w.gaps
	w.gaps = nil
	w.hasGaps.Store(false)
	w.gapMu.Unlock()
	if d := ps.dropped.Load(); d > ps.dropWarned.Load() && due(&ps.dropWarnAt) {
		ps.log.Warn("redis pub/sub: worker queue full, messages dropped; subscribers recover from history", "dropped", d-ps.dropWarned.Swap(d))
	}
	for id := range gaps {
		if ch := ps.channelOf(id); ch != "" {
			ps.handler.HandleStreamGap(ch)
		}
	}
}

// handle decodes one message into w's reusable structs and calls the handler.
func (ps *pubSub) handle(w *psWorker, m rueidis.PubSubMessage) error {
	ch := ps.channelOf(m.Channel)
	if ch == "" {
		// The slots' own P.shard.* channels carry nothing.
		if p := ps.cfg.Prefix + ".shard."; len(m.Channel) > len(p) && m.Channel[:len(p)] == p {
			return nil
		}
		return errEnvelope
	}
	return deliver(ps.handler, ch, m.Message, &w.e, &w.d)
}

// deliver parses and decodes msg of channel ch and calls h.
func deliver(h pubSubHandler, ch, msg string, e *envelope, d *decoded) error {
	if err := parseEnvelope(msg, e); err != nil {
		return err
	}
	switch e.kind {
	case envJoin:
		if err := decodeClientInfo(e.payload, &d.info); err != nil {
			return err
		}
		return h.HandleJoin(ch, &d.info)
	case envLeave:
		if err := decodeClientInfo(e.payload, &d.info); err != nil {
			return err
		}
		return h.HandleLeave(ch, &d.info)
	}
	pub := &d.pub
	if err := decodePublication(e.payload, pub, &d.info, &d.tags); err != nil {
		return err
	}
	sp := codec.StreamPosition{Offset: e.offset, Epoch: e.epoch}
	if pub.Offset == 0 {
		pub.Offset = sp.Offset
	}
	if pub.Offset > 0 {
		sp.Offset = pub.Offset
	}
	if pub.Epoch != "" {
		sp.Epoch = pub.Epoch
		pub.Epoch = ""
	}
	delta := e.delta
	if pub.Delta {
		// Published without history: the delta flag travels in the Publication.
		delta = true
		pub.Delta = false
	}
	var prev *codec.Publication
	switch {
	case len(pub.PrevData) > 0:
		d.prev = codec.Publication{Data: pub.PrevData}
		pub.PrevData = nil
		prev = &d.prev
		delta = true
	case e.delta && e.prev != "":
		if err := decodePublication(e.prev, &d.prev, &d.prevInfo, &d.prevTags); err != nil {
			return err
		}
		prev = &d.prev
	}
	return h.HandlePublication(ch, pub, sp, delta, prev)
}

// fnv32 is FNV-1a over s (no allocation).
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
