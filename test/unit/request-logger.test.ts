import { Writable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { lazyRequestLogger } from '../../src/http/request-logger.js';
import { createLogger } from '../../src/logger.js';

function logger(level: string, spy = true) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const parent = createLogger(level, sink) as unknown as FastifyBaseLogger;
  let children = 0;
  // Counts the children made of the hub's logger (pino's children inherit it: not for nesting).
  const child = parent.child.bind(parent);
  if (spy) parent.child = ((...args: Parameters<FastifyBaseLogger['child']>) => (children++, child(...args))) as FastifyBaseLogger['child'];
  return { parent, lines, children: () => children };
}

describe('lazyRequestLogger', () => {
  it('makes the child only when a line is logged at an enabled level, with the bindings', () => {
    const { parent, lines, children } = logger('warn');
    const log = lazyRequestLogger(parent, { reqId: 'req_1' }, {});
    log.info('not logged');
    log.debug({ a: 1 }, 'not logged');
    expect(children()).toBe(0);
    expect(log.level).toBe('warn');
    log.warn({ apiKey: 'secret-value' }, 'logged');
    log.error('again');
    expect(children()).toBe(1);
    expect(lines.map((l) => [l.reqId, l.msg])).toEqual([
      ['req_1', 'logged'],
      ['req_1', 'again'],
    ]);
    expect(lines[0]!.apiKey).not.toBe('secret-value'); // the hub's redaction still applies
  });

  it('gives a real child for child() and for a route log level', () => {
    const { parent, lines } = logger('info', false);
    lazyRequestLogger(parent, { reqId: 'req_2' }, {}).child({ extra: true }).info('nested');
    lazyRequestLogger(parent, { reqId: 'req_3' }, { level: 'error' }).info('below the route level');
    expect(lines.map((l) => [l.reqId, l.extra, l.msg])).toEqual([['req_2', true, 'nested']]);
  });
});
