import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

const OUT = fileURLToPath(new URL('../dist/dashboard/', import.meta.url));
/** The whole first load (the page, its script and its style) must stay under this, gzipped. */
const BUDGET_BYTES = 200 * 1024;

/** Prints the gzipped size of everything the page loads, and fails the build over the budget. */
function bundleBudget(): Plugin {
  return {
    name: 'pushhub-bundle-budget',
    apply: 'build',
    closeBundle() {
      const files = ['index.html', ...readdirSync(join(OUT, 'assets')).map((f) => join('assets', f))];
      let total = 0;
      for (const file of files) total += gzipSync(readFileSync(join(OUT, file))).length;
      const kib = (total / 1024).toFixed(1);
      console.log(`dashboard: initial load ${kib} KiB gzipped (${files.length} files, budget ${BUDGET_BYTES / 1024} KiB)`);
      if (total > BUDGET_BYTES) throw new Error(`dashboard bundle is ${kib} KiB gzipped, over the ${BUDGET_BYTES / 1024} KiB budget`);
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/dashboard/',
  plugins: [bundleBudget()],
  // Vite 8 transforms with oxc: JSX for Preact's automatic runtime.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  build: {
    outDir: OUT,
    emptyOutDir: true,
    // No inline <script> or data: modules: the page's CSP allows only files from the hub.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    reportCompressedSize: true,
  },
  logLevel: 'info',
});
