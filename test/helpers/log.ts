import type { TestHub } from './hub.js';

/** Every event id of a channel after a cursor, oldest first, read through the polling API. */
export async function channelLog(hub: TestHub, channel: string, after: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor = after;
  for (;;) {
    const res = await hub.api(`/v1/channels/${channel}/events?after=${cursor}&limit=1000`);
    if (res.status !== 200) throw new Error(`poll ${channel} → ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { events: Array<{ id: string }>; next_cursor: string; has_more: boolean };
    ids.push(...page.events.map((e) => e.id));
    cursor = page.next_cursor;
    if (!page.has_more) return ids;
  }
}

/**
 * Publishes continuously until `stop()`: several concurrent loops (so group commits batch
 * them), single events and small batches, over the given channels.
 */
export function publishContinuously(hub: TestHub, channels: string[], random: () => number, loops = 3) {
  let running = true;
  let count = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      const pick = () => channels[Math.floor(random() * channels.length)]!;
      const batch = random() < 0.3;
      const res = batch
        ? await hub.api('/v1/events/batch', {
            body: { events: Array.from({ length: 1 + Math.floor(random() * 6) }, () => ({ channel: pick(), type: 'seam', data: { n: count++ } })) },
          })
        : await hub.api('/v1/events', { body: { channel: pick(), type: 'seam', data: { n: count++ } } });
      if (res.status !== 202) throw new Error(`publish → ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  const done = Promise.all(Array.from({ length: loops }, loop));
  return {
    async stop(): Promise<number> {
      running = false;
      await done;
      return count;
    },
  };
}
