import { fromTaskRow, TASK_COLUMNS, toTaskRow, type NewTask, type Task, type TaskRow } from '../domain/task.js';
import type { Db } from './db.js';

export interface TasksRepo {
  insert(task: NewTask): void;
  get(id: string): Task | undefined;
  /** The claim of a running task nobody else holds: this hub's for `until`. */
  claim(owner: string, now: number, until: number): Task | undefined;
  /** Whether `owner` holds the task (and it runs). */
  held(id: string, owner: string): Task | undefined;
  /** Writes the task's progress and state, and renews the claim until `until`. */
  update(task: Task, until: number): void;
}

const COLUMNS = TASK_COLUMNS.join(', ');

/**
 * The tasks table. One hub per SQLite file: a claim of another owner is a previous run's,
 * taken at once.
 */
export function tasksRepo(db: Db): TasksRepo {
  const insert = db.prepare<[TaskRow]>(`INSERT INTO tasks (${COLUMNS}) VALUES (${TASK_COLUMNS.map((c) => `@${c}`).join(', ')})`);
  const get = db.prepare<[string], TaskRow>(`SELECT ${COLUMNS} FROM tasks WHERE id = ?`);
  const claim = db.prepare<[{ owner: string; now: number; until: number }], TaskRow>(
    `UPDATE tasks SET owner = @owner, lease_until = @until, updated_at = @now
     WHERE id = (SELECT id FROM tasks WHERE state = 'running' AND (owner IS NULL OR owner != @owner OR lease_until < @now) ORDER BY created_at LIMIT 1)
     RETURNING ${COLUMNS}`,
  );
  const held = db.prepare<[string, string], TaskRow>(`SELECT ${COLUMNS} FROM tasks WHERE id = ? AND owner = ? AND state = 'running'`);
  const update = db.prepare<[TaskRow & { lease_until: number }]>(
    `UPDATE tasks SET state = @state, position = @position, created = @created, error = @error, updated_at = @updated_at,
       lease_until = @lease_until WHERE id = @id`,
  );
  const one = (row: TaskRow | undefined) => row && fromTaskRow(row);
  return {
    insert: (task) => void insert.run(toTaskRow({ ...task, state: 'running', position: task.fromSeq, created: 0, error: null, updatedAt: task.createdAt })),
    get: (id) => one(get.get(id)),
    claim: (owner, now, until) => one(claim.get({ owner, now, until })),
    held: (id, owner) => one(held.get(id, owner)),
    update: (task, until) => void update.run({ ...toTaskRow(task), lease_until: until }),
  };
}
