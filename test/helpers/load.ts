import { API_KEY } from './hub.js';

export { seeded } from './seeded.js';

export interface Acked {
  id: string;
  cursor: string;
  channel: string;
}

/**
 * Publishes from `workers` concurrent loops (single events and small batches) until `stop()`
 * is true or the hub stops answering; returns every event that got a 202 (also pushed to
 * `opts.acked` as they come, to watch the load from outside).
 */
export async function publishBurst(
  url: string,
  opts: { workers: number; channel: (i: number) => string; stop: () => boolean; random: () => number; acked?: Acked[] },
): Promise<Acked[]> {
  const acked: Acked[] = opts.acked ?? [];
  let n = 0;
  const worker = async (): Promise<void> => {
    while (!opts.stop()) {
      const batch = opts.random() < 0.2;
      const count = batch ? 1 + Math.floor(opts.random() * 10) : 1;
      const events = Array.from({ length: count }, () => {
        const i = n++;
        return { channel: opts.channel(i), type: 'load', data: { i } };
      });
      let res: Response;
      try {
        res = await fetch(`${url}/v1/events${batch ? '/batch' : ''}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(batch ? { events } : events[0]),
        });
      } catch {
        return; // the hub is gone
      }
      if (res.status !== 202) {
        await res.body?.cancel();
        continue;
      }
      const body = (await res.json().catch(() => undefined)) as { events?: Acked[] } | Acked | undefined;
      if (!body) return;
      acked.push(...('events' in body && body.events ? body.events : [body as Acked]));
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, worker));
  return acked;
}

/** Every event of a channel (after a cursor, if given), following next_cursor to the end. */
export async function readChannel(url: string, channel: string, from = ''): Promise<Array<{ id: string; cursor: string; data: unknown }>> {
  const out: Array<{ id: string; cursor: string; data: unknown }> = [];
  let after = from;
  for (;;) {
    const res = await fetch(`${url}/v1/channels/${channel}/events?limit=1000${after ? `&after=${after}` : ''}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    if (res.status !== 200) throw new Error(`polling ${channel} answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as { events: Array<{ id: string; cursor: string; data: unknown }>; next_cursor: string; has_more: boolean };
    out.push(...page.events);
    after = page.next_cursor;
    if (!page.has_more) return out;
  }
}
