import autocannon from 'autocannon';
import { BENCH_API_KEY, startHub } from '/work/main/bench/lib.js';
const hub = await startHub(JSON.parse(process.argv[2] ?? '{}'));
const body = JSON.stringify({ channel: 'bench.orders', type: 'order.created', data: { order_id: 1234 } });
const run = (d: number) => autocannon({ url: `${hub.url}/v1/events`, method: 'POST', connections: 50, duration: d, headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_API_KEY}` }, body });
await run(2); const r = await run(5);
const m = await (await fetch(hub.url + '/metrics')).text();
console.log(process.argv[2], Math.round(r.requests.average), 'p99', r.latency.p99, m.split('\n').filter(l => /commit_(batch_events|duration_seconds)_(sum|count)/.test(l)).join(' | '));
await hub.stop();
