/**
 * Where the CPU went during a measurement (Linux /proc; null elsewhere): the server's
 * process, the load generator (this process) and every other process on the machine, each as
 * a share of one core. A load generator reports them with each figure, so a reader can tell
 * which side bounded it, and re-measures a figure that other work on the machine disturbed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface CpuShares {
  server_cpu: number | null;
  client_cpu: number;
  /** CPU taken by every other process; null where unknown. */
  other_cpu: number | null;
}

/** Above this share of a core taken by other processes, a figure is measured again. */
export const DISTURBED = 0.25;
/** How many times a disturbed figure is measured again before it is kept as it is. */
export const RETRIES = 2;

const ticksPerSecond = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
  } catch {
    return 100;
  }
})();

function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond; // utime + stime
  } catch {
    return null;
  }
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

/** Starts counting; the returned function gives the shares since then. */
export function cpuMeter(serverPid: number | undefined): () => CpuShares {
  const snapshot = () => ({
    server: serverPid === undefined ? null : processCpuSeconds(serverPid),
    client: process.cpuUsage(),
    machine: machineCpuSeconds(),
    at: performance.now(),
  });
  const start = snapshot();
  return () => {
    const end = snapshot();
    const seconds = (end.at - start.at) / 1000;
    const share = (s: number): number => Number((s / seconds).toFixed(2));
    const client = (end.client.user + end.client.system - start.client.user - start.client.system) / 1e6;
    const server = start.server === null || end.server === null ? null : end.server - start.server;
    const machine = start.machine === null || end.machine === null ? null : end.machine - start.machine;
    return {
      server_cpu: server === null ? null : share(server),
      client_cpu: share(client),
      other_cpu: server === null || machine === null ? null : share(Math.max(0, machine - server - client)),
    };
  };
}

/** Waits (at most `maxS` seconds) for a second in which other processes took at most DISTURBED of a core. */
async function quietMachine(serverPid: number | undefined, maxS: number): Promise<void> {
  for (let i = 0; i < maxS; i++) {
    const meter = cpuMeter(serverPid);
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
  serverPid: number | undefined,
  label: string,
  log: (...args: unknown[]) => void,
): Promise<T> {
  let result = await measure();
  for (let retry = 1; retry <= RETRIES && (result.other_cpu ?? 0) > DISTURBED; retry++) {
    log(`${label}: other processes took ${result.other_cpu} of a core; measuring again (${retry}/${RETRIES})`);
    await quietMachine(serverPid, 30);
    result = await measure();
  }
  return result;
}
