package redis

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// DefaultHistoryMetaTTL is the stream metadata lifetime used when a call passes 0
// (Centrifugo's channel.history_meta_ttl default, 30 days).
const DefaultHistoryMetaTTL = 720 * time.Hour

// Broker is an engine.Broker: history here, Pub/Sub in pubsub_broker.go.
var _ engine.Broker = (*Broker)(nil)

// errBadReply is wrapped when Redis answers a script with an unexpected shape.
var errBadReply = errors.New("redis: unexpected script reply")

var pubBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// encodePublication encodes pub as Centrifugo stores it: without offset, epoch or
// channel (the offset lives in the stream entry ID), with the publish time in
// milliseconds (now when pub.Time is 0) and the delta flag only when told.
func encodePublication(dst []byte, pub *codec.Publication, delta bool) []byte {
	p := *pub
	p.Offset, p.Epoch, p.Channel, p.Delta = 0, "", "", delta
	if p.Time == 0 {
		p.Time = time.Now().UnixMilli()
	}
	return codec.AppendPublicationProto(dst, &p)
}

// Publish stores (when opts ask for history) and PUBLISHes pub on channel ch
// (engine.Broker): one Lua script appends to the stream and publishes
// __p1:<offset>:<epoch>__<pub> (or the __d1 delta envelope); without history a
// plain PUBLISH of the Protobuf Publication. pub's Data, Info, Tags, Key, Time… are
// sent, its Offset, Epoch and Channel are not; on success pub.Offset is set to the
// publication's offset.
func (b *Broker) Publish(ctx context.Context, ch string, pub *codec.Publication, opts *engine.BrokerPublishOptions) (engine.BrokerPublishResult, error) {
	s := b.shardFor(ch)
	if err := s.checkChannel(ch); err != nil {
		return engine.BrokerPublishResult{}, err
	}
	if opts == nil {
		opts = &engine.BrokerPublishOptions{}
	}
	withHistory := opts.HistorySize > 0 && opts.HistoryTTL > 0
	bp := pubBufPool.Get().(*[]byte)
	defer func() { *bp = (*bp)[:0]; pubBufPool.Put(bp) }()
	*bp = encodePublication((*bp)[:0], pub, opts.UseDelta && !withHistory)
	msg := rueidis.BinaryString(*bp)

	streamKey, metaKey, resultKey, pubsub := b.publishNames(s, ch, opts.IdempotencyKey)
	// The result key is passed even without idempotency: in a cluster every key of
	// a script must hash to one slot, and "P.result.{CH}." does.
	resultTTL := ""
	if opts.IdempotencyKey != "" {
		ttl := opts.IdempotentResultTTL
		if ttl <= 0 {
			ttl = DefaultIdempotentResultTTL
		}
		resultTTL = seconds(ttl)
	}

	if !withHistory {
		if resultTTL == "" {
			var cmd rueidis.Completed
			if s.partitions > 0 {
				cmd = s.client.B().Spublish().Channel(pubsub).Message(msg).Build()
			} else {
				// PUBLISH has no key: routed by its {CH} tag, it goes to the node
				// the history script of the channel runs on, so in a cluster the
				// channel's publications leave one node, in order, whether they keep
				// history or not (Centrifugo sends it to any node).
				cmd = s.client.B().Publish().Channel(pubsub).Message(msg).Build().SetSlot(pubsub)
			}
			return engine.BrokerPublishResult{}, s.client.Do(ctx, cmd).Error()
		}
		keys := []string{resultKey}
		if s.partitions > 0 {
			// A second, never-existing key in the result key's slot: while the slot
			// migrates the call fails (TRYAGAIN) instead of running on a node that
			// has no subscribers yet.
			keys = append(keys, resultKey+".route")
		}
		res := b.scripts.publishIdempotent.Exec(ctx, s.client, keys, []string{msg, pubsub, s.publishCommand(), resultTTL})
		if err := res.Error(); err != nil && !rueidis.IsRedisNil(err) {
			return engine.BrokerPublishResult{}, err
		}
		// The script answers the remembered {offset, epoch} when the key was seen.
		if _, err := res.ToArray(); err == nil {
			return engine.BrokerPublishResult{Suppressed: true}, nil
		}
		return engine.BrokerPublishResult{}, nil
	}

	metaTTL := opts.HistoryMetaTTL
	if metaTTL == 0 {
		metaTTL = DefaultHistoryMetaTTL
	}
	delta := ""
	if opts.UseDelta {
		delta = "1"
	}
	keys := []string{streamKey, metaKey, resultKey}
	var args []string
	script, sha := b.scripts.addStream, addStreamSHA
	if b.opts.HistoryUseLists {
		script, sha = b.scripts.addList, addListSHA
		args = []string{msg, strconv.Itoa(opts.HistorySize - 1), seconds(opts.HistoryTTL), pubsub,
			seconds(metaTTL), newEpoch(), s.publishCommand(), resultTTL, delta}
	} else {
		version := "0"
		if opts.Version > 0 {
			version = strconv.FormatUint(opts.Version, 10)
		}
		args = []string{msg, strconv.Itoa(opts.HistorySize), seconds(opts.HistoryTTL), pubsub,
			seconds(metaTTL), newEpoch(), s.publishCommand(), resultTTL, delta,
			version, opts.VersionEpoch}
	}
	if s.pipe != nil {
		rep, err := s.pipe.evalSHA(ctx, sha, keys, args)
		// NOSCRIPT (a new or flushed server): rueidis loads the script below.
		if !noScript(err) {
			if err != nil {
				return engine.BrokerPublishResult{}, err
			}
			r, err := parseScriptPublishReply(&rep)
			if err == nil && !r.Suppressed {
				pub.Offset = r.Position.Offset
			}
			return r, err
		}
	}
	res := script.Exec(ctx, s.client, keys, args)
	r, err := parsePublishReply(res)
	if err == nil && !r.Suppressed {
		pub.Offset = r.Position.Offset
	}
	return r, err
}

// seconds formats d in whole seconds, at least 1 for a positive d (Redis EXPIRE
// 0 would delete the key).
func seconds(d time.Duration) string {
	n := int64(d / time.Second)
	if n == 0 && d > 0 {
		n = 1
	}
	return strconv.FormatInt(n, 10)
}

func parsePublishReply(res rueidis.RedisResult) (engine.BrokerPublishResult, error) {
	vals, err := res.ToArray()
	if err != nil {
		return engine.BrokerPublishResult{}, err
	}
	if len(vals) < 3 {
		return engine.BrokerPublishResult{}, fmt.Errorf("%w: %d items", errBadReply, len(vals))
	}
	off, err := vals[0].AsUint64()
	if err != nil {
		return engine.BrokerPublishResult{}, fmt.Errorf("%w: offset: %v", errBadReply, err)
	}
	epoch, err := vals[1].ToString()
	if err != nil {
		return engine.BrokerPublishResult{}, fmt.Errorf("%w: epoch: %v", errBadReply, err)
	}
	r := engine.BrokerPublishResult{Position: codec.StreamPosition{Offset: off, Epoch: epoch}}
	// vals[2] = "1": idempotency result; vals[3] = "1": stale version.
	for _, v := range vals[2:] {
		if f, _ := v.ToString(); f == "1" {
			r.Suppressed = true
		}
	}
	return r, nil
}

// parseScriptPublishReply is parsePublishReply for a reply read by scriptPipe.
func parseScriptPublishReply(rep *scriptReply) (engine.BrokerPublishResult, error) {
	if rep.n < 3 {
		return engine.BrokerPublishResult{}, fmt.Errorf("%w: %d items", errBadReply, rep.n)
	}
	off, err := strconv.ParseUint(rep.items[0], 10, 64)
	if err != nil {
		return engine.BrokerPublishResult{}, fmt.Errorf("%w: offset: %v", errBadReply, err)
	}
	r := engine.BrokerPublishResult{Position: codec.StreamPosition{Offset: off, Epoch: rep.items[1]}}
	// items[2] = "1": idempotency result; items[3] = "1": stale version.
	for _, f := range rep.items[2:min(rep.n, len(rep.items))] {
		if f == "1" {
			r.Suppressed = true
		}
	}
	return r, nil
}

// History returns the channel's stream position and the publications opts.Filter
// selects, each with its offset (engine.Broker). A channel without metadata gets a
// new epoch at offset 0; opts.MetaTTL (0 = DefaultHistoryMetaTTL) is refreshed on
// the metadata. A Since with another (non-empty) epoch than the stream's fails
// with engine.ErrorUnrecoverablePosition (the position is returned with it).
func (b *Broker) History(ctx context.Context, ch string, opts engine.HistoryOptions) ([]*codec.Publication, codec.StreamPosition, error) {
	pubs, pos, err := b.history(ctx, ch, opts.Filter, opts.MetaTTL)
	if err == nil && opts.Filter.Since != nil && opts.Filter.Since.Epoch != "" && opts.Filter.Since.Epoch != pos.Epoch {
		return nil, pos, engine.ErrorUnrecoverablePosition
	}
	return pubs, pos, err
}

func (b *Broker) history(ctx context.Context, ch string, f engine.HistoryFilter, metaTTL time.Duration) ([]*codec.Publication, codec.StreamPosition, error) {
	s := b.shardFor(ch)
	if err := s.checkChannel(ch); err != nil {
		return nil, codec.StreamPosition{}, err
	}
	if metaTTL == 0 {
		metaTTL = DefaultHistoryMetaTTL
	}
	if b.opts.HistoryUseLists {
		return b.historyList(ctx, s, ch, f, metaTTL)
	}
	include := "1"
	var from uint64
	if f.Since != nil {
		if f.Reverse {
			from = f.Since.Offset - 1
			if f.Since.Offset <= 1 {
				from, include = 0, "0"
			}
		} else {
			from = f.Since.Offset + 1
		}
	}
	if f.Limit == 0 {
		include = "0"
	}
	count := 0
	if f.Limit > 0 {
		count = f.Limit
	}
	reverse := "0"
	if f.Reverse {
		reverse = "1"
	}
	vals, err := b.scripts.readStream.Exec(ctx, s.client,
		[]string{b.streamKey(s, ch), b.metaKey(s, ch)},
		[]string{include, strconv.FormatUint(from, 10), strconv.Itoa(count), reverse, seconds(metaTTL), newEpoch()},
	).ToArray()
	if err != nil {
		return nil, codec.StreamPosition{}, err
	}
	pos, err := parsePosition(vals)
	if err != nil {
		return nil, codec.StreamPosition{}, err
	}
	if include == "0" || len(vals) < 3 {
		return nil, pos, nil
	}
	entries, err := vals[2].ToArray()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, pos, nil
		}
		return nil, pos, err
	}
	pubs := make([]*codec.Publication, 0, len(entries))
	for _, e := range entries {
		pub, err := decodeStreamEntry(e)
		if err != nil {
			return nil, pos, err
		}
		pubs = append(pubs, pub)
	}
	return pubs, pos, nil
}

func parsePosition(vals []rueidis.RedisMessage) (codec.StreamPosition, error) {
	if len(vals) < 2 {
		return codec.StreamPosition{}, fmt.Errorf("%w: %d items", errBadReply, len(vals))
	}
	top, err := vals[0].AsUint64()
	if err != nil && !rueidis.IsRedisNil(err) {
		return codec.StreamPosition{}, fmt.Errorf("%w: offset: %v", errBadReply, err)
	}
	epoch, err := vals[1].ToString()
	if err != nil {
		return codec.StreamPosition{}, fmt.Errorf("%w: epoch: %v", errBadReply, err)
	}
	return codec.StreamPosition{Offset: top, Epoch: epoch}, nil
}

// decodeStreamEntry turns one XRANGE entry [id, [field, value…]] into a
// publication whose offset is the entry ID's first part.
func decodeStreamEntry(e rueidis.RedisMessage) (*codec.Publication, error) {
	parts, err := e.ToArray()
	if err != nil || len(parts) != 2 {
		return nil, fmt.Errorf("%w: stream entry", errBadReply)
	}
	id, err := parts[0].ToString()
	if err != nil {
		return nil, fmt.Errorf("%w: stream entry id", errBadReply)
	}
	fields, err := parts[1].ToArray()
	if err != nil {
		return nil, fmt.Errorf("%w: stream entry fields", errBadReply)
	}
	var data string
	found := false
	for i := 0; i+1 < len(fields); i += 2 {
		if k, _ := fields[i].ToString(); k == "d" {
			data, _ = fields[i+1].ToString()
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: stream entry %s has no d field", errBadReply, id)
	}
	ms, _, _ := strings.Cut(id, "-")
	off, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: stream entry id %q", errBadReply, id)
	}
	pub := &codec.Publication{}
	if err := codec.DecodePublicationProto([]byte(data), pub); err != nil {
		return nil, fmt.Errorf("redis: stream entry %s: %w", id, err)
	}
	pub.Offset = off
	return pub, nil
}

// historyList reads the legacy list: all entries, then filters in Go as
// Centrifugo does (lists cannot be read in reverse).
func (b *Broker) historyList(ctx context.Context, s *shard, ch string, f engine.HistoryFilter, metaTTL time.Duration) ([]*codec.Publication, codec.StreamPosition, error) {
	include, right := "1", "-1"
	if f.Limit == 0 {
		include, right = "0", "0"
	}
	vals, err := b.scripts.readList.Exec(ctx, s.client,
		[]string{b.listKey(s, ch), b.metaKey(s, ch)},
		[]string{include, right, seconds(metaTTL), newEpoch()},
	).ToArray()
	if err != nil {
		return nil, codec.StreamPosition{}, err
	}
	pos, err := parsePosition(vals)
	if err != nil || include == "0" || len(vals) < 3 {
		return nil, pos, err
	}
	entries, err := vals[2].ToArray()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, pos, nil
		}
		return nil, pos, err
	}
	// Newest first in the list: walk it backwards for oldest first.
	pubs := make([]*codec.Publication, 0, len(entries))
	for i := len(entries) - 1; i >= 0; i-- {
		v, err := entries[i].ToString()
		if err != nil {
			return nil, pos, fmt.Errorf("%w: list entry", errBadReply)
		}
		off, _, payload, ok := parseP1([]byte(v))
		if !ok {
			return nil, pos, fmt.Errorf("%w: malformed list entry", errBadReply)
		}
		pub := &codec.Publication{}
		if err := codec.DecodePublicationProto(payload, pub); err != nil {
			return nil, pos, fmt.Errorf("redis: list entry: %w", err)
		}
		pub.Offset = off
		pubs = append(pubs, pub)
	}
	limit := func(p []*codec.Publication) []*codec.Publication {
		if f.Limit >= 0 && len(p) > f.Limit {
			return p[:f.Limit]
		}
		return p
	}
	if f.Since == nil {
		return limit(pubs), pos, nil
	}
	if pos.Offset == f.Since.Offset && pos.Epoch == f.Since.Epoch {
		return nil, pos, nil
	}
	if pos.Offset < f.Since.Offset {
		return nil, pos, nil
	}
	for i, p := range pubs {
		if p.Offset == f.Since.Offset {
			return limit(pubs[i+1:]), pos, nil
		}
		if p.Offset == f.Since.Offset+1 {
			return limit(pubs[i:]), pos, nil
		}
	}
	return limit(pubs), pos, nil
}

// parseP1 splits "__p1:<offset>:<epoch>__<payload>".
func parseP1(v []byte) (offset uint64, epoch string, payload []byte, ok bool) {
	rest, found := bytes.CutPrefix(v, []byte("__p1:"))
	if !found {
		return 0, "", nil, false
	}
	i := bytes.IndexByte(rest, ':')
	if i <= 0 {
		return 0, "", nil, false
	}
	off, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil {
		return 0, "", nil, false
	}
	rest = rest[i+1:]
	j := bytes.Index(rest, []byte("__"))
	if j < 0 {
		return 0, "", nil, false
	}
	return off, string(rest[:j]), rest[j+2:], true
}

// RemoveHistory deletes the channel's stream (or list); its metadata stays, so
// positions remain valid.
func (b *Broker) RemoveHistory(ctx context.Context, ch string) error {
	s := b.shardFor(ch)
	if err := s.checkChannel(ch); err != nil {
		return err
	}
	key := b.streamKey(s, ch)
	if b.opts.HistoryUseLists {
		key = b.listKey(s, ch)
	}
	return s.client.Do(ctx, s.client.B().Del().Key(key).Build()).Error()
}

const epochLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// newEpoch returns 8 letters from [a-zA-Z], uniformly, from crypto/rand.
func newEpoch() string {
	var out [8]byte
	var buf [16]byte
	n := 0
	for n < len(out) {
		_, _ = rand.Read(buf[:])
		for _, c := range buf {
			// 256 - 256%52 = 208: reject above to keep the choice uniform.
			if c < 208 && n < len(out) {
				out[n] = epochLetters[int(c)%52]
				n++
			}
		}
	}
	return string(out[:])
}
