import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small tmpfs the test can fill and grow again: a real ENOSPC. */
export interface Tmpfs {
  dir: string;
  resize(bytes: number): void;
  remove(): void;
}

/** Mounts a tmpfs of `bytes`, or returns undefined where mounting is not allowed. */
export function mountTmpfs(bytes: number): Tmpfs | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'pushhub-tmpfs-'));
  const mount = (opts: string): void => void execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { stdio: 'ignore' });
  try {
    mount(`size=${bytes}`);
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    dir,
    resize: (size) => void execFileSync('mount', ['-o', `remount,size=${size}`, dir], { stdio: 'ignore' }),
    remove() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
