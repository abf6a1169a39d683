// Bottleneck peer, written as a naive team would: read the audience, schedule one send per
// contact on a limiter whose reservoir is the daily cap and whose minTime/maxConcurrent give the
// rate. Nothing is persisted: a restarted process starts again from the first contact.
//
//   reservoir: CAP (950), refreshed to CAP every 24 h  -> the daily unique-customer cap
//   minTime: 1000 / RATE ms (12.5 ms at 80/s)         -> the messages-per-second cap
//   maxConcurrent: CONCURRENCY (16)
'use strict';
const Bottleneck = require('bottleneck');
const { cfg, destination, sendTemplate } = require('./common');

async function main() {
  const limiter = new Bottleneck({
    reservoir: cfg.cap,
    reservoirRefreshAmount: cfg.cap,
    reservoirRefreshInterval: 24 * 3600 * 1000,
    minTime: cfg.rate > 0 ? 1000 / cfg.rate : 0, // RATE=0: no spacing (the capacity run)
    maxConcurrent: cfg.concurrency,
  });
  let sent = 0;
  let failed = 0;
  for (let i = 0; i < cfg.contacts; i++) {
    const dest = destination(i);
    limiter
      .schedule(() => sendTemplate(dest, `C${i}`))
      .then(() => sent++, () => failed++);
  }
  // Exit when everything ran, or when the reservoir is empty and nothing is running (the rest
  // would wait for tomorrow's refresh).
  const timer = setInterval(async () => {
    const left = await limiter.currentReservoir();
    const c = limiter.counts();
    if (c.RUNNING + c.EXECUTING === 0 && (left === 0 || c.QUEUED + c.RECEIVED + c.RUNNING + c.EXECUTING === 0)) {
      clearInterval(timer);
      console.error(`done: sent ${sent}, failed ${failed}, held for tomorrow ${c.QUEUED}`);
      process.exit(0);
    }
  }, 250);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
