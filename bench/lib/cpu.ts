/**
 * Where the CPU went during a measurement (Linux /proc; null elsewhere): the server (its
 * processes and their descendants: several hubs, a database and its backends), the load
 * generator (this process) and every other process on the machine, each as a share of one
 * core. A load generator reports them with each figure, so a reader can tell which side
 * bounded it, and re-measures a figure that other work on the machine disturbed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface CpuShares {
  server_cpu: number | null;
  client_cpu: number;
  /** CPU taken by every other process; null where unknown. */
  other_cpu: number | null;
}

/** The server's processes: these and their descendants, except this process (the load generator may be a child of the server's). */
export type ServerPids = number | readonly number[] | undefined;

/** Above this share of a core taken by other processes, a figure is measured again. */
export const DISTURBED = 0.25;
/** How many times a disturbed figure is measured again before it is kept as it is (PUSHHUB_BENCH_RETRIES; 0 while developing on a busy machine). */
export const RETRIES = Number(process.env.PUSHHUB_BENCH_RETRIES ?? 2);

const ticksPerSecond = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds so far of each of the server's processes; null without /proc or when one of `roots` is gone. */
function serverCpuSeconds(roots: readonly number[]): Map<number, number> | null {
  if (roots.length === 0) return null;
  const cpu = new Map<number, number>();
  const children = new Map<number, number[]>();
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      } catch {
        continue; // ended meanwhile
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(name);
      const ppid = Number(fields[1]);
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) / ticksPerSecond); // utime + stime
      if (children.has(ppid)) children.get(ppid)!.push(pid);
      else children.set(ppid, [pid]);
    }
  } catch {
    return null;
  }
  if (!roots.every((pid) => cpu.has(pid))) return null;
  const tree = new Map<number, number>();
  for (const queue = [...roots]; queue.length > 0; ) {
    const pid = queue.pop()!;
    if (pid === process.pid || tree.has(pid)) continue;
    tree.set(pid, cpu.get(pid)!);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** CPU seconds the whole machine has been busy, all cores. */
function machineCpuSeconds(): number | null {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / ticksPerSecond;
  } catch {
    return null;
  }
}

const sum = (cpu: Map<number, number> | null): number => (cpu ? [...cpu.values()].reduce((a, b) => a + b, 0) : 0);

/** Starts counting; the returned function gives the shares since then. `clientPids`: the load generator's other processes. */
export function cpuMeter(serverPids: ServerPids, clientPids: readonly number[] = []): () => CpuShares {
  const roots = serverPids === undefined ? [] : [serverPids].flat();
  const snapshot = () => ({
    server: serverCpuSeconds(roots),
    client: process.cpuUsage(),
    clientOthers: sum(serverCpuSeconds(clientPids)),
    machine: machineCpuSeconds(),
    at: performance.now(),
  });
  const start = snapshot();
  return () => {
    const end = snapshot();
    const seconds = (end.at - start.at) / 1000;
    const share = (s: number): number => Number((s / seconds).toFixed(2));
    const client = (end.client.user + end.client.system - start.client.user - start.client.system) / 1e6 + end.clientOthers - start.clientOthers;
    // A process started meanwhile (a new database backend) counts from zero.
    const server = start.server === null || end.server === null ? null : [...end.server].reduce((sum, [pid, s]) => sum + s - (start.server!.get(pid) ?? 0), 0);
    const machine = start.machine === null || end.machine === null ? null : end.machine - start.machine;
    return {
      server_cpu: server === null ? null : share(server),
      client_cpu: share(client),
      other_cpu: server === null || machine === null ? null : share(Math.max(0, machine - server - client)),
    };
  };
}

/** Waits (at most `maxS` seconds) for a second in which other processes took at most DISTURBED of a core. */
async function quietMachine(serverPids: ServerPids, maxS: number): Promise<void> {
  for (let i = 0; i < maxS; i++) {
    const meter = cpuMeter(serverPids);
    await new Promise((r) => setTimeout(r, 1000));
    if ((meter().other_cpu ?? 0) <= DISTURBED) return;
  }
}

/**
 * Measures until other processes took at most DISTURBED of a core, at most 1 + RETRIES times,
 * waiting up to 30 s for the machine to quieten down before each retry.
 */
export async function undisturbed<T extends CpuShares>(
  measure: () => Promise<T>,
  serverPids: ServerPids,
  label: string,
  log: (...args: unknown[]) => void,
): Promise<T> {
  let result = await measure();
  for (let retry = 1; retry <= RETRIES && (result.other_cpu ?? 0) > DISTURBED; retry++) {
    log(`${label}: other processes took ${result.other_cpu} of a core; measuring again (${retry}/${RETRIES})`);
    await quietMachine(serverPids, 30);
    result = await measure();
  }
  return result;
}
