// `npm start [-- flags]`: builds dist/ only when the sources changed since the last build
// made here, then runs `pushhub serve` in this very process.
//
// Why in this process: npm forwards SIGTERM/SIGINT to its direct child only. With
// `"start": "npm run build && node dist/cli.js serve"`, that child is `sh -c`, which dies of
// the signal (dash does not exec the last command of a list) and leaves the hub running,
// re-parented to PID 1, holding the port and the database. package.json therefore says
// `exec node scripts/start.mjs`: the shell becomes this process, npm's signal reaches the
// hub's own handlers, and the hub's exit code is npm's.
//
// Why a content hash and not mtimes: a checkout, `cp -p` or an archive can put an older
// mtime on a newer source, and a failed tsc run may still have emitted files; the stamp is
// written only after a successful build, with the hash of the inputs it was built from.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join, relative } from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const STAMP = join(ROOT, 'dist', '.build-stamp');

/** Every file the build reads, relative to the repository, sorted. */
function buildInputs() {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(path);
    }
  };
  walk(join(ROOT, 'src'));
  walk(join(ROOT, 'dashboard')); // the web console, built by vite into dist/dashboard
  for (const name of readdirSync(ROOT)) if (/^tsconfig.*\.json$/.test(name)) files.push(join(ROOT, name));
  files.push(join(ROOT, 'package.json'), join(ROOT, 'scripts', 'copy-assets.mjs'));
  return files.map((f) => relative(ROOT, f).split('\\').join('/')).sort();
}

/** sha256 over the names and contents of the inputs (about 1 ms for this repository). */
function inputsHash() {
  const hash = createHash('sha256');
  for (const file of buildInputs()) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(ROOT, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function readStamp() {
  try {
    return readFileSync(STAMP, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Runs `npm run build`, passing on a stop signal that arrives meanwhile; resolves with its exit code. */
function build() {
  // npm sets npm_execpath for the scripts it runs; outside npm, the npm on PATH.
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli && /\.c?js$/.test(npmCli)
    ? [process.execPath, [npmCli, 'run', 'build', '--silent']]
    : ['npm', ['run', 'build', '--silent']];
  const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' });
  const forward = (signal) => child.kill(signal);
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  return new Promise((resolve) => {
    child.once('error', (err) => {
      console.error(`pushhub start: cannot run the build: ${err.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      process.off('SIGTERM', forward);
      process.off('SIGINT', forward);
      resolve(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1));
    });
  });
}

/**
 * npm is the process that keeps a foreground `npm start` alive: if it goes away without
 * passing a signal on (killed with SIGKILL, or a shell in between that did not exec), stop
 * the way a SIGTERM would instead of living on as an orphan holding the port and database.
 */
function stopWhenOrphaned() {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer); // once: a second SIGTERM would mean "exit now" to the hub
    process.kill(process.pid, 'SIGTERM');
  }, 1000).unref();
}

const hash = inputsHash();
if (!existsSync(CLI) || readStamp() !== hash) {
  console.error('pushhub start: sources changed since the last build; building dist/ …');
  const code = await build();
  if (code !== 0) {
    console.error(`pushhub start: the build failed (exit ${code}); not starting`);
    process.exit(code);
  }
  writeFileSync(STAMP, `${hash}\n`);
}

stopWhenOrphaned();
// cli.js reads its command from process.argv when imported; extra `npm start -- …` arguments pass through.
process.argv = [process.argv[0], CLI, 'serve', ...process.argv.slice(2)];
await import(pathToFileURL(CLI).href);
