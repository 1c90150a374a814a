import type Database from 'better-sqlite3';
import type { Db } from './db.js';

/** Rows per multi-row statement: one crossing into SQLite per statement, not per row. */
const CHUNK = 50;

/**
 * Statements that take `rows` rows of `width` parameters each, `sql` getting the
 * `(?, …), (?, …)` list; prepared once per row count, on first use. The hot writes (events,
 * delivery outcomes) bind a whole batch to one statement rather than run one per row or
 * pass the rows as JSON, whose per-row parsing costs more than the write (bench/webhooks).
 */
export function rowStatements(db: Db, width: number, sql: (values: string) => string): (rows: number) => Database.Statement<unknown[]> {
  const row = `(${Array<string>(width).fill('?').join(', ')})`;
  const prepared: Array<Database.Statement<unknown[]>> = [];
  return (rows) => (prepared[rows] ??= db.prepare(sql(Array<string>(rows).fill(row).join(', '))));
}

/**
 * Runs `statement` over `rows` in chunks of up to CHUNK, each row's parameters from `params`
 * after the `lead` ones; `ran` hears each chunk's first row, size and result.
 */
export function runInChunks<T>(
  rows: readonly T[],
  statement: (rows: number) => Database.Statement<unknown[]>,
  params: (row: T, into: unknown[]) => void,
  lead: readonly unknown[] = [],
  ran?: (start: number, count: number, result: Database.RunResult) => void,
): void {
  for (let i = 0; i < rows.length; i += CHUNK) {
    const n = Math.min(CHUNK, rows.length - i);
    const args = [...lead];
    for (let k = i; k < i + n; k++) params(rows[k]!, args);
    const result = statement(n).run(args);
    ran?.(i, n, result);
  }
}
