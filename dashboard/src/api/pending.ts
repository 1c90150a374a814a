/**
 * Shapes of the contract's routes that the hub's /openapi.json does not describe yet on this
 * branch (replay and tasks, test events). Delete each once `npm run dashboard:api-types`
 * generates it into ./schema.d.ts.
 */
export interface ReplayRequest {
  since?: string;
  after?: string;
  until?: string;
}
export interface TaskAccepted {
  task_id: string;
  status_url: string;
}
export interface Task {
  id: string;
  kind: string;
  state: 'running' | 'succeeded' | 'failed';
  done: number;
  total: number | null;
  error: string | null;
}
export interface TestEventAccepted {
  event_id: string;
  delivery_id: string;
}
