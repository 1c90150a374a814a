import type { z } from 'zod';
import type { FieldIssue } from '../errors.js';

/** `['events', 3, 'channel']` → `events[3].channel`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/**
 * One entry per wrong field, the way the documented `details` lists them. `root` names the value
 * itself when it is the value that is wrong (e.g. a body that is not an object).
 */
export function fieldIssues(error: z.ZodError, root = 'body'): FieldIssue[] {
  const name = (path: ReadonlyArray<PropertyKey>): string => fieldPath(path) || root;
  return error.issues.flatMap((issue): FieldIssue[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: name([...issue.path, key]), message: 'is not a known field' }));
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) {
      return [{ field: name(issue.path), message: 'is required' }];
    }
    return [{ field: name(issue.path), message: issue.message }];
  });
}
