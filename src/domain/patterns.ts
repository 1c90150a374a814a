import { channelProblem } from './names.js';

/**
 * Channel and type patterns (webhook filters, token grants): segments split on `.`,
 * `*` matches exactly one segment, `>` as the last segment matches one or more.
 */
export type Matcher = (name: string) => boolean;

const SEGMENT_RE = /^[A-Za-z0-9_:-]+$/;
/** The first segment of a pattern of the hub's own channels (`$hub.deliveries`, `$hub.>`). */
const HUB_SEGMENT = '$hub';

/** Why a pattern is refused, or null when it is valid. */
export function patternProblem(pattern: string): string | null {
  if (pattern.length < 1 || pattern.length > 128) return 'must be 1-128 characters';
  const segments = pattern.split('.');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '>') {
      if (i !== segments.length - 1) return '">" is allowed only as the last segment';
    } else if (s !== '*' && !SEGMENT_RE.test(s) && !(i === 0 && s === HUB_SEGMENT && segments.length > 1)) {
      return s === '' ? 'must not have empty segments' : `segment "${s}" must be "*", ">" or characters of A-Z a-z 0-9 _ : -`;
    }
  }
  return null;
}

export function isWildcard(pattern: string): boolean {
  return pattern.split('.').some((s) => s === '*' || s === '>');
}

/**
 * Compiles a valid pattern to a matcher. Throws on an invalid pattern. A pattern that does
 * not start with `$` never matches one of the hub's own `$` channels (`>` alone does not):
 * they are matched only by patterns that name them.
 */
export function compilePattern(pattern: string): Matcher {
  const problem = patternProblem(pattern);
  if (problem) throw new RangeError(`invalid pattern ${JSON.stringify(pattern)}: ${problem}`);
  if (!isWildcard(pattern)) return (name) => name === pattern;
  if (!pattern.startsWith('$')) {
    const matcher = compileWildcard(pattern);
    return (name) => !name.startsWith('$') && matcher(name);
  }
  return compileWildcard(pattern);
}

function compileWildcard(pattern: string): Matcher {
  const parts = pattern.split('.');
  const tail = parts.at(-1) === '>';
  const fixed = tail ? parts.slice(0, -1) : parts;
  return (name) => {
    const segs = name.split('.');
    if (tail ? segs.length <= fixed.length : segs.length !== fixed.length) return false;
    for (let i = 0; i < fixed.length; i++) {
      if (fixed[i] !== '*' && fixed[i] !== segs[i]) return false;
    }
    return true;
  };
}

/** Matches a name against any of several patterns. */
export function compilePatterns(patterns: readonly string[]): Matcher {
  const matchers = patterns.map(compilePattern);
  return (name) => matchers.some((m) => m(name));
}

/** True when `channel` is a valid concrete channel name (not a pattern). */
export function isChannel(name: string): boolean {
  return channelProblem(name) === null;
}
