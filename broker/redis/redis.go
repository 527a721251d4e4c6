// Package redis is Rotor's Redis engine on rueidis: history, PUB/SUB fan-out between
// nodes, presence and node control, with Centrifugo v6's Redis layout byte for byte
// (shared/spec/history-recovery.md §5), so Rotor and Centrifugo nodes can share one
// Redis.
package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Broker is the Redis engine of one node: one rueidis client per shard, and for a
// standalone shard a script pipe carrying publications with history (scriptpipe.go).
type Broker struct {
	opts   Options
	shards []*shard

	// PUB/SUB channel names (h7, h8): P.client., P.control, P.node.
	messagePrefix  string
	controlChannel string
	nodePrefix     string
	ctl            controlState // node control (control.go)

	scripts scripts

	ps pubSubState // Pub/Sub side (pubsub_broker.go)

	closeOnce sync.Once
}

// New connects to every shard the options describe and returns the engine. It fails
// when an option is invalid (the error names its key) or a shard does not answer:
// Centrifugo does not start without its Redis either.
func New(opts Options) (*Broker, error) {
	o := opts.withDefaults()
	cfgs, err := o.shardConfigs()
	if err != nil {
		return nil, err
	}
	b := &Broker{
		opts:           o,
		messagePrefix:  o.Prefix + ".client.",
		controlChannel: o.Prefix + ".control",
		nodePrefix:     o.Prefix + ".node.",
		scripts:        newScripts(),
	}
	for i, sc := range cfgs {
		s, err := newShard(sc, o.ShardedPubSubPartitions)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("redis shard %d (%s, %s): %w", i, sc.addr, sc.mode, err)
		}
		b.shards = append(b.shards, s)
	}
	if err := b.ping(context.Background()); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.checkVersions(context.Background()); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// checkVersions refuses options the servers cannot honour: streams need Redis
// 5 (else history_use_lists), per-field hash TTLs Redis 7.4.
func (b *Broker) checkVersions(ctx context.Context) error {
	for i, s := range b.shards {
		ctx, cancel := context.WithTimeout(ctx, b.opts.IOTimeout)
		info, err := s.client.Do(ctx, s.client.B().Info().Section("server").Build()).ToString()
		cancel()
		if err != nil {
			return fmt.Errorf("redis shard %d (%s): INFO: %w", i, s.addr, err)
		}
		major, minor, ok := redisVersion(info)
		if !ok {
			continue // unknown servers (proxies) are not judged
		}
		if !b.opts.HistoryUseLists && major < 5 {
			return fmt.Errorf("%s: Redis %d.%d at %s has no streams; set it to true or upgrade to Redis 5", b.opts.key("history_use_lists"), major, minor, s.addr)
		}
		if b.opts.PresenceHashFieldTTL && (major < 7 || major == 7 && minor < 4) {
			return fmt.Errorf("%s: needs Redis 7.4 (per-field hash TTL), %s runs %d.%d", b.opts.key("presence_hash_field_ttl"), s.addr, major, minor)
		}
	}
	return nil
}

// redisVersion reads redis_version from INFO server output.
func redisVersion(info string) (major, minor int, ok bool) {
	for _, line := range strings.Split(info, "\n") {
		v, found := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !found {
			continue
		}
		parts := strings.SplitN(v, ".", 3)
		if len(parts) < 2 {
			return 0, 0, false
		}
		var err1, err2 error
		major, err1 = strconv.Atoi(parts[0])
		minor, err2 = strconv.Atoi(parts[1])
		return major, minor, err1 == nil && err2 == nil
	}
	return 0, 0, false
}

// ping checks every shard answers (a cluster: every master).
func (b *Broker) ping(ctx context.Context) error {
	for i, s := range b.shards {
		ctx, cancel := context.WithTimeout(ctx, b.opts.IOTimeout)
		var err error
		if s.cluster {
			for _, r := range s.client.DoMulti(ctx, s.client.B().Ping().Build()) {
				if err = r.Error(); err != nil {
					break
				}
			}
		} else {
			err = s.client.Do(ctx, s.client.B().Ping().Build()).Error()
		}
		cancel()
		if err != nil {
			return fmt.Errorf("redis shard %d (%s): %w", i, s.addr, err)
		}
	}
	return nil
}

// Close closes every client. It may be called more than once.
func (b *Broker) Close() {
	b.closeControl()
	b.closeOnce.Do(func() {
		b.closePubSub()
		for _, s := range b.shards {
			if s.pipe != nil {
				s.pipe.Close()
			}
			s.client.Close()
		}
	})
}

// Local reports false: publications reach every node, this one included, through
// Redis PUB/SUB (engine.Broker).
func (b *Broker) Local() bool { return false }

// Options returns the options in use, defaults applied.
func (b *Broker) Options() Options { return b.opts }

// Modes describes the shards as Centrifugo logs them: "standalone",
// "cluster", "sentinel", or e.g. "sharded(2):standalone-x2".
func (b *Broker) Modes() string {
	var parts []string
	for i := 0; i < len(b.shards); {
		j := i
		for j < len(b.shards) && b.shards[j].mode == b.shards[i].mode {
			j++
		}
		if j-i > 1 {
			parts = append(parts, fmt.Sprintf("%s-x%d", b.shards[i].mode, j-i))
		} else {
			parts = append(parts, string(b.shards[i].mode))
		}
		i = j
	}
	m := strings.Join(parts, ",")
	if len(b.shards) > 1 {
		m = fmt.Sprintf("sharded(%d):%s", len(b.shards), m)
	}
	return m
}

// shardFor returns the shard holding channel ch.
func (b *Broker) shardFor(ch string) *shard {
	if len(b.shards) == 1 {
		return b.shards[0]
	}
	return b.shards[shardIndex(ch, len(b.shards))]
}

// Key builders. partitioned: the name follows the sharded PUB/SUB partition scheme
// (broker keys and client channels); presence keys use {CH} in a cluster always.

// channelKey is P + infix + tagged(CH), e.g. P.stream.CH, P.presence.data.{CH}.
func (b *Broker) channelKey(s *shard, infix, ch string, partitioned bool) string {
	buf := make([]byte, 0, len(b.opts.Prefix)+len(infix)+len(ch)+8)
	buf = append(buf, b.opts.Prefix...)
	buf = append(buf, infix...)
	buf = s.appendTagged(buf, ch, partitioned)
	return unsafe.String(unsafe.SliceData(buf), len(buf))
}

// publishNames returns, from one allocation, the names a publish uses: the
// stream (or list) key, the meta key, the result key (P.result.CH.<idemKey>) and
// the PUB/SUB channel.
func (b *Broker) publishNames(s *shard, ch, idemKey string) (stream, meta, result, pubsub string) {
	p := b.opts.Prefix
	streamInfix, metaInfix := ".stream.", ".stream.meta."
	if b.opts.HistoryUseLists {
		streamInfix, metaInfix = ".list.", ".list.meta."
	}
	tagged := len(ch) + 12
	buf := make([]byte, 0, 4*len(p)+len(streamInfix)+len(metaInfix)+len(".result.")+len(".client.")+4*tagged+1+len(idemKey))
	var ends [4]int
	for i, infix := range [...]string{streamInfix, metaInfix, ".result.", ".client."} {
		buf = append(buf, p...)
		buf = append(buf, infix...)
		buf = s.appendTagged(buf, ch, true)
		if i == 2 {
			buf = append(buf, '.')
			buf = append(buf, idemKey...)
		}
		ends[i] = len(buf)
	}
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	return all[:ends[0]], all[ends[0]:ends[1]], all[ends[1]:ends[2]], all[ends[2]:ends[3]]
}

// clientChannel is the PUB/SUB channel of ch: P.client.CH (P.client.{CH} in a
// cluster, P.client.{<partition>}.CH with sharded PUB/SUB).
func (b *Broker) clientChannel(s *shard, ch string) string {
	buf := make([]byte, 0, len(b.messagePrefix)+len(ch)+8)
	buf = append(buf, b.messagePrefix...)
	buf = s.appendTagged(buf, ch, true)
	return unsafe.String(unsafe.SliceData(buf), len(buf))
}

func (b *Broker) streamKey(s *shard, ch string) string {
	return b.channelKey(s, ".stream.", ch, true)
}

func (b *Broker) listKey(s *shard, ch string) string {
	return b.channelKey(s, ".list.", ch, true)
}

func (b *Broker) metaKey(s *shard, ch string) string {
	if b.opts.HistoryUseLists {
		return b.channelKey(s, ".list.meta.", ch, true)
	}
	return b.channelKey(s, ".stream.meta.", ch, true)
}

// resultKey is P.result.CH.<key> (tagged like the stream).
func (b *Broker) resultKey(s *shard, ch, key string) string {
	return b.channelKey(s, ".result.", ch, true) + "." + key
}

// publishCommand is "spublish" with sharded PUB/SUB, else "publish".
func (s *shard) publishCommand() string {
	if s.partitions > 0 {
		return "spublish"
	}
	return "publish"
}
