import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub();
});
afterAll(() => hub.close());

describe('POST /v1/events', () => {
  it('answers 202 with the accepted event, readable afterwards', async () => {
    const res = await hub.api('/v1/events', { body: { channel: 'orders', type: 'order.created', data: { n: 1 } } });
    expect(res.status).toBe(202);
    const body = (await res.json()) as Record<string, string>;
    expect(body).toMatchObject({ channel: 'orders', type: 'order.created', status_url: `/v1/events/${body.id}` });
    expect(body.id).toMatch(/^evt_[0-9A-Z]{26}$/);
    const status = await hub.api(body.status_url!);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({
      event: { id: body.id, cursor: body.cursor, spec_version: '1', data: { n: 1 } },
      status: 'no_subscribers',
      deliveries: [],
    });
  });
});
