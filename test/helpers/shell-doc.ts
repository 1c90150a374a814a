import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One fenced ```sh block of a markdown file. */
export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  /** The reason given by a `<!-- readme-test: skip (reason) -->` line right before the fence. */
  skip: string | undefined;
  /** The `# → …` comment lines: what the block prints, `…` standing for anything. */
  expected: string[];
}

const SKIP_RE = /^<!--\s*readme-test:\s*skip\s*\((.+)\)\s*-->$/;
const MARKER_RE = /^<!--\s*readme-test:/;
const EXPECTED_RE = /^\s*# → ?(.*)$/;

/**
 * The ```sh blocks of a markdown file, in order. A marker comment that is not a well-formed
 * skip with a reason, or that is not followed by a ```sh fence, throws: a typo in a marker
 * must not silently run (or skip) a block.
 */
export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  let pendingSkip: { reason: string; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.trim();
    if (MARKER_RE.test(text)) {
      const m = SKIP_RE.exec(text);
      if (!m) throw new Error(`line ${i + 1}: malformed readme-test marker: ${text}`);
      pendingSkip = { reason: m[1]!, line: i + 1 };
      continue;
    }
    const fence = /^(`{3,})(\S*)/.exec(text);
    if (!fence) {
      if (pendingSkip && text !== '') throw new Error(`line ${pendingSkip.line}: a readme-test marker must come right before a \`\`\`sh block`);
      continue;
    }
    const end = lines.findIndex((l, j) => j > i && l.trim() === fence[1]);
    if (end < 0) throw new Error(`line ${i + 1}: unclosed code fence`);
    if (fence[2] === 'sh') {
      const code = lines.slice(i + 1, end).join('\n');
      const expected = code
        .split('\n')
        .map((l) => EXPECTED_RE.exec(l)?.[1])
        .filter((l): l is string => l !== undefined);
      blocks.push({ line: i + 1, code, skip: pendingSkip?.reason, expected });
    } else if (pendingSkip) {
      throw new Error(`line ${pendingSkip.line}: a readme-test marker must come right before a \`\`\`sh block`);
    }
    pendingSkip = undefined;
    i = end;
  }
  return blocks;
}

/** `# → {"id":"evt_…",…}` as a whole-line pattern: `…` is any text, the rest literal. */
export function expectedPattern(expected: string): RegExp {
  const parts = expected.trim().split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

export interface SessionResult {
  /** The shell's exit code (null when it was killed at the deadline). */
  code: number | null;
  /** Output (stdout and stderr, interleaved) of each block that started, by block index. */
  outputs: string[];
  /** Indexes of the blocks that ran to their end. */
  finished: number[];
  timedOut: boolean;
  /** Everything the session wrote. */
  raw: string;
}

const START = '::readme-test block';
const END = '::readme-test end';

/**
 * Runs the blocks, in order, in one `bash -euo pipefail` session (so variables and functions
 * carry from one block to the next, as in a terminal), with output markers between them.
 * The shell is its own process group: at the end, or at the deadline, the whole group is
 * killed, so a block's background job (`… &`) cannot outlive the session.
 */
export async function runSession(
  blocks: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; deadlineMs: number },
): Promise<SessionResult> {
  const script = [
    'exec 2>&1',
    ...blocks.flatMap((code, i) => [`printf '\\n${START} %d::\\n' ${i}`, code, `printf '\\n${END} %d::\\n' ${i}`]),
  ].join('\n');
  const path = join(opts.cwd, '.readme-session.sh');
  writeFileSync(path, `${script}\n`);
  const child = spawn('bash', ['-euo', 'pipefail', path], {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let raw = '';
  child.stdout.on('data', (d: Buffer) => (raw += d.toString()));
  child.stderr.on('data', (d: Buffer) => (raw += d.toString()));
  const killGroup = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, opts.deadlineMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  killGroup(); // background jobs a block left running
  await new Promise((resolve) => setTimeout(resolve, 50)); // the pipes' last bytes

  const outputs: string[] = [];
  const finished: number[] = [];
  const re = new RegExp(`^(${START}|${END}) (\\d+)::$`);
  let current: number | undefined;
  for (const line of raw.replace(/\r/g, '').split('\n')) {
    const m = re.exec(line);
    if (m) {
      const i = Number(m[2]);
      if (m[1] === START) {
        current = i;
        outputs[i] = '';
      } else {
        finished.push(i);
        current = undefined;
      }
      continue;
    }
    if (current !== undefined) outputs[current] += `${line}\n`;
  }
  return { code, outputs, finished, timedOut, raw };
}
