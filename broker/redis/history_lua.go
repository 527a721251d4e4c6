package redis

import "github.com/redis/rueidis"

// Lua scripts of the history (shared/spec/history-recovery.md §5.2). They run on
// the same keys with the same arguments and replies as Centrifugo's, so nodes of
// both kinds share streams, metadata and idempotency results.

// luaAddStream publishes one publication with history (stream variant).
//
// KEYS: stream, meta, result. ARGV: 1 publication, 2 MAXLEN, 3 stream TTL s, 4
// PUB/SUB channel ("" = none), 5 meta TTL s ("0" = none), 6 epoch for a new stream,
// 7 publish command, 8 result TTL s ("" = not idempotent), 9 delta ("1"), 10
// version ("0" = none), 11 version epoch.
// Reply: {offset, epoch, from_result ("1"/"0"), version_suppressed ("1"/"0")}.
const luaAddStream = `
local stream, meta, result = KEYS[1], KEYS[2], KEYS[3]
local pub, maxlen, ttl, pubsub = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local meta_ttl, fresh_epoch, cmd, result_ttl = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local delta, version, version_epoch = ARGV[9] == "1", ARGV[10], ARGV[11]

if result_ttl ~= "" then
  local saved = redis.call("hmget", result, "e", "s")
  if saved[1] then
    return {saved[2], saved[1], "1", "0"}
  end
end

local epoch = redis.call("hget", meta, "e")
if not epoch then
  epoch = fresh_epoch
  redis.call("hset", meta, "e", epoch)
end

if version ~= "0" then
  local seen = redis.call("hmget", meta, "v", "ve", "s")
  if seen[1] and (version_epoch == "" or version_epoch == seen[2])
      and tonumber(seen[1]) >= tonumber(version) then
    return {tonumber(seen[3] or "0"), epoch, "0", "1"}
  end
  redis.call("hset", meta, "v", version, "ve", version_epoch)
end

local top = redis.call("hincrby", meta, "s", 1)
if meta_ttl ~= "0" then
  redis.call("expire", meta, meta_ttl)
end

local prev = ""
if delta and top ~= 1 then
  local last = redis.call("xrevrange", stream, "+", "-", "COUNT", 1)
  if last[1] then
    local fields = last[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == "d" then
        prev = fields[i + 1]
        break
      end
    end
  end
end

if top == 1 then
  -- A new epoch: whatever the stream still holds belongs to the previous one.
  redis.call("del", stream)
  prev = ""
end

redis.call("xadd", stream, "MAXLEN", maxlen, top, "d", pub)
redis.call("expire", stream, ttl)

if pubsub ~= "" then
  local msg
  if delta then
    msg = "__d1:" .. top .. ":" .. epoch .. ":" .. #prev .. ":" .. prev .. ":" .. #pub .. ":" .. pub
  else
    msg = "__p1:" .. top .. ":" .. epoch .. "__" .. pub
  end
  redis.call(cmd, pubsub, msg)
end

if result_ttl ~= "" then
  redis.call("hset", result, "e", epoch, "s", top)
  redis.call("expire", result, result_ttl)
end

return {top, epoch, "0", "0"}
`

// luaAddList is the legacy list variant (history_use_lists): entries are
// "__p1:<offset>:<epoch>__<publication>", newest first.
//
// KEYS: list, meta, result. ARGV: 1 publication, 2 LTRIM right bound (size-1), 3
// list TTL s, 4 PUB/SUB channel, 5 meta TTL s, 6 epoch for a new list, 7 publish
// command, 8 result TTL s, 9 delta. Reply: {offset, epoch, from_result}.
const luaAddList = `
local list, meta, result = KEYS[1], KEYS[2], KEYS[3]
local pub, right, ttl, pubsub = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local meta_ttl, fresh_epoch, cmd, result_ttl = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local delta = ARGV[9] == "1"

if result_ttl ~= "" then
  local saved = redis.call("hmget", result, "e", "s")
  if saved[1] then
    return {saved[2], saved[1], "1"}
  end
end

local epoch = redis.call("hget", meta, "e")
if not epoch then
  epoch = fresh_epoch
  redis.call("hset", meta, "e", epoch)
end

local top = redis.call("hincrby", meta, "s", 1)
if meta_ttl ~= "0" then
  redis.call("expire", meta, meta_ttl)
end

local prev = ""
if delta then
  prev = redis.call("lindex", list, 0) or ""
end

local entry = "__p1:" .. top .. ":" .. epoch .. "__" .. pub
redis.call("lpush", list, entry)
redis.call("ltrim", list, 0, right)
redis.call("expire", list, ttl)

if pubsub ~= "" then
  local msg = entry
  if delta then
    msg = "__d1:" .. top .. ":" .. epoch .. ":" .. #prev .. ":" .. prev .. ":" .. #pub .. ":" .. pub
  end
  redis.call(cmd, pubsub, msg)
end

if result_ttl ~= "" then
  redis.call("hset", result, "e", epoch, "s", top)
  redis.call("expire", result, result_ttl)
end

return {top, epoch, "0"}
`

// luaPublishIdempotent publishes without history under an idempotency key.
//
// KEYS: result (and, with sharded PUB/SUB, a never-existing key in the same slot
// that only routes the call). ARGV: 1 payload, 2 PUB/SUB channel, 3 publish
// command, 4 result TTL s. Reply: the saved {offset, epoch} when the key was seen,
// else what the publish command replied.
const luaPublishIdempotent = `
local result, payload, pubsub, cmd, result_ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if result_ttl ~= "" then
  local saved = redis.call("hmget", result, "e", "s")
  if saved[1] then
    return {saved[2], saved[1]}
  end
end

local reply
if pubsub ~= "" then
  reply = redis.call(cmd, pubsub, payload)
end

if result_ttl ~= "" then
  redis.call("hset", result, "e", "")
  redis.call("expire", result, result_ttl)
end

return reply
`

// luaReadMeta is the start both read scripts share: it reads the position from the
// meta hash (locals meta, meta_ttl, fresh_epoch), gives a stream or list without
// metadata the fresh epoch at offset 0, and refreshes the meta TTL (0 = none). It
// leaves the locals epoch and top.
const luaReadMeta = `
local m = redis.call("hmget", meta, "e", "s")
local epoch, top = m[1], m[2]
if not epoch then
  epoch, top = fresh_epoch, 0
  redis.call("hset", meta, "e", epoch)
end
if not top then
  top = 0
end
if meta_ttl ~= "0" then
  redis.call("expire", meta, meta_ttl)
end
`

// luaReadStream reads a stream's position and, optionally, entries.
//
// KEYS: stream, meta. ARGV: 1 include entries ("0"/"1"), 2 start offset (forward:
// first offset wanted; reverse: last offset wanted, "0" = from the top), 3 COUNT
// ("0" = no limit), 4 reverse ("0"/"1"), 5 meta TTL s ("0" = none), 6 epoch for a
// stream without metadata. Reply: {top offset, epoch, entries or nil}.
const luaReadStream = `
local stream, meta = KEYS[1], KEYS[2]
local include, from, count, reverse = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local meta_ttl, fresh_epoch = ARGV[5], ARGV[6]
` + luaReadMeta + `
local entries = nil
if include ~= "0" then
  local args
  if reverse == "0" then
    args = {"xrange", stream, from, "+"}
  else
    local hi = top
    if from ~= "0" then
      hi = from
    end
    args = {"xrevrange", stream, hi, "-"}
  end
  if count ~= "0" then
    args[#args + 1] = "COUNT"
    args[#args + 1] = count
  end
  entries = redis.call(unpack(args))
end

return {top, epoch, entries}
`

// luaReadList reads a list's position and, optionally, all entries.
//
// KEYS: list, meta. ARGV: 1 include entries, 2 LRANGE right bound, 3 meta TTL s, 4
// epoch for a list without metadata. Reply: {top offset, epoch, entries or nil}.
const luaReadList = `
local list, meta = KEYS[1], KEYS[2]
local include, right, meta_ttl, fresh_epoch = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
` + luaReadMeta + `
local entries = nil
if include ~= "0" then
  entries = redis.call("lrange", list, 0, right)
end
return {top, epoch, entries}
`

// scripts are the loaded scripts (EVALSHA, falling back to EVAL on NOSCRIPT).
type scripts struct {
	addStream, addList, publishIdempotent, readStream, readList *rueidis.Lua
}

func newScripts() scripts {
	return scripts{
		addStream:         rueidis.NewLuaScript(luaAddStream),
		addList:           rueidis.NewLuaScript(luaAddList),
		publishIdempotent: rueidis.NewLuaScript(luaPublishIdempotent),
		readStream:        rueidis.NewLuaScript(luaReadStream),
		readList:          rueidis.NewLuaScript(luaReadList),
	}
}
