import { describe, expect, it } from 'vitest';
import { allowsEveryOrigin, canonicalOrigin, originCheck } from '../../src/domain/origins.js';

describe('canonicalOrigin', () => {
  it.each([
    ['https://app.example.com', 'https://app.example.com'],
    ['HTTPS://App.Example.COM', 'https://app.example.com'], // scheme and host are case-insensitive
    ['https://app.example.com:443', 'https://app.example.com'], // the default port is no port
    ['http://localhost:80', 'http://localhost'],
    ['http://localhost:3000', 'http://localhost:3000'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
  ])('%j is the origin %j', (value, canonical) => {
    expect(canonicalOrigin(value)).toBe(canonical);
  });

  it.each([
    'null', // sandboxed frames, file: pages
    '',
    'https://app.example.com/', // a trailing slash: a URL, not a serialized origin
    'https://app.example.com/path',
    'https://app.example.com?x=1',
    'https://app.example.com#x',
    'https://user@app.example.com',
    'https://app.example.com, https://other.example.com', // two Origin headers joined by Node
    ' https://app.example.com',
    'app.example.com',
    'chrome-extension://abcdefghijklmnop', // no web origin to compare
    'https://',
    'http://exa mple.com',
  ])('%j is not an origin', (value) => {
    expect(canonicalOrigin(value)).toBeUndefined();
  });
});

describe('originCheck', () => {
  it('* allows every origin, null and malformed ones included', () => {
    const allowed = originCheck(['*']);
    for (const o of ['https://app.example.com', 'http://localhost:1', 'null', 'https://x.test/', '']) expect(allowed(o)).toBe(true);
    expect(allowsEveryOrigin(['*'])).toBe(true);
  });

  it('a list allows exactly its origins', () => {
    const allowed = originCheck(['https://app.example.com', 'http://localhost:3000']);
    expect(allowsEveryOrigin(['https://app.example.com'])).toBe(false);
    expect(allowed('https://app.example.com')).toBe(true);
    expect(allowed('http://localhost:3000')).toBe(true);
    // Another scheme, host, subdomain, port: another origin.
    expect(allowed('http://app.example.com')).toBe(false);
    expect(allowed('https://evil.example.com')).toBe(false);
    expect(allowed('https://app.example.com.evil.test')).toBe(false);
    expect(allowed('https://sub.app.example.com')).toBe(false);
    expect(allowed('http://localhost:3001')).toBe(false);
    expect(allowed('http://localhost')).toBe(false);
    expect(allowed('http://127.0.0.1:3000')).toBe(false); // same machine, another origin
  });

  it('a list compares canonical forms: case and default port do not matter, shape does', () => {
    const allowed = originCheck(['https://app.example.com']);
    expect(allowed('HTTPS://APP.EXAMPLE.COM')).toBe(true);
    expect(allowed('https://app.example.com:443')).toBe(true);
    expect(allowed('https://app.example.com:8443')).toBe(false);
    expect(allowed('https://app.example.com/')).toBe(false);
    expect(allowed('https://app.example.com/app')).toBe(false);
  });

  it('a list never allows null or a malformed value', () => {
    const allowed = originCheck(['https://app.example.com']);
    for (const o of ['null', '', 'undefined', 'https://app.example.com, https://app.example.com']) expect(allowed(o)).toBe(false);
  });
});
