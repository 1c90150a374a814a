import type { z } from 'zod';
import { fieldIssues } from '../domain/field-issues.js';
import { invalidRequest } from '../errors.js';

/** Parses a request part with a zod schema, or throws `400 invalid_request` listing each field. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, root = 'body'): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidRequest(fieldIssues(result.error, root));
  return result.data;
}
