import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { configSchema, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { PostgresInUseError } from '../../src/store/postgres/hub-lock.js';
import { API_KEY, startHub, TOKEN_SECRET } from '../helpers/hub.js';
import { freshDatabase } from '../helpers/postgres.js';

describe('the PostgreSQL store', () => {
  it('one hub per database in this version: a second is refused while the first runs, and opens once it closed', async () => {
    const db = await freshDatabase();
    try {
      const first = await startHub({ database: db.url });
      const config = configSchema.parse({ port: 0, db: db.url, apiKey: API_KEY, tokenSecret: TOKEN_SECRET, logLevel: 'silent' }) as Config;
      await expect(buildApp({ config, logger: createLogger('silent') })).rejects.toThrow(PostgresInUseError);
      expect((await first.api('/v1/events', { body: { channel: 'c', type: 't', data: 1 } })).status).toBe(202);
      await first.close();
      const second = await buildApp({ config, logger: createLogger('silent') });
      const url = await second.listen();
      // The first hub's event is there, at the cursor it was given.
      const page = (await (await fetch(`${url}/v1/channels/c/events`, { headers: { authorization: `Bearer ${API_KEY}` } })).json()) as {
        events: unknown[];
      };
      expect(page.events).toHaveLength(1);
      await second.close();
    } finally {
      await db.drop();
    }
  });
});
