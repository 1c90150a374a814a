import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestHub } from './hub.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CreatedKey {
  id: string;
  key: string;
  name: string;
  scopes: string[];
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** POST /v1/keys with the root key (or `as`); throws unless 201. */
export async function createKey(hub: TestHub, body: Record<string, unknown>, as?: string): Promise<CreatedKey> {
  const res = await hub.api('/v1/keys', { body, headers: as ? { authorization: `Bearer ${as}` } : {} });
  if (res.status !== 201) throw new Error(`key not created: ${res.status} ${await res.text()}`);
  return (await res.json()) as CreatedKey;
}

/** DELETE /v1/keys/<id> with the root key (or `as`): the status. */
export async function revokeKey(hub: TestHub, id: string, as?: string): Promise<number> {
  return (await hub.api(`/v1/keys/${id}`, { method: 'DELETE', headers: as ? { authorization: `Bearer ${as}` } : {} })).status;
}

/** Runs the real CLI (`pushhub …`, from source through tsx); resolves with its exit code and output. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
