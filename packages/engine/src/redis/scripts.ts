/**
 * Lua scripts, run with EVALSHA (ioredis `defineCommand` loads them on first use per connection).
 * Each script declares every key it touches and all of them share one hash tag, so they run on one
 * Cluster node. Numbers go back as strings: Lua numbers are doubles and Redis would truncate them.
 */

/** Helpers shared by the scripts below (prepended to each). */
const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function offset_of(id)
  return tonumber(string.match(id, '^(%d+)'))
end

-- The epoch of a channel without a meta hash (never written, or expired): reads report it without
-- storing anything, and the first append adopts it, so a subscriber told it before the first
-- message resumes without a false gap. It must differ from the channel's earlier epochs: the
-- server's run_id changes when its data may be lost (a restart, a failover to a replica), and the
-- time bucket (maxAgeMs, at most the meta's lifetime) has moved on by the time a meta expires.
-- (pcall: where a provider disables INFO, reads still work, without the run_id's protection.)
local function unwritten_epoch(channel, now, bucket)
  local info = redis.pcall('INFO', 'server')
  local run_id = type(info) == 'string' and string.match(info, 'run_id:(%x+)') or ''
  local b = string.format('%.0f', math.floor(now / bucket))
  return string.sub(redis.sha1hex(run_id .. ' ' .. b .. ' ' .. channel), 1, 10)
end

-- A missing meta hash means the history is gone (never written, reset, or expired): start the
-- unwritten epoch, and drop any orphan stream whose ids would collide with offsets restarting at 1.
local function ensure_meta(stream, meta, channel, now, bucket, meta_ttl)
  local m = redis.call('HMGET', meta, 'epoch', 'last')
  if m[1] then return m[1], tonumber(m[2]) end
  local epoch = unwritten_epoch(channel, now, bucket)
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'epoch', epoch, 'last', 0)
  redis.call('PEXPIRE', meta, meta_ttl)
  return epoch, 0
end

-- Trims entries older than cutoff. Ids are offsets, not times, so XTRIM MINID needs the first young
-- offset: binary search with XRANGE probes. Invariant: every entry <= lo is old, and the first
-- entry >= hi is young. Costs nothing unless the head is actually too old.
local function trim_age(stream, cutoff)
  local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  if not head or tonumber(field(head[2], 'time')) >= cutoff then return end
  local tail = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if tonumber(field(tail[2], 'time')) < cutoff then
    redis.call('DEL', stream)
    return
  end
  local lo, hi = offset_of(head[1]), offset_of(tail[1])
  while hi - lo > 1 do
    local mid = math.floor((lo + hi) / 2)
    local e = redis.call('XRANGE', stream, string.format('%.0f-0', mid), '+', 'COUNT', 1)[1]
    if e and tonumber(field(e[2], 'time')) < cutoff then lo = offset_of(e[1]) else hi = mid end
  end
  redis.call('XTRIM', stream, 'MINID', string.format('%.0f-0', hi))
end
`;

/**
 * Append batches of entries to one or more channels in one call (group commit: see appender.ts;
 * on one server the batches of several channels due together share a call, on a Cluster a call
 * holds one channel, since its keys must share a slot).
 * ARGV: maxLength, maxAgeMs, dedupWindowMs, metaTtlMs, the publish command ('PUBLISH' on one
 * server, 'SPUBLISH' on a Cluster), b (how many leading topics of each channel get the
 * notification without the channel line: their name says the channel), w (how many trailing
 * topics of each channel are published to only while some connection subscribes to them),
 * c (channels); then per channel: the channel, t (topics), the t topics, g and the g stream-group
 * names of the consumer groups matching the channel, n (entries), then per entry its payload and
 * its kind: '' (a plain entry: nothing follows), 'i' (with a msgId: msgId, hops, meta follow) or
 * 'e' (without: hops, meta follow); hops '' = none, meta '' = none (lineage and trace context as
 * the broker encodes them, one field so an entry without them costs nothing). Most entries are
 * plain, and each argument costs twice in Redis (an object, then a Lua string) and once in Node:
 * a plain entry is two arguments and no key.
 * KEYS: per channel its stream, its meta hash, then one dedup key per entry with a msgId, in order.
 * Returns one {offset, epoch, time, duplicate (0|1)} or {'!', error} per entry, in order over all
 * channels.
 *
 * The topics: the channel's own, and its two pattern feeds (first segment, all channels), whose
 * messages start with the channel line, since a feed's topic cannot tell the channel. On one server
 * the channel's topic gets the bare notification; on a Cluster every topic is in the channel's slot
 * (see keys.ts), so SPUBLISH stays on this shard, and every topic gets the channel line.
 *
 * On one server a feed is published to only while some connection subscribes to it (PUBSUB NUMSUB,
 * asked once per feed per call): most deployments hold no pattern, and the two feed PUBLISHes were
 * two of an append's seven commands. It is exact, not a cache: a node subscribes to a feed before
 * its pattern follow resolves, and Redis runs this script after or before that SUBSCRIBE, never
 * during it, so an append stored after the follow resolved always reaches it.
 *
 * A msgId is a duplicate only within the current epoch: after a reset the same id stores again,
 * as in the memory engine; a msgId repeated inside one batch is a duplicate of its first use. Each
 * entry gets its own notification (a JSON header line, then the payload verbatim) so followers need
 * no read on the happy path; Redis writes a script's notifications to a subscriber together, so a
 * follower receives a batch in one read and can write it to a socket in one system call.
 */
export const APPEND_LUA = `${COMMON}
local max_len, max_age, dedup_ms, meta_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local publish, bare, watched, channels = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local now = now_ms()
local t = string.format('%.0f', now)
local slack = math.floor(max_age / 64)
local out = {}

local function err_text(e)
  if type(e) == 'table' and e.err then return e.err end
  return tostring(e)
end

-- The notification's header line, without cjson: epoch and numbers are plain, the rest is escaped.
local function header_of(epoch, offset, msg_id, hops, meta_text)
  local h = '{"e":"' .. epoch .. '","o":"' .. offset .. '","t":"' .. t .. '"'
  if msg_id then h = h .. ',"i":' .. cjson.encode(msg_id) end
  if hops ~= '' then h = h .. ',"h":"' .. hops .. '"' end
  if meta_text ~= '' then h = h .. ',"m":' .. cjson.encode(meta_text) end
  return h .. '}'
end

-- Whether a connection subscribes to each watched topic: subscriptions cannot change while the
-- script runs, so each topic is asked about once per call (the channels of a call share feeds).
local held = {}
local function holders(from, to)
  local ask = {}
  for i = from, to do
    if held[ARGV[i]] == nil then ask[#ask + 1] = ARGV[i] end
  end
  if #ask == 0 then return end
  local r = redis.call('PUBSUB', 'NUMSUB', unpack(ask))
  for i = 1, #r, 2 do held[r[i]] = tonumber(r[i + 1]) > 0 end
end

-- The stream is gone while its meta hash lives (it ages out first): the meta's memory of the
-- groups made on it is stale.
local function forget_groups(meta)
  for _, f in ipairs(redis.call('HKEYS', meta)) do
    if string.sub(f, 1, 2) == 'g:' then redis.call('HDEL', meta, f) end
  end
end

-- Positioned just before this batch's first entry, so a group made after the XADD still gets it.
local function ensure_groups(sec, offset)
  if sec.groups == 0 then return end
  local before = string.format('%.0f-0', tonumber(offset) - 1)
  for i = sec.groups_at + 1, sec.groups_at + sec.groups do
    local f = 'g:' .. ARGV[i]
    if redis.call('HEXISTS', sec.meta, f) == 0 then
      -- pcall: BUSYGROUP (it exists after all) is fine; the group is then already positioned.
      redis.pcall('XGROUP', 'CREATE', sec.stream, ARGV[i], before, 'MKSTREAM')
      redis.call('HSET', sec.meta, f, '1')
    end
  end
end

-- XADD, told whether the stream was there (NOMKSTREAM: no EXISTS on every batch). A plain entry
-- passes its fields directly, without a table to unpack.
local function xadd(stream, nomk, id, payload, has_id, msg_id, hops, meta_text)
  if not has_id and hops == '' and meta_text == '' then
    if nomk then return redis.call('XADD', stream, 'NOMKSTREAM', 'MAXLEN', max_len, id, 'payload', payload, 'time', t) end
    return redis.call('XADD', stream, 'MAXLEN', max_len, id, 'payload', payload, 'time', t)
  end
  local fields = {'payload', payload, 'time', t}
  if has_id then fields[#fields + 1] = 'msgId'; fields[#fields + 1] = msg_id end
  if hops ~= '' then fields[#fields + 1] = 'hops'; fields[#fields + 1] = hops end
  if meta_text ~= '' then fields[#fields + 1] = 'meta'; fields[#fields + 1] = meta_text end
  if nomk then return redis.call('XADD', stream, 'NOMKSTREAM', 'MAXLEN', max_len, id, unpack(fields)) end
  return redis.call('XADD', stream, 'MAXLEN', max_len, id, unpack(fields))
end

-- Stores one entry of section sec (the functions here are made once per call, not per section:
-- a section is mostly one entry, and Lua allocates every closure).
local function store(sec, payload, has_id, msg_id, hops, meta_text, dkey)
  local stream, meta = sec.stream, sec.meta
  -- The meta hash cannot vanish during the script: once its epoch is known, it is there.
  if not sec.epoch then sec.epoch = ensure_meta(stream, meta, sec.channel, now, max_age, meta_ttl) end
  local epoch = sec.epoch
  local offset = string.format('%.0f', redis.call('HINCRBY', meta, 'last', 1))
  local id = offset .. '-0'
  if sec.stored then
    xadd(stream, false, id, payload, has_id, msg_id, hops, meta_text)
  else
    if not xadd(stream, true, id, payload, has_id, msg_id, hops, meta_text) then
      forget_groups(meta)
      xadd(stream, false, id, payload, has_id, msg_id, hops, meta_text)
    end
    ensure_groups(sec, offset)
  end
  sec.stored = true
  if has_id then redis.call('SET', dkey, offset .. ' ' .. t .. ' ' .. epoch, 'PX', dedup_ms) end
  local note = header_of(epoch, offset, has_id and msg_id or nil, hops, meta_text) .. '\\n' .. payload
  local lined = nil
  local topics, topics_from = sec.topics, sec.topics_from
  for i = 1, topics do
    local topic = ARGV[topics_from - 1 + i]
    if i <= topics - watched or held[topic] then
      if i <= bare then redis.call(publish, topic, note)
      else
        lined = lined or sec.channel .. '\\n' .. note
        redis.call(publish, topic, lined)
      end
    end
  end
  return {offset, epoch, t, 0}
end

-- A section's entries, then its expiries. Redis does not undo a script that fails halfway, so no
-- error escapes once anything is stored: each entry answers for itself ({'!', error}). A bad dedup
-- key fails only its entry; a failed write to the channel's own keys fails that entry and every
-- later one of the channel (they would fail alike).
local function run_section(sec)
  -- x: when the expiries were last pushed out (see the end of this section).
  local m = redis.call('HMGET', sec.meta, 'epoch', 'x')
  sec.epoch = m[1]
  local refreshed = tonumber(m[2])
  local broken = nil
  if watched > 0 then holders(sec.topics_from + sec.topics - watched, sec.topics_from + sec.topics - 1) end
  local at, keys_at = sec.at, sec.keys_at
  for i = 1, sec.n do
    local e = at[i]
    local payload, kind = ARGV[e], ARGV[e + 1]
    local has_id, msg_id, hops, meta_text, dkey = false, nil, '', '', nil
    if kind == 'i' then
      has_id, msg_id, hops, meta_text, dkey = true, ARGV[e + 2], ARGV[e + 3], ARGV[e + 4], KEYS[keys_at[i]]
    elseif kind ~= '' then
      hops, meta_text = ARGV[e + 2], ARGV[e + 3]
    end
    if broken then
      out[#out + 1] = {'!', broken}
    else
      local d = false
      if has_id and sec.epoch then d = redis.pcall('GET', dkey) end
      if type(d) == 'table' then
        out[#out + 1] = {'!', err_text(d)}
      else
        local off, dt, ep
        if d then off, dt, ep = string.match(d, '^(%d+) (%d+) (.*)$') end
        if ep ~= nil and ep == sec.epoch then
          out[#out + 1] = {off, ep, dt, 1}
        else
          local ok, r = pcall(store, sec, payload, has_id, msg_id, hops, meta_text, dkey)
          if ok then out[#out + 1] = r else broken = err_text(r); out[#out + 1] = {'!', broken} end
        end
      end
    end
  end
  -- Expiries and age trimming run at most once per slack (1/64 of maxAge) rather than on every
  -- batch: four commands of ten for a lone message. The keys live maxAge (metaTtl) + slack after
  -- the last refresh, so never less than maxAge (metaTtl) after the last write; an entry past
  -- maxAge may outlive its time by up to the slack, unseen: reads trim by age first.
  if sec.stored and (not refreshed or now - refreshed >= slack) then
    trim_age(sec.stream, now - max_age)
    redis.call('PEXPIRE', sec.stream, max_age + slack)
    redis.call('HSET', sec.meta, 'x', t)
    redis.call('PEXPIRE', sec.meta, meta_ttl + slack)
  end
end

-- One channel's section: keys from KEYS[k], arguments from ARGV[a]. Appends its results to out
-- and returns where the next section starts.
local function append_channel(k, a)
  local topics = tonumber(ARGV[a + 1])
  local topics_from = a + 2
  local groups_at = topics_from + topics
  local groups = tonumber(ARGV[groups_at])
  local n = tonumber(ARGV[groups_at + groups + 1])
  -- Where each entry's arguments and dedup key are (entries differ in length): read before any
  -- write, so a failure still knows where the next section starts.
  local at, keys_at = {}, {}
  local next_a, next_k = groups_at + groups + 2, k + 2
  for i = 1, n do
    at[i] = next_a
    local kind = ARGV[next_a + 1]
    if kind == '' then next_a = next_a + 2
    elseif kind == 'i' then
      keys_at[i] = next_k
      next_k = next_k + 1
      next_a = next_a + 5
    else next_a = next_a + 4 end
  end
  local sec = {
    stream = KEYS[k], meta = KEYS[k + 1], channel = ARGV[a], topics = topics, topics_from = topics_from,
    groups_at = groups_at, groups = groups, n = n, at = at, keys_at = keys_at, epoch = nil, stored = false,
  }
  local first_out = #out
  local ok_all, whole = pcall(run_section, sec)
  -- A failure outside any entry (the meta hash of another type, say) fails this channel's entries
  -- that have no answer yet, never another channel's.
  if not ok_all then
    local text = err_text(whole)
    for i = #out - first_out + 1, n do out[first_out + i] = {'!', text} end
  end
  return next_k, next_a
end

local k, a = 1, 9
for _ = 1, channels do
  k, a = append_channel(k, a)
end
return out
`;

/**
 * Read or state. KEYS: stream, meta. ARGV: channel, maxAgeMs, mode ('state' | 'after' | 'latest'),
 * after, limit. Returns {epoch, first, last, entries (XRANGE replies)}. Never creates a key: a
 * channel without a meta hash answers with its unwritten epoch, which its first append adopts, so
 * reading any number of unused names costs Redis nothing.
 */
export const READ_LUA = `${COMMON}
local stream, meta = KEYS[1], KEYS[2]
local max_age = tonumber(ARGV[2])
local now = now_ms()
local m = redis.call('HMGET', meta, 'epoch', 'last')
if not m[1] then
  -- An orphan stream (its meta lost) is not history of this epoch; the first append drops it.
  return {unwritten_epoch(ARGV[1], now, max_age), '1', '0', {}}
end
local epoch, last = m[1], tonumber(m[2])
trim_age(stream, now - max_age)
local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
local first = last + 1
if head then first = offset_of(head[1]) end
local mode, limit = ARGV[3], tonumber(ARGV[5])
local entries = {}
if mode == 'after' then
  entries = redis.call('XRANGE', stream, string.format('%.0f-0', tonumber(ARGV[4]) + 1), '+', 'COUNT', limit)
elseif mode == 'latest' then
  entries = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', limit)
end
return {epoch, string.format('%.0f', first), string.format('%.0f', last), entries}
`;

/**
 * Reset. KEYS: stream, meta. ARGV: newEpoch (random: the unwritten epoch may be the one being
 * reset), metaTtlMs. Returns the new epoch.
 */
export const RESET_LUA = `
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'last', 0)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return ARGV[1]
`;

/**
 * Presence. KEYS: presence hash. ARGV: op ('add' | 'remove' | 'list'), clientId, record JSON, ttlMs.
 * Fields hold `<expiresAt> <record JSON>`; expiry is judged by the Redis clock so broker nodes with
 * skewed clocks agree. add → 1 on a join; remove → 1 on a leave; list → live records (expired
 * fields are deleted on the way). The hash lives as long as its longest-lived member.
 */
export const PRESENCE_LUA = `${COMMON}
local key, op, id = KEYS[1], ARGV[1], ARGV[2]
local now = now_ms()
local function alive(v)
  return v and tonumber(string.match(v, '^(%d+)')) > now
end
if op == 'add' then
  local ttl = tonumber(ARGV[4])
  local prev = redis.call('HGET', key, id)
  redis.call('HSET', key, id, string.format('%.0f', now + ttl) .. ' ' .. ARGV[3])
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
  if alive(prev) then return 0 end
  return 1
elseif op == 'remove' then
  local prev = redis.call('HGET', key, id)
  redis.call('HDEL', key, id)
  if alive(prev) then return 1 end
  return 0
end
local all = redis.call('HGETALL', key)
local out = {}
for i = 1, #all, 2 do
  local v = all[i + 1]
  if alive(v) then
    table.insert(out, string.sub(v, string.find(v, ' ', 1, true) + 1))
  else
    redis.call('HDEL', key, all[i])
  end
end
return out
`;

/**
 * PUBLISH (or SPUBLISH) from the node that owns KEYS[1]'s slot (the key itself is not touched).
 * ARGV: topic, message, command ('PUBLISH' | 'SPUBLISH'). In a Cluster a keyless PUBLISH goes to any
 * node, and two sent one after the other to different nodes can reach a subscriber in either order
 * over the cluster bus; sent from one node, they arrive in order. Presence uses it so a member's
 * join and leave are never seen reversed. On a Cluster the topic is in the key's slot and the
 * command is SPUBLISH, so the change stays on that shard.
 */
export const NOTIFY_LUA = `
redis.call(ARGV[3], ARGV[1], ARGV[2])
return 0
`;

/**
 * Counter. KEYS: key. ARGV: by, ttlMs (0 = none). Like the memory engine, the TTL is set when the
 * counter is created, not on every bump.
 */
export const INCR_LUA = `
local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
`;

/**
 * The consumer-group registry. KEYS: registry hash. ARGV: op ('register' | 'unregister'), group,
 * patterns JSON, new generation, notice topic. register → the generation in force (a new one only
 * when the group was not registered); unregister → the removed generation, or false. Both announce a
 * change on the topic so every node refreshes its cached copy.
 */
export const GROUP_REGISTRY_LUA = `
local key, op, group = KEYS[1], ARGV[1], ARGV[2]
local cur = redis.call('HGET', key, group)
local gen = cur and string.match(cur, '^(%S+) ')
if op == 'unregister' then
  if not cur then return false end
  redis.call('HDEL', key, group)
  redis.call('PUBLISH', ARGV[5], group)
  return gen
end
gen = gen or ARGV[4]
local value = gen .. ' ' .. ARGV[3]
if cur ~= value then
  redis.call('HSET', key, group, value)
  redis.call('PUBLISH', ARGV[5], group)
end
return gen
`;

/**
 * One channel's side of a consumer group. KEYS: stream, meta. ARGV: op, stream-group name, then
 * - read: consumer, count → {1, epoch, entries, gap} (XREADGROUP '>'; gap = entries trimmed before
 *   the group saw them, just before the first one returned);
 * - claim: consumer, minIdleMs, count → {1, epoch, entries, deliveries} (XAUTOCLAIM from the start
 *   of the pending list, at most 10 scans; entries trimmed away while pending are dropped from it);
 * - mine: consumer, count, start ('-' or '(<id>') → {1, epoch, entries, deliveries, last id} (that
 *   consumer's pending entries from start, by XPENDING, their idle time reset by
 *   XCLAIM JUSTID, which counts no delivery; entries trimmed away are acked and dropped);
 * - pending: → {1, count};
 * - lag: → {1, pending, unread, oldest pending entry's time or '', first unread entry's time or ''}
 *   (unread: retained entries after the group's last-delivered id; a pending entry trimmed away has
 *   no time left to report);
 * - ack: offsets… → {1, acked};
 * - destroy: → {1} (XGROUP DESTROY and the meta hash's memory of it).
 * A missing group or stream answers {0}: the group is not (or no longer, or not yet) on this channel,
 * which is normal (a reset, expiry, or a channel announced just before its first append).
 */
export const GROUP_LUA = `
local stream, meta, op, name = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local function failed(r)
  if type(r) == 'table' and r.err then
    if string.match(r.err, '^NOGROUP') then return true end
    error(r.err)
  end
  return false
end
local function epoch()
  return redis.call('HGET', meta, 'epoch') or ''
end
if op == 'read' then
  -- Where the group stood before this read: an entry further on means retention trimmed the ones
  -- between before the group saw them, which the caller must be told (never silent loss).
  local before = nil
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if type(groups) == 'table' and not groups.err then
    for _, g in ipairs(groups) do
      local f = {}
      for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
      if f['name'] == name then before = tonumber(string.match(f['last-delivered-id'], '^(%d+)')) end
    end
  end
  local r = redis.pcall('XREADGROUP', 'GROUP', name, ARGV[3], 'COUNT', ARGV[4], 'STREAMS', stream, '>')
  if failed(r) then return {0} end
  local entries = {}
  if r and r[1] then entries = r[1][2] end
  local gap = 0
  if before ~= nil and entries[1] then
    local first = tonumber(string.match(entries[1][1], '^(%d+)'))
    if first > before + 1 then gap = first - before - 1 end
  end
  return {1, epoch(), entries, gap}
elseif op == 'claim' then
  local want = tonumber(ARGV[5])
  local out, deliveries, cursor = {}, {}, '0-0'
  for _ = 1, 10 do
    local r = redis.pcall('XAUTOCLAIM', stream, name, ARGV[3], ARGV[4], cursor, 'COUNT', want - #out)
    if failed(r) then return {0} end
    cursor = r[1]
    for _, e in ipairs(r[2]) do
      if type(e) == 'table' and type(e[2]) == 'table' then table.insert(out, e) end
    end
    -- Redis 7 already dropped these from the pending list; acking keeps 6.2-style replies safe too.
    if r[3] and #r[3] > 0 then redis.call('XACK', stream, name, unpack(r[3])) end
    if cursor == '0-0' or #out >= want then break end
  end
  for i, e in ipairs(out) do
    local p = redis.call('XPENDING', stream, name, e[1], e[1], 1)[1]
    deliveries[i] = p and p[4] or 1
  end
  return {1, epoch(), out, deliveries}
elseif op == 'mine' then
  -- XPENDING gives the delivery counts; XCLAIM JUSTID resets the idle time (no claim takes them
  -- now) without counting a delivery: these were handed out, maybe never seen.
  local p = redis.pcall('XPENDING', stream, name, ARGV[5], '+', ARGV[4], ARGV[3])
  if failed(p) then return {0} end
  local out, deliveries, gone = {}, {}, {}
  if #p == 0 then return {1, epoch(), out, deliveries, ''} end
  local ids = {}
  for _, e in ipairs(p) do table.insert(ids, e[1]) end
  local args = {stream, name, ARGV[3], 0}
  for _, id in ipairs(ids) do table.insert(args, id) end
  table.insert(args, 'JUSTID')
  redis.call('XCLAIM', unpack(args))
  for _, e in ipairs(p) do
    local found = redis.call('XRANGE', stream, e[1], e[1])[1]
    if found then
      table.insert(out, found)
      table.insert(deliveries, e[4])
    else
      table.insert(gone, e[1])
    end
  end
  -- Trimmed away while pending: nothing to hand out (Redis 6.2 would list it forever).
  if #gone > 0 then redis.call('XACK', stream, name, unpack(gone)) end
  return {1, epoch(), out, deliveries, ids[#ids]}
elseif op == 'pending' then
  local r = redis.pcall('XPENDING', stream, name)
  if failed(r) then return {0} end
  return {1, r[1]}
elseif op == 'lag' then
  local s = redis.pcall('XPENDING', stream, name)
  if failed(s) then return {0} end
  local function time_at(e)
    if not e then return '' end
    for i = 1, #e[2], 2 do
      if e[2][i] == 'time' then return e[2][i + 1] end
    end
    return ''
  end
  local oldest = ''
  if s[2] then oldest = time_at(redis.call('XRANGE', stream, s[2], s[2])[1]) end
  local delivered = nil
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == name then delivered = tonumber(string.match(f['last-delivered-id'], '^(%d+)')) end
  end
  local unread, first = 0, ''
  if delivered then
    local e = redis.call('XRANGE', stream, string.format('%.0f-0', delivered + 1), '+', 'COUNT', 1)[1]
    local tail = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
    if e and tail then
      unread = tonumber(string.match(tail[1], '^(%d+)')) - tonumber(string.match(e[1], '^(%d+)')) + 1
      first = time_at(e)
    end
  end
  return {1, s[1], unread, oldest, first}
elseif op == 'ack' then
  if redis.call('EXISTS', stream) == 0 then return {0} end
  local ids = {}
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] .. '-0' end
  local r = redis.pcall('XACK', stream, name, unpack(ids))
  if failed(r) then return {0} end
  return {1, r}
elseif op == 'destroy' then
  redis.call('HDEL', meta, 'g:' .. name)
  if redis.call('EXISTS', stream) == 1 then redis.pcall('XGROUP', 'DESTROY', stream, name) end
  return {1}
end
return redis.error_reply('unknown group op ' .. op)
`;
