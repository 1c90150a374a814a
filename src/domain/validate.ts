import { z } from 'zod';
import { fieldIssues } from './field-issues.js';
import { invalidRequest } from '../errors.js';

/** Parses a request part with a zod schema, or throws `400 invalid_request` listing each field. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, root = 'body'): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidRequest(fieldIssues(result.error, root));
  return result.data;
}

/** A `limit` query parameter: 1–1000 (pages of lists). */
export const pageLimitSchema = z
  .string()
  .regex(/^\d+$/, 'must be a whole number from 1 to 1000')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be at least 1').max(1000, 'must be at most 1000'));
