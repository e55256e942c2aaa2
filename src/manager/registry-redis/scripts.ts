/**
 * The Redis registry's key layout and its Lua scripts. Every change that touches more
 * than one key is one script, so it is atomic; every key shares one hash tag (the
 * prefix, `{wirecall}` by default), so in a Cluster they all live in one slot and the
 * scripts may touch keys they did not declare. Time is the server's (`TIME`), never a
 * client's: a lease's deadline is the server's now + TTL.
 *
 *   <p>:rev                         string  revision counter (INCR per change)
 *   <p>:epoch                       string  server time when rev was 1: a new epoch means the data was lost
 *   <p>:events                      stream  one entry per change, id `<rev>-0`, trimmed MAXLEN ~
 *   <p>:types                       set     DCC types that have (or had, until pruned) instances
 *   <p>:idx:<dcc>                   zset    instance ids of a DCC type, scored by lease deadline (ms)
 *   <p>:inst:<len(dcc)>:<dcc>:<id>  hash    row (services.json row, JSON), status, reg, hb, dl; PEXPIREAT dl
 *
 * Stream entry fields: type (up | status | down | expire), dcc, id, and for up and
 * status the hash's fields (row, status, reg, hb, dl).
 */
import { createHash } from 'node:crypto';

export const DEFAULT_PREFIX = '{wirecall}';

/** Byte length, as Lua's `#` counts it (keys must agree on both sides). */
export function instanceKey(prefix: string, dccType: string, instanceId: string): string {
  return `${prefix}:inst:${Buffer.byteLength(dccType)}:${dccType}:${instanceId}`;
}

export function indexKey(prefix: string, dccType: string): string {
  return `${prefix}:idx:${dccType}`;
}

export const revKey = (prefix: string): string => `${prefix}:rev`;
export const epochKey = (prefix: string): string => `${prefix}:epoch`;
export const eventsKey = (prefix: string): string => `${prefix}:events`;
export const typesKey = (prefix: string): string => `${prefix}:types`;

/** Shared by every script. ARGV[1] is always the prefix, ARGV[2] the stream's MAXLEN. */
const COMMON = `
local p = ARGV[1]
local maxlen = ARGV[2]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function idx_key(dcc) return p .. ':idx:' .. dcc end
local function inst_key(dcc, id) return p .. ':inst:' .. #dcc .. ':' .. dcc .. ':' .. id end
local function emit(kind, dcc, id, fields)
  local rev = redis.call('INCR', p .. ':rev')
  if rev == 1 then
    local t = redis.call('TIME')
    redis.call('SET', p .. ':epoch', t[1] .. '.' .. t[2])
  end
  local args = {'XADD', p .. ':events', 'MAXLEN', '~', maxlen, rev .. '-0', 'type', kind, 'dcc', dcc, 'id', id}
  for _, v in ipairs(fields) do args[#args + 1] = v end
  redis.call(unpack(args))
  return rev
end
local function fields_of(inst)
  local h = redis.call('HMGET', inst, 'row', 'status', 'reg', 'hb', 'dl')
  if not h[1] then return nil end
  return {'row', h[1], 'status', h[2], 'reg', h[3], 'hb', h[4], 'dl', h[5]}
end
local function forget_type_if_empty(dcc)
  if redis.call('ZCARD', idx_key(dcc)) == 0 then redis.call('SREM', p .. ':types', dcc) end
end
local function prune_type(dcc, now, limit)
  local idx = idx_key(dcc)
  local gone = redis.call('ZRANGEBYSCORE', idx, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(gone) do
    redis.call('ZREM', idx, id)
    redis.call('DEL', inst_key(dcc, id))
    emit('expire', dcc, id, {})
  end
  forget_type_if_empty(dcc)
  return #gone
end
`;

/** ARGV: p, maxlen, dcc, id, row, status, ttl → {1, rev, now} or {0} when a live lease holds the id. */
const REGISTER = `${COMMON}
local dcc, id, row, status, ttl = ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local now = now_ms()
local idx, inst = idx_key(dcc), inst_key(dcc, id)
local held = redis.call('ZSCORE', idx, id)
if held and tonumber(held) > now then return {0} end
if held then
  redis.call('ZREM', idx, id)
  emit('expire', dcc, id, {})
end
prune_type(dcc, now, 100)
local dl = now + ttl
redis.call('DEL', inst)
redis.call('HSET', inst, 'row', row, 'status', status, 'reg', now, 'hb', now, 'dl', dl)
redis.call('PEXPIREAT', inst, dl)
redis.call('ZADD', idx, dl, id)
redis.call('SADD', p .. ':types', dcc)
local rev = emit('up', dcc, id, fields_of(inst))
return {1, rev, now}
`;

/** ARGV: p, maxlen, dcc, id, ttl → {1, now, dl} or {0} when the lease is gone (the caller registers again). */
const HEARTBEAT = `${COMMON}
local dcc, id, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
local now = now_ms()
local idx, inst = idx_key(dcc), inst_key(dcc, id)
local held = redis.call('ZSCORE', idx, id)
if not held or tonumber(held) <= now or redis.call('EXISTS', inst) == 0 then return {0} end
local dl = now + ttl
redis.call('HSET', inst, 'hb', now, 'dl', dl)
redis.call('PEXPIREAT', inst, dl)
redis.call('ZADD', idx, 'XX', dl, id)
return {1, now, dl}
`;

/** ARGV: p, maxlen, dcc, id, status → rev, or 0 when there is no live lease. */
const SET_STATUS = `${COMMON}
local dcc, id, status = ARGV[3], ARGV[4], ARGV[5]
local now = now_ms()
local idx, inst = idx_key(dcc), inst_key(dcc, id)
local held = redis.call('ZSCORE', idx, id)
if not held or tonumber(held) <= now or redis.call('EXISTS', inst) == 0 then return 0 end
redis.call('HSET', inst, 'status', status)
return emit('status', dcc, id, fields_of(inst))
`;

/** ARGV: p, maxlen, dcc, id → 1 (removed: a down event, or expire if its lease had run out) or 0. */
const DEREGISTER = `${COMMON}
local dcc, id = ARGV[3], ARGV[4]
local now = now_ms()
local idx = idx_key(dcc)
local held = redis.call('ZSCORE', idx, id)
redis.call('DEL', inst_key(dcc, id))
if not held then return 0 end
redis.call('ZREM', idx, id)
if tonumber(held) > now then emit('down', dcc, id, {}) else emit('expire', dcc, id, {}) end
forget_type_if_empty(dcc)
return 1
`;

/** ARGV: p, maxlen, limit per type → instances removed (an expire event each). */
const PRUNE = `${COMMON}
local limit = tonumber(ARGV[3])
local now = now_ms()
local total = 0
for _, dcc in ipairs(redis.call('SMEMBERS', p .. ':types')) do total = total + prune_type(dcc, now, limit) end
return total
`;

/**
 * ARGV: p, maxlen, dcc ('' = every type) → {rev, now, {{dcc, id, row, status, reg, hb, dl}, …}, epoch}:
 * the live rows and the revision they are current at, read in one step (a consistent snapshot).
 */
const LIST = `${COMMON}
local only = ARGV[3]
local now = now_ms()
local rev = tonumber(redis.call('GET', p .. ':rev') or '0')
local epoch = redis.call('GET', p .. ':epoch') or ''
local types = {only}
if only == '' then types = redis.call('SMEMBERS', p .. ':types') end
local out = {}
for _, dcc in ipairs(types) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', idx_key(dcc), '(' .. now, '+inf')) do
    local h = redis.call('HMGET', inst_key(dcc, id), 'row', 'status', 'reg', 'hb', 'dl')
    if h[1] then out[#out + 1] = {dcc, id, h[1], h[2], h[3], h[4], h[5]} end
  end
end
return {rev, now, out, epoch}
`;

export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, source: string): Script {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

export const SCRIPTS = {
  register: script('register', REGISTER),
  heartbeat: script('heartbeat', HEARTBEAT),
  setStatus: script('setStatus', SET_STATUS),
  deregister: script('deregister', DEREGISTER),
  prune: script('prune', PRUNE),
  list: script('list', LIST),
} as const;
