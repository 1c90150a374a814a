import type { Db } from './db.js';

export interface SettingsRepo {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

export function settingsRepo(db: Db): SettingsRepo {
  const get = db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?');
  const set = db.prepare<[string, string]>(
    'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  return {
    get: (key) => get.get(key)?.value,
    set: (key, value) => void set.run(key, value),
  };
}
