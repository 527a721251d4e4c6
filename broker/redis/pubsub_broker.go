package redis

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// pubSubState is the Broker's Pub/Sub side.
type pubSubState struct {
	mu  sync.Mutex
	ps  *pubSub
	log *slog.Logger
	// workers overrides the number of Pub/Sub workers (tests); 0: per CPU.
	workers int
}

var errNoEventHandler = errors.New("redis: broker event handler not registered")

// SetLogger sets the logger of the Pub/Sub side (before RegisterBrokerEventHandler).
func (b *Broker) SetLogger(l *slog.Logger) {
	b.ps.mu.Lock()
	b.ps.log = l
	b.ps.mu.Unlock()
}

// RegisterBrokerEventHandler starts the Pub/Sub connections (one per shard and
// sharded Pub/Sub partition) and the workers that hand messages to h. It fails
// when a connection cannot be made.
func (b *Broker) RegisterBrokerEventHandler(h engine.BrokerEventHandler) error {
	b.ps.mu.Lock()
	defer b.ps.mu.Unlock()
	if b.ps.ps != nil {
		return errors.New("redis: broker event handler already registered")
	}
	workers := b.ps.workers
	if workers <= 0 {
		workers = max(runtime.GOMAXPROCS(0), 2)
	}
	ps, err := newPubSub(pubSubConfig{
		Prefix:    b.opts.Prefix,
		Shards:    b.shards,
		ShardOf:   func(ch string) int { return shardIndex(ch, len(b.shards)) },
		ChannelID: b.clientChannel,
		Workers:   workers,
		OpTimeout: b.opts.IOTimeout,
		Log:       b.ps.log,
	}, h)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.ConnectTimeout+b.opts.IOTimeout)
	defer cancel()
	if err := ps.start(ctx); err != nil {
		return err
	}
	b.ps.ps = ps
	return nil
}

func (b *Broker) pubSub() (*pubSub, error) {
	b.ps.mu.Lock()
	ps := b.ps.ps
	b.ps.mu.Unlock()
	if ps == nil {
		return nil, errNoEventHandler
	}
	return ps, nil
}

func (b *Broker) closePubSub() {
	b.ps.mu.Lock()
	ps := b.ps.ps
	b.ps.mu.Unlock()
	if ps != nil {
		ps.close()
	}
}

// Subscribe subscribes the node to ch's Pub/Sub channel and returns once Redis
// confirmed it. Concurrent calls are coalesced into one SUBSCRIBE per shard.
func (b *Broker) Subscribe(ctx context.Context, ch string) error {
	ps, err := b.pubSub()
	if err != nil {
		return err
	}
	if err := b.shardFor(ch).checkChannel(ch); err != nil {
		return err
	}
	return ps.do(ctx, false, []string{ch})
}

// Unsubscribe unsubscribes the node from ch's Pub/Sub channel. With the
// connection down it returns nil: the next connection does not resubscribe ch.
func (b *Broker) Unsubscribe(ctx context.Context, ch string) error {
	ps, err := b.pubSub()
	if err != nil {
		return err
	}
	return ps.do(ctx, true, []string{ch})
}

// PublishJoin publishes __j__<ClientInfo> to ch's Pub/Sub channel.
func (b *Broker) PublishJoin(ctx context.Context, ch string, info *codec.ClientInfo) error {
	return b.publishInfo(ctx, ch, "__j__", info)
}

// PublishLeave publishes __l__<ClientInfo> to ch's Pub/Sub channel.
func (b *Broker) PublishLeave(ctx context.Context, ch string, info *codec.ClientInfo) error {
	return b.publishInfo(ctx, ch, "__l__", info)
}

func (b *Broker) publishInfo(ctx context.Context, ch, prefix string, info *codec.ClientInfo) error {
	s := b.shardFor(ch)
	if err := s.checkChannel(ch); err != nil {
		return err
	}
	msg := codec.AppendClientInfoProto([]byte(prefix), info)
	id := b.clientChannel(s, ch)
	ctx, cancel := context.WithTimeout(ctx, b.opts.IOTimeout)
	defer cancel()
	c := s.client
	if s.partitions > 0 {
		return c.Do(ctx, c.B().Spublish().Channel(id).Message(viewString(msg)).Build()).Error()
	}
	// Routed to the channel's slot owner, as a publication (history.go): a join
	// or leave is not overtaken by, and does not overtake, the channel's
	// publications on the cluster bus.
	return c.Do(ctx, c.B().Publish().Channel(id).Message(viewString(msg)).Build().SetSlot(id)).Error()
}
