/**
 * A response whose cursors are known only once the commit assigns positions: text pieces
 * with the cursor of one event between each two. An Idempotency-Key's response is saved in
 * the commit that writes its events, so it travels to the store as data, filled in there.
 */
export interface ResponseTemplate {
  /** One more than `cursorOf`: pieces[0] cursor(cursorOf[0]) pieces[1] … */
  pieces: readonly string[];
  /** Event indexes (into the commit's events) whose cursors go between the pieces. */
  cursorOf: readonly number[];
}

/** Builds a template from parts that each hold one event's cursor, joined by `separator`. */
export function responseTemplate(parts: ReadonlyArray<readonly [before: string, after: string]>, first: number, open = '', separator = '', close = ''): ResponseTemplate {
  const pieces: string[] = [];
  const cursorOf: number[] = [];
  let pending = open;
  parts.forEach(([before, after], i) => {
    pieces.push(pending + (i > 0 ? separator : '') + before);
    cursorOf.push(first + i);
    pending = after;
  });
  pieces.push(pending + close);
  return { pieces, cursorOf };
}

/** The response text, with each cursor filled in from the events' positions. */
export function fillTemplate(template: ResponseTemplate, seqs: readonly number[], encode: (seq: number) => string): string {
  const { pieces, cursorOf } = template;
  let out = pieces[0]!;
  for (let i = 0; i < cursorOf.length; i++) out += encode(seqs[cursorOf[i]!]!) + pieces[i + 1]!;
  return out;
}

/** The same template with its event indexes moved by `by` (a job's events inside a larger commit). */
export function shiftTemplate(template: ResponseTemplate, by: number): ResponseTemplate {
  return by === 0 ? template : { pieces: template.pieces, cursorOf: template.cursorOf.map((i) => i + by) };
}

/** The response text of a template saved with the position before its commit's first event (its events at base + 1, base + 2, …). */
export function fillTemplateAfter(template: ResponseTemplate, base: number, encode: (seq: number) => string): string {
  const count = template.cursorOf.length === 0 ? 0 : Math.max(...template.cursorOf) + 1;
  return fillTemplate(template, Array.from({ length: count }, (_, i) => base + 1 + i), encode);
}
