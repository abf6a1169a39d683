// Shared by the Node peers: the same Gupshup form tierpace sends, to the same loopback fake.
'use strict';
const http = require('http');

const env = (name, dflt) => process.env[name] ?? dflt;
const cfg = {
  fakeUrl: new URL(env('FAKE_URL', 'http://127.0.0.1:8080')),
  source: env('SOURCE', '5585999900001'),
  appName: env('APP_NAME', 'Peers'),
  apiKey: env('APIKEY', 'test-gupshup-key'),
  rate: Number(env('RATE', '80')),          // sends per second; 0: no rate cap (a capacity run)
  cap: Number(env('CAP', '950')),           // unique customers per day
  contacts: Number(env('CONTACTS', '1200')),
  concurrency: Number(env('CONCURRENCY', '16')),
  redisUrl: env('REDIS_URL', 'redis://127.0.0.1:6379/'),
};

// The audience: the same numbers tierpace reads from its CSV (55 + 11 + 9XXXXXXXX).
function destination(i) {
  return `55119${String(i).padStart(8, '0')}`;
}

// As many sockets as sends in flight: a smaller pool would cap the worker below its concurrency
// at a provider's latency (64 sockets at 300 ms = 213/s), whatever the limiter allows.
const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.concurrency });

// POST /wa/api/v1/template/msg, form body, apikey header; resolves with the status code.
// `source` (the sender's number) defaults to SOURCE.
function sendTemplate(dest, name, source = cfg.source) {
  const body = new URLSearchParams({
    channel: 'whatsapp',
    source,
    destination: dest,
    'src.name': cfg.appName,
    template: JSON.stringify({ id: '6f1c2a3b-0000-4000-8000-000000000001', params: [name] }),
  }).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: cfg.fakeUrl.hostname,
        port: cfg.fakeUrl.port,
        path: '/wa/api/v1/template/msg',
        method: 'POST',
        agent,
        headers: {
          apikey: cfg.apiKey,
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
        },
        timeout: 10000,
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode < 300 ? resolve(res.statusCode) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function today() {
  return new Date().toISOString().slice(0, 10);
}

module.exports = { cfg, destination, sendTemplate, today };
