// BullMQ peer: `node bullmq.js produce` enqueues one job per contact (jobId = `to-` + the number,
// so a second produce adds nothing; BullMQ refuses integer-like ids); `node bullmq.js work`
// processes them with the worker's rate limiter `limiter: {max: RATE, duration: 1000}` and exits
// when nothing is waiting, delayed or active.
//
// The daily unique-customer cap is enforced the way a team would add it to a BullMQ worker:
// a Redis set of today's customers per sender, checked in the processor just before the send
// (one Lua script: already in the set -> send; set full -> skip the job as "capped"; else add).
'use strict';
const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');
const { cfg, destination, sendTemplate, today } = require('./common');

const QUEUE = 'sends';
const connection = () => new IORedis(cfg.redisUrl, { maxRetriesPerRequest: null });

const ADMIT = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], 172800)
return 1`;

async function produce() {
  const queue = new Queue(QUEUE, { connection: connection() });
  const jobs = [];
  for (let i = 0; i < cfg.contacts; i++) {
    const dest = destination(i);
    jobs.push({ name: 'send', data: { dest, name: `C${i}` }, opts: { jobId: `to-${dest}`, attempts: 3, backoff: { type: 'exponential', delay: 1000 } } });
  }
  for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500));
  console.error(`produced ${jobs.length} jobs`);
  await queue.close();
  process.exit(0);
}

async function work() {
  const redis = connection();
  const queue = new Queue(QUEUE, { connection: connection() });
  const capKey = `peers:cap:${cfg.source}:${today()}`;
  let sent = 0;
  let capped = 0;
  const worker = new Worker(
    QUEUE,
    async (job) => {
      const ok = await redis.eval(ADMIT, 1, capKey, job.data.dest, cfg.cap);
      if (!ok) {
        capped++;
        return 'capped';
      }
      await sendTemplate(job.data.dest, job.data.name);
      sent++;
      return 'sent';
    },
    {
      connection: connection(),
      concurrency: cfg.concurrency,
      // RATE=0: no limiter (the capacity run).
      ...(cfg.rate > 0 ? { limiter: { max: cfg.rate, duration: 1000 } } : {}),
      // Short locks so that jobs left active by a killed worker are retried within seconds
      // instead of the default 30 s (the restart below would otherwise wait for them).
      lockDuration: 4000,
      stalledInterval: 2000,
    },
  );
  worker.on('failed', (job, err) => console.error(`job ${job && job.id} failed: ${err.message}`));
  // Exit once nothing is waiting, delayed or active (stalled jobs of a killed worker count as
  // active until the stalled checker moves them back).
  const timer = setInterval(async () => {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused');
    if (c.waiting + c.active + c.delayed + c.prioritized + c.paused === 0) {
      clearInterval(timer);
      console.error(`done: sent ${sent}, capped ${capped} in this process`);
      await worker.close();
      await queue.close();
      redis.disconnect();
      process.exit(0);
    }
  }, 250);
}

(process.argv[2] === 'produce' ? produce() : work()).catch((e) => {
  console.error(e);
  process.exit(1);
});
