import { z } from 'zod';

type JsonSchema = Record<string, unknown>;

/** Every schema named with `.meta({ id })`, as JSON Schema, referring to each other by `uri(id)`. */
export function namedSchemas(target: 'draft-2020-12' | 'draft-07', uri: (id: string) => string): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, {
    target,
    // Requests are documented as clients send them (before transforms and defaults);
    // response schemas carry neither, so both read the same.
    io: 'input',
    // `data` is any JSON value (a z.custom): `{}` in JSON Schema.
    unrepresentable: 'any',
    uri,
  });
  const out: Record<string, JsonSchema> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _dialect, $id: _id, ...rest } = schema as JsonSchema;
    out[id] = rest;
  }
  return out;
}

/** The id a schema was named with, if any (looking through `.optional()` and `.nullable()`). */
export function schemaId(schema: z.ZodType): string | undefined {
  let node: z.ZodType = schema;
  for (;;) {
    const id = z.globalRegistry.get(node)?.id;
    if (id) return id;
    if (node instanceof z.ZodOptional || node instanceof z.ZodNullable) node = node.unwrap() as z.ZodType;
    else return undefined;
  }
}

/** A schema as JSON Schema: a reference when it is named, else inline. */
export function schemaOrRef(schema: z.ZodType, uri: (id: string) => string, target: 'draft-2020-12' | 'draft-07'): JsonSchema {
  const id = schemaId(schema);
  if (id) return { $ref: uri(id) };
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target, io: 'input', unrepresentable: 'any' }) as JsonSchema;
  if ('$defs' in rest) throw new Error('a schema inlined in an API document must not contain named schemas: name it with .meta({ id })');
  return rest;
}

/** The ids of the components a JSON value refers to (`{ "$ref": "<prefix><id>" }`), transitively over `all`. */
export function referencedIds(roots: unknown, all: Record<string, JsonSchema>, prefix: string): Set<string> {
  const found = new Set<string>();
  const stack: unknown[] = [roots];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...node);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string' && value.startsWith(prefix)) {
          const id = value.slice(prefix.length);
          if (!found.has(id)) {
            found.add(id);
            stack.push(all[id]);
          }
        } else stack.push(value);
      }
    }
  }
  return found;
}
