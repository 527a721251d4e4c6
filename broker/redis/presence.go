package redis

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// Presence (history-recovery.md §5.3), on the keys Centrifugo uses:
//
//	P.presence.data.CH          HASH clientID -> Protobuf ClientInfo
//	P.presence.expire.CH        ZSET clientID scored by expire-at (unix s)
//	P.presence.user.expire.CH   ZSET userID -> expire-at      (presence_user_mapping)
//	P.presence.user.clients.CH  HASH userID -> connections    (presence_user_mapping)
//
// In a Redis Cluster CH is written {CH} (all four keys in one slot). With
// presence_hash_field_ttl (Redis >= 7.4) entries expire by HEXPIRE on the hash
// fields and the ZSETs are not used. The scripts behave like centrifuge's
// presence_*.lua on the same keys and arguments.

// KEYS: expire zset, data hash, user expire zset, user clients hash.
// ARGV: ttl s, expire-at, client ID, info, user ID, user mapping "0"/"1",
// hash field TTL "0"/"1".
const presenceAddLua = `
local mapping = ARGV[6] ~= '0'
local fieldTTL = ARGV[7] ~= '0'
local firstTime = false
if mapping then
  firstTime = redis.call('hexists', KEYS[2], ARGV[3]) == 0
end
redis.call('hset', KEYS[2], ARGV[3], ARGV[4])
redis.call('expire', KEYS[2], ARGV[1])
if fieldTTL then
  redis.call('hexpire', KEYS[2], ARGV[1], 'FIELDS', '1', ARGV[3])
else
  redis.call('zadd', KEYS[1], ARGV[2], ARGV[3])
  redis.call('expire', KEYS[1], ARGV[1])
end
if not mapping then
  return
end
if firstTime then
  redis.call('hincrby', KEYS[4], ARGV[5], 1)
end
redis.call('expire', KEYS[4], ARGV[1])
if fieldTTL then
  redis.call('hexpire', KEYS[4], ARGV[1], 'FIELDS', '1', ARGV[5])
else
  redis.call('zadd', KEYS[3], ARGV[2], ARGV[5])
  redis.call('expire', KEYS[3], ARGV[1])
end
`

// KEYS: expire zset, data hash, user expire zset, user clients hash.
// ARGV: client ID, user ID, user mapping "0"/"1", hash field TTL "0"/"1".
const presenceRemoveLua = `
local mapping = ARGV[3] ~= '0'
local fieldTTL = ARGV[4] ~= '0'
local present = false
if mapping then
  present = redis.call('hexists', KEYS[2], ARGV[1]) == 1
end
redis.call('hdel', KEYS[2], ARGV[1])
if not fieldTTL then
  redis.call('zrem', KEYS[1], ARGV[1])
end
if mapping and present then
  local left = redis.call('hincrby', KEYS[4], ARGV[2], -1)
  if left <= 0 then
    if not fieldTTL then
      redis.call('zrem', KEYS[3], ARGV[2])
    end
    redis.call('hdel', KEYS[4], ARGV[2])
  end
end
`

// KEYS: expire zset, data hash. ARGV: now (unix s), hash field TTL "0"/"1".
const presenceGetLua = `
if ARGV[2] == '0' then
  local stale = redis.call('zrangebyscore', KEYS[1], '0', ARGV[1])
  if #stale > 0 then
    for i = 1, #stale do
      redis.call('hdel', KEYS[2], stale[i])
    end
    redis.call('zremrangebyscore', KEYS[1], '0', ARGV[1])
  end
end
return redis.call('hgetall', KEYS[2])
`

// KEYS: expire zset, data hash, user expire zset, user clients hash.
// ARGV: now (unix s), hash field TTL "0"/"1".
const presenceStatsLua = `
if ARGV[2] == '0' then
  local sets = {{KEYS[1], KEYS[2]}, {KEYS[3], KEYS[4]}}
  for _, p in ipairs(sets) do
    local stale = redis.call('zrangebyscore', p[1], '0', ARGV[1])
    if #stale > 0 then
      for i = 1, #stale do
        redis.call('hdel', p[2], stale[i])
      end
      redis.call('zremrangebyscore', p[1], '0', ARGV[1])
    end
  end
end
return {redis.call('hlen', KEYS[2]), redis.call('hlen', KEYS[4])}
`

var (
	presenceAddScript    = rueidis.NewLuaScript(presenceAddLua)
	presenceRemoveScript = rueidis.NewLuaScript(presenceRemoveLua)
	presenceGetScript    = rueidis.NewLuaScript(presenceGetLua)
	presenceStatsScript  = rueidis.NewLuaScript(presenceStatsLua)
)

var _ engine.PresenceManager = (*Broker)(nil)

// presenceKeys returns ch's four presence keys on shard s, in script order:
// expire zset, data hash, user expire zset, user clients hash.
func (b *Broker) presenceKeys(s *shard, ch string) []string {
	return []string{
		b.channelKey(s, ".presence.expire.", ch, false),
		b.channelKey(s, ".presence.data.", ch, false),
		b.channelKey(s, ".presence.user.expire.", ch, false),
		b.channelKey(s, ".presence.user.clients.", ch, false),
	}
}

func flag(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func (b *Broker) presenceShard(ch string) (*shard, error) {
	s := b.shardFor(ch)
	if s.cluster && len(ch) > 0 && ch[0] == '}' {
		return nil, errClusterChannel
	}
	return s, nil
}

// AddPresence adds or refreshes clientID's entry in ch for presence_ttl.
func (b *Broker) AddPresence(ctx context.Context, ch, clientID string, info *codec.ClientInfo) error {
	s, err := b.presenceShard(ch)
	if err != nil {
		return err
	}
	ttl := int64(b.opts.PresenceTTL / time.Second)
	user := ""
	if info != nil {
		user = info.User
	} else {
		info = &codec.ClientInfo{}
	}
	args := []string{
		strconv.FormatInt(ttl, 10),
		strconv.FormatInt(time.Now().Unix()+ttl, 10),
		clientID,
		viewString(codec.AppendClientInfoProto(nil, info)),
		user,
		flag(b.opts.PresenceUserMapping),
		flag(b.opts.PresenceHashFieldTTL),
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.IOTimeout)
	defer cancel()
	return ignoreNil(presenceAddScript.Exec(ctx, s.client, b.presenceKeys(s, ch), args).Error())
}

// RemovePresence removes clientID's entry from ch (and, with user mapping,
// decrements userID's connection count).
func (b *Broker) RemovePresence(ctx context.Context, ch, clientID, userID string) error {
	s, err := b.presenceShard(ch)
	if err != nil {
		return err
	}
	args := []string{clientID, userID, flag(b.opts.PresenceUserMapping), flag(b.opts.PresenceHashFieldTTL)}
	ctx, cancel := context.WithTimeout(ctx, b.opts.IOTimeout)
	defer cancel()
	return ignoreNil(presenceRemoveScript.Exec(ctx, s.client, b.presenceKeys(s, ch), args).Error())
}

// Presence returns ch's live entries, removing expired ones first.
func (b *Broker) Presence(ctx context.Context, ch string) (map[string]*codec.ClientInfo, error) {
	s, err := b.presenceShard(ch)
	if err != nil {
		return nil, err
	}
	keys := b.presenceKeys(s, ch)[:2]
	args := []string{strconv.FormatInt(time.Now().Unix(), 10), flag(b.opts.PresenceHashFieldTTL)}
	ctx, cancel := context.WithTimeout(ctx, b.opts.IOTimeout)
	defer cancel()
	items, err := presenceGetScript.Exec(ctx, s.client, keys, args).ToArray()
	if err != nil {
		return nil, err
	}
	if len(items)%2 != 0 {
		return nil, errors.New("redis: presence reply has an odd number of items")
	}
	out := make(map[string]*codec.ClientInfo, len(items)/2)
	for i := 0; i < len(items); i += 2 {
		id, err := items[i].ToString()
		if err != nil {
			return nil, err
		}
		raw, err := items[i+1].ToString()
		if err != nil {
			return nil, err
		}
		ci := new(codec.ClientInfo)
		// raw is a fresh string of this reply: the info may alias it.
		if err := codec.DecodeClientInfoProto(viewBytes(raw), ci); err != nil {
			return nil, err
		}
		out[id] = ci
	}
	return out, nil
}

// PresenceStats counts ch's clients and distinct users: from the user mapping
// hashes (HLEN) with presence_user_mapping, else from the full presence.
func (b *Broker) PresenceStats(ctx context.Context, ch string) (engine.PresenceStats, error) {
	if !b.opts.PresenceUserMapping {
		p, err := b.Presence(ctx, ch)
		if err != nil {
			return engine.PresenceStats{}, err
		}
		users := make(map[string]struct{}, len(p))
		for _, ci := range p {
			users[ci.User] = struct{}{}
		}
		return engine.PresenceStats{NumClients: uint32(len(p)), NumUsers: uint32(len(users))}, nil
	}
	s, err := b.presenceShard(ch)
	if err != nil {
		return engine.PresenceStats{}, err
	}
	args := []string{strconv.FormatInt(time.Now().Unix(), 10), flag(b.opts.PresenceHashFieldTTL)}
	ctx, cancel := context.WithTimeout(ctx, b.opts.IOTimeout)
	defer cancel()
	res, err := presenceStatsScript.Exec(ctx, s.client, b.presenceKeys(s, ch), args).ToArray()
	if err != nil {
		return engine.PresenceStats{}, err
	}
	if len(res) != 2 {
		return engine.PresenceStats{}, errors.New("redis: presence stats reply must have two items")
	}
	clients, err := res[0].AsInt64()
	if err != nil {
		return engine.PresenceStats{}, err
	}
	users, err := res[1].AsInt64()
	if err != nil {
		return engine.PresenceStats{}, err
	}
	return engine.PresenceStats{NumClients: uint32(clients), NumUsers: uint32(users)}, nil
}

func ignoreNil(err error) error {
	if rueidis.IsRedisNil(err) {
		return nil
	}
	return err
}
