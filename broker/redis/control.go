package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/engine"
)

// Node control over Redis PUB/SUB (history-recovery.md §5.4, §5.5), as Centrifugo
// does it: every node SUBSCRIBEs P.control (messages for all nodes) and P.node.<ID>
// (messages for it alone) on every shard, and publishes each control message with a
// plain PUBLISH on one shard, round robin, so it reaches each node once. Redis
// Cluster and sharded PUB/SUB change nothing here: control channels are not
// partitioned and a cluster forwards PUBLISH to every node. The payload is the
// engine's (Centrifugo's controlpb.Command); this file only moves bytes.
//
// The rueidis hook hands each message to one worker goroutine through a bounded
// queue and never blocks (a full queue drops the message and counts it: PUB/SUB is
// at-most-once anyway); the worker calls the engine's HandleControl in arrival
// order, so commands from one node are applied in the order it sent them.

const (
	// controlQueueSize is the worker's buffer of undelivered control messages
	// (Centrifugo: 4096).
	controlQueueSize = 4096
	// controlMaxBackoff caps the wait between reconnection attempts.
	controlMaxBackoff = time.Second
)

var _ engine.Controller = (*Broker)(nil)

var (
	errControlRegistered = errors.New("redis: control event handler already registered")
	errControlNotStarted = errors.New("redis: control event handler not registered")
)

// Centrifugo's metric for messages dropped because the buffer was full.
var controlDroppedTotal = metrics.GetOrCreateCounter(`centrifugo_broker_redis_pub_sub_dropped_messages{broker_name="",channel_type="control"}`)

// controlState is the Broker's control side.
type controlState struct {
	mu      sync.Mutex
	started bool
	nodeID  string
	h       engine.ControlEventHandler
	log     *slog.Logger

	round   atomic.Uint64 // PublishControl's round-robin over shards
	queue   chan []byte
	dropped atomic.Uint64

	closeOnce sync.Once
	closeCh   chan struct{}
	wg        sync.WaitGroup
}

// RegisterControlEventHandler implements engine.Controller: it subscribes P.control
// and P.node.<nodeID> on every shard and starts handing their messages to h. It
// returns once every shard confirmed the subscriptions, or with the first shard's
// error (the node does not start without its control channels). After that, lost
// connections are re-established in the background.
func (b *Broker) RegisterControlEventHandler(nodeID string, h engine.ControlEventHandler) error {
	c := &b.ctl
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errControlRegistered
	}
	c.started = true
	c.nodeID, c.h = nodeID, h
	// The broker's logger (SetLogger, before the handlers are registered).
	b.ps.mu.Lock()
	c.log = b.ps.log
	b.ps.mu.Unlock()
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.queue = make(chan []byte, controlQueueSize)
	c.closeCh = make(chan struct{})
	c.mu.Unlock()

	c.wg.Add(1)
	go b.controlWorker()
	firsts := make([]chan error, len(b.shards))
	for i := range b.shards {
		firsts[i] = make(chan error, 1)
		c.wg.Add(1)
		go b.runControlConn(i, firsts[i])
	}
	var err error
	for i, f := range firsts {
		if e := <-f; e != nil && err == nil {
			err = fmt.Errorf("redis shard %d: control pub/sub: %w", i, e)
		}
	}
	if err != nil {
		b.closeControl()
	}
	return err
}

// PublishControl implements engine.Controller: PUBLISH data on P.control (nodeID
// "") or P.node.<nodeID>, on the next shard in turn. data is not retained.
func (b *Broker) PublishControl(ctx context.Context, data []byte, nodeID string) error {
	if len(b.shards) == 0 {
		return errControlNotStarted
	}
	s := b.shards[int(b.ctl.round.Add(1)%uint64(len(b.shards)))]
	ch := b.controlChannel
	if nodeID != "" {
		ch = b.nodePrefix + nodeID
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.IOTimeout)
	defer cancel()
	return s.client.Do(ctx, s.client.B().Publish().Channel(ch).Message(string(data)).Build()).Error()
}

// closeControl stops the control connections and the worker; idempotent.
func (b *Broker) closeControl() {
	c := &b.ctl
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if !started {
		return
	}
	c.closeOnce.Do(func() { close(c.closeCh) })
	c.wg.Wait()
}

// controlWorker hands queued messages to the engine, in order.
func (b *Broker) controlWorker() {
	c := &b.ctl
	defer c.wg.Done()
	for {
		select {
		case <-c.closeCh:
			return
		case m := <-c.queue:
			// The engine logs what it cannot decode; nothing more to do here.
			_ = c.h.HandleControl(m)
		}
	}
}

// dispatchControl runs in the rueidis hook: queue the message or drop and count it.
func (b *Broker) dispatchControl(m rueidis.PubSubMessage) {
	c := &b.ctl
	select {
	case c.queue <- []byte(m.Message):
	default:
		if c.dropped.Add(1) == 1 {
			c.log.Warn("redis control pub/sub: worker queue full, dropping messages")
		}
		controlDroppedTotal.Inc()
	}
}

// runControlConn keeps shard i's control subscription up until close. first gets
// the outcome of the first attempt; if that fails the loop ends (registration
// fails), later failures are retried with backoff and logged once per outage.
func (b *Broker) runControlConn(i int, first chan error) {
	c := &b.ctl
	defer c.wg.Done()
	backoff := 50 * time.Millisecond
	down := false
	for {
		err := b.controlSession(i, &first, &down)
		if first != nil {
			first <- err
			return
		}
		select {
		case <-c.closeCh:
			return
		default:
		}
		if !down {
			down = true
			c.log.Error("redis control pub/sub connection lost, reconnecting", "shard", i, "error", err)
		}
		select {
		case <-c.closeCh:
			return
		case <-time.After(backoff):
		}
		if backoff < controlMaxBackoff {
			backoff *= 2
		}
	}
}

// controlSession runs one control connection of shard i until it breaks or the
// broker closes (nil error).
func (b *Broker) controlSession(i int, first *chan error, down *bool) error {
	c := &b.ctl
	s := b.shards[i]
	conn, cancel := s.client.Dedicate()
	defer cancel()
	defer conn.Close()
	wait := conn.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: b.dispatchControl})
	ctx, cancelDo := context.WithTimeout(context.Background(), b.opts.ConnectTimeout+b.opts.IOTimeout)
	err := conn.Do(ctx, conn.B().Subscribe().Channel(b.controlChannel, b.nodePrefix+c.nodeID).Build()).Error()
	cancelDo()
	if err != nil {
		return err
	}
	if *first != nil {
		*first <- nil
		*first = nil
	}
	if *down {
		*down = false
		c.log.Info("redis control pub/sub connection restored", "shard", i)
	}
	select {
	case err := <-wait:
		if err == nil {
			err = errors.New("redis: control pub/sub connection closed")
		}
		return err
	case <-c.closeCh:
		return nil
	}
}
