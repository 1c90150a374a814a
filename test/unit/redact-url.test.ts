import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/logger.js';

describe('redactUrl', () => {
  it.each([
    ['/v1/ws?token=abc', '/v1/ws?token=[REDACTED]'],
    ['/v1/channels/a/sse?after=k-1&token=abc&x=1', '/v1/channels/a/sse?after=k-1&token=[REDACTED]&x=1'],
    ['/p?TOKEN=abc&Api_Key=def&access_token=g&apikey=h&key=i', '/p?TOKEN=[REDACTED]&Api_Key=[REDACTED]&access_token=[REDACTED]&apikey=[REDACTED]&key=[REDACTED]'],
    // Percent-encoded names are what the query parsers decode them to.
    ['/v1/ws?%74oken=abc', '/v1/ws?%74oken=[REDACTED]'],
    ['/v1/ws?%54%4F%4B%45%4E=abc', '/v1/ws?%54%4F%4B%45%4E=[REDACTED]'],
    ['/v1/ws?api%5Fkey=abc#frag', '/v1/ws?api%5Fkey=[REDACTED]#frag'],
    ['/v1/ws?token=a&token=b', '/v1/ws?token=[REDACTED]&token=[REDACTED]'],
  ])('%s → %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('leaves other parameters, bare names and bad escapes alone', () => {
    for (const url of ['/v1/events', '/p?after=k-1&limit=10', '/p?token', '/p?%E0%A4%A=1', '/p?tokens=1&mytoken=2', 'https://h/hook']) {
      expect(redactUrl(url)).toBe(url);
    }
  });
});
