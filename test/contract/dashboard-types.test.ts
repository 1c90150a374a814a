import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { API_TYPES_FILE, renderApiTypes } from '../../scripts/dashboard-api-types.js';
import { startHub, type TestHub } from '../helpers/hub.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub({ config: { logLevel: 'warn' } });
});
afterAll(async () => hub?.close());

it("the dashboard's API types are those of this hub's /openapi.json (else: npm run dashboard:api-types)", async () => {
  const document = (await (await fetch(`${hub.url}/openapi.json`)).json()) as Record<string, unknown>;
  expect(readFileSync(API_TYPES_FILE, 'utf8'), 'dashboard/src/api/schema.d.ts is stale: run npm run dashboard:api-types').toBe(await renderApiTypes(document));
});
