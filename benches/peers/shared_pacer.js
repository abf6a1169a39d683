// Design (b) of issue #19, as a prototype outside the daemon: a sender's pacing state lives in
// Redis and every replica takes from it atomically. One process of this script is one replica;
// benches/peers/shared_pacer_run.sh starts several against one redis-server and one fake.
//
// For every sender in SENDERS (`source:max_mps,...`), one loop: a Lua script, in one round trip,
// moves the next contact from the sender's shared list to this replica's in-flight list (LMOVE:
// no contact goes to two replicas) and reserves a start time on the sender's pace key: a
// next-start-time (GCRA with no burst) take, `start = max(now, next)`, `next = start + spacing`,
// spacing `(1 s + GUARD_MS) / max_mps` as tierpace spaces its starts (`arrival_jitter`). The clock
// is Redis's (`TIME`), so replicas on other hosts need no common clock; the script answers how
// long to wait, and the replica sleeps that long, POSTs to the fake and drops the contact from its
// in-flight list. A replica killed between the take and the answer leaves its contact in
// `inflight:<source>:<replica>` (what tierpace counts as `unknown`) and its reserved start unused.
// It records nothing itself: the fake stamps every arrival. With SKIP_LATE_MS, a replica that wakes
// more than that after its reserved start does not send: it puts the contact back at the head of
// the list and takes again (the departure side of the cap then holds whatever the wake-up delay;
// the skipped start is lost). On exit it prints how late its wake-ups were (after the reserved
// start, on its own clock) and how many starts it skipped. With DEPARTURES (a file), it appends
// `source,destination,at_ms` for every request just before handing it to the HTTP client (the
// departure stamp tierpace's `send left` event gives), so the driver can count the strict second
// at departures and each request's delay to the fake.
//
//   REDIS_URL=redis://127.0.0.1:6379/ FAKE_URL=http://127.0.0.1:8080 REPLICA=r1 \
//   SENDERS=5585999900001:10 GUARD_MS=25 node shared_pacer.js
'use strict';
const fs = require('fs');
const Redis = require('ioredis');
const { cfg, sendTemplate } = require('./common');

const replica = process.env.REPLICA ?? `r${process.pid}`;
const guardMs = Number(process.env.GUARD_MS ?? '25');
const skipLateMs = process.env.SKIP_LATE_MS ? Number(process.env.SKIP_LATE_MS) : Infinity;
let skipped = 0;
const late = []; // ms after the reserved start at which each wake-up ran
const departures = process.env.DEPARTURES ? fs.openSync(process.env.DEPARTURES, 'a') : null;
const senders = (process.env.SENDERS ?? `${cfg.source}:10`).split(',').map((s) => {
  const [source, mps] = s.split(':');
  return { source, mps: Number(mps ?? '10') };
});

// KEYS: contacts list, this replica's in-flight list, the sender's pace key.
// ARGV: spacing in microseconds. Answers nil when the list is empty (nothing reserved), else
// { contact, microseconds to wait until the reserved start }.
const TAKE = `
local dest = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
if not dest then return nil end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local start = tonumber(redis.call('GET', KEYS[3]) or '0')
if start < now then start = now end
local spacing = tonumber(ARGV[1])
redis.call('SET', KEYS[3], string.format('%.0f', start + spacing), 'PX', 60000)
return { dest, start - now }
`;

const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: 1 });
redis.defineCommand('paceTake', { numberOfKeys: 3, lua: TAKE });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function senderLoop({ source, mps }) {
  const spacingUs = Math.round((1e6 + guardMs * 1000) / mps);
  const keys = [`contacts:${source}`, `inflight:${source}:${replica}`, `pace:${source}`];
  for (;;) {
    const got = await redis.paceTake(...keys, spacingUs);
    if (got === null) return;
    const [dest, waitUs] = got;
    const due = performance.now() + waitUs / 1000;
    if (waitUs > 0) await sleep(waitUs / 1000);
    late.push(performance.now() - due);
    if (late[late.length - 1] > skipLateMs) {
      await redis.lmove(keys[1], keys[0], 'RIGHT', 'LEFT');
      skipped += 1;
      continue;
    }
    if (departures !== null) {
      const at = performance.timeOrigin + performance.now();
      fs.writeSync(departures, `${source},${dest},${at.toFixed(3)}\n`);
    }
    await sendTemplate(dest, 'Ana', source);
    await redis.lrem(keys[1], 1, dest);
  }
}

Promise.all(senders.map(senderLoop))
  .then(() => {
    late.sort((a, b) => a - b);
    const q = (f) => (late.length ? late[Math.min(late.length - 1, Math.floor(f * late.length))] : 0).toFixed(1);
    const over = (ms) => late.filter((l) => l > ms).length;
    console.error(`${replica}: ${late.length} wake-ups, late by median ${q(0.5)} ms, p99 ${q(0.99)} ms, `
      + `max ${q(1)} ms; over 10 ms: ${over(10)}, over 25 ms: ${over(25)}; skipped ${skipped}`);
  })
  .then(() => redis.quit())
  .then(() => process.exit(0))
  .catch((e) => {
    console.error(`${replica}: ${e.stack || e}`);
    process.exit(1);
  });
