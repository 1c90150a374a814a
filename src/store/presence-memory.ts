import type { Store } from './store.js';

type PresenceOps = Pick<Store, 'writePresence' | 'readPresence' | 'presenceHeartbeat' | 'releasePresence'>;

/**
 * Presence and occupancy for a store with one hub (SQLite): in memory, not in the file. One
 * hub is the only one that writes or reads them, and they describe its connections, which do
 * not outlive the process: rows in the file would only need cleaning after a crash. The
 * operations are those of the shared store, so the presence code is the same on both.
 */
export function memoryPresenceRows(): PresenceOps {
  const members = new Map<string, Map<string, string>>();
  const occupied = new Set<string>();
  return {
    writePresence({ channels, replace }) {
      if (replace) {
        members.clear();
        occupied.clear();
      }
      const changes = { occupied: [] as string[], vacated: [] as string[] };
      for (const { channel, joined, left, occupied: here } of channels) {
        let of = members.get(channel);
        for (const sub of left) of?.delete(sub);
        if (joined.length > 0 && !of) members.set(channel, (of = new Map()));
        for (const m of joined) of!.set(m.sub, m.info);
        if (of?.size === 0) members.delete(channel);
        if (here === true && !occupied.has(channel)) {
          occupied.add(channel);
          if (!replace) changes.occupied.push(channel);
        } else if (here === false && occupied.delete(channel) && !replace) {
          changes.vacated.push(channel);
        }
      }
      return Promise.resolve(changes);
    },
    readPresence(channel, limit) {
      const of = members.get(channel);
      const rows = of ? [...of].slice(0, limit).map(([sub, info]) => ({ sub, info })) : [];
      return Promise.resolve({ count: of?.size ?? 0, members: rows });
    },
    presenceHeartbeat: () => Promise.resolve({ renewed: true, vacated: [] }),
    releasePresence: () => Promise.resolve(),
  };
}
